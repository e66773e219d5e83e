/**
 * The stock processor monitor (pComponent): runs processes whose threads are Workers and
 * whose only memory is the ExCache, a `SharedArrayBuffer` all threads share.
 *
 * Threads serve their own cache hits (see `worker_proc.ts`). When one misses or makes a
 * system call it posts a request in its control block and sleeps in `Atomics.wait`; the
 * monitor, woken by `Atomics.waitAsync`, serves it (`page_service.ts`, `syscalls.ts`),
 * answers and wakes it with `Atomics.notify`. Other threads keep running meanwhile.
 *
 * A process ends when its first thread returns from `main` (the return value is the exit
 * code), when any thread calls `exit(code)`, or when any thread fails (an uncaught error
 * or a segmentation fault: exit code 1, the error reported). Its other threads are then
 * stopped, its lines dropped, its files closed and its memory freed on its home (`P2M_EXIT`);
 * the monitor keeps serving every other process.
 *
 * @module
 */

import { z } from "npm:zod@4.6.7";
import { KernelError } from "../../kernel/errors.ts";
import { joinCluster, type Membership } from "../../kernel/membership.ts";
import { PAGE_SIZE } from "../../kernel/messages.ts";
import type {
  MonitorContext,
  ProcessorMonitor,
  ProcessResult,
  ProcessSpec,
} from "../../kernel/monitor.ts";
import type { Schema } from "../../kernel/zod_issues.ts";
import { checkRoofline, type Roofline } from "../../kernel/roofline.ts";
import { withoutSpan } from "../../kernel/model_time.ts";
import type { ReplacementPolicy } from "../../kernel/replacement.ts";
import type { Pager } from "../../kernel/pager.ts";
import { ExCache } from "./excache.ts";
import {
  CTL,
  F64,
  LIFE,
  MAILBOX_BYTES,
  MAX_PID,
  REQUEST,
  RESPONSE,
  type ThreadInit,
  type ThreadMessage,
  VADDR_LIMIT,
} from "./layout.ts";
import { createMessenger, type Messenger } from "./messenger.ts";
import { FailoverMessenger } from "./replica_route.ts";
import { PageService } from "./page_service.ts";
import {
  newCounters,
  type ProcessCounters,
  ProcessRecord,
  type ThreadEnd,
  ThreadRecord,
} from "./records.ts";
import { Syscalls } from "./syscalls.ts";
import { PmemClient } from "../../kernel/pmem_paths.ts";
import type { ComponentId } from "../../kernel/ids.ts";
import { VictimCache } from "./victim_cache.ts";
import {
  checkWorkload,
  sandboxField,
  type SandboxOptions,
  startThreadWorker,
  threadPermissions,
} from "./workload_sandbox.ts";

/** Options of the stock processor monitor. */
export interface ProcessorOptions {
  /** ExCache size in bytes, a whole number of 4 KiB lines (default 4 MiB, at most 2 GiB). */
  cacheBytes: number;
  /** Lines per set (default 64, as in the paper; clamped to the number of lines). */
  ways: number;
  /** The replacement-policy plugin (default `lru`; stock: `fifo`, `lru`, `random`). */
  replacement: string;
  /** Options of the replacement-policy plugin. */
  replacementOptions: Record<string, unknown>;
  /** Lines in the optional victim cache (default 0: none). */
  victimLines: number;
  /** Most threads running on this component at once (default 256). */
  maxThreads: number;
  /**
   * A `"pager"` plugin: makes this processor a monolithic machine paging to a device (a
   * Linux baseline), its calls priced by the pager instead of the network (default: none).
   */
  pager?: string;
  /** Options of the pager plugin. */
  pagerOptions: Record<string, unknown>;
  /** What workload modules may be and what their threads may do (see workload_sandbox.ts). */
  sandbox: SandboxOptions;
}

