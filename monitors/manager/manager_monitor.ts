/**
 * The global managers in one component: GPM (process placement), GMM (vRegion and home
 * placement) and GSM (file placement), plus membership (join, heartbeat, failure
 * detection) and the cluster state they share.
 *
 * Where things go is decided by placement-policy plugins named in the manager's options
 * and looked up in the plugin registry at start (so a user-registered policy works by
 * name; an unknown name fails the boot with the names available). The manager hands a
 * policy only components that are up and not drained, and checks its answer. Placement
 * is idempotent where it must be: a vRegion or a file asked about twice stays where it
 * was first placed, even when its component went down since (its data lives there).
 *
 * vRegions are placed when first mapped (`vregionPlacementAt: "mmap"`) or when a page of
 * them first reaches memory (`"first-touch"`): then the home's request at `mmap` is
 * answered "not yet", and a processor's first miss or write-back there is passed to the
 * process's home (`MGR_VREGION_TOUCH`), which asks for the owner and tells it its VMAs.
 * The vRegion policy sees heartbeat figures, or — with `vregionFigures: "current"` or a
 * policy that declares `figures: "current"` — figures asked of every memory component at
 * decision time (`MGR_QUERY` `load`). Asked, not kept from allocation replies: frames are
 * taken and freed by owners serving flushes and `munmap`s the manager never sees, so only
 * the components know their figures; placements are rare (once per vRegion), so one small
 * query per candidate each time is cheap, and a candidate that does not answer within a
 * heartbeat period (at most 1 s) keeps its heartbeat figures.
 *
 * @module
 */

import { z } from "npm:zod@4.6.7";
import { KernelError } from "../../kernel/errors.ts";
import type { ComponentId, Role } from "../../kernel/ids.ts";
import { isRole } from "../../kernel/ids.ts";
import { MAX_STRING_BYTES, type ReplyOf } from "../../kernel/messages.ts";
import type {
  ManagerMonitor,
  MonitorContext,
  ProcessPlacement,
  SnapshotOptions,
} from "../../kernel/monitor.ts";
import type {
  FilePlacementPolicy,
  PlacementCandidate,
  PlacementContext,
  PlacementFigures,
  PlacementTime,
  ProcessPlacementPolicy,
  VregionPlacementPolicy,
} from "../../kernel/placement.ts";
import { PluginError } from "../../kernel/plugins.ts";
import type { Schema } from "../../kernel/zod_issues.ts";
import { mulberry32 } from "../../kernel/prng.ts";
import { type ClusterCensus, ClusterState, type CompleteClusterSnapshot } from "./cluster_state.ts";
import { FailureDetector } from "./failure_detector.ts";
import { Replication } from "./replication.ts";
import { FAILOVER_DEADLINE_MS, isUnreachable } from "../../kernel/failover.ts";
import { managerControlSource } from "./control/manager_source.ts";
import { ModelScheduler } from "../../kernel/model_scheduler.ts";
import { SchedulerHost } from "./scheduler_host.ts";
import { type ControlServer, serveControlPlane } from "./control/server.ts";

/** A placement policy chosen in the manager's options: a plugin name and its options. */
export interface PolicySelection {
  /** The plugin's name (e.g. `round-robin`). */
  plugin: string;
  /** Its options (validated by the plugin's schema at start). */
  options: Record<string, unknown>;
}

