/**
 * Every message the processor sends on a thread's behalf goes through here, so that it is
 * charged to that thread's model clock and counted exactly once.
 *
 * @module
 */

import { RemoteError } from "../../kernel/errors.ts";
import type { ComponentId } from "../../kernel/ids.ts";
import type { MessageKind, ReplyOf, RequestOf } from "../../kernel/messages.ts";
import type { MonitorContext } from "../../kernel/monitor.ts";
import type { Pager } from "../../kernel/pager.ts";
import type { ModelCall } from "../../kernel/rpc.ts";
import type { ChargedThread } from "./records.ts";

/**
 * The kind of stall a call is, for the model-time breakdown: filling a line, writing one
 * back, a system call, or asking a manager where something lives.
 *
 * @example
 * ```ts
 * import { stallOf } from "./messenger.ts";
 * console.assert(stallOf("P2M_PAGE_FLUSH_FETCH") === "fetch" && stallOf("P2S_OPEN") === "syscall");
 * ```
 */
export function stallOf(kind: MessageKind): string {
  switch (kind) {
    case "P2M_PAGE_FETCH":
    case "P2M_PAGE_FLUSH_FETCH":
      return "fetch";
    case "P2M_PAGE_FLUSH":
    case "P2M_PAGE_REPLICATE":
      return "flush";
    default:
      return kind.startsWith("MGR_") ? "placement" : "syscall";
  }
}

/** Payload sizes of one call, for the latency model and the byte counters. */
export interface CallSize {
  /** Bytes of the request body. */
  request: number;
  /** Bytes of the reply body (default 0). */
  reply?: number;
  /**
   * Device time spent on the far side that the far side does not charge itself, on top
   * (default 0).
   */
  deviceNs?: number;
}

/** Sends messages on behalf of threads. */
export interface Messenger {
  /**
   * Sends `kind` to `to` and waits for the reply, charging `thread` one round trip plus
   * what the callee spent serving it (its reply says how much, and how much of that was
   * queueing). A failed call that still got an answer (a remote error) is charged too.
   * The request carries the thread's model time, so the callee queues it in model-time
   * order.
   */
  call<K extends MessageKind>(
    thread: ChargedThread,
    to: ComponentId,
    kind: K,
    body: RequestOf<K>,
    size: CallSize,
  ): Promise<ReplyOf<K>>;
  /**
   * Optional: {@link Messenger.call}, except that a reply that came back within the send
   * (a component in this process that answered at once) is returned (charged) as it is,
   * and a remote error that came back so is thrown, with no promise in between.
   */
  callNow?<K extends MessageKind>(
    thread: ChargedThread,
    to: ComponentId,
    kind: K,
    body: RequestOf<K>,
    size: CallSize,
  ): ReplyOf<K> | Promise<ReplyOf<K>>;
}

/**
 * A messenger over a monitor's RPC node and latency model.
 *
 * @example
 * ```ts ignore
 * const messenger = createMessenger(context);
 * const { addr } = await messenger.call(thread, "m0", "P2M_BRK", { pid: 1, addr: 0 }, {
 *   request: 16,
 *   reply: 8,
 * });
 * ```
 */
export function createMessenger(context: MonitorContext, pager?: Pager): Messenger {
  const charge = (
    thread: ChargedThread,
    kind: MessageKind,
    size: CallSize,
    model: ModelCall,
    body: unknown,
  ) => {
    const reply = size.reply ?? 0;
    if (pager) {
      // A monolithic machine (a Linux baseline): the call is a fault on its swap device or
      // a system call on the same machine, priced by the pager. The memory component only
      // stores the swapped-out pages, so its service time is not the machine's.
      const ns = pager.callNs({
        ...pageCall(kind, body),
        requestBytes: size.request,
        replyBytes: reply,
        nowNs: thread.modelNs(),
      }) + (size.deviceNs ?? 0);
      thread.clock.advance(ns);
      thread.chargeStall(stallOf(kind), ns);
    } else {
      const serviceNs = model.serviceNs ?? 0;
      // Queueing: at the callee's resources, and at this processor's own NIC.
      const queueNs = Math.min(model.queueNs ?? 0, serviceNs) + (model.nicQueueNs ?? 0);
      const stallNs = context.latency.messageNs(size.request + reply) + (size.deviceNs ?? 0) +
        serviceNs - Math.min(model.queueNs ?? 0, serviceNs);
      thread.clock.advance(stallNs + queueNs);
      thread.chargeStall(stallOf(kind), stallNs);
      thread.chargeStall("queue", queueNs);
    }
    thread.counters.messages++;
    thread.counters.bytesOut += size.request;
    thread.counters.bytesIn += reply;
  };
  const failed = (
    thread: ChargedThread,
    kind: MessageKind,
    size: CallSize,
    model: ModelCall,
    body: unknown,
    e: unknown,
  ): never => {
    if (e instanceof RemoteError) charge(thread, kind, { ...size, reply: 0 }, model, body);
    throw e;
  };
  return {
    async call(thread, to, kind, body, size) {
      const model: ModelCall = { atNs: thread.modelNs() };
      try {
        const reply = await context.rpc.call(to, kind, body, { model });
        charge(thread, kind, size, model, body);
        return reply;
      } catch (e) {
        return failed(thread, kind, size, model, body, e);
      }
    },
    callNow(thread, to, kind, body, size) {
      const model: ModelCall = { atNs: thread.modelNs() };
      let reply;
      try {
        reply = context.rpc.callNow(to, kind, body, { model });
      } catch (e) {
        return failed(thread, kind, size, model, body, e);
      }
      if (reply instanceof Promise) {
        return reply.then((r) => {
          charge(thread, kind, size, model, body);
          return r;
        }, (e) => failed(thread, kind, size, model, body, e));
      }
      charge(thread, kind, size, model, body);
      return reply;
    },
  };
}

/** The process and page addresses of a call, as a pager needs them. */
function pageCall(kind: string, body: unknown) {
  const b = body as Record<string, unknown>;
  const num = (v: unknown) => (typeof v === "number" ? v : undefined);
  return {
    kind,
    pid: num(b?.pid) ?? 0,
    fetchVaddr: kind === "P2M_PAGE_FETCH" ? num(b?.vaddr) : num(b?.fetchVaddr),
    flushVaddr: kind === "P2M_PAGE_FLUSH" ? num(b?.vaddr) : num(b?.flushVaddr),
  };
}
