/**
 * Control-plane benchmark: `GET /api/cluster` on a running in-memory cluster, against a
 * bare `Deno.serve` answering the same JSON, both loaded the same way in the same run
 * (8 concurrent fetch loops in this process, interleaved rounds, medians).
 *
 * @module
 */

import { startCluster } from "../mod.ts";
import { clusterControlSource } from "../monitors/manager/control/manager_source.ts";
import { serveControlPlane } from "../monitors/manager/control/server.ts";
import type { BenchCase } from "./harness.ts";

const CONCURRENCY = 8;
const DURATION_MS = 400;
const ROUNDS = 7;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

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

/** The control-plane benchmark cases. */
export const benchmarks: BenchCase[] = [{
  name: "control.status",
  async run(progress) {
    const cluster = await startCluster({
      components: [
        { id: "gm", role: "manager" },
        { id: "p0", role: "processor" },
        { id: "m0", role: "memory" },
        { id: "s0", role: "storage" },
      ],
    }, { log: () => {} });
    const source = clusterControlSource(cluster);
    const control = await serveControlPlane(source, { port: 0 });
    const body = await (await fetch(`${control.url}/api/cluster`)).text();
    const bare = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      () => new Response(body, { headers: { "content-type": "application/json" } }),
    );
    try {
      const bareUrl = `http://127.0.0.1:${bare.addr.port}/api/cluster`;
      const controlUrl = `${control.url}/api/cluster`;
      await load(bareUrl); // warm-up
      await load(controlUrl);
      // Interleaved rounds, medians: a shared 2-core machine drifts within a run.
      const controlRates: number[] = [];
      const bareRates: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        controlRates.push(await load(controlUrl));
        bareRates.push(await load(bareUrl));
        progress((round + 1) / ROUNDS);
      }
      const controlRps = median(controlRates);
      const bareRps = median(bareRates);
      const ratio = controlRps / bareRps;
      const how = `${CONCURRENCY} concurrent fetch loops in the same process, median of ` +
        `${ROUNDS} interleaved ${DURATION_MS} ms rounds`;
      return {
        "control.status.rps": {
          value: controlRps,
          unit: "req/s",
          baseline: bareRps,
          ratio,
          note: `GET /api/cluster on the Hono control plane of a 4-component in-memory cluster, ` +
            `${how}; baseline = bare Deno.serve returning the same JSON, same load`,
        },
        "control.status.ratio_vs_bare": {
          value: ratio,
          unit: "x",
          baseline: bareRps,
          goal: ">= 0.7x",
          note: "control.status.rps divided by the bare Deno.serve rate, same run",
        },
      };
    } finally {
      await bare.shutdown();
      await control.close();
      await cluster.stop();
    }
  },
}];
