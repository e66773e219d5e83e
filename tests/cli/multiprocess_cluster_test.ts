import assert from "node:assert/strict";
import { connectClusterClient } from "../../cli/cluster_client.ts";
import { createStockRegistry, startCluster } from "../../mod.ts";
import { captureCli } from "./_cli.ts";

const root = new URL("../../", import.meta.url);
const path = (relative: string) => decodeURIComponent(new URL(relative, root).pathname);
const demoWorkload = new URL("examples/workloads/demo.ts", root).href;
const entry = path("mod.ts");

/** A running `legoemu cluster` child whose output lines are collected. */
class ClusterProcess {
  readonly child: Deno.ChildProcess;
  readonly lines: string[] = [];
  readonly pumps: Promise<void>;
  #waiters: (() => void)[] = [];

  constructor(args: string[]) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", entry, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    this.pumps = Promise.all([this.#pump(this.child.stdout), this.#pump(this.child.stderr)])
      .then(() => {});
  }

  async #pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    let pending = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      pending += chunk;
      const parts = pending.split("\n");
      pending = parts.pop()!;
      this.lines.push(...parts);
      for (const wake of this.#waiters.splice(0)) wake();
    }
    if (pending) this.lines.push(pending);
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /** The first output line matching `pattern`, waiting up to `ms` for it. */
  async waitFor(pattern: RegExp, ms = 30_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + ms;
    while (true) {
      for (const line of this.lines) {
        const match = line.match(pattern);
        if (match) return match;
      }
      if (Date.now() > deadline) {
        throw new Error(
          `no line matching ${pattern} within ${ms} ms; output:\n${this.lines.join("\n")}`,
        );
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.#waiters.push(resolve)),
        new Promise((resolve) => (timer = setTimeout(resolve, 100))),
      ]);
      clearTimeout(timer);
    }
  }

  /** The component pids from the "up" line. */
  pids(): Map<string, number> {
    const up = this.lines.find((l) => l.includes("one process per component")) ?? "";
    return new Map([...up.matchAll(/(\w+) \(\w+, pid (\d+)/g)].map((m) => [m[1], Number(m[2])]));
  }

  /** Kills the supervisor and every component still alive, then waits for the pipes. */
  async kill(): Promise<void> {
    for (const pid of this.pids().values()) killQuietly(pid, "SIGKILL");
    try {
      this.child.kill("SIGKILL");
    } catch { /* exited */ }
    await this.child.status;
    await this.pumps;
  }
}

