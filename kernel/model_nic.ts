/**
 * A component's NIC in model time: one {@link BusyResource} per direction (the link is full
 * duplex), each busy for a message's wire time at the link rate (`LatencyModel.wireNs` of
 * the frame's bytes, header included). A message that finds its direction busy waits:
 * that wait is queueing, charged to whoever sent or awaits the message.
 *
 * Time base: a message occupies its sender's transmit side and its receiver's receive side
 * at the moment it is sent (its bits stream out of one and into the other at once), so both
 * ends reserve the same instant: a request at the model time it carries, a reply at its
 * request's time plus what serving it cost. The round trip itself (`messageNs`) already
 * includes one message's wire time on an idle link, so only the waits are added.
 *
 * Only messages in model time occupy a NIC (a call that carries a thread's or a served
 * request's model time, and its reply): managers' heartbeats and the control plane's calls
 * are outside model time and would otherwise pile up at model time 0.
 *
 * @module
 */

import type { LatencyModel } from "./latency.ts";
import { BusyResource } from "./model_resource.ts";

/**
 * The two directions of one component's NIC.
 *
 * @example
 * ```ts
 * import { ModelNic } from "./model_nic.ts";
 * const nic = new ModelNic("m0", { wireNs: (bytes: number) => bytes / 5 });
 * // Two 4 KiB replies sent at the same model time: the second waits for the first.
 * console.assert(nic.send(1_000, 4096) === 0);
 * console.assert(nic.send(1_000, 4096) === 4096 / 5);
 * ```
 */
export class ModelNic {
  /** Transmit side: messages this component sends. */
  readonly tx: BusyResource;
  /** Receive side: messages this component receives. */
  readonly rx: BusyResource;
  readonly #latency: Pick<LatencyModel, "wireNs">;

  /** The NIC of component `id`, its wire time from `latency`. */
  constructor(id: string, latency: Pick<LatencyModel, "wireNs">) {
    this.tx = new BusyResource(`${id}.nic.tx`);
    this.rx = new BusyResource(`${id}.nic.rx`);
    this.#latency = latency;
  }

  /** Puts a frame of `bytes` on the wire at model time `atNs`; returns the wait, in ns. */
  send(atNs: number, bytes: number): number {
    return this.tx.reserve(atNs, this.#latency.wireNs(bytes)) - atNs;
  }

  /** Takes a frame of `bytes` sent at model time `atNs` off the wire; returns the wait, in ns. */
  receive(atNs: number, bytes: number): number {
    return this.rx.reserve(atNs, this.#latency.wireNs(bytes)) - atNs;
  }

  /** Both directions' reservations, busy time and waits so far. */
  stats(): { tx: ReturnType<BusyResource["stats"]>; rx: ReturnType<BusyResource["stats"]> } {
    return { tx: this.tx.stats(), rx: this.rx.stats() };
  }
}
