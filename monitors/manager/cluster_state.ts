/**
 * The cluster state the global managers keep in one place: components (role, up or down,
 * drained, capacity, latest heartbeat load, what was placed on them), processes, vRegion
 * owners and file locations. The manager monitor is its only writer; everyone else
 * (the control plane, the CLI, tests) reads a JSON copy through
 * {@link ClusterState.snapshot} (or `ManagerMonitor.snapshot()`, which adds the recent
 * events and the policies in force), never a monitor's internals.
 *
 * @module
 */

import type { ClusterEvent } from "../../kernel/events.ts";
import type { ComponentId, Role } from "../../kernel/ids.ts";
import type { AssignedCounts, PlacementCandidate } from "../../kernel/placement.ts";

import type {
  CompleteClusterSnapshot,
  ComponentRecord,
  ProcessRecord,
} from "../../kernel/cluster_snapshot.ts";
export type {
  ClusterSnapshot,
  CompleteClusterSnapshot,
  ComponentRecord,
  ComponentState,
  ComponentStatus,
  FileRecord,
  ProcessRecord,
  VregionRecord,
} from "../../kernel/cluster_snapshot.ts";

/** How many components (by role, up) and processes (running, exited) there are. */
export interface ClusterCensus {
  /** Components: all, up, down, and how many of each role. */
  components: { total: number; up: number; down: number; byRole: Record<string, number> };
  /** Processes by state. */
  processes: { running: number; exited: number };
}

/**
 * The census of a snapshot (what {@link ClusterState.census} counts without copying).
 *
 * @example
 * ```ts
 * import { censusOf } from "./cluster_state.ts";
 * const census = censusOf({ components: [{ role: "memory", state: "up" }], processes: [] });
 * console.assert(census.components.byRole.memory === 1 && census.processes.running === 0);
 * ```
 */
export function censusOf(snapshot: {
  components: readonly { role: string; state: string }[];
  processes: readonly { state: string }[];
}): ClusterCensus {
  const byRole: Record<string, number> = {};
  let up = 0;
  for (const c of snapshot.components) {
    byRole[c.role] = (byRole[c.role] ?? 0) + 1;
    if (c.state === "up") up++;
  }
  let running = 0;
  for (const p of snapshot.processes) if (p.state === "running") running++;
  const total = snapshot.components.length;
  return {
    components: { total, up, down: total - up, byRole },
    processes: { running, exited: snapshot.processes.length - running },
  };
}

/** Options of {@link ClusterState}. */
export interface ClusterStateOptions {
  /** Heartbeat period in ms, for `missedHeartbeats` in snapshots (default 1000). */
  heartbeatMs?: number;
  /** Epoch-millisecond clock (default `Date.now`). */
  now?: () => number;
}

const noneAssigned = (): AssignedCounts => ({
  threads: 0,
  processes: 0,
  homes: 0,
  vregions: 0,
  files: 0,
});

/**
 * Mutable cluster state, owned by the manager monitor. Its maps are public for reading;
 * change them only through the methods, which keep every component's `assigned` counts
 * in step.
 *
 * @example
 * ```ts
 * import { ClusterState } from "./cluster_state.ts";
 * const state = new ClusterState({ now: () => 1_000 });
 * state.join("m0", "memory", { dramBytes: 1 << 20 }, {});
 * state.join("m1", "memory", {}, {});
 * state.setVregionOwner(1, 0, "m1");
 * console.assert(state.candidates("memory").length === 2);
 * console.assert(state.components.get("m1")?.assigned.vregions === 1);
 * console.assert(state.snapshot().vregions[0].owner === "m1");
 * ```
 */
export class ClusterState {
  /** Components by id. */
  readonly components: Map<ComponentId, ComponentRecord> = new Map();
  /** Processes by pid. */
  readonly processes: Map<number, ProcessRecord> = new Map();
  /** vRegion owner by `pid:vregion`. */
  readonly vregionOwners: Map<string, ComponentId> = new Map();
  /** Storage component by file path. */
  readonly fileLocations: Map<string, ComponentId> = new Map();
  readonly #heartbeatMs: number;
  readonly #now: () => number;

