/**
 * The `legoemu` command line. The kernel knows no concrete plugin, so the caller (the
 * CLI entry in `mod.ts`) hands in a registry holding the stock plugins, the demo's files
 * and its own path (to start one process per component).
 *
 * Commands: `demo`, `cluster` (one process, or one OS process per component when the
 * config's transport spans processes), `component` (one component in this process),
 * `run` (a workload on a running cluster), `status`, `ps`, `top`, `plugins`, `help`.
 * Every command takes `--help`.
 *
 * Exit codes: 0 success, 1 failure (a workload failed or the cluster broke), 2 usage or
 * config error. Errors go to standard error as one line naming the problem.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { bootCluster, type Cluster, type RunResult } from "../kernel/cluster.ts";
import {
  type ClusterClient,
  connectClusterClient,
  controlPlaneClusterClient,
  parseManagerAddress,
  type SpawnOutcome,
} from "./cluster_client.ts";
import { formatProcesses, formatStatus, formatTop, summarizeComponents } from "./views.ts";
import { type ComponentProcessSpec, startComponentProcess } from "../kernel/component_process.ts";
import {
  componentTransport,
  ConfigError,
  loadClusterConfig,
  managerTransport,
  readClusterConfigFile,
  type ResolvedClusterConfig,
  type ResolvedComponentConfig,
  type ResolvedPlugin,
} from "../kernel/config.ts";
import { KernelError } from "../kernel/errors.ts";
import { type ComponentId, componentIdProblem, isRole, ROLES } from "../kernel/ids.ts";
import type { ClusterSnapshot } from "../monitors/manager/cluster_state.ts";
import { PluginError, type PluginKind, type PluginRegistry } from "../kernel/plugins.ts";
import { loadPluginModule, pluginModuleUrl } from "../kernel/plugin_modules.ts";
import { type DeployFormat, deploymentFiles, writeDeployment } from "./deploy.ts";
import { formatReadyLine, startSupervisedCluster } from "./supervisor.ts";

/** What the CLI needs from its caller. */
export interface CliEnvironment {
  /** Registry holding every plugin a config may name. */
  registry: PluginRegistry;
  /** Config file and workload module that `legoemu demo` runs. */
  demo: { config: string; workload: string };
  /** Path of the entry module (`mod.ts`) that child component processes run. */
  entry?: string;
  /** Where normal output goes (default: standard output). */
  out?: (line: string) => void;
  /** Where errors go (default: standard error). */
  err?: (line: string) => void;
}

const USAGE = `legoemu: a split-kernel OS emulator (LegoOS model)

Usage:
  legoemu demo [--megabytes N]
      Boot the demo cluster in this process, run the demo workload, print a summary.
  legoemu cluster <config.json> [--plugin F]... [--run <workload.ts>] [--secret-file F]
                  [-- workload args...]
      Boot the cluster a config file describes: in this process for the in-memory
      transport, one OS process per component for a network transport (tcp). With --run,
      run the workload and exit with its status; without, serve until Ctrl-C.
  legoemu component --role R --id ID --listen HOST:PORT --manager [ID@]HOST:PORT
                    [--secret-file F] [--config cluster.json]
      Run one component in this process (one per host or per process).
  legoemu run <workload.ts> [args...] --manager [ID@]HOST:PORT [--secret-file F]
      Run a workload on a running cluster, print its summary, exit with its status.
  legoemu status | ps | top  --manager [ID@]HOST:PORT [--secret-file F]
  legoemu status | ps | top  --control URL
      Show the components, the processes, or both live (top, until Ctrl-C), asking the
      manager by message or reading its HTTP control plane.
  legoemu deploy <config.json> --format compose|kubernetes --out DIR [--image NAME]
      Write deployment files: one container per component (Compose services, or a
      Kubernetes Deployment and Service each), the cluster secret, a Dockerfile.
  legoemu plugins [--plugin F]...
      List the registered plugins by kind.
  legoemu help
      Show this text. Every command also takes --help.

Every command takes --plugin F (repeatable): a module, path or URL, whose default export
is a plugin or an array of plugins, registered beside the stock ones.

Clients (run, status, ps, top) also read the manager and secret from --config, or from
the LEGOEMU_MANAGER and LEGOEMU_SECRET_FILE environment variables.

Exit codes: 0 ok, 1 failure, 2 usage or config error.`;

