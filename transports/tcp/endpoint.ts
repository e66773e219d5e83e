/**
 * One component's attachment to the TCP transport: its listener, its connections to
 * peers (found by id, dialled on first use, re-dialled with backoff after a loss), its
 * shared receive queue, and its registered regions, which peers read and write without
 * the component's monitor ever seeing the request (the NIC's role in RDMA).
 *
 * Monitors address ids, never connections. To reach an id the endpoint uses, in order:
 * a live connection with it (either side may have dialled), another endpoint of the
 * same transport, the address book (static entries, addresses learnt from peers'
 * handshakes, earlier answers), and finally a WHOIS asked of the manager's endpoint,
 * which learnt every component's address when it connected to join.
 *
 * When a connection is lost, every request sent over it that still awaited its reply is
 * answered at once with an `EHOSTUNREACH` error reply, the way an RDMA NIC completes
 * outstanding work requests with an error when the queue pair breaks: callers get a
 * clear error instead of waiting for their RPC timeout.
 *
 * @module
 */

import { encode, HEADER_SIZE } from "../../kernel/codec.ts";
import { KernelError, UnreachableError } from "../../kernel/errors.ts";
import type { ComponentId } from "../../kernel/ids.ts";
import { FLAG_ERROR, FLAG_ONE_WAY, FLAG_REPLY, KIND_BY_CODE } from "../../kernel/messages.ts";
import { ReceiveQueue } from "../../kernel/receive_queue.ts";
import { RegionTable } from "../../kernel/region_table.ts";
import {
  type MemoryRegion,
  type ReceivedFrame,
  type RegionAccess,
  SENT,
  type TransportEndpoint,
} from "../../kernel/transport.ts";
import { type AddressBook, formatHostPort, type HostPort, parseHostPort } from "./address.ts";
import { Connection, type ConnectionHost, type ConnectionStats } from "./connection.ts";
import type { ComponentKey } from "./component_key.ts";
import {
  acceptHandshake,
  dialHandshake,
  HandshakeError,
  type HandshakeIo,
  type HandshakeResult,
} from "./handshake.ts";
import {
  Control,
  CONTROL_HEADER_SIZE,
  type ControlFrame,
  type DataFrame,
  encodeControl,
  encodeJsonControl,
  encodeTextControl,
  FrameReader,
  HANDSHAKE_CHUNK_BYTES,
  payloadText,
  ProtocolError,
} from "./wire.ts";

/** Traffic counters of a TCP endpoint. */
export interface TcpEndpointStats extends ConnectionStats {
  /** Connections open now. */
  connections: number;
  /** Connections this endpoint dialled, ever. */
  dials: number;
  /** Connections accepted after a successful handshake, ever. */
  accepted: number;
  /** Connections refused at the handshake (no or wrong secret, bad hello, timeout). */
  refused: number;
  /** Connections closed for a protocol violation (garbage, oversized or cut frames). */
  protocolErrors: number;
  /** Requests failed because their connection was lost before the reply. */
  requestsFailed: number;
  /** One-sided reads and writes this endpoint served for peers. */
  oneSidedServed: number;
  /** Inbound connections still in their handshake (unauthenticated), now. */
  pendingHandshakes: number;
  /** Read-buffer bytes held by connections in their handshake, now. */
  handshakeBufferBytes: number;
  /** Inbound connections closed unread because `maxPendingHandshakes` were pending, ever. */
  handshakesShed: number;
}

/** A TCP endpoint: the standard endpoint plus its addresses and counters. */
export interface TcpEndpoint extends TransportEndpoint {
  /** Where peers reach this component: `{ tcp: "host:port" }`, or `{}` when it does not listen. */
  readonly addresses: Readonly<Record<string, string>>;
  /** Sends a copy of `frame`: queued frames are copied into the connection's write buffer. */
  sendCopy(to: ComponentId, frame: Uint8Array): Promise<void>;
  /** A snapshot of the counters. */
  stats(): TcpEndpointStats;
}

