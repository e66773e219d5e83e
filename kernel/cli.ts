/**
 * The `legoemu` command line. The kernel knows no concrete plugin, so the caller (the
 * CLI entry in `mod.ts`) hands in a registry holding the stock plugins and the demo's
 * files.
 *
 * Exit codes: 0 success, 1 failure (a workload failed or the cluster broke), 2 usage or
 * config error. Errors go to standard error as one line naming the problem.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { bootCluster, type Cluster, type RunResult } from "./cluster.ts";
import { ConfigError, loadClusterConfig, type ResolvedClusterConfig } from "./config.ts";
import { PluginError, type PluginRegistry } from "./plugins.ts";

/** What the CLI needs from its caller. */
export interface CliEnvironment {
  /** Registry holding every plugin a config may name. */
  registry: PluginRegistry;
  /** Config file and workload module that `legoemu demo` runs. */
  demo: { config: string; workload: string };
  /** Where normal output goes (default: standard output). */
  out?: (line: string) => void;
  /** Where errors go (default: standard error). */
  err?: (line: string) => void;
}

const USAGE = `legoemu: a split-kernel OS emulator (LegoOS model)

Usage:
  legoemu demo [--megabytes N]
      Boot the demo cluster in this process, run the demo workload, print a summary.
  legoemu cluster <config.json> [--run <workload.ts>] [-- workload args...]
      Boot the cluster a config file describes, in this process. With --run, run the
      workload and exit with its exit code; without, serve until Ctrl-C.
  legoemu plugins
      List the registered plugins by kind.
  legoemu help
      Show this text.

Exit codes: 0 ok, 1 failure, 2 usage or config error.`;

/** A usage error: wrong command, flag or argument. */
class UsageError extends Error {}

/**
 * Runs the CLI with `args` (without the program name) and returns the exit code.
 *
 * @example
 * ```ts ignore
 * const code = await runCli(["cluster", "examples/clusters/1p1m1s.memory.json",
 *   "--run", "examples/workloads/demo.ts"], { registry, demo });
 * ```
 */
