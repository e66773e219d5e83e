/**
 * Control-plane benchmark: `GET /api/cluster` on a running in-memory cluster, against a
 * bare `Deno.serve` answering the same JSON, both loaded the same way in the same run
 * (8 concurrent fetch loops in this process, interleaved rounds, medians). Two
 * configurations, each with its own bare baseline: 4 idle components, and 64 components
 * (1 manager, 32 processors, 28 memory, 3 storage) while a workload runs on one processor
 * and every component heartbeats.
 *
 * @module
 */

import { type Cluster, type ClusterConfigInput, startCluster } from "../mod.ts";
import { clusterControlSource } from "../monitors/manager/control/manager_source.ts";
import { serveControlPlane } from "../monitors/manager/control/server.ts";
import { type BenchCase, interleavedMedians, type Metric } from "./harness.ts";

const CONCURRENCY = 8;
const DURATION_MS = 400;
const ROUNDS = 7;
/** A workload that keeps one thread busy on cache hits until it is killed. */
const WORKLOAD = new URL("../tests/workloads/hot_loop.ts", import.meta.url).href;

/** Requests per second that `CONCURRENCY` fetch loops get from `url` in `DURATION_MS`. */
async function load(url: string): Promise<number> {
  let done = 0;
  const end = performance.now() + DURATION_MS;
  const started = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (performance.now() < end) {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (!res.ok) throw new Error(`GET ${url} answered ${res.status}`);
      done++;
    }
  }));
  return (done / (performance.now() - started)) * 1000;
}

const SMALL: ClusterConfigInput = {
  components: [
    { id: "gm", role: "manager" },
    { id: "p0", role: "processor" },
    { id: "m0", role: "memory" },
    { id: "s0", role: "storage" },
  ],
};

const LARGE: ClusterConfigInput = {
  components: [
    { id: "gm", role: "manager" },
    ...Array.from({ length: 32 }, (_, i) => ({
      id: `p${i}`,
      role: "processor" as const,
      options: { cacheBytes: 1 << 20 },
    })),
    ...Array.from({ length: 28 }, (_, i) => ({
      id: `m${i}`,
      role: "memory" as const,
      options: { dramBytes: 16 << 20 },
    })),
    ...Array.from({ length: 3 }, (_, i) => ({ id: `s${i}`, role: "storage" as const })),
  ],
};

/**
 * The control plane's and a bare server's request rates on `config`'s cluster, in
 * interleaved rounds; with `busy`, a workload runs on `p0` all along (and must still be
 * running at the end, or the measurement is refused).
 */
async function compare(
  config: ClusterConfigInput,
  busy: boolean,
  progress: (fraction: number) => void,
): Promise<{ controlRps: number; bareRps: number; components: number }> {
  const cluster: Cluster = await startCluster(config, { log: () => {} });
  const source = clusterControlSource(cluster);
  const control = await serveControlPlane(source, { port: 0 });
  let pid: number | undefined;
  let bare: Deno.HttpServer<Deno.NetAddr> | undefined;
  try {
    if (busy) {
      ({ pid } = await source.actions.spawn({
        workload: WORKLOAD,
        args: ["600000"],
        threads: 1,
        processor: "p0",
      }));
    }
    const body = await (await fetch(`${control.url}/api/cluster`)).text();
    bare = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      () => new Response(body, { headers: { "content-type": "application/json" } }),
    );
    const bareUrl = `http://127.0.0.1:${bare.addr.port}/api/cluster`;
    const controlUrl = `${control.url}/api/cluster`;
    // Interleaved rounds, medians: a shared 2-core machine drifts within a run.
    const rates = await interleavedMedians(
      {
        control: () => load(controlUrl),
        bare: () => load(bareUrl),
      },
      ROUNDS,
      progress,
    );
    if (pid !== undefined) {
      const process = source.snapshot().processes.find((p) => p.pid === pid);
      if (process?.state !== "running") {
        throw new Error(`the workload (pid ${pid}) ended during the measurement`);
      }
    }
    return {
      controlRps: rates.control,
      bareRps: rates.bare,
      components: source.snapshot().components.length,
    };
  } finally {
    if (pid !== undefined) await source.actions.kill(pid).catch(() => {});
    await bare?.shutdown();
    await control.close();
    await cluster.stop();
  }
}

/** The control-plane benchmark cases. */
export const benchmarks: BenchCase[] = [{
  name: "control.status",
  async run(progress) {
    const how = `${CONCURRENCY} concurrent fetch loops in the same process, median of ` +
      `${ROUNDS} interleaved ${DURATION_MS} ms rounds`;
    const small = await compare(SMALL, false, (f) => progress(f / 2));
    const large = await compare(LARGE, true, (f) => progress(0.5 + f / 2));
    const metrics = (prefix: string, r: typeof small, what: string): Record<string, Metric> => ({
      [`${prefix}.rps`]: {
        value: r.controlRps,
        unit: "req/s",
        baseline: r.bareRps,
        ratio: r.controlRps / r.bareRps,
        note: `GET /api/cluster on the Hono control plane of ${what}, ${how}; baseline = ` +
          `bare Deno.serve returning the same JSON, same load`,
      },
      [`${prefix}.ratio_vs_bare`]: {
        value: r.controlRps / r.bareRps,
        unit: "x",
        baseline: r.bareRps,
        goal: ">= 0.7x",
        note: `${prefix}.rps divided by the bare Deno.serve rate, same run`,
      },
    });
    return {
      ...metrics("control.status", small, `a ${small.components}-component in-memory cluster`),
      ...metrics(
        "control.status.64",
        large,
        `a ${large.components}-component in-memory cluster (32 processors, 28 memory, ` +
          `3 storage) with a workload spinning on cache hits on p0 all along`,
      ),
    };
  },
}];
