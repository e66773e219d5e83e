/**
 * The transport contract: how components exchange bytes.
 *
 * A transport is connectionless from above: monitors and the RPC layer address a
 * component by id and never see a connection. It offers
 * - **two-sided** messaging: `send` puts a frame into the destination's single shared
 *   receive queue (one queue per component, fed by every peer, as RDMA-specialised RPC
 *   does with a shared receive queue);
 * - **one-sided** access: `read`/`write` on memory regions another component has
 *   registered, served by the transport itself without running the remote monitor (the
 *   NIC's role in RDMA).
 *
 * Frames are encoded messages (see `codec.ts`); the transport does not interpret them.
 * Implementations: `transports/memory.ts` (in-process), TCP, RDMA.
 *
 * @module
 */

import type { CopiedMessage } from "./codec.ts";
import type { ComponentId } from "./ids.ts";
import type { ReceiveQueue } from "./receive_queue.ts";

/**
 * The settled promise a transport may return from `send` or `sendCopy` when it accepted
 * the frame at once. A sender that gets it back knows the send is done and need not
 * chain on the promise (a `then` per frame is a noticeable share of a fast send).
 *
 * @example
 * ```ts
 * import { SENT } from "./transport.ts";
 * console.assert(SENT instanceof Promise);
 * ```
 */
export const SENT: Promise<void> = Promise.resolve();

/** What a remote peer may do to a registered region. */
export interface RegionAccess {
  /** Peers may `read` the region. */
  remoteRead: boolean;
  /** Peers may `write` the region. */
  remoteWrite: boolean;
}

/** A registered memory region: the handle a peer needs for one-sided access. */
export interface MemoryRegion {
  /** Key that peers pass to `read`/`write` (like an RDMA rkey). Unique per endpoint. */
  readonly key: number;
  /** Length of the region in bytes. */
  readonly length: number;
  /** What peers may do. */
  readonly access: RegionAccess;
}

/** A frame taken from a receive queue. */
export interface ReceivedFrame {
  /** The component that sent it, as authenticated by the transport. */
  readonly from: ComponentId;
  /** The encoded message. The receiver owns these bytes. */
  readonly bytes: Uint8Array;
  /**
   * Set instead of `bytes` (then empty) when the sender handed the message over within
   * this process ({@link TransportEndpoint.sendMessage}). The receiver owns it.
   */
  readonly message?: CopiedMessage;
}

/** One component's attachment to a transport. */
export interface TransportEndpoint {
  /** The component this endpoint belongs to. */
  readonly id: ComponentId;
  /**
   * Where peers reach this endpoint, by transport (e.g. `{ tcp: "127.0.0.1:7101" }`);
   * absent for transports without addresses (in-memory).
   */
  readonly addresses?: Readonly<Record<string, string>>;
  /** The shared receive queue into which every peer's frames land. */
  readonly receiveQueue: ReceiveQueue<ReceivedFrame>;
  /**
   * Sends one frame to `to`. Resolves once the transport has accepted the frame
   * (queued for delivery); waits while the destination's queue is full (backpressure).
   * Ownership of `frame` passes to the transport: do not modify it afterwards.
   * Rejects with `UnreachableError` when `to` is unknown or gone.
   */
  send(to: ComponentId, frame: Uint8Array): Promise<void>;
  /**
   * Optional: {@link TransportEndpoint.send}, except that the transport copies `frame`
   * before returning, so the caller keeps it and may overwrite it at once (e.g. an
   * encoder's reused buffer). A transport that copies frames into its write path anyway
   * offers it; a sender that has it need not allocate a fresh buffer for every frame.
   */
  sendCopy?(to: ComponentId, frame: Uint8Array): Promise<void>;
  /**
   * Optional, for a transport whose components all live in one process: delivers
   * `message` itself, as {@link ReceivedFrame.message}, with no encoding or decoding in
   * between. `message` must come from `copyMessage` (checked as encoding checks, byte
   * fields already copied) and its ownership passes to the transport. Otherwise as
   * {@link TransportEndpoint.send}, counting `message.frameBytes` as the frame's size
   * (and encoding it when the destination does not accept messages).
   */
  sendMessage?(to: ComponentId, message: CopiedMessage): Promise<void>;
  /**
   * Optional, with `sendMessage`: says that whoever drains this endpoint's receive queue
   * takes {@link ReceivedFrame.message} too (an `RpcNode` does). Until then, messages
   * sent here arrive encoded, as `bytes`, like any frame.
   *
   * With `consume`, the transport may also hand a message to `consume` at once, inside
   * the peer's `sendMessage`, instead of queueing it: only while the consumer waits on
   * an empty queue (so nothing is overtaken), and only where that cannot run a
   * component's code inside its own (see the transport). `consume` must not throw.
   */
  acceptMessages?(consume?: (frame: ReceivedFrame) => void): void;
  /** Registers `bytes` for one-sided access by peers. */
  registerRegion(bytes: Uint8Array, access: RegionAccess): MemoryRegion;
  /** Withdraws a region; later remote accesses to its key fail. */
  deregisterRegion(region: MemoryRegion): void;
  /** One-sided read of `length` bytes at `offset` in region `key` of component `from`. */
  read(from: ComponentId, key: number, offset: number, length: number): Promise<Uint8Array>;
  /** One-sided write of `data` at `offset` in region `key` of component `to`. */
  write(to: ComponentId, key: number, offset: number, data: Uint8Array): Promise<void>;
  /** Detaches: closes the receive queue and refuses further traffic. Idempotent. */
  close(): Promise<void>;
}

/** Options for attaching a component to a transport. */
export interface AttachOptions {
  /** Capacity of the shared receive queue in frames (default 4096). */
  receiveQueueFrames?: number;
  /** Transport-specific settings (e.g. a TCP listen address). */
  [key: string]: unknown;
}

/**
 * A transport instance: one per cluster (in-memory) or per OS process (TCP, RDMA).
 *
 * @example
 * ```ts ignore
 * const transport: Transport = createMemoryTransport();
 * const m0 = await transport.attach("m0");
 * const p0 = await transport.attach("p0");
 * await p0.send("m0", frame);
 * const received = await m0.receiveQueue.take();
 * ```
 */
export interface Transport {
  /** Short name, e.g. `memory`, `tcp`, `rdma`. */
  readonly name: string;
  /** Attaches component `id` and returns its endpoint. Rejects a duplicate id. */
  attach(id: ComponentId, options?: AttachOptions): Promise<TransportEndpoint>;
  /** Closes every endpoint this transport attached. Idempotent. */
  close(): Promise<void>;
}
