/**
 * The cluster config's JSON Schema with every stock plugin's options typed, for editors
 * (`kernel/cluster_config.schema.json`), and the options reference in
 * `docs/configuration.md`; both are generated from the plugins' own zod schemas.
 *
 * The kernel's schema (`clusterConfigJsonSchema`) knows the config's shape but no plugin.
 * Here each choice of a plugin (a component's monitor, the transport, the latency model,
 * the processor's replacement policy) gets an `if`/`then` per registered plugin: when the
 * config names that plugin (or names none and it is the default), its `options` must
 * match that plugin's schema. Plugin names are offered as `examples` (editors complete
 * them), so a user's own plugin names are still accepted.
 *
 * Regenerate both files after changing an options schema:
 *
 * ```sh
 * npx -y deno@2.9.6 task schema
 * ```
 *
 * @module
 */

import { z } from "npm:zod@4.6.7";
import { clusterConfigJsonSchema } from "../kernel/config.ts";
import { ROLES } from "../kernel/ids.ts";
import type { PluginKind, PluginRegistry } from "../kernel/plugins.ts";
import { createStockRegistry } from "./stock.ts";

type Json = Record<string, unknown>;

/** Where the committed JSON Schema lives. */
export const CONFIG_SCHEMA_URL: URL = new URL(
  "../kernel/cluster_config.schema.json",
  import.meta.url,
);
/** Where the generated options reference lives. */
export const CONFIG_DOC_URL: URL = new URL("../docs/configuration.md", import.meta.url);

/** The JSON Schema of the options of plugin `(kind, name)`, as a config writes them. */
function optionsSchema(registry: PluginRegistry, kind: PluginKind, name: string): Json {
  const schema = z.toJSONSchema(registry.get(kind, name).configSchema as z.ZodType, {
    io: "input",
    unrepresentable: "any",
  }) as Json;
  delete schema.$schema;
  return schema;
}

/**
 * `if` the object's `field` names `name` (or is absent and `name` is the default) `then`
 * its `optionsField` matches `options`.
 */
function choice(
  field: string,
  name: string,
  isDefault: boolean,
  optionsField: string,
  options: Json,
): Json {
  const named = { properties: { [field]: { const: name } }, required: [field] };
  return {
    if: isDefault ? { anyOf: [named, { not: { required: [field] } }] } : named,
    then: { properties: { [optionsField]: options } },
  };
}

/** Adds plugin-name suggestions to a string property (and to a string branch of it). */
function suggest(property: Json | undefined, names: string[]): void {
  if (!property) return;
  property.examples = names;
  for (const branch of (property.anyOf ?? []) as Json[]) {
    if (branch.type === "string") branch.examples = names;
  }
}

const PLACEMENT_FIELDS: Record<string, PluginKind> = {
  processPlacement: "process-placement",
  vregionPlacement: "vregion-placement",
  filePlacement: "file-placement",
};

/**
 * The config's JSON Schema with the options of every plugin in `registry` typed.
 *
 * @example
 * ```ts
 * import { stockConfigJsonSchema } from "./config_schema.ts";
 * const text = JSON.stringify(stockConfigJsonSchema());
 * console.assert(text.includes('"cacheBytes"') && text.includes('"vregionPlacement"'));
 * ```
 */
