/**
 * Line charts as standalone SVG for the studies (`deno task study`): a few panels side
 * by side, each with log or linear axes, labelled ticks, a legend and optional point
 * labels. No dependencies: the output is plain text a browser shows.
 *
 * @module
 */

/** One line of a chart. */
export interface Series {
  /** Legend text. */
  name: string;
  /** Points, x ascending. */
  points: [number, number][];
  /** Stroke colour. */
  color: string;
  /** Dashed line (e.g. measured beside modeled). */
  dashed?: boolean;
}

/** One panel. */
export interface Panel {
  /** Title above the panel. */
  title: string;
  /** X-axis label. */
  x: string;
  /** Y-axis label. */
  y: string;
  /** Log scale on x. */
  xLog?: boolean;
  /** Log scale on y. */
  yLog?: boolean;
  /** The lines. */
  series: Series[];
  /** A note under the panel. */
  note?: string;
}

/** Colours that stay apart on white. */
export const COLORS: readonly string[] = [
  "#1f77b4",
  "#d62728",
  "#2ca02c",
  "#9467bd",
  "#ff7f0e",
  "#8c564b",
];

const W = 520;
const H = 410;
const M = { left: 78, right: 20, top: 46, bottom: 122 };

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function fmt(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e9) return `${+(v / 1e9).toPrecision(3)}G`;
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`;
  return `${+v.toPrecision(3)}`;
}

function ticks(lo: number, hi: number, log: boolean): number[] {
  if (log) {
    const out: number[] = [];
    const decades = Math.log10(hi / lo);
    const mantissas = decades > 4 ? [1] : decades > 2 ? [1, 3] : [1, 2, 5];
    const every = decades > 8 ? 2 : 1;
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e += 1) {
      if (e % every !== 0) continue;
      for (const m of mantissas) {
        const v = m * 10 ** e;
        if (v >= lo * 0.999 && v <= hi * 1.001) out.push(v);
      }
    }
    return out.length >= 2 ? out : [lo, hi];
  }
  const step = 10 ** Math.floor(Math.log10((hi - lo) / 4 || 1));
  const n = (hi - lo) / step;
  const s = n > 20 ? step * 5 : n > 8 ? step * 2 : step;
  const out: number[] = [];
  for (let v = Math.ceil(lo / s) * s; v <= hi + 1e-9; v += s) out.push(v);
  return out;
}

function panelSvg(panel: Panel, ox: number): string {
  const pts = panel.series.flatMap((s) => s.points).filter(([x, y]) =>
    isFinite(x) && isFinite(y) && (!panel.xLog || x > 0) && (!panel.yLog || y > 0)
  );
  if (pts.length === 0) return "";
  let [x0, x1] = [Math.min(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...pts.map((p) => p[1])), Math.max(...pts.map((p) => p[1]))];
  if (!panel.yLog) y0 = Math.min(0, y0);
  if (panel.yLog) [y0, y1] = [y0 / 1.5, y1 * 1.5];
  else y1 = y1 * 1.08 || 1;
  if (x0 === x1) [x0, x1] = [x0 / 2, x1 * 2];
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const sx = (x: number) =>
    ox + M.left +
    pw * (panel.xLog ? Math.log(x / x0) / Math.log(x1 / x0) : (x - x0) / (x1 - x0));
  const sy = (y: number) =>
    M.top + ph * (1 - (panel.yLog ? Math.log(y / y0) / Math.log(y1 / y0) : (y - y0) / (y1 - y0)));
  const out: string[] = [];
  out.push(
    `<text x="${ox + W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${
      esc(panel.title)
    }</text>`,
  );
  out.push(
    `<rect x="${
      ox + M.left
    }" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#444"/>`,
  );
  for (const t of ticks(x0, x1, !!panel.xLog)) {
    const x = sx(t);
    out.push(`<line x1="${x}" y1="${M.top}" x2="${x}" y2="${M.top + ph}" stroke="#e4e4e4"/>`);
    out.push(
      `<text x="${x}" y="${M.top + ph + 16}" text-anchor="middle" font-size="12">${fmt(t)}</text>`,
    );
  }
  for (const t of ticks(y0, y1, !!panel.yLog)) {
    const y = sy(t);
    out.push(
      `<line x1="${ox + M.left}" y1="${y}" x2="${ox + M.left + pw}" y2="${y}" stroke="#e4e4e4"/>`,
    );
    out.push(
      `<text x="${ox + M.left - 6}" y="${y + 4}" text-anchor="end" font-size="12">${fmt(t)}</text>`,
    );
  }
  out.push(
    `<text x="${ox + M.left + pw / 2}" y="${M.top + ph + 36}" text-anchor="middle" font-size="13">${
      esc(panel.x)
    }</text>`,
  );
  out.push(
    `<text transform="translate(${ox + 18},${
      M.top + ph / 2
    }) rotate(-90)" text-anchor="middle" font-size="13">${esc(panel.y)}</text>`,
  );
  panel.series.forEach((s, i) => {
    const ok = s.points.filter(([x, y]) => isFinite(x) && isFinite(y) && (!panel.yLog || y > 0));
    if (ok.length > 0) {
      const d = ok.map(([x, y], j) => `${j ? "L" : "M"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`)
        .join("");
      out.push(
        `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2.2"${
          s.dashed ? ' stroke-dasharray="6,4"' : ""
        }/>`,
      );
      for (const [x, y] of ok) {
        out.push(
          `<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3" fill="${s.color}"/>`,
        );
      }
    }
    // Legend below the axis label, two columns.
    const lx = ox + M.left + (i % 2) * (pw / 2);
    const ly = M.top + ph + 54 + Math.floor(i / 2) * 16;
    out.push(
      `<line x1="${lx}" y1="${ly - 4}" x2="${lx + 22}" y2="${
        ly - 4
      }" stroke="${s.color}" stroke-width="2.2"${s.dashed ? ' stroke-dasharray="6,4"' : ""}/>`,
    );
    out.push(`<text x="${lx + 28}" y="${ly}" font-size="12">${esc(s.name)}</text>`);
  });
  if (panel.note) {
    out.push(
      `<text x="${ox + M.left}" y="${H - 4}" font-size="11" fill="#555">${esc(panel.note)}</text>`,
    );
  }
  return out.join("\n");
}

/**
 * Panels in a grid (`columns` wide) in one SVG document, with a caption line under them.
 *
 * @example
 * ```ts
 * import { chartSvg } from "./study_svg.ts";
 * const svg = chartSvg([{ title: "t", x: "x", y: "y", series: [{ name: "a", color: "#000", points: [[1, 1], [2, 4]] }] }], "caption");
 * console.assert(svg.startsWith("<svg") && svg.includes("caption"));
 * ```
 */
export function chartSvg(panels: readonly Panel[], caption: string, columns = 3): string {
  const cols = Math.min(columns, panels.length);
  const rows = Math.ceil(panels.length / cols);
  const width = W * cols;
  const height = H * rows + 26;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    ...panels.map((p, i) =>
      `<g transform="translate(${(i % cols) * W},${Math.floor(i / cols) * H})">${
        panelSvg(p, 0)
      }</g>`
    ),
    `<text x="10" y="${height - 8}" font-size="12" fill="#333">${esc(caption)}</text>`,
    `</svg>`,
  ].join("\n");
}
