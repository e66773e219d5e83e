/**
 * `deno task study rpc`: connected versus connectionless RPC as the cluster grows (2 …
 * 1024 emulated peers talking to one server).
 *
 * From the model (legoos-ib's sourced constants):
 * - **connected** (reliable connections, LegoOS/LITE style): a receive ring per peer, so
 *   the server's receive-buffer memory grows with the peers; one set-up round trip per
 *   peer to exchange queue-pair numbers; RPC round trip from LegoOS's measurements (A2).
 * - **connectionless** (FaSST/eRPC style): one shared receive queue whatever the number
 *   of peers; no set-up; round trip from eRPC (R2).
 * Ring and queue depths are configuration, not measurements: {@link RPC_STUDY_CONFIG}.
 * The NIC's connection-cache misses with many reliable connections are not modeled (no
 * sourced figure), so the model's latency and throughput do not fall with more peers.
 *
 * From the transports (what they really allocate and take on this machine): the
 * in-memory transport (connectionless from above: one shared receive queue per
 * component, nothing per peer) and TCP (one connection per peer, with its own read
 * buffer and handshake). Both ends run in this process, so the measured memory per peer
 * counts the client's side too.
 *
 * @module
 */

import type { LatencyModel } from "../kernel/latency.ts";
import { RpcNode } from "../kernel/rpc.ts";
import type { Transport } from "../kernel/transport.ts";
import { createStockRegistry } from "../plugins/stock.ts";
import { createMemoryTransport } from "../transports/memory.ts";
import { createTcpTransport } from "../transports/tcp/mod.ts";
import { chartSvg, COLORS } from "./study_svg.ts";

/** Options of the RPC study. */
export interface RpcStudyOptions {
  /** A short sweep (CI). */
  quick: boolean;
  /** Directory for rpc.json and rpc.svg. */
  out: string;
  /** Not used: this study always runs both the in-memory and the TCP transport. */
  transport: "memory" | "tcp" | "rdma";
  /** Progress lines. */
  progress: (line: string) => void;
}

/** Receive-buffer configuration the model charges (assumptions, stated in the output). */
export const RPC_STUDY_CONFIG = {
  /** Receive buffers posted per peer on a connected server. */
  ringBuffersPerPeer: 32,
  /** Receive buffers in a connectionless server's shared receive queue (the transports' default queue depth). */
  sharedQueueBuffers: 4096,
  /** Bytes per receive buffer (a page and a header). */
  bufferBytes: 4096 + 64,
  /** Server cores serving RPCs. */
  serverCores: 1,
} as const;

/** One row: a peer count and what each design costs. */
export interface RpcRow {
  /** Emulated peers. */
  peers: number;
  /** Payload bytes per request. */
  bytes: number;
  /** Model: connected. */
  connected: { bufferBytes: number; setupUs: number; latencyUs: number; perSecond: number };
  /** Model: connectionless. */
  connectionless: { bufferBytes: number; setupUs: number; latencyUs: number; perSecond: number };
  /** Measured per transport (absent when the transport was not run at this size). */
  measured: Record<string, Measured | undefined>;
}

