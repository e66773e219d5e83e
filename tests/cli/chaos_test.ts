import assert from "node:assert/strict";
import {
  type ChaosRow,
  ChaosUsageError,
  formatTable,
  parseChaosFlags,
  trialSeed,
} from "../../cli/chaos.ts";
import { ChaosLog, checkTrial, percentile, recovery } from "../../cli/chaos_check.ts";
import { killPoint, runTrial, scenarioUnavailable } from "../../cli/chaos_trial.ts";
import { startSupervisedCluster } from "../../cli/supervisor.ts";
import { connectClusterClient } from "../../cli/cluster_client.ts";
import { loadClusterConfig } from "../../kernel/config.ts";
import { KernelError } from "../../kernel/errors.ts";
import { createStockRegistry } from "../../plugins/stock.ts";
import { parseChaosWriterArgs } from "../../examples/workloads/chaos_writer.ts";

const root = new URL("../../", import.meta.url);
const entry = decodeURIComponent(new URL("mod.ts", root).pathname);
const chaosCli = decodeURIComponent(new URL("cli/chaos.ts", root).pathname);

Deno.test("chaos checker: an acknowledged write that reads back wrong, or is not read back, is lost", () => {
  const log = new ChaosLog();
  for (
    const line of [
      "[p0] [pid 1] CHAOS ack m 0 0 100 104",
      "[p0] [pid 1] CHAOS ack m 0 1 104 109",
      "[p0] [pid 1 thread 1] CHAOS ack f 1 0 100 120",
      "[p0] [pid 1 thread 1] CHAOS ack f 1 1 121 130",
      "[p0] [pid 1 thread 3] CHAOS ack f 3 0 100 101",
      "[p0] [pid 1] CHAOS readback m 0 1,7", // 7 was never acknowledged: not counted
      "[p0] [pid 1] CHAOS readback f 1 ",
    ]
  ) log.take(line);
  assert.equal(log.take("[m0] something else"), undefined);
  const verdict = checkTrial(log, new Set(["f:1:1"]), true);
  assert.equal(verdict.acknowledged, 5);
  // m:0:1 read back wrong, f:1:1 is wrong on the host; f:3:0 is intact on the host.
  assert.deepEqual(verdict.lostExamples.sort(), ["f:1:1", "m:0:1"]);
  assert.equal(verdict.lost, 2);
  assert.equal(verdict.unverified, 0);
  // Without the host's copy, f:3:0 was read back by nobody.
  const alone = checkTrial(log, new Set(), false);
  assert.equal(alone.lost, 1);
  assert.equal(alone.unverified, 1);
  assert.match(alone.unverifiedWhy ?? "", /no read-back of f:3/);

  // Recovery: the first write that began once the victim was gone.
  assert.deepEqual(recovery(log, "f", 110, 115), { ms: 20, write: "f:1:1" });
  assert.equal(recovery(log, "m", 200, 200), undefined);
  assert.equal(percentile([5, 1, 4, 2, 3], 50), 3);
  assert.equal(percentile([5, 1, 4, 2, 3], 99), 5);

  const garbled = new ChaosLog();
  garbled.take("CHAOS ack m x 1 2 3");
  assert.equal(garbled.acks.size, 0);
  assert.equal(garbled.garbled.length, 1);
});

