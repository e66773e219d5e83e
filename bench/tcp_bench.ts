/**
 * TCP transport benchmarks, each against a raw Deno TCP echo measured in the same run.
 *
 * Every server runs in its own OS process on 127.0.0.1, and payloads are 4 KiB:
 * - `tcp.rpc4k.latency_ratio`: mean round trip of `RpcNode.call(SYS_PING)` carrying
 *   4 KiB each way over the TCP transport (with a cluster secret), one call in flight,
 *   divided by the mean round trip of writing 4 KiB to a raw echo server and reading
 *   4 KiB back (goal ≤ 1.3×).
 * - `tcp.rpc4k.throughput_ratio`: calls per second with 16 in flight, divided by raw
 *   echo messages per second with 16 × 4 KiB in flight (goal ≥ 0.8×).
 * - `tcp.pagefetch.kiops`: `P2M_PAGE_FETCH` calls per second (thousands) answered by a
 *   stock memory component in another process (started with `legoemu component`), 16 in
 *   flight; its ratio is against the raw echo rate with 16 in flight.
 *
 * The machine may be shared, so measurements alternate between the transport and its
 * baseline in short rounds and each figure is the median of its rounds.
 *
 * Server modes (used by the cases): `deno run -A bench/tcp_bench.ts echo-server|rpc-server`.
 *
 * @module
 */

import { RpcNode } from "../kernel/rpc.ts";
import { createTcpTransport } from "../transports/tcp/mod.ts";
import { type BenchCase, callLoop, interleavedMedians, type Metric } from "./harness.ts";

const PAYLOAD = 4096;
const IN_FLIGHT = 16;
const ROUNDS = 7;
const ROUND_MS = 300;
const SECRET = "legoemu-bench-secret-0123456789";
const here = new URL(".", import.meta.url);
const self = decodeURIComponent(new URL("tcp_bench.ts", here).pathname);
const entry = decodeURIComponent(new URL("../mod.ts", here).pathname);

/** A child process started for a case, with the first line it printed matching `ready`. */
interface Server {
  line: string;
  stop(): Promise<void>;
}

