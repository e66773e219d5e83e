/**
 * Request/response messaging between components over any {@link TransportEndpoint}.
 *
 * An {@link RpcNode} owns one endpoint. It drains the endpoint's shared receive queue,
 * decodes every frame with the one binary codec and
 * - dispatches requests to the handlers registered in its ops table (message kind →
 *   handler, like Linux `file_operations`), sending back a reply or an error reply;
 * - matches replies to the calls waiting for them by request id.
 *
 * Calls carry per-call timeouts (60 s by default, as LegoOS) and optional cancellation;
 * remote failures arrive as typed {@link RemoteError}s. Malformed bytes never crash a
 * node: they are counted, reported through `onBadFrame` and, when the header names a
 * request, answered with an `EBADMSG` error reply.
 *
 * @example
 * ```ts ignore
 * import { RpcNode } from "./rpc.ts";
 * // `transport` is any Transport, e.g. `createMemoryTransport()`.
 * const m0 = new RpcNode(await transport.attach("m0")).handle({
 *   P2M_BRK: ({ addr }) => ({ addr: addr + 4096 }),
 * });
 * const p0 = new RpcNode(await transport.attach("p0"));
 * const { addr } = await p0.call("m0", "P2M_BRK", { pid: 1, addr: 0x10000 });
 * console.assert(addr === 0x11000);
 * await p0.close();
 * await m0.close();
 * ```
 *
 * @module
 */

import {
  checkBodyBytes,
  type CopiedMessage,
  copyMessage,
  decode,
  decodeHeader,
  encode,
  FrameEncoder,
  type FrameHeader,
  HEADER_SIZE,
  type Message,
  setFrameModelTimes,
  setMessageModelTimes,
} from "./codec.ts";
import { KernelError, RemoteError, RpcCancelledError, RpcTimeoutError } from "./errors.ts";
import type { ComponentId } from "./ids.ts";
import {
  type ErrorBody,
  FLAG_ERROR,
  FLAG_MODELED,
  FLAG_ONE_WAY,
  FLAG_REPLY,
  MAX_STRING_BYTES,
  MESSAGE_KINDS,
  type MessageKind,
  type ReplyOf,
  type RequestOf,
} from "./messages.ts";
import { type ReceivedFrame, SENT, type TransportEndpoint } from "./transport.ts";
import type { LatencyModel } from "./latency.ts";
import { currentSpan, ModelSpan, withoutSpan, withSpan } from "./model_time.ts";
import { ModelNic } from "./model_nic.ts";

/** Default per-call timeout: LegoOS waits 60 s for an RPC reply. */
export const DEFAULT_RPC_TIMEOUT_MS = 60_000;

/** The options of a call that gives none (shared: no object per call). */
const NO_OPTIONS: CallOptions = Object.freeze({});

/** Longest delay `setTimeout` honours; longer timeouts mean "wait forever". */
const MAX_TIMER_MS = 0x7fffffff;
/** Request ids remembered per caller, to answer a repeated request without serving it twice. */
const RECENT_REQUESTS = 256;
/** Callers remembered (short-lived clients come and go). */
const RECENT_CALLERS = 1024;

/** What a handler learns about the request it serves. */
export interface CallContext {
  /** The component that sent the request, as authenticated by the transport. */
  readonly from: ComponentId;
  /** The request id (0 for one-way requests). */
  readonly requestId: number;
  /** The message kind being served. */
  readonly kind: MessageKind;
  /**
   * The request's model time: it starts at the caller's model time and grows with what
   * serving it costs here (see `model_time.ts`); the reply carries that cost back.
   */
  readonly model: ModelSpan;
  /**
   * Whether the request is in model time (a thread's time is in it): only then does
   * serving it charge anything, to `model`.
   */
  readonly modeled: boolean;
}

/** Options for {@link RpcNode.handle}. */
export interface HandleOptions {
  /**
   * The handlers charge `ctx.model` themselves (when `ctx.modeled`) and run whatever
   * they do asynchronously under `withSpan(ctx.model, ...)` (`withoutSpan` when not
   * modeled) themselves: they are called outside the request's span, which saves entering
   * it (an `AsyncLocalStorage.run`, about a microsecond here) for a handler that mostly
   * answers at once, like the page service's.
   */
  explicitSpan?: boolean;
}

/**
 * Serves one message kind: receives the decoded request body and returns (or resolves
 * to) the reply body. Throwing a {@link KernelError} sends its `code` to the caller.
 */
export type Handler<K extends MessageKind> = (
  body: RequestOf<K>,
  ctx: CallContext,
) => ReplyOf<K> | Promise<ReplyOf<K>>;

/** An ops table: one handler per message kind. Register a `Partial` of it. */
export type OpsTable = { [K in MessageKind]: Handler<K> };

/** Options for {@link RpcNode}. */
export interface RpcNodeOptions {
  /** Timeout of a call that sets none, in milliseconds (default 60 000). */
  defaultTimeoutMs?: number;
  /** Largest frame body accepted from peers (default: the codec's 16 MiB). */
  maxBodyBytes?: number;
  /** Told about every frame dropped as malformed; must not throw (errors are ignored). */
  onBadFrame?: (error: Error, from: ComponentId) => void;
}