const HELP: Record<string, string> = {
  demo: `legoemu demo [--megabytes N] [--threads N] [--seed N] [--plugin F]...
  Boot the demo cluster (examples/clusters/1p1m1s.memory.json) in this process and run
  examples/workloads/demo.ts touching N MiB (default 4) with N threads (default 1); print
  a summary. --seed N runs in deterministic mode: the same seed, the same counts and model
  time.`,
  cluster: `legoemu cluster <config.json> [options] [-- workload args...]
  Boot the cluster the config describes. With the in-memory transport every component
  runs in this process; with a network transport (tcp) each component runs in its own OS
  process, its output prefixed with its id, and all stop on Ctrl-C or when one dies.
Options:
  --plugin F            load plugins from module F (path or URL; repeatable); its default
                        export is a plugin or an array of plugins
  --run <workload.ts>   run this workload once the cluster is up, then stop
  --secret-file F       cluster secret for the components (default: the config's
                        transport option secretFile, else a fresh random one)
  --in-process          boot every component in this process even over a network transport
  --seed N              deterministic mode (as the config's "seed"): threads reach the
                        system in model-time order, so the same seed gives the same run
                        (with one process per component the manager orders every
                        processor's threads)
  -h, --help            show this text`,
  component: `legoemu component --id ID [options]
  Run one component in this process until Ctrl-C (SIGINT) or SIGTERM.
Options:
  --role R              processor, memory, storage or manager (from the config with --config)
  --id ID               the component id, e.g. m0
  --listen HOST:PORT    where to listen (port 0: any free port; default from the config,
                        else 127.0.0.1:0)
  --manager [ID@]HOST:PORT  where the manager listens (not for the manager itself;
                        default from the config; ID defaults to gm)
  --secret-file F       file holding the cluster secret (or LEGOEMU_SECRET_FILE)
  --config FILE         take the monitor plugin, its options, the transport and the latency
                        model from this cluster config
  --monitor NAME        monitor plugin (without --config; default: the role name)
  --plugin F            load plugins from module F (path or URL; repeatable)
  --options JSON        monitor plugin options (without --config)
  --transport NAME      transport plugin (without --config; default tcp)
  --seed N              deterministic mode (default: the config's "seed"): the manager
                        hosts the cluster's model-time scheduler, a processor sends its
                        threads' events to it; give every component the same seed
  --supervised          (used by legoemu cluster) report readiness on standard output and
                        stop when standard input closes
  -h, --help            show this text`,
  run: `legoemu run <workload.ts> [args...] [options]
  Start a process on a running cluster and wait for it; print its summary. Use -- before
  workload arguments that start with a dash. The path is sent as an absolute file URL, so
  it must exist at the same place on the processor's host.
Options:
  --manager [ID@]HOST:PORT  the cluster's manager (or LEGOEMU_MANAGER, or --config)
  --secret-file F       file holding the cluster secret (or LEGOEMU_SECRET_FILE)
  --config FILE         read the manager address and transport from this cluster config
  --threads N           threads the process will run (placement input, default 1)
  --timeout-ms N        give up waiting after N ms (the process keeps running)
  --seed N              refused: deterministic mode is chosen when the cluster starts
                        (legoemu cluster --seed N, or "seed" in its config)
  --transport NAME      transport plugin (default tcp, or the config's)
  --plugin F            load plugins from module F (path or URL; repeatable)
  -h, --help            show this text`,
  status: `legoemu status [options]
  Show every component: role, state, uptime, last heartbeat, address, placements, load.
Options: --manager, --secret-file, --config, --transport (as for run), or --control URL
  (read the manager's HTTP control plane instead); --json prints the managers' whole
  snapshot as JSON; -h, --help.`,
  ps: `legoemu ps [options]
  Show running processes (--all: every process).
Options: --manager, --secret-file, --config, --transport (as for run), or --control URL;
  --all; --json; -h, --help.`,
  top: `legoemu top [options]
  Show components with their load (and its rate) and running processes, refreshed every
  --interval-ms (default 1000) until Ctrl-C, or --count times.
Options: --manager, --secret-file, --config, --transport (as for run); --interval-ms N;
  --count N; -h, --help.`,
  deploy: `legoemu deploy <config.json> --format compose|kubernetes --out DIR [options]
  Write deployment files for the cluster a config describes (its transport must span
  hosts, e.g. tcp): compose.yaml (a service per component) or kubernetes.yaml (a
  Deployment and a Service per component, the cluster secret and control token as a
  Secret, the config as a ConfigMap), cluster.json as the containers see it (addresses
  are service names), and a Dockerfile for the image. Secrets are fresh random values.
Options:
  --format F            compose or kubernetes
  --out DIR             where to write (created if missing)
  --image NAME          container image built from this repository (default legoemu:latest)
  --plugin F            load plugins from module F (to check the config's plugin names)
  -h, --help            show this text`,
  plugins: `legoemu plugins [--plugin F]...
  List the registered plugins by kind (with those loaded from each --plugin module).`,
};

/** A usage error: wrong command, flag or argument. */
class UsageError extends Error {}

/** `--plugin F`, repeatable, on every command. */
const PLUGIN_OPTION = { type: "string", multiple: true } as const;
const HELP_OPTION = { type: "boolean", short: "h" } as const;

const CLIENT_OPTIONS = {
  manager: { type: "string" },
  "secret-file": { type: "string" },
  config: { type: "string" },
  transport: { type: "string" },
  plugin: PLUGIN_OPTION,
  help: HELP_OPTION,
} as const;

const INSPECT_OPTIONS = {
  ...CLIENT_OPTIONS,
  json: { type: "boolean" },
  all: { type: "boolean" },
  "interval-ms": { type: "string" },
  count: { type: "string" },
  control: { type: "string" },
} as const;

/** Every command's flags, as `node:util` `parseArgs` takes them (one table: the commands
 * and {@link checkCommandLine} read the same). */
const COMMAND_ARGS = {
  demo: {
    options: {
      megabytes: { type: "string", default: "4" },
      threads: { type: "string", default: "1" },
      seed: { type: "string" },
      plugin: PLUGIN_OPTION,
      help: HELP_OPTION,
    },
    allowPositionals: false,
  },
  cluster: {
    options: {
      run: { type: "string" },
      "secret-file": { type: "string" },
      "in-process": { type: "boolean" },
      seed: { type: "string" },
      plugin: PLUGIN_OPTION,
      help: HELP_OPTION,
    },
    allowPositionals: true,
  },
  component: {
    options: {
      role: { type: "string" },
      id: { type: "string" },
      listen: { type: "string" },
      manager: { type: "string" },
      "secret-file": { type: "string" },
      config: { type: "string" },
      monitor: { type: "string" },
      plugin: PLUGIN_OPTION,
      options: { type: "string" },
      transport: { type: "string" },
      seed: { type: "string" },
      supervised: { type: "boolean" },
      help: HELP_OPTION,
    },
    allowPositionals: true,
  },
  run: {
    options: {
      ...CLIENT_OPTIONS,
      threads: { type: "string" },
      "timeout-ms": { type: "string" },
      seed: { type: "string" },
    },
    allowPositionals: true,
  },
  status: { options: INSPECT_OPTIONS, allowPositionals: true },
  ps: { options: INSPECT_OPTIONS, allowPositionals: true },
  top: { options: INSPECT_OPTIONS, allowPositionals: true },
  plugins: { options: { plugin: PLUGIN_OPTION, help: HELP_OPTION }, allowPositionals: false },
  deploy: {
    options: {
      format: { type: "string" },
      out: { type: "string" },
      image: { type: "string" },
      plugin: PLUGIN_OPTION,
      help: HELP_OPTION,
    },
    allowPositionals: true,
  },
} as const;