/** Options of the stock manager. */
export interface ManagerOptions {
  /** How often components send heartbeats, in milliseconds (default 1000). */
  heartbeatMs: number;
  /** Heartbeat periods a component may stay silent before it is declared down (default 3). */
  missedHeartbeats: number;
  /** Size of a vRegion in bytes, a power of two of at least 4 KiB (default 1 GiB). */
  vregionBytes: number;
  /** GPM policy, a `process-placement` plugin (default `fewest-threads`). */
  processPlacement: PolicySelection;
  /** GMM policy, a `vregion-placement` plugin (default `round-robin`). */
  vregionPlacement: PolicySelection;
  /**
   * When a vRegion gets its owner: when first mapped (`"mmap"`, the default) or when a page
   * of it first reaches memory (`"first-touch"`). Fixed for the manager's life.
   */
  vregionPlacementAt: PlacementTime;
  /**
   * The load figures the vRegion policy sees, for vRegions and homes: the latest heartbeat's
   * (`"heartbeat"`, the default) or asked of every memory component at decision time
   * (`"current"`). A policy declaring `figures: "current"` always gets current ones.
   */
  vregionFigures: PlacementFigures;
  /** GSM policy, a `file-placement` plugin (default `fewest-files`). */
  filePlacement: PolicySelection;
  /** How many recent events a snapshot carries (default 100). */
  snapshotEvents: number;
  /** Seed of the randomness handed to policies (default 1). */
  seed: number;
  /**
   * The HTTP control plane this manager serves; omitted: none. `port` 0 picks a free
   * port. Without `tokenFile` (or `LEGOEMU_TOKEN`) a token is generated and written to
   * a file beside the log line that announces it; a non-loopback `hostname` then refuses
   * to start.
   */
  control?: ControlOptions;
}

/** Where and how the manager serves the control plane. */
export interface ControlOptions {
  /** Address to bind (default `127.0.0.1`). */
  hostname: string;
  /** Port (default 7080; 0 picks a free one). */
  port: number;
  /** File holding the bearer token for mutating endpoints. */
  tokenFile?: string;
  /** Period of the live stream's load ticks, ms (default 1000). */
  tickMs: number;
  /** Host names clients may address (`Host` header); see `ControlServerOptions`. */
  allowedHosts?: string[];
}

const policySelection = (defaultName: string) =>
  z.union([
    z.string().min(1),
    z.strictObject({
      plugin: z.string().min(1),
      options: z.record(z.string(), z.unknown()).optional(),
    }),
  ]).default(defaultName).transform((value): PolicySelection =>
    typeof value === "string"
      ? { plugin: value, options: {} }
      : { plugin: value.plugin, options: value.options ?? {} }
  );

/**
 * Validates {@link ManagerOptions}, filling defaults. A policy is given by name
 * (`"most-free-memory"`) or as `{ plugin, options }`.
 *
 * @example
 * ```ts
 * import { ManagerOptionsSchema } from "./manager_monitor.ts";
 * const parsed = ManagerOptionsSchema.safeParse({ vregionPlacement: "fewest-requests" });
 * console.assert(parsed.success && parsed.data.vregionPlacement.plugin === "fewest-requests");
 * console.assert(parsed.success && parsed.data.processPlacement.plugin === "fewest-threads");
 * ```
 */
export const ManagerOptionsSchema: Schema<ManagerOptions> = z.strictObject({
  heartbeatMs: z.number().int().min(10).max(60_000).default(1000),
  missedHeartbeats: z.number().int().min(1).max(100).default(3),
  vregionBytes: z.number().int().min(4096).max(2 ** 46)
    .refine((n) => Number.isInteger(Math.log2(n)), "must be a power of two")
    .default(2 ** 30),
  processPlacement: policySelection("fewest-threads"),
  vregionPlacement: policySelection("round-robin"),
  vregionPlacementAt: z.enum(["mmap", "first-touch"]).default("mmap").describe(
    "When a vRegion gets its owner: at the mmap that first maps it, or when a page of it " +
      "first reaches memory (a miss fetches it or a dirty line is written back).",
  ),
  vregionFigures: z.enum(["heartbeat", "current"]).default("heartbeat").describe(
    "Load figures the vRegion policy sees: the latest heartbeat's, or asked of every memory " +
      'component at decision time (a policy declaring figures: "current" always gets these).',
  ),
  filePlacement: policySelection("fewest-files"),
  snapshotEvents: z.number().int().min(0).max(10_000).default(100),
  seed: z.number().int().default(1),
  control: z.strictObject({
    hostname: z.string().min(1).default("127.0.0.1"),
    port: z.number().int().min(0).max(65535).default(7080),
    tokenFile: z.string().min(1).optional(),
    tickMs: z.number().int().min(20).max(60_000).default(1000),
    allowedHosts: z.array(z.string().min(1).max(255)).min(1).max(64).optional(),
  }).optional(),
});

