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
  const sorted = [...snapshot.components].sort((a, b) => naturalCompare(a.id, b.id));
  const rows = sorted.map((c) => [
    c.id,
    c.role,
    (c.drained ? `${c.state},drained` : c.state) +
    (c.successor
      ? ` (failed over to ${c.successor})`
      : c.secondary
      ? ` (replica ${c.secondary})`
      : ""),
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
 * Compares ids the way people count: `p2` before `p10` (digit runs compare as numbers).
 *
 * @example
 * ```ts
 * import { naturalCompare } from "./views.ts";
 * console.assert(["p10", "p2", "p1"].sort(naturalCompare).join() === "p1,p2,p10");
 * ```
 */
export function naturalCompare(a: string, b: string): number {
  const x = a.match(/\d+|\D+/g) ?? [];
  const y = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] === y[i]) continue;
    const numbers = /^\d/.test(x[i]) && /^\d/.test(y[i]);
    if (numbers && Number(x[i]) !== Number(y[i])) return Number(x[i]) - Number(y[i]);
    return x[i] < y[i] ? -1 : 1;
  }
  return x.length - y.length || (a < b ? -1 : a > b ? 1 : 0);
}

/**
 * Ids as ranges where they count up: `p0–p3, p5, m0–m1`. Ids are taken in natural order.
 *
 * @example
 * ```ts
 * import { idRanges } from "./views.ts";
 * console.assert(idRanges(["p3", "p0", "p1", "p2", "p5"]) === "p0–p3, p5");
 * ```
 */
export function idRanges(ids: readonly string[]): string {
  const parts: string[] = [];
  let run: { prefix: string; from: number; to: number; first: string; last: string } | undefined;
  const flush = () => {
    if (run) parts.push(run.from === run.to ? run.first : `${run.first}–${run.last}`);
    run = undefined;
  };
  for (const id of [...ids].sort(naturalCompare)) {
    const m = /^(.*?)(\d+)$/.exec(id);
    const n = m ? Number(m[2]) : NaN;
    if (m && run && run.prefix === m[1] && n === run.to + 1 && String(n) === m[2]) {
      run.to = n;
      run.last = id;
      continue;
    }
    flush();
    if (m && String(n) === m[2]) run = { prefix: m[1], from: n, to: n, first: id, last: id };
    else parts.push(id);
  }
  flush();
  return parts.join(", ");
}

const ROLE_ORDER = ["manager", "processor", "memory", "storage"];
const byRole = (a: string, b: string) =>
  (ROLE_ORDER.indexOf(a) + 1 || 99) - (ROLE_ORDER.indexOf(b) + 1 || 99) || naturalCompare(a, b);

/**
 * The run summary's components line: every `id:role` when there are a few, else a count
 * per role with id ranges (`64 components: 1 manager (gm), 32 processors (p0–p31), …`).
 *
 * @example
 * ```ts
 * import { summarizeComponents } from "./views.ts";
 * console.assert(summarizeComponents(["gm:manager", "p0:processor"]) === "gm:manager p0:processor");
 * const many = Array.from({ length: 12 }, (_, i) => `p${i}:processor`);
 * console.assert(summarizeComponents(many) === "12 components: 12 processors (p0–p11)");
 * ```
 */
export function summarizeComponents(components: readonly string[], listUpTo = 8): string {
  if (components.length <= listUpTo) return components.join(" ");
  const roles = new Map<string, string[]>();
  for (const entry of components) {
    const at = entry.lastIndexOf(":");
    const [id, role] = at < 0 ? [entry, "?"] : [entry.slice(0, at), entry.slice(at + 1)];
    roles.set(role, [...roles.get(role) ?? [], id]);
  }
  const groups = [...roles].sort(([a], [b]) => byRole(a, b)).map(([role, ids]) => {
    const name = ids.length === 1 || role === "memory" || role === "storage" ? role : `${role}s`;
    return `${ids.length} ${name} (${idRanges(ids)})`;
  });
  return `${components.length} components: ${groups.join(", ")}`;
}

/** A column of a `top` section: its header and how a component fills it. */
interface TopColumn {
  header: string;
  cell: (figures: Figures) => string;
}

/** One component's load, its rates since the previous frame, and its latest hit ratio. */
interface Figures {
  load: Record<string, unknown>;
  /** Per-second growth of a numeric figure, or undefined without a previous frame. */
  rate: (name: string) => number | undefined;
}

