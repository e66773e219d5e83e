/**
 * The cluster config: which components exist, which plugin runs each, and how they talk.
 *
 * A config is JSON (or a TS object of type {@link ClusterConfigInput}). Checking happens
 * in two steps so that the shape can be validated without any plugin loaded:
 * 1. {@link parseClusterConfig} (or {@link readClusterConfigFile}) checks the shape and
 *    the cluster rules (unique ids, one manager, at least one processor, memory and
 *    storage component) and fills defaults;
 * 2. {@link resolvePlugins} checks every named plugin exists in a {@link PluginRegistry}
 *    and validates each `options` object with that plugin's own schema.
 *
 * Every problem is reported as `<file>: <JSON path>: <what was expected / found>`.
 *
 * @example
 * ```ts
 * import { parseClusterConfig } from "./config.ts";
 * const config = parseClusterConfig({
 *   components: [
 *     { id: "p0", role: "processor" },
 *     { id: "m0", role: "memory", options: { poolBytes: 1 << 30 } },
 *     { id: "s0", role: "storage" },
 *     { id: "gm", role: "manager" },
 *   ],
 * });
 * console.assert(config.transport.plugin === "memory");
 * console.assert(config.components[1].plugin === "memory");
 * ```
 *
 * @module
 */

import { z } from "npm:zod@4.6.7";
import { KernelError } from "./errors.ts";
import { type ComponentId, componentIdProblem, type Role, ROLES } from "./ids.ts";
import { PluginError, type PluginKind, type PluginRegistry } from "./plugins.ts";
import { loadPluginModule } from "./plugin_modules.ts";
import { formatIssuePath, type IssueLine, type Schema, zodIssueLines } from "./zod_issues.ts";

/** A plugin choice as written: a name and its options. */
export interface PluginChoiceInput {
  /** The plugin name (a default applies when omitted). */
  plugin?: string;
  /** Options for the plugin, checked later by the plugin's own schema. */
  options?: Record<string, unknown>;
}

/** A plugin choice after parsing. */
export interface PluginChoice {
  /** The plugin name. */
  plugin: string;
  /** Options for the plugin, not yet checked by its schema (see {@link resolvePlugins}). */
  options: Record<string, unknown>;
}

/** One component as written. */
export interface ComponentConfigInput {
  /** Cluster-unique component id, e.g. `p0`, `m1`, `s0`, `gm`. */
  id: string;
  /** What the component does. */
  role: Role;
  /** Monitor plugin, of kind `<role>-monitor`; defaults to the role name. */
  plugin?: string;
  /** Options for the monitor plugin. */
  options?: Record<string, unknown>;
  /** Where the component listens (`host:port`), for transports that need one. */
  address?: string;
  /**
   * This component's transport, overriding the cluster-wide one (e.g. another RDMA
   * device or port on its host). See {@link transportReachabilityProblems} for which
   * mixes are accepted.
   */
  transport?: ComponentTransportInput;
}

/** A per-component transport override as written: the plugin is required. */
export interface ComponentTransportInput {
  /** The transport plugin name. */
  plugin: string;
  /** Options for the plugin, checked later by the plugin's own schema. */
  options?: Record<string, unknown>;
}

/** One component after parsing: `plugin` and `options` filled. */
export interface ComponentConfig {
  /** Cluster-unique component id. */
  id: ComponentId;
  /** What the component does. */
  role: Role;
  /** Monitor plugin name. */
  plugin: string;
  /** Options for the monitor plugin, not yet checked by its schema. */
  options: Record<string, unknown>;
  /** Where the component listens, when given. */
  address?: string;
  /** This component's own transport, when it overrides the cluster-wide one. */
  transport?: PluginChoice;
}

