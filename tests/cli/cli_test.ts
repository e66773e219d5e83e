import assert from "node:assert/strict";
import { captureCli } from "./_cli.ts";

const root = new URL("../../", import.meta.url);
const fixture = (name: string) =>
  decodeURIComponent(new URL(`tests/fixtures/configs/${name}`, root).pathname);
const demo = {
  config: decodeURIComponent(new URL("examples/clusters/1p1m1s.memory.json", root).pathname),
  workload: new URL("examples/workloads/demo.ts", root).href,
};

/** Runs the CLI in this process, capturing its output. */
const cli = (...args: string[]) => captureCli(args, { demo });

Deno.test("cluster with a wrongly typed option exits 2 naming the file, JSON path and expectation", async () => {
  const file = fixture("wrong_type.json");
  const { code, err } = await cli("cluster", file);
  assert.equal(code, 2);
  assert.ok(err.includes(file), err);
  assert.match(err, /\$\.components\[1\]\.options\.cacheBytes: expected number, received string/);
});

Deno.test("cluster with an unknown plugin exits 2 and lists the available ones", async () => {
  const { code, err } = await cli("cluster", fixture("unknown_plugin.json"));
  assert.equal(code, 2);
  assert.match(err, /\$\.transport\.plugin/);
  assert.match(err, /carrier-pigeon/);
  assert.match(err, /available: (\w+, )*memory/);
});

Deno.test("cluster with a duplicate component id exits 2 naming both places", async () => {
  const { code, err } = await cli("cluster", fixture("duplicate_id.json"));
  assert.equal(code, 2);
  assert.match(
    err,
    /\$\.components\[2\]\.id: duplicate component id "p0" \(also at \$\.components\[1\]\.id\)/,
  );
});

Deno.test("cluster with invalid JSON or a missing file exits 2", async () => {
  const invalid = await cli("cluster", fixture("invalid_json.json"));
  assert.equal(invalid.code, 2);
  assert.match(invalid.err, /invalid_json\.json: \$: invalid JSON/);
  const missing = await cli("cluster", fixture("no_such_config.json"));
  assert.equal(missing.code, 2);
  assert.match(missing.err, /no_such_config\.json.*not found/);
});

Deno.test("usage errors exit 2 with one line naming the problem", async () => {
  const unknown = await cli("frobnicate");
  assert.equal(unknown.code, 2);
  assert.equal(unknown.err, 'legoemu: unknown command "frobnicate" (try "legoemu help")');
  const flag = await cli("demo", "--bogus");
  assert.equal(flag.code, 2);
  assert.match(flag.err, /bogus/);
  const megabytes = await cli("demo", "--megabytes", "lots");
  assert.equal(megabytes.code, 2);
  assert.match(megabytes.err, /--megabytes must be an integer/);
  const noFile = await cli("cluster");
  assert.equal(noFile.code, 2);
  assert.match(noFile.err, /needs a config file/);
});

Deno.test("help exits 0 and lists the commands", async () => {
  const { code, out } = await cli("help");
  assert.equal(code, 0);
  for (const command of ["demo", "cluster", "plugins"]) assert.match(out, new RegExp(command));
});

Deno.test("plugins lists every stock plugin", async () => {
  const { code, out } = await cli("plugins");
  assert.equal(code, 0);
  for (const name of ["memory", "legoos-ib", "manager", "processor", "storage"]) {
    assert.match(out, new RegExp(`\\b${name}\\b`));
  }
});

Deno.test("the real command: a bad config exits 2, the demo exits 0 with its summary", async () => {
  const run = (...args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", decodeURIComponent(new URL("mod.ts", root).pathname), ...args],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
  const bad = await run("cluster", fixture("duplicate_id.json"));
  assert.equal(bad.code, 2);
  assert.match(new TextDecoder().decode(bad.stderr), /duplicate component id/);

  const demoRun = await run("demo", "--megabytes", "2");
  const stdout = new TextDecoder().decode(demoRun.stdout);
  assert.equal(demoRun.code, 0, new TextDecoder().decode(demoRun.stderr));
  assert.match(stdout, /exit code\s+0/);
  assert.match(stdout, /pages fetched\s+[1-9]/);
  assert.match(stdout, /model time\s+[0-9.]+ ms \(latency model: legoos-ib\)/);
});
