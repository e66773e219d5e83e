/**
 * The processor monitor's side of the ExCache: the tag index, the free lists, victim
 * selection through the replacement-policy plugin, and exclusive access to lines.
 *
 * Threads read the same shared buffers (see `layout.ts`) to serve hits; the monitor is
 * the only one that fills, evicts or cleans a line. To do so it *holds* the line: it sets
 * the line's `evicting` word, then checks that no thread announced the slot in its TLB
 * (the other half of the handshake in `worker_proc.ts`). A line pinned by a running
 * thread is skipped when another victim will do; when every candidate is pinned, the
 * monitor commits to the policy's choice, asks the pinning threads to drop their pins
 * (a TLB shootdown, honoured at their next access) and waits.
 *
 * A stopped thread's pins count until the thread proves it can no longer touch a slot
 * (it sets its gone bit after dropping every pin, see `WorkerProc`): a terminated Worker
 * may still run for a while, so no timeout makes its pins harmless. Until then its pinned
 * slots are never reused: they are not chosen as victims, and when their line leaves the
 * cache the slot is kept aside (quarantined) instead of freed.
 *
 * @module
 */

import { KernelError } from "../../kernel/errors.ts";
import type { ReferencedBits, ReplacementPolicy } from "../../kernel/replacement.ts";
import {
  allocateCache,
  type CacheBuffers,
  type CacheViews,
  cacheViews,
  EPOCH_SPAN,
  keyPid,
  LINE_BYTES,
  NO_KEY,
  STATE_DIRTY,
  STATE_PLOCAL,
  STATE_VALID,
} from "./layout.ts";

/** Something that may pin lines: a thread's TLB. */
export interface PinHolder {
  /** Per TLB entry: the slot the holder may touch, or -1. */
  readonly announce: Int32Array;
  /** Asks the holder to drop every pin at its next access. */
  requestShootdown(): void;
  /** True once the holder has dropped every pin and can never pin again. */
  gone(): boolean;
}

/** A slot held for a new line, and the line taken out of it to make room, if any. */
export interface Allocation {
  /** The held slot (marked evicting until `release` or `discard`). */
  slot: number;
  /** The line that was in it, or undefined when the slot was free. */
  victim: EvictedLine | undefined;
}

/** A line taken out of the cache. */
export interface EvictedLine {
  /** Its tag. */
  key: number;
  /** Whether it must be written back. */
  dirty: boolean;
  /** Whether it was zero-filled locally and memory has never seen it. */
  plocal: boolean;
  /** A copy of its bytes (when dirty, or when clean copies were asked for). */
  data: Uint8Array | undefined;
}

/** Options of an {@link ExCache}. */
export interface ExCacheOptions {
  /** Copy clean victims too (for a victim cache). */
  copyCleanVictims?: boolean;
}

/**
 * The monitor's controller of one ExCache.
 *
 * @example
 * ```ts
 * import { ExCache } from "./excache.ts";
 * // Any ReplacementPolicy will do; this one evicts the first candidate.
 * const firstCandidate = {
 *   name: "first",
 *   needsRecency: false,
 *   filled() {},
 *   removed() {},
 *   victim: (_set: number, candidates: readonly number[]) => candidates[0],
 * };
 * const cache = new ExCache(4, 2, firstCandidate);
 * const { slot } = await cache.allocate(0);
 * cache.install(slot, 42, null, 0);
 * cache.release(slot);
 * console.assert(cache.lookup(42) === slot && cache.used === 1);
 * ```
 */
export class ExCache {
  /** The shared buffers handed to threads. */
  readonly buffers: CacheBuffers;
  /** Views over them. */
  readonly views: CacheViews;
  /** Number of lines. */
  readonly lines: number;
  /** Lines per set. */
  readonly ways: number;
  /** Number of sets. */
  readonly sets: number;
  #policy: ReplacementPolicy;
  readonly #index = new Map<number, number>();
  readonly #byPid = new Map<number, Set<number>>();
  readonly #free: number[][];
  readonly #fillStamp: Float64Array;
  /** Pin holders → whether they were stopped (their pins no longer drain on request). */
  readonly #holders = new Map<PinHolder, boolean>();
  /** Empty slots a stopped holder may still pin, kept out of the free lists. */
  readonly #quarantined = new Set<number>();
  /** Every way of a set, in order: the candidates when all are free to take (read-only). */
  readonly #allWays: readonly number[];
  /** Per set, made on first use: the policy's view of its referenced bits and last uses. */
  readonly #referencedOf: ReferencedBits[] = [];
  readonly #lastUseFns: ((way: number) => number)[] = [];
  readonly #stampArrays = new Set<Float64Array>();
  readonly #copyClean: boolean;
  #waiters: (() => void)[] = [];