/** A cluster config as written (JSON, or a TS object): defaults optional. */
export interface ClusterConfigInput {
  /** Path or URL of the config's JSON schema, for editors; ignored. */
  $schema?: string;
  /** Name shown in reports (default `cluster`). */
  name?: string;
  /** How components exchange messages (default the `memory` transport). */
  transport?: PluginChoiceInput;
  /** What model time each event is charged (default `legoos-ib`). */
  latencyModel?: PluginChoiceInput;
  /**
   * Modules to load plugins from before the names are looked up: paths (relative to the
   * config file) or URLs, each default-exporting a plugin or an array of plugins.
   */
  plugins?: string[];
  /** Every component of the cluster. */
  components: ComponentConfigInput[];
  /** Deterministic mode with this seed (see {@link ClusterConfig.seed}). */
  seed?: number;
}

/** A cluster config after parsing: defaults filled. */
export interface ClusterConfig {
  /** Path or URL of the config's JSON schema, when given. */
  $schema?: string;
  /** Name shown in reports. */
  name: string;
  /** The transport plugin and its options. */
  transport: PluginChoice;
  /** The latency-model plugin and its options. */
  latencyModel: PluginChoice;
  /** Plugin modules to load, as written (see {@link ClusterConfigInput.plugins}). */
  plugins: string[];
  /** Every component, in config order. */
  components: ComponentConfig[];
  /**
   * Deterministic mode when set: threads reach the system in model-time order and this
   * seed orders ties, so one seed gives one run (see `kernel/model_scheduler.ts`).
   */
  seed?: number;
}

const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?):([0-9]{1,5})$/;

const optionsZod = z.record(z.string(), z.unknown()).describe(
  "Options for the plugin; their schema belongs to the plugin.",
);

const pluginChoiceZod = (defaultPlugin: string, what: string) =>
  z.strictObject({
    plugin: z.string().min(1).default(defaultPlugin).describe(`Name of the ${what} plugin.`),
    options: optionsZod.default({}),
  }).default({ plugin: defaultPlugin, options: {} });

const componentZod = z.strictObject({
  id: z.string().superRefine((id, ctx) => {
    const problem = componentIdProblem(id);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  }).describe('Cluster-unique component id, e.g. "p0", "m1", "s0", "gm".'),
  role: z.enum(ROLES as [Role, ...Role[]]).describe("What the component does."),
  plugin: z.string().min(1).optional().describe(
    'Monitor plugin (of kind "<role>-monitor"); defaults to the role name.',
  ),
  options: optionsZod.default({}),
  address: z.string()
    .regex(HOST_PORT, { message: 'expected "host:port", e.g. "10.0.0.2:7000"', abort: true })
    .refine((a) => Number(a.slice(a.lastIndexOf(":") + 1)) <= 65535, "port must be <= 65535")
    .optional()
    .describe('Where the component listens ("host:port"), for transports that need one.'),
  transport: z.strictObject({
    plugin: z.string().min(1).describe("Name of the transport plugin."),
    options: optionsZod.default({}),
  }).optional().describe(
    "This component's transport, overriding the cluster-wide one. Every component must " +
      "use the manager's transport plugin, with the same peer options (e.g. the RDMA mode).",
  ),
}).transform((c): ComponentConfig => ({ ...c, plugin: c.plugin ?? c.role }));

const clusterConfigZod = z.strictObject({
  $schema: z.string().optional().describe("Path or URL of this file's JSON schema."),
  name: z.string().min(1).default("cluster").describe("Name shown in reports."),
  transport: pluginChoiceZod("memory", "transport").describe(
    "How components exchange messages.",
  ),
  latencyModel: pluginChoiceZod("legoos-ib", "latency-model").describe(
    "What model time each event is charged.",
  ),
  plugins: z.array(z.string().min(1)).default([]).describe(
    "Modules to load plugins from: paths relative to this file, or URLs; each module's " +
      "default export is a plugin or an array of plugins.",
  ),
  components: z.array(componentZod).min(1).describe("Every component of the cluster."),
  seed: z.number().int().min(0).max(0xffffffff).optional().describe(
    "Deterministic mode: threads reach the system in model-time order, ties ordered by " +
      "this seed, so the same seed gives the same counters and model time.",
  ),
}).meta({
  title: "legoemu cluster config",
  description: "Components of a split-kernel cluster and the plugins that run them.",
});