/** The placement kinds a manager switches between (see {@link StockManager.setPolicy}). */
export type PlacementKind = "process-placement" | "vregion-placement" | "file-placement";

const PLACEMENT_OPTION: Record<PlacementKind, keyof ManagerOptions> = {
  "process-placement": "processPlacement",
  "vregion-placement": "vregionPlacement",
  "file-placement": "filePlacement",
};

/** What a storage component reports after changing its namespace (`MGR_FILE_CHANGED`). */
const FILE_CHANGES = ["create", "remove", "rmdir", "rename"] as const;

/**
 * The stock manager monitor.
 *
 * @example
 * ```ts ignore
 * const manager = new StockManager(context, ManagerOptionsSchema.parse({}));
 * await manager.start();
 * const placement = await manager.placeProcess(1);
 * ```
 */
export class StockManager implements ManagerMonitor {
  /** The role. */
  readonly role = "manager" as const;
  /** The component id. */
  readonly id: string;
  /** Everything the managers know; read it through {@link StockManager.snapshot}. */
  readonly state: ClusterState;
  #context: MonitorContext;
  #options: ManagerOptions;
  #nextPid = 1;
  #detector: FailureDetector;
  #replication: Replication;
  #prng: () => number;
  #process: ProcessPlacementPolicy | undefined;
  #vregion: VregionPlacementPolicy | undefined;
  #file: FilePlacementPolicy | undefined;
  #counts = { placements: 0, joins: 0, heartbeats: 0, downs: 0 };
  #control: ControlServer | undefined;
  #tokenFile: string | undefined;
  /** Deterministic mode across OS processes: the cluster's scheduler, for remote processors. */
  #scheduler: SchedulerHost | undefined;

