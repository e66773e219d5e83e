/**
 * The shared-memory layout of the ExCache and of each thread's control block: the only
 * contract between the processor monitor (main thread) and its threads (Workers).
 *
 * The ExCache is two `SharedArrayBuffer`s: `data` holds the 4 KiB lines, `meta` holds per
 * line a tag (`key`: pid and virtual line number packed in one float64), a state word
 * (valid, dirty, writable, p-local bits) and an `evicting` word the monitor sets while it
 * owns the line. Each thread has a control block: request and response words for the
 * blocking slow path, a shootdown generation, its TLB's announced slots (the lines it may
 * touch without asking), counters, and a mailbox for system-call arguments.
 *
 * This file imports almost nothing, so that threads start fast.
 *
 * @module
 */

import { PAGE_SIZE } from "../../kernel/messages.ts";
import type { Roofline } from "../../kernel/roofline.ts";

/** Bytes in one ExCache line (a page). */
export const LINE_BYTES = PAGE_SIZE;
/** Virtual line numbers are below this (47-bit virtual addresses). */
export const VLINE_LIMIT = 2 ** 35;
/** Largest pid a tag can hold (pid and line pack into one exactly representable double). */
export const MAX_PID = 2 ** 17 - 1;
/** Virtual addresses are below this. */
export const VADDR_LIMIT = VLINE_LIMIT * LINE_BYTES;
/**
 * Entries in a thread's translation cache (a power of two): 512 lines, 2 MiB of reach.
 * The monitor scans every thread's entries when it picks a victim, so this is a trade
 * between hit speed on large working sets and miss cost.
 */
export const TLB_ENTRIES = 512;

/** Line state bit: the slot holds a line. */
export const STATE_VALID = 1;
/** Line state bit: the line was written since it was filled or last written back. */
export const STATE_DIRTY = 2;
/** Line state bit: threads may write the line without asking the monitor. */
export const STATE_WRITABLE = 4;
/** Line state bit: the line was zero-filled locally; memory has never seen it. */
export const STATE_PLOCAL = 8;
/**
 * Line state bit: the line is resident but not mapped yet, so the first access still
 * faults to the monitor (a page a Linux baseline read ahead into its swap cache: touching
 * it is a minor fault).
 */
export const STATE_UNMAPPED = 16;

/** Tag of an empty slot. */
export const NO_KEY = -1;

/**
 * Packs (pid, virtual line) into one tag.
 *
 * @example
 * ```ts
 * import { lineKey, keyPid, keyLine } from "./layout.ts";
 * const key = lineKey(7, 123);
 * console.assert(keyPid(key) === 7 && keyLine(key) === 123);
 * ```
 */
export function lineKey(pid: number, vline: number): number {
  return pid * VLINE_LIMIT + vline;
}

/**
 * The pid of a tag.
 *
 * @example
 * ```ts
 * import { keyPid, lineKey } from "./layout.ts";
 * console.assert(keyPid(lineKey(3, 9)) === 3);
 * ```
 */
export function keyPid(key: number): number {
  return Math.floor(key / VLINE_LIMIT);
}

/**
 * The virtual line number of a tag.
 *
 * @example
 * ```ts
 * import { keyLine, lineKey } from "./layout.ts";
 * console.assert(keyLine(lineKey(3, 9)) === 9);
 * ```
 */
export function keyLine(key: number): number {
  return key % VLINE_LIMIT;
}

/** The two buffers of an ExCache, as handed to every thread. */
export interface CacheBuffers {
  /** `lines * LINE_BYTES` bytes of line data. */
  readonly data: SharedArrayBuffer;
  /** Tags, states and evicting words (see {@link cacheViews}). */
  readonly meta: SharedArrayBuffer;
  /** Number of lines. */
  readonly lines: number;
  /** Lines per set. */
  readonly ways: number;
}