// Compile-time checks that the hand-written input types match what the schema accepts
// (the output types are checked by the annotated exports below).
type _Check<T extends true> = T;
type _ComponentInputMatches = _Check<
  ComponentConfigInput extends z.input<typeof componentZod> ? true : false
>;
type _ClusterInputMatches = _Check<
  ClusterConfigInput extends z.input<typeof clusterConfigZod> ? true : false
>;

/**
 * Validates one component and fills its defaults (shape only; no cluster rules).
 *
 * @example
 * ```ts
 * import { ComponentConfigSchema } from "./config.ts";
 * const result = ComponentConfigSchema.safeParse({ id: "s0", role: "storage" });
 * console.assert(result.success && result.data.plugin === "storage");
 * ```
 */
export const ComponentConfigSchema: Schema<ComponentConfig> = componentZod;

/**
 * Validates a whole cluster config's shape and fills defaults. Objects are strict: an
 * unknown key (a typo) is an error. {@link parseClusterConfig} adds the cluster rules.
 *
 * @example
 * ```ts
 * import { ClusterConfigSchema } from "./config.ts";
 * const r = ClusterConfigSchema.safeParse({ components: [], trasnport: {} });
 * console.assert(!r.success);
 * ```
 */
export const ClusterConfigSchema: Schema<ClusterConfig> = clusterConfigZod;

/**
 * A config file or object that is wrong. `path` is the JSON path of the first problem;
 * the message lists every problem as `<file>: <path>: <problem>`, one per line.
 *
 * @example
 * ```ts
 * import { ConfigError } from "./config.ts";
 * const err = new ConfigError([{ path: "$.name", message: "expected string" }], "c.json");
 * console.assert(err.message === "c.json: $.name: expected string" && err.path === "$.name");
 * ```
 */
export class ConfigError extends KernelError {
  /** The file the config came from, when it came from one. */
  readonly file?: string;
  /** JSON path of the first problem, e.g. `$.components[1].id`. */
  readonly path: string;
  /** Every problem, first one first. */
  readonly problems: readonly IssueLine[];

  /** Creates an error for `problems` (at least one) found in `file`. */
  constructor(problems: readonly IssueLine[], file?: string, options?: ErrorOptions) {
    const list = problems.length ? problems : [{ path: "$", message: "invalid config" }];
    const where = file === undefined ? "" : `${file}: `;
    super("EINVAL", list.map((p) => `${where}${p.path}: ${p.message}`).join("\n"), options);
    this.name = "ConfigError";
    this.file = file;
    this.path = list[0].path;
    this.problems = list;
  }
}

/** Cluster rules the schema cannot express: unique ids, one manager, every pool present. */
function clusterRuleProblems(config: ClusterConfig): IssueLine[] {
  const problems: IssueLine[] = [];
  const firstAt = new Map<string, number>();
  config.components.forEach((c, i) => {
    const first = firstAt.get(c.id);
    if (first === undefined) firstAt.set(c.id, i);
    else {
      problems.push({
        path: `$.components[${i}].id`,
        message: `duplicate component id "${c.id}" (also at $.components[${first}].id)`,
      });
    }
  });
  const byRole = (role: Role) =>
    config.components.flatMap((c, i) => c.role === role ? [`$.components[${i}]`] : []);
  const managers = byRole("manager");
  if (managers.length === 0) {
    problems.push({
      path: "$.components",
      message: 'expected exactly one component with role "manager", found none',
    });
  } else if (managers.length > 1) {
    problems.push({
      path: `${managers[1]}.role`,
      message: `expected exactly one component with role "manager", found ${managers.length} (${
        managers.join(", ")
      })`,
    });
  }
  // Replication: a memory component's `secondary` is another memory component.
  const memoryIds = new Set(config.components.filter((c) => c.role === "memory").map((c) => c.id));
  config.components.forEach((c, i) => {
    const secondary = c.role === "memory" ? c.options?.secondary : undefined;
    if (secondary === undefined) return;
    if (typeof secondary !== "string" || !memoryIds.has(secondary) || secondary === c.id) {
      problems.push({
        path: `$.components[${i}].options.secondary`,
        message: `the secondary of ${c.id} must be another memory component of the cluster, ` +
          `got ${JSON.stringify(secondary)} (memory components: ${[...memoryIds].join(", ")})`,
      });
    }
  });
  for (const role of ["processor", "memory", "storage"] as const) {
    if (byRole(role).length === 0) {
      problems.push({
        path: "$.components",
        message: `expected at least one component with role "${role}", found none`,
      });
    }
  }
  return problems;
}

