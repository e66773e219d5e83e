/**
 * One authenticated TCP connection between two components, after the handshake.
 *
 * Both directions carry data frames and control frames. Per direction:
 * - **Credits** bound what the sender may have outstanding: the receiver granted a
 *   window at the handshake and returns a credit for each frame its consumer *took* from
 *   the shared receive queue (in batches of a quarter window). A send without credit
 *   waits, so a full receive queue pushes back all the way to the sender's `send()`.
 * - **Writes** go through a single writer (`writer.ts`) that coalesces what piles up
 *   into few `write` calls (many requests in flight, few system calls under load, one
 *   write and no added delay for a lone frame; `TCP_NODELAY` is set on the socket).
 * - **One-sided operations** (READ, WRITE, WHOIS) are request/response pairs matched by
 *   operation id; the host serves the peer's ones straight from the read loop, never
 *   through the receive queue.
 *
 * Any protocol violation, a write or read error, or a frame cut by the end of the
 * stream closes this connection only; waiting sends and operations fail with an
 * `UnreachableError` that says why.
 *
 * @module
 */

import { KernelError, UnreachableError } from "../../kernel/errors.ts";
import type { ComponentId } from "../../kernel/ids.ts";
import { SENT } from "../../kernel/transport.ts";
import {
  Control,
  type ControlFields,
  type ControlFrame,
  controlName,
  type DataFrame,
  encodeControl,
  frameIds,
  frameIdsMatch,
  type FrameReader,
  idField,
  payloadJson,
  ProtocolError,
  type WireFrame,
} from "./wire.ts";
import { FrameWriter } from "./writer.ts";

/** What a connection needs from the endpoint that owns it. */
export interface ConnectionHost {
  /** The owning component's id (every data frame must be addressed to it). */
  readonly id: ComponentId;
  /** A checked data frame from the peer: put it in the receive queue. */
  deliver(connection: Connection, frame: DataFrame): void;
  /** A one-sided request or lookup from the peer: return the response frame. */
  serve(connection: Connection, frame: ControlFrame): Uint8Array;
  /** The connection closed; `error` says why (a local close passes none). */
  closed(connection: Connection, error: Error | undefined): void;
}

/** The socket a connection runs on. */
export interface Socket {
  /** Writes some of `data`, resolving to the count written. */
  write(data: Uint8Array): Promise<number>;
  /** Closes the socket (pending reads and writes fail). */
  close(): void;
}

/** Settings of one connection. */
export interface ConnectionOptions {
  /** The authenticated peer. */
  peer: ComponentId;
  /** Whether the peer dialled us. */
  inbound: boolean;
  /** The peer's socket address, for messages. */
  remoteAddress: string;
  /** Data frames we may send before the peer returns credits. */
  sendCredits: number;
  /** Data frames we allowed the peer to have outstanding. */
  window: number;
  /** How long a one-sided operation may wait for its answer, in milliseconds. */
  opTimeoutMs: number;
  /** One-sided operations in flight at once; more wait. */
  maxOpsInFlight: number;
  /**
   * Answer bytes queued for writing beyond which a peer that keeps asking (one-sided
   * reads, lookups) is deemed not to be reading its answers, and is cut off.
   */
  maxQueuedBytes: number;
}

/** Traffic counters of a connection. */
export interface ConnectionStats {
  /** Data frames written. */
  framesSent: number;
  /** Bytes of data frames written. */
  bytesSent: number;
  /** Data frames received. */
  framesReceived: number;
  /** Bytes of data frames received. */
  bytesReceived: number;
  /** Writes issued (each may carry several frames). */
  writes: number;
}

interface WaitingSend {
  frame: Uint8Array;
  resolve: () => void;
  reject: (error: Error) => void;
}

