import assert from "node:assert/strict";
import { formatProcesses, formatStatus, formatTop } from "../../cli/views.ts";
import { parseManagerAddress } from "../../cli/cluster_client.ts";
import type { ClusterSnapshot, ComponentStatus } from "../../monitors/manager/cluster_state.ts";
import { formatReadyLine, parseReadyLine } from "../../cli/supervisor.ts";
import { createStockRegistry, formatRunSummary, runCli } from "../../mod.ts";

const root = new URL("../../", import.meta.url);
const path = (relative: string) => decodeURIComponent(new URL(relative, root).pathname);

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, {
    registry: createStockRegistry(),
    demo: { config: path("examples/clusters/1p1m1s.memory.json"), workload: "" },
    entry: path("mod.ts"),
    out: (line) => out.push(line),
    err: (line) => err.push(line),
  });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

Deno.test("every command answers --help with exit code 0", async () => {
  for (const command of ["demo", "cluster", "component", "run", "status", "ps", "top", "plugins"]) {
    const { code, out } = await cli(command, "--help");
    assert.equal(code, 0, command);
    assert.match(out, new RegExp(`legoemu ${command}`), command);
  }
  const { code, out } = await cli("help");
  assert.equal(code, 0);
  for (const command of ["component", "run", "status", "ps", "top"]) {
    assert.match(out, new RegExp(command));
  }
});

