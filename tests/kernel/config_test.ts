import assert from "node:assert/strict";
import { z } from "zod";
import {
  type ClusterConfigInput,
  clusterConfigJsonSchema,
  ConfigError,
  loadClusterConfig,
  parseClusterConfig,
  readClusterConfigFile,
  resolvePlugins,
} from "../../kernel/config.ts";
import { definePlugin, type PluginKind, PluginRegistry } from "../../kernel/plugins.ts";
import {
  CONFIG_DOC_URL,
  CONFIG_SCHEMA_URL,
  configReferenceMarkdown,
  configSchemaText,
  stockConfigJsonSchema,
} from "../../plugins/config_schema.ts";
import { latencyModelPlugins } from "../../plugins/latency/mod.ts";

const MINIMAL: ClusterConfigInput = {
  components: [
    { id: "p0", role: "processor" },
    { id: "m0", role: "memory" },
    { id: "s0", role: "storage" },
    { id: "gm", role: "manager" },
  ],
};

function stub(kind: PluginKind, name: string, schema: z.ZodType = z.strictObject({})) {
  return definePlugin({ kind, name, configSchema: schema, create: () => ({}) });
}

function registry(): PluginRegistry {
  const r = new PluginRegistry()
    .register(stub("transport", "memory"))
    .register(stub("transport", "tcp"))
    .register(stub(
      "processor-monitor",
      "processor",
      z.strictObject({
        ways: z.number().int().positive().default(64),
      }),
    ))
    .register(stub("memory-monitor", "memory"))
    .register(stub("storage-monitor", "storage"))
    .register(stub("manager-monitor", "manager"));
  for (const plugin of latencyModelPlugins) r.register(plugin);
  return r;
}