/** What a transport really took. */
export interface Measured {
  /** Extra ArrayBuffer memory per peer after every peer made one call [bytes]. */
  bufferBytesPerPeer: number;
  /** Connections the server holds. */
  connections: number;
  /** Wall time of every peer's first call (set-up included), per peer [µs]. */
  setupUsPerPeer: number;
  /** Median round trip of one peer's calls, others idle [µs]. */
  latencyUs: number;
  /** Calls per second with every peer calling at once. */
  perSecond: number;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function measure(
  transport: Transport,
  peers: number,
  bytes: number,
  tcp: boolean,
  calls: number,
): Promise<Measured> {
  const empty = new Uint8Array(0);
  const server = await transport.attach("s0", tcp ? { listen: "127.0.0.1:0" } : {});
  const serverRpc = new RpcNode(server);
  serverRpc.handle({ SYS_PING: () => ({ data: empty }) });
  const nodes: RpcNode[] = [];
  try {
    for (let i = 0; i < peers; i++) {
      nodes.push(new RpcNode(await transport.attach(`p${i}`, tcp ? { listen: null } : {})));
    }
    const data = new Uint8Array(bytes).fill(1);
    (globalThis as { gc?: () => void }).gc?.();
    const before = Deno.memoryUsage().external;
    const t0 = performance.now();
    await Promise.all(nodes.map((n) => n.call("s0", "SYS_PING", { data })));
    const setupUsPerPeer = ((performance.now() - t0) * 1000) / peers;
    (globalThis as { gc?: () => void }).gc?.();
    const bufferBytesPerPeer = Math.max(0, (Deno.memoryUsage().external - before) / peers);
    const connections = tcp
      ? (server as unknown as { stats(): { connections: number } }).stats().connections
      : 0;
    const times: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t = performance.now();
      await nodes[0].call("s0", "SYS_PING", { data });
      times.push((performance.now() - t) * 1000);
    }
    const rounds = Math.max(2, Math.ceil(calls / peers));
    const t1 = performance.now();
    await Promise.all(nodes.map(async (n) => {
      for (let k = 0; k < rounds; k++) await n.call("s0", "SYS_PING", { data });
    }));
    const perSecond = (rounds * peers) / ((performance.now() - t1) / 1000);
    return { bufferBytesPerPeer, connections, setupUsPerPeer, latencyUs: median(times), perSecond };
  } finally {
    for (const n of nodes) await n.close();
    await serverRpc.close();
    await transport.close();
  }
}

/** Runs the study; returns what it wrote. */
export async function runRpcStudy(
  options: RpcStudyOptions,
): Promise<{ rows: RpcRow[]; table: string }> {
  const { quick, progress } = options;
  const peerCounts = quick ? [2, 16, 64] : [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];
  const sizes = quick ? [64, 4096] : [64, 1024, 4096];
  // Both ends of every TCP connection live in this process (a 256 KiB read buffer each):
  // beyond this many peers the run would take gigabytes of this shared machine.
  const tcpMaxPeers = quick ? 64 : 256;
  const calls = quick ? 400 : 3000;
  const model = await createStockRegistry().create<LatencyModel>(
    "latency-model",
    "legoos-ib",
    {},
    {},
  );
  const d = model.describe();
  const cfg = RPC_STUDY_CONFIG;
  const cpuNs = d.rpcServerCpuNs.value;
  const nicNs = d.nicOpNs.value;
  const linkGbps = d.linkGbps.value;
  const secret = "0123456789abcdef0123456789abcdef";
  const rows: RpcRow[] = [];
  let step = 0;
  const steps = peerCounts.length * sizes.length;
  for (const bytes of sizes) {
    for (const peers of peerCounts) {
      const wire = (n: number) => Math.max(nicNs, (n * 8) / linkGbps);
      const bound = (latencyNs: number) =>
        Math.min(
          (peers / latencyNs) * 1e9,
          (cfg.serverCores / cpuNs) * 1e9,
          1e9 / (wire(bytes) + wire(0)),
        );
      const connectedNs = model.messageNs(bytes);
      const connectionlessNs = d.connectionlessRpcNs.value + (bytes * 8) / linkGbps;
      const measured: Record<string, Measured | undefined> = {};
      measured.memory = await measure(createMemoryTransport(), peers, bytes, false, calls);
      if (peers <= tcpMaxPeers) {
        measured.tcp = await measure(
          createTcpTransport({ log: () => {}, secret, pingIntervalMs: 0 }),
          peers,
          bytes,
          true,
          calls,
        );
      }
      rows.push({
        peers,
        bytes,
        connected: {
          bufferBytes: peers * cfg.ringBuffersPerPeer * cfg.bufferBytes,
          setupUs: (peers * model.messageNs(64)) / 1000,
          latencyUs: connectedNs / 1000,
          perSecond: bound(connectedNs),
        },
        connectionless: {
          bufferBytes: cfg.sharedQueueBuffers * cfg.bufferBytes,
          setupUs: 0,
          latencyUs: connectionlessNs / 1000,
          perSecond: bound(connectionlessNs),
        },
        measured,
      });
      progress(`${++step}/${steps}: ${peers} peers, ${bytes} B`);
    }
  }
  const table = formatTable(rows, d.connectionlessRpcNs.value, model.messageNs(64));
  await Deno.mkdir(options.out, { recursive: true });
  await Deno.writeTextFile(
    `${options.out}/rpc.json`,
    JSON.stringify(
      {
        study: "rpc",
        transports: ["memory", "tcp"],
        model: "legoos-ib",
        quick,
        date: new Date().toISOString(),
        config: cfg,
        tcpMaxPeers,
        constants: {
          "rpcPoints.128B": d["rpcPoints.128B"],
          connectionlessRpcNs: d.connectionlessRpcNs,
          rpcServerCpuNs: d.rpcServerCpuNs,
          nicOpNs: d.nicOpNs,
          linkGbps: d.linkGbps,
        },
        rows,
      },
      null,
      2,
    ) + "\n",
  );
  await Deno.writeTextFile(`${options.out}/rpc.svg`, rpcSvg(rows));
  return { rows, table };
}

