/**
 * Writes `kernel/cluster_config.schema.json`, the JSON schema of cluster config files, from
 * the zod schema in `config.ts`. The file is committed so editors can use it; a test checks
 * it is up to date. Regenerate after changing the schema:
 *
 * ```sh
 * npx -y deno@2.9.6 run --allow-write kernel/write_config_schema.ts
 * ```
 *
 * @module
 */

import { clusterConfigJsonSchema } from "./config.ts";

/**
 * Where the committed schema lives.
 *
 * @example
 * ```ts
 * import { CONFIG_SCHEMA_URL } from "./write_config_schema.ts";
 * console.assert(CONFIG_SCHEMA_URL.pathname.endsWith("cluster_config.schema.json"));
 * ```
 */
export const CONFIG_SCHEMA_URL: URL = new URL("./cluster_config.schema.json", import.meta.url);

/**
 * The schema file's exact text: pretty-printed JSON with a final newline.
 *
 * @example
 * ```ts
 * import { clusterConfigSchemaText } from "./write_config_schema.ts";
 * console.assert(clusterConfigSchemaText().endsWith("}\n"));
 * ```
 */
export function clusterConfigSchemaText(): string {
  return JSON.stringify(clusterConfigJsonSchema(), null, 2) + "\n";
}

/**
 * Writes the schema file and returns its URL.
 *
 * @example
 * ```ts ignore
 * import { writeClusterConfigSchema } from "./write_config_schema.ts";
 * await writeClusterConfigSchema();
 * ```
 */
export async function writeClusterConfigSchema(url: URL = CONFIG_SCHEMA_URL): Promise<URL> {
  await Deno.writeTextFile(url, clusterConfigSchemaText());
  return url;
}

if (import.meta.main) {
  const url = await writeClusterConfigSchema();
  console.log(`wrote ${url.pathname}`);
}