const value = (f: Figures, name: string) => {
  const v = f.load[name];
  return typeof v === "number" && Number.isFinite(v) ? compact(v) : "-";
};
const perSecond = (f: Figures, name: string) => {
  const r = f.rate(name);
  return r === undefined ? "-" : compact(Math.round(r));
};
const hitRatio = (f: Figures) => {
  const hits = f.rate("hits"), misses = f.rate("misses");
  if (hits === undefined || misses === undefined) return "-";
  return hits + misses > 0 ? `${((100 * hits) / (hits + misses)).toFixed(1)}%` : "idle";
};

/** What `top` shows for each stock role; other roles show their figures as `name=value`. */
const TOP_COLUMNS: Record<string, TopColumn[]> = {
  processor: [
    { header: "PROCS", cell: (f) => value(f, "processes") },
    { header: "THREADS", cell: (f) => value(f, "threads") },
    { header: "HITS/S", cell: (f) => perSecond(f, "hits") },
    { header: "MISSES/S", cell: (f) => perSecond(f, "misses") },
    { header: "HIT %", cell: hitRatio },
    { header: "FETCHED/S", cell: (f) => perSecond(f, "pagesFetched") },
    { header: "EVICT/S", cell: (f) => perSecond(f, "evictions") },
    { header: "LINES", cell: (f) => value(f, "cacheLinesUsed") },
  ],
  memory: [
    { header: "FRAMES USED", cell: (f) => value(f, "framesUsed") },
    { header: "FREE", cell: (f) => value(f, "framesFree") },
    { header: "REQUESTS/S", cell: (f) => perSecond(f, "requests") },
    { header: "HOMED", cell: (f) => value(f, "processes") },
    { header: "SWAPPED", cell: (f) => value(f, "swappedPages") },
  ],
  storage: [
    { header: "REQUESTS/S", cell: (f) => perSecond(f, "requests") },
    { header: "READS/S", cell: (f) => perSecond(f, "reads") },
    { header: "WRITES/S", cell: (f) => perSecond(f, "writes") },
    { header: "IN FLIGHT", cell: (f) => value(f, "inFlight") },
    { header: "OPEN FILES", cell: (f) => value(f, "openFiles") },
  ],
};

/** How busy a component was since the last frame, to pick which rows a short screen keeps. */
function activity(role: string, f: Figures): number {
  const names = role === "processor" ? ["hits", "misses"] : ["requests"];
  return names.reduce((sum, name) => sum + (f.rate(name) ?? 0), 0);
}

/** Cuts `line` to `width` characters, marking the cut with `…`. */
function fit(line: string, width: number): string {
  return line.length <= width ? line : `${line.slice(0, Math.max(0, width - 1))}…`;
}

/** Options of {@link formatTop}. */
export interface TopOptions {
  /** Terminal columns: every line is cut to fit (default: no limit). */
  width?: number;
  /**
   * Terminal rows: when the components do not fit, each role shows its busiest ones
   * and a line counting the rest (default: no limit).
   */
  height?: number;
}

/**
 * One `top` frame: the cluster line, then per role a line of totals and a table of its
 * components in natural id order (processors: hits, misses and fetches per second since
 * `previous`, the hit ratio over that interval, threads; memory: frames and requests;
 * storage: requests and files), then the running processes. Lines fit `width`; with
 * `height`, busy components are kept and the idle rest counted.
 *
 * @example
 * ```ts
 * import { formatTop } from "./views.ts";
 * const component = {
 *   id: "p0", role: "processor" as const, state: "up" as const, drained: false, joinedAt: 0,
 *   upSince: 0, lastSeenAt: 0, heartbeats: 1, capacity: {}, addresses: {},
 *   load: { hits: 10, misses: 0 }, uptimeMs: 0, missedHeartbeats: 0,
 *   assigned: { threads: 0, processes: 0, homes: 0, vregions: 0, files: 0 },
 * };
 * const before = { takenAt: 0, components: [component], processes: [], vregions: [], files: [] };
 * const after = { ...before, takenAt: 1000,
 *   components: [{ ...component, load: { hits: 2010, misses: 0 } }] };
 * const lines = formatTop(after, before, { width: 80 });
 * console.assert(lines.some((l) => /^p0 +up +- +- +2000 +0 +100\.0%/.test(l)));
 * console.assert(lines.every((l) => l.length <= 80));
 * ```
 */