export function stockConfigJsonSchema(registry: PluginRegistry = createStockRegistry()): Json {
  const schema = clusterConfigJsonSchema() as Json;
  const properties = schema.properties as Record<string, Json>;
  for (
    const [key, kind, fallback] of [
      ["transport", "transport", "memory"],
      ["latencyModel", "latency-model", "legoos-ib"],
    ] as const
  ) {
    const target = properties[key];
    const names = registry.names(kind);
    suggest((target.properties as Record<string, Json>).plugin, names);
    target.allOf = names.map((name) =>
      choice("plugin", name, name === fallback, "options", optionsSchema(registry, kind, name))
    );
  }
  const component = (properties.components as Json).items as Json;
  // A component's own transport (no default plugin: an override names one).
  const override = (component.properties as Record<string, Json>).transport;
  suggest((override.properties as Record<string, Json>).plugin, registry.names("transport"));
  override.allOf = registry.names("transport").map((name) =>
    choice("plugin", name, false, "options", optionsSchema(registry, "transport", name))
  );
  const rules: Json[] = [];
  for (const role of ROLES) {
    const kind = `${role}-monitor` as PluginKind;
    for (const name of registry.names(kind)) {
      const options = optionsSchema(registry, kind, name);
      if (role === "processor") typeReplacement(options, registry);
      if (role === "manager") {
        for (const [field, placement] of Object.entries(PLACEMENT_FIELDS)) {
          suggest((options.properties as Record<string, Json>)?.[field], registry.names(placement));
        }
      }
      const named = {
        properties: { role: { const: role }, plugin: { const: name } },
        required: ["role"],
      };
      rules.push({
        if: name === role ? named : { ...named, required: ["role", "plugin"] },
        then: { properties: { options } },
      });
    }
  }
  suggest(
    (component.properties as Record<string, Json>).plugin,
    ROLES.flatMap((role) => registry.names(`${role}-monitor` as PluginKind)),
  );
  component.allOf = rules;
  return schema;
}

/** The processor's `replacementOptions` typed by its `replacement`. */
function typeReplacement(options: Json, registry: PluginRegistry): void {
  const props = options.properties as Record<string, Json> | undefined;
  if (!props?.replacement) return;
  const names = registry.names("replacement-policy");
  suggest(props.replacement, names);
  const fallback = String(props.replacement.default ?? "");
  options.allOf = names.map((name) =>
    choice(
      "replacement",
      name,
      name === fallback,
      "replacementOptions",
      optionsSchema(registry, "replacement-policy", name),
    )
  );
}

/**
 * The schema file's exact text: pretty-printed JSON with a final newline.
 *
 * @example
 * ```ts
 * import { configSchemaText } from "./config_schema.ts";
 * console.assert(configSchemaText().endsWith("}\n"));
 * ```
 */
export function configSchemaText(registry?: PluginRegistry): string {
  return JSON.stringify(stockConfigJsonSchema(registry), null, 2) + "\n";
}

/** One option row of the reference. */
function rows(schema: Json, prefix = ""): string[] {
  const out: string[] = [];
  const props = (schema.properties ?? {}) as Record<string, Json>;
  for (const [key, p] of Object.entries(props)) {
    const type = typeOf(p);
    const dflt = p.default === undefined ? "" : `\`${JSON.stringify(p.default)}\``;
    const desc = String(p.description ?? "").replaceAll("\n", " ").replaceAll("|", "\\|");
    const names = Array.isArray(p.examples)
      ? ` Stock: ${(p.examples as string[]).map((n) => `\`${n}\``).join(", ")}.`
      : "";
    out.push(
      `| \`${prefix}${key}\` | ${type} | ${
        dflt.length > 60 ? "(see schema)" : dflt
      } | ${desc}${names} |`,
    );
  }
  return out;
}

function typeOf(p: Json): string {
  if (Array.isArray(p.enum)) {
    return (p.enum as unknown[]).map((v) => `\`${JSON.stringify(v)}\``).join(" \\| ");
  }
  if (Array.isArray(p.anyOf)) return (p.anyOf as Json[]).map(typeOf).join(" or ");
  if (p.type === "array") return `array of ${typeOf((p.items ?? {}) as Json)}`;
  const bounds: string[] = [];
  if (p.minimum !== undefined) bounds.push(`>= ${p.minimum}`);
  if (p.maximum !== undefined) bounds.push(`<= ${p.maximum}`);
  if (p.multipleOf !== undefined) bounds.push(`multiple of ${p.multipleOf}`);
  return `${p.type ?? "any"}${bounds.length ? ` (${bounds.join(", ")})` : ""}`;
}

