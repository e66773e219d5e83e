/**
 * A bounded FIFO with async `put`/`take`: the shared receive queue of a component.
 *
 * Every peer's frames land in one queue per component. `put` waits while the queue is
 * full (backpressure instead of unbounded memory); `take` waits while it is empty. After
 * `close()`, `put` rejects and `take` drains what is left, then yields `undefined`.
 *
 * @module
 */

/** Thrown by `put` on a closed queue. */
export class QueueClosedError extends Error {
  /** Creates the error. */
  constructor() {
    super("receive queue is closed");
    this.name = "QueueClosedError";
  }
}

/**
 * A bounded multi-producer, single-consumer queue.
 *
 * @example
 * ```ts
 * import { ReceiveQueue } from "./receive_queue.ts";
 * const q = new ReceiveQueue<number>(2);
 * await q.put(1);
 * console.assert((await q.take()) === 1);
 * ```
 */
export class ReceiveQueue<T> implements AsyncIterable<T> {
  /** Most items held at once. */
  readonly capacity: number;
  #items: T[] = [];
  #head = 0;
  #closed = false;
  #takers: ((item: T | undefined) => void)[] = [];
  #putters: { item: T; resolve: () => void; reject: (e: Error) => void }[] = [];

  /** Creates a queue holding at most `capacity` items (at least 1). */
  constructor(capacity = 4096) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`receive queue capacity must be a positive integer, got ${capacity}`);
    }
    this.capacity = capacity;
  }

  /** Items waiting to be taken. */
  get length(): number {
    return this.#items.length - this.#head;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Whether a consumer is parked in `take()` on the empty queue: everything put so far
   * has been taken and handled as far as it goes without waiting.
   */
  get consumerWaiting(): boolean {
    return this.#takers.length > 0;
  }

  /**
   * Adds `item` without waiting. Returns false when the queue is full.
   * Throws `QueueClosedError` when closed.
   */
  tryPut(item: T): boolean {
    if (this.#closed) throw new QueueClosedError();
    const taker = this.#takers.shift();
    if (taker) {
      taker(item);
      return true;
    }
    if (this.length >= this.capacity) return false;
    this.#items.push(item);
    return true;
  }

  /** Adds `item`, waiting while the queue is full. Rejects when the queue is closed. */
  put(item: T): Promise<void> {
    if (this.#closed) return Promise.reject(new QueueClosedError());
    if (this.tryPut(item)) return Promise.resolve();
    return new Promise((resolve, reject) => this.#putters.push({ item, resolve, reject }));
  }

  /**
   * Takes the oldest item without waiting: `undefined` while empty. A consumer that
   * drains with it pays for a promise only when it has to wait.
   */
  tryTake(): T | undefined {
    return this.length > 0 ? this.#shift() : undefined;
  }

  /** Takes the oldest item, waiting while empty; `undefined` once closed and drained. */
  take(): Promise<T | undefined> {
    if (this.length > 0) return Promise.resolve(this.#shift());
    if (this.#closed) return Promise.resolve(undefined);
    return new Promise((resolve) => this.#takers.push(resolve));
  }

  /** Closes the queue: waiting putters are rejected, waiting takers get `undefined`. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const taker of this.#takers.splice(0)) taker(undefined);
    for (const putter of this.#putters.splice(0)) putter.reject(new QueueClosedError());
  }

  /** Yields items until the queue is closed and drained. */
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    while (true) {
      const item = await this.take();
      if (item === undefined) return;
      yield item;
    }
  }

  #shift(): T {
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined as T;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    // A slot opened: admit one waiting putter.
    const putter = this.#putters.shift();
    if (putter) {
      this.#items.push(putter.item);
      putter.resolve();
    }
    return item;
  }
}
