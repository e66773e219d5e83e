/**
 * The in-memory transport: every component lives in this process.
 *
 * Two-sided sends hand the frame itself (no copy, ownership passes) to the destination's
 * shared receive queue, waiting while that queue is full; `sendMessage` hands over a
 * message checked and copied by `copyMessage` the same way, so that RPC between
 * components of one process skips encoding and decoding. A message whose receiver waits on
 * an empty queue is not even queued: it is handed to the receiver (an `RpcNode`) inside
 * the send (see `sendMessage`). One-sided `read`/`write` copy
 * straight out of / into the bytes a peer registered, the way an RDMA NIC serves them:
 * the target's receive queue and monitor are never involved.
 *
 * @example
 * ```ts
 * import { createMemoryTransport } from "./memory.ts";
 *
 * const transport = createMemoryTransport();
 * const m0 = await transport.attach("m0");
 * const p0 = await transport.attach("p0");
 * const pool = new Uint8Array(8192);
 * const region = m0.registerRegion(pool, { remoteRead: true, remoteWrite: true });
 * await p0.write("m0", region.key, 4096, new Uint8Array([1, 2, 3]));
 * console.assert(pool[4097] === 2);
 * await transport.close();
 * ```
 *
 * @module
 */

import { KernelError, UnreachableError } from "../kernel/errors.ts";
import { type ComponentId, componentIdProblem } from "../kernel/ids.ts";
import { QueueClosedError, ReceiveQueue } from "../kernel/receive_queue.ts";
import { RegionTable } from "../kernel/region_table.ts";
import type {
  AttachOptions,
  MemoryRegion,
  ReceivedFrame,
  RegionAccess,
  Transport,
  TransportEndpoint,
} from "../kernel/transport.ts";
import { SENT } from "../kernel/transport.ts";
import { type CopiedMessage, encode } from "../kernel/codec.ts";
import { FLAG_REPLY } from "../kernel/messages.ts";

/** Options for {@link createMemoryTransport}. */
export interface MemoryTransportOptions {
  /** Default receive queue capacity of each endpoint, in frames (default 4096). */
  receiveQueueFrames?: number;
}

/** Per-endpoint traffic counters of the memory transport. */
export interface MemoryEndpointStats {
  /** Frames this endpoint sent that reached a receive queue. */
  framesSent: number;
  /** Bytes of those frames. */
  bytesSent: number;
  /** Frames delivered into this endpoint's receive queue. */
  framesReceived: number;
  /** Bytes of those frames. */
  bytesReceived: number;
  /** One-sided reads this endpoint issued. */
  reads: number;
  /** Bytes those reads returned. */
  bytesRead: number;
  /** One-sided writes this endpoint issued. */
  writes: number;
  /** Bytes those writes stored. */
  bytesWritten: number;
}

/** A memory-transport endpoint: the standard endpoint plus traffic counters. */
export interface MemoryEndpoint extends TransportEndpoint {
  /** A snapshot of this endpoint's counters. */
  stats(): MemoryEndpointStats;
}

/** A memory transport: `attach` returns {@link MemoryEndpoint}s. */
export interface MemoryTransport extends Transport {
  /** Attaches component `id`; rejects an invalid or already attached id. */
  attach(id: ComponentId, options?: AttachOptions): Promise<MemoryEndpoint>;
}

const DEFAULT_RECEIVE_QUEUE_FRAMES = 4096;
/**
 * Requests being handed over right now (by any in-memory transport of this process): a
 * request is handed over only when none is, so a handler never runs inside another.
 */
let requestsHandedOver = 0;
/** The `bytes` of a frame delivered as a message (`sendMessage`). */
const NO_BYTES = new Uint8Array(0);

/**
 * Creates an in-process transport.
 *
 * @example
 * ```ts
 * import { createMemoryTransport } from "./memory.ts";
 * import { encode } from "../kernel/codec.ts";
 *
 * const transport = createMemoryTransport({ receiveQueueFrames: 64 });
 * const a = await transport.attach("a");
 * const b = await transport.attach("b");
 * const frame = encode({
 *   kind: "SYS_PING", requestId: 1, src: "a", dst: "b", flags: 0, body: { data: new Uint8Array() },
 * });
 * await a.send("b", frame);
 * const received = await b.receiveQueue.take();
 * console.assert(received?.from === "a" && received.bytes === frame);
 * await transport.close();
 * ```
 */
