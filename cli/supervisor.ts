/**
 * A cluster of one OS process per component, started and watched from here: what
 * `legoemu cluster <config>` does for a config whose transport spans processes.
 *
 * Each component runs `legoemu component --config <file> --id <id> --supervised` in a
 * child process. The manager starts first; once it reports its address, storage and
 * memory components start (in parallel), then processors. Every line a child prints is
 * passed on prefixed with its id. A child reports readiness with one machine-readable
 * line on standard output ({@link READY_PREFIX} and JSON).
 *
 * Stopping (on request or on Ctrl-C) sends SIGTERM to processors first, then memory and
 * storage, then the manager, and SIGKILL to any that has not exited after a grace period.
 * A failure stays isolated: a child that dies once the cluster is up is reported (here,
 * in {@link SupervisedCluster.dead}, and by the manager, which declares it down when its
 * heartbeats stop: a `component.down` event, the control plane's component state,
 * `legoemu status`), and the others keep serving. A child that exits with status 0 has
 * stopped on request (a `MGR_STOP` fault injection). Only when every child is gone does
 * the cluster end by itself. Children also stop by themselves when their standard input
 * closes, so they never outlive a supervisor that was killed.
 *
 * A component that died can be started again under the same id and on the same address
 * ({@link SupervisedCluster.restart}): the others reconnect to it there, and a restarted
 * manager learns the cluster again as each component's next heartbeat is refused and it
 * re-joins. {@link SupervisedCluster.kill} sends a signal to one component and waits for
 * its exit (what `deno task chaos` does).
 *
 * @module
 */

import {
  componentTransport,
  ConfigError,
  managerTransport,
  type ResolvedClusterConfig,
  type ResolvedComponentConfig,
} from "../kernel/config.ts";
import { KernelError } from "../kernel/errors.ts";
import type { ComponentId, Role } from "../kernel/ids.ts";

/** What a supervised component prints on standard output once it is up. */
export const READY_PREFIX = "LEGOEMU_READY ";

/** A supervised component's readiness report. */
export interface ReadyReport {
  /** Component id. */
  id: ComponentId;
  /** Role. */
  role: Role;
  /** Its transport addresses, e.g. `{ tcp: "127.0.0.1:7101" }`. */
  addresses: Record<string, string>;
  /** Its OS process id. */
  pid: number;
}

/**
 * The readiness line for `report`.
 *
 * @example
 * ```ts
 * import { formatReadyLine, parseReadyLine } from "./supervisor.ts";
 * const line = formatReadyLine({ id: "m0", role: "memory", addresses: {}, pid: 7 });
 * console.assert(parseReadyLine(line)?.pid === 7);
 * ```
 */
export function formatReadyLine(report: ReadyReport): string {
  return READY_PREFIX + JSON.stringify(report);
}

/**
 * Parses a readiness line; `undefined` for any other line.
 *
 * @example
 * ```ts
 * import { parseReadyLine } from "./supervisor.ts";
 * console.assert(parseReadyLine("hello") === undefined);
 * ```
 */
export function parseReadyLine(line: string): ReadyReport | undefined {
  if (!line.startsWith(READY_PREFIX)) return undefined;
  try {
    const value = JSON.parse(line.slice(READY_PREFIX.length));
    if (typeof value?.id !== "string" || typeof value?.pid !== "number") return undefined;
    return {
      id: value.id,
      role: value.role,
      addresses: value.addresses !== null && typeof value.addresses === "object"
        ? value.addresses
        : {},
      pid: value.pid,
    };
  } catch {
    return undefined;
  }
}

