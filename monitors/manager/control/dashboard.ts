/**
 * The dashboard page served at `/`: plain HTML, CSS and SVG with no build step. It loads
 * the components and processes once, then follows the Server-Sent Event stream: cluster
 * events refresh the topology and process table, `tick` messages (each component's
 * latest heartbeat load) extend the per-processor ExCache hit-rate chart and the memory
 * bars.
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
  :root { --bg:#f6f7f9; --card:#fff; --ink:#1d2330; --mute:#6b7385; --up:#2e9d5b; --down:#c8413b;
          --drain:#c98a17; --line:#dde1e8; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.4 system-ui, sans-serif; background:var(--bg); color:var(--ink); }
  header { display:flex; gap:1.5rem; align-items:baseline; padding:.8rem 1.2rem; background:#1d2330; color:#fff; }
  header h1 { font-size:1.1rem; margin:0; }
  header span { color:#b9c0cf; }
  main { display:grid; grid-template-columns: 1fr 1fr; gap:1rem; padding:1rem 1.2rem; }
  section { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:.8rem 1rem; }
  section h2 { font-size:.95rem; margin:0 0 .6rem; color:var(--mute); text-transform:uppercase; letter-spacing:.04em; }
  #topology { grid-column: 1 / -1; }
  .roles { display:grid; grid-template-columns: repeat(4, 1fr); gap:.8rem; }
  .role h3 { margin:0 0 .4rem; font-size:.85rem; color:var(--mute); }
  .component { display:flex; justify-content:space-between; border:1px solid var(--line); border-left:5px solid var(--up);
               border-radius:6px; padding:.35rem .6rem; margin-bottom:.35rem; }
  .component.down { border-left-color:var(--down); opacity:.7; }
  .component.drained { border-left-color:var(--drain); }
  .component .state { color:var(--mute); font-size:.8rem; }
  svg { width:100%; height:180px; background:#fbfcfd; border:1px solid var(--line); border-radius:6px; }
  .legend span { margin-right:1rem; font-size:.8rem; }
  table { width:100%; border-collapse:collapse; }
  th, td { text-align:left; padding:.25rem .4rem; border-bottom:1px solid var(--line); font-variant-numeric: tabular-nums; }
  .bar { height:14px; background:#e8ebf0; border-radius:4px; overflow:hidden; }
  .bar > div { height:100%; background:#4a78c2; }
  #events { grid-column: 1 / -1; max-height:180px; overflow:auto; font-family:ui-monospace, monospace; font-size:.8rem; }
</style>
</head>
<body>
<header><h1>legoemu</h1><span id="cluster-name">connecting…</span><span id="connection">stream: closed</span></header>
<main>
  <section id="topology"><h2>Components</h2><div class="roles" id="components"></div></section>
  <section id="hitrate"><h2>ExCache hit rate per processor</h2>
    <svg id="hitrate-chart" viewBox="0 0 600 180" preserveAspectRatio="none"></svg>
    <div class="legend" id="hitrate-legend"></div></section>
  <section id="memory"><h2>Memory per memory component</h2><table id="memory-table"><tbody></tbody></table></section>
  <section id="processes" style="grid-column: 1 / -1"><h2>Processes</h2>
    <table><thead><tr><th>pid</th><th>state</th><th>processor</th><th>home</th><th>threads</th><th>exit</th></tr></thead>
    <tbody id="process-rows"></tbody></table></section>
  <section id="events"><h2>Events</h2><div id="event-log"></div></section>
</main>
<script type="module">
const ROLES = ["manager", "processor", "memory", "storage"];
const COLORS = ["#4a78c2", "#c2574a", "#3f9c6d", "#9a5fc2", "#c29a3f"];
const WINDOW = 60;
const history = new Map();   // processor id -> [{hits, misses}] cumulative samples
const rates = new Map();     // processor id -> [rate 0..1]
const el = (tag, attrs = {}, text = "") => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text) e.textContent = text;
  return e;
};

function renderComponents(components) {
  const root = document.getElementById("components");
  root.replaceChildren(...ROLES.map((role) => {
    const column = el("div", { class: "role" });
    column.append(el("h3", {}, role));
    for (const c of components.filter((c) => c.role === role)) {
      const box = el("div", {
        class: "component" + (c.state !== "up" ? " down" : "") + (c.drained ? " drained" : ""),
        "data-component": c.id,
        "data-state": c.state,
      });
      box.append(el("strong", {}, c.id), el("span", { class: "state" }, c.drained ? "drained" : c.state));
      column.append(box);
    }
    return column;
  }));
  renderMemory(components.filter((c) => c.role === "memory"));
}

function renderMemory(memories) {
  const body = document.querySelector("#memory-table tbody");
  body.replaceChildren(...memories.map((m) => {
    const used = Number(m.load?.framesUsed ?? 0), free = Number(m.load?.framesFree ?? 0);
    const share = used + free > 0 ? used / (used + free) : 0;
    const row = el("tr", { "data-memory": m.id });
    const bar = el("div", { class: "bar" });
    bar.append(el("div", { style: "width:" + (share * 100).toFixed(1) + "%" }));
    const barCell = el("td", { style: "width:60%" });
    barCell.append(bar);
    row.append(el("td", {}, m.id), barCell,
      el("td", {}, (used * 4 / 1024).toFixed(1) + " / " + ((used + free) * 4 / 1024).toFixed(1) + " MiB"));
    return row;
  }));
}

function addSample(components) {
  for (const c of components.filter((c) => c.role === "processor")) {
    const hits = Number(c.load?.hits ?? 0), misses = Number(c.load?.misses ?? 0);
    const samples = history.get(c.id) ?? [];
    const prev = samples[samples.length - 1];
    samples.push({ hits, misses });
    history.set(c.id, samples.slice(-2));
    if (!prev) continue;
    const dh = hits - prev.hits, dm = misses - prev.misses;
    const series = rates.get(c.id) ?? [];
    // No accesses in this interval: carry the last rate so the line stays continuous.
    series.push(dh + dm > 0 ? dh / (dh + dm) : (series[series.length - 1] ?? 0));
    rates.set(c.id, series.slice(-WINDOW));
  }
  renderChart();
}

function renderChart() {
  const svg = document.getElementById("hitrate-chart");
  const legend = document.getElementById("hitrate-legend");
  const ns = "http://www.w3.org/2000/svg";
  const parts = [];
  for (const y of [0, 0.5, 1]) {
    const line = document.createElementNS(ns, "line");
    line.setAttribute("x1", "0"); line.setAttribute("x2", "600");
    line.setAttribute("y1", String(175 - y * 170)); line.setAttribute("y2", String(175 - y * 170));
    line.setAttribute("stroke", "#e3e6eb");
    parts.push(line);
  }
  legend.replaceChildren();
  [...rates.keys()].sort().forEach((id, i) => {
    const series = rates.get(id);
    const path = document.createElementNS(ns, "polyline");
    const points = series.map((r, j) => (j * 600 / (WINDOW - 1)).toFixed(1) + "," + (175 - r * 170).toFixed(1));
    path.setAttribute("points", points.join(" "));
    path.setAttribute("fill", "none");
    path.setAttribute("stroke", COLORS[i % COLORS.length]);
    path.setAttribute("stroke-width", "2");
    path.setAttribute("data-processor", id);
    path.setAttribute("data-samples", String(series.length));
    parts.push(path);
    const last = series[series.length - 1] ?? 0;
    const item = el("span", { "data-hitrate": id, style: "color:" + COLORS[i % COLORS.length] },
      id + ": " + (last * 100).toFixed(1) + "%");
    legend.append(item);
  });
  svg.replaceChildren(...parts);
}

async function refreshProcesses() {
  const processes = await (await fetch("/api/processes")).json();
  document.getElementById("process-rows").replaceChildren(...processes.slice(-50).reverse().map((p) => {
    const row = el("tr", { "data-pid": String(p.pid), "data-state": p.state });
    for (const v of [p.pid, p.state, p.processor, p.home, p.threads, p.exitCode ?? ""]) row.append(el("td", {}, String(v)));
    return row;
  }));
}

async function refreshComponents() {
  renderComponents(await (await fetch("/api/components")).json());
}

function logEvent(e) {
  const log = document.getElementById("event-log");
  const line = el("div", {}, new Date(e.at).toLocaleTimeString() + "  " + e.type + "  " +
    (e.component ?? "") + "  " + JSON.stringify(e.data ?? {}));
  log.prepend(line);
  while (log.childElementCount > 200) log.lastElementChild.remove();
}

const summary = await (await fetch("/api/cluster")).json();
document.getElementById("cluster-name").textContent = summary.name + " · latency model " + summary.latencyModel;
await refreshComponents();
await refreshProcesses();
const stream = new EventSource("/api/events/stream");
stream.addEventListener("open", () => document.getElementById("connection").textContent = "stream: live");
stream.addEventListener("error", () => document.getElementById("connection").textContent = "stream: reconnecting");
stream.addEventListener("tick", (m) => {
  const { components } = JSON.parse(m.data);
  renderMemory(components.filter((c) => c.role === "memory"));
  addSample(components);
});
stream.addEventListener("cluster", (m) => {
  const e = JSON.parse(m.data);
  logEvent(e);
  if (e.type.startsWith("component.")) refreshComponents();
  if (e.type.startsWith("process.")) refreshProcesses();
});
</script>
</body>
</html>
`;
