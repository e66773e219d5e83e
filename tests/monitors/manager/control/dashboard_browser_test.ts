/**
 * The dashboard and the API docs in a real browser: headless Chromium (Debian package
 * `chromium`), driven by playwright-core, watches running in-memory clusters of 4 and of
 * 64 components. The browser may reach nothing but 127.0.0.1. Screenshots go to
 * `.ci/out/` under CI (`LEGOEMU_CI=1`), or to `$LEGOEMU_SCREENSHOTS` when set.
 */

import assert from "node:assert/strict";
import type { Browser, Page } from "playwright-core";
import {
  type Cluster,
  clusterControlSource,
  serveControlPlane,
  startCluster,
} from "../../../../mod.ts";
import { startControlFixture, TOKEN, workloadUrl } from "./_fixture.ts";

const CHROMIUM = "/usr/bin/chromium";
const haveChromium = await Deno.stat(CHROMIUM).then(() => true, () => false);
const inCi = Deno.env.get("LEGOEMU_CI") === "1";
if (!haveChromium && !inCi) {
  console.warn(
    `%cskipping the dashboard browser tests: ${CHROMIUM} is missing (apt-get install -y chromium)`,
    "color: orange",
  );
}
const ignore = !haveChromium && !inCi;

async function launch(): Promise<Browser> {
  assert.ok(haveChromium, `${CHROMIUM} is missing: install it with apt-get install -y chromium`);
  const { chromium } = await import("playwright-core");
  return await chromium.launch({
    executablePath: CHROMIUM,
    // Flags for a root, offline machine (no sandbox, no background network).
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/**
 * A laptop-sized page that may only talk to 127.0.0.1; `offsite` collects what it tried,
 * `errors` the uncaught errors of the page's scripts.
 */
async function localPage(
  browser: Browser,
): Promise<{ page: Page; offsite: string[]; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const offsite: string[] = [];
  await context.route("**/*", (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === "127.0.0.1" || url.protocol === "data:") return route.continue();
    offsite.push(url.href);
    return route.abort("internetdisconnected");
  });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(String(error?.stack ?? error)));
  return { page, offsite, errors };
}

/**
 * Saves a full-page screenshot: under CI into `.ci/out/` (an artefact), into
 * `$LEGOEMU_SCREENSHOTS` when set (to look at), else into a temporary directory that is
 * removed once the file is checked.
 */
async function screenshot(page: Page, name: string): Promise<void> {
  const keep = inCi ? ".ci/out" : Deno.env.get("LEGOEMU_SCREENSHOTS");
  const dir = keep ?? await Deno.makeTempDir({ prefix: "legoemu-dashboard-" });
  await Deno.mkdir(dir, { recursive: true });
  const path = `${dir}/${name}`;
  await page.screenshot({ path, fullPage: true });
  assert.ok((await Deno.stat(path)).size > 10_000, `${path} is too small to show anything`);
  if (keep) console.log(`dashboard screenshot: ${path}`);
  else await Deno.remove(dir, { recursive: true });
}

function spawn(url: string, workload: string, args: string[], extra: Record<string, unknown> = {}) {
  return fetch(`${url}/api/processes`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ workload: workloadUrl(workload), args, ...extra }),
  }).then(async (r) => {
    const text = await r.text();
    assert.equal(r.status, 201, text);
    return JSON.parse(text) as { pid: number; processor: string };
  });
}

// Functions run in the page; they are strings here because Deno type-checks without the DOM.
const hitsPerSecond = (id: string) =>
  `Number(document.querySelector('#processor-table tr[data-processor="${id}"]')?.dataset.hitsPerS ?? -1)`;

