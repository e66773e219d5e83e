/**
 * Loading a user's plugins from modules: a file path or URL whose default export is a
 * plugin or an array of plugins. This is what `--plugin ./file.ts` on the command line
 * and `"plugins": [...]` in a cluster config do.
 *
 * A module that cannot be imported, has no default export, or exports something that is
 * not a valid plugin is a {@link PluginError} `BAD_PLUGIN_MODULE` whose message starts
 * with the module and says what is wrong, e.g.
 * `./clock.ts: default export[1] is not a plugin: create must be a function`.
 *
 * @example
 * ```ts
 * import { loadPluginModule } from "./plugin_modules.ts";
 * import { PluginRegistry } from "./plugins.ts";
 * const source = `import { z } from "npm:zod@4.6.7";
 *   export default { kind: "replacement-policy", name: "mine",
 *     configSchema: z.object({}), create: () => ({}) };`;
 * const url = `data:application/typescript;base64,${btoa(source)}`;
 * const registry = new PluginRegistry();
 * const loaded = await loadPluginModule(url, registry);
 * console.assert(loaded[0].name === "mine" && registry.has("replacement-policy", "mine"));
 * ```
 *
 * @module
 */

import { checkPluginDefinition, PluginError, type PluginRegistry } from "./plugins.ts";
import type { PluginDefinition, PluginSummary } from "./plugins.ts";

/**
 * The URL a plugin module specifier names: URLs (`file:`, `https:`, `http:`, `npm:`,
 * `jsr:`, `data:`) as they are, paths resolved against `base` (a directory URL; default
 * the current directory).
 *
 * @example
 * ```ts
 * import { pluginModuleUrl } from "./plugin_modules.ts";
 * console.assert(pluginModuleUrl("./a/clock.ts", "file:///tmp/x/") === "file:///tmp/x/a/clock.ts");
 * console.assert(pluginModuleUrl("/abs/p.ts") === "file:///abs/p.ts");
 * console.assert(pluginModuleUrl("https://e.com/p.ts") === "https://e.com/p.ts");
 * ```
 */
export function pluginModuleUrl(specifier: string, base?: string | URL): string {
  if (/^(file|https?|npm|jsr|data):/.test(specifier)) return specifier;
  const dir = base ?? cwdUrl();
  return new URL(specifier.replaceAll("%", "%25"), dir).href;
}

function cwdUrl(): URL {
  const url = new URL("file:///");
  const cwd = Deno.cwd();
  url.pathname = cwd.endsWith("/") ? cwd : `${cwd}/`;
  return url;
}

function moduleError(specifier: string, problem: string, cause?: unknown): PluginError {
  const error = new PluginError(
    "BAD_PLUGIN_MODULE",
    "module",
    specifier,
    `${specifier}: ${problem}`,
  );
  if (cause !== undefined) (error as { cause?: unknown }).cause = cause;
  return error;
}

/** The first line of an import error, without Deno's colour codes and stack. */
function firstLine(err: unknown): string {
  // deno-lint-ignore no-control-regex
  const text = (err instanceof Error ? err.message : String(err)).replace(/\x1b\[[0-9;]*m/g, "");
  return text.split("\n").map((l) => l.trim()).find((l) => l.length > 0) ?? "unknown error";
}

/**
 * Imports the module `specifier` (a path, resolved against `base`, or a URL) and
 * registers every plugin its default export holds: one plugin, or an array of them.
 * Registering the very same plugin object again (a module named twice) is not an error.
 * Returns the plugins the module exports.
 *
 * @example
 * ```ts
 * import { loadPluginModule } from "./plugin_modules.ts";
 * import { PluginError, PluginRegistry } from "./plugins.ts";
 * const url = `data:application/typescript;base64,${btoa("export const x = 1;")}`;
 * await loadPluginModule(url, new PluginRegistry()).catch((err) => {
 *   console.assert(err instanceof PluginError && err.code === "BAD_PLUGIN_MODULE");
 *   console.assert(err.message.includes("has no default export"));
 * });
 * ```
 */
export async function loadPluginModule(
  specifier: string,
  registry: PluginRegistry,
  base?: string | URL,
): Promise<PluginSummary[]> {
  const url = pluginModuleUrl(specifier, base);
  let module: Record<string, unknown>;
  try {
    module = await import(url);
  } catch (err) {
    throw moduleError(specifier, `cannot import it: ${firstLine(err)}`, err);
  }
  if (!("default" in module) || module.default === undefined) {
    const named = Object.keys(module);
    throw moduleError(
      specifier,
      `has no default export; write \`export default definePlugin({...})\` (or an array of plugins)${
        named.length ? `; it exports ${named.join(", ")}` : ""
      }`,
    );
  }
  const exported = module.default;
  const list = Array.isArray(exported) ? exported : [exported];
  if (list.length === 0) throw moduleError(specifier, "default export is an empty array");
  const definitions: PluginDefinition<unknown, unknown, unknown>[] = [];
  list.forEach((candidate, i) => {
    const where = Array.isArray(exported) ? `default export[${i}]` : "default export";
    try {
      checkPluginDefinition(candidate);
    } catch (err) {
      if (!(err instanceof PluginError)) throw err;
      throw moduleError(
        specifier,
        `${where} is not a plugin: ${err.message.replace(/^bad plugin [^:]*: /, "")}`,
      );
    }
    definitions.push(candidate as PluginDefinition<unknown, unknown, unknown>);
  });
  for (const def of definitions) {
    if (registry.has(def.kind, def.name) && isSame(registry.get(def.kind, def.name), def)) {
      continue;
    }
    try {
      registry.register(def);
    } catch (err) {
      if (!(err instanceof PluginError)) throw err;
      throw moduleError(specifier, err.message);
    }
  }
  return definitions.map((d) =>
    d.description === undefined
      ? { kind: d.kind, name: d.name }
      : { kind: d.kind, name: d.name, description: d.description }
  );
}

/** Whether a registered definition is `def` (the registry keeps a frozen copy). */
function isSame(
  registered: PluginDefinition<unknown, unknown, unknown>,
  def: PluginDefinition<unknown, unknown, unknown>,
): boolean {
  return registered === def ||
    (registered.create === def.create && registered.configSchema === def.configSchema);
}

/**
 * Loads several plugin modules in order (see {@link loadPluginModule}).
 *
 * @example
 * ```ts
 * import { loadPluginModules } from "./plugin_modules.ts";
 * import { PluginRegistry } from "./plugins.ts";
 * console.assert((await loadPluginModules([], new PluginRegistry())).length === 0);
 * ```
 */
export async function loadPluginModules(
  specifiers: readonly string[],
  registry: PluginRegistry,
  base?: string | URL,
): Promise<PluginSummary[]> {
  const loaded: PluginSummary[] = [];
  for (const specifier of specifiers) {
    loaded.push(...await loadPluginModule(specifier, registry, base));
  }
  return loaded;
}
