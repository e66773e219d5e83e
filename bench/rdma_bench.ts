/**
 * RDMA transport benchmarks, beside the TCP transport in the same run.
 *
 * libibverbs reads its environment when it loads, so the measurements run in a child
 * process (`deno run -A bench/rdma_bench.ts measure`): over the loopback verbs provider
 * (`transports/rdma/loopback/`, built with gcc) on a host without an RDMA NIC, or over
 * the device `LEGOEMU_RDMA_DEVICE` names. Over the loopback provider a transfer is a
 * memcpy at post time, so these numbers measure the binding's own overhead (FFI, work
 * request encoding, polling, the transport's chunking and credits), not a network.
 *
 * - `rdma.rpc4k.latency_ratio_vs_tcp` (connectionless) and
 *   `rdma.rpc4k.connected.latency_ratio_vs_tcp`: mean round trip of `RpcNode.call(SYS_PING)`
 *   carrying 4 KiB each way, one call in flight, both endpoints in one process, divided by
 *   the same over the TCP transport on 127.0.0.1.
 * - `rdma.rpc128.connected.latency_us`, `rdma.rpc4k.connected.latency_us`: those round
 *   trips in µs (connected mode), beside LegoOS's 4.63–6.52 µs for real hardware.
 * - `rdma.pagefetch.kiops`: `P2M_PAGE_FETCH` calls per second (thousands), 16 in flight,
 *   answered by a stock memory component booted in the same process on the rdma
 *   transport; baseline: the same over the tcp transport.
 * - `rdma.ffi.post_poll_ns`: one `ibv_post_send` (a zero-length RDMA WRITE) plus the
 *   `ibv_poll_cq` that reaps it, through the ops-table function pointers; baseline: one
 *   FFI call to a libc function that does nothing measurable (`__errno_location`).
 * - `rdma.ffi.fnptr_call_ns`: one call through `Deno.UnsafeFnPointer` (how the ops-table
 *   verbs are called) of that same libc function, against calling it as a `dlopen`
 *   symbol: the bound Deno's FFI puts under every post and poll.
 * - `rdma.recvmem.<mode>.peers<N>`: receive-buffer bytes a server endpoint has registered
 *   after N peers (1, 16, 256) each sent it one frame, read from the endpoint
 *   (`receiveMemory()`): connected mode (a ring per sender) vs connectionless mode (one
 *   shared receive queue).
 *
 * @module
 */

import { RpcNode } from "../kernel/rpc.ts";
import { encode } from "../kernel/codec.ts";
import { startCluster } from "../mod.ts";
import { createRdmaTransport, type RdmaMode } from "../transports/rdma/mod.ts";
import { VERBS } from "../transports/rdma/abi.ts";
import { buildLoopback, loopbackMissing } from "../transports/rdma/loopback/build.ts";
import { PinnedMemory, VerbsContext } from "../transports/rdma/verbs.ts";
import { createTcpTransport } from "../transports/tcp/mod.ts";
import type { Transport } from "../kernel/transport.ts";
import { type BenchCase, callLoop, interleavedMedians, median, type Metric } from "./harness.ts";

const PAYLOAD = 4096;
const IN_FLIGHT = 16;
const ROUNDS = 5;
const ROUND_MS = 250;
const PEERS = [1, 16, 256];
const self = decodeURIComponent(new URL("rdma_bench.ts", import.meta.url).pathname);

/** An echo RPC pair (server and client endpoint) on `transport`. */
async function echoPair(transport: Transport, payload = PAYLOAD) {
  const server = new RpcNode(await transport.attach("srv")).handle({
    SYS_PING: ({ data }) => ({ data }),
  });
  const client = new RpcNode(await transport.attach("cli"));
  const data = new Uint8Array(payload).fill(7);
  const small = new Uint8Array(128).fill(7);
  return {
    call: () => client.call("srv", "SYS_PING", { data }),
    call128: () => client.call("srv", "SYS_PING", { data: small }),
    close: async () => {
      await client.close();
      await server.close();
      await transport.close();
    },
  };
}