interface PendingOp {
  resolve: (frame: { type: number; payload: Uint8Array }) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * Microtask turns the read loop gives the consumer after delivering frames: enough for
 * the RPC layer to take a frame, run a synchronous handler and queue its reply (or, on
 * the calling side, to resolve the call and let the caller send its next request).
 */
const CONSUME_TURNS = 3;

/**
 * An authenticated connection. Created by the endpoint after a successful handshake,
 * with the reader that ran the handshake (it may already hold the first frames).
 *
 * @example
 * ```ts ignore
 * const connection = new Connection(socket, reader, endpoint, {
 *   peer: "m0", inbound: false, remoteAddress: "127.0.0.1:7101", sendCredits: 256,
 *   window: 256, opTimeoutMs: 30_000, maxOpsInFlight: 256, maxQueuedBytes: 64 << 20,
 * });
 * await connection.sendData(frame);
 * ```
 */
export class Connection {
  /** The peer's component id. */
  readonly peer: ComponentId;
  /** Whether the peer dialled us. */
  readonly inbound: boolean;
  /** The peer's socket address. */
  readonly remoteAddress: string;
  /** Reads that returned bytes so far (a liveness check compares it between ticks). */
  reads = 0;
  /** Resolves when the read loop has ended (the connection is closed by then). */
  readonly done: Promise<void>;
  readonly #socket: Socket;
  readonly #reader: FrameReader;
  readonly #host: ConnectionHost;
  readonly #options: ConnectionOptions;
  readonly #returnAt: number;
  /** The id bytes every data frame from the peer must carry. */
  readonly #ids: Uint8Array;
  #credits: number;
  #waiting: WaitingSend[] = [];
  readonly #writer: FrameWriter;
  /** Data frames received whose credit has not been sent back yet (at most the window). */
  #outstanding = 0;
  /** Of those, frames already taken: credits to send back with the next CREDIT frame. */
  #unreturned = 0;
  #ops = new Map<number, PendingOp>();
  #opWaiters: (() => void)[] = [];
  #lastOpId = 0;
  #closed = false;
  #closeReason = "";
  /** The counters kept here; the writer counts writes. */
  readonly #stats: Omit<ConnectionStats, "writes"> = {
    framesSent: 0,
    bytesSent: 0,
    framesReceived: 0,
    bytesReceived: 0,
  };