Deno.test("component usage errors exit 2 with one line naming the problem", async () => {
  const cases: [string[], RegExp][] = [
    [["component"], /component needs --id/],
    [["component", "--id", "Bad Id"], /--id: component id "Bad Id"/],
    [["component", "--id", "m0"], /component needs --role/],
    [
      ["component", "--id", "m0", "--role", "gpu"],
      /--role must be one of processor, memory, storage, manager/,
    ],
    [["component", "--id", "m0", "--role", "memory"], /component needs --manager \[id@\]host:port/],
    [
      ["component", "--id", "m0", "--role", "memory", "--manager", "nowhere"],
      /--manager: bad manager address "nowhere"/,
    ],
    [
      ["component", "--id", "gm", "--role", "manager", "--manager", "127.0.0.1:1"],
      /the manager takes no --manager/,
    ],
    [
      ["component", "--id", "m0", "--role", "memory", "--manager", "127.0.0.1:1", "--options", "{"],
      /--options is not JSON/,
    ],
    [[
      "component",
      "--id",
      "m0",
      "--role",
      "memory",
      "--manager",
      "127.0.0.1:1",
      "--options",
      '{"dramBytes":"lots"}',
    ], /--options\.dramBytes/],
    [[
      "component",
      "--id",
      "m0",
      "--role",
      "memory",
      "--manager",
      "127.0.0.1:1",
      "--transport",
      "memory",
    ], /cannot span processes/],
    [
      ["component", "--id", "m0", "--config", path("examples/clusters/1p1m1s.memory.json")],
      /in-memory transport, which cannot span processes/,
    ],
    [
      ["component", "--id", "m9", "--config", path("examples/clusters/1p1m1s.tcp.json")],
      /no component "m9" in .*\(it has gm, p0, m0, s0\)/,
    ],
    [[
      "component",
      "--id",
      "m0",
      "--role",
      "storage",
      "--config",
      path("examples/clusters/1p1m1s.tcp.json"),
    ], /--role storage does not match m0's role in the config \(memory\)/],
    [[
      "component",
      "--id",
      "m0",
      "--config",
      path("examples/clusters/1p1m1s.tcp.json"),
      "--monitor",
      "x",
    ], /--monitor comes from the config/],
  ];
  for (const [args, pattern] of cases) {
    const { code, err } = await cli(...args);
    assert.equal(code, 2, `${args.join(" ")}: ${err}`);
    assert.match(err, pattern, args.join(" "));
    assert.equal(err.split("\n").length, 1, `one line: ${err}`);
  }
});

Deno.test("client usage errors exit 2; an unreachable manager exits 1", async () => {
  const saved = Deno.env.get("LEGOEMU_MANAGER");
  Deno.env.delete("LEGOEMU_MANAGER");
  try {
    const cases: [string[], RegExp][] = [
      [["run"], /run needs a workload/],
      [["run", "w.ts"], /where is the cluster\? pass --manager/],
      [["status", "--manager", "gm@"], /bad manager address/],
      [
        ["ps", "--interval-ms", "5", "--manager", "127.0.0.1:1"],
        /--interval-ms is not an option of ps/,
      ],
      [["top", "--count", "0", "--manager", "127.0.0.1:1"], /--count must be an integer from 1/],
      [["status", "extra", "--manager", "127.0.0.1:1"], /unexpected argument "extra"/],
      [
        ["run", "w.ts", "--threads", "two", "--manager", "127.0.0.1:1"],
        /--threads must be an integer/,
      ],
      [
        ["cluster", path("examples/clusters/1p1m1s.memory.json"), "--secret-file", "x"],
        /--secret-file is for clusters of one process per component/,
      ],
    ];
    for (const [args, pattern] of cases) {
      const { code, err } = await cli(...args);
      assert.equal(code, 2, `${args.join(" ")}: ${err}`);
      assert.match(err, pattern, args.join(" "));
    }
  } finally {
    if (saved !== undefined) Deno.env.set("LEGOEMU_MANAGER", saved);
  }
  // Port 1 on loopback refuses at once: the transport retries with backoff, then gives up.
  const dir = await Deno.makeTempDir();
  try {
    const config = JSON.parse(await Deno.readTextFile(path("examples/clusters/1p1m1s.tcp.json")));
    config.transport.options = { reconnectTimeoutMs: 100 };
    config.components[0].address = "127.0.0.1:1";
    delete config.$schema;
    await Deno.writeTextFile(`${dir}/c.json`, JSON.stringify(config));
    const { code, err } = await cli("status", "--config", `${dir}/c.json`);
    assert.equal(code, 1);
    assert.match(err, /^legoemu: cannot reach gm: no connection to 127\.0\.0\.1:1 within 100 ms/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseManagerAddress() takes [id@]host:port and defaults the id to gm", () => {
  assert.deepEqual(parseManagerAddress("127.0.0.1:7000"), { id: "gm", address: "127.0.0.1:7000" });
  assert.deepEqual(parseManagerAddress("boss@[::1]:7000"), { id: "boss", address: "[::1]:7000" });
  assert.throws(() => parseManagerAddress("Boss@h:1"), /bad manager "Boss@h:1"/);
  assert.throws(() => parseManagerAddress("h"), /expected \[id@\]host:port/);
});

Deno.test("the readiness line round-trips and other lines are not mistaken for it", () => {
  const report = { id: "m0", role: "memory" as const, addresses: { tcp: "127.0.0.1:7" }, pid: 42 };
  assert.deepEqual(parseReadyLine(formatReadyLine(report)), report);
  assert.equal(parseReadyLine("LEGOEMU_READY {broken"), undefined);
  assert.equal(parseReadyLine("[m0] LEGOEMU_READY {}"), undefined);
});

const component = (
  id: string,
  role: ComponentStatus["role"],
  load: Record<string, unknown>,
): ComponentStatus => ({
  id,
  role,
  state: "up",
  drained: false,
  joinedAt: 1_000,
  upSince: 1_000,
  lastSeenAt: 60_000,
  heartbeats: 3,
  capacity: {},
  addresses: { tcp: `127.0.0.1:7${id.length}` },
  load,
  assigned: { threads: 1, processes: 1, homes: 0, vregions: 0, files: 0 },
  uptimeMs: 59_000,
  missedHeartbeats: 0,
});

const snapshot: ClusterSnapshot = {
  takenAt: 61_000,
  components: [
    component("gm", "manager", {}),
    component("m0", "memory", { fetches: 100, framesUsed: 7 }),
  ],
  processes: [
    {
      pid: 1,
      processor: "p0",
      home: "m0",
      threads: 1,
      state: "exited",
      startedAt: 0,
      endedAt: 1500,
      exitCode: 0,
    },
    { pid: 2, processor: "p0", home: "m0", threads: 4, state: "running", startedAt: 60_000 },
  ],
  vregions: [],
  files: [],
  policies: { "process-placement": "fewest-threads" },
};

Deno.test("formatStatus() shows every component with its state, address, placements and load", () => {
  const lines = formatStatus(snapshot, 61_000);
  assert.equal(lines[0], "cluster: 2 components (2 up, 0 down), 1 processes running, 1 exited");
  assert.equal(lines[1], "policies: process-placement=fewest-threads");
  assert.match(lines[2], /^ID\s+ROLE\s+STATE\s+UPTIME\s+LAST SEEN\s+ADDRESS\s+PLACED\s+LOAD$/);
  assert.match(
    lines[4],
    /^m0\s+memory\s+up\s+59\.0 s\s+1\.0 s ago\s+127\.0\.0\.1:72\s+1t 1p\s+fetches=100 framesUsed=7$/,
  );
});

Deno.test("formatProcesses() lists running processes, or all with --all", () => {
  const running = formatProcesses(snapshot, { now: 61_000 });
  assert.equal(running.length, 2);
  assert.match(running[1], /^2\s+running\s+p0\s+m0\s+4\s+00:01:00\s+1\.0 s\s+-$/);
  const all = formatProcesses(snapshot, { all: true, now: 61_000 });
  assert.match(all[1], /^1\s+exited\s+p0\s+m0\s+1\s+00:00:00\s+1\.5 s\s+0$/);
  assert.deepEqual(formatProcesses({ ...snapshot, processes: [] }), [
    "no running processes (--all shows exited ones)",
  ]);
});

Deno.test("formatTop() shows rates of figures that grew since the last frame", () => {
  const later: ClusterSnapshot = {
    ...snapshot,
    takenAt: 63_000,
    components: [snapshot.components[0], {
      ...snapshot.components[1],
      load: { fetches: 4100, framesUsed: 7, requests: 60 },
    }],
  };
  const lines = formatTop(later, {
    ...snapshot,
    components: [snapshot.components[0], {
      ...snapshot.components[1],
      load: { fetches: 100, framesUsed: 7, requests: 20 },
    }],
  });
  assert.ok(lines.some((l) => /^m0\s+up\s+7\s+-\s+20\s+-\s+-$/.test(l)), lines.join("\n"));
  assert.ok(lines.some((l) => /^2\s+running/.test(l)));
});

Deno.test("formatRunSummary() names the latency model only when it is known", () => {
  const base = {
    pid: 3,
    processor: "p1",
    home: "m1",
    exitCode: 1,
    error: "boom",
    wallNs: 2e6,
    modelNs: 5e6,
    stats: { hits: 1, misses: 1, pagesFetched: 1 },
    components: ["p1:processor", "m1:memory"],
    totalMs: 9,
  };
  const lines = formatRunSummary(base);
  assert.equal(lines[0], "── summary: process 3 on p1 (home m1) ──");
  assert.equal(lines[1], "exit code        1 (boom)");
  assert.equal(lines.at(-1), "model time       5.000 ms");
  assert.match(
    formatRunSummary({ ...base, latencyModel: "legoos-ib" }).at(-1)!,
    /\(latency model: legoos-ib\)/,
  );
});