async function rpcLatency(progress: (f: number) => void): Promise<Record<string, Metric>> {
  const tcp = await echoPair(createTcpTransport({ log: () => {} }));
  const rdma = await echoPair(createRdmaTransport({ mode: "connectionless" }));
  const rc = await echoPair(createRdmaTransport({ mode: "connected" }));
  const us = (r: { ops: number; ms: number }) => (r.ms * 1000) / r.ops;
  try {
    const m = await interleavedMedians(
      {
        tcp: async () => us(await callLoop(tcp.call, 1, ROUND_MS)),
        ud: async () => us(await callLoop(rdma.call, 1, ROUND_MS)),
        rc: async () => us(await callLoop(rc.call, 1, ROUND_MS)),
        rc128: async () => us(await callLoop(rc.call128, 1, ROUND_MS)),
      },
      ROUNDS,
      progress,
    );
    const note = (mode: string) =>
      `mean round trip of RpcNode.call(SYS_PING) with ${PAYLOAD} B each way, 1 in flight, ` +
      `both endpoints in one process, over the rdma transport (${mode}) divided by the same ` +
      `over the tcp transport on 127.0.0.1 (baseline, µs); median of ${ROUNDS} interleaved ` +
      `${ROUND_MS} ms rounds. ${DEVICE_NOTE}`;
    const perSize = (size: string, value: number): Metric => ({
      value,
      unit: "µs",
      note: `mean round trip of RpcNode.call(SYS_PING) with ${size} each way, 1 in flight, ` +
        `connected mode (RC + WRITE_WITH_IMM, LegoOS's design), both endpoints in one ` +
        `process; for comparison on a real device, LegoOS measured 4.63 µs (128 B) to ` +
        `6.52 µs (4 KB) over 40 Gbps InfiniBand (OSDI 2018). ${DEVICE_NOTE}`,
    });
    return {
      "rdma.rpc128.connected.latency_us": perSize("128 B", m.rc128),
      "rdma.rpc4k.connected.latency_us": perSize("4096 B", m.rc),
      "rdma.rpc4k.latency_ratio_vs_tcp": {
        value: m.ud / m.tcp,
        unit: "x",
        baseline: m.tcp,
        ratio: m.ud / m.tcp,
        note: `${note("connectionless: UD + SRQ")}; rdma round trip ${m.ud.toFixed(1)} µs`,
      },
      "rdma.rpc4k.connected.latency_ratio_vs_tcp": {
        value: m.rc / m.tcp,
        unit: "x",
        baseline: m.tcp,
        ratio: m.rc / m.tcp,
        note: `${note("connected: RC + WRITE_WITH_IMM")}; rdma round trip ${m.rc.toFixed(1)} µs`,
      },
    };
  } finally {
    await tcp.close();
    await rdma.close();
    await rc.close();
  }
}

async function pageFetchCluster(transport: { plugin: string; options?: Record<string, unknown> }) {
  const cluster = await startCluster({
    transport,
    components: [
      { id: "gm", role: "manager", options: { heartbeatMs: 60_000 } },
      { id: "p0", role: "processor", options: { cacheBytes: 65536 } }, // idle: the client is p9
      { id: "m0", role: "memory", options: { dramBytes: 64 * 1024 * 1024 } },
      { id: "s0", role: "storage" },
    ],
  }, { log: () => {} });
  const client = new RpcNode(await cluster.transport.attach("p9"));
  const pages = 4096;
  await client.call("m0", "P2M_FORK", { pid: 1, parentPid: 0 });
  const { addr } = await client.call("m0", "P2M_MMAP", {
    pid: 1,
    addr: 0,
    length: pages * PAYLOAD,
    prot: 3,
    flags: 0x22,
    path: "",
    offset: 0,
  });
  let next = 0;
  return {
    fetch: () =>
      client.call("m0", "P2M_PAGE_FETCH", { pid: 1, vaddr: addr + (next++ % pages) * PAYLOAD }),
    close: async () => {
      await client.close();
      await cluster.stop();
    },
  };
}

async function pageFetch(progress: (f: number) => void): Promise<Record<string, Metric>> {
  const tcp = await pageFetchCluster({ plugin: "tcp" });
  const rdma = await pageFetchCluster({ plugin: "rdma" });
  const perSecond = (r: { ops: number; ms: number }) => (r.ops / r.ms) * 1000;
  try {
    const m = await interleavedMedians(
      {
        tcp: async () => perSecond(await callLoop(tcp.fetch, IN_FLIGHT, ROUND_MS)),
        rdma: async () => perSecond(await callLoop(rdma.fetch, IN_FLIGHT, ROUND_MS)),
      },
      ROUNDS,
      progress,
    );
    return {
      "rdma.pagefetch.kiops": {
        value: m.rdma / 1000,
        unit: "kIOPS",
        baseline: m.tcp / 1000,
        ratio: m.rdma / m.tcp,
        note: `P2M_PAGE_FETCH calls per second (thousands), ${IN_FLIGHT} in flight, answered by ` +
          `a stock memory component booted in the same process on the rdma transport ` +
          `(connectionless), cycling over 4096 pages; baseline = the same over the tcp ` +
          `transport on 127.0.0.1; median of ${ROUNDS} interleaved ${ROUND_MS} ms rounds. ` +
          DEVICE_NOTE,
      },
    };
  } finally {
    await tcp.close();
    await rdma.close();
  }
}