Deno.test("chaos flags: defaults, one seed derives every trial's seed, bad flags are named", () => {
  const flags = parseChaosFlags([]);
  assert.notEqual(flags, "help");
  if (flags === "help") return;
  assert.deepEqual(flags.scenarios, ["memory", "storage", "manager"]);
  assert.equal(flags.out, "results/chaos.json");
  assert.equal(flags.seed, 1);
  assert.equal(parseChaosFlags(["--help"]), "help");
  assert.equal(trialSeed(5, 1, 2), trialSeed(5, 1, 2));
  assert.notEqual(trialSeed(5, 1, 2), trialSeed(6, 1, 2));
  for (let trial = 0; trial < 50; trial++) {
    const k = killPoint(trialSeed(1, 0, trial), 800);
    assert.ok(k >= 80 && k < 480, `kill point ${k} within 10-60 % of 800`);
  }
  for (
    const [args, message] of [
      [["--trials", "0"], /--trials must be an integer in 1\.\.100000, got "0"/],
      [["--trials", "many"], /--trials must be an integer/],
      [["--seed", "4294967296"], /--seed must be an integer in 0\.\.4294967295/],
      [["--scenarios", "memory,disk"], /unknown scenario "disk"/],
      [["--bogus"], /Unknown option '--bogus'/],
      [["extra"], /Unexpected argument 'extra'/],
      [["--out", ""], /--out needs a file name/],
    ] as const
  ) {
    assert.throws(() => parseChaosFlags(args), (e) => {
      assert.ok(e instanceof ChaosUsageError, String(e));
      assert.match(e.message, message);
      return true;
    });
  }
  assert.throws(() => parseChaosWriterArgs(["records=0"]), /records must be an integer/);
  assert.throws(() => parseChaosWriterArgs(["corrupt=1:0"]), /an even thread/);
  assert.throws(() => parseChaosWriterArgs(["speed=9"]), /unknown argument "speed=9"/);

  const rows: ChaosRow[] = [{
    scenario: "storage",
    trials: 2,
    acknowledgedWrites: 800,
    lostWrites: 0,
    unverifiedWrites: 0,
    recoveryMsP50: 300,
    recoveryMsP99: 420,
    failedTrials: 0,
    restartMsP50: 250,
    restartMsP99: 380,
    seed: 1,
    recordsPerThread: 200,
  }];
  assert.match(formatTable(rows), /^storage\s+2\s+800\s+0\s+300\s+420\s+0\s+0\s+250\s+380$/m);
});

