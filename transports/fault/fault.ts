/**
 * Fault injection around any transport: drops, delays, duplicates and reorders frames,
 * partitions components, and crashes a component at a chosen message, all decided by
 * one seeded generator so that a seed replays the same faults for the same traffic.
 *
 * Every two-sided frame gets its fate drawn in the order frames are sent: lost, or
 * delivered after a delay drawn from `[delayMsMin, delayMsMax]`, possibly held back
 * behind the sender's next frame to the same destination (reordered), possibly delivered
 * twice (duplicated). A frame between two partitioned groups is lost like on a cut
 * network; one-sided reads and writes across a partition fail as unreachable. A crashed
 * component's endpoint is closed, as if its process had been killed. With every fault
 * off the wrapper passes frames straight through.
 *
 * @module
 */

import { UnreachableError } from "../../kernel/errors.ts";
import type { ComponentId } from "../../kernel/ids.ts";
import { mulberry32 } from "../../kernel/prng.ts";
import type {
  AttachOptions,
  MemoryRegion,
  RegionAccess,
  Transport,
  TransportEndpoint,
} from "../../kernel/transport.ts";

/** Which faults to inject; every probability is per frame, in [0, 1]. */
export interface FaultOptions {
  /** Seed of the generator that decides every fault (default 1). */
  seed?: number;
  /** Probability that a frame is lost. */
  lossProbability?: number;
  /** Probability that a frame is delivered twice. */
  duplicateProbability?: number;
  /** Probability that a frame is held back behind the sender's next frame to the same peer. */
  reorderProbability?: number;
  /** Shortest delay added to a frame, in ms (default 0). */
  delayMsMin?: number;
  /** Longest delay added to a frame, in ms (default 0: no delay). */
  delayMsMax?: number;
  /** Groups of components that cannot reach each other's groups (a network partition). */
  partitions?: ComponentId[][];
  /** Crashes `component` when it is about to send its `message`-th frame (1-based). */
  crashAt?: { component: ComponentId; message: number };
  /** Told when a component crashes by injection. */
  onCrash?: (component: ComponentId) => void;
}

/** What happened to one frame, in send order: the record a seed must reproduce. */
export interface FaultDecision {
  /** Frame number across the transport, from 1. */
  n: number;
  /** Sender. */
  from: ComponentId;
  /** Destination. */
  to: ComponentId;
  /** Its fate. */
  action: "pass" | "lost" | "partitioned" | "crashed" | "delayed" | "reordered" | "duplicated";
  /** Delay added, in ms. */
  delayMs: number;
}

/** Counts of injected faults. */
export interface FaultStats {
  /** Frames sent through the wrapper. */
  frames: number;
  /** Frames lost at random. */
  lost: number;
  /** Frames lost to a partition. */
  partitioned: number;
  /** Frames delivered twice. */
  duplicated: number;
  /** Frames held back behind a later one. */
  reordered: number;
  /** Frames delivered late. */
  delayed: number;
  /** Components crashed by injection. */
  crashes: number;
}

/** A transport with fault injection, controllable while it runs. */
export interface FaultTransport extends Transport {
  /** Every frame's fate so far, in send order. */
  readonly trace: readonly FaultDecision[];
  /** Counts of injected faults. */
  readonly faults: FaultStats;
  /** Cuts the network into `groups` (components in no group reach everyone). */
  partition(groups: ComponentId[][]): void;
  /** Ends every partition. */
  heal(): void;
  /** Crashes `component` now: its endpoint closes as if its process were killed. */
  crash(component: ComponentId): Promise<void>;
}

function probability(name: string, value: number | undefined): number {
  const p = value ?? 0;
  if (typeof p !== "number" || !(p >= 0 && p <= 1)) {
    throw new RangeError(`${name} must be a probability in [0, 1], got ${value}`);
  }
  return p;
}