/** Options for one {@link RpcNode.call}. */
export interface CallOptions {
  /** Milliseconds to wait for the reply; `Infinity` waits forever. */
  timeoutMs?: number;
  /** Aborting it rejects the call with {@link RpcCancelledError}. */
  signal?: AbortSignal;
  /**
   * Sends the request again when an attempt fails with one of `retry.on`'s codes (each
   * attempt with its own `timeoutMs`). Every attempt carries the same request id, so a
   * callee that already served it answers again from its recent replies instead of doing
   * the work twice (a lost reply, or a duplicated frame, never repeats a request).
   */
  retry?: RetryOptions;
  /**
   * Model time of the call: the caller's model time goes in the request (`atNs`), and
   * the callee's service time and its queueing part are written back here when the reply
   * arrives. Without it, a call made while serving a request charges that request's span
   * (its round trip and the callee's service time).
   */
  model?: ModelCall;
}

/** The model time of one call, as {@link CallOptions.model} carries it. */
export interface ModelCall {
  /** The caller's model time when it sends the request, in ns. */
  atNs: number;
  /** Set from the reply: what the callee spent serving it, in ns. */
  serviceNs?: number;
  /** Set from the reply: of `serviceNs`, the time spent waiting at busy resources. */
  queueNs?: number;
  /**
   * Set from the reply: time the request and its reply waited at the caller's own NIC
   * (its transmit side, then its receive side; see `model_nic.ts`), in ns. Not part of
   * `serviceNs`.
   */
  nicQueueNs?: number;
}

/**
 * When and how {@link RpcNode.call} repeats a failed request.
 *
 * @example
 * ```ts
 * import type { RetryOptions } from "./rpc.ts";
 * // Up to 5 attempts, waiting 10, 20, 40, 80 ms between them, on timeouts and on a
 * // destination that is not attached (a component restarting).
 * const retry: RetryOptions = { attempts: 5, backoffMs: 10, on: ["ETIMEDOUT", "EHOSTUNREACH"] };
 * console.assert(retry.attempts === 5);
 * ```
 */
export interface RetryOptions {
  /** Attempts in all, the first one included (an integer from 1 to 1000). */
  attempts: number;
  /** Wait before the first retry, in ms; it doubles after each retry (default 10). */
  backoffMs?: number;
  /** Longest wait between two attempts, in ms (default 1000). */
  maxBackoffMs?: number;
  /** Error codes worth another attempt (default {@link DEFAULT_RETRY_CODES}). */
  on?: readonly string[];
  /** Told before each retry, with the error that caused it and the attempt about to start. */
  onRetry?: (error: KernelError, attempt: number) => void;
}

/**
 * The codes {@link RetryOptions} retries by default: no reply in time, or a destination
 * that cannot be reached right now (for example while it restarts).
 */
export const DEFAULT_RETRY_CODES: readonly string[] = Object.freeze(["ETIMEDOUT", "EHOSTUNREACH"]);

/** Counters kept by an {@link RpcNode}. */
export interface RpcStats {
  /** Calls whose request frame the transport accepted. */
  callsSent: number;
  /** Replies (including error replies) matched to a waiting call. */
  repliesReceived: number;
  /** Replies dropped because no call was waiting for them (late or stray). */
  unmatchedReplies: number;
  /** Requests dispatched to a registered handler. */
  requestsHandled: number;
  /** Error replies sent (handler failures, unhandled kinds, malformed requests). */
  errorsReturned: number;
  /** One-way requests whose handler failed (there is nobody to tell). */
  oneWayFailures: number;
  /** Frames dropped as malformed. */
  badFrames: number;
  /** Calls that timed out. */
  timeouts: number;
  /** Calls cancelled by their signal. */
  cancelled: number;
  /** Requests sent again under a call's {@link RetryOptions}. */
  retries: number;
  /** Requests received again (a retry or a duplicated frame): answered from the recent replies, not served twice. */
  duplicateRequests: number;
  /** Calls waiting for a reply right now. */
  inFlight: number;
  /** Bytes of every frame the transport accepted from this node. */
  bytesSent: number;
  /** Bytes of every frame taken from the receive queue. */
  bytesReceived: number;
}

interface PendingCall {
  readonly requestId: number;
  readonly to: ComponentId;
  readonly kind: MessageKind;
  /** When the call times out (`performance.now()` ms); Infinity for none. */
  readonly deadline: number;
  /** The timeout it was given, for the error message. */
  readonly timeoutMs: number;
  readonly resolve: (body: never) => void;
  readonly reject: (error: Error) => void;
  /** The caller's signal and the listener this call added to it, if any. */
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  /** Where the reply's model times go: the caller's record, or the span it serves. */
  readonly model: ModelCall | undefined;
  readonly span: ModelSpan | undefined;
  /** Bytes of the request body, for the round trip charged to `span`. */
  readonly requestBytes: number;
  /** Model time the request went on the wire (after any wait at this NIC). */
  readonly sentAtNs: number;
  /** Of that, the wait at this NIC's transmit side. */
  readonly txWaitNs: number;
}

type AnyHandler = (body: never, ctx: CallContext) => unknown;

/** What {@link RpcNode.callNow} learns of its call if it ends within the send. */
interface SettledAtOnce {
  call: PendingCall | undefined;
  done: boolean;
  reply: Record<string, unknown> | undefined;
  error: Error | undefined;
}

/**
 * What a node sends: an encoded frame, or (over a transport with `sendMessage`) the
 * message itself, checked and copied as encoding would.
 */
type Outgoing = Uint8Array | CopiedMessage;

/** The size of what is sent, as a frame on the wire. */
function sizeOf(out: Outgoing): number {
  return out instanceof Uint8Array ? out.length : out.frameBytes;
}