  /** Creates an empty state. */
  constructor(options: ClusterStateOptions = {}) {
    this.#heartbeatMs = options.heartbeatMs ?? 1000;
    this.#now = options.now ?? Date.now;
  }

  /** The state's clock, epoch ms. */
  now(): number {
    return this.#now();
  }

  /**
   * Records a join, or a re-join after a restart (same id): the record comes up again,
   * keeps its `joinedAt`, drained flag and placement counts, and takes the new capacity
   * and addresses. Returns the record and whether it is a re-join.
   */
  join(
    id: ComponentId,
    role: Role,
    capacity: Record<string, unknown>,
    addresses: Record<string, unknown>,
  ): { record: ComponentRecord; rejoined: boolean } {
    const now = this.#now();
    const old = this.components.get(id);
    const record: ComponentRecord = {
      id,
      role,
      state: "up",
      drained: old?.role === role ? old.drained : false,
      joinedAt: old?.joinedAt ?? now,
      upSince: now,
      lastSeenAt: now,
      heartbeats: 0,
      capacity,
      addresses,
      load: {},
      assigned: old?.role === role ? old.assigned : noneAssigned(),
    };
    this.components.set(id, record);
    return { record, rejoined: old !== undefined };
  }

  /**
   * Records a heartbeat from `id` with its load. Returns the record and whether it was
   * down until now, or `undefined` when `id` never joined.
   */
  heartbeat(
    id: ComponentId,
    load: Record<string, unknown>,
  ): { record: ComponentRecord; recovered: boolean } | undefined {
    const record = this.components.get(id);
    if (!record) return undefined;
    const now = this.#now();
    record.load = load;
    record.lastSeenAt = now;
    record.heartbeats++;
    const recovered = record.state === "down";
    if (recovered) {
      record.state = "up";
      record.upSince = now;
      delete record.downSince;
    }
    return { record, recovered };
  }

  /**
   * Takes the live thread counts processor `id` reported (pid → threads) for the running
   * processes it runs, keeping its `assigned.threads` in step. Counts that are not
   * whole numbers of at least 1 (a process with no live thread is exiting: it keeps the
   * last count seen), and pids of other processors, are ignored.
   *
   * @example
   * ```ts
   * import { ClusterState } from "./cluster_state.ts";
   * const state = new ClusterState();
   * state.join("p0", "processor", {}, {});
   * state.addProcess({ pid: 1, processor: "p0", home: "m0", threads: 1, state: "running", startedAt: 0 });
   * state.reportThreads("p0", { 1: 2 });
   * state.reportThreads("p0", { 1: 0 }); // its threads ended: it is exiting
   * console.assert(state.processes.get(1)?.threads === 2);
   * console.assert(state.components.get("p0")?.assigned.threads === 2);
   * ```
   */
  reportThreads(id: ComponentId, threadsByPid: Record<string, unknown>): void {
    for (const [pid, threads] of Object.entries(threadsByPid)) {
      const record = this.processes.get(Number(pid));
      if (!record || record.processor !== id || record.state !== "running") continue;
      if (typeof threads !== "number" || !Number.isInteger(threads) || threads < 1) continue;
      this.#bump(id, "threads", threads - record.threads);
      record.threads = threads;
    }
  }

  /** Declares `id` down (no-op when unknown or already down); returns whether it changed. */
  markDown(id: ComponentId): boolean {
    const record = this.components.get(id);
    if (!record || record.state === "down") return false;
    record.state = "down";
    record.downSince = this.#now();
    return true;
  }

