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
import type { ThreadRecord } from "./records.ts";

/** Payload sizes of one call, for the latency model and the byte counters. */
export interface CallSize {
  /** Bytes of the request body. */
  request: number;
  /** Bytes of the reply body (default 0). */
  reply?: number;
  /** Device time spent on the far side, charged on top (default 0). */
  deviceNs?: number;
}

/** Sends messages on behalf of threads. */
export interface Messenger {
  /**
   * Sends `kind` to `to` and waits for the reply, charging `thread` one round trip. A
   * failed call that still got an answer (a remote error) is charged too.
   */
  call<K extends MessageKind>(
    thread: ThreadRecord,
    to: ComponentId,
    kind: K,
    body: RequestOf<K>,
    size: CallSize,
  ): Promise<ReplyOf<K>>;
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
  const charge = (thread: ThreadRecord, size: CallSize, kind: string, body: unknown) => {
    const reply = size.reply ?? 0;
    // A monolithic machine (a pager) prices the call as a fault or a local system call.
    const ns = pager
      ? pager.callNs({
        ...pageCall(kind, body),
        requestBytes: size.request,
        replyBytes: reply,
        nowNs: thread.clock.nowNs(),
      })
      : context.latency.messageNs(size.request + reply);
    thread.clock.advance(ns + (size.deviceNs ?? 0));
    thread.counters.messages++;
    thread.counters.bytesOut += size.request;
    thread.counters.bytesIn += reply;
  };
  return {
    async call(thread, to, kind, body, size) {
      try {
        const reply = await context.rpc.call(to, kind, body);
        charge(thread, size, kind, body);
        return reply;
      } catch (e) {
        if (e instanceof RemoteError) charge(thread, { ...size, reply: 0 }, kind, body);
        throw e;
      }
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