/**
 * Checks a command line (without the program name) against the CLI's own argument parser
 * without running it: the command exists, every flag is one of its flags with a value of
 * the right kind, and its positional arguments are allowed. Returns the problem, or
 * `undefined` when the line is accepted. Deployment files and the docs are checked with it.
 *
 * @example
 * ```ts
 * import { checkCommandLine } from "./main.ts";
 * console.assert(checkCommandLine(["cluster", "c.json", "--plugin", "./clock.ts"]) === undefined);
 * console.assert(checkCommandLine(["component", "--rol", "memory"])?.includes("--rol"));
 * ```
 */
export function checkCommandLine(args: readonly string[]): string | undefined {
  const [command, ...rest] = args;
  if (command === "help" || command === "--help" || command === "-h") return undefined;
  if (command === undefined || !(command in COMMAND_ARGS)) {
    return `unknown command ${JSON.stringify(command)}; commands: ${
      Object.keys(COMMAND_ARGS).join(", ")
    }, help`;
  }
  try {
    const { values, positionals } = parseArgs({
      args: [...rest],
      ...COMMAND_ARGS[command as keyof typeof COMMAND_ARGS],
    });
    if (values.help) return undefined;
    if (command === "cluster" && positionals.length === 0) return "cluster needs a config file";
    if (command === "deploy" && positionals.length !== 1) return "deploy needs one config file";
    if (command === "run" && positionals.length === 0) return "run needs a workload";
    if (["component", "status", "ps", "top"].includes(command) && positionals.length > 0) {
      return `unexpected argument "${positionals[0]}"`;
    }
    if (command === "component") {
      const v = values as { id?: string; role?: string; config?: string };
      if (!v.id) return "component needs --id";
      if (v.role !== undefined && !isRole(v.role)) return `--role must be one of ${ROLES}`;
      if (!v.role && !v.config) return "component needs --role (or --config)";
    }
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

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
  const io: Io = { env, out, err, plugins: [] };
  const [command, ...rest] = args;
  try {
    switch (command) {
      case "demo":
        return await demo(rest, io);
      case "cluster":
        return await cluster(rest, io);
      case "component":
        return await component(rest, io);
      case "run":
        return await run(rest, io);
      case "status":
      case "ps":
      case "top":
        return await inspect(command, rest, io);
      case "deploy":
        return await deploy(rest, io);
      case "plugins": {
        const { values } = parseArgs({ args: [...rest], ...COMMAND_ARGS.plugins });
        if (values.help) return help(out, "plugins");
        await loadCliPlugins(values.plugin, io);
        for (const p of env.registry.list()) {
          out(`${p.kind.padEnd(18)} ${p.name.padEnd(12)} ${p.description ?? ""}`);
        }
        return 0;
      }
      case undefined:
      case "help":
      case "--help":
      case "-h":
        if (rest[0] && HELP[rest[0]]) return help(out, rest[0]);
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
    err(`legoemu: ${oneLine(e instanceof Error ? e.message : String(e))}`);
    return 1;
  }
}

interface Io {
  env: CliEnvironment;
  out: (line: string) => void;
  err: (line: string) => void;
  /** Plugin modules loaded by --plugin, as absolute URLs (handed on to child processes). */
  plugins: string[];
}

/** Loads each `--plugin` module into the registry (paths relative to the current directory). */
async function loadCliPlugins(specifiers: readonly string[] | undefined, io: Io): Promise<void> {
  for (const specifier of specifiers ?? []) {
    await loadPluginModule(specifier, io.env.registry);
    io.plugins.push(pluginModuleUrl(specifier));
  }
}

function help(out: (line: string) => void, command: string): number {
  out(HELP[command]);
  return 0;
}

function oneLine(text: string): string {
  return text.replaceAll(/\s*\n\s*/g, "; ");
}

function isParseArgsError(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return typeof code === "string" && code.startsWith("ERR_PARSE_ARGS");
}

/** Parses a flag holding a positive integer, or `undefined` when absent. */
function positiveInt(value: string | undefined, flag: string, max = 2 ** 31): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1 || n > max) {
    throw new UsageError(`--${flag} must be an integer from 1 to ${max}, got "${value}"`);
  }
  return n;
}

function manager(text: string, flag: string): { id: ComponentId; address: string } {
  try {
    return parseManagerAddress(text);
  } catch (e) {
    throw new UsageError(`${flag}: ${(e as Error).message}`);
  }
}

