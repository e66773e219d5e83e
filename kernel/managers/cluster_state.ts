/**
 * The cluster state the global managers keep in one place: components and their load,
 * processes, vRegion owners and file locations. The control plane reads it through
 * {@link ClusterState.snapshot} without reaching into any monitor.
 *
 * @module
 */

import type { ComponentId, Role } from "../ids.ts";

/** Whether a component is serving. */
export type ComponentState = "up" | "down";

/** What the managers know of one component. */
export interface ComponentRecord {
  /** Component id. */
  id: ComponentId;
  /** Role. */
  role: Role;
  /** Up or down. */
  state: ComponentState;
  /** When it joined, epoch ms. */
  joinedAt: number;
  /** Last heartbeat (or join), epoch ms. */
  lastSeenAt: number;
  /** What it announced at join (DRAM size, ExCache size, ...). */
  capacity: Record<string, unknown>;
  /** Its transport addresses. */
  addresses: Record<string, unknown>;
  /** The latest load figures from its heartbeat. */
  load: Record<string, unknown>;
}

/** What the managers know of one process. */
export interface ProcessRecord {
  /** Process id. */
  pid: number;
  /** Processor component running it. */
  processor: ComponentId;
  /** Home memory component. */
  home: ComponentId;
  /** Threads it runs. */
  threads: number;
  /** Running or exited. */
  state: "running" | "exited";
  /** Start, epoch ms. */
  startedAt: number;
  /** Exit code once exited. */
  exitCode?: number;
  /** The error that ended it, if any. */
  error?: string;
}

/** A JSON-friendly copy of the whole state. */
export interface ClusterSnapshot {
  /** Every component that ever joined. */
  components: ComponentRecord[];
  /** Every process placed. */
  processes: ProcessRecord[];
  /** vRegion owners as `{ pid, vregion, owner }`. */
  vregions: { pid: number; vregion: number; owner: ComponentId }[];
  /** File locations as `{ path, storage }`. */
  files: { path: string; storage: ComponentId }[];
}

/**
 * Mutable cluster state, owned by the manager monitor.
 *
 * @example
 * ```ts
 * import { ClusterState } from "./cluster_state.ts";
 * const state = new ClusterState();
 * state.join("m0", "memory", {}, {}, 0);
 * console.assert(state.up("memory").length === 1);
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

  /** Records a join (or a re-join after a restart). */
  join(
    id: ComponentId,
    role: Role,
    capacity: Record<string, unknown>,
    addresses: Record<string, unknown>,
    now: number,
  ): ComponentRecord {
    const record: ComponentRecord = {
      id,
      role,
      state: "up",
      joinedAt: now,
      lastSeenAt: now,
      capacity,
      addresses,
      load: {},
    };
    this.components.set(id, record);
    return record;
  }

  /** Components of `role` that are up, in id order. */
  up(role: Role): ComponentRecord[] {
    return [...this.components.values()]
      .filter((c) => c.role === role && c.state === "up")
      .sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Threads of running processes on each processor. */
  threadsOn(processor: ComponentId): number {
    let n = 0;
    for (const p of this.processes.values()) {
      if (p.processor === processor && p.state === "running") n += p.threads;
    }
    return n;
  }

  /** Running processes whose home is `memory`. */
  processesHomedOn(memory: ComponentId): number {
    let n = 0;
    for (const p of this.processes.values()) {
      if (p.home === memory && p.state === "running") n++;
    }
    return n;
  }

  /** A JSON-friendly copy. */
  snapshot(): ClusterSnapshot {
    return structuredClone({
      components: [...this.components.values()],
      processes: [...this.processes.values()],
      vregions: [...this.vregionOwners].map(([key, owner]) => {
        const [pid, vregion] = key.split(":").map(Number);
        return { pid, vregion, owner };
      }),
      files: [...this.fileLocations].map(([path, storage]) => ({ path, storage })),
    });
  }
}