/**
 * Wraps `inner` with the faults of `options`.
 *
 * @example
 * ```ts
 * import { createMemoryTransport } from "../memory.ts";
 * import { createFaultTransport } from "./fault.ts";
 * const t = createFaultTransport(createMemoryTransport(), { seed: 7, lossProbability: 1 });
 * const a = await t.attach("a");
 * await t.attach("b");
 * await a.send("b", new Uint8Array(8)); // accepted, and lost
 * console.assert(t.faults.lost === 1 && t.trace[0].action === "lost");
 * await t.close();
 * ```
 */
export function createFaultTransport(inner: Transport, options: FaultOptions = {}): FaultTransport {
  const loss = probability("lossProbability", options.lossProbability);
  const duplicate = probability("duplicateProbability", options.duplicateProbability);
  const reorder = probability("reorderProbability", options.reorderProbability);
  const delayMsMin = options.delayMsMin ?? 0;
  const delayMsMax = Math.max(options.delayMsMax ?? 0, delayMsMin);
  if (!(delayMsMin >= 0) || !(delayMsMax <= 60_000)) {
    throw new RangeError(`delayMsMin/delayMsMax must lie in [0, 60000] ms`);
  }
  const crashAt = options.crashAt;
  if (crashAt && !(Number.isInteger(crashAt.message) && crashAt.message >= 1)) {
    throw new RangeError(`crashAt.message must be an integer >= 1, got ${crashAt.message}`);
  }
  const random = mulberry32(options.seed ?? 1);
  const trace: FaultDecision[] = [];
  const faults: FaultStats = {
    frames: 0,
    lost: 0,
    partitioned: 0,
    duplicated: 0,
    reordered: 0,
    delayed: 0,
    crashes: 0,
  };
  let group = new Map<ComponentId, number>();
  const setPartitions = (groups: ComponentId[][]) => {
    group = new Map(groups.flatMap((ids, i) => ids.map((id) => [id, i] as const)));
  };
  setPartitions(options.partitions ?? []);
  const cut = (a: ComponentId, b: ComponentId) => {
    const ga = group.get(a);
    const gb = group.get(b);
    return ga !== undefined && gb !== undefined && ga !== gb;
  };
  const active = () =>
    loss > 0 || duplicate > 0 || reorder > 0 || delayMsMax > 0 || group.size > 0 ||
    crashAt !== undefined;
  const endpoints = new Map<ComponentId, FaultEndpoint>();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const crashed = new Set<ComponentId>();
  const sent = new Map<ComponentId, number>();

  const crash = async (id: ComponentId) => {
    if (crashed.has(id)) return;
    crashed.add(id);
    faults.crashes++;
    await endpoints.get(id)?.inner.close();
    options.onCrash?.(id);
  };

  class FaultEndpoint implements TransportEndpoint {
    readonly inner: TransportEndpoint;
    /** Frames held back per destination, released after the next frame to it. */
    readonly #held = new Map<ComponentId, Uint8Array[]>();
    constructor(inner: TransportEndpoint) {
      this.inner = inner;
    }
    get id(): ComponentId {
      return this.inner.id;
    }
    get addresses(): Readonly<Record<string, string>> | undefined {
      return this.inner.addresses;
    }
    get receiveQueue() {
      return this.inner.receiveQueue;
    }
    send(to: ComponentId, frame: Uint8Array): Promise<void> {
      if (!active()) return this.inner.send(to, frame);
      return this.#faulty(to, frame);
    }
    sendCopy(to: ComponentId, frame: Uint8Array): Promise<void> {
      if (!active()) {
        return this.inner.sendCopy
          ? this.inner.sendCopy(to, frame)
          : this.inner.send(to, frame.slice());
      }
      return this.#faulty(to, frame.slice());
    }
    #faulty(to: ComponentId, frame: Uint8Array): Promise<void> {
      const from = this.id;
      if (crashed.has(from)) {
        return Promise.reject(new UnreachableError(to, `${from} has crashed (fault injection)`));
      }
      const n = ++faults.frames;
      const count = (sent.get(from) ?? 0) + 1;
      sent.set(from, count);
      const record = (action: FaultDecision["action"], delayMs = 0) =>
        void trace.push({ n, from, to, action, delayMs });
      if (crashAt && crashAt.component === from && crashAt.message === count) {
        record("crashed");
        return crash(from);
      }
      // Draw every number each frame, so one fault's outcome never shifts the others'.
      const [lossDraw, dupDraw, reorderDraw, delayDraw] = [random(), random(), random(), random()];
      if (cut(from, to)) {
        faults.partitioned++;
        record("partitioned");
        return Promise.resolve();
      }
      if (lossDraw < loss) {
        faults.lost++;
        record("lost");
        return Promise.resolve();
      }
      const delayMs = delayMsMax > 0 ? delayMsMin + delayDraw * (delayMsMax - delayMsMin) : 0;
      if (reorderDraw < reorder) {
        faults.reordered++;
        record("reordered", delayMs);
        const held = this.#held.get(to) ?? [];
        held.push(frame);
        this.#held.set(to, held);
        // Released behind the next frame to `to`, or soon if none comes.
        this.#later(Math.max(delayMsMax, 1) * 2, () => this.#release(to));
        return Promise.resolve();
      }
      const copies = dupDraw < duplicate ? [frame, frame.slice()] : [frame];
      if (copies.length > 1) faults.duplicated++;
      if (delayMs > 0) faults.delayed++;
      record(copies.length > 1 ? "duplicated" : delayMs > 0 ? "delayed" : "pass", delayMs);
      const deliver = async () => {
        for (const copy of copies) await this.#deliver(to, copy);
        this.#release(to);
      };
      if (delayMs > 0) {
        this.#later(delayMs, deliver);
        return Promise.resolve();
      }
      return deliver();
    }
    async #deliver(to: ComponentId, frame: Uint8Array): Promise<void> {
      if (crashed.has(to)) throw new UnreachableError(to, `${to} has crashed (fault injection)`);
      await this.inner.send(to, frame);
    }
    #release(to: ComponentId): void {
      const held = this.#held.get(to);
      if (!held || held.length === 0) return;
      this.#held.delete(to);
      for (const frame of held) this.#deliver(to, frame).catch(() => {}); // lost like the network
    }
    #later(ms: number, work: () => Promise<void> | void): void {
      const timer = setTimeout(() => {
        timers.delete(timer);
        Promise.resolve().then(work).catch(() => {}); // a late frame to a gone peer is lost
      }, ms);
      timers.add(timer);
    }
    #check(peer: ComponentId): void {
      if (crashed.has(this.id)) throw new UnreachableError(peer, `${this.id} has crashed`);
      if (crashed.has(peer)) {
        throw new UnreachableError(peer, `${peer} has crashed (fault injection)`);
      }
      if (cut(this.id, peer)) throw new UnreachableError(peer, "partitioned (fault injection)");
    }
    registerRegion(bytes: Uint8Array, access: RegionAccess): MemoryRegion {
      return this.inner.registerRegion(bytes, access);
    }
    deregisterRegion(region: MemoryRegion): void {
      this.inner.deregisterRegion(region);
    }
    async read(
      from: ComponentId,
      key: number,
      offset: number,
      length: number,
    ): Promise<Uint8Array> {
      this.#check(from);
      return await this.inner.read(from, key, offset, length);
    }
    async write(to: ComponentId, key: number, offset: number, data: Uint8Array): Promise<void> {
      this.#check(to);
      await this.inner.write(to, key, offset, data);
    }
    close(): Promise<void> {
      endpoints.delete(this.id);
      return this.inner.close();
    }
  }

  return {
    name: `fault(${inner.name})`,
    trace,
    faults,
    async attach(id: ComponentId, attachOptions?: AttachOptions): Promise<TransportEndpoint> {
      const endpoint = new FaultEndpoint(await inner.attach(id, attachOptions));
      endpoints.set(id, endpoint);
      return endpoint;
    },
    partition: setPartitions,
    heal: () => setPartitions([]),
    crash,
    async close(): Promise<void> {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await inner.close();
    },
  };
}