/** Typed views over {@link CacheBuffers}. */
export interface CacheViews {
  /** Number of lines. */
  readonly lines: number;
  /** Lines per set. */
  readonly ways: number;
  /** Number of sets (`lines / ways`). */
  readonly sets: number;
  /** Line bytes. */
  readonly u8: Uint8Array;
  /** Line data as 16-bit words (aligned accesses). */
  readonly u16: Uint16Array;
  /** Line data as 32-bit words (aligned accesses and atomics). */
  readonly i32: Int32Array;
  /** Line data as unsigned 32-bit words. */
  readonly u32: Uint32Array;
  /** Line data as f32 (aligned accesses). */
  readonly f32: Float32Array;
  /** Line data as f64 (aligned accesses). */
  readonly f64: Float64Array;
  /** Line data as unsigned 64-bit words (aligned accesses). */
  readonly u64: BigUint64Array;
  /** Per slot: the tag, or {@link NO_KEY}. */
  readonly keys: Float64Array;
  /** Per slot: `STATE_*` bits. */
  readonly state: Int32Array;
  /** Per slot: 1 while the monitor owns the line (filling, evicting, writing back). */
  readonly evicting: Int32Array;
  /** Word 0: the fill epoch, advanced by the monitor on every fill (recency stamps). */
  readonly epoch: Int32Array;
  /**
   * Per slot: the referenced bit, 1 once the line is accessed. Threads set it when they
   * pin and unpin the line (the slow path, so a hit costs nothing more), a fill sets it,
   * and replacement policies read and clear it (`ReferencedBits`).
   */
  readonly referenced: Uint8Array;
  /**
   * Per slot: the model time its line's fill was done (0 when not filled by a fetch). A
   * thread that finds the line resident earlier than that in its own model time takes its
   * access to the monitor, which charges it the rest of the fill.
   */
  readonly readyNs: Float64Array;
}

/**
 * Allocates the buffers of an ExCache of `lines` lines, `ways` per set.
 *
 * @example
 * ```ts
 * import { allocateCache, cacheViews } from "./layout.ts";
 * const views = cacheViews(allocateCache(8, 4));
 * console.assert(views.sets === 2 && views.keys[0] === -1);
 * ```
 */
export function allocateCache(lines: number, ways: number): CacheBuffers {
  const data = new SharedArrayBuffer(lines * LINE_BYTES);
  const meta = new SharedArrayBuffer(readyOffset(lines) + lines * 8);
  new Float64Array(meta, 8, lines).fill(NO_KEY);
  return { data, meta, lines, ways };
}

/** Byte offset of the per-slot fill-ready times in an ExCache's meta buffer (8-aligned). */
function readyOffset(lines: number): number {
  return 8 + Math.ceil((lines * 17) / 8) * 8;
}

/**
 * Typed views over an ExCache's buffers (each thread builds its own).
 *
 * @example
 * ```ts
 * import { allocateCache, cacheViews } from "./layout.ts";
 * const views = cacheViews(allocateCache(4, 4));
 * views.f32[1] = 1.5;
 * console.assert(views.u8.length === 4 * 4096 && views.f32[1] === 1.5);
 * ```
 */
export function cacheViews(buffers: CacheBuffers): CacheViews {
  const { data, meta, lines, ways } = buffers;
  return {
    lines,
    ways,
    sets: lines / ways,
    u8: new Uint8Array(data),
    u16: new Uint16Array(data),
    i32: new Int32Array(data),
    u32: new Uint32Array(data),
    f32: new Float32Array(data),
    f64: new Float64Array(data),
    u64: new BigUint64Array(data),
    keys: new Float64Array(meta, 8, lines),
    state: new Int32Array(meta, 8 + lines * 8, lines),
    evicting: new Int32Array(meta, 8 + lines * 12, lines),
    epoch: new Int32Array(meta, 0, 1),
    referenced: new Uint8Array(meta, 8 + lines * 16, lines),
    readyNs: new Float64Array(meta, readyOffset(lines), lines),
  };
}

/** Word indexes in a thread's control block (an `Int32Array`). */
export const CTL = {
  /** Request posted by the thread ({@link REQUEST}); the monitor swaps it back to 0. */
  REQ: 0,
  /** Response from the monitor ({@link RESPONSE}); the thread resets it to 0. */
  RESP: 1,
  /** Shootdown generation: bumped by the monitor to ask the thread to drop its pins. */
  SHOOT: 2,
  /** The last shootdown generation the thread has honoured. */
  SHOOT_ACK: 3,
  /**
   * Life bits: {@link LIFE}.KILL once the monitor has killed the thread, {@link LIFE}.GONE
   * once the thread has dropped its pins for good (set with `Atomics.or`, never cleared).
   */
  KILLED: 4,
  /** Miss request: 1 for a write access. */
  WRITE: 5,
  /** Bytes of JSON in the mailbox (request, then reply). */
  JSON_BYTES: 6,
  /** Bytes of binary payload after the JSON in the mailbox. */
  BLOB_BYTES: 7,
} as const;

/** Bits of {@link CTL}.KILLED. */
export const LIFE = {
  /** Set by the monitor: the thread must stop at its next access or request. */
  KILL: 1,
  /**
   * Set by the thread after it dropped every pin, from where it will never pin again:
   * the monitor's proof that a stopped thread can no longer touch a slot.
   */
  GONE: 2,
} as const;

/** Requests a thread posts in {@link CTL}.REQ. */
export const REQUEST = {
  /** A line is not resident: fetch it (address in {@link F64}.VADDR). */
  MISS: 1,
  /** A system call (arguments in the mailbox). */
  SYSCALL: 2,
  /** `sched_yield`: answered at once with {@link RESPONSE}.OK, no model time, no event. */
  YIELD: 3,
} as const;

