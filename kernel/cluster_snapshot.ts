/**
 * The records of a cluster snapshot: what the global managers know of components,
 * processes, vRegion owners and files, as JSON. The types live in the core because the
 * manager monitor's interface (`ManagerMonitor.snapshot()`) returns them; the state
 * that fills them lives with the manager monitor (`monitors/manager/cluster_state.ts`).
 *
 * @module
 */

import type { ClusterEvent } from "./events.ts";
import type { ComponentId, Role } from "./ids.ts";
import type { AssignedCounts } from "./placement.ts";

/** Whether a component is serving, as far as the managers can tell. */
export type ComponentState = "up" | "down";

/** What the managers know of one component. */
export interface ComponentRecord {
  /** Component id. */
  id: ComponentId;
  /** Role. */
  role: Role;
  /** Up, or down after too many missed heartbeats. */
  state: ComponentState;
  /** Drained components receive no new placement but keep serving what they hold. */
  drained: boolean;
  /** When it first joined, epoch ms. */
  joinedAt: number;
  /** When it last came up (joined, re-joined, or heartbeated again after being down). */
  upSince: number;
  /** When it was declared down, epoch ms (only while down). */
  downSince?: number;
  /** Last heartbeat (or join), epoch ms. */
  lastSeenAt: number;
  /** Heartbeats received since it last joined. */
  heartbeats: number;
  /** What it announced at join (DRAM size, ExCache size, root directory, ...). */
  capacity: Record<string, unknown>;
  /** Its transport addresses (e.g. `{ tcp: "10.0.0.2:7101" }`). */
  addresses: Record<string, unknown>;
  /** The figures of its latest heartbeat. */
  load: Record<string, unknown>;
  /** What the managers placed on it (running threads and processes, homes, vRegions, files). */
  assigned: AssignedCounts;
  /** A memory component's secondary, while replication to it is on. */
  secondary?: ComponentId;
  /** The memory component that took over this one's vRegions and processes (a failover). */
  successor?: ComponentId;
}

/** A component as a snapshot shows it: its record plus figures derived at that moment. */
export interface ComponentStatus extends ComponentRecord {
  /** Milliseconds since it last came up; 0 while down. */
  uptimeMs: number;
  /** Whole heartbeat periods since the managers last heard from it. */
  missedHeartbeats: number;
}

/** What the managers know of one process. */
export interface ProcessRecord {
  /** Process id. */
  pid: number;
  /** Processor component running it. */
  processor: ComponentId;
  /** Home memory component. */
  home: ComponentId;
  /**
   * Threads it runs: the count placement was told, then the live count its processor
   * reports in each heartbeat (once exited, the last count of at least 1 reported).
   */
  threads: number;
  /** Running or exited. */
  state: "running" | "exited";
  /** Start, epoch ms. */
  startedAt: number;
  /** End, epoch ms, once exited. */
  endedAt?: number;
  /** Exit code once exited. */
  exitCode?: number;
  /** The error that ended it, if any. */
  error?: string;
  /** Wall time it ran, ns (when the managers started it and saw its result). */
  wallNs?: number;
  /** Model time it took, ns (same). */
  modelNs?: number;
  /** Its statistics (same). */
  stats?: Record<string, unknown>;
}

/** Where one vRegion lives. */
export interface VregionRecord {
  /** The process. */
  pid: number;
  /** The vRegion index. */
  vregion: number;
  /** The memory component that owns it. */
  owner: ComponentId;
}

/** Where one file lives. */
export interface FileRecord {
  /** The path as clients name it (with its vNode prefix, if any). */
  path: string;
  /** The storage component holding it. */
  storage: ComponentId;
}

/**
 * A JSON-friendly copy of everything the managers know. `takenAt`, `policies` and
 * `events` are always there in a snapshot from the stock manager; they are optional so
 * that a hand-made snapshot (a test fixture) may leave them out.
 */
export interface ClusterSnapshot {
  /** When the copy was taken, epoch ms. */
  takenAt?: number;
  /** Every component that ever joined, in id order. */
  components: ComponentStatus[];
  /** Every process placed, in pid order. */
  processes: ProcessRecord[];
  /** vRegion owners, by pid then vRegion. */
  vregions: VregionRecord[];
  /** File locations, by path. */
  files: FileRecord[];
  /** The placement policies in force, by plugin kind (e.g. `vregion-placement`). */
  policies?: Record<string, string>;
  /** The most recent cluster events the managers saw, oldest first. */
  events?: ClusterEvent[];
}

/** A snapshot as the stock manager takes it: every field present. */
export type CompleteClusterSnapshot = Required<ClusterSnapshot>;