function catchConfigError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${err}`);
    return err;
  }
  assert.fail("expected a ConfigError");
}

async function withTempFile<T>(text: string, fn: (path: string) => Promise<T>): Promise<T> {
  const path = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(path, text);
    return await fn(path);
  } finally {
    await Deno.remove(path);
  }
}

Deno.test("parseClusterConfig() fills defaults", () => {
  const config = parseClusterConfig(MINIMAL);
  assert.equal(config.name, "cluster");
  assert.deepEqual(config.transport, { plugin: "memory", options: {} });
  assert.deepEqual(config.latencyModel, { plugin: "legoos-ib", options: {} });
  assert.deepEqual(config.components[0], {
    id: "p0",
    role: "processor",
    plugin: "processor",
    options: {},
  });
  const custom = parseClusterConfig({
    ...MINIMAL,
    components: [
      ...MINIMAL.components,
      { id: "p1", role: "processor", plugin: "linux-local", address: "10.0.0.2:7000" },
    ],
  });
  assert.equal(custom.components[4].plugin, "linux-local");
  assert.equal(custom.components[4].address, "10.0.0.2:7000");
});

Deno.test("a wrong role names the file, the JSON path and what was expected", () => {
  const err = catchConfigError(() =>
    parseClusterConfig({ components: [{ id: "p0", role: "gpu" }] }, "cluster.json")
  );
  assert.equal(err.code, "EINVAL");
  assert.equal(err.file, "cluster.json");
  assert.equal(err.path, "$.components[0].role");
  assert.equal(
    err.message,
    'cluster.json: $.components[0].role: expected one of "processor"|"memory"|"storage"|' +
      '"manager", received "gpu"',
  );
});

Deno.test("several problems are listed one per line; path is the first", () => {
  const err = catchConfigError(() =>
    parseClusterConfig({ name: 3, components: [{ id: "P 0", role: "memory", address: "x" }] })
  );
  assert.equal(err.path, "$.name");
  const lines = err.message.split("\n");
  assert.equal(lines.length, 3);
  assert.equal(lines[0], "$.name: expected string, received number");
  assert.match(lines[1], /^\$\.components\[0\]\.id: component id "P 0" must start/);
  assert.match(lines[2], /^\$\.components\[0\]\.address: expected "host:port"/);
});

Deno.test("a missing required field says it is missing", () => {
  const err = catchConfigError(() => parseClusterConfig({ components: [{ id: "p0" }] }));
  assert.equal(
    err.message,
    '$.components[0].role: required, but missing (expected one of "processor"|"memory"|"storage"|"manager")',
  );
});

Deno.test("a duplicate component id names both JSON paths", () => {
  const err = catchConfigError(() =>
    parseClusterConfig({
      components: [...MINIMAL.components, { id: "m0", role: "memory" }],
    }, "c.json")
  );
  assert.equal(err.path, "$.components[4].id");
  assert.equal(
    err.message,
    'c.json: $.components[4].id: duplicate component id "m0" (also at $.components[1].id)',
  );
});

Deno.test("the cluster needs exactly one manager and every kind of pool", () => {
  const none = catchConfigError(() =>
    parseClusterConfig({ components: [{ id: "p0", role: "processor" }] })
  );
  assert.deepEqual(none.problems.map((p) => p.message), [
    'expected exactly one component with role "manager", found none',
    'expected at least one component with role "memory", found none',
    'expected at least one component with role "storage", found none',
  ]);
  const two = catchConfigError(() =>
    parseClusterConfig({
      components: [...MINIMAL.components, { id: "gm2", role: "manager" }],
    })
  );
  assert.equal(two.path, "$.components[4].role");
  assert.match(two.message, /found 2 \(\$\.components\[3\], \$\.components\[4\]\)/);
});

Deno.test("an unknown top-level key is an error at its own path", () => {
  const err = catchConfigError(() => parseClusterConfig({ ...MINIMAL, trasnport: {} }, "c.json"));
  assert.equal(err.path, "$.trasnport");
  assert.equal(err.message, 'c.json: $.trasnport: unknown key "trasnport"');
  const nested = catchConfigError(() =>
    parseClusterConfig({ ...MINIMAL, transport: { plugin: "tcp", opts: {} } })
  );
  assert.equal(nested.path, "$.transport.opts");
});

Deno.test("resolvePlugins() resolves kinds and parses options with plugin schemas", () => {
  const resolved = resolvePlugins(parseClusterConfig(MINIMAL), registry());
  assert.deepEqual(resolved.transport, { kind: "transport", plugin: "memory", options: {} });
  assert.equal(resolved.latencyModel.kind, "latency-model");
  assert.equal(
    (resolved.latencyModel.options as { rpcPoints: { ns: number }[] }).rpcPoints[0].ns,
    4630,
  );
  assert.deepEqual(resolved.components[0], {
    id: "p0",
    role: "processor",
    kind: "processor-monitor",
    plugin: "processor",
    options: { ways: 64 },
  });
  assert.equal(resolved.components[3].kind, "manager-monitor");
});

Deno.test("an unknown plugin is reported at its path with the available names", () => {
  const config = parseClusterConfig({
    ...MINIMAL,
    transport: { plugin: "rdma" },
    components: [
      ...MINIMAL.components.slice(0, 2),
      { id: "s0", role: "storage", plugin: "nfs" },
      MINIMAL.components[3],
    ],
  });
  const err = catchConfigError(() => resolvePlugins(config, registry(), "c.json"));
  assert.equal(err.path, "$.transport.plugin");
  assert.deepEqual(err.message.split("\n"), [
    'c.json: $.transport.plugin: no transport plugin named "rdma"; available: memory, tcp',
    'c.json: $.components[2].plugin: no storage-monitor plugin named "nfs"; available: storage',
  ]);
});

Deno.test("bad plugin options are reported at the path of the bad field", () => {
  const config = parseClusterConfig({
    ...MINIMAL,
    latencyModel: { plugin: "legoos-ib", options: { pmemFlushNs: -1 } },
    components: [
      { id: "p0", role: "processor", options: { ways: "8" } },
      ...MINIMAL.components
        .slice(1),
    ],
  });
  const err = catchConfigError(() => resolvePlugins(config, registry(), "c.json"));
  assert.equal(err.path, "$.latencyModel.options.pmemFlushNs");
  const lines = err.message.split("\n");
  assert.match(lines[0], /^c\.json: \$\.latencyModel\.options\.pmemFlushNs: /);
  assert.equal(lines[1], "c.json: $.components[0].options.ways: expected number, received string");
});

Deno.test("readClusterConfigFile() reports a missing file by name", async () => {
  await assert.rejects(readClusterConfigFile("/no/such/dir/cluster.json"), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.file, "/no/such/dir/cluster.json");
    assert.equal(err.message, "/no/such/dir/cluster.json: $: file not found");
    return true;
  });
});

Deno.test("readClusterConfigFile() reports invalid JSON with line and column", async () => {
  await withTempFile('{\n  "components": [\n    { "id": "p0", }\n  ]\n}\n', async (path) => {
    await assert.rejects(readClusterConfigFile(path), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.file, path);
      assert.match(err.message, new RegExp(`^${path}: \\$: invalid JSON at line 3, column 19: `));
      return true;
    });
  });
});

Deno.test("readClusterConfigFile() and loadClusterConfig() parse a good file", async () => {
  await withTempFile(JSON.stringify(MINIMAL), async (path) => {
    assert.equal((await readClusterConfigFile(path)).components.length, 4);
    const resolved = await loadClusterConfig(path, registry());
    assert.equal(resolved.components[1].kind, "memory-monitor");
  });
  await withTempFile(JSON.stringify({ components: [] }), async (path) => {
    await assert.rejects(loadClusterConfig(path, registry()), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(
        err.message,
        `${path}: $.components: Too small: expected array to have >=1 items`,
      );
      return true;
    });
  });
});

Deno.test("the committed JSON schema and options reference equal the generated ones", async () => {
  const stale = "is stale: run `npx -y deno@2.9.6 task schema`";
  assert.equal(
    await Deno.readTextFile(CONFIG_SCHEMA_URL),
    configSchemaText(),
    `kernel/cluster_config.schema.json ${stale}`,
  );
  assert.equal(
    await Deno.readTextFile(CONFIG_DOC_URL),
    configReferenceMarkdown(),
    `docs/configuration.md ${stale}`,
  );
  const schema = clusterConfigJsonSchema() as { additionalProperties: boolean };
  assert.equal(schema.additionalProperties, false);
});

Deno.test("the JSON schema types each role's options and each stock plugin's", () => {
  type Rule = { if: { properties: Record<string, { const: string }> }; then: Json };
  type Json = { properties?: Record<string, Json>; allOf?: Rule[]; examples?: string[] };
  const schema = stockConfigJsonSchema() as Json;
  const component = (schema.properties!.components as unknown as { items: Json }).items;
  const optionsOf = (role: string) =>
    component.allOf!.find((r) => r.if.properties.role.const === role)!.then.properties!.options;
  assert.ok(optionsOf("processor").properties!.cacheBytes);
  const replacements = optionsOf("processor").properties!.replacement.examples!;
  for (const name of ["fifo", "lru", "random"]) assert.ok(replacements.includes(name), name);
  const random = optionsOf("processor").allOf!.find((r) =>
    r.if.properties?.replacement?.const === "random"
  );
  assert.ok(random!.then.properties!.replacementOptions.properties!.seed);
  assert.ok(optionsOf("memory").properties!.dramBytes);
  assert.ok(optionsOf("storage").properties!.root);
  assert.ok(optionsOf("manager").properties!.vregionPlacement.examples!.includes("round-robin"));
  const transports = schema.properties!.transport.properties!.plugin.examples!;
  for (const name of ["memory", "tcp"]) assert.ok(transports.includes(name), name);
});
