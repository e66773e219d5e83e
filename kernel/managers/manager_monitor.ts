/**
 * The global managers in one component: GPM (process placement), GMM (vRegion placement)
 * and GSM (file placement), plus membership (join, heartbeat, failure detection).
 *
 * Placement here is the stock behaviour: a new process goes to the processor with the
 * fewest running threads and is homed on the memory component with the fewest homed
 * processes; vRegions go round-robin over the memory components that are up; a file stays
 * on the storage component that first received it, new files go to the one holding the
 * fewest.
 *
 * @module
 */

import { z } from "zod";
import { KernelError } from "../errors.ts";
import { isRole } from "../ids.ts";
import type { ManagerMonitor, MonitorContext, ProcessPlacement } from "../monitor.ts";
import type { Schema } from "../zod_issues.ts";
import { type ClusterSnapshot, ClusterState } from "./cluster_state.ts";

/** Options of the stock manager. */
export interface ManagerOptions {
  /** How often components send heartbeats, in milliseconds (default 1000). */
  heartbeatMs: number;
  /** Heartbeats a component may miss before it is declared down (default 3). */
  missedHeartbeats: number;
  /** Size of a vRegion in bytes, a power of two of at least 4 KiB (default 1 GiB). */
  vregionBytes: number;
}

/** Validates {@link ManagerOptions}, filling defaults. */
export const ManagerOptionsSchema: Schema<ManagerOptions> = z.strictObject({
  heartbeatMs: z.number().int().min(10).max(60_000).default(1000),
  missedHeartbeats: z.number().int().min(1).max(100).default(3),
  vregionBytes: z.number().int().min(4096).max(2 ** 46)
    .refine((n) => Number.isInteger(Math.log2(n)), "must be a power of two")
    .default(2 ** 30),
});

/**
 * The stock manager monitor.
 *
 * @example
 * ```ts ignore
 * const manager = new StockManager(context, { heartbeatMs: 1000, missedHeartbeats: 3 });
 * await manager.start();
 * const placement = await manager.placeProcess(1);
 * ```
 */
export class StockManager implements ManagerMonitor {
  /** The role. */
  readonly role = "manager" as const;
  /** The component id. */
  readonly id: string;
  /** Everything the managers know; read it through `state.snapshot()`. */
  readonly state: ClusterState = new ClusterState();
  #context: MonitorContext;
  #options: ManagerOptions;
  #nextPid = 1;
  #nextVregionOwner = 0;
  #sweeper: ReturnType<typeof setInterval> | undefined;

  /** Creates the manager; `start()` begins serving. */
  constructor(context: MonitorContext, options: ManagerOptions) {
    this.#context = context;
    this.#options = options;
    this.id = context.id;
  }

