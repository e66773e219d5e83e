/**
 * Miss handling and write-back: the software half of the ExCache, run by the processor
 * monitor while the faulting thread sleeps.
 *
 * A miss picks a slot (a free way first, else a victim chosen by the replacement policy),
 * writes the victim back if it is dirty, and fills the slot:
 * - **p-local**: a line of anonymous memory that memory has never seen (never written
 *   back) is zero-filled right here, with no message; memory first hears of it at its
 *   first dirty eviction;
 * - from the **victim cache**, when one is configured and holds the line;
 * - otherwise **fetched** from the memory component that owns the line's vRegion (asked of
 *   the global memory manager once per vRegion, then cached). When the dirty victim goes
 *   to the same owner for the same process, write-back and fetch share one round trip
 *   (`P2M_PAGE_FLUSH_FETCH`).
 *
 * A miss that needs nothing to wait for is served at once, with no promise (`missNow`):
 * a free way, a clean victim or one that rides on the fetch, and a p-local zero fill or a
 * fetch that an in-process memory component answers within the send. Everything else
 * takes the path above as a promise (`miss`).
 *
 * Two threads missing on the same line cause one fill: the second waits for the first.
 * A line being written back is not fetched again until the write-back has landed, and
 * write-backs of one line are sent in order.
 *
 * A dirty line whose write-back memory refuses (it is full, `onFull: "enomem"` or swap
 * full, or unreachable) is never dropped: it goes back into its slot, still dirty, and
 * what needed the room fails with `ENOMEM` instead — the miss that wanted the slot, or
 * the `msync`/`munmap`/`mremap`/`mprotect` that wanted the line written. Refusals are
 * logged once per episode, with their count when memory accepts write-backs again.
 *
 * @module
 */

import { PROT_WRITE } from "../../kernel/abi.ts";
import { KernelError, RemoteError } from "../../kernel/errors.ts";
import type { ComponentId } from "../../kernel/ids.ts";
import type { MessageKind, ReplyOf, RequestOf } from "../../kernel/messages.ts";
import type { MonitorContext } from "../../kernel/monitor.ts";
import type { Pager } from "../../kernel/pager.ts";
import type { EvictedLine, ExCache } from "./excache.ts";
import {
  keyLine,
  keyPid,
  LINE_BYTES,
  lineKey,
  RESPONSE,
  STATE_DIRTY,
  STATE_PLOCAL,
  STATE_UNMAPPED,
  STATE_WRITABLE,
  TLB_ENTRIES,
} from "./layout.ts";
import type { CallSize, Messenger } from "./messenger.ts";
import {
  type ChargedThread,
  type ProcessRecord,
  ThreadBranch,
  type ThreadRecord,
} from "./records.ts";
import { type MirroredRange, VmaMirror } from "./vma_mirror.ts";
import type { VictimCache } from "./victim_cache.ts";

const TLB_MASK = TLB_ENTRIES - 1;
/** Write-backs of one range sent concurrently (msync of a large range). */
const WRITE_BACK_BATCH = 16;

/** What to do with a resident line of a range: write back and keep, write back and drop, or drop. */
export type RangeAction = "keep" | "drop" | "discard";

/** What the page service needs from the monitor. */
export interface PageServiceHost {
  /** The monitor's context (RPC, latency model, events, log). */
  readonly context: MonitorContext;
  /** Sends messages on behalf of threads. */
  readonly messenger: Messenger;
  /**
   * The pager of a monolithic machine (a Linux baseline), when this processor is one: it
   * prices first touches and reclaim, and its readahead fills lines (see `kernel/pager.ts`).
   */
  readonly pager?: Pager;
  /** A running process by pid. */
  process(pid: number): ProcessRecord | undefined;
  /** The cluster's vRegion size in bytes. */
  vregionBytes(): number;
}

/** Counters of the page service as a whole. */
export interface PageServiceStats {
  /** Dirty lines memory can never take: it forbids the write (EFAULT), or their process exited. */
  lostWriteBacks: number;
  /** Write-backs memory refused; each line was kept dirty and the requester got ENOMEM. */
  refusedWriteBacks: number;
  /** Misses that found the line already being filled by another thread. */
  sharedFills: number;
  /** Fills started over because the address space changed while they ran. */
  staleFills: number;
  /** Dirty victims dropped because their range was no longer writable when evicted. */
  droppedVictims: number;
}

/** A fill {@link PageService.missNow} began: its slot is held, maybe its fetch is sent. */
interface HeldFill {
  /** The thread's model time when the fill began. */
  startNs: number;
  /** The held slot, and the line taken out of it. */
  slot: number;
  victim: EvictedLine | undefined;
  /** The victim's write-back gate, when it is dirty. */
  gate: FlushGate | undefined;
  /** Whether the victim was accounted for (counted, charged) already. */
  accounted: boolean;
  /**
   * The fetch already sent, `P2M_PAGE_FLUSH_FETCH` with a dirty victim or
   * `P2M_PAGE_FETCH`: what is left is its reply (or failure).
   */
  sent?: Promise<{ page: Uint8Array }>;
}