/** A workload path as the absolute URL a processor on another host can import. */
function workloadUrl(path: string): string {
  if (/^(file|https?):\/\//.test(path)) return path;
  const cwd = new URL("file:///");
  cwd.pathname = Deno.cwd().endsWith("/") ? Deno.cwd() : `${Deno.cwd()}/`;
  return new URL(path, cwd).href;
}

/** Resolves `signal` on the first of SIGINT/SIGTERM; `dispose` removes the listeners. */
function onStopSignal(): { signal: Promise<string>; dispose: () => void } {
  const listeners: [Deno.Signal, () => void][] = [];
  const signal = new Promise<string>((resolve) => {
    for (const name of ["SIGINT", "SIGTERM"] as const) {
      const listener = () => resolve(name);
      try {
        Deno.addSignalListener(name, listener);
        listeners.push([name, listener]);
      } catch {
        // SIGTERM cannot be listened to on Windows; Ctrl-C still works.
      }
    }
  });
  return {
    signal,
    dispose: () => {
      for (const [name, listener] of listeners) Deno.removeSignalListener(name, listener);
    },
  };
}

// ── demo and cluster ─────────────────────────────────────────────────────────────────

async function demo(args: readonly string[], io: Io): Promise<number> {
  const { values } = parseArgs({ args: [...args], ...COMMAND_ARGS.demo });
  if (values.help) return help(io.out, "demo");
  await loadCliPlugins(values.plugin, io);
  const megabytes = Number(values.megabytes);
  if (!Number.isInteger(megabytes) || megabytes < 1 || megabytes > 1024) {
    throw new UsageError(
      `--megabytes must be an integer from 1 to 1024, got "${values.megabytes}"`,
    );
  }
  const threads = Number(values.threads);
  if (!Number.isInteger(threads) || threads < 1 || threads > 64) {
    throw new UsageError(`--threads must be an integer from 1 to 64, got "${values.threads}"`);
  }
  const config = withSeed(
    await loadClusterConfig(io.env.demo.config, io.env.registry),
    values.seed,
  );
  return await bootAndRun(config, io, io.env.demo.workload, [String(megabytes), String(threads)]);
}

async function cluster(args: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({ args: [...args], ...COMMAND_ARGS.cluster });
  if (values.help) return help(io.out, "cluster");
  await loadCliPlugins(values.plugin, io);
  const [file, ...workloadArgs] = positionals;
  if (!file) throw new UsageError("cluster needs a config file: legoemu cluster <config.json>");
  if (!values.run && workloadArgs.length > 0) {
    throw new UsageError(`unexpected argument "${workloadArgs[0]}" (workload args need --run)`);
  }
  const config = withSeed(await loadClusterConfig(file, io.env.registry), values.seed);
  if (managerTransport(config).plugin === "memory" || values["in-process"]) {
    if (values["secret-file"]) {
      throw new UsageError("--secret-file is for clusters of one process per component");
    }
    if (values.run) return await bootAndRun(config, io, values.run, workloadArgs);
    return await serve(config, io);
  }
  return await multiProcess(config, file, io, {
    run: values.run,
    args: workloadArgs,
    secretFile: values["secret-file"] ?? Deno.env.get("LEGOEMU_SECRET_FILE"),
  });
}

/** `config` with `--seed` applied (it overrides the config's own seed). */
function withSeed(config: ResolvedClusterConfig, seed: string | undefined): ResolvedClusterConfig {
  if (seed === undefined) return config;
  return { ...config, seed: parseSeed(seed) };
}

/** The value of a `--seed` flag. */
function parseSeed(seed: string): number {
  const n = Number(seed);
  if (!/^\d+$/.test(seed) || !Number.isSafeInteger(n) || n > 0xffffffff) {
    throw new UsageError(`--seed must be an integer from 0 to 4294967295, got "${seed}"`);
  }
  return n;
}

async function bootAndRun(
  config: ResolvedClusterConfig,
  io: Io,
  workload: string,
  args: readonly string[],
): Promise<number> {
  const started = performance.now();
  const running = await bootCluster(config, io.env.registry);
  try {
    io.out(`legoemu: cluster "${config.name}" up: ${describeComponents(config)}`);
    io.out(`legoemu: running ${workload} ${args.join(" ")}`.trimEnd());
    const result = await running.run(workload, args);
    for (const line of runSummary(running, result, performance.now() - started)) io.out(line);
    return result.exitCode === 0 ? 0 : 1;
  } finally {
    await running.stop();
  }
}

async function serve(config: ResolvedClusterConfig, io: Io): Promise<number> {
  const running = await bootCluster(config, io.env.registry);
  io.out(`legoemu: cluster "${config.name}" up: ${describeComponents(config)}`);
  io.out("legoemu: serving; Ctrl-C stops");
  const started = performance.now();
  const stop = onStopSignal();
  const status = setInterval(() => {
    const up = running.manager.snapshot().components.filter((c) => c.state === "up").length;
    io.out(`legoemu: ${((performance.now() - started) / 1000).toFixed(0)} s, ${up} components up`);
  }, 10_000);
  try {
    await stop.signal;
  } finally {
    clearInterval(status);
    stop.dispose();
  }
  await running.stop();
  io.out("legoemu: cluster stopped");
  return 0;
}

function describeComponents(config: ResolvedClusterConfig): string {
  return config.components.map((c) => `${c.id} (${c.role}: ${c.plugin})`).join(", ");
}

/** A cluster of one OS process per component, supervised from here. */
async function multiProcess(
  config: ResolvedClusterConfig,
  file: string,
  io: Io,
  options: { run?: string; args: readonly string[]; secretFile?: string },
): Promise<number> {
  const entry = io.env.entry;
  if (!entry) {
    throw new KernelError(
      "EINVAL",
      "cannot start component processes: the CLI was not told its entry module",
    );
  }
  const configFile = absolutePath(file);
  const configured = (managerTransport(config).options as { secretFile?: unknown } | null)
    ?.secretFile;
  let secretFile = options.secretFile;
  let secretDir: string | undefined;
  if (secretFile === undefined && typeof configured !== "string") {
    // No secret given: make one for this run, so nobody else can join or send.
    secretDir = await Deno.makeTempDir({ prefix: "legoemu-secret-" });
    secretFile = `${secretDir}/cluster.secret`;
    const bytes = crypto.getRandomValues(new Uint8Array(32));
    await Deno.writeTextFile(
      secretFile,
      [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("") + "\n",
      { mode: 0o600 },
    );
  }
  const stop = onStopSignal();
  const interrupt = new AbortController();
  stop.signal.then(() => interrupt.abort());
  try {
    const started = performance.now();
    const supervised = await startSupervisedCluster({
      config,
      configFile,
      entry,
      secretFile,
      plugins: io.plugins,
      out: io.out,
      err: io.err,
      signal: interrupt.signal,
    });
    const secretNote = secretFile ?? `${String(configured)} (from the config)`;
    io.out(
      `legoemu: cluster "${config.name}" up, one process per component: ${
        supervised.components.map((c) =>
          `${c.id} (${c.role}, pid ${c.pid}, ${Object.values(c.addresses).join(" ") || "-"})`
        ).join(", ")
      }`,
    );
    io.out(`legoemu: manager ${supervised.manager}; cluster secret in ${secretNote}`);
    try {
      if (options.run) {
        return await runOnCluster(
          {
            registry: io.env.registry,
            transport: managerTransport(config),
            manager: manager(supervised.manager, "manager"),
            secretFile,
            latencyModel: config.latencyModel.plugin,
          },
          options.run,
          options.args,
          io,
          { started, done: supervised.done },
        );
      }
      io.out(
        `legoemu: serving; Ctrl-C stops. Run workloads with: legoemu run <workload.ts> --manager ${supervised.manager} --secret-file ${secretNote}`,
      );
      const how = await Promise.race([
        stop.signal,
        supervised.done.then(() => "died"),
      ]);
      if (how !== "died") io.out(`legoemu: ${how}: stopping the cluster`);
      await supervised.stop();
      const code = await supervised.done;
      io.out("legoemu: cluster stopped");
      return code;
    } finally {
      await supervised.stop();
    }
  } finally {
    stop.dispose();
    if (secretDir) await Deno.remove(secretDir, { recursive: true }).catch(() => {});
  }
}

function absolutePath(path: string): string {
  return path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
}

// ── deploy ─────────────────────────────────────────────────────────────────────────

async function deploy(args: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({ args: [...args], ...COMMAND_ARGS.deploy });
  if (values.help) return help(io.out, "deploy");
  await loadCliPlugins(values.plugin, io);
  const [file, ...extra] = positionals;
  if (!file) throw new UsageError("deploy needs a config file: legoemu deploy <config.json>");
  if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}"`);
  if (values.format !== "compose" && values.format !== "kubernetes") {
    throw new UsageError(`--format must be compose or kubernetes, got "${values.format ?? ""}"`);
  }
  if (!values.out) throw new UsageError("deploy needs --out DIR (where to write the files)");
  const resolved = await loadClusterConfig(file, io.env.registry);
  const overriding = resolved.components.filter((c) => c.transport).map((c) => c.id);
  if (overriding.length) {
    throw new UsageError(
      `${file}: deploy writes one cluster-wide transport; it cannot yet carry the per-component transport of ${
        overriding.join(", ")
      }`,
    );
  }
  if (managerTransport(resolved).plugin === "memory") {
    throw new UsageError(
      `${file} uses the in-memory transport, which cannot span containers; use "tcp"`,
    );
  }
  const config = await readClusterConfigFile(file);
  const files = deploymentFiles({
    config,
    format: values.format as DeployFormat,
    image: values.image,
  });
  for (const path of await writeDeployment(values.out, files)) io.out(`legoemu: wrote ${path}`);
  return 0;
}

// ── component ─────────────────────────────────────────────────────────────────────

async function component(args: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({ args: [...args], ...COMMAND_ARGS.component });
  if (values.help) return help(io.out, "component");
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  await loadCliPlugins(values.plugin, io);
  const spec = await componentSpec(values, io.env.registry);
  const supervised = values.supervised === true;
  const log = supervised
    ? (_id: ComponentId, message: string) => io.err(message)
    : (id: ComponentId, message: string) => io.err(`[${id}] ${message}`);
  const stop = onStopSignal();
  try {
    const running = await startComponentProcess(spec, io.env.registry, log);
    const where = Object.values(running.addresses).join(" ") || "(not listening)";
    if (supervised) {
      io.out(formatReadyLine({
        id: running.id,
        role: running.role,
        addresses: { ...running.addresses },
        pid: Deno.pid,
      }));
    } else {
      const managed = spec.component.role === "manager"
        ? ""
        : `, manager ${spec.manager.id} at ${spec.manager.address}`;
      io.out(
        `legoemu: ${running.id} (${running.role}: ${spec.component.plugin}) up on ${where}${managed}; Ctrl-C stops`,
      );
    }
    const why = await Promise.race([
      stop.signal,
      running.stopped.then(() => "a stop request"),
      ...(supervised ? [stdinClosed().then(() => "standard input closed")] : []),
    ]);
    log(running.id, `stopping (${why})`);
    await running.stop();
    return 0;
  } finally {
    stop.dispose();
  }
}

/** Resolves when standard input reaches its end (the supervisor went away). */
async function stdinClosed(): Promise<void> {
  try {
    for await (const _ of Deno.stdin.readable) { /* ignore what comes */ }
  } catch {
    // A broken pipe means the same thing.
  }
}

type ComponentFlags = {
  role?: string;
  id?: string;
  listen?: string;
  manager?: string;
  "secret-file"?: string;
  config?: string;
  monitor?: string;
  options?: string;
  transport?: string;
  seed?: string;
};

/** Turns `legoemu component` flags (and maybe a config file) into a spec. */
async function componentSpec(
  values: ComponentFlags,
  registry: PluginRegistry,
): Promise<ComponentProcessSpec> {
  const id = values.id;
  if (!id) throw new UsageError("component needs --id, e.g. --id m0");
  const problem = componentIdProblem(id);
  if (problem) throw new UsageError(`--id: ${problem}`);
  if (values.role !== undefined && !isRole(values.role)) {
    throw new UsageError(`--role must be one of ${ROLES.join(", ")}, got "${values.role}"`);
  }
  const secretFile = values["secret-file"] ?? Deno.env.get("LEGOEMU_SECRET_FILE");
  let spec: ComponentProcessSpec;
  if (values.config) {
    for (const flag of ["monitor", "options", "transport"] as const) {
      if (values[flag] !== undefined) {
        throw new UsageError(`--${flag} comes from the config when --config is given`);
      }
    }
    const config = await loadClusterConfig(values.config, registry);
    const component = config.components.find((c) => c.id === id);
    if (!component) {
      throw new UsageError(
        `no component "${id}" in ${values.config} (it has ${
          config.components.map((c) => c.id).join(", ")
        })`,
      );
    }
    if (values.role && values.role !== component.role) {
      throw new UsageError(
        `--role ${values.role} does not match ${id}'s role in the config (${component.role})`,
      );
    }
    if (componentTransport(config, component).plugin === "memory") {
      throw new UsageError(
        `${values.config} uses the in-memory transport, which cannot span processes; use a network transport such as "tcp"`,
      );
    }
    const managerConfig = config.components.find((c) => c.role === "manager")!;
    const given = values.manager ? manager(values.manager, "--manager") : undefined;
    if (given && values.manager!.includes("@") && given.id !== managerConfig.id) {
      throw new UsageError(
        `--manager names ${given.id}, but the config's manager is ${managerConfig.id}`,
      );
    }
    spec = {
      cluster: config.name,
      component,
      transport: componentTransport(config, component),
      latencyModel: config.latencyModel,
      manager: { id: managerConfig.id, address: given?.address ?? managerConfig.address },
      listen: values.listen ?? component.address,
      secretFile,
      ...(config.seed === undefined ? {} : { seed: config.seed }),
    };
  } else {
    if (!values.role) throw new UsageError("component needs --role (or --config)");
    const role = values.role as ResolvedComponentConfig["role"];
    const plugin = values.monitor ?? role;
    let rawOptions: unknown = {};
    if (values.options !== undefined) {
      try {
        rawOptions = JSON.parse(values.options);
      } catch (e) {
        throw new UsageError(`--options is not JSON: ${(e as Error).message}`);
      }
    }
    const resolve = (
      kind: PluginKind,
      name: string,
      options: unknown,
      at: string,
    ): ResolvedPlugin => ({
      kind,
      plugin: name,
      options: registry.parseOptions(kind, name, options, at),
    });
    const monitor = resolve(`${role}-monitor`, plugin, rawOptions, "--options");
    const transport = resolve("transport", values.transport ?? "tcp", {}, "transport");
    if (transport.plugin === "memory") {
      throw new UsageError(
        `--transport memory cannot span processes; use a network transport such as tcp`,
      );
    }
    let managerSpec: { id: ComponentId; address?: string };
    if (role === "manager") {
      if (values.manager) throw new UsageError("the manager takes no --manager: it is the manager");
      managerSpec = { id };
    } else {
      if (!values.manager) {
        throw new UsageError(
          "component needs --manager [id@]host:port (where the manager listens)",
        );
      }
      managerSpec = manager(values.manager, "--manager");
    }
    spec = {
      cluster: "cluster",
      component: { id, role, ...monitor },
      transport,
      latencyModel: resolve("latency-model", "legoos-ib", {}, "latency model"),
      manager: managerSpec,
      listen: values.listen,
      secretFile,
    };
  }
  if (spec.component.role !== "manager" && !spec.manager.address) {
    throw new UsageError(
      `component needs --manager [id@]host:port: the config gives no address for ${spec.manager.id}`,
    );
  }
  if (values.seed !== undefined) spec.seed = parseSeed(values.seed);
  return spec;
}

// ── clients: run, status, ps, top ─────────────────────────────────────────────────

interface ClientSpec {
  registry: PluginRegistry;
  transport: { plugin: string; options: unknown };
  manager: { id: ComponentId; address: string };
  secretFile?: string;
  latencyModel?: string;
}

async function clientSpec(
  values: { manager?: string; "secret-file"?: string; config?: string; transport?: string },
  registry: PluginRegistry,
): Promise<ClientSpec> {
  const secretFile = values["secret-file"] ?? Deno.env.get("LEGOEMU_SECRET_FILE");
  const managerText = values.manager ?? Deno.env.get("LEGOEMU_MANAGER");
  if (values.config) {
    if (values.transport) throw new UsageError("--transport comes from the config");
    const config = await loadClusterConfig(values.config, registry);
    const managerConfig = config.components.find((c) => c.role === "manager")!;
    const address = managerText ? manager(managerText, "--manager").address : managerConfig.address;
    if (!address) {
      throw new UsageError(
        `${values.config} gives no address for ${managerConfig.id}; pass --manager [id@]host:port`,
      );
    }
    return {
      registry,
      transport: managerTransport(config),
      manager: { id: managerConfig.id, address },
      secretFile,
      latencyModel: config.latencyModel.plugin,
    };
  }
  if (!managerText) {
    throw new UsageError(
      "where is the cluster? pass --manager [id@]host:port (or --config, or set LEGOEMU_MANAGER)",
    );
  }
  return {
    registry,
    transport: { plugin: values.transport ?? "tcp", options: {} },
    manager: manager(managerText, "--manager"),
    secretFile,
  };
}

async function connect(spec: ClientSpec): Promise<ClusterClient> {
  return await connectClusterClient({
    registry: spec.registry,
    transport: spec.transport.plugin,
    transportOptions: (spec.transport.options ?? {}) as Record<string, unknown>,
    manager: spec.manager,
    secretFile: spec.secretFile,
  });
}

async function run(args: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({ args: [...args], ...COMMAND_ARGS.run });
  if (values.help) return help(io.out, "run");
  await loadCliPlugins(values.plugin, io);
  const [workload, ...workloadArgs] = positionals;
  if (!workload) throw new UsageError("run needs a workload: legoemu run <workload.ts> [args...]");
  if (values.seed !== undefined) {
    throw new UsageError(
      "--seed is chosen when the cluster starts, not per run: start it with " +
        '"legoemu cluster <config> --seed N" (or "seed" in its config)',
    );
  }
  const spec = await clientSpec(values, io.env.registry);
  return await runOnCluster(spec, workload, workloadArgs, io, {
    threads: positiveInt(values.threads, "threads", 1024),
    timeoutMs: positiveInt(values["timeout-ms"], "timeout-ms"),
    started: performance.now(),
  });
}

/** Runs `workload` through a client and prints its summary; returns the exit status. */
async function runOnCluster(
  spec: ClientSpec,
  workload: string,
  args: readonly string[],
  io: Io,
  options: { threads?: number; timeoutMs?: number; started: number; done?: Promise<number> },
): Promise<number> {
  const url = workloadUrl(workload);
  const client = await connect(spec);
  try {
    io.out(`legoemu: running ${url} ${args.join(" ")}`.trimEnd());
    const abort = new AbortController();
    // A cluster that dies under the workload must not leave us waiting.
    options.done?.then(() => abort.abort(new Error("the cluster stopped")));
    let outcome: SpawnOutcome;
    try {
      outcome = await client.spawn(url, args, {
        threads: options.threads,
        timeoutMs: options.timeoutMs,
        signal: abort.signal,
      });
    } catch (e) {
      if (abort.signal.aborted) {
        throw new KernelError("ECHILD", "the cluster stopped while the workload ran");
      }
      throw e;
    }
    let components: string[] = [];
    try {
      components = (await client.snapshot()).components.map((c) => `${c.id}:${c.role}`);
    } catch {
      // The summary can do without the component list.
    }
    const lines = formatRunSummary({
      ...outcome,
      error: outcome.error || undefined,
      stats: (outcome.stats ?? {}) as Record<string, number>,
      components,
      latencyModel: spec.latencyModel,
      totalMs: performance.now() - options.started,
    });
    for (const line of lines) io.out(line);
    return outcome.exitCode === 0 ? 0 : 1;
  } finally {
    await client.close();
  }
}

async function inspect(command: "status" | "ps" | "top", args: readonly string[], io: Io) {
  const { values, positionals } = parseArgs({ args: [...args], ...COMMAND_ARGS[command] });
  if (values.help) return help(io.out, command);
  await loadCliPlugins(values.plugin, io);
  const controlUrl = values.control ?? Deno.env.get("LEGOEMU_CONTROL");
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const only = (flag: string, commands: string[]) => {
    if ((values as Record<string, unknown>)[flag] !== undefined && !commands.includes(command)) {
      throw new UsageError(`--${flag} is not an option of ${command}`);
    }
  };
  only("json", ["status", "ps"]);
  only("all", ["ps"]);
  only("interval-ms", ["top"]);
  only("count", ["top"]);
  const interval = positiveInt(values["interval-ms"], "interval-ms", 3_600_000) ?? 1000;
  const count = positiveInt(values.count, "count");
  // With a control-plane URL the views read it over HTTP; otherwise they ask the manager.
  const client = controlUrl
    ? controlPlaneClusterClient(controlUrl)
    : await connect(await clientSpec(values, io.env.registry));
  try {
    if (command === "top") return await top(client, io, interval, count);
    const snapshot = await client.snapshot();
    if (values.json) {
      io.out(JSON.stringify(command === "ps" ? snapshot.processes : snapshot, null, 2));
    } else if (command === "status") {
      for (const line of formatStatus(snapshot)) io.out(line);
    } else {
      for (const line of formatProcesses(snapshot, { all: values.all })) io.out(line);
    }
    return 0;
  } finally {
    await client.close();
  }
}

async function top(
  client: ClusterClient,
  io: Io,
  intervalMs: number,
  count: number | undefined,
): Promise<number> {
  const tty = Deno.stdout.isTerminal() && io.env.out === undefined;
  const stop = onStopSignal();
  let stopped = false;
  stop.signal.then(() => (stopped = true));
  let previous: ClusterSnapshot | undefined;
  try {
    for (let frame = 0; !stopped && (count === undefined || frame < count); frame++) {
      if (frame > 0) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          new Promise((resolve) => (timer = setTimeout(resolve, intervalMs))),
          stop.signal,
        ]);
        clearTimeout(timer);
        if (stopped) break;
      }
      const snapshot = await client.snapshot();
      // On a terminal the frame fits its size; piped, every line is kept whole.
      const size = tty ? Deno.consoleSize() : undefined;
      const lines = formatTop(snapshot, previous, { width: size?.columns, height: size?.rows });
      if (tty) io.out(`\x1b[H\x1b[2J${lines.join("\n")}`);
      else {
        if (frame > 0) io.out("");
        for (const line of lines) io.out(line);
      }
      previous = snapshot;
    }
    return 0;
  } finally {
    stop.dispose();
  }
}

