/**
 * `deno task keys`: writes one key file per component from the cluster secret, so each
 * host gets only the keys of the components it runs (point the TCP transport option
 * `keyFile` at them, e.g. `"keys/{id}.key"`).
 *
 * ```sh
 * deno task keys --secret-file cluster.secret --out keys gm p0 m0 s0
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { componentIdProblem } from "../../kernel/ids.ts";
import { ClusterSecret } from "./handshake.ts";
import { readSecretFile } from "./secret.ts";

/**
 * Writes `<out>/<id>.key` (mode 600) for each id; returns the paths written.
 *
 * @example
 * ```ts
 * import { writeComponentKeys } from "./make_keys.ts";
 * const dir = await Deno.makeTempDir();
 * const [path] = await writeComponentKeys(new TextEncoder().encode("0123456789abcdef"), dir, ["m0"]);
 * console.assert(path.endsWith("/m0.key"));
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeComponentKeys(
  secret: Uint8Array,
  out: string,
  ids: readonly string[],
): Promise<string[]> {
  const cluster = await ClusterSecret.from(secret);
  await Deno.mkdir(out, { recursive: true, mode: 0o700 });
  const written: string[] = [];
  for (const id of ids) {
    const problem = componentIdProblem(id);
    if (problem) throw new RangeError(`${JSON.stringify(id)}: ${problem}`);
    const path = `${out}/${id}.key`;
    const key = await cluster.componentKey(id);
    await Deno.writeTextFile(path, key.toText(), { mode: 0o600 });
    await Deno.chmod(path, 0o600);
    written.push(path);
  }
  return written;
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: { "secret-file": { type: "string" }, out: { type: "string" } },
    allowPositionals: true,
  });
  if (!values["secret-file"] || !values.out || positionals.length === 0) {
    console.error("usage: deno task keys --secret-file FILE --out DIR ID...");
    Deno.exit(2);
  }
  try {
    const { secret, warning } = await readSecretFile(values["secret-file"]);
    if (warning) console.error(`warning: ${warning}`);
    const paths = await writeComponentKeys(secret, values.out, positionals);
    for (const path of paths) console.log(`wrote ${path}`);
    console.log(`${paths.length} component keys written to ${values.out}`);
  } catch (e) {
    console.error(`keys: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
