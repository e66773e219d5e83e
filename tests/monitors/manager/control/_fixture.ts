/** A running in-memory cluster with its control plane, for the control-plane tests. */

import {
  type Cluster,
  clusterControlSource,
  createControlApp,
  startCluster,
} from "../../../../mod.ts";
import type { ControlSource } from "../../../../monitors/manager/control/source.ts";

export const TOKEN = "test-token-0123456789abcdef";

export interface ControlFixture {
  cluster: Cluster;
  source: ControlSource;
  app: ReturnType<typeof createControlApp>;
  /** Requests the app in-process; `token: true` adds the right bearer token. */
  request(path: string, init?: RequestInit & { token?: boolean | string }): Promise<Response>;
  close(): Promise<void>;
}

export async function startControlFixture(heartbeatMs = 1000): Promise<ControlFixture> {
  const cluster = await startCluster({
    name: "control-test",
    components: [
      { id: "gm", role: "manager", options: { heartbeatMs } },
      { id: "p0", role: "processor", options: { cacheBytes: 65536 } },
      { id: "m0", role: "memory" },
      { id: "s0", role: "storage" },
    ],
  }, { log: () => {} });
  const source = clusterControlSource(cluster);
  const app = createControlApp(source, { token: TOKEN, tickMs: 100 });
  return {
    cluster,
    source,
    app,
    request(path, init = {}) {
      const headers = new Headers(init.headers);
      if (init.token) {
        headers.set("authorization", `Bearer ${init.token === true ? TOKEN : init.token}`);
      }
      if (init.body !== undefined) headers.set("content-type", "application/json");
      return Promise.resolve(app.request(path, { ...init, headers }));
    },
    close: () => cluster.stop(),
  };
}

export const workloadUrl = (name: string): string =>
  new URL(`../../../workloads/${name}`, import.meta.url).href;

/** Waits until `check` is true, polling; fails after `limit` tries. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  what: string,
  limit = 200,
): Promise<void> {
  for (let i = 0; i < limit; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}