function killQuietly(pid: number, signal: Deno.Signal): boolean {
  try {
    Deno.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Whether process `pid` is gone (SIGCONT is harmless to a live one). */
async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 200; i++) {
    if (!killQuietly(pid, "SIGCONT")) return true;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return false;
}

/** Writes a cluster config for `transport` into `dir`, storage rooted at `dir/<storageDir>`. */
async function writeConfig(
  dir: string,
  name: string,
  transport: string,
  components: Record<string, unknown>[],
): Promise<string> {
  const file = `${dir}/${name}.json`;
  await Deno.writeTextFile(
    file,
    JSON.stringify({ name, transport: { plugin: transport }, components }, null, 2),
  );
  return file;
}

const COUNTERS = [
  "hits",
  "misses",
  "evictions",
  "dirtyFlushes",
  "piggybacked",
  "pLocalZeroFills",
  "pagesFetched",
  "bytesIn",
  "bytesOut",
  "messages",
];

function counters(stats: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(COUNTERS.filter((k) => k in stats).map((k) => [k, stats[k]]));
}

/** Waits until `legoemu status` shows component `id` in `state`. */
async function waitForState(manager: string, secretFile: string, id: string, state: string) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const status = await cli("status", "--manager", manager, "--secret-file", secretFile);
    assert.equal(status.code, 0, status.err);
    if (new RegExp(`^${id}\\s+\\w+\\s+${state}`, "m").test(status.out)) return;
    if (Date.now() > deadline) assert.fail(`${id} is not ${state} after 30 s:\n${status.out}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Runs the CLI in this process, capturing its output. */
const cli = (...args: string[]) => captureCli(args, { entry });

Deno.test("the demo gives the same results in one process and over TCP with one OS process per component", async () => {
  const dir = await Deno.makeTempDir({ prefix: "legoemu-mp-" });
  const components = (storageRoot: string, address?: string) => [
    { id: "gm", role: "manager", ...(address ? { address } : {}) },
    { id: "p0", role: "processor", options: { cacheBytes: 1048576 } },
    { id: "m0", role: "memory", options: { dramBytes: 67108864 } },
    { id: "s0", role: "storage", options: { root: `${dir}/${storageRoot}` } },
  ];
  const memoryConfig = await writeConfig(dir, "mem", "memory", components("s0-mem"));
  const tcpConfig = await writeConfig(dir, "tcp", "tcp", components("s0-tcp", "127.0.0.1:0"));
  const cluster = new ClusterProcess(["cluster", tcpConfig]);
  try {
    // One process, in-memory transport.
    const local = await startCluster(memoryConfig, { log: () => {} });
    const inMemory = await local.run(demoWorkload, ["2"]).finally(() => local.stop());
    assert.equal(inMemory.exitCode, 0, inMemory.error);

    // One OS process per component, over TCP on 127.0.0.1.
    const [, manager, secretFile] = await cluster.waitFor(
      /^legoemu: manager (\S+); cluster secret in (\S+)/,
    );
    const client = await connectClusterClient({
      registry: createStockRegistry(),
      manager: { id: "gm", address: manager.split("@")[1] },
      secretFile,
    });
    let overTcp;
    try {
      overTcp = await client.spawn(demoWorkload, ["2"]);
    } finally {
      await client.close();
    }
    assert.equal(overTcp.exitCode, 0, overTcp.error);
    // The workload checks every page it wrote (memory contents): exit code 0 both times.
    assert.ok((inMemory.stats.misses ?? 0) > 0 && (inMemory.stats.hits ?? 0) > 0);
    assert.deepEqual(counters(overTcp.stats as Record<string, unknown>), counters(inMemory.stats));
    const fileMem = await Deno.readTextFile(`${dir}/s0-mem/demo.txt`);
    const fileTcp = await Deno.readTextFile(`${dir}/s0-tcp/demo.txt`);
    assert.match(fileMem, /legoemu demo: 2 MiB touched/);
    assert.equal(fileTcp, fileMem);

    // The same cluster through the command line.
    const status = await cli("status", "--manager", manager, "--secret-file", secretFile);
    assert.equal(status.code, 0, status.err);
    for (const id of ["gm", "p0", "m0", "s0"]) {
      assert.match(status.out, new RegExp(`^${id}\\s+\\w+\\s+up`, "m"));
    }
    const ps = await cli("ps", "--all", "--manager", manager, "--secret-file", secretFile);
    assert.equal(ps.code, 0, ps.err);
    assert.match(ps.out, /^1\s+exited\s+p0\s+m0\s+1\s/m);
    const top = await cli(
      "top",
      "--count",
      "2",
      "--interval-ms",
      "20",
      "--manager",
      manager,
      "--secret-file",
      secretFile,
    );
    assert.equal(top.code, 0, top.err);
    assert.equal(top.out.match(/^legoemu top/gm)?.length, 2);
    const run = await cli(
      "run",
      path("examples/workloads/demo.ts"),
      "1",
      "--manager",
      manager,
      "--secret-file",
      secretFile,
    );
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /exit code\s+0/);
    assert.match(run.out, /components\s+gm:manager m0:memory p0:processor s0:storage/);

    const wrongSecret = `${dir}/wrong.secret`;
    await Deno.writeTextFile(wrongSecret, "this is not the cluster's secret\n", { mode: 0o600 });
    const refused = await cli("status", "--manager", manager, "--secret-file", wrongSecret);
    assert.equal(refused.code, 1);
    assert.match(refused.err, /^legoemu: cannot reach gm: .*cluster secret/);
    assert.equal(refused.err.split("\n").length, 1, "one line");

    // A component killed outright is reported, and the others keep serving (issue 18).
    const pids = cluster.pids();
    assert.deepEqual([...pids.keys()].sort(), ["gm", "m0", "p0", "s0"]);
    Deno.kill(pids.get("m0")!, "SIGKILL");
    await cluster.waitFor(/m0 died unexpectedly \(signal SIGKILL\); the others keep serving/);
    await waitForState(manager, secretFile, "m0", "down");
    for (const id of ["gm", "p0", "s0"]) {
      assert.ok(killQuietly(pids.get(id)!, "SIGCONT"), `${id} still runs`);
    }
    cluster.child.kill("SIGINT");
    assert.equal((await cluster.child.status).code, 1, "the exit status tells a component died");
    await cluster.pumps;
    for (const [id, pid] of pids) assert.ok(await gone(pid), `${id} (pid ${pid}) was stopped`);
  } finally {
    await cluster.kill();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("2 processors / 2 memory / 1 storage over TCP run workloads side by side, survive a memory component's death; SIGINT stops every process", async () => {
  const dir = await Deno.makeTempDir({ prefix: "legoemu-mp-" });
  const example = JSON.parse(await Deno.readTextFile(path("examples/clusters/2p2m1s.tcp.json")));
  // The example's fixed ports, moved to free ones so tests never collide.
  for (const c of example.components) c.address = "127.0.0.1:0";
  example.components.find((c: { id: string }) => c.id === "s0").options = { root: `${dir}/s0` };
  delete example.$schema;
  const config = `${dir}/2p2m1s.json`;
  await Deno.writeTextFile(config, JSON.stringify(example));
  const cluster = new ClusterProcess(["cluster", config]);
  try {
    const [, manager, secretFile] = await cluster.waitFor(
      /^legoemu: manager (\S+); cluster secret in (\S+)/,
    );
    const client = await connectClusterClient({
      registry: createStockRegistry(),
      manager: { id: "gm", address: manager.split("@")[1] },
      secretFile,
    });
    try {
      const [a, b] = await Promise.all([
        client.spawn(demoWorkload, ["3"]),
        client.spawn(demoWorkload, ["3"]),
      ]);
      assert.equal(a.exitCode, 0, a.error);
      assert.equal(b.exitCode, 0, b.error);
      assert.deepEqual([a.processor, b.processor].sort(), ["p0", "p1"]);
      assert.deepEqual([a.home, b.home].sort(), ["m0", "m1"], "one home on each memory component");
      const snapshot = await client.snapshot();
      assert.deepEqual(
        snapshot.processes.map((p) => [p.pid, p.state, p.exitCode]),
        [[1, "exited", 0], [2, "exited", 0]],
      );

      // A memory component dies: it is reported and the rest of the cluster keeps serving.
      Deno.kill(cluster.pids().get("m1")!, "SIGKILL");
      await cluster.waitFor(/m1 died unexpectedly \(signal SIGKILL\); the others keep serving/);
      await waitForState(manager, secretFile, "m1", "down");
      const after = await client.spawn(demoWorkload, ["2"]);
      assert.equal(after.exitCode, 0, after.error);
      assert.equal(after.home, "m0", "placed on the memory component still up");
    } finally {
      await client.close();
    }
    const pids = cluster.pids();
    assert.equal(pids.size, 6);
    cluster.child.kill("SIGINT");
    const status = await cluster.child.status;
    assert.equal(status.code, 1, "the exit status tells a component died");
    await cluster.pumps;
    assert.ok(
      cluster.lines.some((l) => l === "legoemu: cluster stopped"),
      cluster.lines.join("\n"),
    );
    for (const [id, pid] of pids) assert.ok(await gone(pid), `${id} (pid ${pid}) was stopped`);
  } finally {
    await cluster.kill();
    await Deno.remove(dir, { recursive: true });
  }
});
