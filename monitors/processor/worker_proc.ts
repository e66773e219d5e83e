/**
 * The process API as one thread sees it, inside its Worker: the "hardware" path of the
 * ExCache.
 *
 * A hit is served right here with no message: the thread's translation cache (TLB, 512
 * entries) maps a virtual line to the slot holding it, and a TLB entry *pins* its slot
 * (the slot is announced in the thread's control block, so the monitor never evicts it
 * under the thread's feet). A hit costs a TLB compare, a budget decrement, a recency
 * stamp and the typed-array access: no atomic operation. Every 1024 hits the budget runs
 * out and the thread counts its hits and looks at its shootdown word, where the monitor
 * asks for its pins back. A TLB miss first looks for the line in its set (a soft miss, still no
 * message); only a line that is not resident, or a write the line does not allow, blocks
 * the thread (`Atomics.wait`) while the monitor serves it. System calls block the same
 * way, with their arguments in the thread's mailbox.
 *
 * Pinning is a Dekker handshake with the monitor: the thread announces the slot, then
 * checks that the monitor is not evicting it and that the tag is still its line; the
 * monitor marks a slot evicting, then checks that no thread announced it. Sequentially
 * consistent atomics guarantee at most one side proceeds. A thread that blocks (miss or
 * system call) drops every pin first, so a blocked thread never holds a line hostage.
 *
 * @module
 */

import { KernelError } from "../../kernel/errors.ts";
import { type Roofline, rooflineNs } from "../../kernel/roofline.ts";
import type {
  ComputeWork,
  FileStat,
  MmapOptions,
  MremapOptions,
  PersistentWriteOptions,
  Proc,
  ThreadCounters,
} from "../../kernel/process_api.ts";
import {
  type CacheViews,
  cacheViews,
  CTL,
  EPOCH_SPAN,
  F64,
  LIFE,
  LINE_BYTES,
  MAILBOX_BYTES,
  REQUEST,
  RESPONSE,
  STATE_DIRTY,
  STATE_UNMAPPED,
  STATE_VALID,
  STATE_WRITABLE,
  type ThreadInit,
  type ThreadMessage,
  type ThreadViews,
  threadViews,
  TLB_ENTRIES,
  VADDR_LIMIT,
  VLINE_LIMIT,
} from "./layout.ts";

const LINE = LINE_BYTES;
/** log2 of the line size: the hit path takes the TLB index from an address's bits. */
const LINE_SHIFT = 12;
if (2 ** LINE_SHIFT !== LINE || TLB_ENTRIES > 2 ** (32 - LINE_SHIFT)) {
  // The hit path takes the TLB index from the bits of an address's low 32 above the line.
  throw new Error("worker_proc: LINE_SHIFT must match LINE_BYTES and TLB_ENTRIES fit 32 bits");
}
const TLB_MASK = TLB_ENTRIES - 1;
/** Largest slice of a file moved by one read or write system call. */
const FILE_CHUNK = 128 * 1024;
/** Fast-path hits between two looks at the shootdown word (and two counter updates). */
const BUDGET = 1024;
/** Words of a thread's hot counters: the hit budget per access size, and the tick. */
const HOT = { B1: 0, B2: 1, B4: 2, B8: 3, TICK: 4 } as const;
/** The number types of the typed accesses (u64 aside), as the slow path's tables index them. */
const TYPE = { U8: 0, U16: 1, U32: 2, I32: 3, F32: 4, F64: 5 } as const;
/** Bytes of each {@link TYPE}. */
const TYPE_BYTES = [1, 2, 4, 4, 4, 8];
/** The hit budget ({@link HOT} word) each {@link TYPE} draws on. */
const TYPE_BUDGET = [HOT.B1, HOT.B2, HOT.B4, HOT.B4, HOT.B4, HOT.B8];
/** Reads a {@link TYPE} from the start of a little-endian scratch view. */
const GET: ((view: DataView) => number)[] = [
  (view) => view.getUint8(0),
  (view) => view.getUint16(0, true),
  (view) => view.getUint32(0, true),
  (view) => view.getInt32(0, true),
  (view) => view.getFloat32(0, true),
  (view) => view.getFloat64(0, true),
];
/** Writes a {@link TYPE} at the start of a little-endian scratch view. */
const SET: ((view: DataView, value: number) => void)[] = [
  (view, value) => view.setUint8(0, value),
  (view, value) => view.setUint16(0, value, true),
  (view, value) => view.setUint32(0, value, true),
  (view, value) => view.setInt32(0, value, true),
  (view, value) => view.setFloat32(0, value, true),
  (view, value) => view.setFloat64(0, value, true),
];
/** Largest tick before it is rebased (a small integer, so V8 keeps it unboxed). */
const TICK_LIMIT = 2 ** 29;

/**
 * Thrown inside a thread by {@link Proc.exit}; the thread's bootstrap turns it into the
 * process's exit code.
 *
 * @example
 * ```ts
 * import { ExitRequest } from "./worker_proc.ts";
 * console.assert(new ExitRequest(3).code === 3);
 * ```
 */
export class ExitRequest extends Error {
  /** The requested exit code. */
  readonly code: number;
  /** Creates the request for `code`. */
  constructor(code: number) {
    super(`exit(${code})`);
    this.name = "ExitRequest";
    this.code = code;
  }
}

/**
 * Thrown inside a thread whose process is ending (another thread failed or exited).
 *
 * @example
 * ```ts
 * import { ThreadKilled } from "./worker_proc.ts";
 * console.assert(new ThreadKilled().code === "ESRCH");
 * ```
 */
export class ThreadKilled extends KernelError {
  /** Creates the error. */
  constructor() {
    super("ESRCH", "the process is ending; this thread was stopped");
    this.name = "ThreadKilled";
  }
}

interface SyscallReply {
  reply: Record<string, unknown>;
  blob: Uint8Array;
}

/** The typed arrays bulk copies move element-wise. */
type TypedArray =
  | Uint8Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function badArgument(what: string, value: unknown): KernelError {
  return new KernelError("EINVAL", `${what} must be a non-negative integer, got ${String(value)}`);
}

function checkCount(what: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw badArgument(what, value);
}

/**
 * A 64-bit length as the system call carries it (JSON): a bigint becomes the nearest
 * number (every length past 2^53 is too large for the address space anyway); a negative
 * bigint is left to the monitor, which names the problem.
 */
function byteCount(length: number | bigint): number | string {
  if (typeof length !== "bigint") return length;
  return length < 0n ? String(length) : Number(length);
}

function hex(addr: number): string {
  return Number.isFinite(addr) && addr >= 0 ? `0x${addr.toString(16)}` : String(addr);
}

/** The views of the thread being constructed, between {@link ThreadStart} and its fields. */
let starting: { cache: CacheViews; thread: ThreadViews } | undefined;

/**
 * Hands a thread's start message to {@link WorkerProc}'s field initializers, which run
 * right after this constructor. Why not assign the fields in WorkerProc's constructor: a
 * private field without an initializer is first defined as undefined and then written
 * again, and V8 then no longer knows what it holds: the generated code of every hit reloaded
 * the cache's typed array and checked its map.
 */
