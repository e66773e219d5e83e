/**
 * The swap area of a memory component: a file on a storage component, cut into 4 KiB
 * slots. Cold pages spill here when the DRAM pool is full and come back on the next
 * fetch. Freed slots are reused first; a batch of evictions that gets consecutive slots
 * goes out in one write.
 *
 * @module
 */

import { KernelError } from "../../kernel/errors.ts";
import { PAGE_SIZE } from "../../kernel/messages.ts";
import type { StorageLink } from "./storage_link.ts";

/**
 * Slots of a swap file.
 *
 * @example
 * ```ts ignore
 * const swap = new SwapArea(new StorageLink(rpc, "gm"), "@swap/m0.bin", 1024);
 * const [slot] = swap.allocate(1);
 * await swap.write([slot], () => page);
 * await swap.read(slot, into);
 * ```
 */
export class SwapArea {
  /** The swap file's path on storage. */
  readonly path: string;
  /** Most slots the area may use. */
  readonly maxSlots: number;
  readonly #storage: StorageLink;
  #free: number[] = [];
  #highWater = 0;
  #used = 0;

  /** A swap area of at most `maxSlots` pages in `path`. */
  constructor(storage: StorageLink, path: string, maxSlots: number) {
    this.#storage = storage;
    this.path = path;
    this.maxSlots = maxSlots;
  }

  /** Slots holding a page. */
  get used(): number {
    return this.#used;
  }

  /** Slots ever used: the swap file is this many pages long. */
  get highWater(): number {
    return this.#highWater;
  }

  /** Takes `n` slots (ascending); throws `ENOMEM` when the area cannot hold them. */
  allocate(n: number): number[] {
    if (this.#used + n > this.maxSlots) {
      throw new KernelError(
        "ENOMEM",
        `out of memory: the DRAM pool is full and swap "${this.path}" (${this.maxSlots} pages) ` +
          `has ${this.maxSlots - this.#used} free, ${n} needed`,
      );
    }
    const slots: number[] = [];
    while (slots.length < n && this.#free.length) slots.push(this.#free.pop()!);
    while (slots.length < n) slots.push(this.#highWater++);
    this.#used += n;
    return slots.sort((a, b) => a - b);
  }

  /** Gives `slot` back. */
  release(slot: number): void {
    this.#free.push(slot);
    this.#used--;
  }

  /**
   * Writes `page(i)` into `slots[i]` for every i (slots ascending), one message per run of
   * consecutive slots. On failure nothing is released: the caller still holds the pages.
   */
  async write(slots: readonly number[], page: (i: number) => Uint8Array): Promise<void> {
    for (let first = 0; first < slots.length;) {
      let last = first;
      while (last + 1 < slots.length && slots[last + 1] === slots[last] + 1) last++;
      const run = new Uint8Array((last - first + 1) * PAGE_SIZE);
      for (let i = first; i <= last; i++) run.set(page(i), (i - first) * PAGE_SIZE);
      await this.#storage.write(this.path, slots[first] * PAGE_SIZE, run, false);
      first = last + 1;
    }
  }

  /** Reads the page in `slot` into `into` (4 KiB). */
  async read(slot: number, into: Uint8Array): Promise<void> {
    const data = await this.#storage.read(this.path, slot * PAGE_SIZE, PAGE_SIZE);
    if (data.length !== PAGE_SIZE) {
      throw new KernelError(
        "EIO",
        `swap "${this.path}" slot ${slot} returned ${data.length} bytes, not ${PAGE_SIZE}`,
      );
    }
    into.set(data);
  }
}
