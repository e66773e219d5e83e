/**
 * `deno task study pmem`: the persistent-write access paths compared — latency per path
 * and write size (16 B … 4 KiB), throughput per path as closed-loop clients grow (1 …
 * 64), with DDIO on and off. Every row has the model's time (from the latency model's
 * sourced constants, `monitors/memory/pmem_paths.ts`) and the wall time this machine took
 * to really run the path on the transport against a PMEM memory component whose writes
 * are durable in a host file (`fdatasync`). The durable write on this host is measured
 * on its own too, to set beside the model's PMEM figures.
 *
 * @module
 */

import { bootCluster, type Cluster } from "../kernel/cluster.ts";
import type { ResolvedClusterConfig } from "../kernel/config.ts";
import type { LatencyModel } from "../kernel/latency.ts";
import { PAGE_SIZE } from "../kernel/messages.ts";
import { RpcNode } from "../kernel/rpc.ts";
import type { TransportEndpoint } from "../kernel/transport.ts";
import {
  PATH_NAMES,
  PERSIST_PATHS,
  persistCost,
  type PersistPath,
  persistThroughput,
  PmemClient,
} from "../monitors/memory/pmem_paths.ts";
import { RecordKind } from "../monitors/memory/pmem_log.ts";
import { PmemPool } from "../monitors/memory/pmem_pool.ts";
import { createStockRegistry } from "../plugins/stock.ts";
import { chartSvg, COLORS, type Series } from "./study_svg.ts";

/** Options of the PMEM study. */
export interface PmemStudyOptions {
  /** A short sweep (CI). */
  quick: boolean;
  /** Directory for pmem.json and pmem.svg. */
  out: string;
  /** Transport the paths run on. */
  transport: "memory" | "tcp" | "rdma";
  /** Progress lines. */
  progress: (line: string) => void;
}

/** One latency row. */
export interface LatencyRow {
  /** DDIO on. */
  ddio: boolean;
  /** Access path. */
  path: PersistPath;
  /** Its name. */
  name: string;
  /** Write size [bytes]. */
  bytes: number;
  /** Whether the path makes the write durable under this DDIO setting. */
  valid: boolean;
  /** Model latency [µs]. */
  modelUs: number;
  /** Median wall time on this machine [µs] (null when not run: the path is invalid). */
  wallUs: number | null;
}

/** One throughput row. */
export interface ThroughputRow {
  /** Access path. */
  path: PersistPath;
  /** Its name. */
  name: string;
  /** Write size [bytes]. */
  bytes: number;
  /** Closed-loop clients. */
  clients: number;
  /** Model throughput [writes/s]. */
  modelPerSecond: number;
  /** What limits it in the model. */
  limit: string;
  /** Writes per second this machine sustained. */
  wallPerSecond: number;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function model(ddio: boolean): Promise<LatencyModel> {
  return await createStockRegistry().create<LatencyModel>(
    "latency-model",
    "legoos-ib",
    { ddio },
    {},
  );
}

/** Durable appends straight to a PMEM file on this host: `bytes` per write. */
async function hostDurable(
  dir: string,
  bytes: number,
  reps: number,
): Promise<{ medianUs: number; meanUs: number }> {
  const path = `${dir}/host-${bytes}.pmem`;
  const { pool } = await PmemPool.open(path, 64 << 20);
  const times: number[] = [];
  const payload = new Uint8Array(bytes).fill(7);
  try {
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      await pool.append([{
        kind: RecordKind.WRITE,
        flags: 0,
        pid: 1,
        addr: (i % 64) * PAGE_SIZE,
        payload,
      }]);
      times.push((performance.now() - t0) * 1000);
    }
  } finally {
    pool.close();
    await Deno.remove(path);
  }
  return { medianUs: median(times), meanUs: times.reduce((a, b) => a + b, 0) / times.length };
}

