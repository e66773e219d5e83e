/**
 * SIGKILL a PMEM memory component — a real OS process, reached over TCP — right after it
 * acknowledged writes, with more writes in flight; restart it on the same file and read
 * everything back: every acknowledged write is there, and every write that was not
 * acknowledged is there whole or not at all (never torn). Each round has its own seed
 * (printed on failure); rounds: `LEGOEMU_PMEM_CRASH_ROUNDS` (default 4; `deno task
 * crash:pmem` runs 40).
 */

import assert from "node:assert/strict";
import { startComponentProcess } from "../../../kernel/component_process.ts";
import type { LatencyModel } from "../../../kernel/latency.ts";
import { PAGE_SIZE } from "../../../kernel/messages.ts";
import { mulberry32 } from "../../../kernel/prng.ts";
import { RpcNode } from "../../../kernel/rpc.ts";
import { type PersistPath, PmemClient } from "../../../monitors/memory/pmem_paths.ts";
import { createStockRegistry } from "../../../plugins/stock.ts";
import { createTcpTransport } from "../../../transports/tcp/mod.ts";
import { within } from "../../within.ts";

const entry = decodeURIComponent(new URL("../../../mod.ts", import.meta.url).pathname);
const ROUNDS = Number(Deno.env.get("LEGOEMU_PMEM_CRASH_ROUNDS") ?? 4);
const PID = 3;
const BASE = 0x40000000;
const PAGES = 2048; // 8 MiB of address space, each write to bytes never written before
const SIZES = [16, 64, 256, 1024, 4096];

/** `legoemu component ...` in its own process; resolves once it printed its "up" line. */
async function spawnMemory(args: string[]) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", entry, "component", ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/ up on \S+/.test(text)) {
    const { value, done } = await lines.read();
    if (done) throw new Error(`memory component exited: ${text}\n${await stderr}`);
    text += value;
  }
  const drained = (async () => {
    while (!(await lines.read()).done) { /* keep the pipe flowing */ }
  })();
  return {
    child,
    startup: text,
    kill: async () => {
      try {
        child.kill("SIGKILL");
      } catch { /* exited */ }
      await child.status;
      await drained;
      await stderr;
    },
  };
}

interface Write {
  vaddr: number;
  data: Uint8Array;
  acked: boolean;
}