  /** Creates the manager; `start()` loads its policies and begins serving. */
  constructor(context: MonitorContext, options: ManagerOptions) {
    this.#context = context;
    this.#options = options;
    this.id = context.id;
    this.#prng = mulberry32(options.seed);
    this.state = new ClusterState({ heartbeatMs: options.heartbeatMs });
    this.#replication = new Replication({
      self: this.id,
      state: this.state,
      rpc: context.rpc,
      events: context.events,
      log: (line) => context.log(line),
    });
    this.#detector = new FailureDetector(this.state, {
      heartbeatMs: options.heartbeatMs,
      missedHeartbeats: options.missedHeartbeats,
      self: this.id,
      onDown: (id, missed) => {
        this.#counts.downs++;
        const record = this.state.components.get(id)!;
        context.events.emit("component.down", {
          component: id,
          data: { role: record.role, missedHeartbeats: missed, lastSeenAt: record.lastSeenAt },
        });
        context.log(`${id} declared down after ${missed} missed heartbeats`);
        this.#replication.down(id);
        this.#scheduler?.down(id);
      },
      onSuspect: (id, missed) =>
        context.events.emit("component.suspect", {
          component: id,
          data: { missedHeartbeats: missed },
        }),
    });
  }

  /** Loads the placement policies, registers the MGR_* handlers and starts failure detection. */
  async start(): Promise<void> {
    const ctx = this.#context;
    for (const kind of Object.keys(PLACEMENT_OPTION) as PlacementKind[]) {
      const selection = this.#options[PLACEMENT_OPTION[kind]] as PolicySelection;
      this.#install(kind, await this.#createPolicy(kind, selection));
    }
    this.state.join(this.id, "manager", {}, {});
    if (ctx.scheduler instanceof ModelScheduler) {
      // Deterministic mode: processors in other OS processes drive this scheduler.
      this.#scheduler = new SchedulerHost(ctx.scheduler, (line) => ctx.log(line));
      ctx.rpc.handle(this.#scheduler.handlers());
    }
    ctx.rpc.handle({
      MGR_JOIN: async (body, call) => {
        if (!isRole(body.role)) {
          throw new KernelError("EINVAL", `${call.from} announced unknown role "${body.role}"`);
        }
        if (body.role === "manager" || call.from === this.id) {
          throw new KernelError("EINVAL", `${call.from} cannot join as a second manager`);
        }
        // A restarted primary is failed over before it may serve again.
        await this.#replication.beforeJoin(call.from, body.role);
        const { rejoined } = this.state.join(
          call.from,
          body.role,
          asRecord(body.capacity),
          asRecord(body.addresses),
        );
        this.#replication.joined(call.from, asRecord(body.capacity));
        this.#counts.joins++;
        ctx.events.emit("component.up", {
          component: call.from,
          data: { role: body.role, rejoined },
        });
        return {
          heartbeatMs: this.#options.heartbeatMs,
          vregionBytes: this.#options.vregionBytes,
        };
      },
      MGR_HEARTBEAT: (body, call) => {
        const seen = this.state.heartbeat(call.from, asRecord(body.load));
        if (!seen) {
          throw new KernelError("ENOENT", `${call.from} has not joined; send MGR_JOIN first`);
        }
        this.#counts.heartbeats++;
        const threads = seen.record.load.threadsByPid;
        if (seen.record.role === "processor" && typeof threads === "object" && threads) {
          this.state.reportThreads(call.from, threads as Record<string, unknown>);
        }
        if (seen.recovered) {
          ctx.events.emit("component.up", {
            component: call.from,
            data: { role: seen.record.role, recovered: true },
          });
          ctx.log(`${call.from} is heartbeating again: up`);
        }
        return {};
      },
      MGR_PLACE_PROCESS: (body) => this.placeProcess(body.threads),
      MGR_PLACE_VREGION: async ({ pid, vregion, touch }, call) => ({
        owner: await this.#placeVregionRequest(pid, vregion, touch, call.from),
      }),
      MGR_PLACE_FILE: (body) => ({ storage: this.placeFile(body.path) }),
      MGR_FILE_CHANGED: (body, call) => {
        this.#fileChanged(call.from, body.change, body.path, body.to);
        return {};
      },
      MGR_DRAIN: async ({ id, drained }) => (await this.drain(id, drained), {}),
      MGR_REPLICA_INFO: ({ id, pid }) => this.#replication.info(id, pid),
      MGR_LOOKUP: ({ id }) => {
        const record = this.state.components.get(id);
        if (!record) throw new KernelError("ENOENT", `no component "${id}" has joined`);
        return { role: record.role, state: record.state, addresses: record.addresses };
      },
      MGR_SNAPSHOT: () => ({ state: this.snapshot() }),
      MGR_SPAWN: async ({ workload, args, threads }) => {
        if (!Array.isArray(args) || !args.every((a) => typeof a === "string")) {
          throw new KernelError("EINVAL", "args must be an array of strings");
        }
        const placement = await this.placeProcess(threads);
        let result: ReplyOf<"MGR_EXEC">;
        try {
          result = await ctx.rpc.call(placement.processor, "MGR_EXEC", {
            pid: placement.pid,
            home: placement.home,
            workload,
            args,
          }, { timeoutMs: Infinity });
        } catch (e) {
          this.#endProcess(placement.pid, { exitCode: 1, error: (e as Error).message });
          throw e;
        }
        this.#endProcess(placement.pid, {
          exitCode: result.exitCode,
          error: result.error,
          wallNs: result.wallNs,
          modelNs: result.modelNs,
          stats: asRecord(result.stats),
        });
        return { ...placement, ...result };
      },
      MGR_PROCESS_EXIT: (body) => {
        if (!this.state.processes.has(body.pid)) {
          throw new KernelError("ESRCH", `no process ${body.pid}`);
        }
        this.#endProcess(body.pid, { exitCode: body.exitCode, error: body.error });
        return {};
      },
    });
    this.#detector.start();
    if (this.#options.control) await this.#serveControl(this.#options.control);
  }

  /** The control plane's base URL, when this manager serves one. */
  get controlUrl(): string | undefined {
    return this.#control?.url;
  }

  async #serveControl(options: ControlOptions): Promise<void> {
    const ctx = this.#context;
    const source = managerControlSource({
      name: ctx.cluster ?? "legoemu",
      manager: this,
      rpc: ctx.rpc,
      events: ctx.events,
      metrics: ctx.metrics,
      latency: ctx.latency,
      log: (line) => ctx.log(line),
    });
    this.#control = await serveControlPlane(source, options);
    let token = `token from ${options.tokenFile ?? "LEGOEMU_TOKEN"}`;
    if (this.#control.generatedToken) {
      // Loopback only: keep the generated token where the CLI and scripts can read it.
      const file = await Deno.makeTempFile({ prefix: `legoemu-${this.id}-token-` });
      await Deno.writeTextFile(file, this.#control.token + "\n", { mode: 0o600 });
      this.#tokenFile = file;
      token = `token in ${file}`;
    }
    ctx.log(`control plane at ${this.#control.url} (${token})`);
  }

  /**
   * Stops failure detection and the control plane, and removes the token file it
   * generated, if any. Idempotent.
   */
  async stop(): Promise<void> {
    await this.#control?.close();
    this.#control = undefined;
    // The generated token dies with the control plane; leave no stale secret behind.
    if (this.#tokenFile) await Deno.remove(this.#tokenFile).catch(() => {});
    this.#tokenFile = undefined;
    this.#detector.stop();
  }

  /**
   * GPM: places a new process with `threads` threads on the processor its policy picks
   * (or on `processor`, when given: it must be up), with a home memory component picked
   * by the GMM policy.
   */
  async placeProcess(threads: number, processor?: ComponentId): Promise<ProcessPlacement> {
    const loads = this.#wantsCurrentFigures() ? await this.#currentLoads("memory") : undefined;
    return this.#placeProcess(threads, processor, loads);
  }

  #placeProcess(
    threads: number,
    forced: ComponentId | undefined,
    loads: ReadonlyMap<ComponentId, Record<string, unknown>> | undefined,
  ): ProcessPlacement {
    if (!Number.isInteger(threads) || threads < 1) {
      throw new KernelError("EINVAL", `threads must be an integer >= 1, got ${threads}`);
    }
    const pid = this.#nextPid;
    const request = { pid, threads };
    let processor: ComponentId;
    if (forced !== undefined) {
      const record = this.state.components.get(forced);
      if (!record || record.role !== "processor") {
        throw new KernelError("ENOENT", `no processor component "${forced}" has joined`);
      }
      if (record.state !== "up") throw new KernelError("EHOSTDOWN", `processor ${forced} is down`);
      processor = forced;
    } else {
      const policy = this.#process!;
      processor = this.#ask(
        "process-placement",
        policy.name,
        "processor",
        (c) => policy.pickProcessor(request, c),
      );
    }
    const gmm = this.#vregion!;
    const home = this.#ask(
      "vregion-placement",
      gmm.name,
      "memory",
      (c) => gmm.pickHome ? gmm.pickHome(request, c) : fewestHomes(c),
      loads,
    );
    this.#nextPid++;
    this.state.addProcess({
      pid,
      processor,
      home,
      threads,
      state: "running",
      startedAt: this.state.now(),
    });
    this.#counts.placements++;
    const placement = { pid, processor, home };
    this.#context.events.emit("process.start", {
      component: processor,
      data: { ...placement, threads },
    });
    return placement;
  }

  /**
   * GMM: the owner of vRegion `vregion` of process `pid`, placed by the vRegion policy on
   * the first request and the same ever after (until the process exits). The policy sees
   * the heartbeat figures, or `loads` (figures by component id) where given.
   */
  placeVregion(
    pid: number,
    vregion: number,
    loads?: ReadonlyMap<ComponentId, Record<string, unknown>>,
  ): ComponentId {
    const known = this.state.vregionOwner(pid, vregion);
    if (known) return known;
    const home = this.state.processes.get(pid)?.home;
    const policy = this.#vregion!;
    const request = home === undefined ? { pid, vregion } : { pid, vregion, home };
    const owner = this.#ask(
      "vregion-placement",
      policy.name,
      "memory",
      (c) => policy.pickOwner(request, c),
      loads,
    );
    this.state.setVregionOwner(pid, vregion, owner);
    this.#counts.placements++;
    this.#context.events.emit("placement", {
      component: owner,
      data: { what: "vregion", pid, vregion, owner, policy: policy.name },
    });
    return owner;
  }

  /**
   * `MGR_PLACE_VREGION` from `from`: the owner, or "" for a vRegion left to its first touch.
   * With first-touch placement a touch reported by anyone but the process's home is passed
   * to the home, which places the vRegion (asking here, with `from` the home) and sets its
   * VMAs on the owner before anyone is told the owner.
   */
  async #placeVregionRequest(
    pid: number,
    vregion: number,
    touch: boolean,
    from: ComponentId,
  ): Promise<ComponentId> {
    const known = this.state.vregionOwner(pid, vregion);
    if (known) return known;
    if (this.#options.vregionPlacementAt === "first-touch") {
      if (!touch) return "";
      const deadline = performance.now() + FAILOVER_DEADLINE_MS;
      for (;;) {
        const home = this.state.processes.get(pid)?.home;
        if (home === undefined || home === from) break;
        try {
          const { owner } = await this.#context.rpc.call(home, "MGR_VREGION_TOUCH", {
            pid,
            vregion,
          });
          return owner;
        } catch (e) {
          // A home that died is failed over to its secondary: ask the new home.
          if (!isUnreachable(e) || performance.now() > deadline) throw e;
          if (!(await this.#replication.awaitFailover(home))) throw e;
        }
      }
    }
    const loads = this.#wantsCurrentFigures() ? await this.#currentLoads("memory") : undefined;
    return this.placeVregion(pid, vregion, loads);
  }

  /** Whether the vRegion policy is to see current figures. */
  #wantsCurrentFigures(): boolean {
    return (this.#vregion?.figures ?? this.#options.vregionFigures) === "current";
  }

  /**
   * The load of every candidate of `role`, asked now (`MGR_QUERY` `load`); also kept as the
   * component's latest figures. A candidate that does not answer within a heartbeat period
   * (at most 1 s), or answers no `load` question, is left out: it keeps its heartbeat's.
   */
  async #currentLoads(role: Role): Promise<Map<ComponentId, Record<string, unknown>>> {
    const loads = new Map<ComponentId, Record<string, unknown>>();
    const timeoutMs = Math.min(this.#options.heartbeatMs, 1000);
    await Promise.all(
      this.state.candidates(role).map(async ({ id }) => {
        try {
          const { result } = await this.#context.rpc.call(id, "MGR_QUERY", {
            what: "load",
            args: {},
          }, { timeoutMs });
          const load = asRecord(result);
          if (Object.keys(load).length === 0) return;
          loads.set(id, load);
          const record = this.state.components.get(id);
          if (record) record.load = load;
        } catch {
          // No answer in time, or no such question: its heartbeat figures stand.
        }
      }),
    );
    return loads;
  }

  /** GSM: the storage component that holds `path`, placed by the file policy on first request. */
  placeFile(path: string): ComponentId {
    if (typeof path !== "string" || path.length === 0) {
      throw new KernelError("EINVAL", "a file placement needs a non-empty path");
    }
    const known = this.state.fileLocations.get(path);
    if (known) return known;
    const policy = this.#file!;
    const storage = this.#ask(
      "file-placement",
      policy.name,
      "storage",
      (c) => policy.pickStorage({ path }, c),
    );
    this.state.setFileLocation(path, storage);
    this.#counts.placements++;
    this.#context.events.emit("placement", {
      component: storage,
      data: { what: "file", path, storage, policy: policy.name },
    });
    return storage;
  }

  /**
   * Marks component `id` drained (no new placement; what it holds stays) or undrained.
   * Rejects with `ENOENT` for an unknown component and `EINVAL` for the manager itself.
   */
  drain(id: ComponentId, drained: boolean): Promise<void> {
    const record = this.state.components.get(id);
    if (!record) {
      return Promise.reject(new KernelError("ENOENT", `no component "${id}" has joined`));
    }
    if (id === this.id) {
      return Promise.reject(new KernelError("EINVAL", "the manager itself cannot be drained"));
    }
    if (record.drained !== drained) {
      record.drained = drained;
      this.#context.events.emit("custom.drain", { component: id, data: { drained } });
    }
    return Promise.resolve();
  }

  /**
   * Switches a placement policy at run time to the registered plugin `name` (default
   * options). Rejects with `EINVAL` for a kind that is not a placement kind and with the
   * registry's `UNKNOWN_PLUGIN` error (listing the names available) for an unknown name.
   */
  async setPolicy(kind: string, name: string): Promise<void> {
    if (!Object.hasOwn(PLACEMENT_OPTION, kind)) {
      throw new KernelError(
        "EINVAL",
        `the manager switches only ${
          Object.keys(PLACEMENT_OPTION).join(", ")
        } policies, not "${kind}"`,
      );
    }
    const placementKind = kind as PlacementKind;
    const policy = await this.#createPolicy(placementKind, { plugin: name, options: {} });
    this.#install(placementKind, policy);
    this.#context.events.emit("custom.policy", { data: { kind, name } });
  }

  /** The placement policies in force, by plugin kind. */
  policies(): Record<string, string> {
    return {
      "process-placement": this.#process?.name ?? this.#options.processPlacement.plugin,
      "vregion-placement": this.#vregion?.name ?? this.#options.vregionPlacement.plugin,
      "file-placement": this.#file?.name ?? this.#options.filePlacement.plugin,
    };
  }

  /** How many components and processes there are, without copying the state. */
  census(): ClusterCensus {
    return this.state.census();
  }

  /** A copy of everything the managers know, with the recent events and the policies. */
  snapshot(options: SnapshotOptions = {}): CompleteClusterSnapshot {
    const limit = options.events === false ? 0 : this.#options.snapshotEvents;
    return this.state.snapshot({
      policies: this.policies(),
      events: limit === 0 ? [] : this.#context.events.recent({ limit }),
    });
  }

  /** Counts of components, processes, placements and membership traffic. */
  stats(): Record<string, unknown> {
    const components = [...this.state.components.values()];
    return {
      ...this.#counts,
      failovers: this.#replication.failovers,
      componentsUp: components.filter((c) => c.state === "up").length,
      componentsDown: components.filter((c) => c.state === "down").length,
      processes: this.state.processes.size,
      processesRunning: [...this.state.processes.values()].filter((p) => p.state === "running")
        .length,
      vregions: this.state.vregionOwners.size,
      files: this.state.fileLocations.size,
      policies: this.policies(),
      ...(this.#scheduler ? { scheduler: this.#scheduler.stats() } : {}),
    };
  }

  async #createPolicy(kind: PlacementKind, selection: PolicySelection): Promise<unknown> {
    const context: PlacementContext = { manager: this.id, prng: this.#prng };
    try {
      return await this.#context.registry.create(
        kind,
        selection.plugin,
        selection.options,
        context,
      );
    } catch (e) {
      if (!(e instanceof PluginError)) throw e;
      // Name the manager option at fault; keep the registry's code and its list of names.
      throw new PluginError(
        e.code,
        e.kind,
        e.plugin,
        `${this.id}: option ${PLACEMENT_OPTION[kind]}: ${e.message}`,
        { issues: e.issues, available: e.available },
      );
    }
  }

  #install(kind: PlacementKind, policy: unknown): void {
    const method = {
      "process-placement": "pickProcessor",
      "vregion-placement": "pickOwner",
      "file-placement": "pickStorage",
    }[kind];
    const p = policy as Record<string, unknown> | null;
    if (typeof p !== "object" || p === null || typeof p[method] !== "function") {
      throw new KernelError("EINVAL", `a ${kind} plugin must create an object with ${method}()`);
    }
    if (typeof p.name !== "string") {
      throw new KernelError("EINVAL", `a ${kind} plugin must create an object with a name`);
    }
    if (kind === "vregion-placement" && p.figures !== undefined) {
      if (p.figures !== "heartbeat" && p.figures !== "current") {
        throw new KernelError(
          "EINVAL",
          `vregion-placement plugin "${p.name}" declares figures ${
            JSON.stringify(p.figures)
          }; expected "heartbeat" or "current"`,
        );
      }
    }
    if (kind === "process-placement") this.#process = policy as ProcessPlacementPolicy;
    else if (kind === "vregion-placement") this.#vregion = policy as VregionPlacementPolicy;
    else this.#file = policy as FilePlacementPolicy;
  }

  /**
   * Runs a policy over the candidates of `role` and checks its answer: the policy never
   * sees an empty list, and may only name one of the candidates.
   */
  #ask(
    kind: PlacementKind,
    name: string,
    role: Role,
    pick: (candidates: readonly PlacementCandidate[]) => ComponentId,
    loads?: ReadonlyMap<ComponentId, Record<string, unknown>>,
  ): ComponentId {
    const candidates = this.state.candidates(role).map((c) => {
      const load = loads?.get(c.id);
      return load ? { ...c, load } : c;
    });
    if (candidates.length === 0) {
      const up = this.state.up(role).length;
      throw new KernelError(
        "EAGAIN",
        up > 0
          ? `every ${role} component that is up is drained; nowhere to place`
          : `no ${role} component is up; nowhere to place`,
      );
    }
    let picked: unknown;
    try {
      picked = pick(candidates);
    } catch (e) {
      throw new KernelError("EPROTO", `${kind} policy "${name}" failed: ${(e as Error).message}`);
    }
    if (typeof picked !== "string" || !candidates.some((c) => c.id === picked)) {
      throw new KernelError(
        "EPROTO",
        `${kind} policy "${name}" picked ${JSON.stringify(picked)}, which is not one of the ` +
          `candidates (${candidates.map((c) => c.id).join(", ")})`,
      );
    }
    return picked;
  }

  #endProcess(
    pid: number,
    result: {
      exitCode: number;
      error?: string;
      wallNs?: number;
      modelNs?: number;
      stats?: Record<string, unknown>;
    },
  ): void {
    const wasRunning = this.state.processes.get(pid)?.state === "running";
    const record = this.state.endProcess(pid, result);
    if (!record || !wasRunning) return;
    // Its address space is gone: the vRegions no longer count against their owners.
    this.state.dropVregions(pid);
    this.#context.events.emit("process.exit", {
      component: record.processor,
      data: { pid, exitCode: result.exitCode, error: result.error || undefined },
    });
  }

  /** Keeps the file map in step with what a storage component did to its namespace. */
  #fileChanged(storage: ComponentId, change: string, path: string, to: string): void {
    if (this.state.components.get(storage)?.role !== "storage") {
      throw new KernelError("EPERM", `${storage} is not a storage component`);
    }
    if (!(FILE_CHANGES as readonly string[]).includes(change)) {
      throw new KernelError("EINVAL", `unknown file change "${change}"`);
    }
    if (path.length === 0 || path.length > MAX_STRING_BYTES) {
      throw new KernelError("EINVAL", "a file change needs a path");
    }
    switch (change) {
      case "create":
        if (!this.state.fileLocations.has(path)) this.state.setFileLocation(path, storage);
        break;
      case "remove":
        this.state.dropFiles(path, { storage });
        break;
      case "rmdir":
        this.state.dropFiles(path, { storage, recursive: true });
        break;
      case "rename":
        this.state.renameFiles(path, to, storage);
        break;
    }
  }
}

function asRecord(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value)
    ? value as Record<string, unknown>
    : {};
}

/** The home when a GMM policy has no `pickHome`: the memory component homing fewest processes. */
function fewestHomes(candidates: readonly PlacementCandidate[]): ComponentId {
  let best = candidates[0];
  for (const c of candidates) if (c.assigned.homes < best.assigned.homes) best = c;
  return best.id;
}