/**
 * Measures one durable 4 KiB write on this host (append + `fdatasync`), in µs (median).
 *
 * @example
 * ```ts ignore
 * const us = await measureHostDurableUs(50);
 * ```
 */
export async function measureHostDurableUs(reps: number, bytes = 4096): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: "legoemu-durable-" });
  try {
    return (await hostDurable(dir, bytes, reps)).medianUs;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function bootPmemCluster(
  dir: string,
  transport: "memory" | "tcp" | "rdma",
): Promise<Cluster> {
  const registry = createStockRegistry();
  const parse = (kind: string, plugin: string, options: Record<string, unknown>) =>
    registry.parseOptions(kind as never, plugin, options);
  const transportOptions: Record<string, unknown> = {};
  if (transport !== "memory") {
    const secretFile = `${dir}/cluster.secret`;
    await Deno.writeTextFile(secretFile, "0123456789abcdef0123456789abcdef\n", { mode: 0o600 });
    Object.assign(
      transportOptions,
      transport === "tcp" ? { secretFile, pingIntervalMs: 0 } : { secretFile, mode: "connected" },
    );
  }
  const config: ResolvedClusterConfig = {
    name: "study-pmem",
    transport: {
      kind: "transport",
      plugin: transport,
      options: parse("transport", transport, transportOptions),
    },
    latencyModel: {
      kind: "latency-model",
      plugin: "legoos-ib",
      options: parse("latency-model", "legoos-ib", {}),
    },
    components: [
      {
        id: "gm",
        role: "manager",
        kind: "manager-monitor",
        plugin: "manager",
        options: parse("manager-monitor", "manager", {}),
      },
      {
        id: "m0",
        role: "memory",
        kind: "memory-monitor",
        plugin: "memory",
        options: parse("memory-monitor", "memory", {
          pmem: { path: `${dir}/m0.pmem`, bytes: 64 << 20, windowBytes: 4 << 20 },
        }),
      },
    ],
  };
  return await bootCluster(config, registry, { log: () => {} });
}

const PID = 1;
const BASE = 0x20000000;
const REGION_PAGES = 1024;

/** Runs the study; returns what it wrote. */
export async function runPmemStudy(options: PmemStudyOptions): Promise<{
  latency: LatencyRow[];
  throughput: ThroughputRow[];
  host: Record<string, number>;
  table: string;
}> {
  const { quick, progress } = options;
  const sizes = quick ? [16, 256, 4096] : [16, 64, 256, 1024, 4096];
  const clientCounts = quick ? [1, 8, 64] : [1, 2, 4, 8, 16, 32, 64];
  const reps = quick ? 15 : 80;
  const dir = await Deno.makeTempDir({ prefix: "legoemu-study-pmem-" });
  const models = { off: await model(false), on: await model(true) };
  const described = models.off.describe();
  const host: Record<string, number> = {};
  try {
    progress(`measuring durable writes on this host (append + fdatasync, ${reps * 2} writes)`);
    const h4k = await hostDurable(dir, 4096, reps * 2);
    const h16 = await hostDurable(dir, 16, reps * 2);
    Object.assign(host, {
      durable4KiBMedianUs: h4k.medianUs,
      durable4KiBMeanUs: h4k.meanUs,
      durable16BMedianUs: h16.medianUs,
      modelPmemWrite4KiBUs: models.off.deviceNs("pmem", "write", 4096) / 1000,
      modelPmemWrite16BUs: models.off.deviceNs("pmem", "write", 16) / 1000,
      modelPmemFlush4KiBUs: models.off.deviceNs("pmem", "flush", 4096) / 1000,
    });

    const cluster = await bootPmemCluster(dir, options.transport);
    const clients: { rpc: RpcNode; endpoint: TransportEndpoint; client: PmemClient }[] = [];
    try {
      const maxClients = Math.max(...clientCounts);
      for (let i = 0; i < maxClients; i++) {
        const endpoint = await cluster.transport.attach(
          `p${i}`,
          options.transport === "memory" ? {} : { listen: null, manager: "gm" },
        );
        const rpc = new RpcNode(endpoint);
        if (i === 0) {
          await rpc.call("m0", "M2M_VMA_SET", {
            pid: PID,
            home: "gm",
            start: BASE,
            end: BASE + REGION_PAGES * PAGE_SIZE,
            discard: true,
            vmas: [{
              start: BASE,
              end: BASE + REGION_PAGES * PAGE_SIZE,
              prot: 3,
              shared: false,
              path: "",
              offset: 0,
            }],
          });
        }
        const client = await PmemClient.connect({ rpc, endpoint, target: "m0", model: models.off });
        clients.push({ rpc, endpoint, client });
      }
      // Client i writes its own page and its own 16 KiB of the window.
      const writeOnce = (i: number, path: PersistPath, data: Uint8Array, n: number) =>
        clients[i].client.write(path, {
          pid: PID,
          vaddr: BASE + ((i * 8 + (n % 8)) % REGION_PAGES) * PAGE_SIZE,
          data,
          windowOffset: (i * 4) * PAGE_SIZE,
        });

      // Latency: one client, one write at a time. DDIO is a model switch: the code run on
      // the transport is the same, so each path and size is timed once.
      const wall = new Map<string, number>();
      let step = 0;
      const steps = PERSIST_PATHS.length * sizes.length;
      for (const path of PERSIST_PATHS) {
        for (const bytes of sizes) {
          const data = new Uint8Array(bytes).fill(path);
          const times: number[] = [];
          for (let n = 0; n < reps + 3; n++) {
            const { wallNs } = await writeOnce(0, path, data, n);
            if (n >= 3) times.push(wallNs / 1000); // the first few warm up
          }
          wall.set(`${path}/${bytes}`, median(times));
          progress(`latency ${++step}/${steps}: path ${path} (${PATH_NAMES[path]}), ${bytes} B`);
        }
      }
      const latency: LatencyRow[] = [];
      for (const ddio of [false, true]) {
        for (const path of PERSIST_PATHS) {
          for (const bytes of sizes) {
            const cost = persistCost(ddio ? models.on : models.off, path, bytes);
            latency.push({
              ddio,
              path,
              name: PATH_NAMES[path],
              bytes,
              valid: cost.valid,
              modelUs: cost.ns / 1000,
              wallUs: cost.valid ? wall.get(`${path}/${bytes}`)! : null,
            });
          }
        }
      }

      // Throughput: N closed-loop clients (DDIO off, so every path is valid).
      const throughput: ThroughputRow[] = [];
      const tputSizes = [64, 4096];
      step = 0;
      for (const bytes of tputSizes) {
        for (const path of PERSIST_PATHS) {
          const data = new Uint8Array(bytes).fill(path);
          for (const n of clientCounts) {
            const perClient = Math.max(2, Math.ceil((quick ? 60 : 240) / n));
            const t0 = performance.now();
            await Promise.all(
              Array.from({ length: n }, async (_, i) => {
                for (let k = 0; k < perClient; k++) await writeOnce(i, path, data, k);
              }),
            );
            const seconds = (performance.now() - t0) / 1000;
            const cost = persistCost(models.off, path, bytes);
            const t = persistThroughput(cost, n, 1);
            throughput.push({
              path,
              name: PATH_NAMES[path],
              bytes,
              clients: n,
              modelPerSecond: t.perSecond,
              limit: t.limit,
              wallPerSecond: (n * perClient) / seconds,
            });
          }
          progress(
            `throughput ${++step}/${
              tputSizes.length * PERSIST_PATHS.length
            }: path ${path}, ${bytes} B`,
          );
        }
      }
      const pmemStats =
        (cluster.monitors.get("m0")!.stats().pmem as { stats: Record<string, number> }).stats;
      host.serverSyncs = pmemStats.syncs;
      host.serverRecords = pmemStats.records;

      const table = formatTable(latency, throughput, host, options.transport, described);
      const result = {
        study: "pmem",
        transport: options.transport,
        model: "legoos-ib",
        quick,
        date: new Date().toISOString(),
        constants: Object.fromEntries(
          [
            "rpcPoints.128B",
            "oneSidedWritePoints.4B",
            "oneSidedReadPoints.4B",
            "pmemWriteLatencyNs",
            "pmemFlushNs",
            "pmemWriteBandwidthGBps",
            "connectionlessRpcNs",
            "rpcServerCpuNs",
            "nicOpNs",
            "linkGbps",
          ]
            .filter((k) => described[k]).map((k) => [k, described[k]]),
        ),
        host,
        latency,
        throughput,
        headline: {
          onesidedFlushVsRpc64B: persistCost(models.off, 2, 64).ns /
            persistCost(models.off, 1, 64).ns,
        },
      };
      await Deno.mkdir(options.out, { recursive: true });
      await Deno.writeTextFile(`${options.out}/pmem.json`, JSON.stringify(result, null, 2) + "\n");
      await Deno.writeTextFile(
        `${options.out}/pmem.svg`,
        pmemSvg(latency, throughput, options.transport, host),
      );
      return { latency, throughput, host, table };
    } finally {
      for (const c of clients) await c.rpc.close();
      await cluster.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function formatTable(
  latency: LatencyRow[],
  throughput: ThroughputRow[],
  host: Record<string, number>,
  transport: string,
  described: Record<string, { value: number }>,
): string {
  const lines: string[] = [];
  lines.push(`Persistent remote writes: model legoos-ib, run on the ${transport} transport`);
  lines.push(
    `Durable write on this host (append + fdatasync): 4 KiB ${
      host.durable4KiBMedianUs.toFixed(1)
    } us median, ` +
      `16 B ${host.durable16BMedianUs.toFixed(1)} us; model PMEM write (ntstore + fence): 4 KiB ` +
      `${host.modelPmemWrite4KiBUs.toFixed(3)} us, 16 B ${host.modelPmemWrite16BUs.toFixed(3)} us`,
  );
  lines.push("");
  lines.push(
    "| path | size | model us, DDIO off | model us, DDIO on | wall us, this host (median) |",
  );
  lines.push("|---|---:|---:|---:|---:|");
  for (const off of latency.filter((r) => !r.ddio)) {
    const on = latency.find((r) => r.ddio && r.path === off.path && r.bytes === off.bytes)!;
    lines.push(
      `| ${off.path} ${off.name} | ${off.bytes} B | ${off.modelUs.toFixed(2)} | ${
        on.valid ? on.modelUs.toFixed(2) : "not durable"
      } | ${off.wallUs === null ? "-" : off.wallUs.toFixed(1)} |`,
    );
  }
  lines.push("");
  const counts = [...new Set(throughput.map((r) => r.clients))];
  lines.push(
    `Throughput by closed-loop clients, DDIO off: model Mwrites/s (c: server CPU bound, n: NIC ` +
      `bound) / this host's kwrites/s`,
  );
  lines.push("");
  lines.push(
    `| path | size | ${counts.map((c) => `${c} client${c > 1 ? "s" : ""}`).join(" | ")} |`,
  );
  lines.push(`|---|---:|${counts.map(() => "---:").join("|")}|`);
  for (const bytes of [...new Set(throughput.map((r) => r.bytes))]) {
    for (const path of PERSIST_PATHS) {
      const cells = counts.map((c) => {
        const r = throughput.find((t) => t.path === path && t.bytes === bytes && t.clients === c)!;
        const mark = r.limit === "server cpu" ? " c" : r.limit === "nic" ? " n" : "";
        return `${(r.modelPerSecond / 1e6).toFixed(2)}${mark} / ${
          (r.wallPerSecond / 1e3).toFixed(1)
        }`;
      });
      lines.push(`| ${path} ${PATH_NAMES[path]} | ${bytes} B | ${cells.join(" | ")} |`);
    }
  }
  lines.push("");
  lines.push(
    `Model throughput: least of clients/latency, 1 server core / (RPC CPU ${
      described.rpcServerCpuNs?.value.toFixed(0)
    } ns + PMEM write or flush), NIC ${
      described.nicOpNs?.value.toFixed(1)
    } ns per message; DDIO changes only path 2's validity.`,
  );
  return lines.join("\n");
}

function pmemSvg(
  latency: LatencyRow[],
  throughput: ThroughputRow[],
  transport: string,
  host: Record<string, number>,
): string {
  const latencySeries = (ddio: boolean, wall: boolean): Series[] =>
    PERSIST_PATHS.map((path, i) => ({
      name: `${path} ${PATH_NAMES[path]}${wall ? "" : ddio ? "" : ""}`,
      color: COLORS[i],
      dashed: wall,
      points: latency.filter((r) => r.ddio === ddio && r.path === path && r.valid)
        .map((r) => [r.bytes, wall ? r.wallUs! : r.modelUs] as [number, number]),
    }));
  const tput = (bytes: number, wall: boolean): Series[] =>
    PERSIST_PATHS.map((path, i) => ({
      name: `${path} ${PATH_NAMES[path]}`,
      color: COLORS[i],
      dashed: wall,
      points: throughput.filter((r) => r.path === path && r.bytes === bytes)
        .map((r) => [r.clients, wall ? r.wallPerSecond : r.modelPerSecond] as [number, number]),
    }));
  const limits = (path: PersistPath, bytes = 64) =>
    throughput.filter((r) => r.path === path && r.bytes === bytes).at(-1)?.limit ?? "";
  return chartSvg(
    [
      {
        title: "Model latency, DDIO off",
        x: "write size [bytes]",
        y: "latency [us]",
        xLog: true,
        series: latencySeries(false, false),
        note: "path 2 valid: the NIC writes past the CPU caches",
      },
      {
        title: "Model throughput, 64 B writes",
        x: "closed-loop clients",
        y: "writes per second",
        xLog: true,
        yLog: true,
        series: tput(64, false),
        note: `limit at 64 clients: 1 ${limits(1)}, 2 ${limits(2)}, 3 ${limits(3)}, 4 ${limits(4)}`,
      },
      {
        title: "Model throughput, 4 KiB writes",
        x: "closed-loop clients",
        y: "writes per second",
        xLog: true,
        yLog: true,
        series: tput(4096, false),
        note: `limit at 64 clients: 1 ${limits(1, 4096)}, 2 ${limits(2, 4096)}, 3 ${
          limits(3, 4096)
        }, 4 ${limits(4, 4096)}`,
      },
      {
        title: "Model latency, DDIO on",
        x: "write size [bytes]",
        y: "latency [us]",
        xLog: true,
        series: latencySeries(true, false),
        note: "path 2 (WRITE + READ) is not durable with DDIO on: no line",
      },
      {
        title: `This host: wall latency (${transport} transport)`,
        x: "write size [bytes]",
        y: "latency [us]",
        xLog: true,
        yLog: true,
        series: latencySeries(false, true),
        note: `durable 4 KiB append + fdatasync alone: ${host.durable4KiBMedianUs.toFixed(0)} us`,
      },
      {
        title: `This host: throughput, 64 B (${transport})`,
        x: "closed-loop clients",
        y: "writes per second",
        xLog: true,
        yLog: true,
        series: tput(64, true),
        note: "concurrent writes share one fdatasync (group commit)",
      },
    ],
    "legoemu study pmem: solid = model (legoos-ib), dashed = wall time measured on this machine; path 2 = WRITE + READ flush (valid with DDIO off)",
  );
}