Deno.test({
  name:
    "the dashboard shows loading, history, live rates that fall to zero, thread counts; /docs works offline",
  ignore,
  async fn() {
    const f = await startControlFixture(100);
    const server = await serveControlPlane(f.source, { port: 0, token: TOKEN, tickMs: 100 });
    const browser = await launch();
    try {
      const { page, offsite, errors } = await localPage(browser);
      // Hold the component list back a moment: meanwhile the cards say they are loading.
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      await page.route("**/api/components", async (route) => {
        await held;
        await route.continue();
      });
      await page.goto(server.url);
      assert.ok(
        await page.isVisible("#components .loading"),
        "a loading indicator, not an empty card",
      );
      assert.ok(await page.isVisible("#event-log .loading"));
      release();
      await page.waitForSelector('main[data-ready="1"]', { timeout: 10_000 });
      for (const id of ["gm", "p0", "m0", "s0"]) {
        await page.waitForSelector(`[data-component="${id}"][data-state="up"]`, {
          timeout: 10_000,
        });
      }
      // The events panel has the history from before the page loaded, one readable line each.
      const history = await page.$$eval(
        "#event-log .event",
        // deno-lint-ignore no-explicit-any
        (lines: any[]) =>
          lines.map((l) => [...l.children].map((cell) => cell.textContent).join(" ") as string),
      );
      assert.ok(history.length >= 3, `history on load: ${history.join(" | ")}`);
      assert.ok(
        history.some((l) => /component\.up p0 processor up/.test(l)),
        history.join("\n"),
      );
      assert.ok(history.every((l) => !l.includes("{")), "no raw JSON in the events panel");
      await page.waitForFunction(
        `document.getElementById("connection")?.textContent === "stream: live"`,
        undefined,
        { timeout: 10_000 },
      );

      // Two threads that only hit, for 6 s: rates rise while the process runs.
      const { pid } = await spawn(server.url, "hot_loop.ts", ["6000", "2"]);
      const running = `document.querySelector('[data-pid="${pid}"]')?.dataset.state === "running"`;
      await page.waitForFunction(`${running} && ${hitsPerSecond("p0")} > 1000`, undefined, {
        timeout: 15_000,
      });
      const legend = await page.textContent('[data-hitrate="p0"]');
      assert.match(legend ?? "", /p0: [\d.]+[kMG]? hits\/s/);
      await page.waitForSelector(`[data-pid="${pid}"][data-state="running"][data-threads="2"]`, {
        timeout: 10_000,
      });
      await page.waitForSelector('#processor-table tr[data-processor="p0"][data-threads="2"]', {
        timeout: 10_000,
      });
      const samples = Number(await page.getAttribute('[data-series="p0"]', "data-samples"));
      assert.ok(samples > 1, `the chart draws p0's samples (${samples})`);
      await page.waitForTimeout(2000); // a few seconds of history on the chart
      await screenshot(page, "dashboard-4-components.png");
      // Once it has exited, p0 is idle: its rate falls to zero.
      await page.waitForSelector(`[data-pid="${pid}"][data-state="exited"]`, { timeout: 20_000 });
      await page.waitForFunction(`${hitsPerSecond("p0")} === 0`, undefined, { timeout: 10_000 });
      assert.match(await page.textContent('[data-hitrate="p0"]') ?? "", /p0: 0 hits\/s/);
      const lines = await page.$$eval(
        "#event-log .event",
        // deno-lint-ignore no-explicit-any
        (all: any[]) => all.map((l) => l.textContent as string),
      );
      assert.ok(lines.some((l) => l.includes(`pid ${pid} exited with code 0`)), lines.join("\n"));

      // The API docs load from the control plane alone.
      await page.goto(`${server.url}/docs`);
      await page.waitForSelector(".swagger-ui .info .title", { timeout: 20_000 });
      assert.match(
        await page.textContent(".swagger-ui .info .title") ?? "",
        /legoemu control plane/,
      );
      await page.waitForSelector(".opblock-summary-path", { timeout: 10_000 });
      assert.deepEqual(offsite, [], "no request left 127.0.0.1");
      assert.deepEqual(errors, [], "the page's scripts never failed");
    } finally {
      await browser.close();
      await server.close();
      await f.close();
    }
  },
});