  /** Creates an empty cache of `lines` lines, `ways` per set. */
  constructor(
    lines: number,
    ways: number,
    policy: ReplacementPolicy,
    options: ExCacheOptions = {},
  ) {
    if (!Number.isSafeInteger(lines) || lines < 1 || !Number.isSafeInteger(ways) || ways < 1) {
      throw new RangeError(`an ExCache needs lines >= 1 and ways >= 1, got ${lines}, ${ways}`);
    }
    if (lines % ways !== 0) {
      throw new RangeError(`${lines} lines do not split into sets of ${ways} ways`);
    }
    this.lines = lines;
    this.ways = ways;
    this.sets = lines / ways;
    this.#allWays = [...Array(ways).keys()];
    this.#policy = policy;
    this.buffers = allocateCache(lines, ways);
    this.views = cacheViews(this.buffers);
    this.#fillStamp = new Float64Array(lines);
    this.#free = Array.from({ length: this.sets }, () => [...Array(ways).keys()].reverse());
    this.#copyClean = options.copyCleanVictims ?? false;
  }

  /** The replacement policy. */
  get policy(): ReplacementPolicy {
    return this.#policy;
  }

  /**
   * Switches to another replacement policy, telling it about the resident lines in the
   * order they were filled. Threads started before the switch record no recency stamps
   * if the old policy needed none; their hits then count from the lines' fill times.
   */
  setPolicy(policy: ReplacementPolicy): void {
    this.#policy = policy;
    const slots = [...this.#index.values()].sort((a, b) => this.#fillStamp[a] - this.#fillStamp[b]);
    for (const slot of slots) policy.filled(Math.floor(slot / this.ways), slot % this.ways);
  }

  /** Lines currently held. */
  get used(): number {
    return this.#index.size;
  }

  /** The set a virtual line maps to (virtually indexed). */
  setOf(vline: number): number {
    return vline % this.sets;
  }

  /** The slot holding `key`, or -1 when it is not resident. */
  slotOf(key: number): number {
    return this.#index.get(key) ?? -1;
  }

  /** The slot holding `key` when it is resident and no monitor operation holds it; else -1. */
  lookup(key: number): number {
    const slot = this.#index.get(key);
    return slot !== undefined && this.views.evicting[slot] === 0 ? slot : -1;
  }

  /** The slots of process `pid`'s resident lines. */
  residentSlots(pid: number): number[] {
    return [...(this.#byPid.get(pid) ?? [])];
  }

  /** Tag of a slot. */
  keyAt(slot: number): number {
    return this.views.keys[slot];
  }

  /** State bits of a slot. */
  stateAt(slot: number): number {
    return Atomics.load(this.views.state, slot);
  }

  /** Sets state bits of a resident line (e.g. grant writes); safe while threads pin it. */
  addState(slot: number, bits: number): void {
    Atomics.or(this.views.state, slot, bits);
  }

  /** Clears state bits of a resident line, returning the bits it had before. */
  clearState(slot: number, bits: number): number {
    return Atomics.and(this.views.state, slot, ~bits);
  }

  /** Registers a thread's TLB as a pin holder. */
  addHolder(holder: PinHolder): void {
    this.#holders.set(holder, false);
  }

  /**
   * Marks a holder as stopped: its pins stop being waited for, but keep their slots from
   * reuse until the holder is {@link PinHolder.gone} (then it is forgotten).
   */
  retireHolder(holder: PinHolder): void {
    if (this.#holders.has(holder)) this.#holders.set(holder, true);
    this.#forgetGone();
  }

  /** Slots kept from reuse because a stopped thread may still pin them. */
  get quarantined(): number {
    return this.#quarantined.size;
  }

  /** Registers a thread's recency stamps (read by policies that need recency). */
  addStamps(stamps: Float64Array): void {
    this.#stampArrays.add(stamps);
  }

  /** Forgets a thread's recency stamps. */
  removeStamps(stamps: Float64Array): void {
    this.#stampArrays.delete(stamps);
  }

  /** When slot's line was last used: the newest of its fill stamp and every thread's stamp. */
  lastUse(slot: number): number {
    let newest = this.#fillStamp[slot];
    for (const stamps of this.#stampArrays) if (stamps[slot] > newest) newest = stamps[slot];
    return newest;
  }

  /**
   * Holds a slot of set `set` for a new line: a free way first, else a victim chosen by
   * the policy, which is taken out of the cache (`onEvict` runs synchronously with it, so
   * the caller can mark the victim's write-back in flight before anything else runs).
   */
  async allocate(
    set: number,
    onEvict?: (victim: EvictedLine) => void,
  ): Promise<Allocation> {
    return this.tryAllocate(set, onEvict) ?? await this.#allocateWaiting(set, onEvict);
  }

  /**
   * {@link ExCache.allocate} when it need not wait (the common case): a free way, or a
   * victim no running thread pins. Returns undefined, having held nothing, when a way is
   * pinned, being filled or written back; then `allocate` waits for it.
   *
   * @example
   * ```ts ignore
   * const held = cache.tryAllocate(0) ?? await cache.allocate(0);
   * ```
   */
  tryAllocate(set: number, onEvict?: (victim: EvictedLine) => void): Allocation | undefined {
    const { evicting } = this.views;
    const base = set * this.ways;
    const free = this.#takeFree(set, base);
    if (free !== undefined) return free === "busy" ? undefined : free;
    const choice = this.#candidates(base);
    if (choice === undefined) return undefined;
    const way = this.#policy.victim(set, choice, this.#lastUseOf(set), this.#referencedBits(base));
    const slot = base + way;
    Atomics.store(evicting, slot, 1);
    // The scan was a hint; the exact check finds a pin taken since (then wait as usual).
    if (this.#announced(slot)) {
      Atomics.store(evicting, slot, 0);
      return undefined;
    }
    const victim = this.#takeOut(slot);
    onEvict?.(victim);
    return { slot, victim };
  }

  /**
   * Holds a free way of set `set` (whose first slot is `base`): its allocation, "busy"
   * when a thread is checking that empty slot right now (it will give up in a moment), or
   * undefined when the set has no free way.
   */
  #takeFree(set: number, base: number): Allocation | "busy" | undefined {
    const free = this.#free[set];
    if (free.length === 0 && this.#quarantined.size > 0) this.#releaseQuarantine();
    if (free.length === 0) return undefined;
    const slot = base + free[free.length - 1];
    Atomics.store(this.views.evicting, slot, 1);
    if (this.#pinners(slot).length === 0) {
      free.pop();
      return { slot, victim: undefined };
    }
    Atomics.store(this.views.evicting, slot, 0);
    return "busy";
  }

  /**
   * The ways of the set at `base` a victim may be chosen from when every one of them is
   * free to take (none held by a monitor operation, pinned, or kept from reuse); else
   * undefined. The same array every time: the policy reads it and must not change it.
   */
  #candidates(base: number): readonly number[] | undefined {
    const { evicting } = this.views;
    const end = base + this.ways;
    const quarantined = this.#quarantined.size > 0;
    for (let slot = base; slot < end; slot++) {
      if (evicting[slot] !== 0 || (quarantined && this.#quarantined.has(slot))) return undefined;
    }
    for (const holder of this.#holders.keys()) {
      const announce = holder.announce;
      for (let i = 0; i < announce.length; i++) {
        const slot = announce[i];
        if (slot >= base && slot < end) return undefined;
      }
    }
    return this.#allWays;
  }

  async #allocateWaiting(
    set: number,
    onEvict?: (victim: EvictedLine) => void,
  ): Promise<Allocation> {
    const { evicting } = this.views;
    const base = set * this.ways;
    for (;;) {
      const free = this.#takeFree(set, base);
      if (free === "busy") {
        await this.progress(1);
        continue;
      }
      if (free !== undefined) return free;
      const { pinned, stopped } = this.#pinned(base);
      const open: number[] = [];
      const held: number[] = [];
      for (let way = 0; way < this.ways; way++) {
        const slot = base + way;
        if (evicting[slot] !== 0) continue; // another monitor operation holds it
        if (stopped.has(slot) || this.#quarantined.has(slot)) continue; // never reused yet
        (pinned.has(slot) ? held : open).push(way);
      }
      const choice = open.length > 0 ? open : held;
      if (choice.length === 0) {
        if (this.#unusable(base)) {
          throw new KernelError(
            "ENOMEM",
            `every way of ExCache set ${set} is pinned by stopped threads that never ` +
              "confirmed their end (their Workers may still run)",
          );
        }
        await this.progress(20); // every way is being filled or written back
        continue;
      }
      const way = this.#policy.victim(
        set,
        choice,
        this.#lastUseOf(set),
        this.#referencedBits(base),
      );
      const slot = base + way;
      Atomics.store(evicting, slot, 1);
      if (!(await this.#drainPins(slot, open.length > 0)) || this.#stoppedPin(slot)) {
        Atomics.store(evicting, slot, 0);
        continue;
      }
      const victim = this.#takeOut(slot);
      onEvict?.(victim);
      return { slot, victim };
    }
  }

  /** The referenced bits of the set whose first slot is `base`, for the policy. */
  #referencedBits(base: number): ReferencedBits {
    const set = base / this.ways;
    let bits = this.#referencedOf[set];
    if (bits === undefined) {
      const referenced = this.views.referenced;
      bits = this.#referencedOf[set] = {
        test: (way) => referenced[base + way] !== 0,
        clear: (way) => void (referenced[base + way] = 0),
      };
    }
    return bits;
  }

  /** `lastUse` of set `set`'s ways, for the policy (made once per set). */
  #lastUseOf(set: number): (way: number) => number {
    const base = set * this.ways;
    return this.#lastUseFns[set] ??= (way) => this.lastUse(base + way);
  }

  /**
   * Whether any holder, running or stopped, announces `slot`: {@link ExCache.#pinners}
   * as a yes or no, with nothing allocated (the same handshake: the caller marked the slot
   * evicting first).
   */
  #announced(slot: number): boolean {
    for (const holder of this.#holders.keys()) {
      Atomics.load(holder.announce, 0);
      if (holder.announce.indexOf(slot) >= 0) return true;
    }
    return false;
  }

  /**
   * Waits until no thread pins `slot` (which the caller marked evicting), asking the
   * pinning threads for a shootdown. With `giveUp`, returns false at once instead of
   * waiting (the caller picks another victim).
   */
  async #drainPins(slot: number, giveUp: boolean): Promise<boolean> {
    for (;;) {
      const pinners = this.#pinners(slot);
      if (pinners.length === 0) return true;
      if (giveUp) return false;
      const live = pinners.filter((holder) => !this.#holders.get(holder));
      // Only stopped threads pin it: they will not let go on request. The caller may take
      // the line out (its process is ending), but the slot is not reused while they pin it.
      if (live.length === 0) return true;
      for (const holder of live) holder.requestShootdown();
      await this.progress(1);
    }
  }

  /**
   * Holds the resident line `key` exclusively (for a write-back or a drop), waiting for
   * other monitor operations and for threads' pins. Returns its slot, or -1 when the line
   * is not (or no longer) resident.
   */
  async acquire(key: number): Promise<number> {
    const { evicting } = this.views;
    for (;;) {
      const slot = this.#index.get(key);
      if (slot === undefined) return -1;
      if (evicting[slot] !== 0) {
        await this.progress(1);
        continue;
      }
      Atomics.store(evicting, slot, 1);
      await this.#drainPins(slot, false);
      return slot;
    }
  }

  /**
   * Fills a held slot with line `key`: `data`, or zeros when null; `bits` are STATE_* bits.
   * A line filled for an access counts as used now; one filled ahead of any access
   * (`accessed` false: a page read ahead) has never been used (last use 0).
   */
  install(
    slot: number,
    key: number,
    data: Uint8Array | null,
    bits: number,
    accessed = true,
  ): void {
    const { u8, keys, state, epoch } = this.views;
    const base = slot * LINE_BYTES;
    if (data) u8.set(data.subarray(0, LINE_BYTES), base);
    else u8.fill(0, base, base + LINE_BYTES);
    keys[slot] = key;
    this.views.referenced[slot] = accessed ? 1 : 0;
    this.#fillStamp[slot] = accessed ? (Atomics.add(epoch, 0, 1) + 1) * EPOCH_SPAN : 0;
    for (const stamps of this.#stampArrays) stamps[slot] = 0; // they described the old line
    Atomics.store(state, slot, bits | STATE_VALID);
    this.#index.set(key, slot);
    const pid = keyPid(key);
    let slots = this.#byPid.get(pid);
    if (!slots) this.#byPid.set(pid, slots = new Set());
    slots.add(slot);
    this.#policy.filled(Math.floor(slot / this.ways), slot % this.ways);
  }

  /** Takes a held line out of the cache, describing it (the slot stays held, empty). */
  takeOut(slot: number): EvictedLine {
    return this.#takeOut(slot);
  }

  /** Copies a held line if it is dirty and marks it clean (the caller writes it back). */
  clean(slot: number): Uint8Array | undefined {
    const state = this.views.state;
    if ((Atomics.load(state, slot) & STATE_DIRTY) === 0) return undefined;
    Atomics.and(state, slot, ~STATE_DIRTY);
    const base = slot * LINE_BYTES;
    return this.views.u8.slice(base, base + LINE_BYTES);
  }

  /** Lets threads use a held slot again. */
  release(slot: number): void {
    Atomics.store(this.views.evicting, slot, 0);
    this.#wake();
  }

  /**
   * Empties a held slot (its line was taken out, or a fill failed) and frees it, or keeps
   * it aside while a stopped thread may still pin it.
   */
  discard(slot: number): void {
    const { keys, state } = this.views;
    const key = keys[slot];
    if (key !== NO_KEY && this.#index.get(key) === slot) this.#takeOut(slot);
    keys[slot] = NO_KEY;
    Atomics.store(state, slot, 0);
    if (this.#stoppedPin(slot)) this.#quarantined.add(slot);
    else this.#free[Math.floor(slot / this.ways)].push(slot % this.ways);
    this.release(slot);
  }

  /** Resolves at the next release of a held slot, or after `ms` milliseconds. */
  progress(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#waiters.push(done);
    });
  }

  #wake(): void {
    if (this.#waiters.length === 0) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const done of waiters) done();
  }

  #takeOut(slot: number): EvictedLine {
    const { keys, state, u8 } = this.views;
    const key = keys[slot];
    const bits = Atomics.load(state, slot);
    const dirty = (bits & STATE_DIRTY) !== 0;
    const base = slot * LINE_BYTES;
    const data = dirty || this.#copyClean ? u8.slice(base, base + LINE_BYTES) : undefined;
    Atomics.store(state, slot, 0);
    if ((bits & STATE_VALID) !== 0 && this.#index.get(key) === slot) {
      this.#index.delete(key);
      this.#byPid.get(keyPid(key))?.delete(slot);
      this.#policy.removed(Math.floor(slot / this.ways), slot % this.ways);
    }
    return { key, dirty, plocal: (bits & STATE_PLOCAL) !== 0, data };
  }

  /** Forgets stopped holders that proved they are gone: their pins can never matter again. */
  #forgetGone(): void {
    for (const [holder, stopped] of this.#holders) {
      if (stopped && holder.gone()) this.#holders.delete(holder);
    }
  }

  /**
   * The slots of the set starting at `base` that some thread announces (`pinned`) and
   * those a stopped thread announces (`stopped`), read without atomics: a hint for
   * choosing victims (a stale read only makes {@link ExCache.#pinners}, which is exact,
   * refuse a choice).
   */
  #pinned(base: number): { pinned: Set<number>; stopped: Set<number> } {
    this.#forgetGone();
    const pinned = new Set<number>();
    const stopped = new Set<number>();
    const end = base + this.ways;
    for (const [holder, isStopped] of this.#holders) {
      const announce = holder.announce;
      const into = isStopped ? stopped : pinned;
      for (let i = 0; i < announce.length; i++) {
        const slot = announce[i];
        if (slot >= base && slot < end) into.add(slot);
      }
    }
    return { pinned, stopped };
  }