class ThreadStart {
  constructor(init: ThreadInit) {
    if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
      throw new KernelError("ENOSYS", "legoemu threads need a little-endian host");
    }
    starting = { cache: cacheViews(init.cache), thread: threadViews(init.block) };
  }
}

/**
 * The {@link Proc} of one thread, running inside its Worker.
 *
 * @example
 * ```ts ignore
 * // Built by the thread bootstrap from the monitor's ThreadInit message:
 * const proc = new WorkerProc(init, (message) => self.postMessage(message));
 * proc.storeU32(proc.mmap(4096), 1);
 * ```
 */
export class WorkerProc extends ThreadStart implements Proc {
  /** Process id. */
  readonly pid: number;
  /** Thread id. */
  readonly tid: number;
  /** Process arguments. */
  readonly args: readonly string[];

  // The ExCache.
  readonly #u8 = starting!.cache.u8;
  readonly #u16 = starting!.cache.u16;
  readonly #i32 = starting!.cache.i32;
  readonly #u32 = starting!.cache.u32;
  readonly #f32 = starting!.cache.f32;
  readonly #f64 = starting!.cache.f64;
  readonly #u64 = starting!.cache.u64;
  readonly #keys = starting!.cache.keys;
  readonly #state = starting!.cache.state;
  readonly #evicting = starting!.cache.evicting;
  readonly #readyNs = starting!.cache.readyNs;
  /** Per slot: the fill (its ready time) this thread was already sent to wait for. */
  readonly #waited = new Float64Array(starting!.cache.lines);
  readonly #epoch = starting!.cache.epoch;
  readonly #referenced = starting!.cache.referenced;
  readonly #ways = starting!.cache.ways;
  readonly #sets = starting!.cache.sets;
  // The cache as each {@link TYPE}, for the slow path.
  readonly #typed:
    (Uint8Array | Uint16Array | Uint32Array | Int32Array | Float32Array | Float64Array)[] = [
      this.#u8,
      this.#u16,
      this.#u32,
      this.#i32,
      this.#f32,
      this.#f64,
    ];

  // This thread's control block.
  readonly #ctl = starting!.thread.ctl;
  readonly #words = starting!.thread.f64;
  readonly #announce = starting!.thread.announce;
  readonly #mailbox = starting!.thread.mailbox;

  // The TLB, indexed by virtual line modulo its size. `#tlbStart` is the first address of
  // the pinned line (NaN when the entry pins nothing); `#tlbStartW` is the same when writes
  // may go straight to the line (it is writable and already marked dirty), else NaN.
  readonly #tlbStart = new Float64Array(TLB_ENTRIES).fill(NaN);
  readonly #tlbStartW = new Float64Array(TLB_ENTRIES).fill(NaN);
  readonly #tlbBase = new Int32Array(TLB_ENTRIES);
  readonly #tlbSlot = new Int32Array(TLB_ENTRIES);
  readonly #tlbUse = new Int32Array(TLB_ENTRIES);
  // The tick when each entry was pinned: a use newer than the pin's own access is a hit
  // while held, which sets the line's referenced bit when the entry lets the line go.
  readonly #tlbPinTick = new Int32Array(TLB_ENTRIES);
  // Where each entry's line was when it was last unpinned: revalidated without a search.
  readonly #hintLine = new Float64Array(TLB_ENTRIES).fill(NaN);
  readonly #hintSlot = new Int32Array(TLB_ENTRIES);
  #seenShoot = 0;

  // The words every hit touches ({@link HOT}): per access size, the fast-path hits left
  // before the next look at the shootdown word (a hit costs no atomic operation; every
  // BUDGET hits the thread checks whether the monitor wants its pins back, and counts the
  // hits), and the recency tick. In one small typed array rather than object fields: V8
  // updates its words in place, where a field holding a small integer costs a tag, an
  // untag and an overflow check per hit.
  readonly #hot = Int32Array.of(BUDGET, BUDGET, BUDGET, BUDGET, 0);
  // Fast-path hits counted so far, per access size (indexed like the budgets).
  readonly #hits = new Float64Array(4);
  #slowHits = 0;
  #computeNs = 0;
  readonly #roofline: Roofline;

  // Recency for LRU: each access stamps its TLB entry with the current tick, and a dropped
  // pin publishes its stamp (`#stamps` is undefined when the policy needs no recency). A
  // fast hit stores the tick without advancing it (a counter carried from one access to
  // the next through memory cost more than the rest of the hit); the tick advances at
  // every slow-path event, before and after it, and every BUDGET fast hits. So recency is
  // exact across misses and TLB fills and coarse (one window of at most BUDGET hits)
  // among lines that only hit, as with a hardware reference bit sampled per window. The
  // tick counts from `#tickBase` so that it stays a small integer: a large one would be a
  // boxed double and cost several nanoseconds per hit.
  readonly #stamps: Float64Array | undefined;
  #tickBase: number;

  readonly #post: (message: ThreadMessage) => void;
  readonly #scratch = new Uint8Array(8);
  readonly #scratchView = new DataView(this.#scratch.buffer);
  #inCallback = false;
  /** Set once the thread was stopped: nothing may pin a slot any more. */
  #gone = false;
  readonly #lineViews = new Map<TypedArray, TypedArray[]>();
  // Whole-line f32 views by slot: tensor code reads and writes f32 lines most.
  readonly #f32Lines: Float32Array[];

  /** Builds the thread's view of its process from the monitor's start message. */
  constructor(init: ThreadInit, post: (message: ThreadMessage) => void) {
    super(init); // the fields above read `starting` right after this
    starting = undefined;
    this.pid = init.pid;
    this.tid = init.tid;
    this.args = Object.freeze([...init.args]);
    this.#seenShoot = Atomics.load(this.#ctl, CTL.SHOOT);
    this.#stamps = init.stamps ? new Float64Array(init.stamps) : undefined;
    this.#tickBase = Atomics.load(this.#epoch, 0) * EPOCH_SPAN;
    this.#roofline = init.roofline;
    this.#f32Lines = this.#slotArray();
    this.#post = post;
  }

  // ── the slow path ──

