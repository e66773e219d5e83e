import assert from "node:assert/strict";
import { type Cluster, startCluster } from "../../../mod.ts";

const workload = (name: string) => new URL(`../../workloads/${name}`, import.meta.url).href;

async function withCluster<T>(
  cacheBytes: number,
  body: (cluster: Cluster, log: string[]) => Promise<T>,
): Promise<T> {
  const log: string[] = [];
  const cluster = await startCluster({
    components: [
      { id: "gm", role: "manager" },
      { id: "p0", role: "processor", options: { cacheBytes } },
      { id: "m0", role: "memory" },
      { id: "s0", role: "storage" },
    ],
  }, { log: (id, message) => log.push(`${id} ${message}`) });
  try {
    return await body(cluster, log);
  } finally {
    await cluster.stop();
  }
}

Deno.test("a segfault and a throw end their own processes while another process on the same processor runs on unharmed", async () => {
  await withCluster(8 * 4096, async (cluster) => {
    const good = cluster.run(workload("random_access.ts"), ["3", "3000", "24", "2"]);
    const segfault = await cluster.run(workload("segfault.ts"));
    const thrown = await cluster.run(workload("throws.ts"));
    const survivor = await good;
    assert.equal(segfault.exitCode, 1);
    assert.match(segfault.error ?? "", /thread 0: KernelError \(EFAULT\): .*segmentation fault/);
    assert.equal(thrown.exitCode, 1);
    assert.match(thrown.error ?? "", /thread 0: Error: workload bug on purpose/);
    assert.equal(survivor.exitCode, 0, survivor.error ?? "mismatches");
    assert.equal(survivor.processor, segfault.processor);
    const p0 = cluster.stats().p0 as Record<string, number>;
    assert.equal(p0.running, 0);
    assert.equal(p0.threads, 0);
    assert.equal(p0.cacheLinesUsed, 0, "every line of every process is dropped at exit");
    const m0 = cluster.stats().m0 as Record<string, number>;
    assert.equal(m0.processes, 0, "every process's memory is freed");
    assert.equal(m0.framesUsed, 0);
  });
});

Deno.test("bad arguments to the process API fail with errno codes and the process goes on", async () => {
  await withCluster(1 << 20, async (cluster, log) => {
    const result = await cluster.run(workload("bad_input.ts"));
    assert.equal(result.exitCode, 0, log.filter((l) => l.includes("wrong")).join("\n"));
  });
});

Deno.test("address-space and file calls behave, with data travelling through a 4-line cache", async () => {
  await withCluster(4 * 4096, async (cluster, log) => {
    const result = await cluster.run(workload("syscalls.ts"));
    assert.equal(
      result.exitCode,
      0,
      result.error ?? log.filter((l) => l.includes("failed")).join("\n"),
    );
    assert.ok(result.stats.dirtyFlushes > 0 && result.stats.pagesFetched > 0);
  });
});

Deno.test("kill() ends a running process; stop() ends the rest; query() describes them", async () => {
  const cluster = await startCluster({
    components: [
      { id: "gm", role: "manager" },
      { id: "p0", role: "processor" },
      { id: "m0", role: "memory" },
      { id: "s0", role: "storage" },
    ],
  }, { log: () => {} });
  const p0 = cluster.monitors.get("p0")!;
  const lines = () =>
    (p0.query!("excache", {}) as { linesByPid: Record<string, number> }).linesByPid;
  /** Starts a process that spins on cache hits; resolves with its pid once it spins. */
  const spinning = async (): Promise<[number, Promise<{ exitCode: number; error?: string }>]> => {
    const before = new Set(Object.keys(lines()));
    const run = cluster.run(workload("threads.ts"), ["spin"]);
    for (let i = 0; i < 400; i++) {
      const pid = Object.entries(lines()).find(([p, n]) => !before.has(p) && n > 0)?.[0];
      if (pid) return [Number(pid), run];
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error("the process never started spinning");
  };
  try {
    const [pid, looping] = await spinning();
    const [running] = p0.query!("processes", {}) as { pid: number; threads: unknown[] }[];
    assert.equal(running.pid, pid);
    assert.equal(running.threads.length, 1);
    assert.throws(() => p0.query!("weather", {}), /answers: processes, excache/);
    await p0.kill!(pid);
    const killed = await looping;
    assert.equal(killed.exitCode, 1);
    assert.match(killed.error ?? "", /killed/);
    await assert.rejects(p0.kill!(pid), /no process/);

    const [, other] = await spinning();
    await cluster.stop();
    const stopped = await other;
    assert.equal(stopped.exitCode, 1);
    assert.match(stopped.error ?? "", /processor p0 stopped/);
  } finally {
    await cluster.stop();
  }
});