/** How to start a supervised cluster. */
export interface SuperviseOptions {
  /** The config, resolved (its components are started). */
  config: ResolvedClusterConfig;
  /** Absolute path of the config file, handed to every child. */
  configFile: string;
  /** Path of the module whose CLI the children run (`mod.ts`). */
  entry: string;
  /** Cluster secret file for the children, when not in the config. */
  secretFile?: string;
  /** Plugin modules (absolute URLs) every child loads besides the config's own. */
  plugins?: readonly string[];
  /** Where children's standard output lines go, prefixed. */
  out: (line: string) => void;
  /** Where children's standard error lines and the supervisor's notices go. */
  err: (line: string) => void;
  /** Longest wait for a component to report ready, in ms (default 60 000). */
  readyTimeoutMs?: number;
  /** Grace period between SIGTERM and SIGKILL when stopping, in ms (default 5000). */
  stopGraceMs?: number;
  /** Aborting it while components start stops those started and rejects. */
  signal?: AbortSignal;
}

/** One supervised component. */
export interface SupervisedComponent {
  /** Component id. */
  readonly id: ComponentId;
  /** Role. */
  readonly role: Role;
  /** OS process id. */
  readonly pid: number;
  /** Its addresses, as it reported them. */
  readonly addresses: Readonly<Record<string, string>>;
}

/** A running supervised cluster. */
export interface SupervisedCluster {
  /** The manager as clients name it: `id@host:port`. */
  readonly manager: string;
  /** Every component, in start order (a restarted one with its new process id). */
  readonly components: readonly SupervisedComponent[];
  /**
   * Resolves once the cluster has stopped (on request, or when every component is gone):
   * 0 when no component died, 1 when one did.
   */
  readonly done: Promise<number>;
  /** Components that died while the cluster ran → how they ended (`signal SIGKILL`). */
  readonly dead: ReadonlyMap<ComponentId, string>;
  /**
   * Sends `signal` to component `id`; resolves once its process has exited, with how it
   * ended (`signal SIGKILL`). Rejects with `ENOENT` for an unknown id and `ESRCH` when it
   * has already exited.
   */
  kill(id: ComponentId, signal: Deno.Signal): Promise<string>;
  /**
   * Starts component `id` again after its process exited, under the same id and listening
   * on the same address; resolves once it reports ready. Rejects with `EBUSY` while it
   * still runs, `ENOENT` for an unknown id, and as starting does when it fails to start.
   */
  restart(id: ComponentId): Promise<SupervisedComponent>;
  /** Stops every component. Idempotent; resolves once all have exited. */
  stop(): Promise<void>;
}

class Child {
  readonly id: ComponentId;
  readonly role: Role;
  readonly process: Deno.ChildProcess;
  readonly ready: Promise<ReadyReport>;
  readonly pumps: Promise<unknown>;
  report: ReadyReport | undefined;
  exited = false;
  #stdin: WritableStreamDefaultWriter<Uint8Array>;

  constructor(
    component: ResolvedComponentConfig,
    args: string[],
    options: SuperviseOptions,
    onExit: (child: Child, status: Deno.CommandStatus) => void,
  ) {
    this.id = component.id;
    this.role = component.role;
    this.process = new Deno.Command(Deno.execPath(), {
      args,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    this.#stdin = this.process.stdin.getWriter();
    let onReady: (report: ReadyReport) => void = () => {};
    let onFail: (error: Error) => void = () => {};
    this.ready = new Promise((resolve, reject) => {
      onReady = resolve;
      onFail = reject;
    });
    this.ready.catch(() => {});
    this.pumps = Promise.all([
      pumpLines(this.process.stdout, (line) => {
        const report = parseReadyLine(line);
        if (report && !this.report) {
          this.report = report;
          onReady(report);
        } else options.out(`[${this.id}] ${line}`);
      }),
      pumpLines(this.process.stderr, (line) => options.err(`[${this.id}] ${line}`)),
    ]);
    this.process.status.then((status) => {
      this.exited = true;
      // Exit code 2 is the child refusing the config (it printed why): the same for us.
      onFail(
        status.code === 2
          ? new ConfigError([{
            path: "$",
            message: `${this.id} refused the config at start (exit code 2; its reason is above)`,
          }])
          : new KernelError(
            "ECHILD",
            `${this.id} exited before it was ready (${describeExit(status)})`,
          ),
      );
      onExit(this, status);
    });
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
  async terminate(graceMs: number): Promise<void> {
    await this.#stdin.close().catch(() => {});
    if (!this.exited) {
      signal(this.process, "SIGTERM");
      let timer: ReturnType<typeof setTimeout> | undefined;
      const killed = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          signal(this.process, "SIGKILL");
          resolve();
        }, graceMs);
      });
      await Promise.race([this.process.status, killed]);
      clearTimeout(timer);
    }
    await this.process.status;
    await this.pumps;
  }
}