  /** Registers the MGR_* handlers and starts failure detection. */
  start(): Promise<void> {
    const ctx = this.#context;
    this.state.join(this.id, "manager", {}, {}, Date.now());
    ctx.rpc.handle({
      MGR_JOIN: (body, call) => {
        if (!isRole(body.role)) throw new KernelError("EINVAL", `unknown role "${body.role}"`);
        const capacity = asRecord(body.capacity);
        const addresses = asRecord(body.addresses);
        this.state.join(call.from, body.role, capacity, addresses, Date.now());
        ctx.events.emit("component.up", { component: call.from, data: { role: body.role } });
        return {
          heartbeatMs: this.#options.heartbeatMs,
          vregionBytes: this.#options.vregionBytes,
        };
      },
      MGR_HEARTBEAT: (body, call) => {
        const record = this.state.components.get(call.from);
        if (!record) throw new KernelError("ENOENT", `${call.from} has not joined`);
        record.load = asRecord(body.load);
        record.lastSeenAt = Date.now();
        if (record.state === "down") {
          record.state = "up";
          ctx.events.emit("component.up", { component: call.from, data: { role: record.role } });
        }
        return {};
      },
      MGR_PLACE_PROCESS: (body) => this.placeProcess(body.threads),
      MGR_PLACE_VREGION: (body) => ({ owner: this.placeVregion(body.pid, body.vregion) }),
      MGR_PLACE_FILE: (body) => ({ storage: this.placeFile(body.path) }),
      MGR_LOOKUP: ({ id }) => {
        const record = this.state.components.get(id);
        if (!record) throw new KernelError("ENOENT", `no component "${id}" has joined`);
        return { role: record.role, state: record.state, addresses: record.addresses };
      },
      MGR_SNAPSHOT: () => ({ state: this.state.snapshot() }),
      MGR_SPAWN: async ({ workload, args, threads }) => {
        if (!Array.isArray(args) || !args.every((a) => typeof a === "string")) {
          throw new KernelError("EINVAL", "args must be an array of strings");
        }
        const placement = await this.placeProcess(threads);
        const result = await ctx.rpc.call(placement.processor, "MGR_EXEC", {
          pid: placement.pid,
          home: placement.home,
          workload,
          args,
        }, { timeoutMs: Infinity });
        return { ...placement, ...result };
      },
      MGR_PROCESS_EXIT: (body) => {
        const process = this.state.processes.get(body.pid);
        if (!process) throw new KernelError("ESRCH", `no process ${body.pid}`);
        process.state = "exited";
        process.exitCode = body.exitCode;
        if (body.error) process.error = body.error;
        ctx.events.emit("process.exit", {
          component: process.processor,
          data: { pid: body.pid, exitCode: body.exitCode, error: body.error || undefined },
        });
        return {};
      },
    });
    const sweeper = setInterval(() => this.#sweep(), this.#options.heartbeatMs);
    Deno.unrefTimer(sweeper);
    this.#sweeper = sweeper;
    return Promise.resolve();
  }

  /** Stops failure detection. */
  stop(): Promise<void> {
    if (this.#sweeper !== undefined) clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    return Promise.resolve();
  }

  /** GPM: picks the processor with the fewest running threads and a home memory component. */
  placeProcess(threads: number): Promise<ProcessPlacement> {
    if (!Number.isInteger(threads) || threads < 1) {
      return Promise.reject(new KernelError("EINVAL", `threads must be >= 1, got ${threads}`));
    }
    const processor = minBy(this.state.up("processor"), (c) => this.state.threadsOn(c.id));
    const home = minBy(this.state.up("memory"), (c) => this.state.processesHomedOn(c.id));
    if (!processor) {
      return Promise.reject(new KernelError("EAGAIN", "no processor component is up"));
    }
    if (!home) return Promise.reject(new KernelError("EAGAIN", "no memory component is up"));
    const pid = this.#nextPid++;
    this.state.processes.set(pid, {
      pid,
      processor: processor.id,
      home: home.id,
      threads,
      state: "running",
      startedAt: Date.now(),
    });
    const placement = { pid, processor: processor.id, home: home.id };
    this.#context.events.emit("process.start", { component: processor.id, data: placement });
    return Promise.resolve(placement);
  }

  /** GMM: the owner of vRegion `vregion` of process `pid` (placed on first request). */
  placeVregion(pid: number, vregion: number): string {
    const key = `${pid}:${vregion}`;
    const known = this.state.vregionOwners.get(key);
    if (known) return known;
    const memories = this.state.up("memory");
    if (memories.length === 0) throw new KernelError("EAGAIN", "no memory component is up");
    const owner = memories[this.#nextVregionOwner++ % memories.length].id;
    this.state.vregionOwners.set(key, owner);
    this.#context.events.emit("placement", { data: { what: "vregion", pid, vregion, owner } });
    return owner;
  }

  /** GSM: the storage component that holds `path` (placed on first request). */
  placeFile(path: string): string {
    const known = this.state.fileLocations.get(path);
    if (known) return known;
    const counts = new Map<string, number>();
    for (const storage of this.state.fileLocations.values()) {
      counts.set(storage, (counts.get(storage) ?? 0) + 1);
    }
    const storage = minBy(this.state.up("storage"), (c) => counts.get(c.id) ?? 0);
    if (!storage) throw new KernelError("EAGAIN", "no storage component is up");
    this.state.fileLocations.set(path, storage.id);
    return storage.id;
  }

  /** A copy of everything the managers know. */
  snapshot(): ClusterSnapshot {
    return this.state.snapshot();
  }

  /** Counts of components, processes and placements. */
  stats(): Record<string, unknown> {
    const components = [...this.state.components.values()];
    return {
      componentsUp: components.filter((c) => c.state === "up").length,
      componentsDown: components.filter((c) => c.state === "down").length,
      processes: this.state.processes.size,
      vregions: this.state.vregionOwners.size,
      files: this.state.fileLocations.size,
    };
  }

  /** Declares down every component whose heartbeats stopped. */
  #sweep(): void {
    const deadline = Date.now() - this.#options.heartbeatMs * this.#options.missedHeartbeats;
    for (const record of this.state.components.values()) {
      if (record.id === this.id || record.state === "down") continue;
      if (record.lastSeenAt < deadline) {
        record.state = "down";
        this.#context.events.emit("component.down", {
          component: record.id,
          data: { role: record.role, lastSeenAt: record.lastSeenAt },
        });
      }
    }
  }
}

function asRecord(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value)
    ? value as Record<string, unknown>
    : {};
}

function minBy<T>(items: T[], score: (item: T) => number): T | undefined {
  let best: T | undefined;
  let bestScore = Infinity;
  for (const item of items) {
    const s = score(item);
    if (s < bestScore) {
      best = item;
      bestScore = s;
    }
  }
  return best;
}