/** Validates {@link ProcessorOptions}, filling defaults. */
export const ProcessorOptionsSchema: Schema<ProcessorOptions> = z.strictObject({
  cacheBytes: z.number().int().min(PAGE_SIZE).max(2 ** 31).multipleOf(PAGE_SIZE)
    .default(4 * 1024 * 1024),
  ways: z.number().int().min(1).max(65536).default(64),
  replacement: z.string().min(1).default("lru"),
  replacementOptions: z.record(z.string(), z.unknown()).default({}),
  victimLines: z.number().int().min(0).max(65536).default(0),
  maxThreads: z.number().int().min(1).max(4096).default(256),
  pager: z.string().min(1).optional(),
  pagerOptions: z.record(z.string(), z.unknown()).default({}),
  sandbox: sandboxField,
}).superRefine((options, ctx) => {
  const lines = options.cacheBytes / PAGE_SIZE;
  const ways = Math.min(options.ways, lines);
  if (Number.isInteger(lines) && lines % ways !== 0) {
    ctx.addIssue({
      code: "custom",
      path: ["ways"],
      message:
        `${lines} lines do not split into sets of ${ways} ways; choose ways that divide ${lines}`,
    });
  }
});

export type { ProcessCounters } from "./records.ts";

/**
 * How often running threads that published nothing new are asked to publish their
 * counters. A thread publishes at every miss or system call; one that only hits would
 * otherwise publish only when it ends, and heartbeats would show it idle. Asked every
 * other look, such a thread publishes every 100 ms: well within a heartbeat period, so
 * the growth between two heartbeats is never zero while it runs.
 */
const PUBLISH_MS = 50;
const THREAD_MODULE = new URL("./thread_worker.ts", import.meta.url).href;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The stock processor monitor.
 *
 * @example
 * ```ts ignore
 * const processor = new StockProcessorMonitor(context, ProcessorOptionsSchema.parse({}));
 * await processor.start();
 * const result = await processor.runProcess({ pid: 1, home: "m0", workload: "w.ts", args: [] });
 * ```
 */
export class StockProcessorMonitor implements ProcessorMonitor {
  /** The role. */
  readonly role = "processor" as const;
  /** The component id. */
  readonly id: string;
  readonly #context: MonitorContext;
  readonly #options: ProcessorOptions;
  readonly #lines: number;
  readonly #ways: number;
  #messenger: Messenger;
  #pager: Pager | undefined;
  #cache: ExCache | undefined;
  #pages: PageService | undefined;
  #syscalls: Syscalls | undefined;
  #roofline: Roofline = { flopsPerNs: 1, bytesPerNs: 1 };
  #membership: Membership | undefined;
  #vregionBytes = 2 ** 30;
  readonly #processes = new Map<number, ProcessRecord>();
  readonly #running = new Map<number, Promise<ProcessResult>>();
  readonly #totals: ProcessCounters = newCounters();
  #processesRun = 0;
  #stopped = false;
  #publishTimer: ReturnType<typeof setInterval> | undefined;
  /** Each live thread's published hits at the last look (see {@link PUBLISH_MS}). */
  readonly #seenHits = new WeakMap<ThreadRecord, number>();
  /**
   * Per process: Workers whose thread returned, each waiting for another thread of the
   * process to run (a thread pool: starting a Worker and compiling the workload again in a
   * new isolate costs more than many of the CNN's threads run).
   */
  readonly #idleWorkers = new WeakMap<ProcessRecord, Worker[]>();
  /** PMEM clients by memory component, for `proc.persistentWrite`. */
  readonly #pmemClients = new Map<ComponentId, Promise<PmemClient>>();