/**
 * Checks `value` against the config schema and the cluster rules, filling defaults.
 * Throws a {@link ConfigError} naming `file` (when given) and the JSON path of each
 * problem.
 *
 * @example
 * ```ts
 * import { ConfigError, parseClusterConfig } from "./config.ts";
 * try {
 *   parseClusterConfig({ components: [{ id: "p0", role: "gpu" }] }, "c.json");
 * } catch (err) {
 *   console.assert(err instanceof ConfigError && err.path === "$.components[0].role");
 * }
 * ```
 */
export function parseClusterConfig(value: unknown, file?: string): ClusterConfig {
  const result = ClusterConfigSchema.safeParse(value, { reportInput: true });
  if (!result.success) throw new ConfigError(zodIssueLines(result.error, "$"), file);
  const problems = clusterRuleProblems(result.data);
  if (problems.length) throw new ConfigError(problems, file);
  return result.data;
}

/** A plugin chosen by the config, with options already validated by its schema. */
export interface ResolvedPlugin {
  /** The plugin kind. */
  kind: PluginKind;
  /** The plugin name. */
  plugin: string;
  /** Options as parsed by the plugin's `configSchema` (defaults filled). */
  options: unknown;
}

/** One component with its monitor plugin resolved. */
export interface ResolvedComponentConfig extends ResolvedPlugin {
  /** The component id. */
  id: ComponentId;
  /** The component role; `kind` is `${role}-monitor`. */
  role: Role;
  /** Where the component listens, when the config says. */
  address?: string;
  /** Its own transport, when it overrides the cluster-wide one (see {@link componentTransport}). */
  transport?: ResolvedPlugin;
}

/** A cluster config whose plugins all exist and whose options all passed their schemas. */
export interface ResolvedClusterConfig {
  /** Name shown in reports. */
  name: string;
  /** The transport plugin. */
  transport: ResolvedPlugin;
  /** The latency-model plugin. */
  latencyModel: ResolvedPlugin;
  /** Every component, in config order. */
  components: ResolvedComponentConfig[];
  /** The seed of deterministic mode, when on. */
  seed?: number;
}

/**
 * Checks that every plugin the config names exists in `registry` and validates each
 * `options` with that plugin's schema. Collects every problem before throwing one
 * {@link ConfigError}: an unknown plugin is reported at its `plugin` path with the names
 * available, a bad option at its own path (e.g. `$.components[2].options.ways`).
 *
 * @example
 * ```ts
 * import { z } from "npm:zod@4.6.7";
 * import { parseClusterConfig, resolvePlugins } from "./config.ts";
 * import { definePlugin, PluginRegistry } from "./plugins.ts";
 * const registry = new PluginRegistry();
 * for (const kind of ["transport", "latency-model", "processor-monitor", "memory-monitor",
 *   "storage-monitor", "manager-monitor"] as const) {
 *   const name = kind === "transport" ? "memory" : kind === "latency-model" ? "legoos-ib"
 *     : kind.replace("-monitor", "");
 *   registry.register(definePlugin({ kind, name, configSchema: z.object({}), create: () => ({}) }));
 * }
 * const config = parseClusterConfig({ components: [
 *   { id: "p0", role: "processor" }, { id: "m0", role: "memory" },
 *   { id: "s0", role: "storage" }, { id: "gm", role: "manager" },
 * ] });
 * const resolved = resolvePlugins(config, registry);
 * console.assert(resolved.components[0].kind === "processor-monitor");
 * ```
 */
