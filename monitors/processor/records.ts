/**
 * What the processor monitor remembers about each process and each of its threads: the
 * thread's control block and Worker, its model clock and counters; the process's home,
 * mapped ranges, which lines memory has seen, vRegion owners and open files.
 *
 * @module
 */

import { ModelClock } from "../../kernel/clock.ts";
import type { SchedulerParticipant } from "../../kernel/model_scheduler.ts";
import type { ComponentId } from "../../kernel/ids.ts";
import type { PinHolder } from "./excache.ts";
import { allocateThreadBlock, CTL, F64, LIFE, type ThreadViews, threadViews } from "./layout.ts";
import { VmaMirror } from "./vma_mirror.ts";

/** Counters of one thread or one process; every field counts events or bytes. */
export interface ProcessCounters {
  /** Any further counter (per-thread entries in a process's stats). */
  [name: string]: number;
  /** Accesses served from the ExCache. */
  hits: number;
  /** Accesses that waited for a line to be filled. */
  misses: number;
  /** Lines evicted to make room. */
  evictions: number;
  /** Dirty lines written back. */
  dirtyFlushes: number;
  /** Write-backs that shared their round trip with a fetch (`P2M_PAGE_FLUSH_FETCH`). */
  piggybacked: number;
  /** Lines zero-filled locally because memory had never seen them (p-local). */
  pLocalZeroFills: number;
  /** Lines fetched from memory components. */
  pagesFetched: number;
  /** Misses served from the victim cache (no message). */
  victimHits: number;
  /** Bytes received from other components. */
  bytesIn: number;
  /** Bytes sent to other components. */
  bytesOut: number;
  /** Messages sent (each one round trip). */
  messages: number;
}

/**
 * Zeroed counters.
 *
 * @example
 * ```ts
 * import { newCounters } from "./records.ts";
 * console.assert(newCounters().misses === 0);
 * ```
 */
export function newCounters(): ProcessCounters {
  return {
    hits: 0,
    misses: 0,
    evictions: 0,
    dirtyFlushes: 0,
    piggybacked: 0,
    pLocalZeroFills: 0,
    pagesFetched: 0,
    victimHits: 0,
    bytesIn: 0,
    bytesOut: 0,
    messages: 0,
  };
}

/**
 * What the monitor charges on a thread's behalf: its model clock, counters and stall
 * breakdown (a {@link ThreadRecord}, or one {@link ThreadBranch} of it).
 */
export interface ChargedThread {
  /** Model time charged by the monitor. */
  readonly clock: ModelClock;
  /** Counters. */
  readonly counters: ProcessCounters;
  /** Adds `ns` of stall `kind` to the breakdown. */
  chargeStall(kind: string, ns: number): void;
  /** The thread's model time now. */
  modelNs(): number;
}

/**
 * One of several pieces of work a thread's call does in parallel (a batch of
 * write-backs): it starts at the thread's model time with a clock of its own, and
 * {@link ThreadBranch.join} charges the thread the slowest branch, not the sum.
 *
 * @example
 * ```ts ignore
 * const branches = keys.map(() => new ThreadBranch(thread));
 * await Promise.all(keys.map((key, i) => writeBack(branches[i], key)));
 * ThreadBranch.join(thread, branches);
 * ```
 */
export class ThreadBranch implements ChargedThread {
  /** The branch's own clock, from the thread's model time. */
  readonly clock: ModelClock;
  /** The thread's counters (events are counted, whichever branch had them). */
  readonly counters: ProcessCounters;
  /** This branch's stalls. */
  readonly stalls: Record<string, number> = {};
  readonly #thread: ThreadRecord;

  /** A branch of `thread` starting now. */
  constructor(thread: ThreadRecord) {
    this.#thread = thread;
    this.clock = new ModelClock(thread.clock.nowNs());
    this.counters = thread.counters;
  }

  /** Adds `ns` of stall `kind` to this branch. */
  chargeStall(kind: string, ns: number): void {
    if (ns > 0) this.stalls[kind] = (this.stalls[kind] ?? 0) + ns;
  }

  /** The branch's model time. */
  modelNs(): number {
    return this.clock.nowNs() + this.#thread.computeNs();
  }

  /** Advances `thread` to its slowest branch and adds that branch's stalls. */
  static join(thread: ThreadRecord, branches: readonly ThreadBranch[]): void {
    let slowest: ThreadBranch | undefined;
    for (const b of branches) if (!slowest || b.clock.nowNs() > slowest.clock.nowNs()) slowest = b;
    if (!slowest || slowest.clock.nowNs() <= thread.clock.nowNs()) return;
    thread.clock.advanceTo(slowest.clock.nowNs());
    for (const [kind, ns] of Object.entries(slowest.stalls)) thread.chargeStall(kind, ns);
  }
}

