/**
 * The DRAM pool of a memory component: fixed-size page frames in one large
 * `ArrayBuffer`, handed out from a free stack (no object per page).
 *
 * @module
 */

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
 * ```
 */
export class FramePool {
  /** Number of frames in the pool. */
  readonly frames: number;
  /** The pool's bytes: frame `i` is `bytes[i * PAGE_SIZE, (i + 1) * PAGE_SIZE)`. */
  readonly bytes: Uint8Array;
  #free: Int32Array;
  #freeCount: number;

  /** Creates a pool of `poolBytes` (rounded down to whole frames, at least one). */
  constructor(poolBytes: number) {
    this.frames = Math.floor(poolBytes / PAGE_SIZE);
    if (this.frames < 1) throw new RangeError(`pool of ${poolBytes} bytes holds no 4 KiB frame`);
    this.bytes = new Uint8Array(this.frames * PAGE_SIZE);
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

  /** Takes a zero-filled frame; returns its index, or -1 when the pool is full. */
  allocate(): number {
    if (this.#freeCount === 0) return -1;
    const frame = this.#free[--this.#freeCount];
    this.page(frame).fill(0);
    return frame;
  }

  /** Returns `frame` to the pool. */
  release(frame: number): void {
    this.#free[this.#freeCount++] = frame;
  }

  /** A view of frame `frame`'s bytes. */
  page(frame: number): Uint8Array {
    return this.bytes.subarray(frame * PAGE_SIZE, (frame + 1) * PAGE_SIZE);
  }
}