export function resolvePlugins(
  config: ClusterConfig,
  registry: PluginRegistry,
  file?: string,
): ResolvedClusterConfig {
  const problems: IssueLine[] = [];
  const resolve = (
    kind: PluginKind,
    plugin: string,
    options: unknown,
    at: string,
  ): ResolvedPlugin => {
    try {
      return {
        kind,
        plugin,
        options: registry.parseOptions(kind, plugin, options, `${at}.options`),
      };
    } catch (err) {
      if (!(err instanceof PluginError)) throw err;
      if (err.code === "BAD_PLUGIN_OPTIONS") problems.push(...err.issues);
      else problems.push({ path: `${at}.plugin`, message: err.message });
      return { kind, plugin, options };
    }
  };
  const resolved: ResolvedClusterConfig = {
    name: config.name,
    ...(config.seed === undefined ? {} : { seed: config.seed }),
    transport: resolve(
      "transport",
      config.transport.plugin,
      config.transport.options,
      "$.transport",
    ),
    latencyModel: resolve(
      "latency-model",
      config.latencyModel.plugin,
      config.latencyModel.options,
      "$.latencyModel",
    ),
    components: config.components.map((c, i) => {
      const kind = `${c.role}-monitor` as PluginKind;
      const at = formatIssuePath("$", ["components", i]);
      const component: ResolvedComponentConfig = {
        id: c.id,
        role: c.role,
        ...resolve(kind, c.plugin, c.options, at),
      };
      if (c.address !== undefined) component.address = c.address;
      if (c.transport !== undefined) {
        component.transport = resolve(
          "transport",
          c.transport.plugin,
          c.transport.options,
          `${at}.transport`,
        );
      }
      return component;
    }),
  };
  if (problems.length) throw new ConfigError(problems, file);
  const unreachable = transportReachabilityProblems(resolved, registry);
  if (unreachable.length) throw new ConfigError(unreachable, file);
  return resolved;
}

/**
 * The transport `component` boots on: its own override, else the cluster-wide one.
 *
 * @example
 * ```ts
 * import { componentTransport, type ResolvedClusterConfig } from "./config.ts";
 * const memory = { kind: "transport" as const, plugin: "memory", options: {} };
 * const config: ResolvedClusterConfig = {
 *   name: "c", transport: memory,
 *   latencyModel: { kind: "latency-model", plugin: "legoos-ib", options: {} },
 *   components: [{ id: "gm", role: "manager", kind: "manager-monitor", plugin: "manager",
 *     options: {} }],
 * };
 * console.assert(componentTransport(config, config.components[0]) === memory);
 * ```
 */
export function componentTransport(
  config: Pick<ResolvedClusterConfig, "transport">,
  component: Pick<ResolvedComponentConfig, "transport">,
): ResolvedPlugin {
  return component.transport ?? config.transport;
}

/**
 * The manager's transport: what every component must reach, and so the transport a
 * client of the cluster (e.g. `legoemu run`) and the launcher go by.
 *
 * @example
 * ```ts
 * import { managerTransport } from "./config.ts";
 * const tcp = { kind: "transport" as const, plugin: "tcp", options: {} };
 * const chosen = managerTransport({
 *   transport: { kind: "transport", plugin: "memory", options: {} },
 *   components: [{ id: "gm", role: "manager", kind: "manager-monitor", plugin: "manager",
 *     options: {}, transport: tcp }],
 * });
 * console.assert(chosen === tcp);
 * ```
 */