export function createMemoryTransport(options: MemoryTransportOptions = {}): MemoryTransport {
  const defaultFrames = options.receiveQueueFrames ?? DEFAULT_RECEIVE_QUEUE_FRAMES;
  checkQueueFrames(defaultFrames);
  const endpoints = new Map<ComponentId, MemoryEndpointImpl>();
  let closed = false;

  const transport: MemoryTransport = {
    name: "memory",
    attach(id, attachOptions = {}) {
      if (closed) return Promise.reject(new KernelError("ESHUTDOWN", "memory transport is closed"));
      const problem = componentIdProblem(id);
      if (problem) return Promise.reject(new KernelError("EINVAL", problem));
      if (endpoints.has(id)) {
        return Promise.reject(new KernelError("EEXIST", `component ${id} is already attached`));
      }
      const frames = attachOptions.receiveQueueFrames ?? defaultFrames;
      try {
        checkQueueFrames(frames);
      } catch (error) {
        return Promise.reject(error);
      }
      const endpoint = new MemoryEndpointImpl(id, frames, endpoints);
      endpoints.set(id, endpoint);
      return Promise.resolve(endpoint);
    },
    async close() {
      closed = true;
      await Promise.all([...endpoints.values()].map((endpoint) => endpoint.close()));
    },
  };
  return transport;
}

function checkQueueFrames(frames: unknown): void {
  if (typeof frames !== "number" || !Number.isInteger(frames) || frames < 1) {
    throw new KernelError(
      "EINVAL",
      `receiveQueueFrames must be a positive integer, got ${String(frames)}`,
    );
  }
}

