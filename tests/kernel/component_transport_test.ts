import assert from "node:assert/strict";
import {
  ConfigError,
  managerTransport,
  parseClusterConfig,
  resolvePlugins,
} from "../../kernel/config.ts";
import { type ClusterConfigInput, startCluster } from "../../mod.ts";
import { createStockRegistry } from "../../plugins/stock.ts";

const demoWorkload = new URL("../../examples/workloads/demo.ts", import.meta.url).href;

type Transport = { plugin: string; options?: Record<string, unknown> };

/** A four-component cluster with `transport` cluster-wide and `own` per component id. */
function config(transport: Transport, own: Record<string, Transport> = {}): ClusterConfigInput {
  const component = (id: string, role: "manager" | "processor" | "memory" | "storage") =>
    own[id] ? { id, role, transport: own[id] } : { id, role };
  return {
    transport,
    components: [
      component("gm", "manager"),
      { ...component("p0", "processor"), options: { cacheBytes: 64 * 1024 } },
      { ...component("m0", "memory"), options: { dramBytes: 32 * 1024 * 1024 } },
      component("s0", "storage"),
    ],
  };
}

function resolve(input: ClusterConfigInput) {
  return resolvePlugins(parseClusterConfig(input), createStockRegistry());
}

function refusal(input: ClusterConfigInput): ConfigError {
  try {
    resolve(input);
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e;
  }
  assert.fail("the config was accepted");
}

Deno.test("a component's own transport overrides the cluster-wide one, options resolved", () => {
  const rdma = { plugin: "rdma", options: { device: "mlx5_0" } };
  const resolved = resolve(config(rdma, { p0: { plugin: "rdma", options: { device: "mlx5_1" } } }));
  assert.equal(resolved.transport.plugin, "rdma");
  const p0 = resolved.components.find((c) => c.id === "p0")!;
  assert.equal(p0.transport?.plugin, "rdma");
  const options = p0.transport?.options as Record<string, unknown>;
  assert.equal(options.device, "mlx5_1");
  assert.equal(options.mode, "connectionless", "the plugin's defaults are filled");
  assert.equal(resolved.components.find((c) => c.id === "m0")!.transport, undefined);
  assert.equal(managerTransport(resolved), resolved.transport);
});

Deno.test("a bad option in a component's transport is reported at its own path", () => {
  const error = refusal(
    config({ plugin: "memory" }, { m0: { plugin: "rdma", options: { mode: "reliable" } } }),
  );
  assert.equal(error.path, "$.components[2].transport.options.mode");
});

Deno.test("a component on another transport plugin than the manager is refused, naming both", () => {
  const error = refusal(config({ plugin: "memory" }, { p0: { plugin: "tcp" } }));
  assert.equal(error.path, "$.components[1].transport");
  assert.match(error.message, /component "p0" uses the "tcp" transport/);
  assert.match(error.message, /the manager "gm" uses "memory"/);
  assert.match(error.message, /cannot reach each other/);
  assert.equal(error.problems.length, 1, error.message);
});

Deno.test("overriding only the manager refuses every component left on the cluster-wide one", () => {
  const error = refusal(config({ plugin: "tcp" }, { gm: { plugin: "rdma" } }));
  assert.deepEqual(error.problems.map((p) => p.path), [
    "$.transport",
    "$.transport",
    "$.transport",
  ]);
  for (const id of ["p0", "m0", "s0"]) {
    assert.match(error.message, new RegExp(`component "${id}" uses the "tcp" transport`));
  }
});

Deno.test("RDMA components in different modes are refused: their endpoints refuse each other", () => {
  const error = refusal(
    config({ plugin: "rdma" }, { m0: { plugin: "rdma", options: { mode: "connected" } } }),
  );
  assert.equal(error.path, "$.components[2].transport");
  assert.match(error.message, /different mode \("connected" vs "connectionless"\)/);
});

Deno.test("a cluster boots every component on its own transport, not the cluster-wide one", async () => {
  // The cluster-wide transport is rdma, which this process cannot open (no device, and the
  // loopback provider is not loaded here): the cluster runs only because each component
  // boots on its own memory transport instead.
  const memory = { plugin: "memory", options: { receiveQueueFrames: 512 } };
  const own = { gm: memory, p0: memory, m0: memory, s0: memory };
  const cluster = await startCluster(config({ plugin: "rdma" }, own), { log: () => {} });
  try {
    assert.deepEqual(cluster.transports.map((t) => t.name), ["memory"]);
    assert.equal(cluster.transport, cluster.transports[0]);
    const result = await cluster.run(demoWorkload, ["1"]);
    assert.equal(result.exitCode, 0, result.error);
    assert.equal((cluster.stats().m0 as Record<string, number>).fetches, result.stats.pagesFetched);
    assert.ok(result.stats.pagesFetched > 0);
  } finally {
    await cluster.stop();
  }
});