// ── summaries ─────────────────────────────────────────────────────────────────────

/** What {@link formatRunSummary} needs: a process result and where it ran. */
export interface RunSummaryView {
  /** Process id. */
  pid: number;
  /** Processor that ran it. */
  processor: ComponentId;
  /** Its home memory component. */
  home: ComponentId;
  /** Its exit code. */
  exitCode: number;
  /** The error that ended it, if any. */
  error?: string;
  /** Wall time it ran, ns. */
  wallNs: number;
  /** Model time, ns. */
  modelNs: number;
  /** Its statistics. */
  stats: Record<string, number>;
  /** The cluster's components as `id:role`. */
  components: readonly string[];
  /** The latency model that charged model time, when known. */
  latencyModel?: string;
  /** Wall time from boot (or submission) to the end, ms. */
  totalMs: number;
}

/**
 * The lines of the end-of-run summary: components, cache behaviour, pages fetched,
 * bytes moved, both clocks and the latency model that produced model time.
 *
 * @example
 * ```ts
 * import { formatRunSummary } from "./main.ts";
 * const lines = formatRunSummary({
 *   pid: 1, processor: "p0", home: "m0", exitCode: 0, wallNs: 1e6, modelNs: 2e6,
 *   stats: { hits: 3, misses: 1 }, components: ["p0:processor"], totalMs: 5,
 * });
 * console.assert(lines.some((l) => l.includes("75.0% hits")));
 * ```
 */
