/**
 * A shared resource in model time — a NIC, a component's serving CPUs, a device — with
 * one or more servers, each busy over intervals of model time. A request that finds
 * every server busy waits for the first gap long enough: that wait is queueing.
 *
 * Reservations may arrive out of model-time order (threads run freely between events,
 * so a request from model time 5 µs can reach a server after one from 9 µs): each server
 * keeps its busy intervals, not only a busy-until time, and a request takes the first gap
 * at or after its own time. A server forgets intervals that end before a low-water mark
 * once it holds more than {@link BusyResource.MAX_INTERVALS}.
 *
 * @module
 */

import { KernelError } from "./errors.ts";

/**
 * A resource with `servers` identical servers.
 *
 * @example
 * ```ts
 * import { BusyResource } from "./model_resource.ts";
 * const cpu = new BusyResource("m0.cpu", 1);
 * console.assert(cpu.reserve(0, 5) === 0);  // idle: starts at once
 * console.assert(cpu.reserve(0, 5) === 5);  // waits for the first
 * console.assert(cpu.reserve(20, 5) === 20);
 * console.assert(cpu.reserve(10, 5) === 10); // fits in the gap 10..20
 * ```
 */
export class BusyResource {
  /** Intervals a server keeps before it forgets the oldest. */
  static readonly MAX_INTERVALS = 4096;
  /** Name, for reports. */
  readonly name: string;
  /** Per server: busy intervals as [start0, end0, start1, end1, ...], sorted, disjoint. */
  readonly #busy: number[][];
  #reservations = 0;
  #busyNs = 0;
  #waitedNs = 0;

  /** A resource called `name` with `servers` servers (an integer >= 1). */
  constructor(name: string, servers = 1) {
    if (!Number.isInteger(servers) || servers < 1 || servers > 1024) {
      throw new KernelError("EINVAL", `${name}: servers must be an integer 1-1024, got ${servers}`);
    }
    this.name = name;
    this.#busy = Array.from({ length: servers }, () => []);
  }

  /**
   * Reserves one server for `busyNs` from model time `atNs` or the first gap after it;
   * returns when the work starts (`>= atNs`; the difference is the wait).
   */
  reserve(atNs: number, busyNs: number): number {
    if (!(atNs >= 0 && atNs < Infinity) || !(busyNs >= 0 && busyNs < Infinity)) {
      throw new KernelError(
        "EINVAL",
        `${this.name}: reserve(${atNs}, ${busyNs}) needs finite times >= 0`,
      );
    }
    let best = -1;
    let bestStart = Infinity;
    let bestIndex = 0;
    for (let s = 0; s < this.#busy.length; s++) {
      const start = firstGap(this.#busy[s], atNs, busyNs);
      if (start < bestStart) {
        best = s;
        bestStart = start;
        bestIndex = gapIndex;
      }
      if (start === atNs) break;
    }
    if (busyNs > 0) {
      const intervals = this.#busy[best];
      // Most reservations come after every interval: a push, not a splice (which costs
      // several times more, and a NIC reserves twice per message).
      if (bestIndex === intervals.length) intervals.push(bestStart, bestStart + busyNs);
      else intervals.splice(bestIndex, 0, bestStart, bestStart + busyNs);
      if (intervals.length > 2 * BusyResource.MAX_INTERVALS) {
        intervals.splice(0, 2 * Math.floor(intervals.length / 4)); // whole pairs, oldest first
      }
    }
    this.#reservations++;
    this.#busyNs += busyNs;
    this.#waitedNs += bestStart - atNs;
    return bestStart;
  }

  /** Reservations so far, their total busy time and total wait, in ns. */
  stats(): { reservations: number; busyNs: number; waitedNs: number } {
    return { reservations: this.#reservations, busyNs: this.#busyNs, waitedNs: this.#waitedNs };
  }
}

/** Where {@link firstGap} puts the new interval (set by each call: no tuple per call). */
let gapIndex = 0;

/**
 * The earliest start `>= at` of a gap of `length` in `intervals`; sets {@link gapIndex} to
 * the index where the new interval goes.
 */
function firstGap(intervals: number[], at: number, length: number): number {
  const n = intervals.length;
  if (n === 0 || intervals[n - 1] <= at) {
    gapIndex = n; // after every interval (what the search below finds too, sooner)
    return at;
  }
  // Skip intervals that end at or before `at` (binary search on the ends).
  let lo = 0;
  let hi = intervals.length / 2;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (intervals[2 * mid + 1] <= at) lo = mid + 1;
    else hi = mid;
  }
  let start = at;
  for (let i = lo; i < intervals.length / 2; i++) {
    const busyStart = intervals[2 * i];
    if (start + length <= busyStart) {
      gapIndex = 2 * i;
      return start;
    }
    start = Math.max(start, intervals[2 * i + 1]);
  }
  gapIndex = intervals.length;
  return start;
}
