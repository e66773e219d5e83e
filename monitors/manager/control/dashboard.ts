/**
 * The dashboard page served at `/`: plain HTML, CSS and SVG with no build step, laid out
 * for 1 to 64+ components on a laptop screen.
 *
 * On load it shows a loading indicator in every card, reads the cluster, components,
 * processes and the recent events, then follows the Server-Sent Event stream from the
 * last event it read. `tick` messages carry each component's latest heartbeat load; a
 * processor's rates (hits and misses per second) are the growth of its counters between
 * two heartbeats, so an idle processor's rate is zero.
 *
 * - Components: one row of chips per role, with counts.
 * - ExCache activity: a time chart (axes, units) of hits per second or hit ratio, drawing
 *   the cluster total, the five busiest processors and any processor picked in the table.
 * - Processors: a sortable table (natural id order by default) with a sparkline per row;
 *   clicking a row draws that processor on the chart.
 * - Memory: the total, then a compact tile per memory component.
 * - Processes, newest first, with their live thread count; events, one line each (the
 *   same news about many components in one second folds into one line).
 *
 * @module
 */

/** The dashboard document. */
export const DASHBOARD_HTML: string = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>legoemu dashboard</title>
<style>
  :root { --bg:#f4f5f8; --card:#fff; --ink:#1d2330; --mute:#626b7f; --up:#2e9d5b; --down:#c8413b;
          --drain:#c98a17; --line:#dde1e8; --accent:#3f6fc0; --soft:#eef1f6; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; background:var(--bg); color:var(--ink); }
  header { display:flex; flex-wrap:wrap; gap:.4rem 1.4rem; align-items:baseline; padding:.7rem 1.2rem; background:#1d2330; color:#fff; }
  header h1 { font-size:1.1rem; margin:0; }
  header span { color:#c3cad8; }
  header a { color:#9fc0ff; margin-left:auto; }
  #connection.live::before { content:""; display:inline-block; width:.55rem; height:.55rem; border-radius:50%; background:#4ad17f; margin-right:.35rem; }
  main { display:grid; grid-template-columns: minmax(0, 1.4fr) minmax(0, 1fr); gap:.9rem; padding:.9rem 1.2rem; align-items:start; }
  section { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:.7rem .9rem; min-width:0; }
  section h2 { display:flex; align-items:baseline; gap:.6rem; font-size:.85rem; margin:0 0 .5rem; color:var(--mute); text-transform:uppercase; letter-spacing:.05em; }
  section h2 small { text-transform:none; letter-spacing:0; font-weight:normal; font-size:.8rem; }
  .wide { grid-column: 1 / -1; }
  .loading { display:flex; align-items:center; gap:.6rem; color:var(--mute); padding:1.2rem .2rem; }
  .spinner { width:1rem; height:1rem; border:2px solid var(--line); border-top-color:var(--accent); border-radius:50%; animation:spin .8s linear infinite; }
  @keyframes spin { to { transform: rotate(360deg); } }
  .error { color:var(--down); padding:.6rem .2rem; }
  #components { display:flex; flex-wrap:wrap; gap:.45rem 2.2rem; }
  .role-row { display:flex; gap:.6rem; align-items:flex-start; max-width:100%; }
  .role-name { flex:0 0 auto; min-width:7.8rem; color:var(--mute); font-size:.82rem; padding-top:.15rem; }
  .role-name b { color:var(--ink); font-weight:600; }
  .chips { display:flex; flex-wrap:wrap; gap:.3rem; }
  .chip { display:inline-flex; align-items:center; gap:.3rem; border:1px solid var(--line); border-radius:999px; padding:.05rem .5rem; font-size:.8rem; font-variant-numeric:tabular-nums; background:#fff; }
  .chip::before { content:""; width:.5rem; height:.5rem; border-radius:50%; background:var(--up); }
  .chip.down::before { background:var(--down); }
  .chip.down { color:var(--down); }
  .chip.drained::before { background:var(--drain); }
  .toggle { margin-left:auto; display:inline-flex; border:1px solid var(--line); border-radius:6px; overflow:hidden; }
  .toggle button { border:0; background:#fff; padding:.15rem .55rem; font:inherit; font-size:.78rem; cursor:pointer; color:var(--mute); }
  .toggle button[aria-pressed="true"] { background:var(--accent); color:#fff; }
  #chart-wrap { position:relative; }
  #hitrate-chart { display:block; width:100%; height:230px; }
  #hitrate-chart text { font-size:11px; fill:var(--mute); font-variant-numeric:tabular-nums; }
  #hitrate-chart .axis-title { font-size:11px; fill:var(--ink); }
  .legend { display:flex; flex-wrap:wrap; gap:.2rem .9rem; margin-top:.35rem; font-size:.8rem; font-variant-numeric:tabular-nums; }
  .legend .swatch { display:inline-block; width:.9rem; height:.2rem; vertical-align:middle; margin-right:.3rem; border-radius:2px; }
  .legend .more { color:var(--mute); }
  .scroll { max-height:290px; overflow:auto; }
  table { width:100%; border-collapse:collapse; font-variant-numeric:tabular-nums; }
  th, td { text-align:left; padding:.2rem .4rem; border-bottom:1px solid var(--soft); white-space:nowrap; }
  th { position:sticky; top:0; background:#fff; color:var(--mute); font-weight:600; font-size:.78rem; border-bottom:1px solid var(--line); }
  th.num, td.num { text-align:right; }
  th[data-sort] { cursor:pointer; user-select:none; }
  th[aria-sort="ascending"]::after { content:" ▲"; font-size:.65rem; }
  th[aria-sort="descending"]::after { content:" ▼"; font-size:.65rem; }
  #processor-table tbody tr { cursor:pointer; }
  #processor-table tbody tr:hover { background:var(--soft); }
  #processor-table tbody tr.pinned { background:#e6eefc; }
  #processor-table { font-size:.85rem; }
  .spark { display:block; width:72px; height:18px; }
  .muted { color:var(--mute); }
  .state-down { color:var(--down); }
  #memory-summary { margin-bottom:.5rem; }
  .tiles { display:grid; grid-template-columns: repeat(auto-fill, minmax(88px, 1fr)); gap:.35rem; }
  .tile { border:1px solid var(--line); border-radius:6px; padding:.2rem .4rem; font-size:.76rem; font-variant-numeric:tabular-nums; }
  .tile .top { display:flex; justify-content:space-between; }
  .bar { height:6px; background:#e8ebf0; border-radius:3px; overflow:hidden; margin-top:.2rem; }
  .bar > div { height:100%; background:var(--accent); }
  .bar.big { height:10px; }
  #event-log { max-height:210px; overflow:auto; font-family:ui-monospace, "SFMono-Regular", Menlo, monospace; font-size:.78rem; }
  .event { display:grid; grid-template-columns: 5.2rem 9.5rem 4rem 1fr; gap:.6rem; padding:.1rem 0; border-bottom:1px solid var(--soft); }
  .event .type { font-weight:600; }
  .event .type.bad { color:var(--down); }
  .event .type.good { color:var(--up); }
  @media (max-width: 900px) { main { grid-template-columns: 1fr; } .role-name { flex-basis:7rem; } }
</style>
</head>
<body>
<header>
  <h1>legoemu</h1>
  <span id="cluster-name">connecting…</span>
  <span id="cluster-counts"></span>
  <span id="connection">stream: connecting</span>
  <a href="/docs">API docs</a>
</header>
<main id="main" data-ready="0">
  <section id="topology" class="wide"><h2>Components <small id="components-summary"></small></h2>
    <div id="components"><div class="loading"><span class="spinner"></span>Loading components…</div></div></section>
  <section id="hitrate"><h2>ExCache activity <small id="chart-caption"></small>
      <span class="toggle" role="group" aria-label="chart metric">
        <button type="button" data-metric="hits" aria-pressed="true">hits / s</button>
        <button type="button" data-metric="ratio" aria-pressed="false">hit ratio</button>
      </span></h2>
    <div id="chart-wrap"><svg id="hitrate-chart" role="img" aria-label="ExCache activity over the last 60 seconds"></svg>
      <div class="loading" id="chart-loading"><span class="spinner"></span>Waiting for the first heartbeats…</div></div>
    <div class="legend" id="hitrate-legend"></div></section>
  <section id="processors"><h2>Processors <small>click a row to draw it on the chart</small></h2>
    <div class="scroll"><table id="processor-table"><thead><tr>
      <th data-sort="id" aria-sort="ascending">id</th><th data-sort="threads" class="num">threads</th>
      <th data-sort="hits" class="num">hits / s</th><th>last 60 s</th><th data-sort="ratio" class="num">hit ratio</th>
      <th data-sort="misses" class="num">misses / s</th><th data-sort="lines" class="num" title="ExCache lines in use / lines">lines</th>
    </tr></thead><tbody><tr><td colspan="7"><div class="loading"><span class="spinner"></span>Loading processors…</div></td></tr></tbody></table></div></section>
  <section id="memory"><h2>Memory <small>DRAM in use per memory component (hover a tile for MiB)</small></h2>
    <div id="memory-summary"><div class="loading"><span class="spinner"></span>Loading memory…</div></div>
    <div class="tiles" id="memory-grid"></div></section>
  <section id="processes"><h2>Processes <small id="process-summary"></small></h2>
    <div class="scroll"><table><thead><tr><th>pid</th><th>state</th><th>processor</th><th>home</th>
      <th class="num">threads</th><th class="num">runtime</th><th class="num">exit</th></tr></thead>
    <tbody id="process-rows"><tr><td colspan="7"><div class="loading"><span class="spinner"></span>Loading processes…</div></td></tr></tbody></table></div></section>
  <section id="events" class="wide"><h2>Events <small>newest first</small></h2>
    <div id="event-log"><div class="loading"><span class="spinner"></span>Loading recent events…</div></div></section>
</main>
<script type="module">
const ROLES = ["manager", "processor", "memory", "storage"];
const COLORS = ["#3f6fc0", "#d0613b", "#2f9e6a", "#8c5bc4", "#c99a1b", "#2a9bb3", "#c24f8a", "#6d7a2c"];
const TOTAL_COLOR = "#1d2330";
const WINDOW_MS = 60000;
const TOP_N = 5;
const STALE_MS = 5000; // a processor silent this long counts as idle
const RATE_SPAN_MS = 900; // rates span at least this much heartbeat time
const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, text = "") => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== "") e.textContent = text;
  return e;
};
const svgEl = (tag, attrs = {}) => {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
};

// Natural order: p2 before p10.
function natural(a, b) {
  const x = a.match(/\\d+|\\D+/g) || [], y = b.match(/\\d+|\\D+/g) || [];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] === y[i]) continue;
    const nx = Number(x[i]), ny = Number(y[i]);
    if (/^\\d/.test(x[i]) && /^\\d/.test(y[i]) && nx !== ny) return nx - ny;
    return x[i] < y[i] ? -1 : 1;
  }
  return x.length - y.length;
}
function compact(v) {
  const a = Math.abs(v);
  if (a >= 1e9) return (v / 1e9).toFixed(a >= 1e10 ? 0 : 1) + "G";
  if (a >= 1e6) return (v / 1e6).toFixed(a >= 1e7 ? 0 : 1) + "M";
  if (a >= 1e3) return (v / 1e3).toFixed(a >= 1e4 ? 0 : 1) + "k";
  return String(Math.round(v));
}
// Axis labels: as many digits as the value needs (12.5M, not 13M).
function exact(v) {
  for (const [unit, suffix] of [[1e9, "G"], [1e6, "M"], [1e3, "k"]]) {
    if (Math.abs(v) >= unit) return String(Number((v / unit).toFixed(2))) + suffix;
  }
  return String(Number(v.toFixed(2)));
}
const pct = (r) => r === null || r === undefined ? "idle" : (r * 100).toFixed(r >= 0.9995 || r === 0 ? 0 : 1) + "%";
const mib = (frames) => (frames * 4 / 1024).toFixed(frames * 4 / 1024 >= 100 ? 0 : 1);
function duration(ms) {
  if (!(ms >= 0)) return "–";
  if (ms < 1000) return Math.round(ms) + " ms";
  if (ms < 60000) return (ms / 1000).toFixed(1) + " s";
  const s = Math.floor(ms / 1000);
  return Math.floor(s / 60) + "m" + String(s % 60).padStart(2, "0") + "s";
}
const clock = (at) => new Date(at).toLocaleTimeString([], { hour12: false });
function loadingInto(node, text) {
  const box = el("div", { class: "loading" });
  box.append(el("span", { class: "spinner" }), text);
  node.replaceChildren(box);
}

// ── state ──
const components = new Map();   // id -> { id, role, state, drained, load, capacity, lastSeenAt }
const activity = new Map();     // processor id -> { beats: [{at, hits, misses}], hits, misses } (per second)
const series = new Map();       // processor id -> [{ t, hits, misses }]
let totals = [];                // [{ t, hits, misses }] summed over processors
let metric = "hits";
const pinned = new Set();
let sort = { key: "id", dir: 1 };
const rowsById = new Map();     // processor id -> its table row
let processes = [];

// ── components ──
function setComponents(list) {
  const seen = new Set();
  for (const c of list) {
    seen.add(c.id);
    components.set(c.id, { ...components.get(c.id), ...c });
  }
  for (const id of [...components.keys()]) if (!seen.has(id)) components.delete(id);
}
function ofRole(role) {
  return [...components.values()].filter((c) => c.role === role).sort((a, b) => natural(a.id, b.id));
}
function renderComponents() {
  const all = [...components.values()];
  const up = all.filter((c) => c.state === "up").length;
  $("components-summary").textContent = all.length + " components, " + up + " up" +
    (all.length - up ? ", " + (all.length - up) + " down" : "");
  const roles = [...new Set([...ROLES, ...all.map((c) => c.role)])].filter((r) => ofRole(r).length);
  $("components").replaceChildren(...roles.map((role) => {
    const members = ofRole(role);
    const down = members.filter((c) => c.state !== "up").length;
    const row = el("div", { class: "role-row", "data-role": role });
    const name = el("div", { class: "role-name" });
    name.append(el("b", {}, role), " · " + members.length + (down ? " (" + down + " down)" : ""));
    const chips = el("div", { class: "chips" });
    for (const c of members) {
      const chip = el("span", {
        class: "chip" + (c.state !== "up" ? " down" : "") + (c.drained ? " drained" : ""),
        "data-component": c.id, "data-state": c.state,
        title: c.id + ": " + (c.drained ? "drained, " : "") + c.state,
      }, c.id);
      chips.append(chip);
    }
    row.append(name, chips);
    return row;
  }));
  const counts = $("cluster-counts");
  counts.textContent = all.length + " components (" + up + " up)";
}

// ── processor activity ──
function sample(at) {
  let sumHits = 0, sumMisses = 0;
  for (const c of ofRole("processor")) {
    const hits = Number(c.load?.hits ?? 0), misses = Number(c.load?.misses ?? 0);
    const seenAt = Number(c.lastSeenAt ?? 0);
    let a = activity.get(c.id);
    if (!a) activity.set(c.id, a = { beats: [], hits: 0, misses: 0 });
    const beats = a.beats;
    if (!beats.length || seenAt > beats[beats.length - 1].at) {
      // Rates from heartbeats, not ticks (the two are not in step), over at least ~1 s of
      // them: a thread publishes its counters a few times a second, not at every heartbeat.
      beats.push({ at: seenAt, hits, misses });
      while (beats.length > 2 && beats[1].at <= seenAt - RATE_SPAN_MS) beats.shift();
      const base = beats[0];
      const dt = (seenAt - base.at) / 1000;
      a.hits = dt > 0 ? Math.max(0, hits - base.hits) / dt : 0;
      a.misses = dt > 0 ? Math.max(0, misses - base.misses) / dt : 0;
    }
    if (c.state !== "up" || at - seenAt > STALE_MS) a.hits = a.misses = 0;
    const s = series.get(c.id) ?? [];
    s.push({ t: at, hits: a.hits, misses: a.misses });
    while (s.length && s[0].t < at - WINDOW_MS) s.shift();
    series.set(c.id, s);
    sumHits += a.hits;
    sumMisses += a.misses;
  }
  for (const id of [...series.keys()]) if (!components.has(id)) series.delete(id);
  totals.push({ t: at, hits: sumHits, misses: sumMisses });
  totals = totals.filter((p) => p.t >= at - WINDOW_MS);
}
const ratioOf = (p) => p.hits + p.misses > 0 ? p.hits / (p.hits + p.misses) : null;
const valueOf = (p) => metric === "hits" ? p.hits : ratioOf(p);

// A round step that splits 0..v into at most 5 parts (1, 2, 2.5 or 5 times a power of ten).
function niceStep(v) {
  if (!(v > 0)) return 1;
  const raw = v / 5, e = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * e >= raw) return m * e;
  return 10 * e;
}

function chartedSeries() {
  const procs = ofRole("processor");
  const busy = procs.map((c) => ({ id: c.id, sum: (series.get(c.id) ?? []).reduce((s, p) => s + p.hits + p.misses, 0) }))
    .filter((b) => b.sum > 0).sort((a, b) => b.sum - a.sum || natural(a.id, b.id)).slice(0, TOP_N).map((b) => b.id);
  const ids = [...new Set([...busy, ...[...pinned].filter((id) => series.has(id))])];
  // With no activity at all, show the first processors so the chart is not empty.
  if (!ids.length) ids.push(...procs.slice(0, Math.min(TOP_N, procs.length)).map((c) => c.id));
  const list = ids.sort(natural).map((id, i) => ({ id, label: id, color: COLORS[i % COLORS.length], points: series.get(id) ?? [] }));
  if (procs.length > 1) {
    list.unshift({ id: "all", label: metric === "hits" ? "all " + procs.length + " processors (sum)" : "all " + procs.length + " processors", color: TOTAL_COLOR, points: totals, total: true });
  }
  return { list, hidden: procs.length - list.filter((s) => !s.total).length };
}

function renderChart() {
  const svg = $("hitrate-chart");
  const width = Math.max(320, svg.clientWidth || 600), height = 230;
  const m = { left: 58, right: 14, top: 12, bottom: 34 };
  const w = width - m.left - m.right, h = height - m.top - m.bottom;
  svg.setAttribute("viewBox", "0 0 " + width + " " + height);
  const now = totals.length ? totals[totals.length - 1].t : Date.now();
  const { list, hidden } = chartedSeries();
  let max = 1, step = 0.25;
  if (metric === "hits") {
    for (const s of list) for (const p of s.points) max = Math.max(max, p.hits);
    step = Math.max(1, niceStep(max));
    max = Math.ceil(max / step) * step;
  }
  const x = (t) => m.left + w * (1 - (now - t) / WINDOW_MS);
  const y = (v) => m.top + h * (1 - v / max);
  const parts = [];
  const ticks = [];
  for (let v = 0; v <= max + step / 2; v += step) ticks.push(v);
  for (const v of ticks) {
    parts.push(svgEl("line", { x1: m.left, x2: m.left + w, y1: y(v), y2: y(v), stroke: v === 0 ? "#b8bfcc" : "#e6e9ef" }));
    const label = svgEl("text", { x: m.left - 6, y: y(v) + 4, "text-anchor": "end" });
    label.textContent = metric === "hits" ? exact(v) : Math.round(v * 100) + "%";
    parts.push(label);
  }
  for (let s = 0; s <= 60; s += 10) {
    const tx = x(now - s * 1000);
    parts.push(svgEl("line", { x1: tx, x2: tx, y1: m.top + h, y2: m.top + h + 4, stroke: "#b8bfcc" }));
    const label = svgEl("text", { x: tx, y: m.top + h + 16, "text-anchor": s === 0 ? "end" : s === 60 ? "start" : "middle" });
    label.textContent = s === 0 ? "now" : "−" + s + " s";
    parts.push(label);
  }
  const yTitle = svgEl("text", { class: "axis-title", transform: "translate(12 " + (m.top + h / 2) + ") rotate(-90)", "text-anchor": "middle" });
  yTitle.textContent = metric === "hits" ? "hits per second" : "hit ratio (hits / accesses)";
  const xTitle = svgEl("text", { class: "axis-title", x: m.left + w / 2, y: height - 2, "text-anchor": "middle" });
  xTitle.textContent = "time (last 60 s)";
  parts.push(yTitle, xTitle);
  for (const s of [...list].reverse()) {
    // Hit ratio has no value while a processor is idle: the line breaks there.
    let run = [];
    const flush = () => {
      if (run.length) parts.push(svgEl("polyline", { points: run.join(" "), fill: "none", stroke: s.color, "stroke-width": s.total ? 2.5 : 1.6, "stroke-linejoin": "round", "data-series": s.id, "data-samples": s.points.length }));
      run = [];
    };
    for (const p of s.points) {
      const v = valueOf(p);
      if (v === null) { flush(); continue; }
      run.push(x(p.t).toFixed(1) + "," + y(v).toFixed(1));
    }
    flush();
  }
  svg.replaceChildren(...parts);
  $("chart-loading").style.display = totals.length ? "none" : "";
  $("chart-caption").textContent = metric === "hits" ? "hits per second" : "share of accesses that hit";
  const legend = $("hitrate-legend");
  legend.replaceChildren(...list.map((s) => {
    const last = s.points[s.points.length - 1];
    const value = !last ? "–" : metric === "hits" ? compact(last.hits) + " hits/s" : pct(ratioOf(last));
    const item = el("span", { "data-hitrate": s.id, "data-hits-per-s": last ? String(Math.round(last.hits)) : "0" });
    const swatch = el("span", { class: "swatch", style: "background:" + s.color + (s.total ? ";height:.3rem" : "") });
    item.append(swatch, s.label + ": " + value);
    return item;
  }));
  if (hidden > 0) legend.append(el("span", { class: "more" }, "+ " + hidden + " more in the table (click a row to draw it)"));
}

function sparkline(points) {
  const svg = svgEl("svg", { class: "spark", viewBox: "0 0 80 18", preserveAspectRatio: "none", "aria-hidden": "true" });
  const max = Math.max(1, ...points.map((p) => p.hits));
  const now = points.length ? points[points.length - 1].t : 0;
  const pts = points.map((p) => (80 * (1 - (now - p.t) / WINDOW_MS)).toFixed(1) + "," + (17 - 16 * p.hits / max).toFixed(1));
  svg.append(svgEl("polyline", { points: pts.join(" "), fill: "none", stroke: "#3f6fc0", "stroke-width": 1.2 }));
  return svg;
}

function processorRows() {
  return ofRole("processor").map((c) => {
    const a = activity.get(c.id) ?? { hits: 0, misses: 0 };
    const lines = Number(c.capacity?.cacheBytes ?? 0) / 4096;
    const used = Number(c.load?.cacheLinesUsed ?? 0);
    return { c, id: c.id, threads: Number(c.load?.threads ?? 0), hits: a.hits, misses: a.misses,
      ratio: ratioOf(a), lines: lines > 0 ? used / lines : 0, used, total: lines };
  });
}
function renderProcessors() {
  const rows = processorRows();
  const k = sort.key;
  rows.sort((a, b) => k === "id" ? sort.dir * natural(a.id, b.id)
    : sort.dir * ((a[k] ?? -1) - (b[k] ?? -1)) || natural(a.id, b.id));
  for (const th of document.querySelectorAll("#processor-table th[data-sort]")) {
    th.setAttribute("aria-sort", th.dataset.sort === k ? (sort.dir > 0 ? "ascending" : "descending") : "none");
  }
  const body = document.querySelector("#processor-table tbody");
  if (!rows.length) {
    rowsById.clear();
    body.replaceChildren(el("tr", {}, ""));
    body.firstChild.append(el("td", { colspan: "7", class: "muted" }, "no processors"));
    return;
  }
  // Rows are updated in place and moved only when the order changes: a row replaced under
  // the pointer between press and release would swallow the click.
  const wanted = new Set(rows.map((r) => r.id));
  for (const [id, tr] of rowsById) if (!wanted.has(id)) { tr.remove(); rowsById.delete(id); }
  for (const child of [...body.children]) if (!child.dataset.processor) child.remove();
  rows.forEach((r, i) => {
    let tr = rowsById.get(r.id);
    if (!tr) {
      tr = el("tr", { "data-processor": r.id });
      for (let n = 0; n < 7; n++) tr.append(el("td", { class: n === 0 || n === 3 ? "" : "num" }));
      tr.children[3].title = r.id + ": hits per second over the last 60 s";
      rowsById.set(r.id, tr);
    }
    tr.dataset.threads = String(r.threads);
    tr.dataset.hitsPerS = String(Math.round(r.hits));
    tr.className = pinned.has(r.id) ? "pinned" : "";
    const cells = tr.children;
    cells[0].replaceChildren(r.id);
    if (r.c.state !== "up") cells[0].append(el("span", { class: "state-down" }, " " + r.c.state));
    cells[1].textContent = String(r.threads);
    cells[2].textContent = compact(r.hits);
    cells[3].replaceChildren(sparkline(series.get(r.id) ?? []));
    cells[4].textContent = pct(r.ratio);
    cells[4].className = "num" + (r.ratio === null ? " muted" : "");
    cells[5].textContent = compact(r.misses);
    cells[6].textContent = r.total ? compact(r.used) + " / " + compact(r.total) : compact(r.used);
    if (body.children[i] !== tr) body.insertBefore(tr, body.children[i] ?? null);
  });
}

// ── memory ──
function renderMemory() {
  const mems = ofRole("memory");
  const summary = $("memory-summary");
  if (!mems.length) { summary.textContent = "no memory components"; $("memory-grid").replaceChildren(); return; }
  let used = 0, total = 0;
  const tiles = mems.map((c) => {
    const u = Number(c.load?.framesUsed ?? 0), f = Number(c.load?.framesFree ?? 0);
    used += u; total += u + f;
    const share = u + f > 0 ? u / (u + f) : 0;
    const tile = el("div", { class: "tile", "data-memory": c.id, title: c.id + ": " + mib(u) + " of " + mib(u + f) + " MiB used" + (c.state !== "up" ? " (" + c.state + ")" : "") });
    const top = el("div", { class: "top" });
    top.append(el("b", { class: c.state !== "up" ? "state-down" : "" }, c.id), el("span", { class: "muted" }, (share * 100).toFixed(0) + "%"));
    const bar = el("div", { class: "bar" });
    bar.append(el("div", { style: "width:" + (share * 100).toFixed(1) + "%" }));
    tile.append(top, bar);
    return tile;
  });
  const share = total ? used / total : 0;
  const line = el("div", {}, mems.length + " memory component" + (mems.length > 1 ? "s" : "") + " · " +
    mib(used) + " of " + mib(total) + " MiB used (" + (share * 100).toFixed(1) + "%)");
  const bar = el("div", { class: "bar big" });
  bar.append(el("div", { style: "width:" + (share * 100).toFixed(1) + "%" }));
  summary.replaceChildren(line, bar);
  $("memory-grid").replaceChildren(...tiles);
}

// ── processes ──
function renderProcesses() {
  const running = processes.filter((p) => p.state === "running").length;
  $("process-summary").textContent = running + " running, " + (processes.length - running) + " exited";
  const body = $("process-rows");
  if (!processes.length) {
    body.replaceChildren(el("tr"));
    body.firstChild.append(el("td", { colspan: "7", class: "muted" }, "no processes yet"));
    return;
  }
  const now = Date.now();
  body.replaceChildren(...processes.slice(-200).reverse().map((p) => {
    const row = el("tr", { "data-pid": String(p.pid), "data-state": p.state, "data-threads": String(p.threads) });
    const end = p.state === "running" ? now : p.wallNs ? p.startedAt + p.wallNs / 1e6 : undefined;
    row.append(el("td", {}, String(p.pid)), el("td", { class: p.state === "running" ? "" : "muted" }, p.state),
      el("td", {}, p.processor), el("td", {}, p.home), el("td", { class: "num" }, String(p.threads)),
      el("td", { class: "num" }, end === undefined ? "–" : duration(end - p.startedAt)),
      el("td", { class: "num" + (p.exitCode ? " state-down" : "") , title: p.error ?? "" }, p.exitCode === undefined ? "–" : String(p.exitCode)));
    return row;
  }));
}

// ── events ──
function describe(e) {
  const d = e.data ?? {};
  const thread = "pid " + d.pid + " thread " + d.tid;
  switch (e.type) {
    case "process.start": return "pid " + d.pid + " started on " + d.processor + " (home " + d.home + ", " + d.threads + " thread" + (d.threads === 1 ? "" : "s") + ")";
    case "process.exit": return "pid " + d.pid + " exited with code " + d.exitCode + (d.error ? ": " + d.error : "");
    case "thread.start": return thread + " started" + (d.entry && d.entry !== "main" ? " in " + d.entry : "");
    case "thread.exit": return thread + " ended: " + (d.kind === "returned" ? "returned " + d.value : d.kind === "exit-process" ? "exit(" + d.code + ")" : d.error ?? d.kind);
    case "component.up": return (d.role ?? "component") + " up" + (d.rejoined ? " (joined again)" : d.recovered ? " (heartbeating again)" : "");
    case "component.down": return "down after " + d.missedHeartbeats + " missed heartbeats";
    case "component.suspect": return "missed " + d.missedHeartbeats + " heartbeats";
    case "placement": return d.what === "vregion" ? "vRegion " + d.vregion + " of pid " + d.pid + " placed on " + d.owner + " (" + d.policy + ")"
      : d.what === "file" ? "file " + d.path + " placed on " + d.storage + " (" + d.policy + ")" : kv(d);
    case "fault": return "pid " + d.pid + " fault at 0x" + Number(d.vaddr ?? 0).toString(16) + (d.access ? " (" + d.access + ")" : "") + ": " + d.reason;
    case "custom.drain": return d.drained ? "drained: no new placements" : "undrained";
    case "custom.policy": return d.kind + " is now " + d.name;
    default: return kv(d);
  }
}
function kv(d) {
  return Object.entries(d).map(([k, v]) => k + "=" + (typeof v === "object" ? JSON.stringify(v) : String(v))).join(" ");
}
let lastSeq = 0;
function eventLine(e) {
  const line = el("div", { class: "event", "data-seq": String(e.seq), "data-type": e.type });
  const tone = /down|exit|fault|suspect/.test(e.type) && (e.type !== "process.exit" || e.data?.exitCode) && (e.type !== "thread.exit" || e.data?.kind === "failed") ? " bad" : e.type === "component.up" ? " good" : "";
  line.append(el("span", { class: "muted" }, clock(e.at)), el("span", { class: "type" + tone }, e.type),
    el("span", {}, e.component ?? ""), el("span", {}, describe(e)));
  return line;
}
// Ids as ranges where they count up: p0–p31, m4.
function idRanges(ids) {
  const parts = [];
  let run;
  const flush = () => {
    if (run) parts.push(run.from === run.to ? run.first : run.first + "–" + run.last);
    run = undefined;
  };
  for (const id of [...ids].sort(natural)) {
    const m = /^(.*?)(\\d+)$/.exec(id);
    const n = m ? Number(m[2]) : NaN;
    if (m && run && run.prefix === m[1] && n === run.to + 1 && String(n) === m[2]) { run.to = n; run.last = id; continue; }
    flush();
    if (m && String(n) === m[2]) run = { prefix: m[1], from: n, to: n, first: id, last: id };
    else parts.push(id);
  }
  flush();
  return parts.join(", ");
}
// The same news about many components in the same second (a cluster booting, a busy
// manager) folds into one line: "component.suspect ×28 missed 2 heartbeats: m0–m27".
const FOLDABLE = new Set(["component.up", "component.down", "component.suspect", "custom.drain"]);
let fold; // { key, line, ids } of the newest line, when it can take more
function logEvents(events) {
  const log = $("event-log");
  if (log.querySelector(".loading, .empty")) log.replaceChildren();
  for (const e of events) {
    if (e.seq <= lastSeq) continue;
    lastSeq = e.seq;
    const key = FOLDABLE.has(e.type) && e.component ? e.type + "|" + describe(e) + "|" + Math.floor(e.at / 1000) : undefined;
    if (key && fold?.key === key && fold.line.parentNode === log) {
      fold.ids.push(e.component);
      const cells = fold.line.children;
      cells[2].textContent = "×" + fold.ids.length;
      cells[2].title = fold.ids.length + " components";
      cells[3].textContent = describe(e) + ": " + idRanges(fold.ids);
      fold.line.dataset.seq = String(e.seq);
      continue;
    }
    const line = eventLine(e);
    log.prepend(line);
    fold = key ? { key, line, ids: [e.component] } : undefined;
  }
  while (log.childElementCount > 300) log.lastElementChild.remove();
  if (!log.childElementCount) log.append(el("div", { class: "muted empty" }, "no events yet"));
}

// ── loading and the live stream ──
async function getJson(path) {
  const res = await fetch(path);
  if (!res.ok) throw new Error(path + " answered " + res.status);
  return await res.json();
}
let processTimer;
// At most one refresh every 150 ms, however many events and ticks ask for one.
function refreshProcessesSoon() {
  if (processTimer !== undefined) return;
  processTimer = setTimeout(async () => {
    processTimer = undefined;
    try { processes = await getJson("/api/processes"); renderProcesses(); } catch { /* next event retries */ }
  }, 150);
}
async function refreshComponents() {
  try { setComponents(await getJson("/api/components")); renderComponents(); renderProcessors(); renderMemory(); } catch { /* next tick retries */ }
}

for (const button of document.querySelectorAll(".toggle button")) {
  button.addEventListener("click", () => {
    metric = button.dataset.metric;
    for (const b of document.querySelectorAll(".toggle button")) b.setAttribute("aria-pressed", String(b === button));
    renderChart();
  });
}
for (const th of document.querySelectorAll("#processor-table th[data-sort]")) {
  th.addEventListener("click", () => {
    const key = th.dataset.sort;
    sort = sort.key === key ? { key, dir: -sort.dir } : { key, dir: key === "id" ? 1 : -1 };
    renderProcessors();
  });
}
document.querySelector("#processor-table tbody").addEventListener("click", (event) => {
  const row = event.target.closest("tr[data-processor]");
  if (!row) return;
  const id = row.dataset.processor;
  if (pinned.has(id)) pinned.delete(id); else pinned.add(id);
  renderProcessors();
  renderChart();
});
addEventListener("resize", () => renderChart());

async function start() {
  try {
    const [summary, list, procs, page] = await Promise.all([
      getJson("/api/cluster"), getJson("/api/components"), getJson("/api/processes"),
      getJson("/api/events?limit=200"),
    ]);
    $("cluster-name").textContent = summary.name + " · latency model " + summary.latencyModel;
    setComponents(list);
    processes = procs;
    renderComponents();
    renderProcessors();
    renderMemory();
    renderProcesses();
    renderChart();
    logEvents(page.events);
    $("main").dataset.ready = "1";
    follow(page.nextAfterSeq);
  } catch (e) {
    for (const id of ["components", "event-log"]) {
      $(id).replaceChildren(el("div", { class: "error" }, "Cannot read the cluster (" + e.message + "); retrying…"));
    }
    setTimeout(start, 2000);
  }
}

function follow(afterSeq) {
  const connection = $("connection");
  const stream = new EventSource("/api/events/stream?afterSeq=" + afterSeq);
  stream.addEventListener("open", () => { connection.textContent = "stream: live"; connection.className = "live"; });
  stream.addEventListener("error", () => { connection.textContent = "stream: reconnecting"; connection.className = ""; });
  stream.addEventListener("tick", (m) => {
    const tick = JSON.parse(m.data);
    const known = tick.components.every((c) => components.has(c.id)) && tick.components.length === components.size;
    setComponents(tick.components);
    sample(tick.at);
    renderComponents();
    renderProcessors();
    renderMemory();
    renderChart();
    if (!known) refreshComponents();
    if (processes.some((p) => p.state === "running")) refreshProcessesSoon();
  });
  stream.addEventListener("cluster", (m) => {
    const e = JSON.parse(m.data);
    logEvents([e]);
    if (e.type.startsWith("component.") || e.type === "custom.drain") refreshComponents();
    if (e.type.startsWith("process.") || e.type.startsWith("thread.")) refreshProcessesSoon();
  });
}
start();
</script>
</body>
</html>
`;
