/**
 * One component's attachment to the RDMA transport.
 *
 * **Connectionless mode** (FaSST/eRPC style): one UD queue pair and one shared receive
 * queue of MTU-sized buffers serve every peer; a frame travels as UD SENDs of at most
 * one MTU each (a 16-byte chunk header says which frame and where in it). Receive
 * memory is the SRQ's, whatever the number of peers.
 *
 * **Connected mode** (LegoOS/LITE style): a sender gets an RC queue pair per peer and
 * writes chunks into a ring of slots the receiver registered for it, with RDMA WRITE
 * WITH IMMEDIATE (the immediate names the slot); the receiver's SRQ holds zero-length
 * receives that only carry those notifications. Receive memory grows with the peers.
 *
 * In both modes one-sided `read`/`write` are RDMA READ/WRITE over an RC queue pair to
 * the region's owner (UD cannot carry them), and the receiver hands frame credits back
 * as the consumer takes frames (a zero-length SEND or WRITE WITH IMMEDIATE), which is
 * how `send` waits while the destination's receive queue is full. Queue-pair numbers,
 * ports, rings and region sizes are exchanged over the TCP transport (`control.ts`).
 *
 * @module
 */

import { KernelError, UnreachableError } from "../../kernel/errors.ts";
import type { ComponentId } from "../../kernel/ids.ts";
import {
  type MemoryRegion,
  type RegionAccess,
  SENT,
  type TransportEndpoint,
} from "../../kernel/transport.ts";
import { VERBS } from "./abi.ts";
import {
  type ControlReply,
  type ControlRequest,
  decodeControl,
  encodeControl,
  type EndpointInfo,
  type RegionInfo,
  type RingInfo,
} from "./control.ts";
import { CreditedQueue } from "./credited_queue.ts";
import type { SharedDevice } from "./device.ts";
import { CompletionError } from "./errors.ts";
import {
  type AddressHandle,
  completionError,
  type CompletionQueue,
  type MemoryRegistration,
  PinnedMemory,
  POLL_BATCH,
  type ProtectionDomain,
  type QueuePair,
  type SharedReceiveQueue,
  type WorkCompletion,
} from "./verbs.ts";

/** Which RPC design the transport follows. */
export type RdmaMode = "connectionless" | "connected";

/** Settings every endpoint of a transport shares. */
export interface EndpointSettings {
  /** Connectionless (UD + SRQ) or connected (RC + WRITE_WITH_IMM). */
  mode: RdmaMode;
  /** Frames a peer may have unconsumed in this endpoint's queue (and it in the peer's). */
  windowFrames: number;
  /** Receives posted on the shared receive queue. */
  srqDepth: number;
  /** Connected mode: slots of the ring each sender gets. */
  ringSlots: number;
  /** Connected mode: bytes per ring slot (and per send buffer). */
  slotBytes: number;
  /** Send buffers (each one chunk in flight). */
  sendBuffers: number;
  /** Longest wait for a one-sided operation or a control reply, ms. */
  opTimeoutMs: number;
}

/** Receive-side memory an endpoint has registered, by purpose. */
export interface ReceiveMemory {
  /** Bytes of shared-receive-queue buffers (connectionless mode). */
  srqBytes: number;
  /** Bytes of per-sender rings (connected mode). */
  ringBytes: number;
  /** Senders holding a ring here. */
  rings: number;
  /** `srqBytes + ringBytes`. */
  totalBytes: number;
}

/** An RDMA endpoint: the transport interface plus what it allocated. */
export interface RdmaEndpoint extends TransportEndpoint {
  /** `{ tcp: control address, rdma: "device:port lid=… qpn=…" }`. */
  readonly addresses: Readonly<Record<string, string>>;
  /** Receive buffers this endpoint registered, as of now. */
  receiveMemory(): ReceiveMemory;
  /** Fetch-and-add on the 8-byte word at `offset` of region `key` of `to`; resolves to the old value. */
  fetchAdd(to: ComponentId, key: number, offset: number, add: bigint): Promise<bigint>;
  /** Compare-and-swap on the 8-byte word at `offset`; resolves to the old value. */
  compareSwap(
    to: ComponentId,
    key: number,
    offset: number,
    expect: bigint,
    swap: bigint,
  ): Promise<bigint>;
}

/** The TCP endpoint the control channel uses (the subset it needs). */
export interface ControlEndpoint {
  /** Its addresses. */
  readonly addresses?: Readonly<Record<string, string>>;
  /** Its receive queue. */
  readonly receiveQueue: { take(): Promise<{ from: ComponentId; bytes: Uint8Array } | undefined> };
  /** Sends a frame. */
  send(to: ComponentId, frame: Uint8Array): Promise<void>;
  /** Closes it. */
  close(): Promise<void>;
}

const HEADER = 16; // chunk header: frame length, offset, frame sequence, reserved
const GRH = 40; // UD receives start with room for a global route header
const CREDIT = 0x8000_0000; // immediate: a credit message (else a ring slot index)
const QKEY = 0x4c45_474f;
const K = 2 ** 32; // wrId = kind * K + index
enum Wr {
  Slot = 1,
  Recv = 2,
  Op = 3,
  Control = 4,
}

interface Connection {
  readonly qp: QueuePair;
  readonly peer: Peer;
  /** Outgoing, connected mode: the receiver's ring. */
  ring?: RingInfo;
  nextSlot: number;
  chunkCredits: number;
  chunkWaiters: (() => void)[];
  /** Inbound, connected mode: the ring this endpoint registered for the sender. */
  localRing?: { memory: PinnedMemory; mr: MemoryRegistration; slots: number; slotBytes: number };
  broken: boolean;
}

