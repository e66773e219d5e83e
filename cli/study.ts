/**
 * `deno task study <pmem|rpc> [--quick] [--out DIR] [--transport memory|tcp|rdma]`: the
 * studies of persistent remote writes (`study_pmem.ts`) and of connected versus
 * connectionless RPC (`study_rpc.ts`). Each prints a table, writes `<name>.json` and
 * `<name>.svg` into `--out` (default `results/`), and says which transport it ran on. The
 * pmem study runs on the chosen transport (RDMA in its connected mode); the rpc study always
 * measures the in-memory and TCP transports.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { runPmemStudy } from "./study_pmem.ts";
import { runRpcStudy } from "./study_rpc.ts";

const USAGE =
  "usage: deno task study <pmem|rpc> [--quick] [--out DIR] [--transport memory|tcp|rdma]";

/** Runs the study named in `args`; returns the exit code. */
export async function studyMain(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        quick: { type: "boolean", default: false },
        out: { type: "string", default: "results" },
        transport: { type: "string", default: "memory" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const [study, ...rest] = positionals;
  if (rest.length > 0 || (study !== "pmem" && study !== "rpc")) {
    console.error(
      `expected one study, "pmem" or "rpc"; got ${JSON.stringify(positionals)}\n${USAGE}`,
    );
    return 2;
  }
  const transport = values.transport;
  if (transport !== "memory" && transport !== "tcp" && transport !== "rdma") {
    console.error(`--transport must be "memory", "tcp" or "rdma", got "${transport}"\n${USAGE}`);
    return 2;
  }
  const started = performance.now();
  const progress = (line: string) =>
    console.error(
      `[study ${study} ${((performance.now() - started) / 1000).toFixed(1)} s] ${line}`,
    );
  const options = { quick: values.quick, out: values.out, transport, progress } as const;
  const { table } = study === "pmem" ? await runPmemStudy(options) : await runRpcStudy(options);
  console.log(table);
  console.log(
    `\nwrote ${values.out}/${study}.json and ${values.out}/${study}.svg in ${
      ((performance.now() - started) / 1000).toFixed(1)
    } s (${study === "rpc" ? "in-memory and TCP transports" : `${transport} transport`}${
      values.quick ? ", quick" : ""
    })`,
  );
  return 0;
}

if (import.meta.main) Deno.exit(await studyMain(Deno.args));