const MiB = 1 << 20;

function formatTable(rows: RpcRow[], connectionlessNs: number, setupNs: number): string {
  const lines: string[] = [];
  lines.push(
    `Connected vs connectionless RPC, one server: model legoos-ib; measured on the in-memory and TCP transports`,
  );
  lines.push(
    `Model: connected = ${RPC_STUDY_CONFIG.ringBuffersPerPeer} x ${RPC_STUDY_CONFIG.bufferBytes} B receive buffers per peer, ` +
      `${
        (setupNs / 1000).toFixed(2)
      } us set-up round trip per peer, LegoOS RPC (A2); connectionless = one shared queue of ` +
      `${RPC_STUDY_CONFIG.sharedQueueBuffers} buffers, no set-up, ${
        (connectionlessNs / 1000).toFixed(2)
      } us round trip (R2)`,
  );
  lines.push("");
  lines.push(
    "| peers | size | model rx MiB conn / connless | model set-up us conn | model us conn / connless | model Mcalls/s conn / connless | " +
      "memory: KiB/peer, us, kcalls/s | tcp: conns, KiB/peer, set-up us/peer, us, kcalls/s |",
  );
  lines.push("|---:|---:|---|---:|---|---|---|---|");
  for (const r of rows) {
    const m = r.measured.memory;
    const t = r.measured.tcp;
    lines.push(
      `| ${r.peers} | ${r.bytes} B | ${(r.connected.bufferBytes / MiB).toFixed(2)} / ${
        (r.connectionless.bufferBytes / MiB).toFixed(2)
      } | ${r.connected.setupUs.toFixed(1)} | ${r.connected.latencyUs.toFixed(2)} / ${
        r.connectionless.latencyUs.toFixed(2)
      } | ${(r.connected.perSecond / 1e6).toFixed(2)} / ${
        (r.connectionless.perSecond / 1e6).toFixed(2)
      } | ${
        m
          ? `${(m.bufferBytesPerPeer / 1024).toFixed(1)}, ${m.latencyUs.toFixed(1)}, ${
            (m.perSecond / 1e3).toFixed(1)
          }`
          : "-"
      } | ${
        t
          ? `${t.connections}, ${(t.bufferBytesPerPeer / 1024).toFixed(1)}, ${
            t.setupUsPerPeer.toFixed(0)
          }, ${t.latencyUs.toFixed(1)}, ${(t.perSecond / 1e3).toFixed(1)}`
          : "not run"
      } |`,
    );
  }
  return lines.join("\n");
}