function postPoll(): Record<string, Metric> {
  const ctx = VerbsContext.open(Deno.env.get("LEGOEMU_RDMA_DEVICE") || undefined);
  const pd = ctx.allocPd();
  const cq = ctx.createCq(64);
  const memory = new PinnedMemory(ctx.libc, 4096);
  const mr = pd.register(memory, VERBS.IBV_ACCESS_LOCAL_WRITE | VERBS.IBV_ACCESS_REMOTE_WRITE);
  const a = pd.createQp({ type: "RC", sendCq: cq, recvCq: cq });
  const b = pd.createQp({ type: "RC", sendCq: cq, recvCq: cq });
  try {
    const port = ctx.queryPort(1);
    const remote = { lid: port.lid, gid: ctx.queryGid(1, 0), global: port.linkLayer === 2 };
    for (const [x, y] of [[a, b], [b, a]]) {
      x.toInit(1);
      x.toRtr({ remoteQpn: y.qpn, remote, pathMtu: port.activeMtu }, 1);
      x.toRts();
    }
    const wr = {
      wrId: 1,
      opcode: VERBS.IBV_WR_RDMA_WRITE,
      sge: { address: memory.address, length: 8, lkey: mr.lkey },
      remoteAddress: 0n,
      rkey: mr.rkey,
    };
    const none = () => {};
    const postAndReap = () => {
      a.postSend(wr);
      while (cq.poll(none) === 0) { /* the completion is on its way */ }
    };
    const noop = () => ctx.libc.__errno_location();
    // The same libc function called through a function pointer, as the ops-table verbs are.
    const libc = Deno.dlopen("libc.so.6", {
      dlsym: { parameters: ["pointer", "buffer"], result: "pointer" },
    });
    const errnoFn = new Deno.UnsafeFnPointer(
      // deno-lint-ignore no-explicit-any
      libc.symbols.dlsym(null, new TextEncoder().encode("__errno_location\0")) as any,
      { parameters: [], result: "pointer" } as const,
    );
    const viaPointer = () => errnoFn.call();
    const ns = (fn: () => unknown, n: number) => {
      const start = performance.now();
      for (let i = 0; i < n; i++) fn();
      return ((performance.now() - start) * 1e6) / n;
    };
    ns(postAndReap, 20_000);
    ns(noop, 200_000);
    ns(viaPointer, 20_000);
    const post: number[] = [];
    const call: number[] = [];
    const pointerCall: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      post.push(ns(postAndReap, 20_000));
      call.push(ns(noop, 500_000));
      pointerCall.push(ns(viaPointer, 50_000));
    }
    libc.close();
    const value = median(post);
    const baseline = median(call);
    const fnPointer = median(pointerCall);
    return {
      "rdma.ffi.fnptr_call_ns": {
        value: fnPointer,
        unit: "ns",
        baseline,
        ratio: fnPointer / baseline,
        note: "one call of libc __errno_location through Deno.UnsafeFnPointer (how every " +
          "ops-table verb is called), against the same function bound by Deno.dlopen " +
          "(baseline): the floor Deno 2.9's FFI puts under each post and poll, outside " +
          `this project's code; median of ${ROUNDS} rounds`,
      },
      "rdma.ffi.post_poll_ns": {
        value,
        unit: "ns",
        baseline,
        ratio: value / baseline,
        note: "one ibv_post_send (zero-copy 8 B RDMA WRITE, signaled) plus the ibv_poll_cq " +
          "that reaps its completion, both through the ibv_context ops-table function " +
          "pointers (work request written into pinned scratch each time); baseline = one " +
          `FFI call to libc __errno_location; median of ${ROUNDS} rounds of 20 000 (see ` +
          `rdma.ffi.fnptr_call_ns for the cost of the two function-pointer calls alone). ` +
          DEVICE_NOTE,
      },
    };
  } finally {
    a.destroy();
    b.destroy();
    mr.deregister();
    memory.free();
    cq.destroy();
    pd.dealloc();
    ctx.close();
  }
}