export function managerTransport(
  config: Pick<ResolvedClusterConfig, "transport" | "components">,
): ResolvedPlugin {
  const manager = config.components.find((c) => c.role === "manager");
  return manager ? componentTransport(config, manager) : config.transport;
}

/**
 * Why some components of a resolved config could not reach each other, one problem per
 * such component (empty when all can). The manager exchanges heartbeats and placement with
 * every component, so every component's transport (see {@link componentTransport}) must
 * reach the manager's. Two endpoints reach each other only when they use the same plugin:
 * no transport bridges to another (the `rdma` transport carries only its queue-pair
 * exchange over TCP, never data, and a `memory` transport exists inside one process).
 * With the same plugin, the options the plugin lists in `peerOptions` must also agree
 * (e.g. `rdma`'s `mode`: a connected endpoint refuses a connectionless peer).
 *
 * @example
 * ```ts
 * import { transportReachabilityProblems } from "./config.ts";
 * import { PluginRegistry } from "./plugins.ts";
 * const t = (plugin: string) => ({ kind: "transport" as const, plugin, options: {} });
 * const problems = transportReachabilityProblems({
 *   transport: t("tcp"),
 *   components: [
 *     { id: "gm", role: "manager", kind: "manager-monitor", plugin: "manager", options: {} },
 *     { id: "p0", role: "processor", kind: "processor-monitor", plugin: "processor",
 *       options: {}, transport: t("rdma") },
 *   ],
 * }, new PluginRegistry());
 * console.assert(problems.length === 1 && problems[0].path === "$.components[1].transport");
 * ```
 */
export function transportReachabilityProblems(
  config: Pick<ResolvedClusterConfig, "transport" | "components">,
  registry: PluginRegistry,
): IssueLine[] {
  const managerAt = config.components.findIndex((c) => c.role === "manager");
  if (managerAt < 0) return [];
  const manager = config.components[managerAt];
  const reference = componentTransport(config, manager);
  const peerOptions = registry.has("transport", reference.plugin)
    ? registry.get("transport", reference.plugin).peerOptions ?? []
    : [];
  const option = (choice: ResolvedPlugin, name: string) =>
    JSON.stringify((choice.options as Record<string, unknown> | null)?.[name]);
  const problems: IssueLine[] = [];
  config.components.forEach((c, i) => {
    if (i === managerAt) return;
    const own = componentTransport(config, c);
    const at = c.transport ? `$.components[${i}].transport` : "$.transport";
    if (own.plugin !== reference.plugin) {
      problems.push({
        path: at,
        message: `component "${c.id}" uses the "${own.plugin}" transport but the manager ` +
          `"${manager.id}" uses "${reference.plugin}": endpoints of different transport ` +
          `plugins cannot reach each other (no transport bridges to another), and the ` +
          `manager talks to every component; give both the same transport plugin`,
      });
      return;
    }
    const differing = peerOptions.filter((name) => option(own, name) !== option(reference, name));
    if (differing.length) {
      problems.push({
        path: at,
        message: `component "${c.id}" and the manager "${manager.id}" use the "${own.plugin}" ` +
          `transport with different ${
            differing.map((n) => `${n} (${option(own, n)} vs ${option(reference, n)})`).join(", ")
          }: its endpoints refuse a peer whose ${differing.join(", ")} differs`,
      });
    }
  });
  return problems;
}

/** Line and column (1-based) of a character offset, for JSON syntax errors. */
function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  return { line, column: offset - (before.lastIndexOf("\n") + 1) + 1 };
}

/**
 * Reads and parses a JSON config file (see {@link parseClusterConfig}). A missing or
 * unreadable file, or invalid JSON (reported with line and column), is a
 * {@link ConfigError} naming the file.
 *
 * @example
 * ```ts
 * import { ConfigError, readClusterConfigFile } from "./config.ts";
 * try {
 *   await readClusterConfigFile("/no/such/cluster.json");
 * } catch (err) {
 *   console.assert(err instanceof ConfigError && err.file === "/no/such/cluster.json");
 * }
 * ```
 */
