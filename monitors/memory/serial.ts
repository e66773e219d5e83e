/**
 * A one-at-a-time executor: async operations that must not interleave (memory-pressure
 * handling on an owner, buffer-cache I/O, one process's address-space calls) queue here
 * and run in arrival order.
 *
 * @module
 */

/**
 * Runs queued operations one after another.
 *
 * @example
 * ```ts
 * import { Serial } from "./serial.ts";
 * const serial = new Serial();
 * const order: number[] = [];
 * await Promise.all([
 *   serial.run(async () => { await new Promise((r) => setTimeout(r, 5)); order.push(1); }),
 *   serial.run(() => { order.push(2); }),
 * ]);
 * console.assert(order.join() === "1,2" && serial.pending === 0);
 * ```
 */
export class Serial {
  #tail: Promise<unknown> = Promise.resolve();
  #pending = 0;

  /** Operations queued or running. */
  get pending(): number {
    return this.#pending;
  }

  /** Queues `op`; resolves or rejects with its outcome once it has run. */
  run<T>(op: () => T | Promise<T>): Promise<T> {
    this.#pending++;
    const result = this.#tail.then(op).finally(() => {
      this.#pending--;
    });
    // A failed operation must not stop the ones queued after it.
    this.#tail = result.catch(() => {});
    return result;
  }
}
