/**
 * From runs to results: slowdown cells (system model time ÷ Linux all-local model time,
 * same workload, seed and model variant), the markdown table beside the paper's values,
 * and the plot.
 *
 * @module
 */

import { REFERENCE, type SystemName } from "./paper.ts";
import type { RunRecord, Variant } from "./runner.ts";
import type { ExperimentWorkload } from "./workloads.ts";

/** One cell: a system at a cache size. */
export interface Cell {
  /** The system. */
  system: SystemName;
  /** Cache size of the runs [bytes]. */
  cacheBytes: number;
  /** The paper's cache size this corresponds to [MiB] (the size at scale 1). */
  paperSizeMiB: number;
  /** Mean slowdown over the seeds (base model). */
  slowdown: number;
  /** Slowdown per seed. */
  slowdownBySeed: number[];
  /** The paper's slowdown, when it has this cell. */
  paper?: number;
  /** `slowdown / paper`. */
  ratio?: number;
  /** Slowdown under each model variant that ran (mean over seeds). */
  sensitivity: Partial<Record<Variant, number>>;
}

const MiB = 2 ** 20;

/**
 * Slowdown cells of `runs`: each system's model time over the reference's, per seed and
 * variant, averaged over seeds.
 */
export function buildCells(
  runs: RunRecord[],
  workload: ExperimentWorkload,
  scale: number,
  systems: readonly SystemName[],
  sizesBytes: readonly number[],
): Cell[] {
  const reference = new Map<string, number>();
  for (const r of runs) {
    if (r.system === REFERENCE && r.exitCode === 0) {
      reference.set(`${r.seed}|${r.variant}`, r.modelNs);
    }
  }
  const cells: Cell[] = [];
  for (const system of systems) {
    for (const cacheBytes of sizesBytes) {
      const mine = runs.filter((r) =>
        r.system === system && r.cacheBytes === cacheBytes && r.exitCode === 0
      );
      const byVariant = new Map<Variant, number[]>();
      for (const r of mine) {
        const ref = reference.get(`${r.seed}|${r.variant}`);
        if (!ref) continue;
        const list = byVariant.get(r.variant) ?? [];
        list.push(r.modelNs / ref);
        byVariant.set(r.variant, list);
      }
      const base = byVariant.get("base") ?? [];
      const paperSizeMiB = Math.round(cacheBytes / scale / MiB);
      const paper = workload.paper?.[system]?.[paperSizeMiB];
      const slowdown = mean(base);
      const sensitivity: Partial<Record<Variant, number>> = {};
      for (const [variant, list] of byVariant) {
        if (variant !== "base") sensitivity[variant] = mean(list);
      }
      cells.push({
        system,
        cacheBytes,
        paperSizeMiB,
        slowdown,
        slowdownBySeed: base,
        ...(paper !== undefined ? { paper, ratio: slowdown / paper } : {}),
        sensitivity,
      });
    }
  }
  return cells;
}

function mean(values: number[]): number {
  return values.length === 0 ? NaN : values.reduce((a, b) => a + b, 0) / values.length;
}

const fmt = (x: number | undefined, digits = 2) =>
  x === undefined || !Number.isFinite(x) ? "—" : x.toFixed(digits);

const sizeLabel = (bytes: number) =>
  bytes >= MiB ? `${+(bytes / MiB).toFixed(2)} MiB` : `${+(bytes / 1024).toFixed(0)} KiB`;

/** The results as markdown: the slowdown table, then the sensitivity table. */
export function markdownTable(cells: Cell[], scale: number): string {
  const sizes = [...new Set(cells.map((c) => c.cacheBytes))].sort((a, b) => a - b);
  const systems = [...new Set(cells.map((c) => c.system))];
  const at = (s: SystemName, b: number) => cells.find((c) => c.system === s && c.cacheBytes === b);
  const head = sizes.map((b) =>
    scale === 1 ? sizeLabel(b) : `${sizeLabel(b)} (paper ${Math.round(b / scale / MiB)} MB)`
  );
  const lines = [
    "Slowdown vs Linux with all memory local (legoemu · paper · legoemu ÷ paper):",
    "",
    `| system | ${head.join(" | ")} |`,
    `|---|${sizes.map(() => "---").join("|")}|`,
  ];
  for (const s of systems) {
    lines.push(`| ${s} | ${
      sizes.map((b) => {
        const c = at(s, b);
        return c ? `${fmt(c.slowdown)} · ${fmt(c.paper)} · ×${fmt(c.ratio)}` : "—";
      }).join(" | ")
    } |`);
  }
  const variants = ["compute x0.5", "compute x2", "rpc x0.5", "rpc x2"] as const;
  if (cells.some((c) => Object.keys(c.sensitivity).length > 0)) {
    lines.push(
      "",
      "Sensitivity: slowdown with the emulated CPU's roofline, or the RPC latency curve, at 0.5× and 2×:",
      "",
      `| system | size | base | ${variants.join(" | ")} |`,
      `|---|---|---|${variants.map(() => "---").join("|")}|`,
    );
    for (const c of cells) {
      lines.push(
        `| ${c.system} | ${sizeLabel(c.cacheBytes)} | ${fmt(c.slowdown)} | ${
          variants.map((v) => fmt(c.sensitivity[v])).join(" | ")
        } |`,
      );
    }
  }
  return lines.join("\n") + "\n";
}