  /** Creates the monitor; `start()` builds the ExCache and joins the cluster. */
  constructor(context: MonitorContext, options: ProcessorOptions) {
    this.#context = context;
    this.id = context.id;
    this.#options = options;
    this.#lines = options.cacheBytes / PAGE_SIZE;
    this.#ways = Math.min(options.ways, this.#lines);
    if (this.#lines % this.#ways !== 0) {
      throw new KernelError("EINVAL", `${this.#lines} lines do not split into ${this.#ways} ways`);
    }
    // Replicated flushes and failover routing (see replica_route.ts).
    this.#messenger = new FailoverMessenger(createMessenger(context), {
      context,
      processes: () => this.#processes.values(),
    });
  }

  /** Builds the ExCache, serves `MGR_EXEC` and joins the cluster. */
  async start(): Promise<void> {
    const context = this.#context;
    const sets = this.#lines / this.#ways;
    const policy = await context.registry.create<ReplacementPolicy>(
      "replacement-policy",
      this.#options.replacement,
      this.#options.replacementOptions,
      { sets, ways: this.#ways },
    );
    if (this.#options.pager) {
      this.#pager = await context.registry.create<Pager>(
        "pager",
        this.#options.pager,
        this.#options.pagerOptions,
        { lines: this.#lines, latency: context.latency },
      );
      this.#messenger = createMessenger(context, this.#pager);
    }
    const victims = this.#options.victimLines > 0
      ? new VictimCache(this.#options.victimLines)
      : undefined;
    this.#cache = new ExCache(this.#lines, this.#ways, policy, {
      copyCleanVictims: victims !== undefined,
    });
    this.#pages = new PageService(this.#cache, victims, {
      context,
      messenger: this.#messenger,
      ...(this.#pager ? { pager: this.#pager } : {}),
      process: (pid) => this.#processes.get(pid),
      vregionBytes: () => this.#vregionBytes,
    });
    this.#syscalls = new Syscalls({
      manager: context.manager,
      messenger: this.#messenger,
      latency: context.latency,
      pages: this.#pages,
      pmem: (owner) => this.#pmemClient(owner),
      spawnThread: (process, entry, arg, parent) =>
        this.#spawnThread(process, entry, arg, parent.modelNs()),
    });
    this.#roofline = checkRoofline(
      context.latency.roofline(),
      `latency model ${context.latency.name}`,
    );
    if (this.#messenger instanceof FailoverMessenger) {
      context.rpc.handle(this.#messenger.handlers());
    }
    context.rpc.handle({
      MGR_EXEC: async ({ pid, home, workload, args }) => {
        if (!Array.isArray(args) || !args.every((a) => typeof a === "string")) {
          throw new KernelError("EINVAL", "args must be an array of strings");
        }
        // The process runs outside MGR_EXEC's span: its threads charge their own clocks.
        const result = await withoutSpan(() => this.runProcess({ pid, home, workload, args }));
        return {
          exitCode: result.exitCode,
          error: result.error ?? "",
          wallNs: result.wallNs,
          modelNs: result.modelNs,
          stats: result.stats,
        };
      },
    });
    this.#membership = await joinCluster(context, {
      cacheBytes: this.#options.cacheBytes,
      ways: this.#ways,
      replacement: policy.name,
    }, () => this.#load());
    this.#vregionBytes = this.#membership.vregionBytes;
    // Not in deterministic mode: a shootdown at a wall-clock moment would change the
    // threads' recency stamps, and so the run (live hit counts then move at events only).
    if (context.scheduler) return;
    const timer = setInterval(() => this.#askForCounters(), PUBLISH_MS);
    Deno.unrefTimer(timer);
    this.#publishTimer = timer;
  }

  /** Stops every running process (exit code 1) and leaves the cluster. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#membership?.leave();
    clearInterval(this.#publishTimer);
    for (const process of this.#processes.values()) {
      process.conclude({ code: 1, error: `processor ${this.id} stopped` });
    }
    await Promise.allSettled([...this.#running.values()]);
  }

  /**
   * Answers the control plane: `processes` (each running process with its threads and
   * counters) or `excache` (geometry, policy, and lines held per process).
   */
  query(what: string, _args: Record<string, unknown> = {}): unknown {
    switch (what) {
      case "processes":
        return [...this.#processes.values()].map((p) => ({
          pid: p.pid,
          home: p.home,
          workload: p.workload,
          threads: p.liveThreads().map((t) => ({ tid: t.tid, modelNs: t.modelNs() })),
          counters: processCounters(p),
        }));
      case "excache": {
        const cache = this.#cache;
        const byPid: Record<string, number> = {};
        for (const pid of this.#processes.keys()) {
          byPid[pid] = cache?.residentSlots(pid).length ?? 0;
        }
        return {
          lines: this.#lines,
          ways: this.#ways,
          sets: this.#lines / this.#ways,
          linesUsed: cache?.used ?? 0,
          replacement: cache?.policy.name,
          victimLines: this.#options.victimLines,
          linesByPid: byPid,
        };
      }
      default:
        throw new KernelError(
          "ENOENT",
          `processor ${this.id} answers no question "${what}" (it answers: processes, excache)`,
        );
    }
  }

  /** Ends process `pid` (exit code 1, "killed"); resolves once it is gone. */
  async kill(pid: number): Promise<void> {
    const process = this.#processes.get(pid);
    if (!process) throw new KernelError("ESRCH", `no process ${pid} on ${this.id}`);
    process.conclude({ code: 1, error: "killed by request" });
    await this.#running.get(pid)?.catch(() => {});
  }

  /**
   * Switches the ExCache's replacement policy at run time (`kind` must be
   * `replacement-policy`); the new policy gets its default options unless it is the
   * configured one.
   */
  async setPolicy(kind: string, name: string): Promise<void> {
    if (kind !== "replacement-policy") {
      throw new KernelError("EINVAL", `processor ${this.id} has no ${kind} policy to switch`);
    }
    const cache = this.#cache;
    if (!cache) throw new KernelError("ENOTCONN", `processor ${this.id} is not started`);
    const options = name === this.#options.replacement ? this.#options.replacementOptions : {};
    cache.setPolicy(
      await this.#context.registry.create<ReplacementPolicy>("replacement-policy", name, options, {
        sets: cache.sets,
        ways: cache.ways,
      }),
    );
    this.#context.log(`replacement policy is now ${name}`);
  }

  /** Totals over every process run here, plus the ExCache's state. */
  stats(): Record<string, unknown> {
    const live = newCounters();
    for (const process of this.#processes.values()) addInto(live, processCounters(process));
    const totals = { ...this.#totals };
    addInto(totals, live);
    return {
      ...totals,
      processesRun: this.#processesRun,
      running: this.#processes.size,
      threads: this.#liveThreads(),
      cacheLines: this.#lines,
      cacheWays: this.#ways,
      cacheLinesUsed: this.#cache?.used ?? 0,
      replacement: this.#cache?.policy.name,
      ...this.#pages?.stats,
      ...(this.#pager ? prefixed("pager.", this.#pager.stats()) : {}),
      ...(this.#messenger instanceof FailoverMessenger
        ? { replication: { ...this.#messenger.stats } }
        : {}),
    };
  }

  /** Runs `spec`'s workload to completion on this component. */
  runProcess(spec: ProcessSpec): Promise<ProcessResult> {
    const { pid } = spec ?? {};
    if (!Number.isInteger(pid) || pid < 1 || pid > MAX_PID) {
      return Promise.reject(new KernelError("EINVAL", `pid must be in 1..${MAX_PID}, got ${pid}`));
    }
    if (this.#processes.has(pid)) {
      return Promise.reject(new KernelError("EEXIST", `process ${pid} is running on ${this.id}`));
    }
    if (typeof spec.home !== "string" || spec.home === "") {
      return Promise.reject(new KernelError("EINVAL", "a process needs a home memory component"));
    }
    if (typeof spec.workload !== "string" || spec.workload === "") {
      return Promise.reject(new KernelError("EINVAL", "a process needs a workload module"));
    }
    if (!Array.isArray(spec.args) || !spec.args.every((a) => typeof a === "string")) {
      return Promise.reject(new KernelError("EINVAL", "args must be an array of strings"));
    }
    if (!this.#cache || this.#stopped) {
      return Promise.reject(
        new KernelError("ENOTCONN", `processor ${this.id} is not running (start() first)`),
      );
    }
    const process = new ProcessRecord({
      pid,
      home: spec.home,
      workload: workloadUrl(spec.workload),
      args: [...spec.args],
    });
    this.#processes.set(pid, process);
    const run = this.#run(process);
    this.#running.set(pid, run);
    run.finally(() => this.#running.delete(pid)).catch(() => {});
    return run;
  }

  async #run(p: ProcessRecord): Promise<ProcessResult> {
    const context = this.#context;
    this.#processesRun++;
    p.wallStartNs = context.wallClock.nowNs();
    const main = new ThreadRecord(p, p.nextTid++, 0);
    p.threads.set(main.tid, main);
    try {
      await checkWorkload(p.workload, this.#options.sandbox);
      await this.#messenger.call(main, p.home, "P2M_FORK", { pid: p.pid, parentPid: 0 }, {
        request: 8,
      });
      this.#startThread(main, "main", null);
    } catch (e) {
      p.conclude({ code: 1, error: `cannot start process ${p.pid}: ${(e as Error).message}` });
      main.finish({ kind: "failed", error: "not started" });
    }
    const outcome = await p.outcome;
    if (outcome.error) context.log(`process ${p.pid} failed: ${outcome.error}`);
    await this.#teardown(p, main);
    const counters = processCounters(p);
    addInto(this.#totals, counters);
    this.#processes.delete(p.pid);
    await context.rpc.call(context.manager, "MGR_PROCESS_EXIT", {
      pid: p.pid,
      exitCode: outcome.code,
      error: outcome.error ?? "",
    }).catch((e) => context.log(`exit report of process ${p.pid} failed: ${(e as Error).message}`));
    const stats: Record<string, number> = { ...counters, threads: p.threads.size };
    if (p.threads.size > 1) {
      for (const t of p.threads.values()) {
        for (const [name, value] of Object.entries(t.snapshot())) {
          stats[`thread${t.tid}.${name}`] = value;
        }
        stats[`thread${t.tid}.modelNs`] = t.modelNs();
        stats[`thread${t.tid}.wallNs`] = (t.wallEndNs || context.wallClock.nowNs()) -
          t.wallStartNs;
      }
    }
    Object.assign(stats, modelBreakdown(p, context.scheduler?.seed));
    return {
      pid: p.pid,
      exitCode: outcome.code,
      error: outcome.error,
      wallNs: context.wallClock.nowNs() - p.wallStartNs,
      modelNs: Math.max(...[...p.threads.values()].map((t) => t.modelNs())),
      stats,
    };
  }

  /** Stops the threads, drops the lines, closes the files and frees the memory of `p`. */
  async #teardown(p: ProcessRecord, main: ThreadRecord): Promise<void> {
    p.ending = true;
    for (const t of p.threads.values()) this.#kill(t);
    for (const worker of this.#idleWorkers.get(p) ?? []) worker.terminate();
    this.#idleWorkers.delete(p);
    await Promise.allSettled([...p.inflight]);
    try {
      await this.#pages!.dropProcess(main, p);
      await this.#syscalls!.closeAll(main);
    } catch (e) {
      this.#context.log(`process ${p.pid}: cleanup failed: ${(e as Error).message}`);
    }
    try {
      await this.#messenger.call(main, p.home, "P2M_EXIT", { pid: p.pid }, {
        request: 4,
        reply: 4,
      });
    } catch (e) {
      this.#context.log(`process ${p.pid}: exit on ${p.home} failed: ${(e as Error).message}`);
    }
  }

  #liveThreads(): number {
    let n = 0;
    for (const process of this.#processes.values()) n += process.liveThreads().length;
    return n;
  }

  /**
   * The heartbeat's load: counters over every process run here, running ones included
   * (as their threads last published them), and the live threads of each running process.
   */
  #load(): Record<string, unknown> {
    const counters = { ...this.#totals };
    const threadsByPid: Record<string, number> = {};
    for (const process of this.#processes.values()) {
      addInto(counters, processCounters(process));
      threadsByPid[process.pid] = process.liveThreads().length;
    }
    return {
      processes: this.#processes.size,
      threads: this.#liveThreads(),
      cacheLinesUsed: this.#cache?.used ?? 0,
      ...counters,
      threadsByPid,
    };
  }

  /**
   * Asks each live thread whose published hits did not move since the last look to
   * publish: a shootdown, which the thread honours within its next 1024 hits by dropping
   * its pins and publishing its counters (dropping pins costs it a few TLB refills).
   */
  #askForCounters(): void {
    for (const process of this.#processes.values()) {
      for (const t of process.liveThreads()) {
        const hits = t.hits();
        if (this.#seenHits.get(t) === hits) t.requestShootdown();
        this.#seenHits.set(t, hits);
      }
    }
  }

  /** A client of PMEM memory component `owner` (connected once; a failure is not kept). */
  #pmemClient(owner: ComponentId): Promise<PmemClient> {
    let client = this.#pmemClients.get(owner);
    if (!client) {
      const { rpc, endpoint, latency } = this.#context;
      client = PmemClient.connect({ rpc, endpoint, target: owner, model: latency });
      client.catch(() => this.#pmemClients.delete(owner));
      this.#pmemClients.set(owner, client);
    }
    return client;
  }

  #spawnThread(p: ProcessRecord, entry: string, arg: unknown, startNs: number): number {
    if (p.ending) throw new KernelError("ESRCH", `process ${p.pid} is ending`);
    if (this.#liveThreads() >= this.#options.maxThreads) {
      throw new KernelError(
        "EAGAIN",
        `processor ${this.id} already runs ${this.#options.maxThreads} threads (maxThreads)`,
      );
    }
    const t = new ThreadRecord(p, p.nextTid++, startNs);
    p.threads.set(t.tid, t);
    this.#startThread(t, entry, arg);
    return t.tid;
  }

  #startThread(t: ThreadRecord, entry: string, arg: unknown): void {
    const cache = this.#cache!;
    const p = t.process;
    const stamps = cache.policy.needsRecency
      ? new SharedArrayBuffer(this.#lines * Float64Array.BYTES_PER_ELEMENT)
      : undefined;
    if (stamps) {
      t.stamps = new Float64Array(stamps);
      cache.addStamps(t.stamps);
    }
    cache.addHolder(t);
    t.views.f64[F64.STALL_NS] = t.clock.nowNs(); // it starts at its parent's model time
    // Deterministic mode: the new thread counts as running from now on (its parent's
    // event is still being served), so nothing is decided before it reaches its first event.
    t.participant = this.#context.scheduler?.enter(`${this.id}/${p.pid}/${t.tid}`);
    t.wallStartNs = this.#context.wallClock.nowNs();
    const init: ThreadInit = {
      pid: p.pid,
      tid: t.tid,
      args: p.args,
      workload: p.workload,
      entry,
      arg,
      cache: cache.buffers,
      block: t.block,
      stamps,
      roofline: this.#roofline,
    };
    const worker = this.#idleWorkers.get(p)?.pop() ?? startThreadWorker(
      THREAD_MODULE,
      `pid ${p.pid} thread ${t.tid}`,
      threadPermissions(p.workload, this.#options.sandbox),
    );
    t.worker = worker;
    worker.onmessage = (event: MessageEvent<ThreadMessage>) => this.#onMessage(t, event.data);
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      this.#ended(t, { kind: "failed", error: `thread crashed: ${event.message}` });
    };
    worker.onmessageerror = () => {
      this.#ended(t, { kind: "failed", error: "thread sent an unreadable message" });
    };
    worker.postMessage(init);
    this.#context.events.emit("thread.start", {
      component: this.id,
      data: { pid: p.pid, tid: t.tid, entry },
    });
    this.#serve(t).catch((e) =>
      this.#ended(t, { kind: "failed", error: `monitor error: ${(e as Error).message}` })
    );
  }

  #onMessage(t: ThreadRecord, message: ThreadMessage): void {
    const pid = t.process.pid;
    switch (message?.type) {
      case "log":
        this.#context.log(
          `[pid ${pid}${t.tid === 0 ? "" : ` thread ${t.tid}`}] ${String(message.text)}`,
        );
        return;
      case "exit":
        this.#ended(t, { kind: "returned", value: Number(message.value) | 0 });
        return;
      case "exit-process":
        this.#ended(t, { kind: "exit-process", code: Number(message.code) | 0 });
        return;
      case "error":
        this.#ended(t, { kind: "failed", error: String(message.error) });
        return;
      default:
        this.#ended(t, { kind: "failed", error: "thread sent an unknown message" });
    }
  }

  /** Records a thread's end and decides what it means for its process. */
  #ended(t: ThreadRecord, end: ThreadEnd): void {
    if (t.end) return;
    t.finish(end);
    // A thread that reported its own end dropped its pins (and said so); a crashed one may
    // not have, and its slots stay out of reuse until it proves it is gone. One that
    // returned leaves its Worker ready for the process's next thread.
    this.#release(t, end.kind === "returned");
    const p = t.process;
    this.#context.events.emit("thread.exit", {
      component: this.id,
      data: { pid: p.pid, tid: t.tid, ...end },
    });
    if (end.kind === "failed") p.conclude({ code: 1, error: `thread ${t.tid}: ${end.error}` });
    else if (end.kind === "exit-process") p.conclude({ code: end.code });
    else if (t.tid === 0) p.conclude({ code: end.value });
  }

  /** Stops a thread that is still running (its process is ending). */
  #kill(t: ThreadRecord): void {
    if (t.end) return;
    t.finish({ kind: "failed", error: "stopped: its process ended" });
    const ctl = t.views.ctl;
    Atomics.or(ctl, CTL.KILLED, LIFE.KILL);
    t.requestShootdown();
    this.#release(t);
  }

  /**
   * Ends a thread's request loop, and its Worker unless `reuse` (the thread returned and
   * its process goes on: the Worker waits for the process's next thread). Its pins keep
   * their slots from reuse until the thread proves it is gone ({@link ThreadRecord.gone}).
   */
  #release(t: ThreadRecord, reuse = false): void {
    t.participant?.leave();
    t.wallEndNs = this.#context.wallClock.nowNs();
    if (reuse && t.worker && !t.process.ending) this.#park(t.process, t.worker);
    else t.worker?.terminate();
    const ctl = t.views.ctl;
    // Wake the request loop (to exit) and the thread, should it still be waiting.
    Atomics.notify(ctl, CTL.REQ);
    if (Atomics.load(ctl, CTL.RESP) === 0) Atomics.store(ctl, CTL.RESP, RESPONSE.KILLED);
    Atomics.notify(ctl, CTL.RESP);
    this.#cache!.retireHolder(t);
    if (t.stamps) this.#cache!.removeStamps(t.stamps);
  }

  /** Keeps `worker` (its thread returned) for `p`'s next thread. */
  #park(p: ProcessRecord, worker: Worker): void {
    const idle = this.#idleWorkers.get(p) ?? [];
    this.#idleWorkers.set(p, idle);
    idle.push(worker);
    const drop = () => {
      worker.terminate();
      const at = idle.indexOf(worker);
      if (at >= 0) idle.splice(at, 1);
    };
    // An idle Worker has nothing to say; if it speaks or fails (a returned thread's
    // leftover timer, say), it is not fit to run another thread.
    worker.onmessage = drop;
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      drop();
    };
    worker.onmessageerror = drop;
  }

  /** Serves thread `t`'s requests until it ends. */
  async #serve(t: ThreadRecord): Promise<void> {
    const ctl = t.views.ctl;
    while (!t.end) {
      const waiting = Atomics.waitAsync(ctl, CTL.REQ, 0);
      if (waiting.async) await waiting.value;
      if (t.end) return;
      const op = Atomics.exchange(ctl, CTL.REQ, 0);
      if (op === REQUEST.YIELD) {
        // Nothing to do but wake the thread: a bare round trip (sched_yield).
        Atomics.store(ctl, CTL.RESP, RESPONSE.OK);
        Atomics.notify(ctl, CTL.RESP);
      } else if (op !== 0) await this.#handle(t, op);
    }
  }

  async #handle(t: ThreadRecord, op: number): Promise<void> {
    const p = t.process;
    let response: number;
    // Deterministic mode: wait until this is the cluster's earliest event in model time.
    if (t.participant) await t.participant.arrive(t.modelNs());
    try {
      if (op === REQUEST.MISS) {
        const vaddr = t.views.f64[F64.VADDR];
        const write = Atomics.load(t.views.ctl, CTL.WRITE) === 1;
        if (!Number.isSafeInteger(vaddr) || vaddr < 0 || vaddr >= VADDR_LIMIT) {
          throw new KernelError("EFAULT", `segmentation fault: bad address ${vaddr}`);
        }
        // A miss that needs nothing to wait for is served at once, with no promise; the rest
        // as miss() serves them.
        const now = this.#pages!.missNow(t, vaddr, write);
        response = typeof now === "number"
          ? now
          : await p.track(now ?? this.#pages!.miss(t, vaddr, write));
      } else if (op === REQUEST.SYSCALL) {
        response = await p.track(this.#syscall(t));
      } else {
        throw new KernelError("EINVAL", `unknown request ${op}`);
      }
    } catch (e) {
      response = RESPONSE.ERROR;
      const error = e as { code?: unknown; message?: unknown };
      this.#writeMailbox(t, {
        code: typeof error?.code === "string" ? error.code : "EIO",
        message: String(error?.message ?? e).slice(0, 8192),
      });
    }
    t.participant?.done();
    if (t.end) return; // killed meanwhile: #release already answered KILLED
    t.views.f64[F64.STALL_NS] = t.clock.nowNs(); // what the thread compares fill times with
    const ctl = t.views.ctl;
    Atomics.store(ctl, CTL.RESP, response);
    Atomics.notify(ctl, CTL.RESP);
  }

  async #syscall(t: ThreadRecord): Promise<number> {
    const { ctl, mailbox } = t.views;
    const jsonBytes = Atomics.load(ctl, CTL.JSON_BYTES);
    const blobBytes = Atomics.load(ctl, CTL.BLOB_BYTES);
    if (
      jsonBytes < 0 || blobBytes < 0 || jsonBytes + blobBytes > MAILBOX_BYTES
    ) throw new KernelError("EINVAL", "malformed system call");
    let args: Record<string, unknown>;
    try {
      args = JSON.parse(decoder.decode(mailbox.slice(0, jsonBytes)));
    } catch {
      throw new KernelError("EINVAL", "malformed system call arguments");
    }
    if (typeof args !== "object" || args === null || Array.isArray(args)) {
      throw new KernelError("EINVAL", "system call arguments must be an object");
    }
    const blob = mailbox.slice(jsonBytes, jsonBytes + blobBytes);
    if (args.op === "join" && t.participant) {
      // The joiner waits for another thread: it must not hold the cluster's turn meanwhile.
      const target = t.process.threads.get(Number(args.tid));
      if (target?.participant && target !== t) t.participant.parkUntilLeft(target.participant);
    }
    const { reply, blob: out } = await this.#syscalls!.run(t, args, blob);
    this.#writeMailbox(t, reply, out);
    return RESPONSE.OK;
  }

  #writeMailbox(t: ThreadRecord, reply: unknown, blob?: Uint8Array): void {
    const { ctl, mailbox } = t.views;
    const json = encoder.encode(JSON.stringify(reply));
    const blobBytes = blob?.length ?? 0;
    if (json.length + blobBytes > MAILBOX_BYTES) {
      throw new KernelError("E2BIG", `reply of ${json.length + blobBytes} bytes`);
    }
    mailbox.set(json, 0);
    if (blob) mailbox.set(blob, json.length);
    Atomics.store(ctl, CTL.JSON_BYTES, json.length);
    Atomics.store(ctl, CTL.BLOB_BYTES, blobBytes);
  }
}

