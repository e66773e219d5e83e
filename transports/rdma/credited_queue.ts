/**
 * The shared receive queue of an RDMA endpoint, telling the endpoint whose frame the
 * consumer just took so it can hand that peer its frame credit back.
 *
 * The queue is FIFO, so the senders of queued frames are kept in the same order beside
 * it; a frame handed straight to a waiting consumer counts as taken at once.
 *
 * @module
 */

import { ReceiveQueue } from "../../kernel/receive_queue.ts";
import { SENT } from "../../kernel/transport.ts";
import type { ReceivedFrame } from "../../kernel/transport.ts";

/**
 * A receive queue that calls `onTaken(source)` for every frame the consumer takes.
 *
 * @example
 * ```ts
 * import { CreditedQueue } from "./credited_queue.ts";
 * const taken: string[] = [];
 * const q = new CreditedQueue<string>(4, (s) => taken.push(s));
 * await q.deliver({ from: "a", bytes: new Uint8Array(1) }, "a");
 * await q.take();
 * console.assert(taken[0] === "a");
 * ```
 */
export class CreditedQueue<S> extends ReceiveQueue<ReceivedFrame> {
  #waiting = 0;
  #sources: (S | undefined)[] = [];
  #head = 0;
  readonly #onTaken: (source: S) => void;

  /** A queue of `capacity` frames reporting takes to `onTaken`. */
  constructor(capacity: number, onTaken: (source: S) => void) {
    super(capacity);
    this.#onTaken = onTaken;
  }

  override take(): Promise<ReceivedFrame | undefined> {
    if (this.length > 0) this.#taken();
    else if (!this.closed) this.#waiting++;
    return super.take();
  }

  override tryTake(): ReceivedFrame | undefined {
    if (this.length > 0) this.#taken();
    return super.tryTake();
  }

  /** Puts a frame from `source`; resolves at once (`SENT`) when there was room. */
  deliver(frame: ReceivedFrame, source: S): Promise<void> {
    if (this.closed) return this.put(frame);
    if (this.#waiting > 0) {
      this.#waiting--;
      this.#onTaken(source);
    } else this.#sources.push(source);
    return this.tryPut(frame) ? SENT : this.put(frame);
  }

  #taken(): void {
    const source = this.#sources[this.#head];
    this.#sources[this.#head++] = undefined;
    if (this.#head > 1024 && this.#head * 2 > this.#sources.length) {
      this.#sources = this.#sources.slice(this.#head);
      this.#head = 0;
    }
    if (source !== undefined) this.#onTaken(source);
  }
}
