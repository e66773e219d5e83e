/**
 * What `legoemu status`, `ps` and `top` print: plain-text tables built from a
 * {@link ClusterSnapshot}, whatever client fetched it. Pure functions, so they are
 * tested without a cluster.
 *
 * @module
 */

import type { ClusterSnapshot, ProcessRecord } from "../monitors/manager/cluster_state.ts";

/**
 * Lays out `rows` under `headers` in columns two spaces apart.
 *
 * @example
 * ```ts
 * import { table } from "./views.ts";
 * console.assert(table(["ID", "ROLE"], [["p0", "processor"]])[1] === "p0  processor");
 * ```
 */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join("  ").trimEnd();
  return [line(headers), ...rows.map(line)];
}

/**
 * A duration for people: `850 ms`, `12.4 s`, `3m05s`, `2h07m`.
 *
 * @example
 * ```ts
 * import { formatDuration } from "./views.ts";
 * console.assert(formatDuration(185_000) === "3m05s");
 * ```
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "-";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

function compact(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 1e9) return `${(value / 1e9).toFixed(1)}G`;
  if (abs >= 1e6) return `${(value / 1e6).toFixed(1)}M`;
  if (abs >= 1e4) return `${(value / 1e3).toFixed(1)}k`;
  return Number.isInteger(value) ? String(value) : value.toFixed(2);
}

function numericFields(load: Record<string, unknown>): [string, number][] {
  return Object.entries(load).filter((e): e is [string, number] =>
    typeof e[1] === "number" && Number.isFinite(e[1])
  );
}

function address(addresses: Record<string, unknown>): string {
  const values = Object.values(addresses).filter((v) => typeof v === "string");
  return values.length ? values.join(" ") : "-";
}

function counts(snapshot: ClusterSnapshot): string {
  const up = snapshot.components.filter((c) => c.state === "up").length;
  const running = snapshot.processes.filter((p) => p.state === "running").length;
  return `${snapshot.components.length} components (${up} up, ${
    snapshot.components.length - up
  } down), ${running} processes running, ${snapshot.processes.length - running} exited`;
}

/**
 * The `status` view: one line per component (role, state, uptime, last heartbeat,
 * address, what is placed on it, its latest load figures).
 *
 * @example
 * ```ts
 * import { formatStatus } from "./views.ts";
 * const lines = formatStatus({ components: [], processes: [], vregions: [], files: [] }, 0);
 * console.assert(lines[0].startsWith("cluster: 0 components"));
 * ```
 */
export function formatStatus(snapshot: ClusterSnapshot, now: number = Date.now()): string[] {
  const rows = snapshot.components.map((c) => [
    c.id,
    c.role,
    c.drained ? `${c.state},drained` : c.state,
    c.state === "up" ? formatDuration(c.uptimeMs ?? now - c.upSince) : "-",
    c.lastSeenAt ? `${formatDuration(now - c.lastSeenAt)} ago` : "-",
    address(c.addresses ?? {}),
    c.assigned ? `${c.assigned.threads}t ${c.assigned.processes}p` : "-",
    numericFields(c.load ?? {}).slice(0, 6).map(([k, v]) => `${k}=${compact(v)}`).join(" ") || "-",
  ]);
  const policies = Object.entries(snapshot.policies ?? {}).map(([k, v]) => `${k}=${v}`).join(" ");
  return [
    `cluster: ${counts(snapshot)}`,
    ...(policies ? [`policies: ${policies}`] : []),
    ...table(["ID", "ROLE", "STATE", "UPTIME", "LAST SEEN", "ADDRESS", "PLACED", "LOAD"], rows),
  ];
}

function processRow(p: ProcessRecord, now: number): string[] {
  const end = p.endedAt ?? (p.state === "running" ? now : undefined);
  return [
    String(p.pid),
    p.state,
    p.processor,
    p.home,
    String(p.threads),
    new Date(p.startedAt).toISOString().slice(11, 19),
    end === undefined ? "-" : formatDuration(end - p.startedAt),
    p.exitCode === undefined ? "-" : String(p.exitCode),
    p.error ?? "",
  ];
}

/**
 * The `ps` view: running processes, or every process with `all`.
 *
 * @example
 * ```ts
 * import { formatProcesses } from "./views.ts";
 * const lines = formatProcesses({ components: [], vregions: [], files: [], processes: [
 *   { pid: 1, processor: "p0", home: "m0", threads: 1, state: "exited", startedAt: 0, exitCode: 0 },
 * ] }, { all: true });
 * console.assert(lines[1].startsWith("1 "));
 * ```
 */
export function formatProcesses(
  snapshot: ClusterSnapshot,
  options: { all?: boolean; now?: number } = {},
): string[] {
  const now = options.now ?? Date.now();
  const shown = snapshot.processes.filter((p) => options.all || p.state === "running");
  if (shown.length === 0) {
    return [options.all ? "no processes" : "no running processes (--all shows exited ones)"];
  }
  return table(
    ["PID", "STATE", "PROCESSOR", "HOME", "THREADS", "STARTED", "RUNTIME", "EXIT", "ERROR"],
    shown.map((p) => processRow(p, now)),
  );
}

/**
 * One `top` frame: the cluster line, every component with its load figures and, for
 * figures that grew since `previous`, their rate per second, then running processes.
 *
 * @example
 * ```ts
 * import { formatTop } from "./views.ts";
 * const component = {
 *   id: "m0", role: "memory" as const, state: "up" as const, drained: false, joinedAt: 0,
 *   upSince: 0, lastSeenAt: 0, heartbeats: 1, capacity: {}, addresses: {},
 *   load: { fetches: 10 }, uptimeMs: 0, missedHeartbeats: 0,
 *   assigned: { threads: 0, processes: 0, homes: 0, vregions: 0, files: 0 },
 * };
 * const before = { takenAt: 0, components: [component], processes: [], vregions: [], files: [] };
 * const after = { ...before, takenAt: 1000,
 *   components: [{ ...component, load: { fetches: 510 } }] };
 * console.assert(formatTop(after, before).some((l) => l.includes("fetches=510 (+500/s)")));
 * ```
 */
export function formatTop(snapshot: ClusterSnapshot, previous?: ClusterSnapshot): string[] {
  const now = snapshot.takenAt ?? Date.now();
  const seconds = previous?.takenAt !== undefined && snapshot.takenAt !== undefined
    ? (snapshot.takenAt - previous.takenAt) / 1000
    : 0;
  const before = new Map(previous?.components.map((c) => [c.id, c.load ?? {}]) ?? []);
  const rows = snapshot.components.map((c) => {
    const old = before.get(c.id) ?? {};
    const figures = numericFields(c.load ?? {}).map(([k, v]) => {
      const was = old[k];
      const rate = seconds > 0 && typeof was === "number" && v > was
        ? ` (+${compact((v - was) / seconds)}/s)`
        : "";
      return `${k}=${compact(v)}${rate}`;
    });
    return [c.id, c.role, c.state, figures.join(" ") || "-"];
  });
  const running = snapshot.processes.filter((p) => p.state === "running");
  return [
    `legoemu top — ${new Date(now).toISOString().slice(11, 19)} — ${counts(snapshot)}`,
    "",
    ...table(["ID", "ROLE", "STATE", "LOAD (latest heartbeat; rate since the last refresh)"], rows),
    "",
    ...(running.length
      ? table(
        ["PID", "STATE", "PROCESSOR", "HOME", "THREADS", "STARTED", "RUNTIME", "EXIT", "ERROR"],
        running.map((p) => processRow(p, now)),
      )
      : ["no running processes"]),
  ];
}