/** How a thread ended. */
export type ThreadEnd =
  | { kind: "returned"; value: number }
  | { kind: "exit-process"; code: number }
  | { kind: "failed"; error: string };

/**
 * One emulated thread, as the monitor sees it.
 *
 * @example
 * ```ts ignore
 * const thread = new ThreadRecord(process, 0, 0);
 * thread.clock.advance(6_520);
 * console.log(thread.modelNs());
 * ```
 */
export class ThreadRecord implements PinHolder, ChargedThread {
  /** Thread id within its process. */
  readonly tid: number;
  /** Its process. */
  readonly process: ProcessRecord;
  /** The shared control block. */
  readonly block: SharedArrayBuffer = allocateThreadBlock();
  /** Views over the control block. */
  readonly views: ThreadViews = threadViews(this.block);
  /** Model time at which the thread started (its parent's, at the spawn). */
  readonly startNs: number;
  /** Model time charged by the monitor (misses, messages), from the thread's start. */
  readonly clock: ModelClock;
  /** Counters charged by the monitor (hits are counted by the thread itself). */
  readonly counters: ProcessCounters = newCounters();
  /**
   * The model time the monitor charged, by kind of stall (`fetch`, `flush`, `syscall`,
   * `placement`, `zero-fill`, `victim`, `shared-fill`) and `queue` (waiting at busy
   * resources of other components).
   */
  readonly stalls: Record<string, number> = {};
  /** Recency stamps, when the replacement policy needs them. */
  stamps: Float64Array | undefined;
  /** The Worker running the thread. */
  worker: Worker | undefined;
  /** In deterministic mode: the thread's place in the cluster's model-time order. */
  participant: SchedulerParticipant | undefined;
  /** How it ended, once it has. */
  end: ThreadEnd | undefined;
  /** Wall clock when it started and (once it has) ended, in ns. */
  wallStartNs = 0;
  /** Wall clock when it ended, in ns (0 while it runs). */
  wallEndNs = 0;
  /** Resolves when the thread has ended. */
  readonly ended: Promise<ThreadEnd>;
  #resolveEnded!: (end: ThreadEnd) => void;

