/**
 * `deno task study` in its quick form (what CI runs): both studies write their JSON and
 * SVG, every row carries model and wall time, and bad arguments get a clear error.
 */

import assert from "node:assert/strict";
import { studyMain } from "../../cli/study.ts";

async function quiet<T>(body: () => Promise<T>): Promise<{ result: T; out: string; err: string }> {
  const log = console.log;
  const error = console.error;
  let out = "";
  let err = "";
  console.log = (...a: unknown[]) => void (out += a.join(" ") + "\n");
  console.error = (...a: unknown[]) => void (err += a.join(" ") + "\n");
  try {
    return { result: await body(), out, err };
  } finally {
    console.log = log;
    console.error = error;
  }
}

Deno.test("study pmem --quick writes pmem.json and pmem.svg with model and wall time per row", async () => {
  const dir = await Deno.makeTempDir({ prefix: "legoemu-study-" });
  try {
    const { result, out, err } = await quiet(() => studyMain(["pmem", "--quick", "--out", dir]));
    assert.equal(result, 0, err);
    assert.match(out, /run on the memory transport/);
    assert.match(out, /\| 2 write\+read \| 16 B \| \d+\.\d\d \| not durable \| \d+\.\d \|/);
    assert.match(out, /\| 1 rpc \| 4096 B \| (\d+\.\d\d) \| \1 \| \d+\.\d \|/);
    assert.match(err, /\[study pmem [\d.]+ s\] latency 1\/12/, "progress lines");
    const json = JSON.parse(await Deno.readTextFile(`${dir}/pmem.json`));
    assert.equal(json.transport, "memory");
    assert.equal(json.latency.length, 2 * 4 * 3);
    for (const row of json.latency) {
      assert.ok(row.modelUs > 0);
      if (row.valid) assert.ok(row.wallUs > 0, JSON.stringify(row));
    }
    assert.ok(json.throughput.every((r: { wallPerSecond: number }) => r.wallPerSecond > 0));
    assert.ok(json.host.durable4KiBMedianUs > 0);
    assert.ok(json.headline.onesidedFlushVsRpc64B > 0 && json.headline.onesidedFlushVsRpc64B < 2);
    const svg = await Deno.readTextFile(`${dir}/pmem.svg`);
    assert.match(svg, /^<svg[^>]+xmlns/);
    assert.match(svg, /Model latency, DDIO off/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("study rpc --quick writes rpc.json and rpc.svg from the model and both transports", async () => {
  const dir = await Deno.makeTempDir({ prefix: "legoemu-study-" });
  try {
    const { result, err } = await quiet(() => studyMain(["rpc", "--quick", "--out", dir]));
    assert.equal(result, 0, err);
    const json = JSON.parse(await Deno.readTextFile(`${dir}/rpc.json`));
    const rows = json.rows as {
      peers: number;
      connected: { bufferBytes: number };
      connectionless: { bufferBytes: number };
      measured: { tcp?: { connections: number } };
    }[];
    assert.deepEqual([...new Set(rows.map((r) => r.peers))], [2, 16, 64]);
    // Connected receive buffers grow with the peers; the shared queue does not.
    const small = rows.filter((r) => r.peers === 2)[0];
    const big = rows.filter((r) => r.peers === 64)[0];
    assert.equal(big.connected.bufferBytes, 32 * small.connected.bufferBytes);
    assert.equal(big.connectionless.bufferBytes, small.connectionless.bufferBytes);
    assert.equal(big.measured.tcp?.connections, 64, "TCP holds one connection per peer");
    assert.match(await Deno.readTextFile(`${dir}/rpc.svg`), /Receive-buffer memory per server/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("study refuses an unknown study or flag with a usage line", async () => {
  for (
    const args of [["nope"], ["pmem", "--bogus"], ["pmem", "--transport", "carrier-pigeon"], []]
  ) {
    const { result, err } = await quiet(() => studyMain(args));
    assert.equal(result, 2, args.join(" "));
    assert.match(err, /usage: deno task study <pmem\|rpc>/);
  }
});