  /** Wraps an authenticated socket and starts reading. */
  constructor(
    socket: Socket,
    reader: FrameReader,
    host: ConnectionHost,
    options: ConnectionOptions,
  ) {
    this.peer = options.peer;
    this.inbound = options.inbound;
    this.remoteAddress = options.remoteAddress;
    this.#socket = socket;
    this.#reader = reader;
    this.#host = host;
    this.#options = options;
    this.#credits = options.sendCredits;
    this.#writer = new FrameWriter(socket, (error) => {
      if (!this.#closed) this.close(error);
    });
    this.#ids = idField(options.peer, host.id);
    // Return credits in batches: one CREDIT frame per quarter window taken.
    this.#returnAt = Math.max(1, Math.floor(options.window / 4));
    this.done = this.#readLoop();
  }

  /** Whether the connection is closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Why it closed (empty while open). */
  get closeReason(): string {
    return this.#closeReason;
  }

  /** Credits left for sending data frames. */
  get credits(): number {
    return this.#credits;
  }

  /** One-sided operations waiting for an answer. */
  get opsInFlight(): number {
    return this.#ops.size;
  }

  /** A copy of the traffic counters. */
  stats(): ConnectionStats {
    return { ...this.#stats, writes: this.#writer.writes };
  }

  /**
   * Queues a data frame for the peer. Returns `SENT` when a credit is free, otherwise
   * a promise that resolves when the peer returns one and rejects with `UnreachableError`
   * if the connection closes first.
   */
  sendData(frame: Uint8Array): Promise<void> {
    return this.#sendData(frame, true);
  }

  /**
   * {@link Connection.sendData} for a frame the caller keeps: it is copied before this
   * returns, so the caller may overwrite it at once.
   */
  sendDataCopy(frame: Uint8Array): Promise<void> {
    return this.#sendData(frame, false);
  }

  #sendData(frame: Uint8Array, owned: boolean): Promise<void> {
    if (this.#closed) return Promise.reject(this.#unreachable());
    if (this.#credits > 0 && this.#waiting.length === 0) {
      this.#credits--;
      this.#queueData(frame, owned);
      return SENT;
    }
    const kept = owned ? frame : frame.slice();
    return new Promise((resolve, reject) => this.#waiting.push({ frame: kept, resolve, reject }));
  }

  /** Whether `sent` (from {@link Connection.sendData}) was accepted at once (it cannot fail). */
  sentAtOnce(sent: Promise<void>): boolean {
    return sent === SENT;
  }

  /** Queues a control frame (credits, answers, pings). Dropped when closed. */
  sendControl(frame: Uint8Array): void {
    if (!this.#closed) this.#queue(frame);
  }

  /**
   * Sends a one-sided request and resolves to the answer's type and payload (a copy).
   * An OP_ERROR answer rejects with a `KernelError` carrying the peer's code; no answer
   * within the operation timeout rejects with `ETIMEDOUT`.
   */
  async request(
    fields: ControlFields,
    payload?: Uint8Array,
  ): Promise<{ type: number; payload: Uint8Array }> {
    while (this.#ops.size >= this.#options.maxOpsInFlight && !this.#closed) {
      await new Promise<void>((resolve) => this.#opWaiters.push(resolve));
    }
    if (this.#closed) throw this.#unreachable();
    const opId = this.#nextOpId();
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.#ops.get(opId)?.timer !== timer) return;
        this.#ops.delete(opId);
        this.#opWaiters.shift()?.();
        reject(
          new KernelError(
            "ETIMEDOUT",
            `${
              controlName(fields.type)
            } to ${this.peer} got no answer within ${this.#options.opTimeoutMs} ms`,
          ),
        );
      }, this.#options.opTimeoutMs);
      this.#ops.set(opId, { resolve, reject, timer });
      this.#queue(encodeControl({ ...fields, opId }, payload));
    });
  }

  /**
   * The consumer took one of this connection's frames from the receive queue: return a
   * credit (batched).
   */
  frameTaken(): void {
    if (this.#closed) return;
    if (++this.#unreturned >= this.#returnAt) {
      this.#queue(encodeControl({ type: Control.CREDIT, arg: this.#unreturned }));
      this.#outstanding -= this.#unreturned;
      this.#unreturned = 0;
    }
  }

  /**
   * Closes the connection: fails waiting sends and operations with an
   * `UnreachableError` built from `error` (or "closed locally"), then tells the host.
   * Idempotent.
   */
  close(error?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeReason = error ? error.message : "closed locally";
    try {
      this.#socket.close();
    } catch {
      // Already closed by the peer or the runtime.
    }
    const failure = this.#unreachable();
    for (const waiting of this.#waiting.splice(0)) waiting.reject(failure);
    for (const op of this.#ops.values()) {
      clearTimeout(op.timer);
      op.reject(failure);
    }
    this.#ops.clear();
    for (const wake of this.#opWaiters.splice(0)) wake();
    this.#writer.close();
    this.#host.closed(this, error);
  }

  #unreachable(): UnreachableError {
    return new UnreachableError(
      this.peer,
      `the connection to ${this.remoteAddress} was lost (${this.#closeReason})`,
    );
  }

  #nextOpId(): number {
    let id = this.#lastOpId;
    do {
      id = (id + 1) >>> 0;
    } while (id === 0 || this.#ops.has(id));
    this.#lastOpId = id;
    return id;
  }

  #queueData(frame: Uint8Array, owned: boolean): void {
    this.#stats.framesSent++;
    this.#stats.bytesSent += frame.length;
    this.#writer.queue(frame, owned);
  }

  /** Queues a frame made here for this connection alone (control frames). */
  #queue(frame: Uint8Array): void {
    this.#writer.queue(frame, true);
  }

  async #readLoop(): Promise<void> {
    // Let the constructor finish before frames buffered during the handshake are handled.
    await Promise.resolve();
    try {
      while (!this.#closed) {
        let frame: WireFrame | undefined;
        let frames = 0;
        while (!this.#closed && (frame = this.#reader.next()) !== undefined) {
          if (frame.data) frames++;
          this.#onFrame(frame);
        }
        if (frames > 0) {
          // Let the consumer act on these frames before the next read is set up: on a
          // quiet connection, setting it up first would delay every reply by its cost.
          // (Awaiting a settled promise: `await null` would make a new one each turn.)
          for (let turn = 0; turn < CONSUME_TURNS; turn++) await SENT;
        }
        if (this.#closed) break;
        const n = await this.#reader.read();
        if (n === null) {
          const partial = this.#reader.partialBytes;
          if (partial > 0) {
            throw new ProtocolError(
              `the connection was cut mid-frame (${partial} bytes of an unfinished frame)`,
            );
          }
          this.close(new Error("the peer closed the connection"));
          break;
        }
        this.#reader.commit(n);
        this.reads++;
      }
    } catch (e) {
      if (!this.#closed) {
        this.close(
          e instanceof ProtocolError ? e : new Error(`read failed: ${(e as Error).message}`),
        );
      }
    }
  }

  #onFrame(frame: WireFrame): void {
    if (frame.data) {
      if (!frameIdsMatch(frame.bytes, this.#ids)) {
        const { src, dst } = frameIds(frame.bytes);
        throw new ProtocolError(
          `a frame on ${this.peer}'s connection claims to be from ${src} to ${dst}`,
        );
      }
      if (++this.#outstanding > this.#options.window) {
        throw new ProtocolError(
          `${this.peer} sent more than the ${this.#options.window} frames it had credits for`,
        );
      }
      this.#stats.framesReceived++;
      this.#stats.bytesReceived += frame.bytes.length;
      this.#host.deliver(this, frame);
      return;
    }
    switch (frame.type) {
      case Control.CREDIT: {
        const credits = this.#credits + frame.arg;
        if (frame.arg < 1 || credits > this.#options.sendCredits) {
          throw new ProtocolError(`${this.peer} returned ${frame.arg} credits it never had`);
        }
        this.#credits = credits;
        while (this.#credits > 0 && this.#waiting.length > 0) {
          const waiting = this.#waiting.shift()!;
          this.#credits--;
          this.#queueData(waiting.frame, true);
          waiting.resolve();
        }
        return;
      }
      case Control.READ:
      case Control.WRITE:
      case Control.WHOIS:
        // Data frames are bounded by credits; answers by how fast the peer reads them.
        if (this.#writer.queuedBytes > this.#options.maxQueuedBytes) {
          throw new ProtocolError(
            `${this.peer} asks without reading the answers: ${this.#writer.queuedBytes} bytes wait to be written`,
          );
        }
        this.#queue(this.#host.serve(this, frame));
        return;
      case Control.READ_OK:
      case Control.WRITE_OK:
      case Control.WHOIS_OK:
      case Control.OP_ERROR: {
        const op = this.#ops.get(frame.opId);
        if (!op) return; // Its caller timed out already.
        this.#ops.delete(frame.opId);
        clearTimeout(op.timer);
        this.#opWaiters.shift()?.();
        if (frame.type === Control.OP_ERROR) {
          const { code, message } = payloadJson(frame.payload);
          op.reject(new KernelError(String(code), String(message)));
        } else {
          op.resolve({ type: frame.type, payload: frame.payload.slice() });
        }
        return;
      }
      case Control.PING:
        this.#queue(encodeControl({ type: Control.PONG, opId: frame.opId }));
        return;
      case Control.PONG:
        return;
      default:
        throw new ProtocolError(`unexpected ${controlName(frame.type)} after the handshake`);
    }
  }
}