/**
 * One component's RPC endpoint: serves its ops table and makes calls to peers.
 *
 * @example
 * ```ts ignore
 * import { RpcNode } from "./rpc.ts";
 * // `transport` is any Transport, e.g. `createMemoryTransport()`.
 * const a = new RpcNode(await transport.attach("a")).handle({
 *   SYS_PING: ({ data }) => ({ data }),
 * });
 * const b = new RpcNode(await transport.attach("b"));
 * const reply = await b.call("a", "SYS_PING", { data: new Uint8Array([42]) });
 * console.assert(reply.data[0] === 42);
 * await transport.close();
 * await a.close();
 * await b.close();
 * ```
 */
export class RpcNode {
  /** This node's component id (its endpoint's id). */
  readonly id: ComponentId;
  readonly #endpoint: TransportEndpoint;
  readonly #defaultTimeoutMs: number;
  readonly #maxBodyBytes: number | undefined;
  readonly #onBadFrame: ((error: Error, from: ComponentId) => void) | undefined;
  readonly #ops = new Map<MessageKind, AnyHandler>();
  /** Kinds whose handlers were registered with {@link HandleOptions.explicitSpan}. */
  readonly #explicitSpan = new Set<MessageKind>();
  readonly #pending = new Map<number, PendingCall>();
  /**
   * Set when the endpoint copies what it sends (`sendCopy`): frames are then encoded
   * into this one reused buffer instead of a fresh one each.
   */
  readonly #encoder: FrameEncoder | undefined;
  /**
   * Set when the endpoint takes messages as they are (`sendMessage`: its peers live in
   * this process): messages are then checked and copied as encoding would, not encoded.
   */
  readonly #direct: boolean;
  readonly #stats: Omit<RpcStats, "inFlight"> = {
    callsSent: 0,
    repliesReceived: 0,
    unmatchedReplies: 0,
    requestsHandled: 0,
    errorsReturned: 0,
    oneWayFailures: 0,
    badFrames: 0,
    timeouts: 0,
    cancelled: 0,
    retries: 0,
    duplicateRequests: 0,
    bytesSent: 0,
    bytesReceived: 0,
  };
  // A random start, so a restarted peer's ids do not match its predecessor's recent ones.
  #lastRequestId = crypto.getRandomValues(new Uint32Array(1))[0];
  /** Per caller, its recent request ids → the reply sent (undefined while being served). */
  readonly #recent = new Map<ComponentId, Map<number, Outgoing | undefined>>();
  #latency: LatencyModel | undefined;
  /** This component's NIC in model time (with the latency model). */
  #nic: ModelNic | undefined;
  #deadlineTimer: ReturnType<typeof setTimeout> | undefined;
  #deadlineAt = Infinity;
  /** Whether the deadline timer holds the process open (only while calls wait). */
  #deadlineRef = false;
  #closed = false;
  /** The outcome slot of the {@link RpcNode.callNow} being sent, if any. */
  #settledAtOnce: SettledAtOnce | undefined;
  #closing: Promise<void> | undefined;
  readonly #loop: Promise<void>;

  /**
   * Wraps `endpoint` and starts serving its receive queue.
   *
   * @example
   * ```ts ignore
   * import { RpcNode } from "./rpc.ts";
   * // `transport` is any Transport, e.g. `createMemoryTransport()`.
   * const node = new RpcNode(await transport.attach("m0"), { defaultTimeoutMs: 5_000 });
   * console.assert(node.id === "m0");
   * await node.close();
   * ```
   */
  constructor(endpoint: TransportEndpoint, options: RpcNodeOptions = {}) {
    const timeout = options.defaultTimeoutMs ?? DEFAULT_RPC_TIMEOUT_MS;
    checkTimeout(timeout, "defaultTimeoutMs");
    this.id = endpoint.id;
    this.#endpoint = endpoint;
    this.#defaultTimeoutMs = timeout;
    this.#maxBodyBytes = options.maxBodyBytes;
    this.#onBadFrame = options.onBadFrame;
    this.#direct = typeof endpoint.sendMessage === "function" &&
      typeof endpoint.acceptMessages === "function";
    if (this.#direct) endpoint.acceptMessages!((frame) => this.#receive(frame));
    this.#encoder = !this.#direct && typeof endpoint.sendCopy === "function"
      ? new FrameEncoder()
      : undefined;
    this.#loop = this.#serve();
  }

  /**
   * Charges the round trips of calls made while serving a request with `latency` (until
   * then only the callees' service time is charged). `createMonitorContext` does this.
   *
   * @example
   * ```ts ignore
   * node.chargeWith(latency);
   * ```
   */
  chargeWith(latency: LatencyModel): this {
    this.#latency = latency;
    this.#nic = new ModelNic(this.id, latency);
    return this;
  }

  /** Whether {@link RpcNode.close} was called or the endpoint went away. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Registers handlers from an ops table. Throws a `KernelError` (`EEXIST`) when a kind
   * already has a handler, and a `TypeError` for an unknown kind or a non-function.
   *
   * @example
   * ```ts ignore
   * import { RpcNode } from "./rpc.ts";
   * // `transport` is any Transport, e.g. `createMemoryTransport()`.
   * const node = new RpcNode(await transport.attach("s0")).handle({
   *   P2S_UNLINK: () => ({}),
   *   P2S_STAT: () => ({ size: 0, mode: 0o644, isDirectory: false, mtimeMs: 0 }),
   * });
   * await node.close();
   * ```
   */
  handle(ops: Partial<OpsTable>, options: HandleOptions = {}): this {
    const entries = Object.entries(ops) as [string, unknown][];
    // Check everything first so a bad table registers nothing.
    for (const [kind, handler] of entries) {
      if (!Object.hasOwn(MESSAGE_KINDS, kind)) {
        throw new TypeError(`cannot handle unknown message kind ${JSON.stringify(kind)}`);
      }
      if (typeof handler !== "function") {
        throw new TypeError(`handler for ${kind} must be a function, got ${typeof handler}`);
      }
      if (this.#ops.has(kind as MessageKind)) {
        throw new KernelError("EEXIST", `${this.id} already has a handler for ${kind}`);
      }
    }
    for (const [kind, handler] of entries) {
      this.#ops.set(kind as MessageKind, handler as AnyHandler);
      if (options.explicitSpan) this.#explicitSpan.add(kind as MessageKind);
    }
    return this;
  }

  /**
   * Sends a request of `kind` to `to` and resolves to the reply body.
   *
   * Rejects with {@link RemoteError} when the remote handler fails,
   * {@link RpcTimeoutError} when no reply arrives in time, {@link RpcCancelledError} when
   * `signal` aborts (at once, without sending, if it already has), the transport's error
   * (e.g. `UnreachableError`) when the request cannot be sent, a `KernelError`
   * (`EINVAL`) when `body` does not fit its kind, and `ESHUTDOWN` when the node closes.
   * With `options.retry`, a failure whose code it lists is retried first, and the call
   * rejects with the last attempt's error once the attempts run out.
   *
   * @example
   * ```ts ignore
   * import { RpcNode } from "./rpc.ts";
   * import { PAGE_SIZE } from "./messages.ts";
   * // `transport` is any Transport, e.g. `createMemoryTransport()`.
   * const m0 = new RpcNode(await transport.attach("m0")).handle({
   *   P2M_PAGE_FETCH: () => ({ page: new Uint8Array(PAGE_SIZE).fill(7) }),
   * });
   * const p0 = new RpcNode(await transport.attach("p0"));
   * const { page } = await p0.call("m0", "P2M_PAGE_FETCH", { pid: 1, vaddr: 0 }, {
   *   timeoutMs: 1_000,
   * });
   * console.assert(page.length === PAGE_SIZE && page[0] === 7);
   * await p0.close();
   * await m0.close();
   * ```
   */
  call<K extends MessageKind>(
    to: ComponentId,
    kind: K,
    body: RequestOf<K>,
    options: CallOptions = NO_OPTIONS,
  ): Promise<ReplyOf<K>> {
    if (options.retry === undefined) return this.#callOnce(to, kind, body, options);
    return this.#callWithRetry(to, kind, body, options, options.retry);
  }

  /**
   * {@link RpcNode.call}, except that a reply that came back within the send (a peer in
   * this process that answered at once) is returned as it is, not as a promise, and a
   * remote error that came back so is thrown: the caller goes on without waiting for a
   * microtask. Otherwise (and always with `options.retry`) it is `call`'s promise.
   *
   * @example
   * ```ts ignore
   * const reply = p0.callNow("m0", "SYS_PING", { data: new Uint8Array() });
   * const { data } = reply instanceof Promise ? await reply : reply;
   * ```
   */
  callNow<K extends MessageKind>(
    to: ComponentId,
    kind: K,
    body: RequestOf<K>,
    options: CallOptions = NO_OPTIONS,
  ): ReplyOf<K> | Promise<ReplyOf<K>> {
    if (options.retry !== undefined) return this.call(to, kind, body, options);
    const outcome: SettledAtOnce = {
      call: undefined,
      done: false,
      reply: undefined,
      error: undefined,
    };
    const outer = this.#settledAtOnce;
    this.#settledAtOnce = outcome;
    let promise: Promise<ReplyOf<K>>;
    try {
      promise = this.#callOnce(to, kind, body, options);
    } finally {
      this.#settledAtOnce = outer;
    }
    if (!outcome.done) return promise;
    promise.catch(() => {}); // settled already: the caller gets the outcome itself
    if (outcome.error) throw outcome.error;
    return outcome.reply as ReplyOf<K>;
  }

  async #callWithRetry<K extends MessageKind>(
    to: ComponentId,
    kind: K,
    body: RequestOf<K>,
    options: CallOptions,
    retry: RetryOptions,
  ): Promise<ReplyOf<K>> {
    const { attempts, backoffMs = 10, maxBackoffMs = 1000 } = retry;
    if (!Number.isInteger(attempts) || attempts < 1 || attempts > 1000) {
      throw new RangeError(`retry.attempts must be an integer from 1 to 1000, got ${attempts}`);
    }
    for (const [name, ms] of [["backoffMs", backoffMs], ["maxBackoffMs", maxBackoffMs]] as const) {
      if (typeof ms !== "number" || !(ms >= 0) || ms > MAX_TIMER_MS) {
        throw new RangeError(`retry.${name} must be a number of milliseconds >= 0, got ${ms}`);
      }
    }
    const codes = retry.on ?? DEFAULT_RETRY_CODES;
    let wait = backoffMs;
    const requestId = this.#nextRequestId();
    for (let attempt = 1;; attempt++) {
      try {
        return await this.#callOnce(to, kind, body, options, requestId);
      } catch (error) {
        const code = (error as { code?: unknown })?.code;
        if (
          attempt >= attempts || this.#closed || options.signal?.aborted ||
          !(error instanceof KernelError) || typeof code !== "string" || !codes.includes(code)
        ) throw error;
        try {
          retry.onRetry?.(error, attempt + 1);
        } catch {
          // An advisory callback; its failure must not change the call's outcome.
        }
        await this.#backoff(Math.min(wait, maxBackoffMs), to, kind, options.signal);
        wait *= 2;
        this.#stats.retries++;
      }
    }
  }

  /** Waits `ms` before a retry; an abort of `signal` ends the wait (and the call). */
  #backoff(ms: number, to: ComponentId, kind: MessageKind, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        clearTimeout(timer);
        this.#stats.cancelled++;
        reject(new RpcCancelledError(to, kind, { cause: signal?.reason }));
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  #callOnce<K extends MessageKind>(
    to: ComponentId,
    kind: K,
    body: RequestOf<K>,
    options: CallOptions,
    retryOf?: number,
  ): Promise<ReplyOf<K>> {
    if (this.#closed) return Promise.reject(this.#shutdownError(`call ${kind} to ${to}`));
    const { signal } = options;
    if (signal?.aborted) {
      this.#stats.cancelled++;
      return Promise.reject(new RpcCancelledError(to, kind, { cause: signal.reason }));
    }
    const timeoutMs = options.timeoutMs ?? this.#defaultTimeoutMs;
    try {
      checkTimeout(timeoutMs, "timeoutMs");
    } catch (error) {
      return Promise.reject(error);
    }
    const requestId = retryOf ?? this.#nextRequestId();
    const model = options.model;
    const span = model ? undefined : currentSpan();
    const atNs = model ? model.atNs : span ? span.nowNs() : 0;
    let frame: Outgoing;
    let txWaitNs = 0;
    try {
      frame = this.#prepare({
        kind,
        requestId,
        src: this.id,
        dst: to,
        flags: model || span ? FLAG_MODELED : 0,
        body,
        modelNs: atNs,
      });
      if ((model || span) && this.#nic) {
        // The request leaves when this NIC is free: it carries that later time.
        txWaitNs = this.#nic.send(atNs, sizeOf(frame));
        if (txWaitNs > 0) setModelTimes(frame, atNs + txWaitNs, 0);
      }
    } catch (error) {
      return Promise.reject(error);
    }
    const { promise, resolve, reject } = Promise.withResolvers<ReplyOf<K>>();
    const call: PendingCall = {
      requestId,
      to,
      kind,
      deadline: timeoutMs <= MAX_TIMER_MS ? performance.now() + timeoutMs : Infinity,
      timeoutMs,
      resolve,
      reject,
      signal,
      onAbort: undefined,
      model,
      span,
      requestBytes: sizeOf(frame) - HEADER_SIZE,
      sentAtNs: atNs + txWaitNs,
      txWaitNs,
    };
    this.#pending.set(requestId, call);
    if (this.#settledAtOnce && !this.#settledAtOnce.call) this.#settledAtOnce.call = call;
    this.#armDeadline(call.deadline);
    if (signal) {
      call.onAbort = () => {
        this.#stats.cancelled++;
        this.#finish(call, new RpcCancelledError(to, kind, { cause: signal.reason }));
      };
      signal.addEventListener("abort", call.onAbort, { once: true });
    }
    const size = sizeOf(frame);
    const sent = this.#send(to, frame);
    if (sent === SENT) {
      this.#stats.callsSent++;
      this.#stats.bytesSent += size;
    } else {
      sent.then(
        () => {
          this.#stats.callsSent++;
          this.#stats.bytesSent += size;
        },
        (error) => this.#finish(call, asError(error)),
      );
    }
    return promise;
  }

  /**
   * Ends a waiting call with `error`, or with `reply` when there is none. Every way out
   * of a call goes through here, so its timeout and abort listener never leak.
   */
  #finish(call: PendingCall, error: Error | undefined, reply?: Record<string, unknown>): void {
    if (this.#pending.get(call.requestId) !== call) return;
    this.#pending.delete(call.requestId);
    // The deadline timer stays armed but stops holding the process open when idle.
    if (this.#pending.size === 0 && this.#deadlineRef) {
      Deno.unrefTimer(this.#deadlineTimer!);
      this.#deadlineRef = false;
    }
    if (call.onAbort) call.signal!.removeEventListener("abort", call.onAbort);
    const atOnce = this.#settledAtOnce;
    if (atOnce?.call === call) [atOnce.done, atOnce.reply, atOnce.error] = [true, reply, error];
    if (error) call.reject(error);
    else call.resolve(reply as never);
  }

  /**
   * Sends a one-way request of `kind` to `to`: no reply, no timeout. Resolves once the
   * transport accepted the frame; rejects when it cannot be sent or encoded.
   *
   * @example
   * ```ts ignore
   * import { RpcNode } from "./rpc.ts";
   * // `transport` is any Transport, e.g. `createMemoryTransport()`.
   * const gm = new RpcNode(await transport.attach("gm"));
   * const p0 = new RpcNode(await transport.attach("p0"));
   * await p0.notify("gm", "MGR_HEARTBEAT", { load: { threads: 3 } });
   * await p0.close();
   * await gm.close();
   * ```
   */
  async notify<K extends MessageKind>(
    to: ComponentId,
    kind: K,
    body: RequestOf<K>,
  ): Promise<void> {
    if (this.#closed) throw this.#shutdownError(`notify ${kind} to ${to}`);
    const frame = this.#prepare({
      kind,
      requestId: 0,
      src: this.id,
      dst: to,
      flags: FLAG_ONE_WAY,
      body,
    });
    const size = sizeOf(frame);
    await this.#send(to, frame);
    this.#stats.bytesSent += size;
  }

  /**
   * A snapshot of this node's counters.
   *
   * @example
   * ```ts ignore
   * import { RpcNode } from "./rpc.ts";
   * // `transport` is any Transport, e.g. `createMemoryTransport()`.
   * const node = new RpcNode(await transport.attach("p0"));
   * console.assert(node.stats().inFlight === 0);
   * await node.close();
   * ```
   */
  stats(): RpcStats {
    return { ...this.#stats, inFlight: this.#pending.size };
  }

  /**
   * Rejects every waiting call with a `KernelError` (`ESHUTDOWN`), stops serving and
   * closes the endpoint. Handlers still running finish, but their replies are dropped.
   * Idempotent.
   *
   * @example
   * ```ts ignore
   * import { RpcNode } from "./rpc.ts";
   * // `transport` is any Transport, e.g. `createMemoryTransport()`.
   * const node = new RpcNode(await transport.attach("p0"));
   * await node.close();
   * await node.close();
   * console.assert(node.closed);
   * ```
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#shutDown();
      await this.#endpoint.close();
      await this.#loop;
    })();
    return this.#closing;
  }

  /**
   * One timer serves every call's timeout: it is armed for the earliest deadline and only
   * re-armed when a call needs an earlier one, because a timer per call (set and cleared
   * on every round trip) was a large share of a fast RPC's cost.
   */
  #armDeadline(deadline: number): void {
    const timer = this.#deadlineTimer;
    if (timer !== undefined && deadline >= this.#deadlineAt) {
      if (!this.#deadlineRef) {
        Deno.refTimer(timer);
        this.#deadlineRef = true;
      }
      return;
    }
    if (deadline === Infinity) return;
    if (timer !== undefined) clearTimeout(timer);
    this.#deadlineAt = deadline;
    this.#deadlineRef = true;
    this.#deadlineTimer = setTimeout(
      () => this.#expire(),
      Math.max(0, deadline - performance.now()),
    );
  }

  /** Times out every overdue call and re-arms for the next deadline. */
  #expire(): void {
    this.#deadlineTimer = undefined;
    this.#deadlineAt = Infinity;
    this.#deadlineRef = false;
    const now = performance.now();
    let next = Infinity;
    for (const call of [...this.#pending.values()]) {
      if (call.deadline <= now) {
        this.#stats.timeouts++;
        this.#finish(call, new RpcTimeoutError(call.to, call.kind, call.timeoutMs));
      } else if (call.deadline < next) {
        next = call.deadline;
      }
    }
    if (next !== Infinity) this.#armDeadline(next);
  }

  #shutDown(): void {
    this.#closed = true;
    if (this.#deadlineTimer !== undefined) clearTimeout(this.#deadlineTimer);
    this.#deadlineTimer = undefined;
    this.#deadlineRef = false;
    for (const call of [...this.#pending.values()]) {
      this.#finish(call, this.#shutdownError(`call ${call.kind} to ${call.to}`));
    }
  }

  #shutdownError(what: string): KernelError {
    return new KernelError("ESHUTDOWN", `${this.id} is shut down: ${what} cannot complete`);
  }

  /** Allocates a u32 request id: wraps, never 0 (one-way), never one still waiting. */
  #nextRequestId(): number {
    let id = this.#lastRequestId;
    do {
      id = (id + 1) >>> 0;
    } while (id === 0 || this.#pending.has(id));
    this.#lastRequestId = id;
    return id;
  }

  async #serve(): Promise<void> {
    const queue = this.#endpoint.receiveQueue;
    while (!this.#closed) {
      // Frames already queued are taken without a promise each; wait only when empty.
      const frame = queue.tryTake() ?? await queue.take();
      if (frame === undefined || this.#closed) break;
      this.#receive(frame);
    }
    // The endpoint went away under us: nobody will ever answer the waiting calls.
    this.#shutDown();
  }

  /**
   * Serves one frame, taken from the receive queue or handed over at once by an
   * in-process transport. Never throws: nothing a peer sends may stop the node.
   */
  #receive(frame: ReceivedFrame): void {
    if (this.#closed) return;
    const size = frame.message ? frame.message.frameBytes : frame.bytes.length;
    this.#stats.bytesReceived += size;
    try {
      this.#dispatch(frame, size);
    } catch (error) {
      this.#badFrame(asError(error), frame);
    }
  }

  /** Serves one received frame of `size` bytes (as a frame: also for a message as is). */
  #dispatch({ from, bytes, message: passed }: ReceivedFrame, size: number): void {
    let message: Message;
    if (passed) {
      // Checked by the sender as encoding checks; only this node's size limit is left.
      checkBodyBytes(size - HEADER_SIZE, this.#maxBodyBytes);
      message = passed;
    } else message = decode(bytes, { maxBodyBytes: this.#maxBodyBytes });
    if (message.src !== from || message.dst !== this.id) {
      throw new KernelError(
        "EBADMSG",
        `frame from ${from} claims to be from ${message.src} to ${message.dst}`,
      );
    }
    if (message.flags & FLAG_REPLY) {
      this.#onReply(message, size - HEADER_SIZE, from);
    } else {
      this.#onRequest(
        message.kind,
        message.requestId,
        message.flags,
        message.body,
        from,
        message.modelNs ?? 0,
        size,
      );
    }
  }

  #onReply(message: Message, replyBytes: number, from: ComponentId): void {
    const { requestId, flags, body } = message;
    const call = this.#pending.get(requestId);
    // A reply from anyone but the callee cannot be for this call.
    if (!call || call.to !== from) {
      this.#stats.unmatchedReplies++;
      return;
    }
    this.#stats.repliesReceived++;
    const serviceNs = message.modelNs ?? 0;
    const queueNs = message.queueNs ?? 0;
    if (call.model || call.span) {
      // The reply was sent when the callee was done; it comes in when this NIC is free.
      const nicQueueNs = call.txWaitNs +
        (this.#nic?.receive(call.sentAtNs + serviceNs, replyBytes + HEADER_SIZE) ?? 0);
      if (call.model) {
        call.model.serviceNs = serviceNs;
        call.model.queueNs = queueNs;
        call.model.nicQueueNs = nicQueueNs;
      } else {
        const wire = this.#latency?.messageNs(call.requestBytes + replyBytes) ?? 0;
        call.span!.chargeCall(wire, serviceNs, queueNs);
        call.span!.charge(nicQueueNs, "queue");
      }
    }
    if (flags & FLAG_ERROR) {
      const { code, message } = body as ErrorBody;
      this.#finish(call, new RemoteError(from, code, message));
    } else {
      this.#finish(call, undefined, body);
    }
  }

  #onRequest(
    kind: MessageKind,
    requestId: number,
    flags: number,
    body: Record<string, unknown>,
    from: ComponentId,
    atNs: number,
    frameBytes: number,
  ): void {
    const oneWay = (flags & FLAG_ONE_WAY) !== 0;
    if (!oneWay && this.#repeated(from, requestId)) return;
    const handler = this.#ops.get(kind);
    if (!handler) {
      if (!oneWay) {
        this.#replyError(
          from,
          kind,
          requestId,
          "UNHANDLED",
          `${this.id} has no handler for ${kind}`,
        );
      } else {
        this.#stats.oneWayFailures++;
      }
      return;
    }
    this.#stats.requestsHandled++;
    const model = new ModelSpan(atNs);
    // A request outside model time (no thread's time in it) charges nobody, here or in the
    // calls it makes.
    const modeled = (flags & FLAG_MODELED) !== 0 ? model : undefined;
    if (modeled && this.#nic) model.charge(this.#nic.receive(atNs, frameBytes), "queue");
    const ctx: CallContext = { from, requestId, kind, model, modeled: modeled !== undefined };
    const serve = () => handler(body as never, ctx);
    let result: unknown;
    try {
      result = this.#explicitSpan.has(kind)
        ? serve()
        : modeled
        ? withSpan(model, serve)
        : withoutSpan(serve);
    } catch (error) {
      this.#handlerFailed(kind, requestId, oneWay, from, error, modeled);
      return;
    }
    // An asynchronous handler is not awaited: handlers run concurrently, and a slow one
    // never blocks the queue. A synchronous one is answered at once, with no promise.
    if (typeof (result as PromiseLike<unknown> | undefined)?.then === "function") {
      Promise.resolve(result).then(
        (reply) => this.#reply(kind, requestId, oneWay, from, reply, modeled),
        (error) => this.#handlerFailed(kind, requestId, oneWay, from, error, modeled),
      );
    } else this.#reply(kind, requestId, oneWay, from, result, modeled);
  }

  /**
   * Whether request `requestId` of `from` was received before: then it is not served
   * again, and its reply, once sent, is sent again. Remembers the last
   * {@link RECENT_REQUESTS} of each caller.
   */
  #repeated(from: ComponentId, requestId: number): boolean {
    let recent = this.#recent.get(from);
    if (!recent) {
      this.#recent.set(from, recent = new Map());
      if (this.#recent.size > RECENT_CALLERS) {
        this.#recent.delete(this.#recent.keys().next().value!);
      }
    }
    if (recent.has(requestId)) {
      this.#stats.duplicateRequests++;
      const reply = recent.get(requestId);
      // A copy: the reply kept must stay as it was sent.
      if (reply) {
        this.#sendReply(from, reply instanceof Uint8Array ? reply.slice() : copyMessage(reply), -1);
      }
      return true;
    }
    recent.set(requestId, undefined);
    if (recent.size > RECENT_REQUESTS) recent.delete(recent.keys().next().value!);
    return false;
  }

  /**
   * Sends a handler's reply (nothing for a one-way request); `model` is what serving it
   * cost, undefined outside model time.
   */
  #reply(
    kind: MessageKind,
    requestId: number,
    oneWay: boolean,
    from: ComponentId,
    reply: unknown,
    model: ModelSpan | undefined,
  ): void {
    if (oneWay) return;
    let frame: Outgoing;
    try {
      frame = this.#prepare({
        kind,
        requestId,
        src: this.id,
        dst: from,
        flags: FLAG_REPLY,
        body: reply as Record<string, unknown>,
        modelNs: model?.elapsedNs ?? 0,
        queueNs: model?.queueNs ?? 0,
      });
      this.#replyLeaves(frame, model);
    } catch (error) {
      // A handler bug: tell the caller rather than leave it waiting for its timeout.
      this.#replyError(
        from,
        kind,
        requestId,
        "EPROTO",
        `${this.id}'s ${kind} handler returned a reply that cannot be encoded: ${
          asError(error).message
        }`,
        model,
      );
      return;
    }
    this.#sendReply(from, frame, requestId);
  }

  /** A handler threw or rejected: send its error code back (nobody to tell if one-way). */
  #handlerFailed(
    kind: MessageKind,
    requestId: number,
    oneWay: boolean,
    from: ComponentId,
    error: unknown,
    model: ModelSpan | undefined,
  ): void {
    if (oneWay) {
      this.#stats.oneWayFailures++;
      return;
    }
    const code = typeof (error as { code?: unknown })?.code === "string"
      ? (error as { code: string }).code
      : "EFAIL";
    const message = error instanceof Error ? error.message : String(error);
    this.#replyError(from, kind, requestId, code, message, model);
  }

  /** Sends an error reply; `model` is what serving the request cost before it failed. */
  #replyError(
    to: ComponentId,
    kind: MessageKind,
    requestId: number,
    code: string,
    message: string,
    model?: ModelSpan,
  ): void {
    if (this.#closed) return;
    let frame: Outgoing;
    try {
      frame = this.#prepare({
        kind,
        requestId,
        src: this.id,
        dst: to,
        flags: FLAG_REPLY | FLAG_ERROR,
        body: { code: clipUtf8(code), message: clipUtf8(message) },
        modelNs: model?.elapsedNs ?? 0,
        queueNs: model?.queueNs ?? 0,
      });
      this.#replyLeaves(frame, model);
    } catch {
      return; // Only a bad peer id gets here, and such a peer cannot be answered anyway.
    }
    this.#stats.errorsReturned++;
    // A failed request did not happen: a retry of it is served afresh, not answered again.
    this.#recent.get(to)?.delete(requestId);
    this.#sendReply(to, frame, requestId);
  }

  /**
   * Sends a reply frame, kept for request `requestId` in case it comes again: a copy of
   * an encoded frame (the receiver owns the frame), or the message handed over itself.
   * The receiver sees that message only when its call is waiting for it, and then never
   * asks again, so a repeat of the request always sends a copy of what it never saw.
   */
  #sendReply(to: ComponentId, frame: Outgoing, requestId: number): void {
    if (this.#closed) return;
    const recent = this.#recent.get(to);
    if (recent?.has(requestId)) {
      recent.set(requestId, frame instanceof Uint8Array ? frame.slice() : frame);
    }
    const size = sizeOf(frame);
    const sent = this.#send(to, frame);
    if (sent === SENT) this.#stats.bytesSent += size;
    else {
      // A caller that went away cannot be told; its own timeout covers it.
      sent.then(() => void (this.#stats.bytesSent += size), () => {});
    }
  }

  /**
   * A reply in model time leaves when this NIC is free: the wait is part of what serving
   * the request cost, so the frame's model times are rewritten with it.
   */
  #replyLeaves(frame: Outgoing, model: ModelSpan | undefined): void {
    if (!model || !this.#nic) return;
    const waitNs = this.#nic.send(model.nowNs(), sizeOf(frame));
    if (waitNs <= 0) return;
    model.charge(waitNs, "queue");
    setModelTimes(frame, model.elapsedNs, model.queueNs);
  }

  /**
   * Makes a message ready to send at once: checked and copied as it is when the endpoint
   * takes messages (`sendMessage`); else encoded, into the encoder's reused buffer when
   * the endpoint copies what it sends, into a fresh buffer otherwise.
   */
  #prepare(message: Message): Outgoing {
    if (this.#direct) return copyMessage(message);
    return this.#encoder ? this.#encoder.encode(message) : encode(message);
  }

  /**
   * The endpoint's `send` (`sendCopy` for a frame from the encoder's buffer,
   * `sendMessage` for a message as is), with a synchronous throw turned into a rejection.
   */
  #send(to: ComponentId, frame: Outgoing): Promise<void> {
    try {
      if (!(frame instanceof Uint8Array)) return this.#endpoint.sendMessage!(to, frame);
      return this.#encoder ? this.#endpoint.sendCopy!(to, frame) : this.#endpoint.send(to, frame);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #badFrame(error: Error, { from, bytes, message }: ReceivedFrame): void {
    this.#stats.badFrames++;
    try {
      this.#onBadFrame?.(error, from);
    } catch {
      // The callback is advisory; its failure must not stop the node.
    }
    let header: Pick<FrameHeader, "kind" | "flags" | "requestId" | "src">;
    try {
      // Any body length will do here: we only want to know whom to answer.
      header = message ?? decodeHeader(bytes, { maxBodyBytes: Number.MAX_SAFE_INTEGER });
    } catch {
      return;
    }
    if (header.src !== from) return;
    if (header.flags & FLAG_REPLY) {
      // A mangled reply still ends its call, sooner than the timeout would.
      const call = this.#pending.get(header.requestId);
      if (call && call.to === from) {
        this.#finish(
          call,
          new KernelError("EBADMSG", `malformed reply from ${from}: ${error.message}`),
        );
      }
      return;
    }
    if (header.flags & FLAG_ONE_WAY) return;
    this.#replyError(
      from,
      header.kind,
      header.requestId,
      "EBADMSG",
      `${this.id} could not decode ${header.kind} request: ${error.message}`,
    );
  }
}

/** Rewrites the model times of what is about to be sent. */
function setModelTimes(out: Outgoing, modelNs: number, queueNs: number): void {
  if (out instanceof Uint8Array) setFrameModelTimes(out, modelNs, queueNs);
  else setMessageModelTimes(out, modelNs, queueNs);
}

function checkTimeout(ms: number, name: string): void {
  if (typeof ms !== "number" || Number.isNaN(ms) || ms <= 0) {
    throw new RangeError(`${name} must be a positive number of milliseconds, got ${ms}`);
  }
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

const utf8 = new TextEncoder();

/** Shortens `text` so its UTF-8 form fits a `str` field. */
function clipUtf8(text: string): string {
  if (text.length * 3 <= MAX_STRING_BYTES) return text;
  const bytes = utf8.encode(text);
  if (bytes.length <= MAX_STRING_BYTES) return text;
  // Cut on a code point boundary, leaving room for the ellipsis.
  let end = MAX_STRING_BYTES - 3;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return new TextDecoder().decode(bytes.subarray(0, end)) + "…";
}
