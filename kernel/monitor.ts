/**
 * The monitor interfaces: what every per-component kernel implements.
 *
 * LegoOS runs one monitor per hardware component (processor, memory, storage) plus the
 * global managers. Here a monitor is a plain object created by a plugin
 * (`definePlugin({ kind: "memory-monitor", ... })`) from a {@link MonitorContext}; it
 * talks to other monitors only by message, through `context.rpc`.
 *
 * (Naming: LegoOS's code calls per-component kernels "managers" and the global ones
 * "monitors"; its paper, and legoemu, use the opposite.)
 *
 * @module
 */

import type { Clock } from "./clock.ts";
import type { EventBus } from "./events.ts";
import type { ComponentId, Role } from "./ids.ts";
import type { LatencyModel } from "./latency.ts";
import type { ModelTimeScheduler } from "./model_scheduler.ts";
import type { ClusterSnapshot } from "./cluster_snapshot.ts";
import type { MetricsRegistry } from "./metrics.ts";
import type { PluginRegistry } from "./plugins.ts";
import type { RpcNode } from "./rpc.ts";
import type { TransportEndpoint } from "./transport.ts";

/** Everything a monitor is handed when it is created. */
export interface MonitorContext {
  /** This component's id. */
  readonly id: ComponentId;
  /** This component's role. */
  readonly role: Role;
  /** The id of the global manager component. */
  readonly manager: ComponentId;
  /** The cluster's name (from its config), for reports. */
  readonly cluster?: string;
  /** RPC over this component's transport endpoint: the only way to reach other components. */
  readonly rpc: RpcNode;
  /** The raw endpoint, for one-sided access to registered regions. */
  readonly endpoint: TransportEndpoint;
  /** The latency model that charges model time. */
  readonly latency: LatencyModel;
  /** Wall clock. */
  readonly wallClock: Clock;
  /** Cluster events (component up/down, process start/exit, faults, placements). */
  readonly events: EventBus;
  /** Counters and histograms exposed by the control plane. */
  readonly metrics: MetricsRegistry;
  /** The plugin registry, for monitors that load policy plugins. */
  readonly registry: PluginRegistry;
  /**
   * In deterministic mode, the cluster's scheduler: processors make their threads reach
   * the system through it, in model-time order. In one OS process it is the cluster's
   * `ModelScheduler`; in a processor of its own process, a `RemoteScheduler` forwarding to
   * the manager's, which hosts it.
   */
  readonly scheduler?: ModelTimeScheduler;
  /** Writes one log line attributed to this component. */
  log(message: string): void;
}

/** What every monitor implements. */
export interface Monitor {
  /** The component id. */
  readonly id: ComponentId;
  /** The component role. */
  readonly role: Role;
  /** Registers message handlers and joins the cluster. */
  start(): Promise<void>;
  /** Stops serving; releases what it holds. Idempotent. */
  stop(): Promise<void>;
  /** A JSON-friendly snapshot of the monitor's statistics. */
  stats(): Record<string, unknown>;
  /**
   * Answers a control-plane question beyond `stats` and `transport` (which every
   * component answers), e.g. `address-space` with `{ pid }` on a memory component.
   * Throw `KernelError("ENOENT")` for a question it does not know.
   */
  query?(what: string, args: Record<string, unknown>): unknown | Promise<unknown>;
  /** Ends a running process (processors). */
  kill?(pid: number): Promise<void>;
  /** Switches a run-time policy of this component (e.g. a processor's replacement policy). */
  setPolicy?(kind: string, name: string): Promise<void>;
}

/** How a process is to be started on a processor component. */
export interface ProcessSpec {
  /** Cluster-wide process id, assigned by the global process manager. */
  pid: number;
  /** The process's home memory component (serves its address-space calls). */
  home: ComponentId;
  /** Path or URL of the workload module, which exports `main(proc)`. */
  workload: string;
  /** Arguments handed to the workload. */
  args: readonly string[];
}

/** How a process ended. */
export interface ProcessResult {
  /** The process id. */
  pid: number;
  /** Exit code: the workload's return value, 0 by default, 1 on an uncaught error. */
  exitCode: number;
  /** The error that ended the process, if any. */
  error?: string;
  /** Wall time the process ran, in nanoseconds. */
  wallNs: number;
  /** Model time the emulated hardware would have taken, in nanoseconds. */
  modelNs: number;
  /** Per-process statistics (cache hits, misses, bytes moved, ...). */
  stats: Record<string, number>;
}

/** The processor monitor (pComponent): runs processes whose memory lives elsewhere. */
export interface ProcessorMonitor extends Monitor {
  /** The role. */
  readonly role: "processor";
  /** Runs a process to completion. Never rejects for a workload's own failure. */
  runProcess(spec: ProcessSpec): Promise<ProcessResult>;
}

/** The memory monitor (mComponent): owns virtual memory, page tables and DRAM frames. */
export interface MemoryMonitor extends Monitor {
  /** The role. */
  readonly role: "memory";
}

/** The storage monitor (sComponent): a stateless file service. */
export interface StorageMonitor extends Monitor {
  /** The role. */
  readonly role: "storage";
}

/** A placement decided by the global process manager. */
export interface ProcessPlacement {
  /** The new process id. */
  pid: number;
  /** The processor component that runs it. */
  processor: ComponentId;
  /** Its home memory component. */
  home: ComponentId;
}

/** What {@link ManagerMonitor.snapshot} includes. */
export interface SnapshotOptions {
  /** Include the recent events (default true); the control plane reads events elsewhere. */
  events?: boolean;
}

/** The global managers (GPM, GMM, GSM) in one component. */
export interface ManagerMonitor extends Monitor {
  /** The role. */
  readonly role: "manager";
  /** Places a new process with `threads` threads (on `processor`, when given and up). */
  placeProcess(threads: number, processor?: ComponentId): Promise<ProcessPlacement>;
  /** A copy of the cluster state the managers keep (what the control plane shows). */
  snapshot(options?: SnapshotOptions): ClusterSnapshot;
}
