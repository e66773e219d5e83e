import assert from "node:assert/strict";
import { startCluster } from "../../../mod.ts";
import type { ClusterConfigInput } from "../../../kernel/config.ts";

const quiet = { log: () => {} };
const config = (processorOptions: Record<string, unknown> = {}): ClusterConfigInput => ({
  name: "sandbox",
  components: [
    { id: "gm", role: "manager" },
    { id: "p0", role: "processor", options: { cacheBytes: 65536, ...processorOptions } },
    { id: "m0", role: "memory" },
    { id: "s0", role: "storage" },
  ],
});
const dataModule = (source: string) => `data:application/javascript,${encodeURIComponent(source)}`;

Deno.test("a data: workload that writes a host file is refused by the sandbox", async () => {
  const dir = await Deno.makeTempDir({ prefix: "legoemu-sandbox-" });
  const target = `${dir}/written-by-workload`;
  const cluster = await startCluster(config(), quiet);
  try {
    const attempts = [
      `Deno.writeTextFileSync(${JSON.stringify(target)}, "pwned")`,
      `new Deno.Command("touch", { args: [${JSON.stringify(target)}] }).outputSync()`,
      `Deno.env.get("HOME")`,
      `await fetch("http://127.0.0.1:8080/")`,
    ];
    for (const attempt of attempts) {
      const result = await cluster.run(
        dataModule(`export async function main() { ${attempt}; return 0; }`),
      );
      assert.equal(result.exitCode, 1, attempt);
      assert.match(result.error ?? "", /NotCapable|Requires \w+ access/, attempt);
    }
    await assert.rejects(Deno.stat(target), Deno.errors.NotFound);
    // The process API still works inside the sandbox: memory and files go by message.
    const ok = await cluster.run(
      new URL("../../../examples/workloads/demo.ts", import.meta.url).href,
      ["1"],
    );
    assert.equal(ok.exitCode, 0, ok.error);
  } finally {
    await cluster.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a sandboxed workload reads only its own module; `read` and `inherit` widen it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "legoemu-sandbox-" });
  const secret = `${dir}/secret.txt`;
  await Deno.writeTextFile(secret, "s3cret");
  const workload = `${dir}/reader.ts`;
  await Deno.writeTextFile(
    workload,
    `export function main() { return Deno.readTextFileSync(${
      JSON.stringify(secret)
    }) === "s3cret" ? 7 : 3; }`,
  );
  try {
    for (
      const [options, code] of [
        [{}, 1],
        [{ sandbox: { read: [secret] } }, 7],
        [{ sandbox: { inherit: true } }, 7],
      ] as const
    ) {
      const cluster = await startCluster(config(options), quiet);
      try {
        const result = await cluster.run(workload);
        assert.equal(result.exitCode, code, `${JSON.stringify(options)}: ${result.error}`);
      } finally {
        await cluster.stop();
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a load error names the failure, never the module's bytes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "legoemu-sandbox-" });
  const notCode = `${dir}/credentials`;
  await Deno.writeTextFile(notCode, "API_KEY=canary-7f3a91 not javascript at all\n");
  const cluster = await startCluster(config(), quiet);
  try {
    const env = Deno.env.toObject();
    const values = ["PATH", "HOME"].map((k) => env[k]).filter((v) => v && v.length > 3);
    for (const workload of [notCode, "/proc/self/environ"]) {
      const result = await cluster.run(workload);
      assert.equal(result.exitCode, 1);
      const error = result.error ?? "";
      assert.match(error, /cannot load workload .*: its source is not a valid module/, error);
      assert.ok(!error.includes("canary-7f3a91"), error);
      for (const value of values) assert.ok(!error.includes(value!), error);
    }
    for (
      const [workload, reason] of [
        [`${dir}`, /not a regular file/],
        [`${dir}/missing.ts`, /no such file/],
        ["http://127.0.0.1:1/w.ts", /scheme "http" is not allowed/],
      ]
    ) {
      const result = await cluster.run(workload as string);
      assert.equal(result.exitCode, 1);
      assert.match(result.error ?? "", reason as RegExp);
    }
  } finally {
    await cluster.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a workload over maxModuleBytes is refused before a thread starts", async () => {
  const cluster = await startCluster(config({ sandbox: { maxModuleBytes: 64 } }), quiet);
  try {
    const result = await cluster.run(
      dataModule(`export function main() { return 0; } // ${"x".repeat(100)}`),
    );
    assert.equal(result.exitCode, 1);
    assert.match(result.error ?? "", /over the limit of 64 \(maxModuleBytes\)/);
  } finally {
    await cluster.stop();
  }
});

Deno.test("a device file as a workload is refused; the processor survives (memory-limited child)", async () => {
  // The child runs a cluster and asks for /dev/zero, with its data segment capped at
  // 2 GiB: code that reads the device would die on the cap instead of filling the host.
  const script = new URL("./_device_workload.ts", import.meta.url).pathname;
  const out = await new Deno.Command("sh", {
    args: [
      "-c",
      `ulimit -d 2097152 && exec "$0" run -A --unstable-worker-options "$1"`,
      Deno.execPath(),
      script,
    ],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `child died (code ${out.code}): ${stderr.slice(-2000)}`);
  const report = JSON.parse(stdout.trim().split("\n").pop()!);
  assert.equal(report.device.exitCode, 1);
  assert.match(report.device.error, /\/dev\/zero: not a regular file/);
  assert.equal(report.after.exitCode, 0, "the processor still runs the next process");
});

Deno.test("without Deno's worker options a sandboxed process is refused, and the host process lives", async () => {
  const dir = await Deno.makeTempDir({ prefix: "legoemu-sandbox-" });
  const root = new URL("../../../", import.meta.url).pathname;
  try {
    await Deno.writeTextFile(
      `${dir}/script.ts`,
      `import { startCluster } from ${JSON.stringify(`${root}mod.ts`)};
const cluster = await startCluster(${
        JSON.stringify(`${root}examples/clusters/1p1m1s.memory.json`)
      }, { log: () => {} });
const result = await cluster.run(${JSON.stringify(`${root}examples/workloads/demo.ts`)}, ["1"]);
await cluster.stop();
console.log(JSON.stringify(result.error));
`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "script.ts"],
      cwd: dir,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.match(
      stdout,
      /workload sandbox needs Deno's worker options: run deno with --unstable-worker-options/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