export function formatTop(
  snapshot: ClusterSnapshot,
  previous?: ClusterSnapshot,
  options: TopOptions = {},
): string[] {
  const width = options.width ?? Infinity;
  const now = snapshot.takenAt ?? Date.now();
  const seconds = previous?.takenAt !== undefined && snapshot.takenAt !== undefined
    ? (snapshot.takenAt - previous.takenAt) / 1000
    : 0;
  const before = new Map(previous?.components.map((c) => [c.id, c.load ?? {}]) ?? []);
  const figuresOf = (c: ClusterSnapshot["components"][number]): Figures => {
    const load = c.load ?? {};
    const old = before.get(c.id);
    return {
      load,
      rate: (name) => {
        const v = load[name], was = old?.[name];
        if (seconds <= 0 || typeof v !== "number" || typeof was !== "number") return undefined;
        return Math.max(0, v - was) / seconds;
      },
    };
  };
  const roles = new Map<string, ClusterSnapshot["components"]>();
  for (const c of [...snapshot.components].sort((a, b) => naturalCompare(a.id, b.id))) {
    roles.set(c.role, [...roles.get(c.role) ?? [], c]);
  }
  const order = [...roles.keys()].sort(byRole);
  const running = snapshot.processes.filter((p) => p.state === "running");
  // Rows each role may show when the screen is short: what is left after the fixed lines.
  const fixed = 2 + order.length * 3 + 1 + Math.max(2, running.length + 1);
  const perRole = options.height === undefined
    ? Infinity
    : Math.max(2, Math.floor((options.height - fixed) / Math.max(1, order.length)));
  const up = snapshot.components.filter((c) => c.state === "up").length;
  const lines = [
    `legoemu top ${new Date(now).toISOString().slice(11, 19)} · ${snapshot.components.length} ` +
    `components (${up} up) · ${running.length} processes running, ` +
    `${snapshot.processes.length - running.length} exited`,
  ];
  for (const role of order) {
    const members = roles.get(role)!;
    const figures = new Map(members.map((c) => [c.id, figuresOf(c)]));
    const up = members.filter((c) => c.state === "up").length;
    lines.push("", roleTotals(role, members.length, up, [...figures.values()]));
    let shown = members;
    if (members.length > perRole) {
      const busiest = [...members].sort((a, b) =>
        activity(role, figures.get(b.id)!) - activity(role, figures.get(a.id)!) ||
        naturalCompare(a.id, b.id)
      ).slice(0, perRole - 1);
      const keep = new Set(busiest.map((c) => c.id));
      shown = members.filter((c) => keep.has(c.id));
    }
    const columns = TOP_COLUMNS[role];
    if (!columns && shown.every((c) => numericFields(c.load ?? {}).length === 0)) {
      lines.push(
        shown.map((c) => `${c.id} ${c.drained ? `${c.state},drained` : c.state}`).join(", "),
      );
      continue;
    }
    const rows = shown.map((c) => {
      const state = c.drained ? `${c.state},drained` : c.state;
      const f = figures.get(c.id)!;
      if (columns) return [c.id, state, ...columns.map((col) => col.cell(f))];
      const load = numericFields(f.load).map(([k, v]) => {
        const rate = f.rate(k);
        return `${k}=${compact(v)}${rate ? ` (+${compact(rate)}/s)` : ""}`;
      });
      return [c.id, state, load.join(" ") || "-"];
    });
    const headers = ["ID", "STATE", ...(columns?.map((c) => c.header) ?? ["LOAD"])];
    lines.push(...table(headers, rows));
    if (shown.length < members.length) {
      lines.push(`… ${members.length - shown.length} more ${role} components, less busy`);
    }
  }
  lines.push("");
  lines.push(
    ...(running.length
      ? table(
        ["PID", "STATE", "PROCESSOR", "HOME", "THREADS", "STARTED", "RUNTIME", "EXIT", "ERROR"],
        running.map((p) => processRow(p, now)),
      )
      : ["no running processes"]),
  );
  return lines.map((line) => fit(line, width));
}

/** A role's headline in `top`: how many, how many up, and its summed rates. */
function roleTotals(role: string, total: number, up: number, figures: Figures[]): string {
  const sum = (name: string) => {
    const rates = figures.map((f) => f.rate(name)).filter((r) => r !== undefined);
    return rates.length ? rates.reduce((a, b) => a + b, 0) : undefined;
  };
  const parts = [`${role}: ${total} (${up} up)`];
  const shown = (name: string, label: string) => {
    const r = sum(name);
    if (r !== undefined) parts.push(`${compact(Math.round(r))} ${label}`);
  };
  if (role === "processor") {
    shown("hits", "hits/s");
    shown("misses", "misses/s");
    const hits = sum("hits"), misses = sum("misses");
    if (hits !== undefined && misses !== undefined && hits + misses > 0) {
      parts.push(`${((100 * hits) / (hits + misses)).toFixed(1)}% hits`);
    }
  } else if (role === "memory" || role === "storage") {
    shown("requests", "requests/s");
  }
  return parts.join(" · ");
}
