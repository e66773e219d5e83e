/**
 * Querying and steering a running cluster over HTTP, with `curl` and with the typed
 * client (`client.ts`). It boots a small cluster in this process with the manager's
 * control plane on a free loopback port and a token file, then, as an outside script
 * would: reads the cluster with `curl`, starts a process with `curl` (a mutation, so with
 * the bearer token), and does the same through `createControlClient`.
 *
 * ```sh
 * npx -y deno@2.9.6 run -A examples/http/steer.ts
 * ```
 *
 * Against a cluster of your own, the same requests are
 * `curl -s http://127.0.0.1:7080/api/cluster` and
 * `curl -s -X POST http://127.0.0.1:7080/api/processes -H "authorization: Bearer $(cat token)"
 *  -H 'content-type: application/json' -d '{"workload":"file:///abs/demo.ts","args":["1"]}'`.
 *
 * @module
 */

import { createControlClient } from "../../client.ts";
import { startCluster, type StockManager } from "../../mod.ts";

const here = (path: string) => new URL(path, import.meta.url).href;
const dir = await Deno.makeTempDir({ prefix: "legoemu-http-" });
const tokenFile = `${dir}/token`;
const token = crypto.randomUUID() + crypto.randomUUID();
await Deno.writeTextFile(tokenFile, token + "\n", { mode: 0o600 });

const cluster = await startCluster({
  name: "http-example",
  components: [
    { id: "gm", role: "manager", options: { control: { port: 0, tokenFile } } },
    { id: "p0", role: "processor", options: { cacheBytes: 1 << 20 } },
    { id: "m0", role: "memory" },
    { id: "s0", role: "storage" },
  ],
}, { log: () => {} });

/** Runs curl with `args`; returns what it printed. */
async function curl(...args: string[]): Promise<string> {
  const output = await new Deno.Command("curl", { args: ["-sS", "--fail-with-body", ...args] })
    .output();
  const text = new TextDecoder().decode(output.stdout);
  if (!output.success) throw new Error(`curl ${args.join(" ")}: ${text}`);
  return text;
}

try {
  const url = (cluster.manager as StockManager).controlUrl!;
  console.log(`control plane at ${url}`);

  // curl: read, then steer (a mutation needs the bearer token).
  console.log(`$ curl -s ${url}/api/cluster`);
  console.log(await curl(`${url}/api/cluster`));
  const spawned = JSON.parse(
    await curl(
      "-X",
      "POST",
      `${url}/api/processes`,
      "-H",
      `authorization: Bearer ${token}`,
      "-H",
      "content-type: application/json",
      "-d",
      JSON.stringify({ workload: here("../workloads/demo.ts"), args: ["1"] }),
    ),
  );
  console.log(`curl started process ${spawned.pid} on ${spawned.processor}`);

  // The typed client: the same routes, typed from the schemas that validate them.
  const client = createControlClient(url, { token });
  const summary = await client.cluster();
  console.log(`client: cluster ${summary.name}: ${JSON.stringify(summary.components)}`);
  const second = await client.spawn(here("../workloads/demo.ts"), ["1"]);
  console.log(`client started process ${second.pid} on ${second.processor}`);
  for (let i = 0; i < 600; i++) {
    const processes = await client.processes();
    if (processes.every((p) => p.state !== "running")) {
      for (const p of processes) console.log(`process ${p.pid}: ${p.state}, exit ${p.exitCode}`);
      if (processes.some((p) => p.exitCode !== 0)) throw new Error("a process failed");
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
} finally {
  await cluster.stop();
  await Deno.remove(dir, { recursive: true });
}