interface FlushGate {
  previous: Promise<void> | undefined;
  done: () => void;
  promise: Promise<void>;
}

/**
 * Serves misses and write-backs for every process of one processor.
 *
 * @example
 * ```ts ignore
 * const pages = new PageService(cache, victims, host);
 * const response = await pages.miss(thread, 0x7000_0000, true);
 * ```
 */
export class PageService {
  /** The ExCache. */
  readonly cache: ExCache;
  /** Counters. */
  readonly stats: PageServiceStats = {
    lostWriteBacks: 0,
    refusedWriteBacks: 0,
    sharedFills: 0,
    staleFills: 0,
    droppedVictims: 0,
  };
  readonly #victims: VictimCache | undefined;
  readonly #host: PageServiceHost;
  /** Lines being filled → the model time at which the fill is done. */
  readonly #fills = new Map<number, Promise<number>>();
  /** Lines being written back → settles when memory has them. */
  readonly #flushes = new Map<number, Promise<void>>();
  /**
   * Per slot: the model time its line's fill was done (in the ExCache's shared meta, so
   * threads see it too), and how long the fill took. A thread whose miss is served after
   * another thread's fill of the same line (in deterministic mode, always) finds it
   * resident, though in model time it may still be on its way: the thread waits for what
   * remains of it, never longer than the fill took. A thread that finds such a line in
   * its own search brings the access here (`#stillFilling` in worker_proc.ts).
   */
  readonly #readyNs: Float64Array;
  readonly #fillNs: Float64Array;
  /** Refusals since memory last accepted a write-back (only the first is logged). */
  #refusalsInEpisode = 0;

  /** Creates the service over `cache` (and an optional victim cache). */
  constructor(cache: ExCache, victims: VictimCache | undefined, host: PageServiceHost) {
    this.cache = cache;
    this.#victims = victims;
    this.#host = host;
    this.#readyNs = cache.views.readyNs;
    this.#fillNs = new Float64Array(cache.lines);
  }

