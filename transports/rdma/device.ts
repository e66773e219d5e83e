/**
 * One open RDMA device shared by every endpoint a transport attaches: the verbs context,
 * the port and GID in use, one completion channel for all their completion queues, and
 * the progress engine that polls them.
 *
 * Progress has three paths. Right after any post the engine polls every CQ once (in a
 * microtask), which finds completions a fast device — or the loopback provider, which
 * completes at post time — already wrote. While completions keep arriving it polls from
 * the event loop. Once idle, it arms every CQ and a blocking `ibv_get_cq_event` waits on a
 * worker thread (a nonblocking FFI call), so an idle endpoint costs no CPU and a
 * completion from a remote peer wakes it. Closing posts a zero-length UD send to the
 * engine's own queue pair, whose completion wakes the waiting thread for the last time.
 *
 * @module
 */

import { VERBS } from "./abi.ts";
import { RdmaUnavailableError } from "./errors.ts";
import {
  type AddressHandle,
  addressOf,
  type CompletionChannel,
  type CompletionQueue,
  type PortAttributes,
  type ProtectionDomain,
  type QueuePair,
  VerbsContext,
} from "./verbs.ts";

/** Something whose completion queue the engine polls. */
export interface Pollable {
  /** The queue to poll. */
  readonly cq: CompletionQueue;
  /** Polls until empty; returns how many completions there were. */
  pump(): number;
}

/** The device, port and GID an RDMA transport uses, with its progress engine. */
export class SharedDevice {
  /** The open device. */
  readonly context: VerbsContext;
  /** The port number in use. */
  readonly port: number;
  /** Its attributes. */
  readonly portAttributes: PortAttributes;
  /** The GID index in use. */
  readonly gidIndex: number;
  /** The GID at that index. */
  readonly gid: Uint8Array;
  /** Whether packets need a GRH (RoCE: the link layer is Ethernet). */
  readonly global: boolean;
  /** The channel every CQ of this device signals. */
  readonly channel: CompletionChannel;
  readonly #pollables = new Set<Pollable>();
  readonly #byCq = new Map<bigint, CompletionQueue>();
  /** CQs of closed endpoints: destroyed only once no wait can still name them. */
  readonly #retired: CompletionQueue[] = [];
  readonly #wake: { pd: ProtectionDomain; cq: CompletionQueue; qp: QueuePair; ah: AddressHandle };
  #kicked = false;
  #stopping = false;
  #waiter?: Promise<void>;

  private constructor(context: VerbsContext, port: number, gidIndex: number) {
    this.context = context;
    this.port = port;
    this.portAttributes = context.queryPort(port);
    if (this.portAttributes.state !== VERBS.IBV_PORT_ACTIVE) {
      throw new RdmaUnavailableError(
        `port ${port} of ${context.deviceName} is not active (state ${this.portAttributes.state})`,
        "bring the link up (check the cable / `ibstat`, or `ip link set <netdev> up` for RoCE)",
      );
    }
    this.gidIndex = gidIndex;
    this.gid = context.queryGid(port, gidIndex);
    this.global = this.portAttributes.linkLayer === VERBS.IBV_LINK_LAYER_ETHERNET;
    this.channel = context.createCompletionChannel();
    const pd = context.allocPd();
    const cq = context.createCq(16, this.channel);
    const qp = pd.createQp({ type: "UD", sendCq: cq, recvCq: cq, maxSendWr: 4, maxRecvWr: 1 });
    qp.toInit(port, WAKE_QKEY);
    qp.toRtr({}, port);
    qp.toRts();
    const ah = pd.createAh(this.address(), port);
    this.#wake = { pd, cq, qp, ah };
    this.#byCq.set(addressOf(cq.pointer), cq);
  }

  /**
   * Opens `device` (default: the first one) and checks `port` and `gidIndex`. Throws
   * `RdmaUnavailableError` or `VerbsError` naming what is wrong.
   */
  static open(device: string | undefined, port: number, gidIndex: number): SharedDevice {
    const context = VerbsContext.open(device);
    try {
      return new SharedDevice(context, port, gidIndex);
    } catch (e) {
      context.close();
      throw e;
    }
  }

  /** Where this port is, for address handles and RC paths. */
  address(): { lid: number; gid: Uint8Array; global: boolean; gidIndex: number } {
    return {
      lid: this.portAttributes.lid,
      gid: this.gid,
      global: this.global,
      gidIndex: this.gidIndex,
    };
  }

  /** Starts polling `p`'s CQ. */
  add(p: Pollable): void {
    this.#pollables.add(p);
    this.#byCq.set(addressOf(p.cq.pointer), p.cq);
    this.#waiter ??= this.#waitLoop();
  }

  /** Stops polling `p`; its CQ is destroyed when the device closes. */
  retire(p: Pollable): void {
    this.#pollables.delete(p);
    this.#retired.push(p.cq);
  }

  /** Polls every CQ soon (after the current task): call after posting. */
  kick(): void {
    if (this.#kicked) return;
    this.#kicked = true;
    queueMicrotask(() => {
      this.#kicked = false;
      this.pumpAll();
    });
  }

  /** Polls every CQ until empty; returns how many completions there were. */
  pumpAll(): number {
    let total = 0;
    for (const p of this.#pollables) total += p.pump();
    if (total > 0) this.#lastActive = performance.now();
    return total;
  }

  #lastActive = 0;

  async #waitLoop(): Promise<void> {
    while (!this.#stopping) {
      // While traffic flows, poll from the event loop; arming every CQ costs one call per
      // CQ and each armed completion wakes the waiting thread, so block only once idle.
      if (performance.now() - this.#lastActive < BUSY_MS) {
        await new Promise((resolve) => setTimeout(resolve, 0));
        this.pumpAll();
        continue;
      }
      this.#wake.cq.requestNotify();
      for (const p of this.#pollables) p.cq.requestNotify();
      if (this.pumpAll() > 0) continue;
      const cq = await this.channel.wait();
      if (cq === null) break;
      this.#byCq.get(cq)?.ack(1);
      if (this.#stopping) break;
      this.pumpAll();
    }
  }

  /** Stops the engine and closes the device. Idempotent. */
  async close(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    if (this.#waiter) {
      this.#wake.cq.requestNotify();
      this.#wake.qp.postSend({
        wrId: 0,
        opcode: VERBS.IBV_WR_SEND,
        ah: this.#wake.ah,
        remoteQpn: this.#wake.qp.qpn,
        remoteQkey: WAKE_QKEY,
        signaled: true,
      });
      await this.#waiter;
    }
    while (this.#wake.cq.poll(() => {}) > 0) { /* drain */ }
    this.#wake.ah.destroy();
    this.#wake.qp.destroy();
    this.#wake.cq.destroy();
    this.#wake.pd.dealloc();
    for (const cq of this.#retired.splice(0)) cq.destroy();
    this.channel.destroy();
    this.context.close();
  }
}

const WAKE_QKEY = 0x1e90;
/** How long after the last completion the engine keeps polling instead of blocking, ms. */
const BUSY_MS = 2;
