/**
 * The plugin registry: every replaceable part of legoemu is a plugin, registered by
 * `(kind, name)`.
 *
 * A plugin is a plain object (like a Linux ops table): its kind, a name, a zod schema for
 * its options and a `create` function. The registry finds plugins by name, validates
 * options against the schema before `create` ever sees them, and reports mistakes with the
 * available alternatives or the path of the bad option.
 *
 * @example
 * ```ts
 * import { z } from "npm:zod@4.6.7";
 * import { definePlugin, PluginRegistry } from "./plugins.ts";
 *
 * const fifo = definePlugin({
 *   kind: "replacement-policy",
 *   name: "fifo",
 *   description: "evict the oldest line",
 *   configSchema: z.strictObject({ ways: z.number().int().positive().default(64) }),
 *   create: (options) => ({ ways: options.ways }),
 * });
 * const registry = new PluginRegistry().register(fifo);
 * const policy = await registry.create<{ ways: number }>("replacement-policy", "fifo", {}, {});
 * console.assert(policy.ways === 64);
 * ```
 *
 * @module
 */

import { KernelError } from "./errors.ts";
import { type IssueLine, type Schema, zodIssueLines } from "./zod_issues.ts";

export type { IssueLine, Schema, SchemaError, SchemaIssue, SchemaResult } from "./zod_issues.ts";

/** What a plugin provides; each kind has its own instance contract elsewhere in `kernel/`. */
export type PluginKind =
  | "transport"
  | "processor-monitor"
  | "memory-monitor"
  | "storage-monitor"
  | "manager-monitor"
  | "latency-model"
  | "replacement-policy"
  | "pager"
  | "process-placement"
  | "vregion-placement"
  | "file-placement";

/**
 * Every plugin kind, in a stable order.
 *
 * @example
 * ```ts
 * import { PLUGIN_KINDS } from "./plugins.ts";
 * console.assert(PLUGIN_KINDS.includes("latency-model"));
 * ```
 */
export const PLUGIN_KINDS: readonly PluginKind[] = Object.freeze(
  [
    "transport",
    "processor-monitor",
    "memory-monitor",
    "storage-monitor",
    "manager-monitor",
    "latency-model",
    "replacement-policy",
    "pager",
    "process-placement",
    "vregion-placement",
    "file-placement",
  ] as const,
);

/**
 * A plugin: its identity, its options schema and a factory.
 *
 * `Options` is the schema's output type (defaults applied); `Context` is whatever the host
 * hands every plugin of this kind (e.g. the component id and clock).
 *
 * @example
 * ```ts
 * import { z } from "npm:zod@4.6.7";
 * import type { PluginDefinition } from "./plugins.ts";
 * const def: PluginDefinition<{ seed: number }, () => number> = {
 *   kind: "replacement-policy",
 *   name: "random",
 *   configSchema: z.object({ seed: z.number().default(1) }),
 *   create: ({ seed }) => () => seed,
 * };
 * console.assert(def.name === "random");
 * ```
 */
export interface PluginDefinition<Options = unknown, Instance = unknown, Context = unknown> {
  /** What the plugin provides. */
  kind: PluginKind;
  /** Name used in configs: lowercase letters, digits and `-`, starting with a letter. */
  name: string;
  /** One line for listings and error messages. */
  description?: string;
  /**
   * Validates (and fills defaults of) the options a config gives this plugin: any zod
   * schema whose output is `Options`, usually a `z.strictObject` so typos are caught.
   */
  configSchema: Schema<Options>;
  /** Builds an instance from validated options. */
  create(options: Options, context: Context): Instance | Promise<Instance>;
  /**
   * Transports only: option names two endpoints must agree on to reach each other (a
   * per-component transport override that differs from the manager's in one is refused).
   */
  peerOptions?: readonly string[];
}

/** The ways a plugin lookup, registration or option check can fail. */
export type PluginErrorCode =
  | "UNKNOWN_PLUGIN"
  | "DUPLICATE_PLUGIN"
  | "BAD_PLUGIN"
  | "BAD_PLUGIN_OPTIONS"
  | "BAD_PLUGIN_MODULE";

/**
 * A plugin that does not exist, clashes with another, is malformed, or got bad options.
 * It prints as `PluginError: <message>` like any other error; the plugin involved is in
 * `kind` and `plugin`.
 *
 * @example
 * ```ts
 * import { PluginError } from "./plugins.ts";
 * const err = new PluginError("UNKNOWN_PLUGIN", "latency-model", "x", "no such plugin");
 * console.assert(err.code === "UNKNOWN_PLUGIN" && err.kind === "latency-model");
 * console.assert(err.plugin === "x" && String(err) === "PluginError: no such plugin");
 * ```
 */
