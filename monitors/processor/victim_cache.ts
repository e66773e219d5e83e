/**
 * An optional victim cache: a few recently evicted lines kept on the processor, so that a
 * line evicted by a conflict and wanted again soon comes back with no message.
 *
 * It holds only lines whose newest bytes are known (a dirty victim is written back as
 * usual; the copy here is the same data), and forgets a process's lines whenever their
 * mapping changes.
 *
 * @module
 */

/**
 * A first-in-first-out store of evicted lines, keyed by tag.
 *
 * @example
 * ```ts
 * import { VictimCache } from "./victim_cache.ts";
 * const victims = new VictimCache(1);
 * victims.put(1, new Uint8Array(4096).fill(7));
 * victims.put(2, new Uint8Array(4096));
 * console.assert(victims.take(1) === undefined && victims.take(2)?.length === 4096);
 * ```
 */
export class VictimCache {
  /** Most lines held. */
  readonly capacity: number;
  readonly #lines = new Map<number, Uint8Array>();

  /** Creates a victim cache of `capacity` lines (at least 1). */
  constructor(capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new RangeError(`a victim cache needs at least one line, got ${capacity}`);
    }
    this.capacity = capacity;
  }

  /** Lines held. */
  get size(): number {
    return this.#lines.size;
  }

  /** Keeps `data` (a private copy) as the line `key`, dropping the oldest when full. */
  put(key: number, data: Uint8Array): void {
    this.#lines.delete(key);
    if (this.#lines.size >= this.capacity) {
      this.#lines.delete(this.#lines.keys().next().value!);
    }
    this.#lines.set(key, data);
  }

  /** Removes and returns line `key`, if held. */
  take(key: number): Uint8Array | undefined {
    const data = this.#lines.get(key);
    if (data) this.#lines.delete(key);
    return data;
  }

  /** Forgets every line whose tag satisfies `test`. */
  forget(test: (key: number) => boolean): void {
    for (const key of [...this.#lines.keys()]) if (test(key)) this.#lines.delete(key);
  }
}