const STAGES: readonly (readonly Role[])[] = [["manager"], ["storage", "memory"], ["processor"]];

/**
 * Starts one process per component of `options.config` and resolves once all are ready.
 * Rejects (after stopping whatever started) when a component exits or stays silent
 * before it is ready.
 *
 * @example
 * ```ts ignore
 * const cluster = await startSupervisedCluster({
 *   config, configFile: "/abs/cluster.tcp.json", entry: "/abs/mod.ts",
 *   out: console.log, err: console.error,
 * });
 * console.log(cluster.manager); // e.g. gm@127.0.0.1:7000
 * await cluster.stop();
 * ```
 */
export async function startSupervisedCluster(
  options: SuperviseOptions,
): Promise<SupervisedCluster> {
  const { config } = options;
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  const graceMs = options.stopGraceMs ?? 5000;
  const children: Child[] = [];
  let stopping: Promise<void> | undefined;
  let died = false;
  const dead = new Map<ComponentId, string>();
  let resolveDone: (code: number) => void = () => {};
  const done = new Promise<number>((resolve) => (resolveDone = resolve));

  const stop = () => {
    stopping ??= (async () => {
      for (const stage of [...STAGES].reverse()) {
        await Promise.all(
          children.filter((c) => stage.includes(c.role)).map((c) => c.terminate(graceMs)),
        );
      }
      resolveDone(died ? 1 : 0);
    })();
    return stopping;
  };
  const onExit = (child: Child, status: Deno.CommandStatus) => {
    if (stopping || !child.report) return;
    if (status.success) {
      options.err(`legoemu: ${child.id} stopped (exit code 0); the others keep running`);
    } else {
      died = true;
      dead.set(child.id, describeExit(status));
      options.err(
        `legoemu: ${child.id} died unexpectedly (${describeExit(status)}); the others keep ` +
          `serving (the manager declares it down when its heartbeats stop)`,
      );
    }
    if (children.every((c) => c.exited)) void stop(); // nothing is left to serve
  };

  const baseArgs = (component: ResolvedComponentConfig) => {
    const args = [
      "run",
      "-A",
      "--unstable-worker-options", // workload threads run in a permission sandbox
      options.entry,
      "component",
      "--config",
      options.configFile,
      "--id",
      component.id,
      "--supervised",
    ];
    if (options.secretFile) args.push("--secret-file", options.secretFile);
    // The seed may come from --seed rather than the file: every component gets it.
    if (config.seed !== undefined) args.push("--seed", String(config.seed));
    for (const plugin of options.plugins ?? []) args.push("--plugin", plugin);
    return args;
  };

  let manager = "";
  const startArgs = (c: ResolvedComponentConfig) => {
    const args = baseArgs(c);
    if (c.role !== "manager") args.push("--manager", manager);
    return args;
  };
  try {
    for (const stage of STAGES) {
      const starting = config.components.filter((c) => stage.includes(c.role)).map((c) => {
        const child = new Child(c, startArgs(c), options, onExit);
        children.push(child);
        return child;
      });
      await Promise.all(
        starting.map((child) => withTimeout(child.ready, readyTimeoutMs, child.id, options.signal)),
      );
      if (died) throw new KernelError("ECHILD", "a component died while the cluster was starting");
      if (stage.includes("manager")) {
        const report = starting[0].report!;
        const address = report.addresses[managerTransport(config).plugin] ??
          Object.values(report.addresses)[0];
        if (!address) {
          throw new KernelError(
            "EINVAL",
            `the manager ${report.id} reported no address: its transport "${
              managerTransport(config).plugin
            }" cannot span processes`,
          );
        }
        manager = `${report.id}@${address}`;
      }
    }
  } catch (e) {
    await stop();
    throw e;
  }
  const find = (id: ComponentId) => {
    const index = children.findIndex((c) => c.id === id);
    if (index < 0) throw new KernelError("ENOENT", `no component "${id}" in this cluster`);
    return index;
  };
  const describe = (c: Child): SupervisedComponent => ({
    id: c.id,
    role: c.role,
    pid: c.process.pid,
    addresses: c.report?.addresses ?? {},
  });
  return {
    manager,
    get components() {
      return children.map(describe);
    },
    done,
    dead,
    async kill(id, name) {
      const child = children[find(id)];
      if (child.exited) throw new KernelError("ESRCH", `${id} has already exited`);
      signal(child.process, name);
      return describeExit(await child.process.status);
    },
    async restart(id) {
      const index = find(id);
      const old = children[index];
      if (!old.exited) throw new KernelError("EBUSY", `${id} is still running`);
      if (stopping) throw new KernelError("ESHUTDOWN", `the cluster is stopping`);
      await old.pumps;
      const component = config.components.find((c) => c.id === id)!;
      const args = startArgs(component);
      // The same address, so that those who know it (everyone, for the manager) reach it there.
      const address = old.report?.addresses[componentTransport(config, component).plugin] ??
        Object.values(old.report?.addresses ?? {})[0];
      if (address) args.push("--listen", address);
      const child = new Child(component, args, options, onExit);
      children[index] = child;
      try {
        await withTimeout(child.ready, readyTimeoutMs, id, options.signal);
      } catch (e) {
        await child.terminate(graceMs);
        throw e;
      }
      dead.delete(id);
      options.err(
        `legoemu: ${id} restarted (pid ${child.process.pid}` +
          `${address ? `, on ${address}` : ""})`,
      );
      return describe(child);
    },
    stop,
  };
}