Deno.test({
  name: "the dashboard stays readable at 64 components on a laptop screen",
  ignore,
  async fn() {
    const cluster: Cluster = await startCluster({
      name: "sixty-four",
      components: [
        { id: "gm", role: "manager", options: { heartbeatMs: 200 } },
        ...Array.from({ length: 32 }, (_, i) => ({
          id: `p${i}`,
          role: "processor" as const,
          options: { cacheBytes: 256 * 1024 },
        })),
        ...Array.from({ length: 28 }, (_, i) => ({
          id: `m${i}`,
          role: "memory" as const,
          options: { dramBytes: 16 * 1024 * 1024 },
        })),
        ...Array.from({ length: 3 }, (_, i) => ({ id: `s${i}`, role: "storage" as const })),
      ],
    }, { log: () => {} });
    const server = await serveControlPlane(clusterControlSource(cluster), {
      port: 0,
      token: TOKEN,
      tickMs: 200,
    });
    const browser = await launch();
    try {
      const { page, offsite, errors } = await localPage(browser);
      await page.goto(server.url);
      await page.waitForSelector('main[data-ready="1"]', { timeout: 20_000 });
      // 63 components joined: their events fold into a few lines, with id ranges.
      const joins = await page.evaluate(
        `[...document.querySelectorAll('#event-log .event[data-type="component.up"]')]
          .map((l) => [...l.children].map((c) => c.textContent).join(" "))`,
      ) as string[];
      assert.ok(joins.length <= 16, `${joins.length} lines for 63 joins:\n${joins.join("\n")}`);
      assert.ok(
        joins.some((l) => /component\.up ×\d+ processor up: p\d+–p\d+/.test(l)),
        joins.join("\n"),
      );
      // Natural order: p0, p1, p2, … p9, p10.
      const order = await page.$$eval(
        "#processor-table tbody tr",
        // deno-lint-ignore no-explicit-any
        (rows: any[]) => rows.map((r) => r.dataset.processor as string),
      );
      assert.deepEqual(order.slice(0, 12), [...Array(12).keys()].map((i) => `p${i}`));
      assert.equal(order.length, 32);
      // Work on a few processors, of different intensity.
      for (const [processor, threads] of [["p3", 2], ["p10", 1], ["p17", 1], ["p30", 1]] as const) {
        // They run until the cluster stops.
        await spawn(server.url, "hot_loop.ts", ["600000", String(threads)], { processor, threads });
      }
      for (const id of ["p3", "p10", "p17", "p30"]) {
        await page.waitForFunction(`${hitsPerSecond(id)} > 0`, undefined, { timeout: 20_000 });
      }
      await page.waitForTimeout(2500); // a few seconds of history on the chart
      // Sorting by hits per second puts the busy processors first.
      await page.click('#processor-table th[data-sort="hits"]');
      // One evaluation reads order and rates together ($$eval takes two, and a tick may
      // reorder the rows in between).
      const sorted = await page.evaluate(
        `[...document.querySelectorAll("#processor-table tbody tr")]
          .map((r) => [r.dataset.processor, Number(r.dataset.hitsPerS)])`,
      ) as [string, number][];
      const rates = sorted.map(([, rate]) => rate);
      assert.deepEqual(errors, [], "the page's scripts never failed");
      assert.deepEqual(rates, [...rates].sort((a, b) => b - a), "sorted by hits per second");
      assert.ok(["p3", "p10", "p17", "p30"].includes(sorted[0][0]), `first: ${sorted[0]}`);
      assert.ok(sorted.slice(4).every(([, rate]) => rate === 0), "the idle ones come last");
      // The chart draws the total and the busiest few, not 32 lines; the legend says so.
      const drawn = await page.$$eval(
        "#hitrate-chart polyline",
        // deno-lint-ignore no-explicit-any
        (lines: any[]) => [...new Set(lines.map((l) => l.dataset.series as string))],
      );
      assert.ok(drawn.includes("all") && drawn.length <= 6, `charted: ${drawn.join(", ")}`);
      assert.match(await page.textContent("#hitrate-legend .more") ?? "", /\+ 2\d more/);
      // Drill-down: a row's click draws that processor.
      await page.click('#processor-table tr[data-processor="p5"]');
      await page.waitForSelector('#hitrate-chart [data-series="p5"]', {
        state: "attached",
        timeout: 5_000,
      });
      const height = await page.evaluate("document.documentElement.scrollHeight") as number;
      assert.ok(height <= 1600, `the page is ${height} px tall at 64 components`);
      await screenshot(page, "dashboard-64-components.png");
      assert.deepEqual(offsite, []);
    } finally {
      await browser.close();
      await server.close();
      await cluster.stop();
    }
  },
});
