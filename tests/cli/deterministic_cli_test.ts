/**
 * `legoemu cluster <tcp config> --seed N`: one OS process per component in deterministic
 * mode, and `legoemu run` against it, print the same counters and model time as the same
 * config run `--in-process` with the same seed.
 */

import assert from "node:assert/strict";
import { captureCli } from "./_cli.ts";

const root = new URL("../../", import.meta.url);
const path = (relative: string) => decodeURIComponent(new URL(relative, root).pathname);
const entry = path("mod.ts");
const demo = path("examples/workloads/demo.ts");

/** Runs the CLI in this process, capturing its output. */
const cli = (...args: string[]) => captureCli(args, { entry });

/** The summary lines that a seed fixes (all but wall times). */
function fixedLines(out: string): string[] {
  const start = out.split("\n").findIndex((l) => l.startsWith("exit code"));
  assert.ok(start >= 0, out);
  // `legoemu run` does not know the cluster's latency model; `cluster --run` names it.
  return out.split("\n").slice(start).filter((l) =>
    !/^(wall time|components)/.test(l) && !l.startsWith("[") && !l.startsWith("legoemu:")
  ).map((l) => l.replace(/ \(latency model: [^)]*\)$/, ""));
}

Deno.test("legoemu cluster <tcp config> --seed 7, then legoemu run: deterministic, the same summary as --in-process", async () => {
  const dir = await Deno.makeTempDir({ prefix: "legoemu-detcli-" });
  const config = `${dir}/det.json`;
  await Deno.writeTextFile(
    config,
    JSON.stringify({
      name: "det-cli",
      transport: { plugin: "tcp" },
      components: [
        { id: "gm", role: "manager", address: "127.0.0.1:0" },
        { id: "p0", role: "processor", options: { cacheBytes: 262144, ways: 8 } },
        { id: "m0", role: "memory" },
        { id: "m1", role: "memory" },
        { id: "s0", role: "storage", options: { root: `${dir}/s0` } },
      ],
    }),
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", entry, "cluster", config, "--seed", "7"],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
    env: { NO_COLOR: "1" },
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    let text = "";
    let up: RegExpMatchArray | null = null;
    while (!(up = text.match(/legoemu: manager (\S+); cluster secret in (\S+)/))) {
      const { value, done } = await lines.read();
      if (done) assert.fail(`legoemu cluster --seed 7 ended before it was up:\n${text}`);
      text += value;
    }
    const [, manager, secretFile] = up;
    const run = await cli("run", demo, "2", "4", "--manager", manager, "--secret-file", secretFile);
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /mode\s+deterministic \(seed 7\)/);
    const inProcess = await cli(
      "cluster",
      config,
      "--in-process",
      "--seed",
      "7",
      "--run",
      demo,
      "2",
      "4",
    );
    assert.equal(inProcess.code, 0, inProcess.err);
    assert.deepEqual(fixedLines(run.out), fixedLines(inProcess.out));
  } finally {
    child.kill("SIGINT");
    await child.status;
    await lines.cancel().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});