  /** Whole heartbeat periods since `record` was last heard from. */
  missedHeartbeats(record: ComponentRecord): number {
    return Math.max(0, Math.floor((this.#now() - record.lastSeenAt) / this.#heartbeatMs));
  }

  /** Components of `role` that are up, in id order (drained ones included). */
  up(role: Role): ComponentRecord[] {
    return [...this.components.values()]
      .filter((c) => c.role === role && c.state === "up")
      .sort(byId);
  }

  /** Components of `role` that may receive a placement: up and not drained, in id order. */
  candidates(role: Role): PlacementCandidate[] {
    return this.up(role).filter((c) => !c.drained).map((c) => ({
      id: c.id,
      role: c.role,
      capacity: c.capacity,
      load: c.load,
      assigned: { ...c.assigned },
      lastSeenAt: c.lastSeenAt,
    }));
  }

  /** Records a new running process and counts it on its processor and home. */
  addProcess(record: ProcessRecord): void {
    if (this.processes.has(record.pid)) {
      throw new RangeError(`process ${record.pid} is already recorded`);
    }
    this.processes.set(record.pid, record);
    this.#countProcess(record, +1);
  }

  /**
   * Records that process `pid` exited; returns its record, or `undefined` when unknown.
   * A second exit of the same process changes nothing but the details given.
   */
  endProcess(
    pid: number,
    result: Pick<ProcessRecord, "exitCode" | "error" | "wallNs" | "modelNs" | "stats">,
  ): ProcessRecord | undefined {
    const record = this.processes.get(pid);
    if (!record) return undefined;
    if (record.state === "running") {
      record.state = "exited";
      record.endedAt = this.#now();
      this.#countProcess(record, -1);
    }
    for (const [key, value] of Object.entries(result)) {
      if (value !== undefined && value !== "") {
        (record as unknown as Record<string, unknown>)[key] = value;
      }
    }
    return record;
  }

  /** The owner of vRegion `vregion` of `pid`, if placed. */
  vregionOwner(pid: number, vregion: number): ComponentId | undefined {
    return this.vregionOwners.get(`${pid}:${vregion}`);
  }

  /** Records (or moves) the owner of a vRegion. */
  setVregionOwner(pid: number, vregion: number, owner: ComponentId): void {
    const key = `${pid}:${vregion}`;
    const old = this.vregionOwners.get(key);
    if (old !== undefined) this.#bump(old, "vregions", -1);
    this.vregionOwners.set(key, owner);
    this.#bump(owner, "vregions", +1);
  }

  /** Forgets every vRegion of `pid` (its address space is gone); returns how many. */
  dropVregions(pid: number): number {
    let n = 0;
    const prefix = `${pid}:`;
    for (const [key, owner] of this.vregionOwners) {
      if (!key.startsWith(prefix)) continue;
      this.vregionOwners.delete(key);
      this.#bump(owner, "vregions", -1);
      n++;
    }
    return n;
  }

  /**
   * Moves the vRegions `from` owns and the running processes it homes to `to` (a
   * failover). Returns how many of each moved.
   */
  moveWork(from: ComponentId, to: ComponentId): { vregions: number; processes: number } {
    let vregions = 0;
    for (const [key, owner] of [...this.vregionOwners]) {
      if (owner !== from) continue;
      const [pid, vregion] = key.split(":").map(Number);
      this.setVregionOwner(pid, vregion, to);
      vregions++;
    }
    let processes = 0;
    for (const record of this.processes.values()) {
      if (record.home !== from || record.state !== "running") continue;
      this.#bump(from, "homes", -1);
      record.home = to;
      this.#bump(to, "homes", +1);
      processes++;
    }
    return { vregions, processes };
  }

  /** Records (or moves) the storage component holding `path`. */
  setFileLocation(path: string, storage: ComponentId): void {
    const old = this.fileLocations.get(path);
    if (old !== undefined) this.#bump(old, "files", -1);
    this.fileLocations.set(path, storage);
    this.#bump(storage, "files", +1);
  }

  /**
   * Forgets `path` and, when `recursive`, every path below it (a removed directory);
   * only entries held by `storage`, when given. Returns how many were dropped.
   */
  dropFiles(path: string, options: { recursive?: boolean; storage?: ComponentId } = {}): number {
    let n = 0;
    for (const [p, holder] of [...this.fileLocations]) {
      if (p !== path && !(options.recursive && p.startsWith(path + "/"))) continue;
      if (options.storage !== undefined && holder !== options.storage) continue;
      this.fileLocations.delete(p);
      this.#bump(holder, "files", -1);
      n++;
    }
    return n;
  }

  /**
   * Moves `from` (and every path below it, for a directory) to `to` on `storage`, as a
   * rename on that component did. Returns how many entries moved.
   */
  renameFiles(from: string, to: string, storage: ComponentId): number {
    // Whatever `to` named before was replaced by the rename.
    this.dropFiles(to, { recursive: true, storage });
    let n = 0;
    for (const [p, holder] of [...this.fileLocations]) {
      if (holder !== storage) continue;
      if (p !== from && !p.startsWith(from + "/")) continue;
      this.fileLocations.delete(p);
      this.fileLocations.set(to + p.slice(from.length), holder);
      n++;
    }
    return n;
  }

  /** Files held by each storage component, paths sorted. */
  filesByStorage(): Record<ComponentId, string[]> {
    const out: Record<ComponentId, string[]> = {};
    for (const c of this.components.values()) if (c.role === "storage") out[c.id] = [];
    for (const [path, storage] of this.fileLocations) (out[storage] ??= []).push(path);
    for (const paths of Object.values(out)) paths.sort();
    return out;
  }

  /**
   * Counts of components and processes, read in place: what `GET /api/cluster` shows,
   * without the cost of a snapshot (which copies every component's load).
   */
  census(): ClusterCensus {
    return censusOf({
      components: [...this.components.values()],
      processes: [...this.processes.values()],
    });
  }

  /**
   * A JSON-friendly copy. `policies` and `events` are the caller's to fill (the manager
   * monitor knows them; the state does not).
   */
  snapshot(
    extra: { policies?: Record<string, string>; events?: ClusterEvent[] } = {},
  ): CompleteClusterSnapshot {
    const now = this.#now();
    // Copies made field by field: a snapshot is taken on every control-plane request, and
    // structuredClone of the whole state made `GET /api/cluster` several times slower.
    // Loads and capacities are replaced whole on every heartbeat, never edited in place, so
    // one level of copying is enough; events are frozen by the event bus.
    return {
      takenAt: now,
      components: [...this.components.values()].sort(byId).map((c) => ({
        ...c,
        capacity: { ...c.capacity },
        addresses: { ...c.addresses },
        load: { ...c.load },
        assigned: { ...c.assigned },
        uptimeMs: c.state === "up" ? now - c.upSince : 0,
        missedHeartbeats: this.missedHeartbeats(c),
      })),
      processes: [...this.processes.values()].sort((a, b) => a.pid - b.pid)
        .map((p) => ({ ...p, stats: p.stats && { ...p.stats } })),
      vregions: [...this.vregionOwners].map(([key, owner]) => {
        const [pid, vregion] = key.split(":").map(Number);
        return { pid, vregion, owner };
      }).sort((a, b) => a.pid - b.pid || a.vregion - b.vregion),
      files: [...this.fileLocations].map(([path, storage]) => ({ path, storage }))
        .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
      policies: { ...extra.policies },
      events: [...(extra.events ?? [])],
    };
  }

  #countProcess(p: ProcessRecord, sign: 1 | -1): void {
    this.#bump(p.processor, "threads", sign * p.threads);
    this.#bump(p.processor, "processes", sign);
    this.#bump(p.home, "homes", sign);
  }

  #bump(id: ComponentId, field: keyof AssignedCounts, by: number): void {
    const record = this.components.get(id);
    if (record) record.assigned[field] = Math.max(0, record.assigned[field] + by);
  }
}

function byId(a: { id: string }, b: { id: string }): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