  /**
   * Brings the line holding `vaddr` in for thread `t` and pins it in the thread's TLB.
   * Resolves to `RESPONSE.HIT` (it was resident after all) or `RESPONSE.MISS`; rejects
   * with `EFAULT` for a segmentation fault.
   */
  async miss(t: ThreadRecord, vaddr: number, write: boolean): Promise<number> {
    const p = t.process;
    const vline = Math.floor(vaddr / LINE_BYTES);
    const key = lineKey(p.pid, vline);
    let readyAtNs = -1;
    for (;;) {
      if (p.ending) throw ending(p);
      // A change of the address space in progress decides what this access may do: wait
      // for it (as a Linux page fault waits for mmap_lock), then read the mappings afresh.
      if (p.addressSpaceChanging) {
        await p.addressSpaceSettled();
        continue;
      }
      const generation = p.addressSpaceGeneration;
      const range = p.vmas.find(vaddr);
      // As on x86, any protection but PROT_NONE can be read (write and exec imply read).
      if (range && (write ? (range.prot & PROT_WRITE) === 0 : range.prot === 0)) {
        throw this.#segfault(p, vaddr, write, "protection");
      }
      const slot = this.cache.slotOf(key);
      if (slot >= 0) {
        if (this.cache.views.evicting[slot] !== 0) {
          await this.cache.progress(1); // being written back or evicted right now
          continue;
        }
        if ((this.cache.stateAt(slot) & STATE_UNMAPPED) !== 0) {
          // A page a Linux baseline read ahead, touched for the first time: a minor fault.
          this.cache.clearState(slot, STATE_UNMAPPED);
          this.#chargePage(t, "minor-fault", "swap-cache-hit", p.pid, vline, false);
          if (write) this.cache.addState(slot, STATE_WRITABLE | STATE_DIRTY);
          Atomics.store(t.announce, vline & TLB_MASK, slot);
          t.counters.misses++;
          return RESPONSE.MISS;
        }
        if (write) this.cache.addState(slot, STATE_WRITABLE | STATE_DIRTY);
        Atomics.store(t.announce, vline & TLB_MASK, slot);
        if (readyAtNs < 0) {
          if (!(this.#readyNs[slot] > t.modelNs())) return RESPONSE.HIT;
          this.stats.sharedFills++; // filled earlier in wall time, later in model time
          readyAtNs = this.#readyNs[slot];
        }
        t.counters.misses++;
        // Another thread's fill brought the line: wait only for what remained of it.
        const remainingNs = Math.max(0, Math.min(readyAtNs - t.modelNs(), this.#fillNs[slot]));
        t.clock.advance(remainingNs);
        t.chargeStall("shared-fill", remainingNs);
        return RESPONSE.MISS;
      }
      const fill = this.#fills.get(key);
      if (fill) {
        this.stats.sharedFills++;
        readyAtNs = await fill.catch(() => 0);
        continue;
      }
      const flush = this.#flushes.get(key);
      if (flush) {
        await flush;
        continue;
      }
      if (
        await this.#runFill(t, key, () => this.#fill(t, p, vline, key, range, write, generation))
      ) {
        return RESPONSE.MISS;
      }
    }
  }

  /**
   * {@link PageService.miss} at once, for the common miss that needs nothing to wait for:
   * the line is neither resident nor on its way in or out, its vRegion's owner is known, a
   * way is free or its victim is clean or goes back in the fetch's own message
   * (`P2M_PAGE_FLUSH_FETCH`), and the line is zero-filled here (p-local) or fetched by an
   * RPC that comes back within the send (an in-process memory component that has the page
   * at hand). Returns the response, with the same effects and charges as `miss`; or
   * undefined, having changed nothing (then `miss` serves it). A fill that turns out to
   * need waiting after all (a dirty victim written back on its own, a fetch that did not
   * come back at once) goes on as `miss` would, as a promise.
   */
  missNow(t: ThreadRecord, vaddr: number, write: boolean): number | Promise<number> | undefined {
    const p = t.process;
    if (p.ending || p.addressSpaceChanging || this.#host.pager || this.#victims) return undefined;
    const range = p.vmas.find(vaddr);
    if (range === undefined || (write ? (range.prot & PROT_WRITE) === 0 : range.prot === 0)) {
      return undefined; // miss() reports the fault, or asks memory about an unknown range
    }
    const vline = Math.floor(vaddr / LINE_BYTES);
    const key = lineKey(p.pid, vline);
    if (this.cache.slotOf(key) >= 0 || this.#fills.has(key) || this.#flushes.has(key)) {
      return undefined;
    }
    const plocal = !range.file && !p.flushed.has(vline);
    const owner = plocal ? undefined : this.#knownOwner(p, vline);
    if (!plocal && owner === undefined) return undefined;
    const startNs = t.modelNs();
    let gate: FlushGate | undefined;
    const held = this.cache.tryAllocate(this.cache.setOf(vline), (line) => {
      if (line.dirty) gate = this.#openGate(line.key);
    });
    if (held === undefined) return undefined;
    const generation = p.addressSpaceGeneration;
    const goOn = (fill: HeldFill) =>
      this.#runFill(
        t,
        key,
        () => this.#fill(t, p, vline, key, range, write, generation, false, fill),
      )
        .then((done) => done ? RESPONSE.MISS : this.miss(t, vaddr, write));
    const { slot, victim } = held;
    const victimLine = victim ? keyLine(victim.key) : 0;
    // A dirty victim goes back in the fetch's own message when #fill would send it so (and
    // no earlier write-back of it is still on its way); any other write-back may wait.
    const piggyback = victim?.dirty === true && !plocal && keyPid(victim.key) === p.pid &&
      this.#knownOwner(p, victimLine) === owner && gate?.previous === undefined;
    if (victim?.dirty && !piggyback) {
      return goOn({ startNs, slot, victim, gate, accounted: false });
    }
    if (victim) this.#evicted(t, victim);
    // Nothing of this processor runs until the fill is done, so the process cannot be ending
    // nor its mappings have changed: installing cannot fail.
    const install = (data: Uint8Array | null) =>
      this.#install(t, p, vline, key, slot, data, range, write, plocal, false, generation, startNs);
    if (plocal) {
      this.#zeroFill(t, p, vline);
      install(null);
      return RESPONSE.MISS;
    }
    let reply: { page: Uint8Array } | Promise<{ page: Uint8Array }>;
    try {
      reply = piggyback
        ? this.#callNow(t, owner!, "P2M_PAGE_FLUSH_FETCH", {
          pid: p.pid,
          flushVaddr: victimLine * LINE_BYTES,
          page: victim!.data!,
          fetchVaddr: vline * LINE_BYTES,
        }, { request: LINE_BYTES + 24, reply: LINE_BYTES })
        : this.#callNow(t, owner!, "P2M_PAGE_FETCH", {
          pid: p.pid,
          vaddr: vline * LINE_BYTES,
        }, { request: 16, reply: LINE_BYTES });
    } catch (e) {
      reply = Promise.reject(e); // #fill deals with it as with any failed call
      reply.catch(() => {});
    }
    if (reply instanceof Promise) {
      return goOn({ startNs, slot, victim, gate, accounted: true, sent: reply });
    }
    if (piggyback) this.#piggybacked(t, p, victimLine, gate);
    t.counters.pagesFetched++;
    install(reply.page);
    return RESPONSE.MISS;
  }

