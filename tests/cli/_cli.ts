/**
 * The CLI run in the test's own process with its output captured, for the CLI tests.
 *
 * @module
 */

import { createStockRegistry, runCli } from "../../mod.ts";

/** What a captured run of the CLI gave. */
export interface CliRun {
  /** The exit code. */
  code: number;
  /** Standard output, lines joined by newlines. */
  out: string;
  /** Standard error, lines joined by newlines. */
  err: string;
}

/**
 * Runs `legoemu <args>` in this process with the stock plugins, capturing its output;
 * `demo` and `entry` as `CliEnvironment` takes them (default: no demo, no entry module).
 */
export async function captureCli(
  args: readonly string[],
  env: { demo?: { config: string; workload: string }; entry?: string } = {},
): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, {
    registry: createStockRegistry(),
    demo: env.demo ?? { config: "", workload: "" },
    ...(env.entry === undefined ? {} : { entry: env.entry }),
    out: (line) => out.push(line),
    err: (line) => err.push(line),
  });
  return { code, out: out.join("\n"), err: err.join("\n") };
}