interface Peer {
  readonly id: ComponentId;
  readonly info: EndpointInfo;
  readonly ah: AddressHandle;
  frameCredits: number;
  creditWaiters: (() => void)[];
  sendSeq: number;
  expectSeq: number;
  partial: Map<number, { bytes: Uint8Array; got: number }>;
  ready: Map<number, Uint8Array>;
  framesOwed: number;
  chunksOwed: number;
  out?: Connection;
  connecting?: Promise<Connection>;
  in?: Connection;
  regions: Map<number, RegionInfo>;
  gone: boolean;
}

interface LocalRegion {
  readonly mr: MemoryRegistration;
  readonly region: MemoryRegion;
}

interface PendingOp {
  resolve: (wc: WorkCompletion) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** Creates an endpoint; used by the transport's `attach`. */
export async function openEndpoint(
  id: ComponentId,
  device: SharedDevice,
  control: ControlEndpoint,
  settings: EndpointSettings,
  queueFrames: number,
): Promise<RdmaEndpoint> {
  const endpoint = new RdmaEndpointImpl(id, device, control, settings, queueFrames);
  await Promise.resolve();
  return endpoint;
}

class RdmaEndpointImpl implements RdmaEndpoint {
  readonly id: ComponentId;
  readonly receiveQueue: CreditedQueue<Peer>;
  readonly addresses: Readonly<Record<string, string>>;
  readonly cq: CompletionQueue;
  readonly #device: SharedDevice;
  readonly #control: ControlEndpoint;
  readonly #settings: EndpointSettings;
  readonly #pd: ProtectionDomain;
  readonly #srq: SharedReceiveQueue;
  readonly #ud: QueuePair;
  readonly #recv?: { memory: PinnedMemory; mr: MemoryRegistration; bytes: number };
  readonly #send: { memory: PinnedMemory; mr: MemoryRegistration; free: number[] };
  readonly #sendWaiters: (() => void)[] = [];
  readonly #chunkBytes: number;
  readonly #peers = new Map<ComponentId, Peer>();
  readonly #hellos = new Map<ComponentId, Promise<Peer>>();
  readonly #byUdQpn = new Map<number, Peer>();
  readonly #byQpn = new Map<number, Connection>();
  readonly #regions = new Map<number, LocalRegion>();
  readonly #ops = new Map<number, PendingOp>();
  readonly #controlWaiters = new Map<
    number,
    {
      resolve: (r: ControlReply) => void;
      reject: (e: Error) => void;
      timer: ReturnType<typeof setTimeout>;
    }
  >();
  #nextOp = 1;
  #nextControl = 1;
  #flushScheduled = false;
  #closed = false;
  #closing?: Promise<void>;
  readonly #controlLoop: Promise<void>;

