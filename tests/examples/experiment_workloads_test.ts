import assert from "node:assert/strict";
import { type ClusterConfigInput, startCluster } from "../../mod.ts";
import {
  CHUNK_BYTES,
  formatCounts,
  hostWordCount,
  outputPath,
  textBytesFor,
  textChunk,
} from "../../examples/workloads/wordcount.ts";
import { zipfian } from "../../examples/workloads/kv_zipf.ts";

const workload = (name: string) =>
  new URL(`../../examples/workloads/${name}`, import.meta.url).href;

function config(cacheBytes: number, root: string): ClusterConfigInput {
  return {
    components: [
      { id: "gm", role: "manager" },
      { id: "p0", role: "processor", options: { cacheBytes } },
      { id: "m0", role: "memory", options: { dramBytes: 256 * 2 ** 20 } },
      { id: "s0", role: "storage", options: { root } },
    ],
  };
}

async function run(name: string, args: string[], cacheBytes: number, root?: string) {
  const dir = root ?? await Deno.makeTempDir({ prefix: "legoemu-workload-" });
  const logs: string[] = [];
  const cluster = await startCluster(config(cacheBytes, dir), { log: (_c, m) => logs.push(m) });
  try {
    const result = await cluster.run(workload(name), args, { threads: 4 });
    return { result, logs, dir };
  } finally {
    await cluster.stop();
    if (!root) await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("cnn_train: 4 threads train the network and its loss falls", async () => {
  // 2 MiB of cache for ~9 MiB of data: lines travel to memory and back during training.
  const { result, logs } = await run(
    "cnn_train.ts",
    ["scale=0.01", "epochs=2", "seed=3"],
    2 * 2 ** 20,
  );
  assert.equal(result.exitCode, 0, `${result.error ?? ""}\n${logs.join("\n")}`);
  const line = logs.find((l) => l.includes("loss: first batch"));
  const [, first, last] = line!.match(/first batch ([\d.]+), last epoch ([\d.]+)/)!;
  assert.ok(Number(last) < 0.8 * Number(first), line);
  assert.equal(result.stats.threads, 1 + 3 * (1 + 2 * 4), "generate + 4 rounds x 2 epochs");
  assert.ok(result.stats.pagesFetched > 0, "the data should not fit the cache");
});

Deno.test("wordcount: the MapReduce count equals a plain count on the host", async () => {
  const root = await Deno.makeTempDir({ prefix: "legoemu-wordcount-" });
  try {
    const { result, logs } = await run("wordcount.ts", ["scale=0.002", "seed=5"], 1 << 20, root);
    assert.equal(result.exitCode, 0, `${result.error ?? ""}\n${logs.join("\n")}`);
    const bytes = textBytesFor(0.002);
    const counts = new Map<string, number>();
    for (let c = 0; c * CHUNK_BYTES < bytes; c++) hostWordCount(textChunk(5, c), counts);
    const got = await Deno.readTextFile(`${root}/${outputPath(5, bytes)}`);
    assert.equal(got, formatCounts(counts));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("kv_zipf: every loaded key is found under the zipfian mix", async () => {
  const { result, logs } = await run("kv_zipf.ts", ["scale=0.005", "read=0.5"], 1 << 20);
  assert.equal(result.exitCode, 0, `${result.error ?? ""}\n${logs.join("\n")}`);
  assert.ok(logs.some((l) => / 0 keys missing/.test(l)));
});

Deno.test("zipfian() is skewed: rank 0 is drawn far more often than the median rank", () => {
  let state = 1;
  const random = () => (state = (state * 48271) % 2147483647) / 2147483647;
  const next = zipfian(1000, 0.99, random);
  const hist = new Array(1000).fill(0);
  for (let i = 0; i < 20000; i++) hist[next()]++;
  assert.ok(hist[0] > 20 * Math.max(1, hist[500]), `${hist[0]} vs ${hist[500]}`);
});

Deno.test("cnn_train: a bad argument fails the process with a message naming it", async () => {
  for (
    const [args, message] of [
      [["epochs=-1"], /epochs must be an integer in 1\.\.1000, got -1/],
      [["epoch=2"], /unknown argument "epoch"/],
      [["epochs"], /not key=value/],
      [["lr=fast"], /lr must be a number/],
    ] as const
  ) {
    const { result } = await run("cnn_train.ts", [...args], 1 << 20);
    assert.equal(result.exitCode, 1);
    assert.match(result.error ?? "", message);
  }
});