Deno.test("SIGKILL of a PMEM memory component loses no acknowledged write and tears none", async () => {
  const dir = await Deno.makeTempDir({ prefix: "legoemu-pmem-crash-" });
  const secretFile = `${dir}/cluster.secret`;
  await Deno.writeTextFile(secretFile, "0123456789abcdef0123456789abcdef\n", { mode: 0o600 });
  const registry = createStockRegistry();
  const gm = await startComponentProcess(
    {
      cluster: "pmem-crash",
      component: {
        id: "gm",
        role: "manager",
        kind: "manager-monitor",
        plugin: "manager",
        options: registry.parseOptions("manager-monitor", "manager", {}, "options"),
      },
      transport: { kind: "transport", plugin: "tcp", options: { pingIntervalMs: 0 } },
      latencyModel: { kind: "latency-model", plugin: "legoos-ib", options: {} },
      manager: { id: "gm" },
      listen: "127.0.0.1:0",
      secretFile,
    },
    registry,
    () => {},
  );
  const model = await registry.create<LatencyModel>("latency-model", "legoos-ib", {}, {});
  const pmem = JSON.stringify({ pmem: { path: `${dir}/m0.pmem`, bytes: 32 << 20 } });
  const args = [
    "--role",
    "memory",
    "--id",
    "m0",
    "--manager",
    `gm@${gm.addresses.tcp}`,
    "--secret-file",
    secretFile,
    "--listen",
    "127.0.0.1:0",
    "--options",
    pmem,
  ];
  const writes: Write[] = [];
  let inFlightAtKills = 0;
  let unackedBack = 0;
  let nextPage = 0;
  let offsetInPage = 0;
  const connect = async (round: number) => {
    const transport = createTcpTransport({ log: () => {}, reconnectTimeoutMs: 300, secretFile });
    const endpoint = await transport.attach(`p${round}`, {
      listen: null,
      manager: { id: "gm", address: gm.addresses.tcp },
    });
    const rpc = new RpcNode(endpoint);
    return { transport, endpoint, rpc };
  };
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const seed = 0x5eed0000 + round;
      const random = mulberry32(seed);
      const m0 = await spawnMemory(args);
      const { transport, endpoint, rpc } = await connect(round);
      try {
        // Everything acknowledged before is back; nothing unacknowledged is torn.
        for (const w of writes) {
          const pageAddr = w.vaddr - (w.vaddr % PAGE_SIZE);
          const { page } = await rpc.call("m0", "P2M_PAGE_FETCH", { pid: PID, vaddr: pageAddr });
          const got = page.subarray(w.vaddr - pageAddr, w.vaddr - pageAddr + w.data.length);
          const whole = got.every((b, i) => b === w.data[i]);
          const none = got.every((b) => b === 0);
          const where = `seed 0x${seed.toString(16)}: write of ${w.data.length} B at 0x${
            w.vaddr.toString(16)
          }`;
          if (w.acked) assert.ok(whole, `${where} was acknowledged but is not back`);
          else assert.ok(whole || none, `${where} was not acknowledged and came back torn`);
          if (!w.acked && whole) unackedBack++;
          w.acked ||= whole; // it is durable now: it must stay
        }
        if (round === 0) {
          await rpc.call("m0", "M2M_VMA_SET", {
            pid: PID,
            home: "p0",
            start: BASE,
            end: BASE + PAGES * PAGE_SIZE,
            discard: true,
            vmas: [{
              start: BASE,
              end: BASE + PAGES * PAGE_SIZE,
              prot: 3,
              shared: false,
              path: "",
              offset: 0,
            }],
          });
        }
        if (round === ROUNDS - 1) break;
        const client = await PmemClient.connect({ rpc, endpoint, target: "m0", model });
        // Writes in flight all the time; kill right after the k-th acknowledgment.
        const killAfter = 5 + Math.floor(random() * 40);
        let acked = 0;
        let killed: Promise<void> | undefined;
        const inflight = new Set<Promise<unknown>>();
        for (let i = 0; killed === undefined && i < 400; i++) {
          const size = SIZES[Math.floor(random() * SIZES.length)];
          if (offsetInPage + size > PAGE_SIZE) {
            nextPage++;
            offsetInPage = 0;
          }
          assert.ok(nextPage < PAGES, "address space left for the writes");
          const vaddr = BASE + nextPage * PAGE_SIZE + offsetInPage;
          offsetInPage += size;
          const data = new Uint8Array(size);
          for (let b = 0; b < size; b++) data[b] = 1 + Math.floor(random() * 255);
          const w: Write = { vaddr, data, acked: false };
          writes.push(w);
          const path = ([1, 3, 4] as PersistPath[])[Math.floor(random() * 3)];
          const p = client.write(path, {
            pid: PID,
            vaddr,
            data,
            windowOffset: (i % 200) * PAGE_SIZE,
          })
            .then(() => {
              w.acked = true;
              if (++acked === killAfter) {
                inFlightAtKills += inflight.size - 1;
                killed = m0.kill();
              }
            }, () => {/* in flight at the kill */});
          inflight.add(p);
          p.finally(() => inflight.delete(p));
          if (inflight.size >= 16) await Promise.race(inflight);
        }
        await within(killed ?? m0.kill(), 10_000, "the kill");
        await within(Promise.allSettled(inflight), 10_000, "writes in flight at the kill");
      } finally {
        await rpc.close();
        await transport.close();
        await m0.kill();
      }
    }
    const acked = writes.filter((w) => w.acked).length;
    assert.ok(acked > ROUNDS, "writes were acknowledged");
    assert.ok(inFlightAtKills > 0, "some writes were in flight at the kills");
    console.log(
      `${ROUNDS - 1} kills: ${writes.length} writes, ${inFlightAtKills} in flight at the kills, ` +
        `${unackedBack} of those came back whole, the rest not at all; ${acked} durable`,
    );
  } finally {
    await gm.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