class MemoryEndpointImpl implements MemoryEndpoint {
  readonly id: ComponentId;
  readonly receiveQueue: ReceiveQueue<ReceivedFrame>;
  readonly #peers: Map<ComponentId, MemoryEndpointImpl>;
  readonly #regions: RegionTable;
  #closed = false;
  /** Whether the consumer of the receive queue takes messages as they are. */
  #acceptsMessages = false;
  /** The consumer that takes messages handed over at once, if it said so. */
  #consume: ((frame: ReceivedFrame) => void) | undefined;
  readonly #stats: MemoryEndpointStats = {
    framesSent: 0,
    bytesSent: 0,
    framesReceived: 0,
    bytesReceived: 0,
    reads: 0,
    bytesRead: 0,
    writes: 0,
    bytesWritten: 0,
  };

  constructor(id: ComponentId, frames: number, peers: Map<ComponentId, MemoryEndpointImpl>) {
    this.id = id;
    this.receiveQueue = new ReceiveQueue(frames);
    this.#regions = new RegionTable(id);
    this.#peers = peers;
  }

  send(to: ComponentId, frame: Uint8Array): Promise<void> {
    try {
      if (!(frame instanceof Uint8Array)) {
        throw new TypeError(`frame must be a Uint8Array, got ${typeof frame}`);
      }
      this.#checkOpen("send");
      const peer = this.#peer(to);
      return this.#deliver(peer, to, { from: this.id, bytes: frame }, frame.length);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Hands `message` over, or queues it. It is handed to the receiver's consumer at once
   * (no queue, no promise, no microtask), when that consumer waits on an empty queue (so
   * nothing queued is overtaken) and the message is a reply, which only settles the
   * caller's promise, or a request to another component while no other request is being
   * handed over: its handler then runs inside the sender's call, but never inside its own
   * component's code nor inside another handler. Everything else is queued.
   */
  sendMessage(to: ComponentId, message: CopiedMessage): Promise<void> {
    try {
      this.#checkOpen("send");
      const peer = this.#peer(to);
      const consume = peer.#consume;
      if (
        consume !== undefined && peer.receiveQueue.consumerWaiting &&
        ((message.flags & FLAG_REPLY) !== 0 || (requestsHandedOver === 0 && to !== this.id))
      ) {
        this.#delivered(peer, message.frameBytes);
        const request = (message.flags & FLAG_REPLY) === 0;
        if (request) requestsHandedOver++;
        try {
          consume({ from: this.id, bytes: NO_BYTES, message });
        } finally {
          if (request) requestsHandedOver--;
        }
        return SENT;
      }
      // A destination drained by something that reads only bytes gets the frame.
      const frame = peer.#acceptsMessages
        ? { from: this.id, bytes: NO_BYTES, message }
        : { from: this.id, bytes: encode(message) };
      return this.#deliver(peer, to, frame, message.frameBytes);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  acceptMessages(consume?: (frame: ReceivedFrame) => void): void {
    this.#acceptsMessages = true;
    this.#consume = consume;
  }

  /**
   * Puts `frame` into the receive queue of `peer` (component `to`). With room there (the common case) it is
   * delivered at once and the settled {@link SENT} comes back: no promise, no microtask.
   */
  #deliver(
    peer: MemoryEndpointImpl,
    to: ComponentId,
    frame: ReceivedFrame,
    bytes: number,
  ): Promise<void> {
    let put: boolean;
    try {
      put = peer.receiveQueue.tryPut(frame);
    } catch (error) {
      if (error instanceof QueueClosedError) throw new UnreachableError(to, "it detached");
      throw error;
    }
    if (!put) return this.#sendWhenRoom(peer, to, frame, bytes);
    this.#delivered(peer, bytes);
    return SENT;
  }

  /** Waits for room in a full receive queue (backpressure). */
  async #sendWhenRoom(
    peer: MemoryEndpointImpl,
    to: ComponentId,
    frame: ReceivedFrame,
    bytes: number,
  ): Promise<void> {
    try {
      await peer.receiveQueue.put(frame);
    } catch (error) {
      if (error instanceof QueueClosedError) {
        throw new UnreachableError(to, "it detached while the frame waited for queue space");
      }
      throw error;
    }
    this.#delivered(peer, bytes);
  }

  #delivered(peer: MemoryEndpointImpl, bytes: number): void {
    this.#stats.framesSent++;
    this.#stats.bytesSent += bytes;
    peer.#stats.framesReceived++;
    peer.#stats.bytesReceived += bytes;
  }

  registerRegion(bytes: Uint8Array, access: RegionAccess): MemoryRegion {
    this.#checkOpen("register a region");
    return this.#regions.register(bytes, access);
  }

  deregisterRegion(region: MemoryRegion): void {
    this.#regions.deregister(region);
  }

  read(from: ComponentId, key: number, offset: number, length: number): Promise<Uint8Array> {
    try {
      this.#checkOpen("read");
      const bytes = this.#peer(from).#regions.target(key, offset, length, "remoteRead");
      // A copy: the reader must not alias the target's memory.
      const data = bytes.slice(offset, offset + length);
      this.#stats.reads++;
      this.#stats.bytesRead += length;
      return Promise.resolve(data);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  write(to: ComponentId, key: number, offset: number, data: Uint8Array): Promise<void> {
    try {
      this.#checkOpen("write");
      if (!(data instanceof Uint8Array)) {
        throw new TypeError(`data must be a Uint8Array, got ${typeof data}`);
      }
      const bytes = this.#peer(to).#regions.target(key, offset, data.length, "remoteWrite");
      bytes.set(data, offset);
      this.#stats.writes++;
      this.#stats.bytesWritten += data.length;
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.receiveQueue.close();
    this.#regions.clear();
    // A re-attached component with the same id must not be detached by us.
    if (this.#peers.get(this.id) === this) this.#peers.delete(this.id);
    return Promise.resolve();
  }

  stats(): MemoryEndpointStats {
    return { ...this.#stats };
  }

  #checkOpen(what: string): void {
    if (this.#closed) throw new KernelError("ESHUTDOWN", `${this.id} is closed and cannot ${what}`);
  }

  #peer(id: ComponentId): MemoryEndpointImpl {
    const peer = this.#peers.get(id);
    if (!peer || peer.#closed) throw new UnreachableError(id, "no component attached with that id");
    return peer;
  }
}
