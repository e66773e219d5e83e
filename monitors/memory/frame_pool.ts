/**
 * The DRAM pool of a memory component: fixed-size page frames in one large buffer, handed
 * out from a free stack, with per-frame bookkeeping in typed arrays (which page a frame
 * holds, a referenced bit for the clock) — no object per page, so nothing on the JS heap
 * grows with the pages touched.
 *
 * The frames live in a `SharedArrayBuffer`, not an `ArrayBuffer`: V8 counts the length of
 * every `ArrayBuffer` as external memory of the isolate and starts full garbage
 * collections when that nears its heap limit — with about 8 GiB of DRAM configured in one
 * process it collected hundreds of times a minute although the heap held ~100 MB. Shared
 * buffers are not counted against one isolate. Either way the operating system commits a
 * frame's memory only when it is first written.
 *
 * @module
 */

import { KernelError } from "../../kernel/errors.ts";
import { PAGE_SIZE } from "../../kernel/messages.ts";

/**
 * A pool of 4 KiB frames.
 *
 * @example
 * ```ts
 * import { FramePool } from "./frame_pool.ts";
 * const pool = new FramePool(4 * 4096);
 * const f = pool.allocate();
 * console.assert(f === 0 && pool.used === 1);
 * pool.release(f);
 * console.assert(pool.free === 4);
 * ```
 */
export class FramePool {
  /** Number of frames in the pool. */
  readonly frames: number;
  /** The pool's bytes: frame `i` is `bytes[i * PAGE_SIZE, (i + 1) * PAGE_SIZE)`. */
  readonly bytes: Uint8Array;
  /** Process holding each frame (0: free). Kept by the page table's user. */
  readonly owner: Uint32Array;
  /** Virtual page number held by each frame. */
  readonly vpn: Float64Array;
  /** Referenced since the clock hand last passed (1) or not (0). */
  readonly referenced: Uint8Array;
  readonly #free: Int32Array;
  #freeCount: number;

  /** Creates a pool of `poolBytes` (rounded down to whole frames, at least one). */
  constructor(poolBytes: number) {
    this.frames = Math.floor(poolBytes / PAGE_SIZE);
    if (this.frames < 1) {
      throw new KernelError("EINVAL", `a pool of ${poolBytes} bytes holds no 4 KiB frame`);
    }
    this.bytes = new Uint8Array(new SharedArrayBuffer(this.frames * PAGE_SIZE));
    this.owner = new Uint32Array(this.frames);
    this.vpn = new Float64Array(this.frames);
    this.referenced = new Uint8Array(this.frames);
    this.#free = new Int32Array(this.frames);
    // Hand out low frames first: a stack with frame 0 on top.
    for (let i = 0; i < this.frames; i++) this.#free[i] = this.frames - 1 - i;
    this.#freeCount = this.frames;
  }

  /** Frames in use. */
  get used(): number {
    return this.frames - this.#freeCount;
  }

  /** Frames free. */
  get free(): number {
    return this.#freeCount;
  }

  /**
   * Takes a frame and returns its index, or -1 when the pool is full. The frame is
   * zero-filled unless `zero` is false (the caller overwrites all of it).
   */
  allocate(zero = true): number {
    if (this.#freeCount === 0) return -1;
    const frame = this.#free[--this.#freeCount];
    if (zero) this.bytes.fill(0, frame * PAGE_SIZE, (frame + 1) * PAGE_SIZE);
    this.referenced[frame] = 1;
    return frame;
  }

  /** Returns `frame` to the pool and forgets what it held. */
  release(frame: number): void {
    this.owner[frame] = 0;
    this.referenced[frame] = 0;
    this.#free[this.#freeCount++] = frame;
  }

  /**
   * A view of frame `frame`'s bytes. Made on each call and not kept: a kept view per frame
   * is a JS object per page touched (hundreds of MB of heap at 8 GiB), while a short-lived
   * one costs only a young-generation allocation.
   */
  page(frame: number): Uint8Array {
    return this.bytes.subarray(frame * PAGE_SIZE, (frame + 1) * PAGE_SIZE);
  }
}
