import assert from "node:assert/strict";
import {
  ConfigError,
  createStockRegistry,
  loadClusterConfig,
  loadPluginModule,
  PluginError,
  runCli,
  startCluster,
} from "../../mod.ts";

const root = new URL("../../", import.meta.url);
const path = (relative: string) => decodeURIComponent(new URL(relative, root).pathname);
const fixture = (name: string) => path(`tests/fixtures/plugins/${name}`);

async function loadError(specifier: string): Promise<PluginError> {
  try {
    await loadPluginModule(specifier, createStockRegistry());
  } catch (err) {
    assert.ok(err instanceof PluginError, `expected a PluginError, got ${err}`);
    assert.equal(err.code, "BAD_PLUGIN_MODULE");
    assert.ok(err.message.startsWith(`${specifier}: `), err.message);
    return err;
  }
  assert.fail(`${specifier} loaded`);
}

Deno.test("a module's default export (one plugin or an array) is registered", async () => {
  const registry = createStockRegistry();
  const one = await loadPluginModule(fixture("pack_fullest.ts"), registry);
  assert.deepEqual(one.map((p) => `${p.kind}/${p.name}`), ["vregion-placement/pack-fullest"]);
  const two = await loadPluginModule(fixture("two_plugins.ts"), registry);
  assert.deepEqual(two.map((p) => p.name), ["first-processor", "first-storage"]);
  assert.ok(registry.has("file-placement", "first-storage"));
  // The same module named twice (config and --plugin) is not a clash.
  await loadPluginModule(`file://${fixture("pack_fullest.ts")}`, registry);
  assert.equal(registry.names("vregion-placement").filter((n) => n === "pack-fullest").length, 1);
});

Deno.test("a module that is not a plugin gets an error naming it and the problem", async () => {
  assert.match(
    (await loadError(fixture("no_default.ts"))).message,
    /has no default export; write `export default definePlugin\(\{\.\.\.\}\)`.*it exports policy/,
  );
  assert.match(
    (await loadError(fixture("bad_plugin.ts"))).message,
    /default export\[1\] is not a plugin: create must be a function$/,
  );
  assert.match(
    (await loadError(fixture("does_not_exist.ts"))).message,
    /does_not_exist\.ts: cannot import it: Module not found/,
  );
  const dir = await Deno.makeTempDir({ prefix: "legoemu-plugin-test-" });
  try {
    await Deno.writeTextFile(`${dir}/broken.ts`, "export default {\n");
    const broken = await loadError(`${dir}/broken.ts`);
    assert.match(broken.message, /broken\.ts: cannot import it: /);
    assert.equal(broken.message.split("\n").length, 1, broken.message);
    await Deno.writeTextFile(`${dir}/number.ts`, "export default 42;\n");
    assert.match(
      (await loadError(`${dir}/number.ts`)).message,
      /number\.ts: default export is not a plugin: a plugin must be an object, got number/,
    );
    await Deno.writeTextFile(`${dir}/empty.ts`, "export default [];\n");
    assert.match((await loadError(`${dir}/empty.ts`)).message, /empty array/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a config's plugins load relative to the config file and run the cluster", async () => {
  const registry = createStockRegistry();
  const config = await loadClusterConfig(fixture("pack_fullest.cluster.json"), registry);
  const manager = config.components.find((c) => c.role === "manager")!;
  assert.equal(
    (manager.options as { vregionPlacement: { plugin: string } }).vregionPlacement.plugin,
    "pack-fullest",
  );
  const cluster = await startCluster(fixture("pack_fullest.cluster.json"), {
    log: () => {},
  });
  try {
    const result = await cluster.run(path("examples/workloads/demo.ts"), ["1"]);
    assert.equal(result.exitCode, 0, result.error);
  } finally {
    await cluster.stop();
  }
});

Deno.test("a config's bad plugin module is a ConfigError at $.plugins[i]", async () => {
  const dir = await Deno.makeTempDir({ prefix: "legoemu-plugin-test-" });
  try {
    const file = `${dir}/c.json`;
    await Deno.writeTextFile(
      file,
      JSON.stringify({
        plugins: ["./nothing.ts"],
        components: [
          { id: "gm", role: "manager" },
          { id: "p0", role: "processor" },
          { id: "m0", role: "memory" },
          { id: "s0", role: "storage" },
        ],
      }),
    );
    await assert.rejects(loadClusterConfig(file, createStockRegistry()), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.path, "$.plugins[0]");
      assert.match(err.message, /c\.json: \$\.plugins\[0\]: \.\/nothing\.ts: cannot import it/);
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, {
    registry: createStockRegistry(),
    demo: { config: path("examples/clusters/1p1m1s.memory.json"), workload: "" },
    entry: path("mod.ts"),
    out: (line) => out.push(line),
    err: (line) => err.push(line),
  });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

Deno.test("--plugin (repeatable) registers a module's plugins for the command", async () => {
  const listed = await cli(
    "plugins",
    "--plugin",
    fixture("pack_fullest.ts"),
    "--plugin",
    fixture("two_plugins.ts"),
  );
  assert.equal(listed.code, 0, listed.err);
  assert.match(listed.out, /vregion-placement\s+pack-fullest\s+fill the fullest/);
  assert.match(listed.out, /file-placement\s+first-storage/);

  const bad = await cli("plugins", "--plugin", fixture("no_default.ts"));
  assert.equal(bad.code, 2);
  assert.match(bad.err, /^legoemu: .*no_default\.ts: has no default export/);
  assert.equal(bad.err.split("\n").length, 1);
});

Deno.test("cluster --plugin runs a config that names the user's plugin", async () => {
  const dir = await Deno.makeTempDir({ prefix: "legoemu-plugin-test-" });
  try {
    const file = `${dir}/my.json`;
    await Deno.writeTextFile(
      file,
      JSON.stringify({
        components: [
          { id: "gm", role: "manager", options: { vregionPlacement: "pack-fullest" } },
          { id: "p0", role: "processor", options: { cacheBytes: 1 << 20 } },
          { id: "m0", role: "memory" },
          { id: "s0", role: "storage" },
        ],
      }),
    );
    const without = await cli("cluster", file, "--run", path("examples/workloads/demo.ts"));
    assert.equal(without.code, 2);
    assert.match(without.err, /no vregion-placement plugin named "pack-fullest"/);
    const run = await cli(
      "cluster",
      file,
      "--plugin",
      fixture("pack_fullest.ts"),
      "--run",
      path("examples/workloads/demo.ts"),
      "--",
      "1",
    );
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /exit code\s+0/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
