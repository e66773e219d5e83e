/**
 * One run of the experiment in a process of its own, so that runs side by side do not
 * share one JavaScript thread for their monitors (each cluster runs in its process's main
 * thread). `deno task experiment` starts it once per run:
 *
 * `deno run -A bench/experiment/run_one.ts '<spec as JSON>'`
 *
 * The spec is a {@link RunSpec} with the workload by name and without `tmpDir` and
 * `onThreads`, plus `tmpDir` as a string. It prints `threads N` on stderr as threads start
 * and, last on stdout, `record <RunRecord as JSON>`.
 *
 * @module
 */

import { runOnce, type RunRecord, type RunSpec } from "./runner.ts";
import { WORKLOADS } from "./workloads.ts";

/** A run's spec as it crosses the process boundary. */
export type RunSpecJson = Omit<RunSpec, "workload" | "onThreads"> & { workload: string };

/** The line prefix of the record on stdout. */
export const RECORD_PREFIX = "record ";

/**
 * Runs `spec` in a child process (see the module doc); `onThreads` hears of threads as
 * they start. Resolves to the run's record; rejects when the child dies without one.
 */
export async function runInProcess(
  spec: RunSpecJson,
  onThreads?: (started: number) => void,
): Promise<RunRecord> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--unstable-worker-options",
      new URL(import.meta.url).pathname,
      JSON.stringify(spec),
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const errors: string[] = [];
  const readErr = (async () => {
    const lines = child.stderr.pipeThrough(new TextDecoderStream());
    let rest = "";
    for await (const chunk of lines) {
      rest += chunk;
      let at: number;
      while ((at = rest.indexOf("\n")) >= 0) {
        const line = rest.slice(0, at);
        rest = rest.slice(at + 1);
        const m = /^threads (\d+)$/.exec(line);
        if (m) onThreads?.(Number(m[1]));
        else if (line.trim() !== "") errors.push(line);
      }
    }
    if (rest.trim() !== "") errors.push(rest);
  })();
  const out = await new Response(child.stdout).text();
  await readErr;
  const status = await child.status;
  const line = out.split("\n").reverse().find((l) => l.startsWith(RECORD_PREFIX));
  if (!line) {
    throw new Error(
      `run process exited with code ${status.code} and no record: ${errors.slice(-5).join(" | ")}`,
    );
  }
  return JSON.parse(line.slice(RECORD_PREFIX.length)) as RunRecord;
}

if (import.meta.main) {
  const spec = JSON.parse(Deno.args[0] ?? "{}") as RunSpecJson;
  const workload = WORKLOADS[spec.workload];
  if (!workload) {
    console.error(`run_one: unknown workload "${spec.workload}"`);
    Deno.exit(2);
  }
  const record = await runOnce({
    ...spec,
    workload,
    onThreads: (n) => console.error(`threads ${n}`),
  });
  console.log(RECORD_PREFIX + JSON.stringify(record));
  Deno.exit(0);
}