  /**
   * The slow path of a typed access of `size` bytes at `addr`: counts the fast hits so
   * far, honours a shootdown, then pins the line. Returns the byte index in the cache, or
   * -1 when the access is unaligned, straddles two lines or is not an integer address
   * (the caller then goes byte-wise). `alignMask` is `4096 - size`: `(o & mask) === o`
   * holds exactly for an integer offset `o` that is aligned and keeps the access in one line.
   */
  #slow(addr: number, alignMask: number, size: number, write: boolean): number {
    this.#settle();
    const vline = Math.floor(addr / LINE);
    const offset = addr - vline * LINE;
    if ((offset & alignMask) !== offset) return -1;
    return this.#lineBase(vline, write, size) + offset;
  }

  /** Counts the fast-path hits since the last look and refills the budgets. */
  #settle(): void {
    this.#countHits();
    const hot = this.#hot;
    hot[HOT.TICK]++; // a new recency window
    if (hot[HOT.TICK] > TICK_LIMIT) this.#rebase(this.#tickBase + hot[HOT.TICK]);
    this.#honourShootdown();
  }

  /** Adds the fast-path hits since the last count to the totals and refills the budgets. */
  #countHits(): void {
    const hot = this.#hot;
    const hits = this.#hits;
    for (let size = HOT.B1; size <= HOT.B8; size++) {
      hits[size] += BUDGET - hot[size];
      hot[size] = BUDGET;
    }
  }

  /** Makes `base` the origin of the tick, keeping pinned entries' last uses. */
  #rebase(base: number): void {
    const shift = base - this.#tickBase;
    const start = this.#tlbStart;
    for (let i = 0; i < TLB_ENTRIES; i++) {
      if (start[i] === start[i]) {
        this.#tlbUse[i] -= shift;
        this.#tlbPinTick[i] -= shift;
      }
    }
    this.#tickBase = base;
    this.#hot[HOT.TICK] = 0;
  }

  /** The byte base of `vline`'s slot for an access of `n` bytes of it (pins it). */
  #lineBase(vline: number, write: boolean, n: number): number {
    const i = vline & TLB_MASK;
    if (
      (write ? this.#tlbStartW[i] : this.#tlbStart[i]) === vline * LINE &&
      Atomics.load(this.#ctl, CTL.SHOOT) === this.#seenShoot
    ) return this.#hit(i, n);
    return this.#line(vline, write, n);
  }

  /**
   * Pins `vline` for an access: honour a shootdown, upgrade a pinned line for a write,
   * revalidate a hint, search the set, and finally ask the monitor. Returns the byte base
   * of the slot, which TLB entry `vline % TLB_ENTRIES` now pins.
   */
  #line(vline: number, write: boolean, n: number): number {
    if (!(vline >= 0 && vline < VLINE_LIMIT)) {
      throw new KernelError(
        "EFAULT",
        `segmentation fault: pid ${this.pid} ${write ? "write" : "read"} at ${
          hex(vline * LINE)
        } (outside the 47-bit address space)`,
      );
    }
    if (this.#inCallback) {
      throw new KernelError(
        "EINVAL",
        "a forEachLine/forEachF32 callback must not call back into proc (its view would go stale)",
      );
    }
    if (this.#gone) throw new ThreadKilled();
    this.#honourShootdown();
    const i = vline & TLB_MASK;
    const key = this.pid * VLINE_LIMIT + vline;
    if (this.#tlbStart[i] === vline * LINE) {
      if (!write) return this.#hit(i, n);
      // Pinned, but not yet marked dirty: a first write to this line.
      const slot = this.#tlbSlot[i];
      if ((Atomics.load(this.#state, slot) & STATE_WRITABLE) !== 0) {
        Atomics.or(this.#state, slot, STATE_DIRTY);
        this.#tlbStartW[i] = vline * LINE;
        return this.#hit(i, n);
      }
      this.#unpin(i); // not writable here: the monitor decides (fault or upgrade)
    } else {
      if (this.#tlbStart[i] === this.#tlbStart[i]) this.#unpin(i); // it held another line
      const slot = this.#hintLine[i] === vline ? this.#hintSlot[i] : this.#find(key, vline);
      if (slot >= 0 && !this.#stillFilling(slot) && this.#pin(i, slot, key, vline, write)) {
        return this.#hit(i, n);
      }
    }
    return this.#miss(vline, i, write, n);
  }

  /**
   * Whether another thread's fill of `slot` is, in this thread's model time, still on its
   * way (done later than this thread's now): then the access goes to the monitor, which
   * charges the rest of the fill, as the hardware would make this thread wait for it.
   */
  #stillFilling(slot: number): boolean {
    const ready = this.#readyNs[slot];
    if (!(ready > this.#words[F64.STALL_NS] + this.#computeNs) || this.#waited[slot] === ready) {
      return false;
    }
    // Once per fill: the monitor charges this wait now; finding the line again later (its
    // TLB entry reused meanwhile) must not charge it again.
    this.#waited[slot] = ready;
    return true;
  }

  // `_n` (bytes touched) is kept by the callers' signatures; hits cost no model time.
  #hit(i: number, _n: number): number {
    this.#slowHits++;
    this.#stamp(i);
    return this.#tlbBase[i];
  }

  /** Stamps entry `i` as used now, after everything before and before every later hit. */
  #stamp(i: number): void {
    const hot = this.#hot;
    this.#tlbUse[i] = ++hot[HOT.TICK];
    hot[HOT.TICK]++;
  }

  /** The slot holding `key` in its set, or -1 (a hint: {@link WorkerProc.#pin} verifies). */
  #find(key: number, vline: number): number {
    const first = (vline % this.#sets) * this.#ways;
    const end = first + this.#ways;
    for (let slot = first; slot < end; slot++) if (this.#keys[slot] === key) return slot;
    return -1;
  }

  /** Announces `slot` in TLB entry `i` and keeps it if it still holds `key` usably. */
  #pin(i: number, slot: number, key: number, vline: number, write: boolean): boolean {
    Atomics.store(this.#announce, i, slot);
    if (Atomics.load(this.#evicting, slot) === 0 && this.#keys[slot] === key) {
      const state = Atomics.load(this.#state, slot);
      const mapped = (state & (STATE_VALID | STATE_UNMAPPED)) === STATE_VALID;
      if (mapped && (!write || (state & STATE_WRITABLE) !== 0)) {
        if (write && (state & STATE_DIRTY) === 0) Atomics.or(this.#state, slot, STATE_DIRTY);
        this.#fillEntry(i, vline, slot, write || (state & STATE_DIRTY) !== 0, state);
        return true;
      }
    }
    Atomics.store(this.#announce, i, -1);
    return false;
  }

  #fillEntry(i: number, vline: number, slot: number, dirty: boolean, state: number): void {
    // Pinning is for an access (like a TLB fill setting a page's accessed bit); the pin's
    // own access is stamped right after, at a tick above this one.
    this.#referenced[slot] = 1;
    this.#tlbPinTick[i] = this.#hot[HOT.TICK] + 1;
    const start = vline * LINE;
    this.#tlbStart[i] = start;
    this.#tlbStartW[i] = dirty && (state & STATE_WRITABLE) !== 0 ? start : NaN;
    this.#tlbSlot[i] = slot;
    this.#tlbBase[i] = slot * LINE;
  }

  #unpin(i: number): void {
    const slot = this.#tlbSlot[i];
    // Hits while the line was held reach its referenced bit now (a policy may have cleared
    // it since the pin); the hit path itself never writes it.
    if (this.#tlbUse[i] > this.#tlbPinTick[i]) this.#referenced[slot] = 1;
    const used = this.#tickBase + this.#tlbUse[i];
    if (this.#stamps !== undefined && used > this.#stamps[slot]) this.#stamps[slot] = used;
    Atomics.store(this.#announce, i, -1);
    this.#hintLine[i] = this.#tlbStart[i] / LINE;
    this.#hintSlot[i] = slot;
    this.#tlbStart[i] = NaN;
    this.#tlbStartW[i] = NaN;
  }

  /** Drops every pin (before blocking, and when the monitor asks). */
  #unpinAll(): void {
    const start = this.#tlbStart;
    for (let i = 0; i < TLB_ENTRIES; i++) if (start[i] === start[i]) this.#unpin(i);
  }

  #honourShootdown(): void {
    const generation = Atomics.load(this.#ctl, CTL.SHOOT);
    if (generation === this.#seenShoot) return;
    this.#unpinAll();
    // The monitor also asks for a shootdown to read the counters of a thread that only hits.
    this.#publish();
    this.#seenShoot = generation;
    Atomics.store(this.#ctl, CTL.SHOOT_ACK, generation);
    if ((Atomics.load(this.#ctl, CTL.KILLED) & LIFE.KILL) !== 0) throw this.#die();
  }

  /**
   * Drops every pin for good and tells the monitor so ({@link LIFE}.GONE): from here on
   * every access fails before it could pin a slot, so the monitor may reuse the slots this
   * thread pinned even if the workload catches the error and goes on.
   */
  #die(): ThreadKilled {
    this.#gone = true;
    this.#unpinAll();
    Atomics.or(this.#ctl, CTL.KILLED, LIFE.GONE);
    return new ThreadKilled();
  }

  /** Blocks while the monitor brings `vline` in; returns the slot's byte base. */
  #miss(vline: number, i: number, write: boolean, n: number): number {
    this.#words[F64.VADDR] = vline * LINE;
    this.#ctl[CTL.WRITE] = write ? 1 : 0;
    const response = this.#request(REQUEST.MISS);
    if (response !== RESPONSE.HIT && response !== RESPONSE.MISS) throw this.#failure(response);
    const slot = Atomics.load(this.#announce, i);
    const state = Atomics.load(this.#state, slot);
    // Ticks after a fill come after it: move the origin past the fill's epoch (nothing
    // else is pinned now, so no entry's last use needs shifting).
    this.#tickBase = Math.max(
      this.#tickBase + this.#hot[HOT.TICK],
      Atomics.load(this.#epoch, 0) * EPOCH_SPAN,
    );
    this.#hot[HOT.TICK] = 0;
    this.#fillEntry(i, vline, slot, (state & STATE_DIRTY) !== 0, state);
    if (response === RESPONSE.HIT) return this.#hit(i, n);
    this.#stamp(i);
    return slot * LINE;
  }

  /** Posts a request and sleeps until the monitor answers. */
  #request(op: number): number {
    if (this.#gone || (Atomics.load(this.#ctl, CTL.KILLED) & LIFE.KILL) !== 0) throw this.#die();
    this.#unpinAll(); // a blocked thread holds no line hostage
    this.#publish();
    const ctl = this.#ctl;
    Atomics.store(ctl, CTL.RESP, 0);
    Atomics.store(ctl, CTL.REQ, op);
    Atomics.notify(ctl, CTL.REQ);
    // No spinning first: on a machine with fewer cores than threads, a spinning thread
    // takes the core the monitor needs to serve it (measured: misses took 2-4x longer).
    let response: number;
    while ((response = Atomics.load(ctl, CTL.RESP)) === 0) Atomics.wait(ctl, CTL.RESP, 0);
    return response;
  }

  #failure(response: number): Error {
    if (response === RESPONSE.KILLED) return this.#die();
    const bytes = Atomics.load(this.#ctl, CTL.JSON_BYTES);
    try {
      const { code, message } = JSON.parse(decoder.decode(this.#mailbox.slice(0, bytes)));
      return new KernelError(String(code), String(message));
    } catch {
      return new KernelError("EIO", `the processor monitor sent an unreadable reply (${response})`);
    }
  }

  /** Publishes this thread's counters where the monitor reads them. */
  #publish(): void {
    this.#countHits();
    const hits = this.#hits;
    this.#words[F64.HITS] = hits[HOT.B1] + hits[HOT.B2] + hits[HOT.B4] + hits[HOT.B8] +
      this.#slowHits;
    this.#words[F64.COMPUTE_NS] = this.#computeNs;
  }

  /** Drops every pin and publishes the counters: the thread is done. */
  finish(): void {
    this.#publish();
    this.#die();
  }

  // ── byte-wise paths (unaligned, straddling) ──

  /** Checks a range `[addr, addr + length)` before a byte-wise or bulk access. */
  #checkRange(addr: number, length: number, write: boolean): void {
    checkCount("length", length);
    if (!Number.isSafeInteger(addr) || addr < 0) throw badArgument("address", addr);
    if (addr + length > VADDR_LIMIT) {
      throw new KernelError(
        "EFAULT",
        `segmentation fault: pid ${this.pid} ${write ? "write" : "read"} at ${
          hex(addr)
        } (outside the 47-bit address space)`,
      );
    }
  }

  /** The cache index of `addr`'s byte, pinning its line for an `n`-byte piece. */
  #piece(addr: number, write: boolean, n: number): number {
    const vline = Math.floor(addr / LINE);
    return this.#lineBase(vline, write, n) + (addr - vline * LINE);
  }

  #loadSmall(addr: number, size: number): DataView {
    this.#checkRange(addr, size, false);
    const scratch = this.#scratch;
    const u8 = this.#u8;
    for (let done = 0; done < size;) {
      const at = addr + done;
      const n = Math.min(LINE - (at % LINE), size - done);
      const base = this.#piece(at, false, n);
      for (let k = 0; k < n; k++) scratch[done + k] = u8[base + k];
      done += n;
    }
    return this.#scratchView;
  }

  #storeSmall(addr: number, size: number): void {
    this.#checkRange(addr, size, true);
    const scratch = this.#scratch;
    const u8 = this.#u8;
    for (let done = 0; done < size;) {
      const at = addr + done;
      const n = Math.min(LINE - (at % LINE), size - done);
      const base = this.#piece(at, true, n);
      for (let k = 0; k < n; k++) u8[base + k] = scratch[done + k];
      done += n;
    }
  }

  // ── typed loads and stores: the hit path ──
  //
  // Each typed access first takes one from its size's hit budget. When the budget runs
  // out (once every BUDGET hits), the access counts that window of hits, advances the
  // recency tick and looks at the shootdown word, written out in place rather than in a
  // method: V8 does not inline a call made that rarely, and a call left anywhere in a
  // workload's loop makes V8 keep the loop's variables in memory instead of registers
  // (measured on 1 MiB of random f32 hits: about 4.4 ns per hit with such a call, 3.9 ns
  // without). For the same reason the shootdown word is read there without Atomics
  // (Atomics.load compiles to a call): an aligned 32-bit load is whole and coherent on
  // every host V8 runs on, so a new generation is seen at the next look at the latest,
  // and the slow path it leads to reads the word with Atomics before acting on it.
  //
  // Then the address. Its low 32 bits give the TLB entry (bits 12-20) and the aligned
  // offset in the line (`o`); one compare, `addr - o === start`, checks the rest at once:
  // the high bits name the pinned line, the address is an integer, and it is aligned (its
  // low bits are not in `o`). Anything else, and every address the TLB does not pin,
  // takes the slow path. Measured on the same hits: about 7 ns per hit when the address
  // was divided by the line size and the offset checked apart, under 5 ns this way (V8 no
  // longer converts the offset between doubles and integers).

  /**
   * The slow path of the typed loads (all but u64): gives back the hit the fast path took
   * from its budget, then pins the line, or goes byte-wise when the access is unaligned or
   * straddles two lines. One method for all of them keeps each accessor to its fast path
   * and one call (wrapped in `+`, so that V8 knows the value where the two paths meet is a
   * number).
   */
  #slowLoad(type: number, addr: number): number {
    const size = TYPE_BYTES[type];
    this.#hot[TYPE_BUDGET[type]]++;
    const at = this.#slow(addr, LINE - size, size, false);
    return at >= 0 ? this.#typed[type][at / size] : GET[type](this.#loadSmall(addr, size));
  }

  /** The slow path of the typed stores (all but u64), as {@link WorkerProc.#slowLoad}. */
  #slowStore(type: number, addr: number, value: number): void {
    const size = TYPE_BYTES[type];
    this.#hot[TYPE_BUDGET[type]]++;
    const at = this.#slow(addr, LINE - size, size, true);
    if (at >= 0) this.#typed[type][at / size] = value;
    else {
      SET[type](this.#scratchView, value);
      this.#storeSmall(addr, size);
    }
  }

  /** Reads a u8. */
  loadU8(addr: number): number {
    const hot = this.#hot;
    if (--hot[HOT.B1] < 0) {
      // The budget ran out (see "the hit path" above).
      this.#hits[HOT.B1] += BUDGET;
      hot[HOT.B1] = BUDGET - 1;
      if (this.#ctl[CTL.SHOOT] !== this.#seenShoot || ++hot[HOT.TICK] > TICK_LIMIT) {
        this.#settle();
      }
    }
    const lo = addr | 0;
    const i = (lo >>> LINE_SHIFT) & TLB_MASK;
    const o = lo & 0xfff;
    if (addr - o === this.#tlbStart[i]) {
      this.#tlbUse[i] = hot[HOT.TICK];
      return this.#u8[this.#tlbBase[i] + o];
    }
    return +this.#slowLoad(TYPE.U8, addr);
  }

  /** Reads a little-endian u16. */
  loadU16(addr: number): number {
    const hot = this.#hot;
    if (--hot[HOT.B2] < 0) {
      // The budget ran out (see "the hit path" above).
      this.#hits[HOT.B2] += BUDGET;
      hot[HOT.B2] = BUDGET - 1;
      if (this.#ctl[CTL.SHOOT] !== this.#seenShoot || ++hot[HOT.TICK] > TICK_LIMIT) {
        this.#settle();
      }
    }
    const lo = addr | 0;
    const i = (lo >>> LINE_SHIFT) & TLB_MASK;
    const o = lo & 0xffe;
    if (addr - o === this.#tlbStart[i]) {
      this.#tlbUse[i] = hot[HOT.TICK];
      return this.#u16[(this.#tlbBase[i] + o) >>> 1];
    }
    return +this.#slowLoad(TYPE.U16, addr);
  }

  /** Reads a little-endian u32. */
  loadU32(addr: number): number {
    const hot = this.#hot;
    if (--hot[HOT.B4] < 0) {
      // The budget ran out (see "the hit path" above).
      this.#hits[HOT.B4] += BUDGET;
      hot[HOT.B4] = BUDGET - 1;
      if (this.#ctl[CTL.SHOOT] !== this.#seenShoot || ++hot[HOT.TICK] > TICK_LIMIT) {
        this.#settle();
      }
    }
    const lo = addr | 0;
    const i = (lo >>> LINE_SHIFT) & TLB_MASK;
    const o = lo & 0xffc;
    if (addr - o === this.#tlbStart[i]) {
      this.#tlbUse[i] = hot[HOT.TICK];
      return this.#u32[(this.#tlbBase[i] + o) >>> 2];
    }
    return +this.#slowLoad(TYPE.U32, addr);
  }

  /** Reads a little-endian i32. */
  loadI32(addr: number): number {
    const hot = this.#hot;
    if (--hot[HOT.B4] < 0) {
      // The budget ran out (see "the hit path" above).
      this.#hits[HOT.B4] += BUDGET;
      hot[HOT.B4] = BUDGET - 1;
      if (this.#ctl[CTL.SHOOT] !== this.#seenShoot || ++hot[HOT.TICK] > TICK_LIMIT) {
        this.#settle();
      }
    }
    const lo = addr | 0;
    const i = (lo >>> LINE_SHIFT) & TLB_MASK;
    const o = lo & 0xffc;
    if (addr - o === this.#tlbStart[i]) {
      this.#tlbUse[i] = hot[HOT.TICK];
      return this.#i32[(this.#tlbBase[i] + o) >>> 2];
    }
    return +this.#slowLoad(TYPE.I32, addr);
  }

  /** Reads a little-endian f32. */
  loadF32(addr: number): number {
    const hot = this.#hot;
    if (--hot[HOT.B4] < 0) {
      // The budget ran out (see "the hit path" above).
      this.#hits[HOT.B4] += BUDGET;
      hot[HOT.B4] = BUDGET - 1;
      if (this.#ctl[CTL.SHOOT] !== this.#seenShoot || ++hot[HOT.TICK] > TICK_LIMIT) {
        this.#settle();
      }
    }
    const lo = addr | 0;
    const i = (lo >>> LINE_SHIFT) & TLB_MASK;
    const o = lo & 0xffc;
    if (addr - o === this.#tlbStart[i]) {
      this.#tlbUse[i] = hot[HOT.TICK];
      return this.#f32[(this.#tlbBase[i] + o) >>> 2];
    }
    return +this.#slowLoad(TYPE.F32, addr);
  }

  /** Reads a little-endian f64. */
  loadF64(addr: number): number {
    const hot = this.#hot;
    if (--hot[HOT.B8] < 0) {
      // The budget ran out (see "the hit path" above).
      this.#hits[HOT.B8] += BUDGET;
      hot[HOT.B8] = BUDGET - 1;
      if (this.#ctl[CTL.SHOOT] !== this.#seenShoot || ++hot[HOT.TICK] > TICK_LIMIT) {
        this.#settle();
      }
    }
    const lo = addr | 0;
    const i = (lo >>> LINE_SHIFT) & TLB_MASK;
    const o = lo & 0xff8;
    if (addr - o === this.#tlbStart[i]) {
      this.#tlbUse[i] = hot[HOT.TICK];
      return this.#f64[(this.#tlbBase[i] + o) >>> 3];
    }
    return +this.#slowLoad(TYPE.F64, addr);
  }

  /** Reads a little-endian u64. */
  loadU64(addr: number): bigint {
    const hot = this.#hot;
    if (--hot[HOT.B8] < 0) {
      // The budget ran out (see "the hit path" above).
      this.#hits[HOT.B8] += BUDGET;
      hot[HOT.B8] = BUDGET - 1;
      if (this.#ctl[CTL.SHOOT] !== this.#seenShoot || ++hot[HOT.TICK] > TICK_LIMIT) {
        this.#settle();
      }
    }
    const lo = addr | 0;
    const i = (lo >>> LINE_SHIFT) & TLB_MASK;
    const o = lo & 0xff8;
    if (addr - o === this.#tlbStart[i]) {
      this.#tlbUse[i] = hot[HOT.TICK];
      return this.#u64[(this.#tlbBase[i] + o) >>> 3];
    }
    this.#hot[HOT.B8]++; // this access is not a fast hit
    const at = this.#slow(addr, 0xff8, 8, false);
    return at >= 0 ? this.#u64[at >>> 3] : this.#loadSmall(addr, 8).getBigUint64(0, true);
  }

  /** Writes a u8. */
  storeU8(addr: number, value: number): void {
    const hot = this.#hot;
    if (--hot[HOT.B1] < 0) {
      // The budget ran out (see "the hit path" above).
      this.#hits[HOT.B1] += BUDGET;
      hot[HOT.B1] = BUDGET - 1;
      if (this.#ctl[CTL.SHOOT] !== this.#seenShoot || ++hot[HOT.TICK] > TICK_LIMIT) {
        this.#settle();
      }
    }
    const lo = addr | 0;
    const i = (lo >>> LINE_SHIFT) & TLB_MASK;
    const o = lo & 0xfff;
    if (addr - o === this.#tlbStartW[i]) {
      this.#tlbUse[i] = hot[HOT.TICK];
      this.#u8[this.#tlbBase[i] + o] = value;
    } else this.#slowStore(TYPE.U8, addr, value);
  }

  /** Writes a little-endian u16. */
  storeU16(addr: number, value: number): void {
    const hot = this.#hot;
    if (--hot[HOT.B2] < 0) {
      // The budget ran out (see "the hit path" above).
      this.#hits[HOT.B2] += BUDGET;
      hot[HOT.B2] = BUDGET - 1;
      if (this.#ctl[CTL.SHOOT] !== this.#seenShoot || ++hot[HOT.TICK] > TICK_LIMIT) {
        this.#settle();
      }
    }
    const lo = addr | 0;
    const i = (lo >>> LINE_SHIFT) & TLB_MASK;
    const o = lo & 0xffe;
    if (addr - o === this.#tlbStartW[i]) {
      this.#tlbUse[i] = hot[HOT.TICK];
      this.#u16[(this.#tlbBase[i] + o) >>> 1] = value;
    } else this.#slowStore(TYPE.U16, addr, value);
  }

  /** Writes a little-endian u32. */
  storeU32(addr: number, value: number): void {
    const hot = this.#hot;
    if (--hot[HOT.B4] < 0) {
      // The budget ran out (see "the hit path" above).
      this.#hits[HOT.B4] += BUDGET;
      hot[HOT.B4] = BUDGET - 1;
      if (this.#ctl[CTL.SHOOT] !== this.#seenShoot || ++hot[HOT.TICK] > TICK_LIMIT) {
        this.#settle();
      }
    }
    const lo = addr | 0;
    const i = (lo >>> LINE_SHIFT) & TLB_MASK;
    const o = lo & 0xffc;
    if (addr - o === this.#tlbStartW[i]) {
      this.#tlbUse[i] = hot[HOT.TICK];
      this.#u32[(this.#tlbBase[i] + o) >>> 2] = value;
    } else this.#slowStore(TYPE.U32, addr, value);
  }

  /** Writes a little-endian i32. */
  storeI32(addr: number, value: number): void {
    const hot = this.#hot;
    if (--hot[HOT.B4] < 0) {
      // The budget ran out (see "the hit path" above).
      this.#hits[HOT.B4] += BUDGET;
      hot[HOT.B4] = BUDGET - 1;
      if (this.#ctl[CTL.SHOOT] !== this.#seenShoot || ++hot[HOT.TICK] > TICK_LIMIT) {
        this.#settle();
      }
    }
    const lo = addr | 0;
    const i = (lo >>> LINE_SHIFT) & TLB_MASK;
    const o = lo & 0xffc;
    if (addr - o === this.#tlbStartW[i]) {
      this.#tlbUse[i] = hot[HOT.TICK];
      this.#i32[(this.#tlbBase[i] + o) >>> 2] = value;
    } else this.#slowStore(TYPE.I32, addr, value);
  }

  /** Writes a little-endian f32. */
  storeF32(addr: number, value: number): void {
    const hot = this.#hot;
    if (--hot[HOT.B4] < 0) {
      // The budget ran out (see "the hit path" above).
      this.#hits[HOT.B4] += BUDGET;
      hot[HOT.B4] = BUDGET - 1;
      if (this.#ctl[CTL.SHOOT] !== this.#seenShoot || ++hot[HOT.TICK] > TICK_LIMIT) {
        this.#settle();
      }
    }
    const lo = addr | 0;
    const i = (lo >>> LINE_SHIFT) & TLB_MASK;
    const o = lo & 0xffc;
    if (addr - o === this.#tlbStartW[i]) {
      this.#tlbUse[i] = hot[HOT.TICK];
      this.#f32[(this.#tlbBase[i] + o) >>> 2] = value;
    } else this.#slowStore(TYPE.F32, addr, value);
  }

  /** Writes a little-endian f64. */
  storeF64(addr: number, value: number): void {
    const hot = this.#hot;
    if (--hot[HOT.B8] < 0) {
      // The budget ran out (see "the hit path" above).
      this.#hits[HOT.B8] += BUDGET;
      hot[HOT.B8] = BUDGET - 1;
      if (this.#ctl[CTL.SHOOT] !== this.#seenShoot || ++hot[HOT.TICK] > TICK_LIMIT) {
        this.#settle();
      }
    }
    const lo = addr | 0;
    const i = (lo >>> LINE_SHIFT) & TLB_MASK;
    const o = lo & 0xff8;
    if (addr - o === this.#tlbStartW[i]) {
      this.#tlbUse[i] = hot[HOT.TICK];
      this.#f64[(this.#tlbBase[i] + o) >>> 3] = value;
    } else this.#slowStore(TYPE.F64, addr, value);
  }

  /** Writes a little-endian u64. */
  storeU64(addr: number, value: bigint): void {
    if (typeof value !== "bigint") {
      throw new KernelError("EINVAL", `storeU64 needs a bigint value, got ${typeof value}`);
    }
    const at = this.#slow(addr, 0xff8, 8, true);
    if (at >= 0) this.#u64[at >>> 3] = value;
    else {
      this.#scratchView.setBigUint64(0, value, true);
      this.#storeSmall(addr, 8);
    }
  }

  // ── bulk: a line at a time ──

  /** Reads `length` bytes into a new array. */
  load(addr: number, length: number): Uint8Array {
    checkCount("length", length);
    const out = new Uint8Array(length);
    this.loadInto(addr, out);
    return out;
  }

  /** Reads `target.byteLength` bytes into `target`. */
  loadInto(addr: number, target: ArrayBufferView): void {
    // The common case first: a whole aligned range inside one line its TLB entry pins.
    const i = (addr / LINE) & TLB_MASK;
    const d = addr - this.#tlbStart[i];
    if (d === (d & (LINE - 1)) && target instanceof Float32Array && (d & 3) === 0) {
      const length = target.length << 2;
      if (
        length > 0 && d + length <= LINE &&
        Atomics.load(this.#ctl, CTL.SHOOT) === this.#seenShoot
      ) {
        const base = this.#hit(i, length) + d;
        target.set(
          length === LINE ? this.#lineOf(this.#f32Lines, this.#f32, base) : this.#f32.subarray(
            base >>> 2,
            (base + length) >>> 2,
          ),
        );
        return;
      }
    }
    const view = this.#sameKind(target, addr);
    const out = view ? target as TypedArray : bytesOf(target, "loadInto target");
    const source = view ?? this.#u8;
    const size = source.BYTES_PER_ELEMENT;
    const length = out.length * size;
    this.#checkRange(addr, length, false);
    // Whole elements at a time, straight from the line into the target (one copy).
    for (let done = 0; done < length;) {
      const at = addr + done;
      const n = Math.min(LINE - (at % LINE), length - done);
      const base = this.#piece(at, false, n);
      out.set(
        n === LINE ? this.#lineView(source, base) : source.subarray(base / size, (base + n) / size),
        done / size,
      );
      done += n;
    }
  }

  /** Writes the bytes of `data`. */
  store(addr: number, data: ArrayBufferView): void {
    const view = this.#sameKind(data, addr);
    const input = view ? data as TypedArray : bytesOf(data, "store data");
    const target = view ?? this.#u8;
    const size = target.BYTES_PER_ELEMENT;
    const length = input.length * size;
    this.#checkRange(addr, length, true);
    for (let done = 0; done < length;) {
      const at = addr + done;
      const n = Math.min(LINE - (at % LINE), length - done);
      target.set(input.subarray(done / size, (done + n) / size), this.#piece(at, true, n) / size);
      done += n;
    }
  }

  /** A view of the whole line at byte `base` through `source`, made once per line and kind. */
  #lineView(source: TypedArray, base: number): TypedArray {
    if (source === this.#f32) return this.#lineOf(this.#f32Lines, source, base);
    let views = this.#lineViews.get(source);
    if (!views) this.#lineViews.set(source, views = this.#slotArray());
    return this.#lineOf(views, source, base);
  }

  /** An array with one (empty) place per slot: dense, so indexing it stays fast. */
  #slotArray<T>(): T[] {
    return new Array<T>(this.#sets * this.#ways).fill(undefined as T);
  }

  /** `views[slot]`, the line at byte `base` through `source`, made on first use. */
  #lineOf<T extends TypedArray>(views: T[], source: T, base: number): T {
    const slot = base / LINE;
    return views[slot] ??= source.subarray(
      base / source.BYTES_PER_ELEMENT,
      (base + LINE) / source.BYTES_PER_ELEMENT,
    ) as T;
  }

  /**
   * The cache's view with the same element type as `data`, when `addr` is aligned to it
   * (so a bulk copy moves elements, with no byte view made per call); else undefined.
   */
  #sameKind(data: ArrayBufferView, addr: number): TypedArray | undefined {
    const view = data instanceof Float32Array
      ? this.#f32
      : data instanceof Float64Array
      ? this.#f64
      : data instanceof Uint8Array
      ? this.#u8
      : data instanceof Int32Array
      ? this.#i32
      : data instanceof Uint32Array
      ? this.#u32
      : data instanceof Uint16Array
      ? this.#u16
      : undefined;
    return view && addr % view.BYTES_PER_ELEMENT === 0 ? view : undefined;
  }

  /** Copies `length` bytes from `src` to `dst` (overlap allowed). */
  copy(dst: number, src: number, length: number): void {
    checkCount("length", length);
    const chunk = Math.min(length, 64 * 1024);
    if (chunk === 0) return;
    const buffer = new Uint8Array(chunk);
    // Copy backwards when the destination overlaps the end of the source (memmove).
    const backwards = dst > src && dst < src + length;
    for (let k = 0; k < length; k += chunk) {
      const n = Math.min(chunk, length - k);
      const at = backwards ? length - k - n : k;
      const piece = buffer.subarray(0, n);
      this.loadInto(src + at, piece);
      this.store(dst + at, piece);
    }
  }

  /** Sets `length` bytes to `value`. */
  fill(addr: number, value: number, length: number): void {
    if (!Number.isInteger(value) || value < 0 || value > 255) {
      throw new KernelError("EINVAL", `fill value must be an integer 0-255, got ${value}`);
    }
    this.#checkRange(addr, length, true);
    for (let done = 0; done < length;) {
      const at = addr + done;
      const n = Math.min(LINE - (at % LINE), length - done);
      const base = this.#piece(at, true, n);
      this.#u8.fill(value, base, base + n);
      done += n;
    }
  }

  /** Reads `count` f32s into a new array. */
  loadF32Array(addr: number, count: number): Float32Array {
    checkCount("count", count);
    const out = new Float32Array(count);
    this.loadInto(addr, out);
    return out;
  }

  /** Writes `values` as f32s. */
  storeF32Array(addr: number, values: Float32Array): void {
    if (!(values instanceof Float32Array)) {
      throw new KernelError("EINVAL", "storeF32Array needs a Float32Array");
    }
    this.store(addr, values);
  }

  /** Calls `fn` with the resident bytes of each line of the range. */
  forEachLine(
    addr: number,
    length: number,
    write: boolean,
    fn: (bytes: Uint8Array, offset: number) => void,
  ): void {
    this.#checkRange(addr, length, write);
    for (let done = 0; done < length;) {
      const at = addr + done;
      const n = Math.min(LINE - (at % LINE), length - done);
      const base = this.#piece(at, write, n);
      this.#inCallback = true;
      try {
        fn(this.#u8.subarray(base, base + n), done);
      } finally {
        this.#inCallback = false;
      }
      done += n;
    }
  }

  /** Calls `fn` with the resident f32s of each line of the range. */
  forEachF32(
    addr: number,
    count: number,
    write: boolean,
    fn: (values: Float32Array, index: number) => void,
  ): void {
    if (!Number.isSafeInteger(addr) || addr % 4 !== 0) {
      throw new KernelError("EINVAL", `forEachF32 needs a 4-aligned address, got ${addr}`);
    }
    checkCount("count", count);
    const length = count * 4;
    this.#checkRange(addr, length, write);
    for (let done = 0; done < length;) {
      const at = addr + done;
      const n = Math.min(LINE - (at % LINE), length - done);
      const base = this.#piece(at, write, n);
      this.#inCallback = true;
      try {
        fn(
          n === LINE
            ? this.#lineOf(this.#f32Lines, this.#f32, base)
            : this.#f32.subarray(base >>> 2, (base + n) >>> 2),
          done >>> 2,
        );
      } finally {
        this.#inCallback = false;
      }
      done += n;
    }
  }

  // ── atomics ──

  #atomicIndex(addr: number, what: string): number {
    const at = this.#slow(addr, 0xffc, 4, true);
    if (at < 0) throw new KernelError("EINVAL", `${what} needs a 4-aligned address, got ${addr}`);
    return at >>> 2;
  }

  /** Atomically adds `delta` to an i32; returns the old value. */
  fetchAdd(addr: number, delta: number): number {
    return Atomics.add(this.#i32, this.#atomicIndex(addr, "fetchAdd"), delta);
  }

  /** Atomically swaps an i32 if it equals `expected`; returns the old value. */
  compareExchange(addr: number, expected: number, replacement: number): number {
    const index = this.#atomicIndex(addr, "compareExchange");
    return Atomics.compareExchange(this.#i32, index, expected, replacement);
  }

  // ── system calls ──

  /** Runs system call `op` in the monitor; blocks until it answers. */
  #syscall(op: string, args: Record<string, unknown> = {}, blob?: Uint8Array): SyscallReply {
    if (this.#inCallback) {
      throw new KernelError(
        "EINVAL",
        `${op}() called from inside a forEachLine/forEachF32 callback`,
      );
    }
    const json = encoder.encode(JSON.stringify({ op, ...args }));
    const blobBytes = blob?.length ?? 0;
    if (json.length + blobBytes > MAILBOX_BYTES) {
      throw new KernelError("E2BIG", `${op}() arguments take ${json.length + blobBytes} bytes`);
    }
    this.#mailbox.set(json, 0);
    if (blob) this.#mailbox.set(blob, json.length);
    this.#ctl[CTL.JSON_BYTES] = json.length;
    this.#ctl[CTL.BLOB_BYTES] = blobBytes;
    const response = this.#request(REQUEST.SYSCALL);
    if (response !== RESPONSE.OK) throw this.#failure(response);
    const replyJson = Atomics.load(this.#ctl, CTL.JSON_BYTES);
    const replyBlob = Atomics.load(this.#ctl, CTL.BLOB_BYTES);
    return {
      reply: JSON.parse(decoder.decode(this.#mailbox.slice(0, replyJson))),
      blob: this.#mailbox.slice(replyJson, replyJson + replyBlob),
    };
  }

  /** Maps memory. */
  mmap(length: number | bigint, options: MmapOptions = {}): number {
    return this.#syscall("mmap", { ...options, length: byteCount(length) }).reply.addr as number;
  }

  /** Unmaps a range. */
  munmap(addr: number, length: number | bigint): void {
    this.#syscall("munmap", { addr, length: byteCount(length) });
  }

  /** Resizes or moves a mapping. */
  mremap(
    oldAddr: number,
    oldLength: number | bigint,
    newLength: number | bigint,
    options: MremapOptions = {},
  ): number {
    return this.#syscall("mremap", {
      ...options,
      oldAddr,
      oldLength: byteCount(oldLength),
      newLength: byteCount(newLength),
    }).reply.addr as number;
  }

  /** Changes protection. */
  mprotect(addr: number, length: number | bigint, prot: number): void {
    this.#syscall("mprotect", { addr, length: byteCount(length), prot });
  }

  /** Writes back dirty lines of a range. */
  msync(addr: number, length: number | bigint): void {
    this.#syscall("msync", { addr, length: byteCount(length) });
  }

  /** A durable write to PMEM-backed memory, by one access path (see `persistent_write.ts`). */
  persistentWrite(addr: number, data: ArrayBufferView, options: PersistentWriteOptions = {}): void {
    const bytes = bytesOf(data, "persistentWrite data");
    for (let done = 0; done === 0 || done < bytes.length; done += FILE_CHUNK) {
      this.#syscall(
        "persistentWrite",
        { addr: addr + done, path: options.path ?? "rpc" },
        bytes.subarray(done, done + FILE_CHUNK),
      );
    }
  }

  /** Moves or queries the break. */
  brk(addr = 0): number {
    return this.#syscall("brk", { addr }).reply.addr as number;
  }

  /** Opens a file. */
  open(path: string, flags = 0, mode = 0o644): number {
    return this.#syscall("open", { path, flags, mode }).reply.fd as number;
  }

  /** Reads from an open file. */
  read(fd: number, length: number): Uint8Array {
    checkCount("read length", length);
    const pieces: Uint8Array[] = [];
    let total = 0;
    while (total < length) {
      const want = Math.min(FILE_CHUNK, length - total);
      const { blob } = this.#syscall("read", { fd, length: want });
      pieces.push(blob);
      total += blob.length;
      if (blob.length < want) break;
    }
    if (pieces.length === 1) return pieces[0];
    const out = new Uint8Array(total);
    let at = 0;
    for (const piece of pieces) {
      out.set(piece, at);
      at += piece.length;
    }
    return out;
  }

  /** Writes to an open file. */
  write(fd: number, data: Uint8Array): number {
    const bytes = bytesOf(data, "write data");
    let total = 0;
    do {
      const piece = bytes.subarray(total, total + FILE_CHUNK);
      total += this.#syscall("write", { fd }, piece).reply.written as number;
    } while (total < bytes.length);
    return total;
  }

  /** Moves a file position. */
  seek(fd: number, offset: number): void {
    this.#syscall("seek", { fd, offset });
  }

  /** Flushes a file. */
  fsync(fd: number): void {
    this.#syscall("fsync", { fd });
  }

  /** Closes a file descriptor. */
  close(fd: number): void {
    this.#syscall("close", { fd });
  }

  /** Describes a path. */
  stat(path: string): FileStat {
    return this.#syscall("stat", { path }).reply as unknown as FileStat;
  }

  /** Removes a file. */
  unlink(path: string): void {
    this.#syscall("unlink", { path });
  }

  /** Creates a directory. */
  mkdir(path: string, mode = 0o755): void {
    this.#syscall("mkdir", { path, mode });
  }

  /** Renames a file. */
  rename(from: string, to: string): void {
    this.#syscall("rename", { from, to });
  }

  /** Starts a thread. */
  spawn(entry: string, arg?: unknown): number {
    return this.#syscall("spawn", { entry, arg: arg ?? null }).reply.tid as number;
  }

  /** Waits for a thread. */
  join(tid: number): number {
    return this.#syscall("join", { tid }).reply.value as number;
  }

  /** Sleeps until the monitor has seen this thread (one bare round trip). */
  schedYield(): void {
    const response = this.#request(REQUEST.YIELD);
    if (response !== RESPONSE.OK) throw this.#failure(response);
  }

  /** Declares work; the CPU's roofline turns it into model time (no wall time passes). */
  compute(work: ComputeWork): void {
    this.#computeNs += rooflineNs(this.#roofline, work);
  }

  /** This thread's counters. */
  counters(): ThreadCounters {
    return this.#syscall("counters").reply as unknown as ThreadCounters;
  }

  /** Ends the process. */
  exit(code: number): never {
    if (!Number.isInteger(code)) {
      throw new KernelError("EINVAL", `exit code ${code} is not an integer`);
    }
    throw new ExitRequest(code);
  }

  /** Logs a line. */
  log(...parts: unknown[]): void {
    const text = parts.map((p) => typeof p === "string" ? p : Deno.inspect(p)).join(" ");
    this.#post({ type: "log", text });
  }
}

function bytesOf(view: ArrayBufferView, what: string): Uint8Array {
  if (!ArrayBuffer.isView(view)) {
    throw new KernelError("EINVAL", `${what} must be a typed array or DataView`);
  }
  return view instanceof Uint8Array
    ? view
    : new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}