export class PluginError extends KernelError {
  /** Which failure this is. */
  declare readonly code: PluginErrorCode;
  /** The plugin kind involved. */
  readonly kind: string;
  /** The plugin name involved. */
  readonly plugin: string;
  /** For `BAD_PLUGIN_OPTIONS`: the path of the first bad field, e.g. `options.ways`. */
  readonly path?: string;
  /** For `BAD_PLUGIN_OPTIONS`: every problem found, first one first. */
  readonly issues: readonly IssueLine[];
  /** For `UNKNOWN_PLUGIN`: the names registered for `kind`. */
  readonly available: readonly string[];

  /** Creates an error about plugin `plugin` of `kind`. */
  constructor(
    code: PluginErrorCode,
    kind: string,
    plugin: string,
    message: string,
    details: { issues?: readonly IssueLine[]; available?: readonly string[] } = {},
  ) {
    super(code, message);
    this.name = "PluginError";
    this.kind = kind;
    this.plugin = plugin;
    this.issues = details.issues ?? [];
    this.path = this.issues[0]?.path;
    this.available = details.available ?? [];
  }
}

/** A plugin's identity as shown in listings. */
export interface PluginSummary {
  /** What it provides. */
  kind: PluginKind;
  /** Its name. */
  name: string;
  /** Its one-line description, if it has one. */
  description?: string;
}

const NAME_PATTERN = /^[a-z][a-z0-9-]{0,47}$/;

/**
 * Whether `value` is one of {@link PLUGIN_KINDS}.
 *
 * @example
 * ```ts
 * import { isPluginKind } from "./plugins.ts";
 * console.assert(isPluginKind("transport") && !isPluginKind("gpu"));
 * ```
 */
export function isPluginKind(value: unknown): value is PluginKind {
  return typeof value === "string" && (PLUGIN_KINDS as readonly string[]).includes(value);
}

/**
 * Throws a {@link PluginError} `BAD_PLUGIN` unless `def` is a well-formed plugin: an object
 * with a known kind, a valid name, a zod `configSchema` and a `create` function.
 *
 * @example
 * ```ts
 * import { checkPluginDefinition, PluginError } from "./plugins.ts";
 * try {
 *   checkPluginDefinition({ kind: "replacement-policy", name: "x" });
 * } catch (err) {
 *   console.assert(err instanceof PluginError && err.code === "BAD_PLUGIN");
 * }
 * ```
 */
export function checkPluginDefinition(def: unknown): void {
  checkDefinition(def as PluginDefinition<unknown, unknown, unknown>);
}

function checkDefinition(def: PluginDefinition<unknown, unknown, unknown>): void {
  const kind = String(def?.kind);
  const name = String(def?.name);
  const bad = (why: string) =>
    new PluginError("BAD_PLUGIN", kind, name, `bad plugin ${kind}/${name}: ${why}`);
  if (typeof def !== "object" || def === null) {
    throw bad(`a plugin must be an object, got ${def === null ? "null" : typeof def}`);
  }
  if (!isPluginKind(def.kind)) {
    throw bad(`unknown kind ${JSON.stringify(def.kind)}; kinds: ${PLUGIN_KINDS.join(", ")}`);
  }
  if (typeof def.name !== "string" || !NAME_PATTERN.test(def.name)) {
    throw bad(
      `name ${
        JSON.stringify(def.name)
      } must be 1-48 characters of a-z, 0-9 and "-", starting with a letter`,
    );
  }
  if (typeof def.configSchema?.safeParse !== "function") {
    throw bad("configSchema must be a zod schema");
  }
  if (typeof def.create !== "function") throw bad("create must be a function");
}

/**
 * Checks a plugin definition and returns a frozen copy of it. Throws a
 * {@link PluginError} `BAD_PLUGIN` for an unknown kind, a bad name, a missing schema or a
 * missing `create`.
 *
 * @example
 * ```ts
 * import { z } from "npm:zod@4.6.7";
 * import { definePlugin } from "./plugins.ts";
 * const rr = definePlugin({
 *   kind: "vregion-placement",
 *   name: "round-robin",
 *   configSchema: z.object({}),
 *   create: () => ({ pick: (n: number) => n % 2 }),
 * });
 * console.assert(Object.isFrozen(rr));
 * ```
 */
export function definePlugin<O, I, C = unknown>(
  def: PluginDefinition<O, I, C>,
): PluginDefinition<O, I, C> {
  checkDefinition(def as PluginDefinition<unknown, unknown, unknown>);
  return Object.freeze({ ...def });
}