export function formatRunSummary(view: RunSummaryView): string[] {
  const s = view.stats;
  const n = (v: number | undefined) => (v ?? 0).toLocaleString("en-US");
  const mib = (v: number | undefined) => `${((v ?? 0) / 1048576).toFixed(2)} MiB`;
  const accesses = (s.hits ?? 0) + (s.misses ?? 0);
  const hitRate = accesses ? ((100 * (s.hits ?? 0)) / accesses).toFixed(1) : "0.0";
  return [
    `── summary: process ${view.pid} on ${view.processor} (home ${view.home}) ──`,
    `exit code        ${view.exitCode}${view.error ? ` (${view.error})` : ""}`,
    `components       ${summarizeComponents(view.components)}`,
    `cache            ${n(s.hits)} hits, ${n(s.misses)} misses (${hitRate}% hits), ${
      n(s.evictions)
    } evictions`,
    `pages fetched    ${n(s.pagesFetched)} (${n(s.dirtyFlushes)} dirty write-backs, ${
      n(s.piggybacked)
    } piggybacked on a fetch)`,
    `p-local fills    ${n(s.pLocalZeroFills)} (lines never written anywhere, zero-filled here)`,
    `bytes moved      ${mib(s.bytesIn)} in, ${mib(s.bytesOut)} out, in ${n(s.messages)} messages`,
    `wall time        ${(view.wallNs / 1e6).toFixed(1)} ms (process), ${
      view.totalMs.toFixed(1)
    } ms (submission to end)`,
    `model time       ${(view.modelNs / 1e6).toFixed(3)} ms${
      view.latencyModel ? ` (latency model: ${view.latencyModel})` : ""
    }`,
    ...modelLines(s),
  ];
}