  /** The messenger's `callNow` when it has one, else its `call`. */
  #callNow<K extends MessageKind>(
    t: ThreadRecord,
    to: ComponentId,
    kind: K,
    body: RequestOf<K>,
    size: CallSize,
  ): ReplyOf<K> | Promise<ReplyOf<K>> {
    const { messenger } = this.#host;
    return messenger.callNow
      ? messenger.callNow(t, to, kind, body, size)
      : messenger.call(t, to, kind, body, size);
  }

  /** A dirty victim written back in its fetch's own message: memory has the line now. */
  #piggybacked(t: ThreadRecord, p: ProcessRecord, victimLine: number, gate?: FlushGate): void {
    p.flushed.add(victimLine);
    gate?.done();
    t.counters.dirtyFlushes++;
    t.counters.piggybacked++;
  }

  /**
   * Runs `fill` for `t` as the one fill of line `key`: other threads missing on the line
   * meanwhile wait for it. True when the line is in; false when the mappings changed while
   * it travelled (then the miss starts over under the new ones).
   */
  async #runFill(t: ThreadRecord, key: number, fill: () => Promise<number>): Promise<boolean> {
    let settle!: (ns: number) => void;
    let fail!: (e: unknown) => void;
    const filling = new Promise<number>((resolve, reject) => [settle, fail] = [resolve, reject]);
    filling.catch(() => {}); // waiters handle failures; nobody else must see them as unhandled
    this.#fills.set(key, filling);
    try {
      settle(await fill());
      if (this.#host.pager?.takeReadahead) await this.#readAhead(t);
      return true;
    } catch (e) {
      if (!(e instanceof StaleFill)) {
        fail(e);
        throw e;
      }
      // The mappings changed while the line travelled: start over under the new ones.
      this.stats.staleFills++;
      settle(0);
      return false;
    } finally {
      if (this.#fills.get(key) === filling) this.#fills.delete(key);
    }
  }

  async #fill(
    t: ThreadRecord,
    p: ProcessRecord,
    vline: number,
    key: number,
    range: MirroredRange | undefined,
    write: boolean,
    generation: number,
    ahead = false,
    held?: HeldFill,
  ): Promise<number> {
    const { context, messenger } = this.#host;
    const startNs = held ? held.startNs : t.modelNs();
    let gate = held?.gate;
    let slot: number;
    let victim: EvictedLine | undefined;
    if (held) ({ slot, victim } = held);
    else {
      const set = this.cache.setOf(vline);
      const onEvict = (line: EvictedLine) => {
        if (line.dirty) gate = this.#openGate(line.key);
      };
      ({ slot, victim } = this.cache.tryAllocate(set, onEvict) ??
        await this.cache.allocate(set, onEvict));
    }
    let victimSaved = !victim?.dirty;
    const plocal = range !== undefined && !range.file && !p.flushed.has(vline);
    const install = (data: Uint8Array | null, plocal: boolean) =>
      this.#install(t, p, vline, key, slot, data, range, write, plocal, ahead, generation, startNs);
    try {
      let data: Uint8Array | null = null;
      if (victim && !held?.accounted) this.#evicted(t, victim);
      const kept = plocal ? undefined : this.#victims?.take(key);
      if (plocal || kept) {
        if (plocal) {
          this.#zeroFill(t, p, vline);
        } else {
          data = kept!;
          t.counters.victimHits++;
          const ns = context.latency.deviceNs("dram", "read", LINE_BYTES);
          t.clock.advance(ns);
          t.chargeStall("victim", ns);
        }
        if (victim?.dirty) {
          const refused = await this.#writeBack(t, victim.key, victim.data!, gate);
          if (refused) throw new VictimRefused(refused);
          victimSaved = true;
        }
      } else {
        const owner = this.#knownOwner(p, vline) ?? await this.ownerOf(t, p, vline);
        const victimLine = victim ? keyLine(victim.key) : 0;
        const victimOwner = victim?.dirty && keyPid(victim.key) === p.pid
          ? this.#knownOwner(p, victimLine) ?? await this.ownerOf(t, p, victimLine)
          : undefined;
        if (victim?.dirty && victimOwner === owner && range !== undefined) {
          // One round trip: write the victim back and fetch the line.
          await gate?.previous;
          try {
            const { page } = await (held?.sent ??
              messenger.call(t, owner, "P2M_PAGE_FLUSH_FETCH", {
                pid: p.pid,
                flushVaddr: victimLine * LINE_BYTES,
                page: victim.data!,
                fetchVaddr: vline * LINE_BYTES,
              }, { request: LINE_BYTES + 24, reply: LINE_BYTES }));
            this.#piggybacked(t, p, victimLine, gate);
            victimSaved = true;
            data = page;
          } catch (e) {
            if (!(e instanceof RemoteError && e.code === "EFAULT")) throw e;
            // Memory refused the pair, for the victim's write-back or for the fetch: the
            // victim's fate must not decide this thread's, so each goes on its own.
            const refused = await this.#saveVictim(t, p, victim, gate);
            if (refused) throw new VictimRefused(refused);
            victimSaved = true;
            ({ page: data } = await messenger.call(t, owner, "P2M_PAGE_FETCH", {
              pid: p.pid,
              vaddr: vline * LINE_BYTES,
            }, { request: 16, reply: LINE_BYTES }));
          }
        } else {
          if (victim?.dirty) {
            const refused = await this.#writeBack(t, victim.key, victim.data!, gate);
            if (refused) throw new VictimRefused(refused);
            victimSaved = true;
          }
          ({ page: data } = await (held?.sent ??
            messenger.call(t, owner, "P2M_PAGE_FETCH", {
              pid: p.pid,
              vaddr: vline * LINE_BYTES,
            }, { request: 16, reply: LINE_BYTES })));
        }
        t.counters.pagesFetched++;
      }
      return install(data, plocal);
    } catch (e) {
      if (victim?.dirty && !victimSaved) {
        // A failed piggyback may not have written the victim: send it on its own.
        const refused = e instanceof VictimRefused
          ? e.refusal
          : await this.#writeBack(t, victim.key, victim.data!, gate);
        victimSaved = true;
        if (refused) {
          // Memory cannot take the victim: it stays, dirty, and this fill fails instead.
          this.#restore(slot, victim);
          gate?.done();
          throw this.#outOfMemory(p, vline, victim, refused);
        }
      }
      throw this.#dropFill(p, vline, write, slot, e);
    } finally {
      gate?.done();
    }
  }

  /** Accounts for a victim taken out of the cache for a fill (its reclaim on a Linux baseline). */
  #evicted(t: ThreadRecord, victim: EvictedLine): void {
    t.counters.evictions++;
    this.#keepVictim(victim);
    this.#chargePage(t, "reclaim", "evict", keyPid(victim.key), keyLine(victim.key), victim.dirty);
  }

  /** Charges a p-local line's zero fill: a DRAM write, or a minor fault on a Linux baseline. */
  #zeroFill(t: ThreadRecord, p: ProcessRecord, vline: number): void {
    t.counters.pLocalZeroFills++;
    if (this.#host.pager?.pageEventNs) {
      this.#chargePage(t, "zero-fill", "first-touch", p.pid, vline, false); // a minor fault
    } else {
      const ns = this.#host.context.latency.deviceNs("dram", "write", LINE_BYTES);
      t.clock.advance(ns);
      t.chargeStall("zero-fill", ns);
    }
  }

  /**
   * The end of a fill: the line goes into its held slot (zeros when `data` is null) and
   * threads may use it; for an access (not `ahead`) it is pinned in `t`'s TLB and counted
   * as `t`'s miss. Returns the model time the fill was done. Throws when the process is
   * ending, or `StaleFill` when the mappings changed since `generation`.
   */
  #install(
    t: ThreadRecord,
    p: ProcessRecord,
    vline: number,
    key: number,
    slot: number,
    data: Uint8Array | null,
    range: MirroredRange | undefined,
    write: boolean,
    plocal: boolean,
    ahead: boolean,
    generation: number,
    startNs: number,
  ): number {
    if (p.ending) throw ending(p);
    if (p.addressSpaceGeneration !== generation) throw new StaleFill();
    const writable = range === undefined || (range.prot & PROT_WRITE) !== 0;
    this.cache.install(
      slot,
      key,
      data,
      (writable ? STATE_WRITABLE : 0) | (write ? STATE_DIRTY : 0) | (plocal ? STATE_PLOCAL : 0) |
        (ahead ? STATE_UNMAPPED : 0),
      !ahead,
    );
    if (!ahead) Atomics.store(t.announce, vline & TLB_MASK, slot);
    this.#readyNs[slot] = t.modelNs();
    this.#fillNs[slot] = t.modelNs() - startNs;
    this.cache.release(slot);
    if (!ahead) t.counters.misses++;
    return t.modelNs();
  }

  /** Gives up a fill's held slot; the error to report (a segmentation fault as one). */
  #dropFill(p: ProcessRecord, vline: number, write: boolean, slot: number, e: unknown): unknown {
    this.cache.discard(slot);
    if (e instanceof RemoteError && e.code === "EFAULT") {
      return this.#segfault(p, vline * LINE_BYTES, write, e.message);
    }
    return e;
  }

  /**
   * Brings in the pages the pager's last fault read ahead (a Linux baseline's swap
   * readahead): each takes a line like any page (evicting a victim if it must), untouched
   * and unmapped, so its first access is a minor fault and reclaim may take it unused. A
   * page that is already in, on its way, or no longer mapped is skipped, and one that
   * cannot be brought in is left on the device.
   */
  async #readAhead(t: ThreadRecord): Promise<void> {
    for (const { pid, vaddr } of this.#host.pager!.takeReadahead!()) {
      const p = this.#host.process(pid);
      if (!p || p.ending || p.addressSpaceChanging) continue;
      const vline = Math.floor(vaddr / LINE_BYTES);
      const key = lineKey(pid, vline);
      if (this.cache.slotOf(key) >= 0 || this.#fills.has(key) || this.#flushes.has(key)) continue;
      const range = p.vmas.find(vaddr);
      if (range === undefined || range.prot === 0) continue;
      let settle!: (ns: number) => void;
      const filling = new Promise<number>((resolve) => settle = resolve);
      this.#fills.set(key, filling);
      try {
        settle(
          await this.#fill(t, p, vline, key, range, false, p.addressSpaceGeneration, true),
        );
      } catch {
        settle(0); // not brought in: a later access faults it in as usual
      } finally {
        if (this.#fills.get(key) === filling) this.#fills.delete(key);
      }
    }
  }

  /**
   * Charges thread `t` what the pager says a page event costs (as `stall`), on a Linux
   * baseline; nothing on a LegoOS processor, which has no pager.
   */
  #chargePage(
    t: ChargedThread,
    stall: string,
    kind: "first-touch" | "evict" | "swap-cache-hit",
    pid: number,
    vline: number,
    dirty: boolean,
  ): void {
    const pager = this.#host.pager;
    if (!pager?.pageEventNs) return;
    const ns = pager.pageEventNs({
      kind,
      pid,
      vaddr: vline * LINE_BYTES,
      dirty,
      nowNs: t.modelNs(),
    });
    t.clock.advance(ns);
    t.chargeStall(stall, ns);
  }

  /** The owner of `vline` of process `p` when it is known already (no promise). */
  #knownOwner(p: ProcessRecord, vline: number): ComponentId | undefined {
    return p.owners.get(Math.floor((vline * LINE_BYTES) / this.#host.vregionBytes()));
  }

  /** The memory component owning `vline` of process `p` (its vRegion's owner). */
  async ownerOf(t: ChargedThread, p: ProcessRecord, vline: number): Promise<ComponentId> {
    const vregion = Math.floor((vline * LINE_BYTES) / this.#host.vregionBytes());
    const known = p.owners.get(vregion);
    if (known) return known;
    let lookup = p.ownerLookups.get(vregion);
    if (!lookup) {
      const { context, messenger } = this.#host;
      // A miss or a write-back is a touch: with first-touch placement it places the vRegion.
      lookup = messenger.call(t, context.manager, "MGR_PLACE_VREGION", {
        pid: p.pid,
        vregion,
        touch: true,
      }, { request: 8, reply: 16 }).then(
        ({ owner }) => owner,
        (e) => {
          // A manager that places no vRegions: everything lives on the home.
          if (e instanceof RemoteError && e.code === "UNHANDLED") return p.home;
          throw e;
        },
      ).then((owner) => {
        p.owners.set(vregion, owner);
        return owner;
      }).finally(() => p.ownerLookups.delete(vregion));
      p.ownerLookups.set(vregion, lookup);
    }
    return await lookup;
  }

  /**
   * Applies `action` to every resident line of process `p` in `[start, end)`: write back
   * and keep (`msync`), write back and drop (the data must survive a change of mapping),
   * or drop (the data dies with the mapping). Waits for fills and write-backs of the range
   * that are in flight. A write-back memory refuses keeps its line resident and dirty and
   * fails the call with `ENOMEM` (unless the process is `exiting`: then it is logged lost).
   */
  async syncRange(
    t: ThreadRecord,
    p: ProcessRecord,
    start: number,
    end: number,
    action: (range: MirroredRange | undefined) => RangeAction,
    exiting = false,
  ): Promise<void> {
    const first = Math.floor(start / LINE_BYTES);
    const last = Math.ceil(end / LINE_BYTES);
    const inRange = (key: number) =>
      keyPid(key) === p.pid && keyLine(key) >= first && keyLine(key) < last;
    let refusal: Error | undefined;
    let kept = 0;
    for (;;) {
      const keys = this.cache.residentSlots(p.pid).map((slot) => this.cache.keyAt(slot))
        .filter(inRange);
      for (let k = 0; k < keys.length; k += WRITE_BACK_BATCH) {
        // The batch's write-backs overlap: the thread is charged the slowest, not the sum.
        const batch = keys.slice(k, k + WRITE_BACK_BATCH);
        const branches = batch.map(() => new ThreadBranch(t));
        await Promise.all(
          batch.map(async (key, i) => {
            const b = branches[i];
            const how = action(p.vmas.find(keyLine(key) * LINE_BYTES));
            const slot = await this.cache.acquire(key);
            if (slot < 0) return;
            if (how === "keep") {
              // The line stays held until memory has it: a refused write-back re-dirties it.
              const data = this.cache.clean(slot);
              const gate = data ? this.#openGate(key) : undefined;
              const refused = data ? await this.#writeBack(b, key, data, gate) : undefined;
              if (refused) {
                this.cache.addState(slot, STATE_DIRTY);
                [refusal, kept] = [refused, kept + 1];
              }
              this.cache.release(slot);
              gate?.done();
              return;
            }
            const line = this.cache.takeOut(slot);
            const gate = how === "drop" && line.dirty ? this.#openGate(key) : undefined;
            const refused = gate ? await this.#writeBack(b, key, line.data!, gate) : undefined;
            if (refused && !exiting) {
              this.#restore(slot, line);
              [refusal, kept] = [refused, kept + 1];
            } else {
              if (refused) this.#lost(key, refused);
              this.cache.discard(slot);
            }
            gate?.done();
          }),
        ).finally(() => ThreadBranch.join(t, branches));
        if (refusal) {
          throw new KernelError(
            "ENOMEM",
            `memory refused the write-back of ${kept} dirty line(s) of pid ${p.pid}, kept ` +
              `in the ExCache: ${refusal.message}`,
          );
        }
      }
      // Fills in flight would bring lines of the range back; write-backs in flight must land
      // before the mapping changes under them.
      const pending = [...this.#fills, ...this.#flushes].filter(([key]) => inRange(key))
        .map(([, work]) => work as Promise<unknown>);
      if (pending.length === 0 && keys.length === 0) break;
      await Promise.allSettled(pending);
      if (pending.length === 0) break;
    }
    if (this.#victims) this.#victims.forget(inRange);
  }

  /** Drops every line of process `p` (writing back shared file mappings' dirty lines) at its exit. */
  async dropProcess(t: ThreadRecord, p: ProcessRecord): Promise<void> {
    // Private memory (anonymous or a private copy of a file) dies with the process, so its
    // dirty lines are discarded rather than written back to a memory component that is
    // about to free them; a shared file mapping's are the file's data.
    await this.syncRange(
      t,
      p,
      0,
      Number.MAX_SAFE_INTEGER,
      (range) => VmaMirror.keepsWrites(range) ? "drop" : "discard",
      true,
    );
    if (this.#victims) this.#victims.forget((key) => keyPid(key) === p.pid);
  }

  /**
   * Writes back a dirty victim whose piggybacked write-back memory refused: dropped when
   * its range is no longer mapped writable here (its writes are no longer allowed, and
   * memory already holds what was written while they were), else sent on its own.
   * Returns memory's refusal (the caller keeps the victim), or undefined when it is saved.
   */
  async #saveVictim(
    t: ThreadRecord,
    p: ProcessRecord,
    victim: EvictedLine,
    gate: FlushGate | undefined,
  ): Promise<Error | undefined> {
    const range = p.vmas.find(keyLine(victim.key) * LINE_BYTES);
    if (range === undefined || (range.prot & PROT_WRITE) === 0) {
      this.stats.droppedVictims++;
      gate?.done();
      return undefined;
    }
    return await this.#writeBack(t, victim.key, victim.data!, gate);
  }

  /** Puts a line whose write-back was refused back into the held `slot`, dirty, and releases it. */
  #restore(slot: number, line: EvictedLine): void {
    const range = this.#host.process(keyPid(line.key))?.vmas.find(keyLine(line.key) * LINE_BYTES);
    const writable = range === undefined || (range.prot & PROT_WRITE) !== 0;
    this.cache.install(
      slot,
      line.key,
      line.data!,
      STATE_DIRTY | (writable ? STATE_WRITABLE : 0) | (line.plocal ? STATE_PLOCAL : 0),
    );
    this.#readyNs[slot] = this.#fillNs[slot] = 0;
    this.cache.release(slot);
  }

  /** The error of a fill that found no room: its victim's write-back was refused. */
  #outOfMemory(
    p: ProcessRecord,
    vline: number,
    victim: EvictedLine,
    refusal: Error,
  ): KernelError {
    return new KernelError(
      "ENOMEM",
      `out of memory: pid ${p.pid} needs room for 0x${(vline * LINE_BYTES).toString(16)} but ` +
        `memory refused the write-back of the dirty line it would replace (pid ` +
        `${keyPid(victim.key)} 0x${(keyLine(victim.key) * LINE_BYTES).toString(16)}, kept in ` +
        `the ExCache): ${refusal.message}`,
    );
  }

  /** Logs a dirty line memory can never take (its process exited, or memory forbids it). */
  #lost(key: number, refusal: Error): void {
    this.stats.lostWriteBacks++;
    const vaddr = keyLine(key) * LINE_BYTES;
    this.#host.context.log(
      `write-back of pid ${keyPid(key)} line 0x${vaddr.toString(16)} failed, ` +
        `its last writes are lost: ${refusal.message}`,
    );
    this.#host.context.events.emit("fault", {
      component: this.#host.context.id,
      data: { pid: keyPid(key), vaddr, reason: "write-back lost" },
    });
  }

  /** Marks `key` as being written back; misses on it wait, later write-backs queue behind. */
  #openGate(key: number): FlushGate {
    const previous = this.#flushes.get(key);
    let done!: () => void;
    const promise = new Promise<void>((resolve) => done = resolve);
    const gate: FlushGate = {
      previous,
      promise,
      done: () => {
        done();
        if (this.#flushes.get(key) === promise) this.#flushes.delete(key);
      },
    };
    this.#flushes.set(key, promise);
    return gate;
  }

  /**
   * Writes one dirty line back to its owner. Returns undefined when memory has it, else
   * the refusal, leaving `gate` open: the caller puts the line back, then closes it (so no
   * miss fetches memory's older copy meanwhile).
   */
  async #writeBack(
    t: ChargedThread,
    key: number,
    data: Uint8Array,
    gate: FlushGate | undefined,
  ): Promise<Error | undefined> {
    await gate?.previous;
    const pid = keyPid(key);
    const vline = keyLine(key);
    const owner = this.#host.process(pid);
    if (!owner) {
      gate?.done(); // its process is gone: nobody can read the line again
      return undefined;
    }
    try {
      const to = await this.ownerOf(t, owner, vline);
      await this.#host.messenger.call(t, to, "P2M_PAGE_FLUSH", {
        pid,
        vaddr: vline * LINE_BYTES,
        page: data,
      }, { request: LINE_BYTES + 16 });
      owner.flushed.add(vline);
      t.counters.dirtyFlushes++;
      gate?.done();
      if (this.#refusalsInEpisode > 0) {
        this.#host.context.log(
          `memory accepts write-backs again after refusing ${this.#refusalsInEpisode} ` +
            "(each line was kept dirty in the ExCache and its requester got ENOMEM)",
        );
        this.#refusalsInEpisode = 0;
      }
      return undefined;
    } catch (e) {
      if (e instanceof RemoteError && e.code === "EFAULT") {
        // Memory says the write was never allowed there: no retry can ever save it.
        this.#lost(key, e);
        gate?.done();
        return undefined;
      }
      this.stats.refusedWriteBacks++;
      if (this.#refusalsInEpisode++ === 0) {
        // Once per episode: a full memory refuses every write-back until room is made.
        this.#host.context.log(
          `write-back of pid ${pid} line 0x${(vline * LINE_BYTES).toString(16)} refused, ` +
            `the line stays dirty in the ExCache and needing its room fails with ENOMEM ` +
            `(further refusals are counted, not logged): ${(e as Error).message}`,
        );
        this.#host.context.events.emit("fault", {
          component: this.#host.context.id,
          data: { pid, vaddr: vline * LINE_BYTES, reason: "write-back refused" },
        });
      }
      return e instanceof Error ? e : new Error(String(e));
    }
  }

  #keepVictim(victim: EvictedLine): void {
    if (!this.#victims || !victim.data) return;
    // A p-local line that was never written is all zeros: refilling it is free anyway.
    if (victim.plocal && !victim.dirty) return;
    this.#victims.put(victim.key, victim.data);
  }

  #segfault(p: ProcessRecord, vaddr: number, write: boolean, why: string): KernelError {
    const context = this.#host.context;
    context.events.emit("fault", {
      component: context.id,
      data: { pid: p.pid, vaddr, reason: why },
    });
    const detail = why.includes("segmentation fault")
      ? why
      : `segmentation fault: pid ${p.pid} ${write ? "write" : "read"} at 0x${
        vaddr.toString(16)
      } (${why})`;
    return new KernelError("EFAULT", detail);
  }
}

/** A fill whose mappings changed while it ran: its line must not be installed. */
class StaleFill extends Error {}

/** A fill whose dirty victim memory refused to take. */
class VictimRefused extends Error {
  /** Memory's answer to the victim's write-back. */
  readonly refusal: Error;
  constructor(refusal: Error) {
    super(refusal.message);
    this.refusal = refusal;
  }
}

function ending(p: ProcessRecord): KernelError {
  return new KernelError("ESRCH", `process ${p.pid} is ending`);
}