/** Starts `deno run -A <args>` and waits for an output line matching `ready`. */
async function startServer(args: string[], ready: RegExp): Promise<Server> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
    env: { NO_COLOR: "1" },
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let line: string | undefined;
  while (line === undefined) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${args.join(" ")} exited before it was ready: ${text}`);
    text += value;
    line = text.split("\n").find((l) => ready.test(l));
  }
  // Keep draining so the child never blocks on a full pipe.
  const drain = (async () => {
    while (!(await reader.read()).done) { /* discard */ }
  })();
  return {
    line,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already gone.
      }
      await child.stdin.close().catch(() => {});
      await child.status;
      await drain;
    },
  };
}

/** A raw 4 KiB echo client on one connection to the echo server at `port`. */
async function rawEchoClient(port: number) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  conn.setNoDelay(true);
  const message = new Uint8Array(PAYLOAD).fill(7);
  const buffer = new Uint8Array(256 * 1024);
  const writeAll = async (data: Uint8Array) => {
    let at = 0;
    while (at < data.length) at += await conn.write(data.subarray(at));
  };
  /** Keeps `inFlight` messages outstanding for `ms`; returns completed echoes and ms. */
  const run = async (inFlight: number, ms: number) => {
    let sent = 0;
    let received = 0;
    let pending = 0;
    const start = performance.now();
    const stopAt = start + ms;
    for (let i = 0; i < inFlight; i++) {
      await writeAll(message);
      sent++;
    }
    let now = start;
    while (received < sent) {
      const n = await conn.read(buffer);
      if (n === null) throw new Error("the echo server closed the connection");
      pending += n;
      while (pending >= PAYLOAD) {
        pending -= PAYLOAD;
        received++;
        now = performance.now();
        if (now < stopAt) {
          await writeAll(message);
          sent++;
        }
      }
    }
    return { ops: received, ms: now - start };
  };
  return { run, close: () => conn.close() };
}

const usPerOp = (t: { ops: number; ms: number }) => (t.ms * 1000) / t.ops;
const perSecond = (t: { ops: number; ms: number }) => (t.ops / t.ms) * 1000;

/**
 * The TCP benchmark cases.
 *
 * @example
 * ```ts ignore
 * import { benchmarks } from "./tcp_bench.ts";
 * const metrics = await benchmarks[0].run(() => {});
 * console.log(metrics["tcp.rpc4k.latency_ratio"]);
 * ```
 */
export const benchmarks: BenchCase[] = [
  {
    name: "tcp.rpc4k",
    async run(progress) {
      const echo = await startServer([self, "echo-server"], /^\d+$/);
      const server = await startServer([self, "rpc-server"], /^127\.0\.0\.1:\d+$/);
      const transport = createTcpTransport({ log: () => {}, secret: SECRET });
      const raw = await rawEchoClient(Number(echo.line));
      try {
        const client = new RpcNode(
          await transport.attach("cli", {
            listen: null,
            manager: { id: "srv", address: server.line },
          }),
        );
        const data = new Uint8Array(PAYLOAD).fill(1);
        const call = () => client.call("srv", "SYS_PING", { data });
        const m = await interleavedMedians(
          {
            rawUs: async () => usPerOp(await raw.run(1, ROUND_MS)),
            rpcUs: async () => usPerOp(await callLoop(call, 1, ROUND_MS)),
            rawOps: async () => perSecond(await raw.run(IN_FLIGHT, ROUND_MS)),
            rpcOps: async () => perSecond(await callLoop(call, IN_FLIGHT, ROUND_MS)),
          },
          ROUNDS,
          progress,
        );
        await client.close();
        const setup = `127.0.0.1, server in another process, cluster secret on, median of ` +
          `${ROUNDS} interleaved ${ROUND_MS} ms rounds`;
        return {
          "tcp.rpc4k.latency_ratio": {
            value: m.rpcUs / m.rawUs,
            unit: "x",
            baseline: m.rawUs,
            ratio: m.rpcUs / m.rawUs,
            goal: "<= 1.3x",
            note: `mean µs of RpcNode.call(SYS_PING) with ${PAYLOAD} B each way over the TCP ` +
              `transport, 1 in flight (${m.rpcUs.toFixed(1)} µs), divided by the mean µs of a ` +
              `${PAYLOAD} B round trip through a raw Deno TCP echo server (baseline, µs); ${setup}`,
          },
          "tcp.rpc4k.throughput_ratio": {
            value: m.rpcOps / m.rawOps,
            unit: "x",
            baseline: m.rawOps,
            ratio: m.rpcOps / m.rawOps,
            goal: ">= 0.8x",
            note: `RpcNode.call(SYS_PING) per second, ${PAYLOAD} B each way, ${IN_FLIGHT} in ` +
              `flight over the TCP transport (${
                Math.round(m.rpcOps)
              }/s), divided by ${PAYLOAD} B ` +
              `echoes per second with ${IN_FLIGHT} in flight through a raw Deno TCP echo server ` +
              `(baseline, ops/s); ${setup}`,
          },
        } satisfies Record<string, Metric>;
      } finally {
        raw.close();
        await transport.close();
        await server.stop();
        await echo.stop();
      }
    },
  },
  {
    name: "tcp.pagefetch",
    async run(progress) {
      const echo = await startServer([self, "echo-server"], /^\d+$/);
      const gm = await startServer(
        [entry, "component", "--role", "manager", "--id", "gm", "--listen", "127.0.0.1:0"],
        / up on /,
      );
      const gmAddress = gm.line.match(/ up on (\S+?);/)![1];
      const m0 = await startServer([
        entry,
        "component",
        "--role",
        "memory",
        "--id",
        "m0",
        "--listen",
        "127.0.0.1:0",
        "--manager",
        `gm@${gmAddress}`,
        "--options",
        JSON.stringify({ dramBytes: 256 * 1024 * 1024 }),
      ], / up on /);
      const transport = createTcpTransport({ log: () => {} });
      const raw = await rawEchoClient(Number(echo.line));
      try {
        const client = new RpcNode(
          await transport.attach("p0", { listen: null, manager: { id: "gm", address: gmAddress } }),
        );
        const pages = 16384; // 64 MiB: every fetch after the first pass hits an allocated frame.
        await client.call("m0", "P2M_FORK", { pid: 1, parentPid: 0 });
        const { addr } = await client.call("m0", "P2M_MMAP", {
          pid: 1,
          addr: 0,
          length: pages * PAYLOAD,
          prot: 3, // PROT_READ | PROT_WRITE
          flags: 0x22, // MAP_PRIVATE | MAP_ANONYMOUS
          path: "",
          offset: 0,
        });
        let next = 0;
        const fetch = () =>
          client.call("m0", "P2M_PAGE_FETCH", {
            pid: 1,
            vaddr: addr + (next++ % pages) * PAYLOAD,
          });
        const m = await interleavedMedians(
          {
            rawOps: async () => perSecond(await raw.run(IN_FLIGHT, ROUND_MS)),
            fetchOps: async () => perSecond(await callLoop(fetch, IN_FLIGHT, ROUND_MS)),
            fetchUs: async () => usPerOp(await callLoop(fetch, 1, ROUND_MS)),
          },
          ROUNDS,
          progress,
        );
        await client.close();
        return {
          "tcp.pagefetch.kiops": {
            value: m.fetchOps / 1000,
            unit: "kIOPS",
            baseline: m.rawOps / 1000,
            ratio: m.fetchOps / m.rawOps,
            note: `P2M_PAGE_FETCH calls per second (thousands), ${IN_FLIGHT} in flight, answered ` +
              `by a stock memory component in another process (legoemu component) over TCP on ` +
              `127.0.0.1, cycling over 16384 pages; baseline = thousands of ${PAYLOAD} B raw ` +
              `Deno TCP echoes per second with ${IN_FLIGHT} in flight, same run; median of ` +
              `${ROUNDS} interleaved ${ROUND_MS} ms rounds`,
          },
          "tcp.pagefetch.latency_us": {
            value: m.fetchUs,
            unit: "µs",
            note: "mean wall time of one P2M_PAGE_FETCH (1 in flight) from a memory component " +
              "in another process over TCP on 127.0.0.1 (compare tcp.rpc4k.latency_ratio's " +
              "baseline for a raw 4 KiB echo)",
          },
        } satisfies Record<string, Metric>;
      } finally {
        raw.close();
        await transport.close();
        await m0.stop();
        await gm.stop();
        await echo.stop();
      }
    },
  },
];

async function echoServer(): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  console.log(listener.addr.port);
  for await (const conn of listener) {
    conn.setNoDelay(true);
    (async () => {
      const buffer = new Uint8Array(256 * 1024);
      try {
        while (true) {
          const n = await conn.read(buffer);
          if (n === null) break;
          let at = 0;
          while (at < n) at += await conn.write(buffer.subarray(at, n));
        }
      } catch {
        // The client went away.
      } finally {
        try {
          conn.close();
        } catch { /* closed */ }
      }
    })();
  }
}

async function rpcServer(): Promise<void> {
  const transport = createTcpTransport({ log: () => {}, secret: SECRET });
  const endpoint = await transport.attach("srv", { listen: "127.0.0.1:0" });
  new RpcNode(endpoint).handle({ SYS_PING: ({ data }) => ({ data }) });
  console.log(endpoint.addresses.tcp);
  // Stay up until the parent closes our standard input.
  for await (const _ of Deno.stdin.readable) { /* wait */ }
  await transport.close();
}

if (import.meta.main) {
  Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
  const mode = Deno.args[0];
  if (mode === "echo-server") await echoServer();
  else if (mode === "rpc-server") await rpcServer();
  else {
    console.error(`tcp_bench: unknown mode ${JSON.stringify(mode)} (echo-server or rpc-server)`);
    Deno.exit(2);
  }
}