/**
 * The options reference (`docs/configuration.md`): every plugin's options with type,
 * default and description, by kind.
 *
 * @example
 * ```ts
 * import { configReferenceMarkdown } from "./config_schema.ts";
 * console.assert(configReferenceMarkdown().includes("`replacement`"));
 * ```
 */
export function configReferenceMarkdown(registry: PluginRegistry = createStockRegistry()): string {
  const lines = [
    "# Configuration reference",
    "",
    "<!-- Generated by `npx -y deno@2.9.6 task schema` from the plugins' option schemas; do not edit. -->",
    "",
    "A cluster config (JSON) names the plugin of each part and gives it `options`. This lists every",
    "stock plugin's options; `kernel/cluster_config.schema.json` holds the same as a JSON Schema",
    '(put `"$schema": "<path>/kernel/cluster_config.schema.json"` at the top of a config and an',
    "editor completes and checks it). Config shape: `name`, `transport` (`{ plugin, options }`),",
    "`latencyModel` (`{ plugin, options }`), `plugins` (modules to load), `components` (each",
    "`{ id, role, plugin?, options?, address?, transport? }`; `plugin` defaults to the role's name).",
    "",
    "A component's own `transport` (`{ plugin, options }`, the same shape as the cluster-wide one)",
    "replaces the cluster-wide one for that component, e.g. another RDMA `device`, `port` or",
    "`gidIndex` on its host. The manager talks to every component, so every component must reach",
    "the manager's transport, and the config is refused at load, naming the component, when one",
    "cannot: endpoints of different plugins never reach each other (no transport bridges to",
    "another: `rdma` sends only its queue-pair exchange over TCP, never data, and `memory` lives in",
    "one process), and the options a plugin lists as peer options must agree (`rdma`: `mode`, as a",
    "connected endpoint refuses a connectionless peer; `memory`: `receiveQueueFrames`, as a cluster",
    "boots one memory transport per distinct options). Other options may differ per component.",
    "",
  ];
  const sections: [string, PluginKind][] = [
    ['Manager (`role: "manager"`)', "manager-monitor"],
    ['Processor (`role: "processor"`)', "processor-monitor"],
    ['Memory (`role: "memory"`)', "memory-monitor"],
    ['Storage (`role: "storage"`)', "storage-monitor"],
    ["Transport (`transport`)", "transport"],
    ["Latency model (`latencyModel`)", "latency-model"],
    ["Replacement policy (processor `replacement`, `replacementOptions`)", "replacement-policy"],
    ["Process placement (manager `processPlacement`)", "process-placement"],
    ["vRegion placement (manager `vregionPlacement`)", "vregion-placement"],
    ["File placement (manager `filePlacement`)", "file-placement"],
  ];
  for (const [title, kind] of sections) {
    lines.push(`## ${title}`, "");
    for (const name of registry.names(kind)) {
      const def = registry.get(kind, name);
      const schema = optionsSchema(registry, kind, name);
      if (kind === "processor-monitor") typeReplacement(schema, registry);
      if (kind === "manager-monitor") {
        for (const [field, placement] of Object.entries(PLACEMENT_FIELDS)) {
          suggest((schema.properties as Record<string, Json>)?.[field], registry.names(placement));
        }
      }
      lines.push(`### \`${name}\`${def.description ? ` — ${def.description}` : ""}`, "");
      const body = rows(schema);
      if (body.length === 0) lines.push("No options.", "");
      else {lines.push(
          "| option | type | default | description |",
          "| --- | --- | --- | --- |",
          ...body,
          "",
        );}
    }
  }
  return lines.join("\n");
}

if (import.meta.main) {
  await Deno.writeTextFile(CONFIG_SCHEMA_URL, configSchemaText());
  await Deno.mkdir(new URL("./", CONFIG_DOC_URL), { recursive: true });
  await Deno.writeTextFile(CONFIG_DOC_URL, configReferenceMarkdown());
  console.log(`wrote ${CONFIG_SCHEMA_URL.pathname} and ${CONFIG_DOC_URL.pathname}`);
}