/**
 * Where the model time of `p`'s threads went, summed over its threads: `model.computeNs`
 * (declared compute), `model.stall.<kind>Ns` (misses, write-backs, system calls, ...),
 * `model.queueNs` (waiting at other components' busy resources), `model.waitNs` (waiting
 * for other threads: joins); and `model.seed` in deterministic mode.
 */
function modelBreakdown(p: ProcessRecord, seed: number | undefined): Record<string, number> {
  const out: Record<string, number> = { "model.computeNs": 0, "model.queueNs": 0 };
  let waitNs = 0;
  for (const t of p.threads.values()) {
    out["model.computeNs"] += t.computeNs();
    let charged = 0;
    for (const [kind, ns] of Object.entries(t.stalls)) {
      const key = kind === "queue" ? "model.queueNs" : `model.stall.${kind}Ns`;
      out[key] = (out[key] ?? 0) + ns;
      charged += ns;
    }
    waitNs += Math.max(0, t.clock.nowNs() - t.startNs - charged);
  }
  out["model.waitNs"] = waitNs;
  if (seed !== undefined) out["model.seed"] = seed;
  return out;
}

function prefixed(prefix: string, values: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [prefix + k, v]));
}

/** The counters of every thread of `p`, summed. */
function processCounters(p: ProcessRecord): ProcessCounters {
  const sum = newCounters();
  for (const t of p.threads.values()) addInto(sum, t.snapshot());
  return sum;
}

function addInto(into: ProcessCounters, from: ProcessCounters): void {
  for (const [name, value] of Object.entries(from)) into[name] = (into[name] ?? 0) + value;
}

/** A workload path or URL as an absolute URL (paths are relative to the working directory). */
function workloadUrl(workload: string): string {
  try {
    return new URL(workload).href;
  } catch {
    return new URL(workload, `file://${Deno.cwd()}/`).href;
  }
}