/** Responses the monitor posts in {@link CTL}.RESP. */
export const RESPONSE = {
  /** The line was resident: the thread's TLB entry now pins it; the access is a hit. */
  HIT: 1,
  /** The line was filled for this access: the TLB entry pins it; the access is a miss. */
  MISS: 2,
  /** The system call succeeded; the reply is in the mailbox. */
  OK: 3,
  /** The request failed; `{code, message}` JSON is in the mailbox. */
  ERROR: 4,
  /** The process is ending; the thread must stop. */
  KILLED: 5,
} as const;

/**
 * Float64 word indexes in a thread's control block (after the eight {@link CTL} words,
 * which fill the first 32 bytes).
 */
export const F64 = {
  /** Miss request: the faulting virtual address. */
  VADDR: 4,
  /** Accesses served without the monitor (kept by the thread). */
  HITS: 5,
  /** Model time of the work the workload declared with `compute({ flops, bytes })`. */
  COMPUTE_NS: 6,
  /**
   * The thread's model time apart from its compute (its stalls), as the monitor last
   * answered it: the thread's model time is this plus its own `COMPUTE_NS`.
   */
  STALL_NS: 7,
} as const;

/** Byte offset of the announced-slot array (one Int32 per TLB entry). */
const ANNOUNCE_OFFSET = 64;
/** Byte offset of the mailbox. */
const MAILBOX_OFFSET = ANNOUNCE_OFFSET + TLB_ENTRIES * 4;
/** Bytes of a thread's mailbox (system-call arguments and replies). */
export const MAILBOX_BYTES = 256 * 1024;

/** Views over one thread's control block. */
export interface ThreadViews {
  /** Control words ({@link CTL}). */
  readonly ctl: Int32Array;
  /** Float64 words ({@link F64}). */
  readonly f64: Float64Array;
  /** Per TLB entry: the slot the thread may touch, or -1. */
  readonly announce: Int32Array;
  /** System-call arguments and replies. */
  readonly mailbox: Uint8Array;
}

/**
 * Allocates a thread's control block.
 *
 * @example
 * ```ts
 * import { allocateThreadBlock, threadViews, TLB_ENTRIES } from "./layout.ts";
 * const views = threadViews(allocateThreadBlock());
 * console.assert(views.announce.length === TLB_ENTRIES && views.announce[0] === -1);
 * ```
 */
export function allocateThreadBlock(): SharedArrayBuffer {
  const block = new SharedArrayBuffer(MAILBOX_OFFSET + MAILBOX_BYTES);
  new Int32Array(block, ANNOUNCE_OFFSET, TLB_ENTRIES).fill(-1);
  return block;
}

/**
 * Views over a thread's control block.
 *
 * @example
 * ```ts
 * import { allocateThreadBlock, CTL, threadViews } from "./layout.ts";
 * const views = threadViews(allocateThreadBlock());
 * console.assert(views.ctl[CTL.REQ] === 0);
 * ```
 */
export function threadViews(block: SharedArrayBuffer): ThreadViews {
  return {
    ctl: new Int32Array(block, 0, 8),
    f64: new Float64Array(block, 0, 8),
    announce: new Int32Array(block, ANNOUNCE_OFFSET, TLB_ENTRIES),
    mailbox: new Uint8Array(block, MAILBOX_OFFSET, MAILBOX_BYTES),
  };
}

/** Everything a new thread is told when it starts. */
export interface ThreadInit {
  /** Process id. */
  readonly pid: number;
  /** Thread id within the process (0 is the main thread). */
  readonly tid: number;
  /** Process arguments. */
  readonly args: readonly string[];
  /** URL of the workload module. */
  readonly workload: string;
  /** Name of the exported function this thread runs (`main` for thread 0). */
  readonly entry: string;
  /** Argument handed to the entry function (threads after the first). */
  readonly arg: unknown;
  /** The ExCache. */
  readonly cache: CacheBuffers;
  /** This thread's control block. */
  readonly block: SharedArrayBuffer;
  /** Per slot recency stamps written on every hit, or undefined when the policy needs none. */
  readonly stamps: SharedArrayBuffer | undefined;
  /** One core of the emulated CPU, converting declared compute into model time. */
  readonly roofline: Roofline;
}

/** Messages a thread posts to the monitor (outside the blocking slow path). */
export type ThreadMessage =
  | { type: "log"; text: string }
  | { type: "exit"; value: number }
  | { type: "exit-process"; code: number }
  | { type: "error"; error: string };

/** Recency stamps count accesses between fills: `epoch * EPOCH_SPAN + accesses`. */
export const EPOCH_SPAN = 2 ** 24;
