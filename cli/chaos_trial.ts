/**
 * One trial of `deno task chaos`: a fresh cluster of real OS processes over TCP (the
 * supervised cluster of `cli/supervisor.ts`, one process per component), the 4-thread
 * chaos write workload on it, one component killed with SIGKILL once a number of writes
 * drawn from the trial's seed have been acknowledged, and the checks once the workload
 * has read everything back.
 *
 * Scenarios ({@link SCENARIOS}):
 * - `memory`: SIGKILL of the primary memory component `m0`, whose secondary `m1` (drained,
 *   so that every vRegion and the process's home are on `m0`) takes over; not restarted.
 *   Needs memory replication (the memory option `secondary`); without it the scenario is
 *   skipped with the reason.
 * - `storage`: SIGKILL of the storage component `s0`, restarted at once by the driver on
 *   the same address (it is stateless; its files are on the host).
 * - `manager`: SIGKILL of the manager `gm`, restarted at once on the same address; the
 *   components re-join it at their next heartbeat.
 *
 * Acknowledgements reach the driver as the workload's log lines, through the processor's
 * standard error and the supervisor (the processor is never killed), so every one
 * recorded survives the kill. A file write is also checked on the host: the driver reads
 * the storage component's directory itself.
 *
 * @module
 */

import { KernelError } from "../kernel/errors.ts";
import type { ComponentId } from "../kernel/ids.ts";
import { loadClusterConfig } from "../kernel/config.ts";
import type { PluginRegistry } from "../kernel/plugins.ts";
import { mulberry32 } from "../kernel/prng.ts";
import { RpcNode } from "../kernel/rpc.ts";
import type { Transport } from "../kernel/transport.ts";
import {
  chaosFile,
  chaosRecord,
  RECORD_BYTES,
  recordIntact,
  type RecordKind,
} from "../examples/workloads/chaos_writer.ts";
import { ChaosLog, checkTrial, recovery, type TrialVerdict } from "./chaos_check.ts";
import { startSupervisedCluster, type SupervisedCluster } from "./supervisor.ts";

/** The scenarios, in the order the table lists them. */
export const SCENARIOS = ["memory", "storage", "manager"] as const;
/** A scenario's name. */
export type ScenarioName = typeof SCENARIOS[number];

/** What a scenario kills and which writes need the killed component. */
interface Scenario {
  /** The component killed. */
  victim: ComponentId;
  /** Whether the driver starts it again right after its death. */
  restart: boolean;
  /** The writes that need the victim: recovery is measured on these. */
  kind: RecordKind;
  /** Whether the cluster has a secondary memory component `m1` for `m0`. */
  replica: boolean;
}

const SCENARIO: Record<ScenarioName, Scenario> = {
  memory: { victim: "m0", restart: false, kind: "m", replica: true },
  storage: { victim: "s0", restart: true, kind: "f", replica: false },
  // Each memory record sits in a vRegion of its own: its first write-back asks the manager.
  manager: { victim: "gm", restart: true, kind: "m", replica: false },
};

/** The processor's ExCache in a trial (small, so that pushing it out is quick). */
const CACHE_BYTES = 1 << 20;
/** vRegion size in a trial: the smallest whose indexes fit a u32 for any user address. */
const VREGION_BYTES = 1 << 16;
/**
 * Manager heartbeat period (ms) and heartbeats missed before a component is down: their
 * product is how long a dead memory component goes unnoticed, the floor of its failover.
 */
export const HEARTBEAT_MS = 100;
/** See {@link HEARTBEAT_MS}. */
export const MISSED_HEARTBEATS = 8;
/** How long a workload write is retried before the workload gives up (ms). */
const PATIENCE_MS = 30_000;

/** How to run one trial. */
export interface TrialOptions {
  /** Which component is killed. */
  scenario: ScenarioName;
  /** The trial's seed: record contents and the kill point. */
  seed: number;
  /** Records each writer thread writes (even threads to memory, odd ones to a file). */
  records: number;
  /** Writer threads (default 4). */
  threads?: number;
  /** The CLI entry the components run (`mod.ts`, absolute path). */
  entry: string;
  /** Registry with the stock plugins (transport, monitors' option schemas). */
  registry: PluginRegistry;
  /** Where the cluster's lines other than acknowledgements go (default: dropped). */
  log?: (line: string) => void;
  /** Longest a trial may take, ms (default 120 000). */
  timeoutMs?: number;
  /** Aborting it ends the trial early (its cluster is stopped, its files removed). */
  signal?: AbortSignal;
  /** Test hooks: damage an acknowledged write on purpose, or kill nothing. */
  hooks?: TrialHooks;
}