/** `promise`, unless `ms` pass or `signal` aborts first. */
async function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  id: ComponentId,
  signal: AbortSignal | undefined,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort = () => {};
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new KernelError("ETIMEDOUT", `${id} did not report ready within ${ms} ms`)),
      ms,
    );
    onAbort = () => reject(new KernelError("EINTR", `interrupted while ${id} was starting`));
    if (signal?.aborted) onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
}

function signal(process: Deno.ChildProcess, name: Deno.Signal): void {
  try {
    process.kill(name);
  } catch {
    // It exited meanwhile.
  }
}

/**
 * How a process ended, in words: `exit code 1` or `signal SIGKILL`.
 *
 * @example
 * ```ts
 * import { describeExit } from "./supervisor.ts";
 * console.assert(describeExit({ success: false, code: 137, signal: "SIGKILL" }) === "signal SIGKILL");
 * ```
 */
export function describeExit(status: Deno.CommandStatus): string {
  return status.signal ? `signal ${status.signal}` : `exit code ${status.code}`;
}

/** Calls `onLine` for every line of `stream` (without its newline). */
async function pumpLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  let pending = "";
  try {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      pending += chunk;
      let newline: number;
      while ((newline = pending.indexOf("\n")) >= 0) {
        onLine(pending.slice(0, newline).replace(/\r$/, ""));
        pending = pending.slice(newline + 1);
      }
    }
  } catch {
    // The pipe broke: the child is gone, and its exit is reported elsewhere.
  }
  if (pending) onLine(pending);
}