export async function readClusterConfigFile(path: string): Promise<ClusterConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    const message = err instanceof Deno.errors.NotFound
      ? "file not found"
      : `cannot read file: ${err instanceof Error ? err.message : String(err)}`;
    throw new ConfigError([{ path: "$", message }], path, { cause: err });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    const position = /position (\d+)/.exec(detail);
    let message = `invalid JSON: ${detail.replace(/ \(line \d+ column \d+\)$/, "")}`;
    if (position) {
      const { line, column } = lineColumn(text, Number(position[1]));
      message = `invalid JSON at line ${line}, column ${column}: ${
        detail.replace(/ in JSON at position \d+.*$/, "")
      }`;
    }
    throw new ConfigError([{ path: "$", message }], path, { cause: err });
  }
  return parseClusterConfig(value, path);
}

/**
 * Reads a config file and resolves its plugins against `registry` in one step.
 *
 * @example
 * ```ts
 * import { loadClusterConfig } from "./config.ts";
 * import { PluginRegistry } from "./plugins.ts";
 * await loadClusterConfig("/no/such.json", new PluginRegistry()).catch((err) =>
 *   console.assert(err.code === "EINVAL")
 * );
 * ```
 */
export async function loadClusterConfig(
  path: string,
  registry: PluginRegistry,
): Promise<ResolvedClusterConfig> {
  const config = await readClusterConfigFile(path);
  await loadConfigPlugins(config, registry, directoryUrl(path), path);
  return resolvePlugins(config, registry, path);
}

/** The directory holding `path`, as a URL that relative module paths resolve against. */
function directoryUrl(path: string): URL {
  const cwd = Deno.cwd();
  const base = new URL("file:///");
  base.pathname = cwd.endsWith("/") ? cwd : `${cwd}/`;
  const file = new URL(path.replaceAll("%", "%25"), base);
  return new URL("./", file);
}

/**
 * Loads the plugin modules a config lists (`$.plugins`) into `registry`, resolving paths
 * against `base` (the config file's directory; default the current directory). A module
 * that fails is a {@link ConfigError} at `$.plugins[i]` naming the module and the problem.
 *
 * @example
 * ```ts
 * import { ConfigError, loadConfigPlugins, parseClusterConfig } from "./config.ts";
 * import { PluginRegistry } from "./plugins.ts";
 * const config = parseClusterConfig({
 *   plugins: ["./no/such/plugin.ts"],
 *   components: [{ id: "gm", role: "manager" }, { id: "p0", role: "processor" },
 *     { id: "m0", role: "memory" }, { id: "s0", role: "storage" }],
 * });
 * await loadConfigPlugins(config, new PluginRegistry()).catch((err) =>
 *   console.assert(err instanceof ConfigError && err.path === "$.plugins[0]")
 * );
 * ```
 */
export async function loadConfigPlugins(
  config: ClusterConfig,
  registry: PluginRegistry,
  base?: string | URL,
  file?: string,
): Promise<void> {
  for (const [i, specifier] of config.plugins.entries()) {
    try {
      await loadPluginModule(specifier, registry, base);
    } catch (err) {
      if (!(err instanceof PluginError)) throw err;
      throw new ConfigError([{ path: `$.plugins[${i}]`, message: err.message }], file, {
        cause: err,
      });
    }
  }
}

/**
 * The JSON schema of a config file as written (defaults optional), for editors: put
 * `"$schema": "<path to kernel/cluster_config.schema.json>"` at the top of a config.
 *
 * @example
 * ```ts
 * import { clusterConfigJsonSchema } from "./config.ts";
 * const schema = clusterConfigJsonSchema() as { required: string[] };
 * console.assert(schema.required.includes("components"));
 * ```
 */
export function clusterConfigJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(clusterConfigZod, { io: "input" }) as Record<string, unknown>;
}