  /**
   * The holders announcing `slot`, exactly: the caller has marked the slot evicting with an
   * atomic store, and the atomic load before each scan keeps the scan after that store
   * (the monitor's half of the handshake with `WorkerProc.#pin`).
   */
  #pinners(slot: number): PinHolder[] {
    const pinners: PinHolder[] = [];
    for (const holder of this.#holders.keys()) {
      Atomics.load(holder.announce, 0);
      if (holder.announce.indexOf(slot) >= 0) pinners.push(holder);
    }
    return pinners;
  }

  /** Whether a stopped holder that has not proved it is gone announces `slot`. */
  #stoppedPin(slot: number): boolean {
    this.#forgetGone();
    for (const [holder, stopped] of this.#holders) {
      if (!stopped) continue;
      Atomics.load(holder.announce, 0);
      if (holder.announce.indexOf(slot) >= 0) return true;
    }
    return false;
  }

  /** Frees the quarantined slots no stopped holder announces any more. */
  #releaseQuarantine(): void {
    for (const slot of this.#quarantined) {
      if (this.#stoppedPin(slot)) continue;
      this.#quarantined.delete(slot);
      this.#free[Math.floor(slot / this.ways)].push(slot % this.ways);
    }
  }

  /** Whether every way of the set at `base` is quarantined or pinned by stopped threads. */
  #unusable(base: number): boolean {
    for (let way = 0; way < this.ways; way++) {
      const slot = base + way;
      if (!this.#quarantined.has(slot) && !this.#stoppedPin(slot)) return false;
    }
    return true;
  }
}
