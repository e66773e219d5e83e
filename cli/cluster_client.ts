/**
 * Talking to a running cluster from outside it: the client the CLI's `run`, `status`,
 * `ps` and `top` use.
 *
 * {@link ClusterClient} is the narrow interface the commands depend on. Today's
 * implementation, {@link connectClusterClient}, attaches a short-lived component (an id
 * like `cli-3fa9c2`, which never joins) to the cluster's transport and sends manager
 * messages: `MGR_SNAPSHOT` for the state, `MGR_SPAWN` to run a workload. An HTTP
 * control-plane client can implement the same interface later without touching the
 * commands.
 *
 * @module
 */

import { createControlClient } from "../monitors/manager/control/client.ts";
import { KernelError } from "../kernel/errors.ts";
import { type ComponentId, componentIdProblem } from "../kernel/ids.ts";
import type { ClusterSnapshot } from "../monitors/manager/cluster_state.ts";
import type { ReplyOf } from "../kernel/messages.ts";
import type { PluginRegistry } from "../kernel/plugins.ts";
import { RpcNode } from "../kernel/rpc.ts";
import type { Transport } from "../kernel/transport.ts";

/** The outcome of a workload started with {@link ClusterClient.spawn}. */
export type SpawnOutcome = ReplyOf<"MGR_SPAWN">;

/** Options of {@link ClusterClient.spawn}. */
export interface SpawnOptions {
  /** Threads the process will run (placement input; default 1). */
  threads?: number;
  /** Longest wait for the workload to finish, in ms (default: forever). */
  timeoutMs?: number;
  /** Aborting it stops waiting (the workload keeps running on the cluster). */
  signal?: AbortSignal;
}

/** What the CLI asks of a running cluster. */
export interface ClusterClient {
  /** The manager's component id. */
  readonly manager: ComponentId;
  /** Everything the managers know, now. */
  snapshot(): Promise<ClusterSnapshot>;
  /** Places and runs `workload` (a URL the processor can import); resolves at its exit. */
  spawn(workload: string, args: readonly string[], options?: SpawnOptions): Promise<SpawnOutcome>;
  /** Detaches from the cluster. Idempotent. */
  close(): Promise<void>;
}

/** Where the manager is and how to reach it. */
export interface ClusterClientOptions {
  /** Registry holding the transport plugin. */
  registry: PluginRegistry;
  /** The transport plugin name (default `tcp`). */
  transport?: string;
  /** Options for the transport plugin (checked by its schema). */
  transportOptions?: Record<string, unknown>;
  /** The manager's id and address. */
  manager: { id: ComponentId; address: string };
  /** File holding the cluster secret. */
  secretFile?: string;
  /** This client's component id (default `cli-` and six random hex digits). */
  id?: ComponentId;
  /** Where transport log lines go (default: dropped). */
  log?: (message: string) => void;
}

/**
 * Parses a manager address given as `[id@]host:port`; the id defaults to `gm`. Throws a
 * `KernelError` (`EINVAL`) naming the problem.
 *
 * @example
 * ```ts
 * import { parseManagerAddress } from "./cluster_client.ts";
 * const m = parseManagerAddress("boss@10.0.0.1:7000");
 * console.assert(m.id === "boss" && m.address === "10.0.0.1:7000");
 * console.assert(parseManagerAddress("127.0.0.1:7000").id === "gm");
 * ```
 */
export function parseManagerAddress(text: string): { id: ComponentId; address: string } {
  const at = text.indexOf("@");
  const id = at >= 0 ? text.slice(0, at) : "gm";
  const address = at >= 0 ? text.slice(at + 1) : text;
  const problem = componentIdProblem(id);
  if (problem) throw new KernelError("EINVAL", `bad manager "${text}": ${problem}`);
  if (!/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/.test(address)) {
    throw new KernelError(
      "EINVAL",
      `bad manager address "${text}": expected [id@]host:port, e.g. gm@127.0.0.1:7000`,
    );
  }
  return { id, address };
}

/**
 * Attaches a client component to the cluster's transport and checks that the manager
 * answers (so a wrong address or secret fails here, with the transport's reason).
 *
 * @example
 * ```ts ignore
 * const client = await connectClusterClient({
 *   registry, manager: { id: "gm", address: "127.0.0.1:7000" }, secretFile: "cluster.secret",
 * });
 * console.log((await client.snapshot()).components.length);
 * await client.close();
 * ```
 */
export async function connectClusterClient(options: ClusterClientOptions): Promise<ClusterClient> {
  const transport = await options.registry.create<Transport>(
    "transport",
    options.transport ?? "tcp",
    options.transportOptions ?? {},
    { registry: options.registry },
  );
  const id = options.id ?? `cli-${randomHex(6)}`;
  const manager = options.manager;
  let rpc: RpcNode;
  try {
    const endpoint = await transport.attach(id, {
      listen: null,
      manager,
      secretFile: options.secretFile,
      log: options.log ?? (() => {}),
    });
    rpc = new RpcNode(endpoint);
  } catch (e) {
    await transport.close();
    throw e;
  }
  let closed: Promise<void> | undefined;
  const client: ClusterClient = {
    manager: manager.id,
    async snapshot() {
      const { state } = await rpc.call(manager.id, "MGR_SNAPSHOT", {}, { timeoutMs: 30_000 });
      if (state === null || typeof state !== "object") {
        throw new KernelError("EPROTO", `${manager.id} sent a snapshot that is not an object`);
      }
      return state as ClusterSnapshot;
    },
    spawn(workload, args, spawnOptions = {}) {
      return rpc.call(manager.id, "MGR_SPAWN", {
        workload,
        args: [...args],
        threads: spawnOptions.threads ?? 1,
      }, { timeoutMs: spawnOptions.timeoutMs ?? Infinity, signal: spawnOptions.signal });
    },
    close() {
      closed ??= (async () => {
        await rpc.close();
        await transport.close();
      })();
      return closed;
    },
  };
  try {
    await client.snapshot();
  } catch (e) {
    await client.close();
    throw e;
  }
  return client;
}

function randomHex(digits: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(Math.ceil(digits / 2)));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("").slice(0, digits);
}

/**
 * A {@link ClusterClient} over the HTTP control plane (`GET /api/snapshot`), for the
 * read-only commands (`status`, `ps`, `top`). Starting a workload and waiting for its exit
 * stays a message to the manager (`legoemu run --manager`).
 *
 * @example
 * ```ts ignore
 * const client = controlPlaneClusterClient("http://127.0.0.1:7080");
 * console.log((await client.snapshot()).components.length);
 * ```
 */
export function controlPlaneClusterClient(baseUrl: string): ClusterClient {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new KernelError(
      "EINVAL",
      `--control needs a URL such as http://127.0.0.1:7080, got "${baseUrl}"`,
    );
  }
  const client = createControlClient(url.href.replace(/\/$/, ""));
  return {
    manager: "",
    snapshot: () => client.snapshot(),
    spawn: () =>
      Promise.reject(
        new KernelError("EINVAL", "run talks to the manager: give --manager, not --control"),
      ),
    close: () => Promise.resolve(),
  };
}
