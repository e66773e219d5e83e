/**
 * Child of the device-workload test: runs `/dev/zero` as a workload on a small cluster,
 * then a real workload, and prints both results as one JSON line.
 */
import { startCluster } from "../../../mod.ts";

const cluster = await startCluster({
  name: "device",
  components: [
    { id: "gm", role: "manager" },
    { id: "p0", role: "processor", options: { cacheBytes: 65536 } },
    { id: "m0", role: "memory" },
    { id: "s0", role: "storage" },
  ],
}, { log: () => {} });
try {
  const device = await cluster.run("/dev/zero");
  const after = await cluster.run(
    new URL("../../workloads/pattern.ts", import.meta.url).href,
    ["4"],
  );
  console.log(JSON.stringify({
    device: { exitCode: device.exitCode, error: device.error },
    after: { exitCode: after.exitCode, error: after.error },
  }));
} finally {
  await cluster.stop();
}