/**
 * The model-time breakdown a processor reports (`model.*` stats), as summary lines: where
 * the threads' model time went, and whether the run was deterministic.
 */
function modelLines(s: Record<string, number>): string[] {
  if (s["model.computeNs"] === undefined) return [];
  const ms = (ns: number) => `${(ns / 1e6).toFixed(3)} ms`;
  const stalls = Object.entries(s)
    .filter(([key]) => key.startsWith("model.stall."))
    .map(([key, ns]) => [key.slice("model.stall.".length, -2), ns] as const)
    .sort((a, b) => b[1] - a[1]);
  const stallNs = stalls.reduce((sum, [, ns]) => sum + ns, 0);
  const threads = s.threads ?? 1;
  return [
    `  compute        ${ms(s["model.computeNs"])} (declared work, roofline of the CPU)`,
    `  memory stalls  ${ms(stallNs)}${
      stalls.length ? ` (${stalls.map(([kind, ns]) => `${kind} ${ms(ns)}`).join(", ")})` : ""
    }`,
    `  queueing       ${ms(s["model.queueNs"] ?? 0)} (at busy NICs, memory workers, devices)`,
    ...(s["model.waitNs"]
      ? [`  joins          ${ms(s["model.waitNs"])} (waiting for threads)`]
      : []),
    ...(threads > 1 ? [`                 (summed over ${threads} threads)`] : []),
    s["model.seed"] !== undefined
      ? `mode             deterministic (seed ${
        s["model.seed"]
      }): the same seed gives the same counts and model time`
      : "mode             free-running: threads interleave as the host schedules them, so " +
        "counts and model time may vary from run to run (--seed N fixes them)",
  ];
}

/**
 * The end-of-run summary of a workload run by an in-process {@link Cluster}.
 *
 * @example
 * ```ts ignore
 * for (const line of runSummary(cluster, result, elapsedMs)) console.log(line);
 * ```
 */
export function runSummary(cluster: Cluster, result: RunResult, totalMs: number): string[] {
  const lines = formatRunSummary({
    ...result,
    components: [...cluster.monitors.values()].map((m) => `${m.id}:${m.role}`),
    latencyModel: cluster.latency.name,
    totalMs,
  });
  // An in-process run starts at boot.
  return lines.map((line) => line.replace("(submission to end)", "(boot to end)"));
}