/** Everything an endpoint is configured with (all defaults filled). */
export interface EndpointSettings {
  /** The component id. */
  id: ComponentId;
  /** Where to listen, or `undefined` for a component that only dials out. */
  listen: HostPort | undefined;
  /** The manager whose endpoint answers WHOIS, if any. */
  manager: ComponentId | undefined;
  /** This component's key (from the cluster secret or a key file), or `undefined`. */
  key: ComponentKey | undefined;
  /** Capacity of the shared receive queue, in frames. */
  queueFrames: number;
  /** Frames each peer may have outstanding (capped by the queue capacity). */
  windowFrames: number;
  /** Largest frame, header included. */
  maxFrameBytes: number;
  /** Longest wait for a TCP connection to open. */
  connectTimeoutMs: number;
  /** How long to keep re-dialling a peer before sends to it fail. */
  reconnectTimeoutMs: number;
  /** Longest handshake. */
  handshakeTimeoutMs: number;
  /** Inbound handshakes in progress at once; a connection beyond is closed unread. */
  maxPendingHandshakes: number;
  /** Longest wait for a one-sided operation's answer. */
  opTimeoutMs: number;
  /** Idle time before a PING; a connection silent for 3× this is closed. 0: never. */
  pingIntervalMs: number;
  /** One-sided operations in flight per connection. */
  maxOpsInFlight: number;
  /** Answer bytes queued for a peer beyond which it is deemed not to be reading. */
  maxQueuedBytes: number;
  /** Where log lines go. */
  log: (message: string) => void;
}

/** What the endpoints of one transport share. */
export interface SharedState {
  /** Component id → address. */
  readonly book: AddressBook;
  /** The endpoints attached to this transport, by id. */
  readonly local: Map<ComponentId, TcpEndpointImpl>;
}

interface PeerState {
  connections: Connection[];
  dialing?: Promise<Connection>;
  /** Requests sent to the peer that await a reply: request id → connection and opcode. */
  awaiting: Map<number, { connection: Connection; code: number }>;
}

/**
 * The shared receive queue, returning each frame's credit to its connection when the
 * consumer takes it. The queue is FIFO, so the connections of queued frames are kept in
 * the same order beside it and `take()` knows whose frame it takes without waiting for
 * the frame itself; a frame handed straight to a waiting consumer is taken at once.
 */
class CreditedQueue extends ReceiveQueue<ReceivedFrame> {
  #waiting = 0;
  #sources: (Connection | undefined)[] = [];
  #head = 0;

  override take(): Promise<ReceivedFrame | undefined> {
    if (this.length > 0) this.#taken();
    else if (!this.closed) this.#waiting++;
    return super.take();
  }

  override tryTake(): ReceivedFrame | undefined {
    if (this.length > 0) this.#taken();
    return super.tryTake();
  }

  /**
   * Puts a frame from `connection` (none for frames the transport makes itself). Returns
   * `SENT` when the frame went in at once (no promise is made per frame).
   */
  deliver(frame: ReceivedFrame, connection: Connection | undefined): Promise<void> {
    if (this.closed) return this.put(frame);
    if (this.#waiting > 0) {
      this.#waiting--;
      connection?.frameTaken();
    } else this.#sources.push(connection);
    return this.tryPut(frame) ? SENT : this.put(frame);
  }

  #taken(): void {
    const connection = this.#sources[this.#head];
    this.#sources[this.#head++] = undefined;
    if (this.#head > 1024 && this.#head * 2 > this.#sources.length) {
      this.#sources = this.#sources.slice(this.#head);
      this.#head = 0;
    }
    connection?.frameTaken();
  }
}

const utf8 = new TextEncoder();

/**
 * The TCP endpoint. Create it with {@link TcpEndpointImpl.open}.
 *
 * @example
 * ```ts ignore
 * const transport = createTcpTransport();
 * const endpoint = await transport.attach("m0", { listen: "127.0.0.1:0" });
 * console.log(endpoint.addresses.tcp);
 * ```
 */
