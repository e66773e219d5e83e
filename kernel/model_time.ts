/**
 * Model time across components: a request carries the caller's model time, the server
 * adds what it spends serving it, and the reply carries the total back.
 *
 * The RPC layer serves every request inside a {@link ModelSpan}: it starts at the
 * request's model time (from the frame header) and grows with every charge made while
 * the handler runs — software service time, device I/O, waits at busy resources
 * ({@link BusyResource}), and further calls (each adds its round trip plus the callee's
 * own span). Code anywhere under a handler charges the request it serves with
 * {@link chargeModel} and {@link occupy}, without passing the span around: the span
 * follows the handler's asynchronous work (`AsyncLocalStorage`). Work done outside any
 * request (a timer, a background flush) is charged to nobody.
 *
 * Work done in parallel is charged as the slowest branch, not the sum: see
 * {@link inParallel}.
 *
 * @module
 */

import { AsyncLocalStorage } from "node:async_hooks";
import type { BusyResource } from "./model_resource.ts";

/** Kinds of model time a span or a thread keeps apart, for reports. */
export type ModelCharge = "service" | "device" | "network" | "queue";

/**
 * The model time one request has cost so far on the component serving it (and the
 * components it called).
 *
 * @example
 * ```ts
 * import { ModelSpan } from "./model_time.ts";
 * const span = new ModelSpan(1_000);
 * span.charge(500, "device");
 * console.assert(span.nowNs() === 1_500 && span.elapsedNs === 500 && span.parts.device === 500);
 * ```
 */
export class ModelSpan {
  /** Model time the request arrived (the caller's model time when it sent it). */
  readonly startNs: number;
  /** Model time spent serving it so far. */
  elapsedNs = 0;
  /** Of that, time spent waiting for busy resources. */
  queueNs = 0;
  /** The same time split by kind (`queue` included). */
  readonly parts: Record<ModelCharge, number> = { service: 0, device: 0, network: 0, queue: 0 };

  /** A span starting at model time `startNs`. */
  constructor(startNs: number) {
    this.startNs = startNs;
  }

  /** The request's current model time: its start plus what it cost so far. */
  nowNs(): number {
    return this.startNs + this.elapsedNs;
  }

  /** Adds `ns` of `kind` (ignored unless finite and > 0). */
  charge(ns: number, kind: ModelCharge): void {
    if (!(ns > 0 && ns < Infinity)) return;
    this.elapsedNs += ns;
    this.parts[kind] += ns;
    if (kind === "queue") this.queueNs += ns;
  }

  /**
   * Adds what a further call cost: its round trip on the wire, then the callee's service
   * time, of which `queueNs` was queueing there.
   */
  chargeCall(networkNs: number, serviceNs: number, queueNs: number): void {
    this.charge(networkNs, "network");
    const waited = Math.min(Math.max(0, queueNs), serviceNs);
    this.charge(waited, "queue");
    this.charge(serviceNs - waited, "service");
  }
}

const current = new AsyncLocalStorage<ModelSpan>();

/**
 * Runs `fn` serving a request whose model time is `span`: charges made under it (also
 * after `await`s) go to `span`.
 *
 * @example
 * ```ts
 * import { chargeModel, ModelSpan, withSpan } from "./model_time.ts";
 * const span = new ModelSpan(0);
 * await withSpan(span, async () => {
 *   await Promise.resolve();
 *   chargeModel(250, "service");
 * });
 * console.assert(span.elapsedNs === 250);
 * ```
 */
export function withSpan<T>(span: ModelSpan, fn: () => T): T {
  return current.run(span, fn);
}

/**
 * Runs `fn` outside any request: work it starts (a process a processor runs for as long
 * as it lives) charges nobody's span.
 *
 * @example
 * ```ts
 * import { chargeModel, ModelSpan, withoutSpan, withSpan } from "./model_time.ts";
 * const span = new ModelSpan(0);
 * withSpan(span, () => withoutSpan(() => chargeModel(5, "service")));
 * console.assert(span.elapsedNs === 0);
 * ```
 */
export function withoutSpan<T>(fn: () => T): T {
  return current.exit(fn);
}

/**
 * The span of the request being served here, if any.
 *
 * @example
 * ```ts
 * import { currentSpan } from "./model_time.ts";
 * console.assert(currentSpan() === undefined);
 * ```
 */