export async function runCli(args: readonly string[], env: CliEnvironment): Promise<number> {
  const out = env.out ?? ((line: string) => console.log(line));
  const err = env.err ?? ((line: string) => console.error(line));
  const [command, ...rest] = args;
  try {
    switch (command) {
      case "demo":
        return await demo(rest, env, out);
      case "cluster":
        return await cluster(rest, env, out);
      case "plugins":
        for (const p of env.registry.list()) {
          out(`${p.kind.padEnd(18)} ${p.name.padEnd(12)} ${p.description ?? ""}`);
        }
        return 0;
      case undefined:
      case "help":
      case "--help":
      case "-h":
        out(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${command}" (try "legoemu help")`);
    }
  } catch (e) {
    if (e instanceof UsageError || e instanceof ConfigError || e instanceof PluginError) {
      err(`legoemu: ${e.message.replaceAll("\n", "\n  ")}`);
      return 2;
    }
    if (isParseArgsError(e)) {
      err(`legoemu: ${(e as Error).message}`);
      return 2;
    }
    err(`legoemu: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

function isParseArgsError(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return typeof code === "string" && code.startsWith("ERR_PARSE_ARGS");
}

async function demo(
  args: readonly string[],
  env: CliEnvironment,
  out: (line: string) => void,
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    options: { megabytes: { type: "string", default: "4" }, help: { type: "boolean", short: "h" } },
    allowPositionals: false,
  });
  if (values.help) {
    out("legoemu demo [--megabytes N]: boot the demo cluster and run the demo workload");
    return 0;
  }
  void positionals;
  const megabytes = Number(values.megabytes);
  if (!Number.isInteger(megabytes) || megabytes < 1 || megabytes > 1024) {
    throw new UsageError(
      `--megabytes must be an integer from 1 to 1024, got "${values.megabytes}"`,
    );
  }
  const config = await loadClusterConfig(env.demo.config, env.registry);
  return await bootAndRun(config, env, env.demo.workload, [String(megabytes)], out);
}

async function cluster(
  args: readonly string[],
  env: CliEnvironment,
  out: (line: string) => void,
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    options: { run: { type: "string" }, help: { type: "boolean", short: "h" } },
    allowPositionals: true,
  });
  if (values.help) {
    out("legoemu cluster <config.json> [--run <workload.ts>] [-- args...]");
    return 0;
  }
  const [file, ...workloadArgs] = positionals;
  if (!file) throw new UsageError("cluster needs a config file: legoemu cluster <config.json>");
  if (!values.run && workloadArgs.length > 0) {
    throw new UsageError(`unexpected argument "${workloadArgs[0]}" (workload args need --run)`);
  }
  const config = await loadClusterConfig(file, env.registry);
  if (values.run) return await bootAndRun(config, env, values.run, workloadArgs, out);
  return await serve(config, env, out);
}

async function bootAndRun(
  config: ResolvedClusterConfig,
  env: CliEnvironment,
  workload: string,
  args: readonly string[],
  out: (line: string) => void,
): Promise<number> {
  const started = performance.now();
  const running = await bootCluster(config, env.registry);
  try {
    out(`legoemu: cluster "${config.name}" up: ${describeComponents(config)}`);
    out(`legoemu: running ${workload} ${args.join(" ")}`.trimEnd());
    const result = await running.run(workload, args);
    for (const line of runSummary(running, result, performance.now() - started)) out(line);
    return result.exitCode === 0 ? 0 : 1;
  } finally {
    await running.stop();
  }
}

async function serve(
  config: ResolvedClusterConfig,
  env: CliEnvironment,
  out: (line: string) => void,
): Promise<number> {
  const running = await bootCluster(config, env.registry);
  out(`legoemu: cluster "${config.name}" up: ${describeComponents(config)}`);
  out("legoemu: serving; Ctrl-C stops");
  const started = performance.now();
  await new Promise<void>((resolve) => {
    const status = setInterval(() => {
      const up = running.manager.stats().componentsUp;
      out(`legoemu: ${((performance.now() - started) / 1000).toFixed(0)} s, ${up} components up`);
    }, 10_000);
    const stop = () => {
      clearInterval(status);
      Deno.removeSignalListener("SIGINT", stop);
      resolve();
    };
    Deno.addSignalListener("SIGINT", stop);
  });
  await running.stop();
  out("legoemu: cluster stopped");
  return 0;
}

function describeComponents(config: ResolvedClusterConfig): string {
  return config.components.map((c) => `${c.id} (${c.role}: ${c.plugin})`).join(", ");
}

/**
 * The lines of the end-of-run summary: components, pages fetched, bytes moved, both
 * clocks and the latency model that produced model time.
 *
 * @example
 * ```ts ignore
 * for (const line of runSummary(cluster, result, elapsedMs)) console.log(line);
 * ```
 */
export function runSummary(cluster: Cluster, result: RunResult, totalMs: number): string[] {
  const s = result.stats;
  const n = (v: number | undefined) => (v ?? 0).toLocaleString("en-US");
  const mib = (v: number | undefined) => `${((v ?? 0) / 1048576).toFixed(2)} MiB`;
  const accesses = (s.hits ?? 0) + (s.misses ?? 0);
  const hitRate = accesses ? ((100 * (s.hits ?? 0)) / accesses).toFixed(1) : "0.0";
  const lines = [
    `── summary: process ${result.pid} on ${result.processor} (home ${result.home}) ──`,
    `exit code        ${result.exitCode}${result.error ? ` (${result.error})` : ""}`,
    `components       ${[...cluster.monitors.values()].map((m) => `${m.id}:${m.role}`).join(" ")}`,
    `cache            ${n(s.hits)} hits, ${n(s.misses)} misses (${hitRate}% hits), ${
      n(s.evictions)
    } evictions`,
    `pages fetched    ${n(s.pagesFetched)} (${n(s.dirtyFlushes)} dirty write-backs, ${
      n(s.piggybacked)
    } piggybacked on a fetch)`,
    `bytes moved      ${mib(s.bytesIn)} in, ${mib(s.bytesOut)} out, in ${n(s.messages)} messages`,
    `wall time        ${(result.wallNs / 1e6).toFixed(1)} ms (process), ${
      totalMs.toFixed(1)
    } ms (boot to end)`,
    `model time       ${
      (result.modelNs / 1e6).toFixed(3)
    } ms (latency model: ${cluster.latency.name})`,
  ];
  return lines;
}