/** Test hooks of a trial: the checker must catch what they do. */
export interface TrialHooks {
  /** After its writes, the workload overwrites this memory record with garbage. */
  corruptMemory?: { thread: number; seq: number };
  /** Before the host check, the driver overwrites this file record in the storage directory. */
  corruptFile?: { thread: number; seq: number };
  /** Kill nothing (a baseline run of the same workload). */
  noKill?: boolean;
}

/** What one trial found. */
export interface TrialResult {
  /** The scenario. */
  scenario: ScenarioName;
  /** The trial's seed. */
  seed: number;
  /** The component killed. */
  victim: ComponentId;
  /** Acknowledgements (of every kind) counted when the SIGKILL was sent. */
  killedAfterAcks: number;
  /** Acknowledged and lost writes. */
  verdict: TrialVerdict;
  /** Recovery time (see {@link recovery}), when one was observed. */
  recoveryMs: number | undefined;
  /** The write that marked the recovery, `kind:thread:seq`. */
  recoveryWrite: string | undefined;
  /** ms from the SIGKILL until the driver saw the process exit. */
  deathMs: number | undefined;
  /** Writes acknowledged after the kill and before the recovery point (others kept serving). */
  acksDuringOutage: number;
  /** Time from the SIGKILL until the restarted component reported ready, ms. */
  restartMs: number | undefined;
  /** Why the trial failed (no recovery, workload gave up, timeout...), if it did. */
  failure: string | undefined;
}

/**
 * Why `scenario` cannot run with the plugins of `registry`, or `undefined` when it can.
 *
 * @example
 * ```ts ignore
 * const why = scenarioUnavailable("memory", createStockRegistry());
 * if (why) console.log(`memory scenario skipped: ${why}`);
 * ```
 */
export function scenarioUnavailable(
  scenario: ScenarioName,
  registry: PluginRegistry,
): string | undefined {
  if (!SCENARIO[scenario].replica) return undefined;
  try {
    registry.parseOptions("memory-monitor", "memory", { secondary: "m1" }, "options");
    return undefined;
  } catch (e) {
    return `this build has no memory replication (the memory option "secondary" is refused: ${
      (e as Error).message.split("\n")[0]
    })`;
  }
}

/** The cluster config of a trial of `scenario`, storage rooted at `root`. */
export function trialConfig(scenario: ScenarioName, root: string): Record<string, unknown> {
  const replica = SCENARIO[scenario].replica;
  return {
    name: `chaos-${scenario}`,
    transport: { plugin: "tcp" },
    components: [
      {
        id: "gm",
        role: "manager",
        address: "127.0.0.1:0",
        options: {
          vregionBytes: VREGION_BYTES,
          heartbeatMs: HEARTBEAT_MS,
          missedHeartbeats: MISSED_HEARTBEATS,
        },
      },
      { id: "p0", role: "processor", address: "127.0.0.1:0", options: { cacheBytes: CACHE_BYTES } },
      {
        id: "m0",
        role: "memory",
        address: "127.0.0.1:0",
        options: replica ? { secondary: "m1" } : {},
      },
      ...(replica ? [{ id: "m1", role: "memory", address: "127.0.0.1:0" }] : []),
      { id: "s0", role: "storage", address: "127.0.0.1:0", options: { root } },
    ],
  };
}

/**
 * After how many acknowledged writes of the scenario's kind a trial with `seed` kills:
 * 10–60 % of the `total` it will write, so some of them always remain to be written.
 */
export function killPoint(seed: number, total: number): number {
  const draw = mulberry32(seed)();
  return Math.max(1, Math.floor(total * (0.1 + 0.5 * draw)));
}

const WORKLOAD = new URL("../examples/workloads/chaos_writer.ts", import.meta.url).href;

/**
 * Runs one trial; resolves with what it found (a trial that went wrong resolves too, with
 * `failure` set). Throws only when the cluster cannot be started at all.
 *
 * @example
 * ```ts ignore
 * const result = await runTrial({
 *   scenario: "storage", seed: 7, records: 50, entry: "/abs/mod.ts", registry,
 * });
 * console.log(result.verdict.lost, result.recoveryMs);
 * ```
 */