export function currentSpan(): ModelSpan | undefined {
  return current.getStore();
}

/**
 * Charges `ns` of `kind` to the request being served (nothing outside a request).
 *
 * @example
 * ```ts
 * import { chargeModel, ModelSpan, withSpan } from "./model_time.ts";
 * const span = new ModelSpan(0);
 * withSpan(span, () => chargeModel(100, "device"));
 * chargeModel(100, "device"); // outside any request: nobody pays
 * console.assert(span.elapsedNs === 100);
 * ```
 */
export function chargeModel(ns: number, kind: ModelCharge): void {
  current.getStore()?.charge(ns, kind);
}

/**
 * Uses `resource` for `busyNs` from the current request's model time: the request waits
 * (charged as queueing) until the resource is free, then is charged `latencyNs` (default
 * `busyNs`: a device answers when it is done; a server CPU may answer before it has
 * finished the request's bookkeeping). Nothing happens outside a request.
 *
 * @example
 * ```ts
 * import { BusyResource } from "./model_resource.ts";
 * import { ModelSpan, occupy, withSpan } from "./model_time.ts";
 * const disk = new BusyResource("ssd");
 * const a = new ModelSpan(0);
 * const b = new ModelSpan(0);
 * withSpan(a, () => occupy(disk, 100, "device"));
 * withSpan(b, () => occupy(disk, 100, "device"));
 * console.assert(a.elapsedNs === 100 && b.elapsedNs === 200 && b.queueNs === 100);
 * ```
 */
export function occupy(
  resource: BusyResource,
  busyNs: number,
  kind: ModelCharge,
  latencyNs: number = busyNs,
): void {
  const span = current.getStore();
  if (!span) return;
  const now = span.nowNs();
  const start = resource.reserve(now, busyNs);
  span.charge(start - now, "queue");
  span.charge(latencyNs, kind);
}

/**
 * Runs `tasks` at once under the current request: each starts at the request's current
 * model time in a span of its own, and the request is charged the slowest of them (work
 * the hardware does in parallel costs the maximum, not the sum). Outside a request it is
 * `Promise.all`.
 *
 * @example
 * ```ts
 * import { chargeModel, inParallel, ModelSpan, withSpan } from "./model_time.ts";
 * const span = new ModelSpan(0);
 * await withSpan(span, () =>
 *   inParallel([100, 300, 200].map((ns) => () => Promise.resolve(chargeModel(ns, "device"))))
 * );
 * console.assert(span.elapsedNs === 300);
 * ```
 */
export async function inParallel<T>(tasks: readonly (() => Promise<T>)[]): Promise<T[]> {
  const parent = current.getStore();
  if (!parent) return await Promise.all(tasks.map((task) => task()));
  const start = parent.nowNs();
  const branches = tasks.map(() => new ModelSpan(start));
  try {
    return await Promise.all(tasks.map((task, i) => current.run(branches[i], task)));
  } finally {
    let slowest: ModelSpan | undefined;
    for (const branch of branches) {
      if (!slowest || branch.elapsedNs > slowest.elapsedNs) slowest = branch;
    }
    if (slowest) {
      for (const kind of Object.keys(slowest.parts) as ModelCharge[]) {
        parent.charge(slowest.parts[kind], kind);
      }
    }
  }
}

/**
 * {@link inParallel} that waits for every task and reports each outcome, as
 * `Promise.allSettled` does: the request is charged the slowest task, failed ones included.
 *
 * @example
 * ```ts
 * import { chargeModel, inParallelSettled, ModelSpan, withSpan } from "./model_time.ts";
 * const span = new ModelSpan(0);
 * const results = await withSpan(span, () =>
 *   inParallelSettled([
 *     () => Promise.resolve(chargeModel(100, "network")),
 *     () => Promise.reject(new Error("down")),
 *   ])
 * );
 * console.assert(results[1].status === "rejected" && span.elapsedNs === 100);
 * ```
 */
export function inParallelSettled<T>(
  tasks: readonly (() => Promise<T>)[],
): Promise<PromiseSettledResult<T>[]> {
  return inParallel(tasks.map((task) => () =>
    task().then(
      (value): PromiseSettledResult<T> => ({ status: "fulfilled", value }),
      (reason): PromiseSettledResult<T> => ({ status: "rejected", reason }),
    )
  ));
}