  /** Creates the record of thread `tid`, starting at model time `startNs`. */
  constructor(process: ProcessRecord, tid: number, startNs: number) {
    this.process = process;
    this.tid = tid;
    this.startNs = startNs;
    this.clock = new ModelClock(startNs);
    this.ended = new Promise((resolve) => this.#resolveEnded = resolve);
  }

  /** Adds `ns` of stall `kind` to the breakdown (the clock is advanced by the caller). */
  chargeStall(kind: string, ns: number): void {
    if (ns > 0) this.stalls[kind] = (this.stalls[kind] ?? 0) + ns;
  }

  /** The model time the thread declared as compute. */
  computeNs(): number {
    return this.views.f64[F64.COMPUTE_NS];
  }

  /** The TLB's announced slots. */
  get announce(): Int32Array {
    return this.views.announce;
  }

  /** Asks the thread to drop its pins at its next access. */
  requestShootdown(): void {
    Atomics.add(this.views.ctl, CTL.SHOOT, 1);
  }

  /** Whether the thread has dropped its pins for good (its own proof, {@link LIFE}.GONE). */
  gone(): boolean {
    return (Atomics.load(this.views.ctl, CTL.KILLED) & LIFE.GONE) !== 0;
  }

  /** Hits the thread has published. */
  hits(): number {
    return this.views.f64[F64.HITS];
  }

  /** Model time of everything this thread has done so far. */
  modelNs(): number {
    return this.clock.nowNs() + this.views.f64[F64.COMPUTE_NS];
  }

  /**
   * Model time the thread charged itself, not through the monitor: the compute it
   * declared (hits cost nothing of their own).
   */
  ownNs(): number {
    return this.views.f64[F64.COMPUTE_NS];
  }

  /** Records how the thread ended (the first report wins). */
  finish(end: ThreadEnd): void {
    if (this.end) return;
    this.end = end;
    this.#resolveEnded(end);
  }

  /** Counters including hits. */
  snapshot(): ProcessCounters {
    return { ...this.counters, hits: this.hits() };
  }
}

/** An open file: stateless on the wire, so the path and position live here. */
export interface OpenFile {
  /** The path. */
  path: string;
  /** Current position. */
  position: number;
  /** Opened with `O_APPEND`. */
  append: boolean;
  /** Written through this descriptor since the last `fsync`. */
  written: boolean;
  /** Size as known here (at open, grown by this descriptor's writes), for `O_APPEND`. */
  size: number;
}

/** How a process ended. */
export interface ProcessOutcome {
  /** Exit code. */
  code: number;
  /** The error that ended it, if one did. */
  error?: string;
}

/**
 * One process, as the monitor sees it.
 *
 * @example
 * ```ts ignore
 * const process = new ProcessRecord({ pid: 1, home: "m0", workload: "w.ts", args: [] });
 * console.log(process.vmas.ranges());
 * ```
 */
export class ProcessRecord {
  /** Process id. */
  readonly pid: number;
  /**
   * Home memory component (address-space calls, file reads and writes); rewritten when it
   * fails over to its secondary.
   */
  home: ComponentId;
  /** Workload module URL. */
  readonly workload: string;
  /** Arguments. */
  readonly args: readonly string[];
  /** Threads by id (ended ones stay until the process ends, for `join`). */
  readonly threads = new Map<number, ThreadRecord>();
  /** Next thread id. */
  nextTid = 0;
  /** Mapped ranges, from the replies of address-space calls. */
  readonly vmas = new VmaMirror();
  /** Lines memory holds a copy of (written back at least once); the rest is p-local. */
  readonly flushed = new Set<number>();
  /** vRegion → owning memory component. */
  readonly owners = new Map<number, ComponentId>();
  /** Owner lookups in flight. */
  readonly ownerLookups = new Map<number, Promise<ComponentId>>();
  /** Open files by descriptor. */
  readonly files = new Map<number, OpenFile>();
  /** Next descriptor. */
  nextFd = 3;
  /** The break, once known: heap start and current break. */
  heap: { start: number; brk: number } | undefined;
  /** Monitor operations (misses, calls) in flight for this process. */
  readonly inflight = new Set<Promise<unknown>>();
  /** Set once the process is ending: no new work starts. */
  ending = false;
  /**
   * Address-space generation: advanced when a change (`mmap`, `munmap`, `mremap`,
   * `mprotect`, `brk`) begins and when it ends. A miss that read the mappings under an
   * older generation re-checks them before it installs its line.
   */
  addressSpaceGeneration = 0;
  /** Settles when the address-space change in progress (if any) is done. */
  #changing: Promise<void> | undefined;
  /** Wall time at start, ns. */
  wallStartNs = 0;
  /** Resolves with the first reason the process has to end. */
  readonly outcome: Promise<ProcessOutcome>;
  #conclude!: (outcome: ProcessOutcome) => void;

  /** Creates the record. */
  constructor(spec: { pid: number; home: ComponentId; workload: string; args: readonly string[] }) {
    this.pid = spec.pid;
    this.home = spec.home;
    this.workload = spec.workload;
    this.args = spec.args;
    this.outcome = new Promise((resolve) => this.#conclude = resolve);
  }

  /** Decides how the process ends (the first decision wins). */
  conclude(outcome: ProcessOutcome): void {
    this.#conclude(outcome);
  }

  /**
   * Runs `change` as the only address-space change of the process (like Linux's
   * `mmap_lock` held for writing): changes queue behind each other, and misses that start
   * meanwhile wait for it in {@link ProcessRecord.addressSpaceSettled}.
   */
  async changeAddressSpace<T>(change: () => Promise<T>): Promise<T> {
    while (this.#changing) await this.#changing;
    let done!: () => void;
    this.#changing = new Promise<void>((resolve) => done = resolve);
    this.addressSpaceGeneration++;
    try {
      return await change();
    } finally {
      this.addressSpaceGeneration++;
      this.#changing = undefined;
      done();
    }
  }

  /** Resolves once no address-space change is in progress (at once when none is). */
  async addressSpaceSettled(): Promise<void> {
    while (this.#changing) await this.#changing;
  }

  /** Whether an address-space change is in progress. */
  get addressSpaceChanging(): boolean {
    return this.#changing !== undefined;
  }

  /** Threads that have not ended. */
  liveThreads(): ThreadRecord[] {
    return [...this.threads.values()].filter((t) => !t.end);
  }

  /** Tracks a monitor operation so the process's end can wait for it. */
  track<T>(work: Promise<T>): Promise<T> {
    this.inflight.add(work);
    const forget = () => this.inflight.delete(work);
    work.then(forget, forget);
    return work;
  }
}