export class TcpEndpointImpl implements TcpEndpoint, ConnectionHost {
  /** The component id. */
  readonly id: ComponentId;
  /** The shared receive queue. */
  readonly receiveQueue: CreditedQueue;
  readonly #settings: EndpointSettings;
  readonly #shared: SharedState;
  readonly #listener: Deno.TcpListener | undefined;
  readonly #listenAddress: string | undefined;
  readonly #acceptLoop: Promise<void>;
  readonly #peers = new Map<ComponentId, PeerState>();
  /** Sockets in their handshake, with the reader each one fills. */
  readonly #handshaking = new Map<Deno.TcpConn, FrameReader>();
  #pendingInbound = 0;
  readonly #dials = new Set<Promise<unknown>>();
  readonly #regions: RegionTable;
  readonly #abort = new AbortController();
  readonly #window: number;
  #pingTimer: ReturnType<typeof setInterval> | undefined;
  /** Per connection: its read count at the last ping tick, and silent ticks in a row. */
  readonly #readsSeen = new WeakMap<Connection, { reads: number; silent: number }>();
  #closed = false;
  #closing: Promise<void> | undefined;
  readonly #counts = {
    dials: 0,
    accepted: 0,
    refused: 0,
    protocolErrors: 0,
    requestsFailed: 0,
    oneSidedServed: 0,
    handshakesShed: 0,
  };
  /** Counters of connections that have closed, so totals survive them. */
  readonly #closedTotals: ConnectionStats = {
    framesSent: 0,
    bytesSent: 0,
    framesReceived: 0,
    bytesReceived: 0,
    writes: 0,
  };

  private constructor(settings: EndpointSettings, shared: SharedState) {
    this.id = settings.id;
    this.#regions = new RegionTable(settings.id);
    this.#settings = settings;
    this.#shared = shared;
    this.receiveQueue = new CreditedQueue(settings.queueFrames);
    this.#window = Math.min(settings.windowFrames, settings.queueFrames);
    if (settings.listen) {
      this.#listener = Deno.listen({
        hostname: settings.listen.hostname,
        port: settings.listen.port,
        transport: "tcp",
      });
      const addr = this.#listener.addr;
      this.#listenAddress = formatHostPort(addr.hostname, addr.port);
    }
    this.#acceptLoop = this.#accept();
    if (settings.pingIntervalMs > 0) {
      const timer = setInterval(() => this.#ping(), settings.pingIntervalMs);
      Deno.unrefTimer(timer);
      this.#pingTimer = timer;
    }
  }

  /**
   * Opens an endpoint: binds its listener (throwing a `KernelError` `EADDRINUSE` or
   * `EACCES` that names the address when it cannot) and starts accepting.
   */
  static open(settings: EndpointSettings, shared: SharedState): TcpEndpointImpl {
    try {
      return new TcpEndpointImpl(settings, shared);
    } catch (e) {
      const where = settings.listen
        ? formatHostPort(settings.listen.hostname, settings.listen.port)
        : "";
      if (e instanceof Deno.errors.AddrInUse) {
        throw new KernelError(
          "EADDRINUSE",
          `${settings.id} cannot listen on ${where}: address in use`,
        );
      }
      if (e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable) {
        throw new KernelError(
          "EACCES",
          `${settings.id} cannot listen on ${where}: ${(e as Error).message}`,
        );
      }
      throw new KernelError(
        "EADDRNOTAVAIL",
        `${settings.id} cannot listen on ${where}: ${(e as Error).message}`,
      );
    }
  }

  /** `{ tcp: "host:port" }` when listening. */
  get addresses(): Readonly<Record<string, string>> {
    return this.#listenAddress ? { tcp: this.#listenAddress } : {};
  }

  /** The address peers dial, when listening. */
  get listenAddress(): string | undefined {
    return this.#listenAddress;
  }

  /** Sends one frame to `to` (see `TransportEndpoint.send`). */
  send(to: ComponentId, frame: Uint8Array): Promise<void> {
    return this.#send(to, frame, true);
  }

  /** Sends a copy of `frame` to `to` (see `TransportEndpoint.sendCopy`). */
  sendCopy(to: ComponentId, frame: Uint8Array): Promise<void> {
    return this.#send(to, frame, false);
  }

  /** `owned`: the frame was given up by the caller; otherwise copy what is kept. */
  #send(to: ComponentId, frame: Uint8Array, owned: boolean): Promise<void> {
    try {
      this.#checkOpen("send");
      this.#checkFrame(frame);
    } catch (e) {
      return Promise.reject(e);
    }
    if (to === this.id) {
      // To oneself: straight into the queue, still bounded by its capacity.
      const bytes = owned ? frame : frame.slice();
      return this.receiveQueue.deliver({ from: this.id, bytes }, undefined);
    }
    const connection = this.#connectionTo(to);
    if (connection) return this.#sendOn(connection, to, frame, owned);
    const kept = owned ? frame : frame.slice();
    return this.#dial(to).then((dialled) => this.#sendOn(dialled, to, kept, true));
  }

  /** Sends on `connection`, remembering requests that await a reply over it. */
  #sendOn(
    connection: Connection,
    to: ComponentId,
    frame: Uint8Array,
    owned: boolean,
  ): Promise<void> {
    // Header bytes 3 (flags), 4–5 (opcode) and 8–11 (request id), read directly.
    if ((frame[3] & (FLAG_REPLY | FLAG_ONE_WAY)) !== 0) {
      return owned ? connection.sendData(frame) : connection.sendDataCopy(frame);
    }
    const requestId = (frame[8] | frame[9] << 8 | frame[10] << 16 | frame[11] << 24) >>> 0;
    const awaiting = this.#peer(to).awaiting;
    const entry = { connection, code: frame[4] | frame[5] << 8 };
    awaiting.set(requestId, entry);
    const sent = owned ? connection.sendData(frame) : connection.sendDataCopy(frame);
    // A send that waits may fail, which its own rejection reports; then stop tracking it.
    if (!connection.sentAtOnce(sent)) {
      sent.catch(() => {
        if (awaiting.get(requestId) === entry) awaiting.delete(requestId);
      });
    }
    return sent;
  }

  /** Registers `bytes` for one-sided access by peers. */
  registerRegion(bytes: Uint8Array, access: RegionAccess): MemoryRegion {
    this.#checkOpen("register a region");
    return this.#regions.register(bytes, access);
  }

  /** Withdraws a region. */
  deregisterRegion(region: MemoryRegion): void {
    this.#regions.deregister(region);
  }

  /** One-sided read from `from`'s region `key`, served by `from`'s endpoint. */
  async read(from: ComponentId, key: number, offset: number, length: number): Promise<Uint8Array> {
    this.#checkOpen("read");
    this.#checkOneSidedSize(length, "read");
    if (from === this.id) {
      return this.#regions.target(key, offset, length, "remoteRead").slice(offset, offset + length);
    }
    checkKey(from, key);
    const connection = this.#connectionTo(from) ?? await this.#dial(from);
    const answer = await connection.request({ type: Control.READ, arg: key, offset, length });
    return answer.payload;
  }

  /** One-sided write into `to`'s region `key`, served by `to`'s endpoint. */
  async write(to: ComponentId, key: number, offset: number, data: Uint8Array): Promise<void> {
    this.#checkOpen("write");
    if (!(data instanceof Uint8Array)) {
      throw new TypeError(`data must be a Uint8Array, got ${typeof data}`);
    }
    this.#checkOneSidedSize(data.length, "write");
    if (to === this.id) {
      this.#regions.target(key, offset, data.length, "remoteWrite").set(data, offset);
      return;
    }
    checkKey(to, key);
    const connection = this.#connectionTo(to) ?? await this.#dial(to);
    await connection.request({ type: Control.WRITE, arg: key, offset }, data);
  }

  /** A snapshot of the counters. */
  stats(): TcpEndpointStats {
    const totals = { ...this.#closedTotals };
    let connections = 0;
    for (const peer of this.#peers.values()) {
      for (const connection of peer.connections) {
        connections++;
        addStats(totals, connection.stats());
      }
    }
    let handshakeBufferBytes = 0;
    for (const reader of this.#handshaking.values()) handshakeBufferBytes += reader.bufferBytes;
    return {
      ...totals,
      connections,
      ...this.#counts,
      pendingHandshakes: this.#pendingInbound,
      handshakeBufferBytes,
    };
  }

  /** Closes the listener and every connection, then the receive queue. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed = true;
      this.#abort.abort();
      if (this.#pingTimer !== undefined) clearInterval(this.#pingTimer);
      try {
        this.#listener?.close();
      } catch {
        // Already closed.
      }
      await this.#acceptLoop;
      for (const socket of this.#handshaking.keys()) closeQuietly(socket);
      const done: Promise<unknown>[] = [...this.#dials];
      for (const peer of this.#peers.values()) {
        for (const connection of [...peer.connections]) {
          connection.close();
          done.push(connection.done);
        }
      }
      await Promise.allSettled(done);
      this.receiveQueue.close();
      this.#regions.clear();
      if (this.#shared.local.get(this.id) === this) this.#shared.local.delete(this.id);
    })();
    return this.#closing;
  }

  // ── ConnectionHost ────────────────────────────────────────────────────────────────

  /** Puts a peer's data frame in the receive queue. */
  deliver(connection: Connection, frame: DataFrame): void {
    if (frame.flags & FLAG_REPLY) {
      this.#peers.get(connection.peer)?.awaiting.delete(frame.requestId);
    }
    const put = this.receiveQueue.deliver(
      { from: connection.peer, bytes: frame.bytes },
      connection,
    );
    // A put that waits fails only when the queue closes: this endpoint is going away and
    // nobody will read the frame.
    if (put !== SENT) put.catch(() => {});
  }

  /** Serves a peer's one-sided read or write, or a WHOIS, without the monitor. */
  serve(_connection: Connection, frame: ControlFrame): Uint8Array {
    const opId = frame.opId;
    try {
      switch (frame.type) {
        case Control.READ: {
          this.#counts.oneSidedServed++;
          const bytes = this.#regions.target(frame.arg, frame.offset, frame.length, "remoteRead");
          this.#checkOneSidedSize(frame.length, "read");
          return encodeControl(
            { type: Control.READ_OK, opId },
            bytes.subarray(frame.offset, frame.offset + frame.length),
          );
        }
        case Control.WRITE: {
          this.#counts.oneSidedServed++;
          const data = frame.payload;
          this.#regions.target(frame.arg, frame.offset, data.length, "remoteWrite").set(
            data,
            frame.offset,
          );
          return encodeControl({ type: Control.WRITE_OK, opId });
        }
        default: {
          const id = payloadText(frame.payload);
          const address = this.#addressOf(id);
          if (!address) {
            throw new KernelError(
              "ENOENT",
              `${this.id} knows no address for ${JSON.stringify(id)}`,
            );
          }
          return encodeTextControl({ type: Control.WHOIS_OK, opId }, address);
        }
      }
    } catch (e) {
      if (e instanceof ProtocolError) throw e;
      const code = e instanceof KernelError ? e.code : "EFAIL";
      return encodeJsonControl({ type: Control.OP_ERROR, opId }, {
        code,
        message: (e as Error).message,
      });
    }
  }

  /** Forgets a closed connection and fails the requests that awaited replies over it. */
  closed(connection: Connection, error: Error | undefined): void {
    addStats(this.#closedTotals, connection.stats());
    const peer = this.#peers.get(connection.peer);
    if (peer) peer.connections = peer.connections.filter((c) => c !== connection);
    if (error instanceof ProtocolError) this.#counts.protocolErrors++;
    if (this.#closed) return;
    let failed = 0;
    if (peer) {
      for (const [requestId, entry] of peer.awaiting) {
        if (entry.connection !== connection) continue;
        peer.awaiting.delete(requestId);
        failed++;
        this.#failRequest(connection, requestId, entry.code);
      }
    }
    this.#counts.requestsFailed += failed;
    const orderly = error === undefined || (!(error instanceof ProtocolError) && failed === 0 &&
      /peer closed/.test(error.message));
    if (!orderly) {
      this.#settings.log(
        `${
          error instanceof ProtocolError ? "closed" : "lost"
        } the connection with ${connection.peer} (${connection.remoteAddress}): ${
          error?.message ?? "closed"
        }${failed ? `; ${failed} request(s) awaiting replies failed` : ""}`,
      );
    }
  }

  // ── internals ──────────────────────────────────────────────────────────────────

  #checkOpen(what: string): void {
    if (this.#closed) throw new KernelError("ESHUTDOWN", `${this.id} is closed and cannot ${what}`);
  }

  #checkFrame(frame: Uint8Array): void {
    if (!(frame instanceof Uint8Array)) {
      throw new TypeError(`frame must be a Uint8Array, got ${typeof frame}`);
    }
    const bodyLength = frame.length >= HEADER_SIZE
      ? (frame[12] | frame[13] << 8 | frame[14] << 16 | frame[15] << 24) >>> 0
      : -1;
    if (frame[0] !== 0x4c || frame[1] !== 0x45 || bodyLength + HEADER_SIZE !== frame.length) {
      throw new KernelError("EINVAL", "a frame must be one whole encoded legoemu message");
    }
    if (frame.length > this.#settings.maxFrameBytes) {
      throw new KernelError(
        "EMSGSIZE",
        `frame of ${frame.length} bytes is over the ${this.#settings.maxFrameBytes}-byte limit`,
      );
    }
  }

  #checkOneSidedSize(length: number, what: string): void {
    const max = this.#settings.maxFrameBytes - CONTROL_HEADER_SIZE;
    if (typeof length === "number" && length > max) {
      throw new KernelError(
        "EMSGSIZE",
        `a one-sided ${what} of ${length} bytes is over the ${max}-byte frame limit; split it`,
      );
    }
  }

  #peer(id: ComponentId): PeerState {
    let peer = this.#peers.get(id);
    if (!peer) {
      peer = { connections: [], awaiting: new Map() };
      this.#peers.set(id, peer);
    }
    return peer;
  }

  /** The newest open connection with `id`, if any. */
  #connectionTo(id: ComponentId): Connection | undefined {
    const connections = this.#peers.get(id)?.connections;
    if (!connections) return undefined;
    for (let i = connections.length - 1; i >= 0; i--) {
      if (!connections[i].closed) return connections[i];
    }
    return undefined;
  }

  /** Where `id` listens, as far as this endpoint knows (answers WHOIS). */
  #addressOf(id: ComponentId): string | undefined {
    if (id === this.id) return this.#listenAddress;
    return this.#shared.local.get(id)?.listenAddress ?? this.#shared.book.get(id);
  }

  /** One connection attempt per peer at a time; everyone sending meanwhile shares it. */
  #dial(to: ComponentId): Promise<Connection> {
    const peer = this.#peer(to);
    if (!peer.dialing) {
      const dialing = this.#dialWithBackoff(to).finally(() => {
        if (peer.dialing === dialing) peer.dialing = undefined;
        this.#dials.delete(dialing);
      });
      // Every waiter handles the rejection; this keeps it from counting as unhandled.
      dialing.catch(() => {});
      peer.dialing = dialing;
      this.#dials.add(dialing);
    }
    return peer.dialing;
  }

  async #dialWithBackoff(to: ComponentId): Promise<Connection> {
    const started = Date.now();
    let delay = 20;
    let fresh = false;
    while (true) {
      this.#checkOpen(`reach ${to}`);
      const address = await this.#resolve(to, fresh);
      try {
        return await this.#connect(to, address);
      } catch (e) {
        this.#checkOpen(`reach ${to}`);
        if (e instanceof HandshakeError && e.authentication) {
          this.#settings.log(`${to} at ${address} refused us: ${e.message}`);
          throw new UnreachableError(to, `the handshake with ${address} failed: ${e.message}`);
        }
        // The peer may have moved (restarted elsewhere): ask again next time.
        this.#shared.book.forget(to);
        fresh = true;
        const elapsed = Date.now() - started;
        if (elapsed + delay > this.#settings.reconnectTimeoutMs) {
          throw new UnreachableError(
            to,
            `no connection to ${address} within ${this.#settings.reconnectTimeoutMs} ms (${
              (e as Error).message
            })`,
          );
        }
        await this.#sleep(delay);
        delay = Math.min(delay * 2, 1000);
      }
    }
  }

  async #resolve(to: ComponentId, fresh: boolean): Promise<string> {
    const local = this.#shared.local.get(to);
    if (local?.listenAddress) return local.listenAddress;
    if (!fresh) {
      const known = this.#shared.book.get(to);
      if (known) return known;
    }
    const manager = this.#settings.manager;
    if (manager && to !== manager && manager !== this.id) {
      let answer: { payload: Uint8Array };
      try {
        const connection = this.#connectionTo(manager) ?? await this.#dial(manager);
        answer = await connection.request({ type: Control.WHOIS }, utf8.encode(to));
      } catch (e) {
        if (e instanceof KernelError && e.code === "ENOENT") {
          throw new UnreachableError(to, `the manager ${manager} knows no such component`);
        }
        throw new UnreachableError(
          to,
          `the manager ${manager} could not be asked where it is (${(e as Error).message})`,
        );
      }
      const address = payloadText(answer.payload);
      try {
        this.#shared.book.set(to, address, "resolved");
      } catch {
        throw new UnreachableError(
          to,
          `the manager ${manager} gave a bad address ${JSON.stringify(address)}`,
        );
      }
      return address;
    }
    const known = this.#shared.book.get(to);
    if (known) return known;
    throw new UnreachableError(
      to,
      this.#peers.has(to)
        ? "its connection is gone and it gave no address to dial it back"
        : manager
        ? "no address is known for it"
        : "no address is known for it and no manager is configured to ask",
    );
  }

  /** Opens a TCP connection to `address` and runs the dialer's handshake. */
  async #connect(to: ComponentId, address: string): Promise<Connection> {
    const { hostname, port } = parseHostPort(address);
    const abort = new AbortController();
    const onClose = () => abort.abort();
    this.#abort.signal.addEventListener("abort", onClose);
    const timer = setTimeout(() => abort.abort(), this.#settings.connectTimeoutMs);
    let socket: Deno.TcpConn;
    try {
      socket = await Deno.connect({ hostname, port, transport: "tcp", signal: abort.signal });
    } catch (e) {
      throw abort.signal.aborted && !this.#closed
        ? new Error(`connect timed out after ${this.#settings.connectTimeoutMs} ms`)
        : e;
    } finally {
      clearTimeout(timer);
      this.#abort.signal.removeEventListener("abort", onClose);
    }
    this.#counts.dials++;
    const result = await this.#handshake(
      socket,
      (io) => dialHandshake(io, this.#self(), to, this.#listenAddress ?? ""),
    );
    return this.#adopt(socket, result.reader, { ...result, peer: to }, false);
  }

  #self() {
    return { id: this.id, key: this.#settings.key, credits: this.#window };
  }

  /** Runs a handshake on `socket` with a deadline; closes the socket when it fails. */
  async #handshake(
    socket: Deno.TcpConn,
    run: (io: HandshakeIo) => Promise<HandshakeResult>,
  ): Promise<HandshakeResult & { reader: FrameReader }> {
    socket.setNoDelay(true);
    // Handshake frames are small: a peer announcing a big one is not a legoemu peer, and
    // an unauthenticated peer gets a small read buffer (the full chunk comes with trust).
    const reader = new FrameReader(socket, 64 * 1024, HANDSHAKE_CHUNK_BYTES);
    this.#handshaking.set(socket, reader);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      closeQuietly(socket);
    }, this.#settings.handshakeTimeoutMs);
    try {
      const result = await run({ reader, write: (frame) => writeAll(socket, frame) });
      this.#checkOpen("connect");
      return { ...result, reader };
    } catch (e) {
      closeQuietly(socket);
      if (timedOut) {
        throw new HandshakeError(`no handshake within ${this.#settings.handshakeTimeoutMs} ms`);
      }
      throw e;
    } finally {
      clearTimeout(timer);
      this.#handshaking.delete(socket);
    }
  }

  /** Wraps an authenticated socket in a {@link Connection} and records it. */
  #adopt(
    socket: Deno.TcpConn,
    handshakeReader: FrameReader,
    result: HandshakeResult,
    inbound: boolean,
  ): Connection {
    const remote = socket.remoteAddr as Deno.NetAddr;
    // From now on frames may be as large as the limit allows.
    const reader = handshakeReader.withLimit(this.#settings.maxFrameBytes);
    const connection = new Connection(socket, reader, this, {
      peer: result.peer,
      inbound,
      remoteAddress: formatHostPort(remote.hostname, remote.port),
      sendCredits: result.credits,
      window: this.#window,
      opTimeoutMs: this.#settings.opTimeoutMs,
      maxOpsInFlight: this.#settings.maxOpsInFlight,
      maxQueuedBytes: this.#settings.maxQueuedBytes,
    });
    this.#peer(result.peer).connections.push(connection);
    return connection;
  }

  async #accept(): Promise<void> {
    const listener = this.#listener;
    if (!listener) return;
    while (!this.#closed) {
      let socket: Deno.TcpConn;
      try {
        socket = await listener.accept();
      } catch (e) {
        if (this.#closed) return;
        this.#settings.log(`accept failed: ${(e as Error).message}`);
        await this.#sleep(50).catch(() => {});
        continue;
      }
      if (this.#closed) {
        closeQuietly(socket);
        return;
      }
      if (this.#pendingInbound >= this.#settings.maxPendingHandshakes) {
        // Unauthenticated connections are capped: shed this one before reading a byte.
        closeQuietly(socket);
        if (this.#counts.handshakesShed++ % 1000 === 0) {
          this.#settings.log(
            `${this.#settings.maxPendingHandshakes} handshakes pending: closing new connections (maxPendingHandshakes)`,
          );
        }
        continue;
      }
      this.#pendingInbound++;
      void this.#admit(socket).finally(() => this.#pendingInbound--);
    }
  }

  async #admit(socket: Deno.TcpConn): Promise<void> {
    const remote = socket.remoteAddr as Deno.NetAddr;
    const from = formatHostPort(remote.hostname, remote.port);
    let result: HandshakeResult & { reader: FrameReader };
    try {
      result = await this.#handshake(socket, (io) => acceptHandshake(io, this.#self()));
    } catch (e) {
      if (this.#closed) return;
      this.#counts.refused++;
      this.#settings.log(`refused a connection from ${from}: ${(e as Error).message}`);
      return;
    }
    this.#counts.accepted++;
    if (result.listen) {
      try {
        const { hostname, port } = parseHostPort(result.listen);
        // A peer listening on every interface is reachable where it came from.
        const host = hostname === "0.0.0.0" || hostname === "::" ? remote.hostname : hostname;
        this.#shared.book.set(result.peer, formatHostPort(host, port), "learnt");
      } catch {
        this.#settings.log(`${result.peer} announced a bad listen address ${result.listen}`);
      }
    }
    this.#adopt(socket, result.reader, result, true);
  }

  /**
   * Runs every ping interval: a connection that received nothing during the last
   * interval gets a PING; one silent for three intervals in a row is closed.
   */
  #ping(): void {
    const interval = this.#settings.pingIntervalMs;
    for (const peer of this.#peers.values()) {
      for (const connection of peer.connections) {
        const seen = this.#readsSeen.get(connection);
        this.#readsSeen.set(connection, { reads: connection.reads, silent: 0 });
        if (seen === undefined || seen.reads !== connection.reads) continue;
        const silent = seen.silent + 1;
        this.#readsSeen.set(connection, { reads: connection.reads, silent });
        if (silent >= 3) {
          connection.close(
            new Error(`nothing heard from ${connection.peer} for ${silent * interval} ms`),
          );
        } else connection.sendControl(encodeControl({ type: Control.PING }));
      }
    }
  }

  /** Answers a request lost with its connection by an error reply from the peer's id. */
  #failRequest(connection: Connection, requestId: number, code: number): void {
    const kind = KIND_BY_CODE.get(code);
    if (!kind) return;
    let frame: Uint8Array;
    try {
      frame = encode({
        kind,
        requestId,
        src: connection.peer,
        dst: this.id,
        flags: FLAG_REPLY | FLAG_ERROR,
        body: {
          code: "EHOSTUNREACH",
          message: `the connection was lost before it answered ${kind} (${connection.closeReason})`
            .slice(0, 1000),
        },
      });
    } catch {
      return;
    }
    this.receiveQueue.deliver({ from: connection.peer, bytes: frame }, undefined).catch(() => {});
  }

  /** Sleeps, or rejects with `ESHUTDOWN` as soon as the endpoint closes. */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const signal = this.#abort.signal;
      if (signal.aborted) {
        reject(new KernelError("ESHUTDOWN", `${this.id} is closed`));
        return;
      }
      const onAbort = () => {
        clearTimeout(timer);
        reject(new KernelError("ESHUTDOWN", `${this.id} is closed`));
      };
      const timer = setTimeout(() => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }
}

/** Region keys are positive u32s; anything else names no region anywhere. */
function checkKey(owner: ComponentId, key: number): void {
  if (!Number.isInteger(key) || key < 1 || key > 0xffffffff) {
    throw new KernelError("EINVAL", `${owner} has no registered region with key ${key}`);
  }
}

function addStats(into: ConnectionStats, from: ConnectionStats): void {
  into.framesSent += from.framesSent;
  into.bytesSent += from.bytesSent;
  into.framesReceived += from.framesReceived;
  into.bytesReceived += from.bytesReceived;
  into.writes += from.writes;
}

async function writeAll(socket: Deno.TcpConn, data: Uint8Array): Promise<void> {
  let written = 0;
  while (written < data.length) written += await socket.write(data.subarray(written));
}

function closeQuietly(socket: Deno.TcpConn): void {
  try {
    socket.close();
  } catch {
    // Already closed.
  }
}