function rpcSvg(rows: RpcRow[]): string {
  const sizes = [...new Set(rows.map((r) => r.bytes))];
  const small = rows.filter((r) => r.bytes === sizes[0]);
  const big = rows.filter((r) => r.bytes === sizes.at(-1));
  const pts = (list: RpcRow[], f: (r: RpcRow) => number | undefined): [number, number][] =>
    list.flatMap((r) => {
      const v = f(r);
      return v === undefined ? [] : [[r.peers, v] as [number, number]];
    });
  return chartSvg(
    [
      {
        title: "Receive-buffer memory per server",
        x: "peers",
        y: "bytes",
        xLog: true,
        yLog: true,
        series: [
          {
            name: "model: connected",
            color: COLORS[0],
            points: pts(small, (r) => r.connected.bufferBytes),
          },
          {
            name: "model: connectionless",
            color: COLORS[1],
            points: pts(small, (r) => r.connectionless.bufferBytes),
          },
          {
            name: "tcp: measured (both ends)",
            color: COLORS[0],
            dashed: true,
            points: pts(
              small,
              (r) => r.measured.tcp && r.measured.tcp.bufferBytesPerPeer * r.peers,
            ),
          },
          {
            name: "in-memory: measured",
            color: COLORS[1],
            dashed: true,
            points: pts(
              small,
              (r) =>
                r.measured.memory && Math.max(1, r.measured.memory.bufferBytesPerPeer * r.peers),
            ),
          },
        ],
        note: "TCP: a read buffer per connection; in-memory: one shared queue",
      },
      {
        title: "Connection set-up, all peers",
        x: "peers",
        y: "time [us]",
        xLog: true,
        yLog: true,
        series: [
          {
            name: "model: connected",
            color: COLORS[0],
            points: pts(small, (r) => r.connected.setupUs),
          },
          {
            name: "tcp: first calls (measured)",
            color: COLORS[0],
            dashed: true,
            points: pts(small, (r) => r.measured.tcp && r.measured.tcp.setupUsPerPeer * r.peers),
          },
          {
            name: "in-memory: first calls",
            color: COLORS[1],
            dashed: true,
            points: pts(
              small,
              (r) => r.measured.memory && r.measured.memory.setupUsPerPeer * r.peers,
            ),
          },
        ],
        note: "connectionless needs no set-up in the model (no line)",
      },
      {
        title: `Throughput, ${sizes[0]} B and ${sizes.at(-1)} B calls`,
        x: "peers (one call in flight each)",
        y: "calls per second",
        xLog: true,
        yLog: true,
        series: [
          {
            name: `model conn ${sizes[0]} B`,
            color: COLORS[0],
            points: pts(small, (r) => r.connected.perSecond),
          },
          {
            name: `model connless ${sizes[0]} B`,
            color: COLORS[1],
            points: pts(small, (r) => r.connectionless.perSecond),
          },
          {
            name: `model conn ${sizes.at(-1)} B`,
            color: COLORS[2],
            points: pts(big, (r) => r.connected.perSecond),
          },
          {
            name: `model connless ${sizes.at(-1)} B`,
            color: COLORS[3],
            points: pts(big, (r) => r.connectionless.perSecond),
          },
          {
            name: `tcp ${sizes[0]} B (measured)`,
            color: COLORS[4],
            dashed: true,
            points: pts(small, (r) => r.measured.tcp?.perSecond),
          },
          {
            name: `in-memory ${sizes[0]} B`,
            color: COLORS[5],
            dashed: true,
            points: pts(small, (r) => r.measured.memory?.perSecond),
          },
        ],
        note: "model: least of peers/latency, 1 core's RPC rate, NIC rate",
      },
    ],
    "legoemu study rpc: solid = model (legoos-ib), dashed = measured on this machine (both ends in one process)",
  );
}