  constructor(
    id: ComponentId,
    device: SharedDevice,
    control: ControlEndpoint,
    settings: EndpointSettings,
    queueFrames: number,
  ) {
    this.id = id;
    this.#device = device;
    this.#control = control;
    this.#settings = settings;
    this.receiveQueue = new CreditedQueue<Peer>(queueFrames, (peer) => this.#frameTaken(peer));
    const ctx = device.context;
    this.#pd = ctx.allocPd();
    const connectionless = settings.mode === "connectionless";
    const mtuBytes = device.portAttributes.activeMtuBytes;
    this.#chunkBytes = connectionless ? mtuBytes - HEADER : settings.slotBytes - HEADER;
    const sendSlotBytes = connectionless ? mtuBytes : settings.slotBytes;
    this.cq = ctx.createCq(
      settings.srqDepth + settings.sendBuffers * 2 + 1024,
      device.channel,
    );
    this.#srq = this.#pd.createSrq(settings.srqDepth);
    if (connectionless) {
      const bytes = GRH + mtuBytes;
      const memory = new PinnedMemory(ctx.libc, bytes * settings.srqDepth);
      const mr = this.#pd.register(memory, VERBS.IBV_ACCESS_LOCAL_WRITE);
      this.#recv = { memory, mr, bytes };
    }
    const sendMemory = new PinnedMemory(ctx.libc, sendSlotBytes * settings.sendBuffers);
    this.#send = {
      memory: sendMemory,
      mr: this.#pd.register(sendMemory, VERBS.IBV_ACCESS_LOCAL_WRITE),
      free: Array.from({ length: settings.sendBuffers }, (_, i) => settings.sendBuffers - 1 - i),
    };
    this.#sendSlotBytes = sendSlotBytes;
    const ids = Array.from({ length: settings.srqDepth }, (_, i) => Wr.Recv * K + i);
    this.#srq.postRecv(ids, ids.map((_, i) => this.#recvSge(i)));
    this.#ud = this.#pd.createQp({
      type: "UD",
      sendCq: this.cq,
      recvCq: this.cq,
      srq: this.#srq,
      maxSendWr: settings.sendBuffers * 2 + 64,
    });
    this.#ud.toInit(device.port, QKEY);
    this.#ud.toRtr({}, device.port);
    this.#ud.toRts();
    device.add(this);
    const where = device.address();
    this.addresses = {
      ...control.addresses,
      rdma: `${device.context.deviceName}:${device.port} lid=${where.lid} qpn=${this.#ud.qpn}`,
    };
    this.#controlLoop = this.#serveControl();
  }

  readonly #sendSlotBytes: number;

  #recvSge(index: number) {
    if (!this.#recv) return undefined; // connected mode: zero-length notification receives
    return {
      address: this.#recv.memory.address + BigInt(index * this.#recv.bytes),
      length: this.#recv.bytes,
      lkey: this.#recv.mr.lkey,
    };
  }

  #info(): EndpointInfo {
    const where = this.#device.address();
    return {
      mode: this.#settings.mode,
      lid: where.lid,
      gid: [...where.gid].map((b) => b.toString(16).padStart(2, "0")).join(""),
      global: where.global,
      mtu: this.#device.portAttributes.activeMtu,
      udQpn: this.#ud.qpn,
      qkey: QKEY,
      queueFrames: this.receiveQueue.capacity,
      chunkBytes: this.#chunkBytes,
    };
  }

  receiveMemory(): ReceiveMemory {
    const srqBytes = this.#recv?.memory.bytes.length ?? 0;
    let ringBytes = 0;
    let rings = 0;
    for (const peer of this.#peers.values()) {
      const ring = peer.in?.localRing;
      if (ring) {
        ringBytes += ring.memory.bytes.length;
        rings++;
      }
    }
    return { srqBytes, ringBytes, rings, totalBytes: srqBytes + ringBytes };
  }

  // ---- progress ----

  pump(): number {
    // Each poll and post is one call through a function pointer, which Deno's FFI makes
    // expensive (see rdma.ffi.post_poll_ns): poll again only after a full batch, and give
    // the receive buffers back in one chained post.
    let total = 0;
    let n;
    do {
      n = this.cq.poll(this.#onCompletion);
      total += n;
    } while (n === POLL_BATCH);
    if (this.#repost.length > 0 && !this.#closed) {
      const ids = this.#repost.splice(0);
      this.#srq.postRecv(ids, ids.map((id) => this.#recvSge(id % K)));
    }
    return total;
  }

  readonly #repost: number[] = [];
  readonly #onCompletion = (wc: WorkCompletion) => this.#complete(wc);

  #complete(wc: WorkCompletion): void {
    const kind = Math.floor(wc.wrId / K);
    const index = wc.wrId % K;
    switch (kind) {
      case Wr.Slot:
        this.#releaseSlot(index);
        if (wc.status !== 0) this.#sendFailed(wc);
        break;
      case Wr.Control:
        if (wc.status !== 0) this.#sendFailed(wc);
        break;
      case Wr.Op: {
        const op = this.#ops.get(index);
        if (op) {
          this.#ops.delete(index);
          clearTimeout(op.timer);
          op.resolve(wc);
        }
        if (wc.status !== 0) this.#sendFailed(wc);
        break;
      }
      case Wr.Recv:
        this.#received(wc, index);
        break;
    }
  }

  /** A send-side work request failed: its connection is unusable from now on. */
  #sendFailed(wc: WorkCompletion): void {
    const conn = this.#byQpn.get(wc.qpNum);
    if (!conn) return;
    conn.broken = true;
    if (
      wc.status === VERBS.IBV_WC_RETRY_EXC_ERR || wc.status === VERBS.IBV_WC_RNR_RETRY_EXC_ERR
    ) this.#forget(conn.peer); // nobody answers at the other end any more
    else if (conn.peer.out === conn) conn.peer.out = undefined;
    this.#byQpn.delete(wc.qpNum);
    try {
      conn.qp.destroy();
    } catch { /* already gone */ }
    for (const wake of conn.chunkWaiters.splice(0)) wake();
  }

  #received(wc: WorkCompletion, index: number): void {
    if (this.#closed) return;
    try {
      if (wc.status !== 0) return; // a flushed or malformed receive: nothing arrived
      const withImm = (wc.flags & VERBS.IBV_WC_WITH_IMM) !== 0;
      if (this.#recv) {
        const peer = this.#byUdQpn.get(wc.srcQp);
        if (!peer) return; // not a peer (or the engine's wake-up): dropped, as UD would
        if (withImm) {
          if (wc.imm & CREDIT) this.#credit(peer, wc.imm, undefined);
          return;
        }
        const start = index * this.#recv.bytes + GRH;
        this.#chunk(peer, this.#recv.memory.bytes.subarray(start, start + wc.byteLength - GRH));
        return;
      }
      const conn = this.#byQpn.get(wc.qpNum);
      if (!conn || !withImm) return;
      if (wc.imm & CREDIT) {
        this.#credit(conn.peer, wc.imm, conn);
        return;
      }
      const ring = conn.localRing;
      if (!ring || wc.imm >= ring.slots) return;
      const start = wc.imm * ring.slotBytes;
      this.#chunk(conn.peer, ring.memory.bytes.subarray(start, start + wc.byteLength));
      conn.peer.chunksOwed++;
      this.#scheduleFlush();
    } finally {
      // The buffer was copied out above: it goes back with the pump's next repost.
      this.#repost.push(wc.wrId);
    }
  }

  #credit(peer: Peer, imm: number, conn: Connection | undefined): void {
    peer.frameCredits += (imm >>> 16) & 0x7fff;
    for (let n = peer.creditWaiters.length; n > 0 && peer.frameCredits > 0; n--) {
      peer.creditWaiters.shift()!();
    }
    if (conn) {
      conn.chunkCredits += imm & 0xffff;
      for (let n = conn.chunkWaiters.length; n > 0 && conn.chunkCredits > 0; n--) {
        conn.chunkWaiters.shift()!();
      }
    }
  }

  /** One chunk of a frame from `peer` (a view of the receive buffer: copied here). */
  #chunk(peer: Peer, data: Uint8Array): void {
    if (data.length < HEADER) return;
    const v = new DataView(data.buffer, data.byteOffset, HEADER);
    const total = v.getUint32(0, true);
    const offset = v.getUint32(4, true);
    const seq = v.getUint32(8, true);
    const payload = data.subarray(HEADER);
    if (offset + payload.length > total) return;
    let frame: Uint8Array | undefined;
    if (offset === 0 && payload.length === total) frame = payload.slice();
    else {
      let part = peer.partial.get(seq);
      if (!part) peer.partial.set(seq, part = { bytes: new Uint8Array(total), got: 0 });
      part.bytes.set(payload, offset);
      part.got += payload.length;
      if (part.got >= total) {
        peer.partial.delete(seq);
        frame = part.bytes;
      }
    }
    if (!frame) return;
    if (seq !== peer.expectSeq) {
      peer.ready.set(seq, frame); // frames from one sender are delivered in order
      return;
    }
    this.#deliver(peer, frame);
    for (let next = peer.ready.get(peer.expectSeq); next; next = peer.ready.get(peer.expectSeq)) {
      peer.ready.delete(peer.expectSeq);
      this.#deliver(peer, next);
    }
  }

  #deliver(peer: Peer, frame: Uint8Array): void {
    peer.expectSeq = (peer.expectSeq + 1) >>> 0;
    const put = this.receiveQueue.deliver({ from: peer.id, bytes: frame }, peer);
    if (put !== SENT) put.catch(() => {/* closed meanwhile */});
  }

  #frameTaken(peer: Peer): void {
    if (peer.gone) return;
    peer.framesOwed++;
    this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    queueMicrotask(() => {
      this.#flushScheduled = false;
      this.#flushCredits();
    });
  }

  /** Hands owed credits back: one message per peer per batch of takes. */
  #flushCredits(): void {
    if (this.#closed) return;
    for (const peer of this.#peers.values()) {
      while ((peer.framesOwed > 0 || peer.chunksOwed > 0) && !peer.gone) {
        const frames = Math.min(peer.framesOwed, 0x7fff);
        const chunks = Math.min(peer.chunksOwed, 0xffff);
        const imm = (CREDIT | (frames << 16) | chunks) >>> 0;
        try {
          if (this.#recv) {
            this.#ud.postSend({
              wrId: Wr.Control * K,
              opcode: VERBS.IBV_WR_SEND_WITH_IMM,
              imm,
              ah: peer.ah,
              remoteQpn: peer.info.udQpn,
              remoteQkey: peer.info.qkey,
            });
          } else {
            const conn = peer.in;
            if (!conn || conn.broken) break;
            conn.qp.postSend({
              wrId: Wr.Control * K,
              opcode: VERBS.IBV_WR_RDMA_WRITE_WITH_IMM,
              imm,
            });
          }
        } catch {
          break; // the send queue is full: the next flush retries
        }
        peer.framesOwed -= frames;
        peer.chunksOwed -= chunks;
      }
    }
    this.#device.kick();
  }

  // ---- two-sided ----

  send(to: ComponentId, frame: Uint8Array): Promise<void> {
    if (this.#closed) return Promise.reject(this.#shutdown());
    const peer = this.#peers.get(to);
    if (peer && !peer.gone && peer.frameCredits > 0 && this.#sendsNow(peer, frame)) {
      peer.frameCredits--;
      this.#postFrame(peer, peer.sendSeq, frame, this.#recv ? undefined : peer.out);
      peer.sendSeq = (peer.sendSeq + 1) >>> 0;
      return SENT;
    }
    return this.#sendSlow(to, frame);
  }

  sendCopy(to: ComponentId, frame: Uint8Array): Promise<void> {
    // A frame that goes out at once is copied into a registered send buffer by the post;
    // one that has to wait is copied here, since the caller may reuse its buffer.
    const peer = this.#peers.get(to);
    if (peer && !peer.gone && peer.frameCredits > 0 && this.#sendsNow(peer, frame)) {
      return this.send(to, frame);
    }
    return this.send(to, frame.slice());
  }

  /** Whether `frame` can go out at once: one chunk, a free buffer, a ready connection. */
  #sendsNow(peer: Peer, frame: Uint8Array): boolean {
    if (frame.length > this.#chunkFor(peer) || this.#send.free.length === 0) return false;
    if (this.#recv) return true;
    const conn = peer.out;
    return !!conn && !conn.broken && conn.chunkCredits > 0;
  }

  #chunkFor(peer: Peer): number {
    const remote = this.#recv ? peer.info.chunkBytes : (peer.out?.ring?.slotBytes ?? 0) - HEADER;
    return Math.max(1, Math.min(this.#chunkBytes, remote > 0 ? remote : this.#chunkBytes));
  }

  async #sendSlow(to: ComponentId, frame: Uint8Array): Promise<void> {
    const peer = await this.#peer(to);
    while (peer.frameCredits <= 0) {
      await new Promise<void>((resolve) => peer.creditWaiters.push(resolve));
      this.#check(peer);
    }
    peer.frameCredits--;
    const seq = peer.sendSeq;
    peer.sendSeq = (peer.sendSeq + 1) >>> 0;
    const conn = this.#recv ? undefined : await this.#connection(peer);
    const chunk = this.#chunkFor(peer);
    let offset = 0;
    do {
      const length = Math.min(chunk, frame.length - offset);
      if (conn) {
        while (conn.chunkCredits <= 0) {
          await new Promise<void>((resolve) => conn.chunkWaiters.push(resolve));
          this.#check(peer);
          if (conn.broken) throw new UnreachableError(to, "its RC connection failed");
        }
      }
      while (this.#send.free.length === 0) {
        await new Promise<void>((resolve) => this.#sendWaiters.push(resolve));
        this.#check(peer);
      }
      this.#postChunk(peer, seq, frame, offset, length, conn);
      offset += length;
    } while (offset < frame.length);
  }

  #check(peer: Peer): void {
    if (this.#closed) throw this.#shutdown();
    if (peer.gone) throw new UnreachableError(peer.id, "it left");
  }

  #postFrame(peer: Peer, seq: number, frame: Uint8Array, conn: Connection | undefined): void {
    this.#postChunk(peer, seq, frame, 0, frame.length, conn);
  }

  #postChunk(
    peer: Peer,
    seq: number,
    frame: Uint8Array,
    offset: number,
    length: number,
    conn: Connection | undefined,
  ): void {
    const slot = this.#send.free.pop()!;
    const base = slot * this.#sendSlotBytes;
    const v = this.#send.memory.view;
    v.setUint32(base, frame.length, true);
    v.setUint32(base + 4, offset, true);
    v.setUint32(base + 8, seq, true);
    v.setUint32(base + 12, 0, true);
    this.#send.memory.bytes.set(frame.subarray(offset, offset + length), base + HEADER);
    const sge = {
      address: this.#send.memory.address + BigInt(base),
      length: HEADER + length,
      lkey: this.#send.mr.lkey,
    };
    try {
      if (!conn) {
        this.#ud.postSend({
          wrId: Wr.Slot * K + slot,
          opcode: VERBS.IBV_WR_SEND,
          sge,
          ah: peer.ah,
          remoteQpn: peer.info.udQpn,
          remoteQkey: peer.info.qkey,
        });
      } else {
        const ring = conn.ring!;
        const index = conn.nextSlot;
        conn.nextSlot = (conn.nextSlot + 1) % ring.slots;
        conn.chunkCredits--;
        conn.qp.postSend({
          wrId: Wr.Slot * K + slot,
          opcode: VERBS.IBV_WR_RDMA_WRITE_WITH_IMM,
          sge,
          imm: index,
          remoteAddress: BigInt(index * ring.slotBytes),
          rkey: ring.rkey,
        });
      }
    } catch (e) {
      this.#releaseSlot(slot);
      throw e;
    }
    this.#device.kick();
  }

  #releaseSlot(slot: number): void {
    this.#send.free.push(slot);
    this.#sendWaiters.shift()?.();
  }

  // ---- peers and connections ----

  #peer(to: ComponentId): Promise<Peer> {
    const known = this.#peers.get(to);
    if (known && !known.gone) return Promise.resolve(known);
    let hello = this.#hellos.get(to);
    if (!hello) {
      hello = (async () => {
        try {
          const reply = await this.#request(to, { op: "hello", info: this.#info() });
          if (!reply.ok || !reply.info) throw new UnreachableError(to, "it refused the RDMA hello");
          return this.#adopt(to, reply.info);
        } finally {
          this.#hellos.delete(to);
        }
      })();
      this.#hellos.set(to, hello);
    }
    return hello;
  }

  /** Records peer `id` from its `info` (on either side of a hello). */
  #adopt(id: ComponentId, info: EndpointInfo): Peer {
    if (info.mode !== this.#settings.mode) {
      throw new KernelError(
        "EPROTO",
        `${id} runs the RDMA transport in ${info.mode} mode, ${this.id} in ${this.#settings.mode} mode`,
      );
    }
    const existing = this.#peers.get(id);
    if (existing && !existing.gone && existing.info.udQpn === info.udQpn) return existing;
    if (existing) this.#forget(existing);
    const gid = new Uint8Array(16);
    for (let i = 0; i < 16; i++) gid[i] = parseInt(info.gid.slice(2 * i, 2 * i + 2), 16) || 0;
    const ah = this.#pd.createAh(
      { lid: info.lid, gid, global: info.global, gidIndex: this.#device.gidIndex },
      this.#device.port,
    );
    const peer: Peer = {
      id,
      info,
      ah,
      frameCredits: Math.min(this.#settings.windowFrames, info.queueFrames),
      creditWaiters: [],
      sendSeq: 0,
      expectSeq: 0,
      partial: new Map(),
      ready: new Map(),
      framesOwed: 0,
      chunksOwed: 0,
      regions: new Map(),
      gone: false,
    };
    this.#peers.set(id, peer);
    this.#byUdQpn.set(info.udQpn, peer);
    return peer;
  }

  /** Drops everything known about `peer`; waiting sends fail with UnreachableError. */
  #forget(peer: Peer): void {
    if (peer.gone) return;
    peer.gone = true;
    if (this.#peers.get(peer.id) === peer) this.#peers.delete(peer.id);
    if (this.#byUdQpn.get(peer.info.udQpn) === peer) this.#byUdQpn.delete(peer.info.udQpn);
    for (const conn of [peer.out, peer.in]) {
      if (!conn) continue;
      conn.broken = true;
      this.#byQpn.delete(conn.qp.qpn);
      try {
        conn.qp.destroy();
      } catch { /* already gone */ }
      conn.localRing?.mr.deregister();
      conn.localRing?.memory.free();
      for (const wake of conn.chunkWaiters.splice(0)) wake();
    }
    peer.out = peer.in = undefined;
    try {
      peer.ah.destroy();
    } catch { /* already gone */ }
    for (const wake of peer.creditWaiters.splice(0)) wake();
  }

  /** The outgoing RC connection to `peer`, set up over the control channel on first use. */
  #connection(peer: Peer): Promise<Connection> {
    if (peer.out && !peer.out.broken) return Promise.resolve(peer.out);
    peer.connecting ??= (async () => {
      try {
        const qp = this.#newRcQp();
        try {
          const psn = Math.floor(Math.random() * 0xffffff);
          const reply = await this.#request(peer.id, { op: "connect", qpn: qp.qpn, psn });
          if (!reply.ok || reply.qpn === undefined) {
            throw new UnreachableError(
              peer.id,
              `it refused an RC connection (${reply.ok ? "" : reply.error})`,
            );
          }
          this.#check(peer);
          this.#ready(qp, peer, reply.qpn, reply.psn ?? 0, psn);
          const conn: Connection = {
            qp,
            peer,
            ring: reply.ring,
            nextSlot: 0,
            chunkCredits: reply.ring?.slots ?? 0,
            chunkWaiters: [],
            broken: false,
          };
          this.#byQpn.set(qp.qpn, conn);
          peer.out = conn;
          return conn;
        } catch (e) {
          qp.destroy();
          throw e;
        }
      } finally {
        peer.connecting = undefined;
      }
    })();
    return peer.connecting;
  }

  #newRcQp(): QueuePair {
    const qp = this.#pd.createQp({
      type: "RC",
      sendCq: this.cq,
      recvCq: this.cq,
      srq: this.#srq,
      maxSendWr: this.#settings.sendBuffers * 2 + 64,
    });
    qp.toInit(this.#device.port);
    return qp;
  }

  #ready(qp: QueuePair, peer: Peer, remoteQpn: number, remotePsn: number, localPsn: number): void {
    const gid = new Uint8Array(16);
    for (let i = 0; i < 16; i++) gid[i] = parseInt(peer.info.gid.slice(2 * i, 2 * i + 2), 16) || 0;
    qp.toRtr({
      remoteQpn,
      rqPsn: remotePsn,
      pathMtu: Math.min(peer.info.mtu, this.#device.portAttributes.activeMtu),
      remote: {
        lid: peer.info.lid,
        gid,
        global: peer.info.global,
        gidIndex: this.#device.gidIndex,
      },
    }, this.#device.port);
    qp.toRts(localPsn);
  }

  // ---- control channel ----

  async #serveControl(): Promise<void> {
    while (true) {
      const frame = await this.#control.receiveQueue.take();
      if (frame === undefined) return;
      const message = decodeControl(frame.bytes);
      if (!message) continue;
      if (message.t === "res") {
        const waiter = this.#controlWaiters.get(message.id);
        if (waiter) {
          this.#controlWaiters.delete(message.id);
          clearTimeout(waiter.timer);
          waiter.resolve(message.body);
        }
        continue;
      }
      let reply: ControlReply;
      try {
        reply = this.#answer(frame.from, message.body);
      } catch (e) {
        const err = e as KernelError;
        reply = { ok: false, error: err.message, code: err.code ?? "EIO" };
      }
      if (message.body.op === "bye") continue;
      this.#control.send(
        frame.from,
        encodeControl(this.id, frame.from, {
          t: "res",
          id: message.id,
          body: reply,
        }),
      ).catch(() => {/* the asker left */});
    }
  }

  #answer(from: ComponentId, request: ControlRequest): ControlReply {
    if (this.#closed) return { ok: false, error: `${this.id} is closing`, code: "ESHUTDOWN" };
    switch (request.op) {
      case "hello":
        this.#adopt(from, request.info);
        return { ok: true, info: this.#info() };
      case "connect": {
        const peer = this.#peers.get(from);
        if (!peer) return { ok: false, error: "connect before hello", code: "EPROTO" };
        if (peer.in) { // a reconnect replaces the old connection
          this.#byQpn.delete(peer.in.qp.qpn);
          try {
            peer.in.qp.destroy();
          } catch { /* already gone */ }
          peer.in.localRing?.mr.deregister();
          peer.in.localRing?.memory.free();
          peer.in = undefined;
        }
        const qp = this.#newRcQp();
        const psn = Math.floor(Math.random() * 0xffffff);
        this.#ready(qp, peer, request.qpn, request.psn, psn);
        const conn: Connection = {
          qp,
          peer,
          nextSlot: 0,
          chunkCredits: 0,
          chunkWaiters: [],
          broken: false,
        };
        let ring: RingInfo | undefined;
        if (!this.#recv) {
          const { ringSlots: slots, slotBytes } = this.#settings;
          const memory = new PinnedMemory(this.#device.context.libc, slots * slotBytes);
          const mr = this.#pd.register(
            memory,
            VERBS.IBV_ACCESS_LOCAL_WRITE | VERBS.IBV_ACCESS_REMOTE_WRITE,
          );
          conn.localRing = { memory, mr, slots, slotBytes };
          ring = { rkey: mr.rkey, slots, slotBytes };
        }
        this.#byQpn.set(qp.qpn, conn);
        peer.in = conn;
        return { ok: true, qpn: qp.qpn, psn, ring };
      }
      case "region": {
        const local = this.#regions.get(request.key);
        if (!local) return { ok: true };
        return {
          ok: true,
          region: {
            length: local.region.length,
            remoteRead: local.region.access.remoteRead,
            remoteWrite: local.region.access.remoteWrite,
          },
        };
      }
      case "bye": {
        const peer = this.#peers.get(from);
        if (peer) this.#forget(peer);
        return { ok: true };
      }
    }
  }

  async #request(to: ComponentId, body: ControlRequest): Promise<ControlReply> {
    const id = this.#nextControl++;
    const reply = new Promise<ControlReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#controlWaiters.delete(id);
        reject(
          new UnreachableError(
            to,
            `no answer to the RDMA ${body.op} in ${this.#settings.opTimeoutMs} ms`,
          ),
        );
      }, this.#settings.opTimeoutMs);
      this.#controlWaiters.set(id, { resolve, reject, timer });
    });
    try {
      await this.#control.send(to, encodeControl(this.id, to, { t: "req", id, body }));
    } catch (e) {
      const waiter = this.#controlWaiters.get(id);
      if (waiter) {
        clearTimeout(waiter.timer);
        this.#controlWaiters.delete(id);
      }
      reply.catch(() => {});
      if (e instanceof UnreachableError) throw e;
      throw new UnreachableError(to, (e as Error).message);
    }
    return await reply;
  }

  // ---- one-sided ----

  registerRegion(bytes: Uint8Array, access: RegionAccess): MemoryRegion {
    if (this.#closed) throw this.#shutdown();
    const flags = VERBS.IBV_ACCESS_LOCAL_WRITE |
      (access.remoteRead ? VERBS.IBV_ACCESS_REMOTE_READ : 0) |
      (access.remoteWrite ? VERBS.IBV_ACCESS_REMOTE_WRITE | VERBS.IBV_ACCESS_REMOTE_ATOMIC : 0);
    const mr = this.#pd.register(bytes, flags);
    const region: MemoryRegion = {
      key: mr.rkey,
      length: bytes.length,
      access: { remoteRead: access.remoteRead, remoteWrite: access.remoteWrite },
    };
    this.#regions.set(mr.rkey, { mr, region });
    return region;
  }

  deregisterRegion(region: MemoryRegion): void {
    const local = this.#regions.get(region.key);
    if (!local || local.region !== region) return;
    this.#regions.delete(region.key);
    local.mr.deregister();
  }

  async read(from: ComponentId, key: number, offset: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    await this.#oneSided(from, key, offset, length, "read", out);
    return out;
  }

  async write(to: ComponentId, key: number, offset: number, data: Uint8Array): Promise<void> {
    await this.#oneSided(to, key, offset, data.length, "write", data);
  }

  async fetchAdd(to: ComponentId, key: number, offset: number, add: bigint): Promise<bigint> {
    return await this.#atomic(to, key, offset, VERBS.IBV_WR_ATOMIC_FETCH_AND_ADD, add, 0n);
  }

  async compareSwap(
    to: ComponentId,
    key: number,
    offset: number,
    expect: bigint,
    swap: bigint,
  ): Promise<bigint> {
    return await this.#atomic(to, key, offset, VERBS.IBV_WR_ATOMIC_CMP_AND_SWP, expect, swap);
  }

  async #atomic(
    to: ComponentId,
    key: number,
    offset: number,
    opcode: number,
    compareAdd: bigint,
    swap: bigint,
  ): Promise<bigint> {
    if (offset % 8 !== 0) {
      throw new KernelError("EINVAL", `an atomic needs an 8-byte aligned offset, got ${offset}`);
    }
    const out = new Uint8Array(8);
    await this.#oneSided(to, key, offset, 8, "write", out, { opcode, compareAdd, swap });
    return new DataView(out.buffer).getBigUint64(0, true);
  }

  async #regionInfo(peer: Peer, key: number): Promise<RegionInfo> {
    const cached = peer.regions.get(key);
    if (cached) return cached;
    const reply = await this.#request(peer.id, { op: "region", key });
    if (!reply.ok || !reply.region) {
      throw new KernelError("EINVAL", `${peer.id} has no registered region with key ${key}`);
    }
    peer.regions.set(key, reply.region);
    return reply.region;
  }

  async #oneSided(
    peerId: ComponentId,
    key: number,
    offset: number,
    length: number,
    kind: "read" | "write",
    data: Uint8Array,
    atomic?: { opcode: number; compareAdd: bigint; swap: bigint },
  ): Promise<void> {
    if (this.#closed) throw this.#shutdown();
    const peer = await this.#peer(peerId);
    const region = await this.#regionInfo(peer, key);
    checkAccess(peer.id, key, region, offset, length, kind);
    if (length === 0) return;
    const conn = await this.#connection(peer);
    // Stage in a registered buffer: a send buffer when it fits, else one of its own.
    let slot: number | undefined;
    let own: { memory: PinnedMemory; mr: MemoryRegistration } | undefined;
    if (length <= this.#sendSlotBytes) {
      while (this.#send.free.length === 0) {
        await new Promise<void>((resolve) => this.#sendWaiters.push(resolve));
        this.#check(peer);
      }
      slot = this.#send.free.pop()!;
    } else {
      const memory = new PinnedMemory(this.#device.context.libc, length);
      own = { memory, mr: this.#pd.register(memory, VERBS.IBV_ACCESS_LOCAL_WRITE) };
    }
    const memory = own?.memory ?? this.#send.memory;
    const base = slot === undefined ? 0 : slot * this.#sendSlotBytes;
    const opcode = atomic?.opcode ??
      (kind === "read" ? VERBS.IBV_WR_RDMA_READ : VERBS.IBV_WR_RDMA_WRITE);
    try {
      if (kind === "write" && !atomic) memory.bytes.set(data, base);
      const id = this.#nextOp++;
      const done = new Promise<WorkCompletion>((resolve) => {
        const timer = setTimeout(() => {
          this.#ops.delete(id);
          resolve({
            wrId: 0,
            status: -1,
            opcode: 0,
            byteLength: 0,
            imm: 0,
            qpNum: 0,
            srcQp: 0,
            flags: 0,
          });
        }, this.#settings.opTimeoutMs);
        this.#ops.set(id, { resolve, timer });
      });
      conn.qp.postSend({
        wrId: Wr.Op * K + id,
        opcode,
        sge: {
          address: memory.address + BigInt(base),
          length,
          lkey: (own?.mr ?? this.#send.mr).lkey,
        },
        remoteAddress: BigInt(offset),
        rkey: key,
        compareAdd: atomic?.compareAdd,
        swap: atomic?.swap,
      });
      this.#device.kick();
      const wc = await done;
      if (wc.status === -1) {
        throw new KernelError(
          "ETIMEDOUT",
          `one-sided ${kind} of ${length} bytes at ${peer.id} took over ${this.#settings.opTimeoutMs} ms`,
        );
      }
      if (wc.status !== 0) {
        if (this.#closed) throw this.#shutdown();
        const verb = WR_NAME[opcode];
        const error = completionError(wc, verb, `region ${key} of ${peer.id}`);
        if (wc.status === VERBS.IBV_WC_REM_ACCESS_ERR) {
          // The region changed since it was looked up: say how, if it is gone.
          peer.regions.delete(key);
          const now = await this.#regionInfo(peer, key).catch((e) => e as Error);
          if (now instanceof KernelError && now.code === "EINVAL") {
            throw new KernelError("EINVAL", `${now.message} (${error.message})`);
          }
        }
        throw error;
      }
      if (kind === "read" || atomic) data.set(memory.bytes.subarray(base, base + length));
    } finally {
      if (slot !== undefined) this.#releaseSlot(slot);
      if (own) {
        own.mr.deregister();
        own.memory.free();
      }
    }
  }

  // ---- closing ----

  #shutdown(): KernelError {
    return new KernelError("ESHUTDOWN", `endpoint ${this.id} is closed`);
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    this.receiveQueue.close();
    // Tell peers, so their sends fail at once instead of going nowhere.
    await Promise.all(
      [...this.#peers.keys()].map((id) =>
        this.#control.send(id, encodeControl(this.id, id, { t: "req", id: 0, body: { op: "bye" } }))
          .catch(() => {})
      ),
    );
    for (const waiter of this.#controlWaiters.values()) {
      clearTimeout(waiter.timer);
      waiter.reject(this.#shutdown());
    }
    this.#controlWaiters.clear();
    await this.#control.close();
    await this.#controlLoop;
    for (const peer of [...this.#peers.values()]) this.#forget(peer);
    for (const wake of this.#sendWaiters.splice(0)) wake();
    for (const [id, op] of this.#ops) {
      clearTimeout(op.timer);
      op.resolve({
        wrId: 0,
        status: VERBS.IBV_WC_WR_FLUSH_ERR,
        opcode: 0,
        byteLength: 0,
        imm: 0,
        qpNum: 0,
        srcQp: 0,
        flags: 0,
      });
      this.#ops.delete(id);
    }
    this.#device.retire(this);
    this.pump();
    this.#ud.destroy();
    this.#srq.destroy();
    for (const local of this.#regions.values()) local.mr.deregister();
    this.#regions.clear();
    this.#send.mr.deregister();
    this.#send.memory.free();
    this.#recv?.mr.deregister();
    this.#recv?.memory.free();
    this.#pd.dealloc();
  }
}

const WR_NAME: Record<number, string> = {
  [VERBS.IBV_WR_RDMA_READ]: "IBV_WR_RDMA_READ",
  [VERBS.IBV_WR_RDMA_WRITE]: "IBV_WR_RDMA_WRITE",
  [VERBS.IBV_WR_ATOMIC_FETCH_AND_ADD]: "IBV_WR_ATOMIC_FETCH_AND_ADD",
  [VERBS.IBV_WR_ATOMIC_CMP_AND_SWP]: "IBV_WR_ATOMIC_CMP_AND_SWP",
};

/** The transport contract's errors for an access the region does not allow. */
function checkAccess(
  owner: ComponentId,
  key: number,
  region: RegionInfo,
  offset: number,
  length: number,
  kind: "read" | "write",
): void {
  if (
    !Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 ||
    offset + length > region.length
  ) {
    throw new KernelError(
      "EFAULT",
      `${kind} of ${length} bytes at offset ${offset} is outside region ${key} of ${owner} (${region.length} bytes)`,
    );
  }
  if (kind === "read" ? !region.remoteRead : !region.remoteWrite) {
    throw new KernelError("EACCES", `region ${key} of ${owner} does not allow remote ${kind}s`);
  }
}

export { CompletionError };