export async function runTrial(options: TrialOptions): Promise<TrialResult> {
  const { scenario, seed, records } = options;
  const threads = options.threads ?? 4;
  const spec = SCENARIO[scenario];
  const hooks = options.hooks ?? {};
  const log = options.log ?? (() => {});
  const dir = await Deno.makeTempDir({ prefix: `legoemu-chaos-${scenario}-` });
  const root = `${dir}/s0`;
  const configFile = `${dir}/cluster.json`;
  const secretFile = `${dir}/cluster.secret`;
  await Deno.mkdir(root);
  await Deno.writeTextFile(configFile, JSON.stringify(trialConfig(scenario, root), null, 2));
  const secret = crypto.getRandomValues(new Uint8Array(32));
  await Deno.writeTextFile(
    secretFile,
    [...secret].map((b) => b.toString(16).padStart(2, "0")).join("") + "\n",
    { mode: 0o600 },
  );

  const chaos = new ChaosLog();
  // Even threads write memory, odd ones files: the writes of the kind the victim serves.
  const ofKind = (spec.kind === "m" ? Math.ceil(threads / 2) : Math.floor(threads / 2)) * records;
  const killAfter = hooks.noKill ? Infinity : killPoint(seed, ofKind);
  let acksOfKind = 0;
  let killedAt: number | undefined;
  let deadAt: number | undefined;
  let killedAfterAcks = 0;
  let restartMs: number | undefined;
  let killing: Promise<void> | undefined;
  let cluster: SupervisedCluster | undefined;
  let failure: string | undefined;
  let wake = () => {};
  const onLine = (line: string) => {
    const what = chaos.take(line);
    if (what !== "ack") log(line);
    if (what === "ack" && line.includes(`CHAOS ack ${spec.kind} `)) acksOfKind++;
    if (what === "ack" && acksOfKind >= killAfter && !killing && cluster) {
      killedAt = Date.now();
      killedAfterAcks = chaos.acks.size;
      killing = kill(cluster, spec, killedAt, (at) => (deadAt = at)).then((ms) => {
        restartMs = ms;
      }).catch((e) => {
        failure ??= `killing or restarting ${spec.victim} failed: ${(e as Error).message}`;
      });
    }
    wake();
  };

  const config = await loadClusterConfig(configFile, options.registry);
  let transport: Transport | undefined;
  let rpc: RpcNode | undefined;
  try {
    cluster = await startSupervisedCluster({
      config,
      configFile,
      entry: options.entry,
      secretFile,
      out: onLine,
      err: onLine,
    });
    const manager = { id: "gm", address: cluster.manager.split("@")[1] };
    transport = await options.registry.create<Transport>("transport", "tcp", {}, {
      registry: options.registry,
    });
    rpc = new RpcNode(
      await transport.attach(`chaos-${seed.toString(16)}`, {
        listen: null,
        manager,
        secretFile,
        log: () => {},
      }),
    );
    if (spec.replica) {
      // Nothing is placed on the secondary: the whole process lives on the primary (and
      // the workload maps all it needs before it writes: nothing is placed after the kill).
      await rpc.call("gm", "MGR_DRAIN", { id: "m1", drained: true }, { timeoutMs: 30_000 });
    }
    const args = [
      `seed=${seed}`,
      `threads=${threads}`,
      `records=${records}`,
      `evict=${3 * CACHE_BYTES}`,
      `stride=${VREGION_BYTES}`,
      `patience=${PATIENCE_MS}`,
    ];
    if (hooks.corruptMemory) {
      args.push(`corrupt=${hooks.corruptMemory.thread}:${hooks.corruptMemory.seq}`);
    }
    let exited: string | undefined;
    const spawned = rpc.call("gm", "MGR_SPAWN", { workload: WORKLOAD, args, threads }, {
      timeoutMs: Infinity,
    }).then(
      (reply) => {
        if (reply.exitCode !== 0) {
          exited = `the workload exited with code ${reply.exitCode}: ${reply.error}`;
        }
      },
      (e) => {
        // The manager that started it was killed: the process runs on, and reports by its lines.
        if (killedAt === undefined || spec.victim !== "gm") {
          exited = `starting the workload failed: ${(e as Error).message}`;
        }
      },
    ).finally(wake);
    const deadline = Date.now() + (options.timeoutMs ?? 120_000);
    const aborted = () => options.signal?.aborted === true;
    options.signal?.addEventListener("abort", () => wake(), { once: true });
    while (!chaos.done && !chaos.failure && !exited && Date.now() < deadline && !aborted()) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 250);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    wake = () => {};
    await killing;
    if (!chaos.done) {
      failure ??= aborted()
        ? "interrupted"
        : chaos.failure
        ? `the workload stopped: ${chaos.failure}`
        : exited ?? `the workload did not finish within ${options.timeoutMs ?? 120_000} ms`;
    }
    if (chaos.done) await Promise.race([spawned, new Promise((r) => setTimeout(r, 2000))]);
  } finally {
    await rpc?.close().catch(() => {});
    await transport?.close().catch(() => {});
    await cluster?.stop();
  }

  try {
    if (hooks.corruptFile) await corruptFileRecord(root, hooks.corruptFile);
    const hostBad = await hostCheck(root, chaos, seed);
    const verdict = checkTrial(chaos, hostBad, true);
    const recovered = killedAt === undefined || deadAt === undefined
      ? undefined
      : recovery(chaos, spec.kind, killedAt, deadAt);
    if (!hooks.noKill && killedAt === undefined) {
      failure ??= `${spec.victim} was never killed (only ${chaos.acks.size} acknowledgements)`;
    } else if (!hooks.noKill && recovered === undefined) {
      failure ??= `no write that needs ${spec.victim} was acknowledged after the kill`;
    }
    if (verdict.unverifiedWhy) failure ??= verdict.unverifiedWhy;
    let acksDuringOutage = 0;
    if (killedAt !== undefined && recovered !== undefined) {
      for (const ack of chaos.acks.values()) {
        if (ack.ended > killedAt && ack.ended < killedAt + recovered.ms) acksDuringOutage++;
      }
    }
    return {
      scenario,
      seed,
      victim: spec.victim,
      killedAfterAcks,
      verdict,
      recoveryMs: recovered?.ms,
      recoveryWrite: recovered?.write,
      deathMs: deadAt === undefined || killedAt === undefined ? undefined : deadAt - killedAt,
      acksDuringOutage,
      restartMs,
      failure,
    };
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/**
 * SIGKILL of the victim (`dead` learns when its exit was seen) and, if the scenario says
 * so, its restart: ms from the SIGKILL until it was ready again.
 */
async function kill(
  cluster: SupervisedCluster,
  spec: Scenario,
  killedAt: number,
  dead: (at: number) => void,
): Promise<number | undefined> {
  const how = await cluster.kill(spec.victim, "SIGKILL");
  dead(Date.now());
  if (how !== "signal SIGKILL") {
    throw new KernelError("ECHILD", `${spec.victim} ended by ${how}, not by the SIGKILL`);
  }
  if (!spec.restart) return undefined;
  await cluster.restart(spec.victim);
  return Date.now() - killedAt;
}

/**
 * The acknowledged file records that are not intact in the storage component's own
 * directory (read here, on the host: what the storage made durable), as `f:thread:seq`.
 */
async function hostCheck(root: string, chaos: ChaosLog, seed: number): Promise<Set<string>> {
  const bad = new Set<string>();
  const files = new Map<number, Uint8Array | undefined>();
  for (const key of chaos.acks.keys()) {
    const [kind, thread, seq] = key.split(":");
    if (kind !== "f") continue;
    const t = Number(thread);
    if (!files.has(t)) {
      files.set(t, await Deno.readFile(`${root}/${chaosFile(t)}`).catch(() => undefined));
    }
    const content = files.get(t);
    const expected = chaosRecord(seed, "f", t, Number(seq));
    if (!content || !recordIntact(content, Number(seq) * RECORD_BYTES, expected)) bad.add(key);
  }
  return bad;
}

/** The test hook: garbles one record of a file in the storage directory. */
async function corruptFileRecord(
  root: string,
  { thread, seq }: { thread: number; seq: number },
): Promise<void> {
  const file = await Deno.open(`${root}/${chaosFile(thread)}`, { read: true, write: true });
  try {
    await file.seek(seq * RECORD_BYTES, Deno.SeekMode.Start);
    await file.write(new Uint8Array(RECORD_BYTES).fill(0xee));
  } finally {
    file.close();
  }
}
