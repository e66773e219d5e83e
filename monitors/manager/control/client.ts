/**
 * A typed client for the control plane, built on `hono/client`: the CLI (`status`, `ps`,
 * `top`) and scripts use it. Methods return the JSON bodies; a non-2xx answer throws a
 * {@link ControlClientError} with the server's message.
 *
 * @module
 */

import { hc } from "npm:hono@4.13.19/client";
import type { ClusterSnapshot } from "../cluster_state.ts";
import type { ControlRoutes } from "./app.ts";

/** A failed control-plane request. */
export class ControlClientError extends Error {
  /** HTTP status. */
  readonly status: number;
  /** Creates the error. */
  constructor(status: number, message: string) {
    super(message);
    this.name = "ControlClientError";
    this.status = status;
  }
}

/** A component as the control plane reports it. */
export interface ComponentView {
  /** Component id. */
  id: string;
  /** Role. */
  role: string;
  /** `up` or `down`. */
  state: string;
  /** Whether new placements avoid it. */
  drained: boolean;
  /** Its addresses. */
  addresses: Record<string, unknown>;
  /** What it announced at join. */
  capacity: Record<string, unknown>;
  /** Its latest heartbeat figures. */
  load: Record<string, unknown>;
  /** Join time, epoch ms. */
  joinedAt: number;
  /** Last heartbeat, epoch ms. */
  lastSeenAt: number;
  /** Time since join, ms. */
  uptimeMs: number;
}

/** A process as the control plane reports it. */
export interface ProcessView {
  /** Process id. */
  pid: number;
  /** Threads. */
  threads: number;
  /** Processor running it. */
  processor: string;
  /** Home memory component. */
  home: string;
  /** `running` or `exited`. */
  state: string;
  /** Start, epoch ms. */
  startedAt: number;
  /** Exit code once exited. */
  exitCode?: number;
  /** Error that ended it. */
  error?: string;
}

/** The cluster summary. */
export interface ClusterSummaryView {
  /** Cluster name. */
  name: string;
  /** Manager uptime, ms. */
  uptimeMs: number;
  /** Component counts. */
  components: { total: number; up: number; down: number; byRole: Record<string, number> };
  /** Process counts. */
  processes: { running: number; exited: number };
  /** Latency model name. */
  latencyModel: string;
  /** Policies in force. */
  policies: Record<string, string>;
  /** Sequence number of the newest event. */
  lastEventSeq: number;
}

/** The typed control-plane client. */
export interface ControlClient {
  /** `GET /api/cluster`. */
  cluster(): Promise<ClusterSummaryView>;
  /** `GET /api/components`. */
  components(): Promise<ComponentView[]>;
  /** `GET /api/processes`. */
  processes(): Promise<ProcessView[]>;
  /** `GET /api/snapshot`: the managers' whole state. */
  snapshot(): Promise<ClusterSnapshot>;
  /** `POST /api/processes` (needs the token). */
  spawn(
    workload: string,
    args?: string[],
    options?: { threads?: number; processor?: string },
  ): Promise<{ pid: number; processor: string; home: string }>;
  /** `DELETE /api/processes/{pid}` (needs the token). */
  kill(pid: number): Promise<void>;
}

async function body<T>(
  response: { ok: boolean; status: number; json(): Promise<unknown> },
): Promise<T> {
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new ControlClientError(
      response.status,
      (data as { error?: string }).error ?? `HTTP ${response.status}`,
    );
  }
  return data as T;
}

/**
 * Creates a client for the control plane at `baseUrl`.
 *
 * @example
 * ```ts ignore
 * const client = createControlClient("http://127.0.0.1:7080", { token });
 * console.log((await client.cluster()).components.up);
 * ```
 */
export function createControlClient(
  baseUrl: string,
  options: { token?: string; fetch?: typeof fetch } = {},
): ControlClient {
  const api = hc<ControlRoutes>(baseUrl, {
    fetch: options.fetch,
    headers: (): Record<string, string> =>
      options.token ? { authorization: `Bearer ${options.token}` } : {},
  });
  return {
    cluster: async () => body(await api.api.cluster.$get()),
    components: async () => body(await api.api.components.$get()),
    processes: async () => body(await api.api.processes.$get()),
    snapshot: async () => body(await api.api.snapshot.$get()),
    spawn: async (workload, args = [], opts = {}) =>
      body(
        await api.api.processes.$post({
          json: { workload, args, threads: opts.threads ?? 1, processor: opts.processor },
        }),
      ),
    kill: async (pid) => {
      await body(await api.api.processes[":pid"].$delete({ param: { pid: String(pid) } }));
    },
  };
}