const COLORS: Record<string, string> = {
  "legoos": "#1f77b4",
  "linux-ssd": "#d62728",
  "linux-ramdisk": "#2ca02c",
  "linux-infiniswap": "#9467bd",
};

/**
 * The plot: slowdown (log scale) against cache size (log scale), one solid line per
 * system, the paper's values as dashed lines of the same colour, at the paper's sizes
 * scaled like the run.
 */
export function plotSvg(cells: Cell[], title: string, scale: number): string {
  const W = 760;
  const H = 480;
  const left = 70;
  const right = 215;
  const top = 50;
  const bottom = 60;
  const sizes = [...new Set(cells.map((c) => c.cacheBytes))].sort((a, b) => a - b);
  const values = cells.flatMap((c) => [c.slowdown, c.paper ?? NaN]).filter(Number.isFinite);
  const yMin = 1;
  const yMax = Math.max(2, ...values) * 1.1;
  const xMin = Math.log2(sizes[0]) - 0.3;
  const xMax = Math.log2(sizes[sizes.length - 1]) + 0.3;
  const x = (bytes: number) =>
    left + (Math.log2(bytes) - xMin) / (xMax - xMin) * (W - left - right);
  const y = (v: number) =>
    top + (1 - Math.log(Math.max(v, yMin)) / Math.log(yMax)) * (H - top - bottom);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="13">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${(W - right + left) / 2}" y="28" text-anchor="middle" font-size="16">${
      escape(title)
    }</text>`,
    `<line x1="${left}" y1="${H - bottom}" x2="${W - right}" y2="${H - bottom}" stroke="black"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${H - bottom}" stroke="black"/>`,
  ];
  // y ticks: 1, 1.5, 2, 3, 5, 10, 20, 50 ... within range.
  for (const t of [1, 1.25, 1.5, 2, 3, 4, 6, 10, 15, 20, 30, 40, 60, 100, 150, 200, 300, 500]) {
    if (t > yMax) break;
    out.push(
      `<line x1="${left}" y1="${y(t)}" x2="${W - right}" y2="${y(t)}" stroke="#ddd"/>`,
      `<text x="${left - 8}" y="${y(t) + 4}" text-anchor="end">${t}</text>`,
    );
  }
  for (const b of sizes) {
    const label = scale === 1 ? sizeLabel(b) : `${sizeLabel(b)}`;
    out.push(
      `<line x1="${x(b)}" y1="${H - bottom}" x2="${x(b)}" y2="${H - bottom + 5}" stroke="black"/>`,
      `<text x="${x(b)}" y="${H - bottom + 20}" text-anchor="middle">${label}</text>`,
    );
  }
  out.push(
    `<text x="${(W - right + left) / 2}" y="${
      H - 15
    }" text-anchor="middle">cache (local memory) size${
      scale === 1 ? "" : ` — workload scaled ×${+scale.toPrecision(3)}, paper sizes scaled alike`
    }</text>`,
    `<text transform="translate(20 ${
      (H - bottom + top) / 2
    }) rotate(-90)" text-anchor="middle">slowdown vs Linux all-local (log)</text>`,
  );
  const systems = [...new Set(cells.map((c) => c.system))];
  systems.forEach((s, i) => {
    const color = COLORS[s] ?? "#555";
    const mine = cells.filter((c) => c.system === s).sort((a, b) => a.cacheBytes - b.cacheBytes);
    const ours = mine.filter((c) => Number.isFinite(c.slowdown));
    if (ours.length > 0) {
      out.push(
        `<polyline fill="none" stroke="${color}" stroke-width="2.5" points="${
          ours.map((c) => `${x(c.cacheBytes)},${y(c.slowdown)}`).join(" ")
        }"/>`,
      );
      for (const c of ours) {
        out.push(`<circle cx="${x(c.cacheBytes)}" cy="${y(c.slowdown)}" r="4" fill="${color}"/>`);
      }
    }
    const paper = mine.filter((c) => c.paper !== undefined);
    if (paper.length > 0) {
      out.push(
        `<polyline fill="none" stroke="${color}" stroke-width="2" stroke-dasharray="7 5" points="${
          paper.map((c) => `${x(c.cacheBytes)},${y(c.paper!)}`).join(" ")
        }"/>`,
      );
    }
    const ly = top + 10 + i * 44;
    const lx = W - right + 15;
    out.push(
      `<line x1="${lx}" y1="${ly}" x2="${
        lx + 30
      }" y2="${ly}" stroke="${color}" stroke-width="2.5"/>`,
      `<text x="${lx + 36}" y="${ly + 4}">${escape(s)} (legoemu)</text>`,
      `<line x1="${lx}" y1="${ly + 18}" x2="${lx + 30}" y2="${
        ly + 18
      }" stroke="${color}" stroke-width="2" stroke-dasharray="7 5"/>`,
      `<text x="${lx + 36}" y="${ly + 22}">${escape(s)} (paper)</text>`,
    );
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}

function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