Deno.test("deno task chaos: a short run of every scenario over real processes loses no acknowledged write", async () => {
  const dir = await Deno.makeTempDir({ prefix: "legoemu-chaos-test-" });
  try {
    const out = `${dir}/chaos.json`;
    const bad = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", chaosCli, "--trials", "zero"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(bad.code, 2);
    assert.match(new TextDecoder().decode(bad.stderr), /^chaos: --trials must be an integer/);

    const run = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        chaosCli,
        "--trials",
        "1",
        "--records",
        "40",
        "--seed",
        "7",
        "--out",
        out,
      ],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const text = new TextDecoder().decode(run.stdout);
    const errors = new TextDecoder().decode(run.stderr);
    assert.equal(run.code, 0, `${text}\n${errors}`);
    assert.match(text, /^chaos: seed 7, 1 trial\(s\) per scenario/m);
    const rows = JSON.parse(await Deno.readTextFile(out)) as ChaosRow[];
    assert.deepEqual(rows.map((r) => r.scenario), ["memory", "storage", "manager"]);
    for (const row of rows) {
      assert.equal(row.seed, 7);
      if (row.skipped) {
        // Only the memory scenario may be missing, and only while replication is absent.
        assert.equal(row.scenario, "memory");
        assert.ok(scenarioUnavailable("memory", createStockRegistry()));
        console.log(`chaos_test: memory scenario SKIPPED: ${row.skipped}`);
        continue;
      }
      assert.equal(row.trials, 1);
      assert.equal(row.failedTrials, 0, text);
      assert.equal(row.lostWrites, 0, text);
      assert.equal(row.unverifiedWrites, 0, text);
      // 4 threads x 40 records, each acknowledged after its retries.
      assert.equal(row.acknowledgedWrites, 160, text);
      assert.ok(typeof row.recoveryMsP50 === "number" && row.recoveryMsP50 > 0, text);
      assert.ok(row.recoveryMsP99! >= row.recoveryMsP50!);
      assert.match(text, new RegExp(`^chaos: ${row.scenario} 1/1 seed \\d+: SIGKILL`, "m"));
    }
    assert.match(text, /^scenario\s+trials\s+acknowledged writes\s+lost writes/m);

    // --merge keeps only rows of the same run: another seed is refused before any trial.
    const other = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", chaosCli, "--merge", "--scenarios", "storage", "--trials", "1"]
        .concat(["--records", "40", "--seed", "8", "--out", out]),
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(other.code, 2);
    assert.match(
      new TextDecoder().decode(other.stderr),
      /--merge: .* has memory from another run \(seed 7, 1 trials, 40 records\)/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("chaos checker is proven to check: a corrupted memory page and file record count as lost", async () => {
  const result = await runTrial({
    scenario: "storage",
    seed: 11,
    records: 24,
    entry,
    registry: createStockRegistry(),
    hooks: {
      noKill: true,
      corruptMemory: { thread: 2, seq: 5 },
      corruptFile: { thread: 1, seq: 17 },
    },
  });
  assert.equal(result.failure, undefined);
  assert.equal(result.verdict.acknowledged, 96);
  assert.deepEqual(result.verdict.lostExamples.sort(), ["f:1:17", "m:2:5"]);
  assert.equal(result.verdict.lost, 2);
  assert.equal(result.verdict.unverified, 0);
});

Deno.test("supervisor: a killed component restarts under the same id and address, and re-joins", async () => {
  const dir = await Deno.makeTempDir({ prefix: "legoemu-restart-" });
  const configFile = `${dir}/cluster.json`;
  const secretFile = `${dir}/cluster.secret`;
  await Deno.writeTextFile(secretFile, "0123456789abcdef0123456789abcdef\n", { mode: 0o600 });
  await Deno.writeTextFile(
    configFile,
    JSON.stringify({
      name: "restart",
      transport: { plugin: "tcp" },
      components: [
        { id: "gm", role: "manager", address: "127.0.0.1:0", options: { heartbeatMs: 100 } },
        { id: "p0", role: "processor", address: "127.0.0.1:0" },
        { id: "m0", role: "memory", address: "127.0.0.1:0" },
        { id: "s0", role: "storage", address: "127.0.0.1:0", options: { root: `${dir}/s0` } },
      ],
    }),
  );
  const registry = createStockRegistry();
  const lines: string[] = [];
  const cluster = await startSupervisedCluster({
    config: await loadClusterConfig(configFile, registry),
    configFile,
    entry,
    secretFile,
    out: (line) => lines.push(line),
    err: (line) => lines.push(line),
  });
  try {
    const before = cluster.components.find((c) => c.id === "s0")!;
    await assert.rejects(
      cluster.restart("s0"),
      (e) => e instanceof KernelError && e.code === "EBUSY",
    );
    await assert.rejects(
      cluster.restart("zz"),
      (e) => e instanceof KernelError && e.code === "ENOENT",
    );
    assert.equal(await cluster.kill("s0", "SIGKILL"), "signal SIGKILL");
    await assert.rejects(
      cluster.kill("s0", "SIGKILL"),
      (e) => e instanceof KernelError && e.code === "ESRCH",
    );
    assert.equal(cluster.dead.get("s0"), "signal SIGKILL");
    const after = await cluster.restart("s0");
    assert.notEqual(after.pid, before.pid);
    assert.deepEqual(after.addresses, before.addresses);
    assert.equal(cluster.components.find((c) => c.id === "s0")!.pid, after.pid);
    assert.equal(cluster.dead.has("s0"), false);
    assert.ok(
      lines.some((l) => /^legoemu: s0 restarted \(pid \d+, on 127\.0\.0\.1:\d+\)$/.test(l)),
    );

    // The manager too: restarted on its address, it learns the cluster again.
    assert.equal(await cluster.kill("gm", "SIGKILL"), "signal SIGKILL");
    await cluster.restart("gm");
    const client = await connectClusterClient({
      registry,
      manager: { id: "gm", address: cluster.manager.split("@")[1] },
      secretFile,
    });
    try {
      const deadline = Date.now() + 20_000;
      const up = async () =>
        (await client.snapshot()).components.filter((c) => c.state === "up").map((c) => c.id)
          .sort().join(" ");
      while (await up() !== "gm m0 p0 s0") {
        assert.ok(Date.now() < deadline, "every component re-joined the restarted manager");
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      await client.close();
    }
  } finally {
    await cluster.stop();
    await Deno.remove(dir, { recursive: true });
  }
  assert.equal(await cluster.done, 1, "the exit status still tells a component died");
});
