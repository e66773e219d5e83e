import assert from "node:assert/strict";
import { type Cluster, startCluster } from "../../../mod.ts";

const workload = new URL("../../workloads/persistent_write.ts", import.meta.url).href;

async function boot(dir: string, ddio: boolean, pmem = true): Promise<Cluster> {
  return await startCluster({
    latencyModel: { plugin: "legoos-ib", options: { ddio } },
    components: [
      { id: "gm", role: "manager" },
      { id: "p0", role: "processor", options: { cacheBytes: 1 << 20 } },
      {
        id: "m0",
        role: "memory",
        options: pmem ? { pmem: { path: `${dir}/m0.pmem`, bytes: 4 << 20 } } : {},
      },
      { id: "s0", role: "storage" },
    ],
  }, { log: (_, line) => lines.push(line) });
}

const lines: string[] = [];

/** The model time the workload logged for its measured write. */
function charged(): number {
  const line = lines.findLast((l) => l.includes("charged "))!;
  return Number(line.split("charged ")[1]);
}

function close(actual: number, expected: number, what: string): void {
  assert.ok(
    Math.abs(actual - expected) < 1e-6,
    `${what}: charged ${actual} ns, expected ${expected}`,
  );
}

Deno.test("proc.persistentWrite: each path lands its bytes and is charged the model time computed by hand", async () => {
  const dir = await Deno.makeTempDir({ prefix: "legoemu-pwrite-" });
  const cluster = await boot(dir, false);
  try {
    // legoos-ib's constants (FACTS.md, as in pmem_component_test.ts): RPC flat 4630 ns below
    // 128 B; WRITE 4 B 1170, 1 KB 2780 ns; READ 4 B 2250, 1 KB 3480 ns (linear between);
    // PMEM ntstore+fence 90 ns, clwb+fence 62 ns, 12.5 GB/s; connectionless RPC 2300 ns;
    // link 40 Gbit/s.
    const n = 64;
    const write64 = 1170 + (2780 - 1170) * (n - 4) / (1024 - 4);
    const read8 = 2250 + (3480 - 2250) * (8 - 4) / (1024 - 4);
    const expected: Record<string, number> = {
      "rpc": 4630 + 90 + n / 12.5,
      "write+read": write64 + read8,
      "write+commit": write64 + 4630 + 62 + n / 12.5,
      "connectionless": 2300 + n * 8 / 40 + 90 + n / 12.5,
    };
    const records = () =>
      (cluster.stats().m0 as { pmem: { stats: { records: number } } }).pmem.stats.records;
    const logged: Record<string, number> = {};
    for (const [path, ns] of Object.entries(expected)) {
      const before = records();
      const result = await cluster.run(workload, [path, String(n)]);
      assert.equal(result.exitCode, 0, `${path}: ${result.error ?? "the bytes did not read back"}`);
      close(charged(), ns, path);
      logged[path] = records() - before;
    }
    // Durable in the file: paths 1, 3 and 4 log each of the run's two writes; path 2's
    // bytes reach only the frame (durable in the model), the rest of the run logs the same.
    for (const path of ["rpc", "write+commit", "connectionless"]) {
      assert.equal(logged[path] - logged["write+read"], 2, `${path}: ${JSON.stringify(logged)}`);
    }
  } finally {
    await cluster.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("proc.persistentWrite refuses, with a clear error, what cannot be made durable", async () => {
  const dir = await Deno.makeTempDir({ prefix: "legoemu-pwrite-" });
  let cluster = await boot(dir, true);
  try {
    const ddioOn = await cluster.run(workload, ["write+read", "64"]);
    assert.equal(ddioOn.exitCode, 1);
    assert.match(ddioOn.error ?? "", /EINVAL.*path 2 \(WRITE \+ READ\).*DDIO on/);
    const badPath = await cluster.run(workload, ["write+flush", "64"]);
    assert.match(
      badPath.error ?? "",
      /EINVAL.*"rpc", "write\+read", "write\+commit", "connectionless", got "write\+flush"/,
    );
    const unmapped = await cluster.run(workload, ["rpc", "64", "unmapped"]);
    assert.match(unmapped.error ?? "", /EFAULT.*persistentWrite at 0x[0-9a-f]+: not mapped/);
    await cluster.stop();
    cluster = await boot(dir, false, false);
    const notPmem = await cluster.run(workload, ["rpc", "64"]);
    assert.match(
      notPmem.error ?? "",
      /EINVAL.*needs PMEM-backed memory.*m0, which is not in PMEM mode/,
    );
  } finally {
    await cluster.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