async function receiveMemory(progress: (f: number) => void): Promise<Record<string, Metric>> {
  const out: Record<string, Metric> = {};
  const modes: RdmaMode[] = ["connected", "connectionless"];
  let step = 0;
  for (const mode of modes) {
    for (const peers of PEERS) {
      const serverSide = createRdmaTransport({ mode });
      const server = await serverSide.attach("srv");
      // Clients are small (their own receive memory is not what is measured).
      const clientSide = createRdmaTransport({
        mode,
        srqDepth: 16,
        sendBuffers: 4,
        tcp: { log: () => {}, peers: { srv: server.addresses.tcp } },
      });
      try {
        const frame = (id: string) =>
          encode({
            kind: "SYS_PING",
            requestId: 1,
            src: id,
            dst: "srv",
            flags: 0,
            body: { data: new Uint8Array(64) },
          });
        for (let i = 0; i < peers; i++) {
          const id = `c${i}`;
          const client = await clientSide.attach(id);
          await client.send("srv", frame(id));
          await server.receiveQueue.take();
        }
        const memory = server.receiveMemory();
        out[`rdma.recvmem.${mode}.peers${peers}`] = {
          value: memory.totalBytes / 1024,
          unit: "KiB",
          note: `receive-buffer memory the server endpoint registered after ${peers} peer(s) ` +
            `each sent it one frame, ${mode} mode with default settings: ` +
            (mode === "connected"
              ? `${memory.rings} ring(s) of 64 slots x 8 KiB (one per sender) + zero-length SRQ receives`
              : `one shared receive queue of 1024 x (MTU + 40 B GRH), whatever the peer count`) +
            ` (srq ${memory.srqBytes} B, rings ${memory.ringBytes} B), as reported by receiveMemory()`,
        };
      } finally {
        await clientSide.close();
        await serverSide.close();
      }
      progress(++step / (modes.length * PEERS.length));
    }
  }
  return out;
}

const DEVICE_NOTE = Deno.env.get("LEGOEMU_RDMA_DEVICE")
  ? `Device: ${Deno.env.get("LEGOEMU_RDMA_DEVICE")}.`
  : "Over the loopback verbs provider (no NIC): this measures the binding's own overhead, " +
    "not a network.";

/** The child: measures everything and prints `progress <f>` lines, then one JSON line. */
async function measure(): Promise<void> {
  const parts: [number, (p: (f: number) => void) => Promise<Record<string, Metric>>][] = [
    [0.35, rpcLatency],
    [0.35, pageFetch],
    [0.1, () => Promise.resolve(postPoll())],
    [0.2, receiveMemory],
  ];
  const metrics: Record<string, Metric> = {};
  let done = 0;
  for (const [weight, part] of parts) {
    Object.assign(metrics, await part((f) => console.log(`progress ${done + f * weight}`)));
    done += weight;
  }
  console.log(JSON.stringify(metrics));
}

/** The RDMA benchmark cases. */
export const benchmarks: BenchCase[] = [{
  name: "rdma",
  async run(progress) {
    const device = Deno.env.get("LEGOEMU_RDMA_DEVICE");
    const missing = device ? undefined : await loopbackMissing();
    if (missing) {
      throw new Error(`the rdma benchmarks need the loopback verbs provider, which ${missing}`);
    }
    const loopback = device ? undefined : await buildLoopback();
    try {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", self, "measure"],
        env: { ...loopback?.env, NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      let result: Record<string, Metric> | undefined;
      const lines = child.stdout.pipeThrough(new TextDecoderStream());
      let buffered = "";
      for await (const chunk of lines) {
        buffered += chunk;
        let newline;
        while ((newline = buffered.indexOf("\n")) >= 0) {
          const line = buffered.slice(0, newline);
          buffered = buffered.slice(newline + 1);
          if (line.startsWith("progress ")) progress(Number(line.slice(9)));
          else if (line.startsWith("{")) result = JSON.parse(line);
        }
      }
      const stderr = await new Response(child.stderr).text();
      const status = await child.status;
      if (!status.success || !result) {
        throw new Error(`rdma bench child failed (${status.code}):\n${stderr}`);
      }
      return result;
    } finally {
      await loopback?.remove();
    }
  },
}];

if (import.meta.main && Deno.args[0] === "measure") await measure();