/**
 * Plugins by `(kind, name)`.
 *
 * @example
 * ```ts
 * import { z } from "npm:zod@4.6.7";
 * import { definePlugin, PluginRegistry } from "./plugins.ts";
 * const registry = new PluginRegistry();
 * registry.register(definePlugin({
 *   kind: "replacement-policy",
 *   name: "lru",
 *   configSchema: z.object({}),
 *   create: () => "lru instance",
 * }));
 * console.assert(registry.has("replacement-policy", "lru"));
 * console.assert(registry.list("replacement-policy")[0].name === "lru");
 * ```
 */
export class PluginRegistry {
  readonly #byKind = new Map<
    PluginKind,
    Map<string, PluginDefinition<unknown, unknown, unknown>>
  >();

  /**
   * Adds a plugin. Throws `DUPLICATE_PLUGIN` when `(kind, name)` is taken, naming both,
   * and `BAD_PLUGIN` when the definition is malformed. Returns `this` for chaining.
   */
  register<O, I, C>(def: PluginDefinition<O, I, C>): this {
    const plain = def as PluginDefinition<unknown, unknown, unknown>;
    checkDefinition(plain);
    let named = this.#byKind.get(def.kind);
    if (!named) this.#byKind.set(def.kind, named = new Map());
    const existing = named.get(def.name);
    if (existing) {
      const label = (d: PluginDefinition<unknown, unknown, unknown>) =>
        d.description ? ` (${d.description})` : "";
      throw new PluginError(
        "DUPLICATE_PLUGIN",
        def.kind,
        def.name,
        `duplicate ${def.kind} plugin "${def.name}": one is already registered${
          label(existing)
        }, cannot register another${label(plain)}`,
      );
    }
    named.set(def.name, Object.isFrozen(def) ? plain : Object.freeze({ ...plain }));
    return this;
  }

  /** Whether a plugin `(kind, name)` is registered. */
  has(kind: PluginKind, name: string): boolean {
    return this.#byKind.get(kind)?.has(name) ?? false;
  }

  /** The names registered for `kind`, sorted. */
  names(kind: PluginKind): string[] {
    return [...(this.#byKind.get(kind)?.keys() ?? [])].sort();
  }

  /**
   * The plugin `(kind, name)`. Throws `UNKNOWN_PLUGIN` listing the names available for
   * that kind, e.g. `no replacement-policy plugin named "lfu"; available: fifo, lru`.
   */
  get(kind: PluginKind, name: string): PluginDefinition {
    const def = this.#byKind.get(kind)?.get(name);
    if (def) return def;
    if (!isPluginKind(kind)) {
      throw new PluginError(
        "UNKNOWN_PLUGIN",
        String(kind),
        String(name),
        `unknown plugin kind ${JSON.stringify(kind)}; kinds: ${PLUGIN_KINDS.join(", ")}`,
      );
    }
    const available = this.names(kind);
    throw new PluginError(
      "UNKNOWN_PLUGIN",
      kind,
      String(name),
      `no ${kind} plugin named ${JSON.stringify(name)}; available: ${
        available.length ? available.join(", ") : "(none registered)"
      }`,
      { available },
    );
  }

  /** Registered plugins, of one kind or all, ordered by kind then name. */
  list(kind?: PluginKind): PluginSummary[] {
    const kinds = kind === undefined ? PLUGIN_KINDS : [kind];
    const out: PluginSummary[] = [];
    for (const k of kinds) {
      for (const name of this.names(k)) {
        const def = this.#byKind.get(k)!.get(name)!;
        out.push(
          def.description === undefined ? { kind: k, name } : {
            kind: k,
            name,
            description: def.description,
          },
        );
      }
    }
    return out;
  }

  /**
   * Validates `options` with the plugin's schema and returns the parsed value (defaults
   * filled). Throws `UNKNOWN_PLUGIN`, or `BAD_PLUGIN_OPTIONS` whose message has one line
   * per problem, `<where>.<path>: <what was expected>`, and whose `path` is the first.
   * `options` of `undefined` is treated as `{}`.
   */
  parseOptions(kind: PluginKind, name: string, options: unknown, where = "options"): unknown {
    const def = this.get(kind, name);
    const result = def.configSchema.safeParse(options ?? {}, { reportInput: true });
    if (result.success) return result.data;
    const issues = zodIssueLines(result.error, where);
    throw new PluginError(
      "BAD_PLUGIN_OPTIONS",
      kind,
      name,
      issues.map((line) => `${line.path}: ${line.message}`).join("\n"),
      { issues },
    );
  }

  /** Validates `options` (see {@link PluginRegistry.parseOptions}), then calls `create`. */
  async create<I>(kind: PluginKind, name: string, options: unknown, context: unknown): Promise<I> {
    const parsed = this.parseOptions(kind, name, options);
    return await this.get(kind, name).create(parsed, context) as I;
  }
}
