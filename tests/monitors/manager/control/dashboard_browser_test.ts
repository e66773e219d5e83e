/**
 * The dashboard in a real browser: headless Chromium (Debian package `chromium`), driven
 * by playwright-core, watches a running in-memory cluster.
 */

import assert from "node:assert/strict";
import { serveControlPlane } from "../../../../mod.ts";
import { startControlFixture, TOKEN, workloadUrl } from "./_fixture.ts";

const CHROMIUM = "/usr/bin/chromium";
const haveChromium = await Deno.stat(CHROMIUM).then(() => true, () => false);
const inCi = Deno.env.get("LEGOEMU_CI") === "1";
if (!haveChromium && !inCi) {
  console.warn(
    `%cskipping the dashboard browser test: ${CHROMIUM} is missing (apt-get install -y chromium)`,
    "color: orange",
  );
}

Deno.test({
  name: "the dashboard shows every component and a live hit-rate chart in Chromium",
  ignore: !haveChromium && !inCi,
  async fn() {
    assert.ok(haveChromium, `${CHROMIUM} is missing: install it with apt-get install -y chromium`);
    const { chromium } = await import("playwright-core");
    const f = await startControlFixture(100);
    const server = await serveControlPlane(f.source, { port: 0, token: TOKEN, tickMs: 100 });
    const browser = await chromium.launch({
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
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      await page.goto(server.url);
      for (const id of ["gm", "p0", "m0", "s0"]) {
        await page.waitForSelector(`[data-component="${id}"][data-state="up"]`, {
          timeout: 10_000,
        });
      }
      // Functions run in the page; they are strings here because Deno type-checks without the DOM.
      await page.waitForFunction(
        `document.getElementById("connection")?.textContent === "stream: live"`,
        undefined,
        { timeout: 10_000 },
      );
      const rate = () => page.getAttribute('[data-processor="p0"]', "data-samples");
      await page.waitForSelector('[data-processor="p0"]', { state: "attached", timeout: 10_000 });
      const samplesBefore = Number(await rate());
      const legendBefore = await page.textContent('[data-hitrate="p0"]');

      const started = await fetch(`${server.url}/api/processes`, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ workload: workloadUrl("hot_loop.ts"), args: ["1500"] }),
      });
      assert.equal(started.status, 201);
      // While the workload runs, hits arrive: the chart grows and its latest rate rises.
      await page.waitForFunction(
        `Number(/([\\d.]+)%/.exec(document.querySelector('[data-hitrate="p0"]')?.textContent ?? "")?.[1] ?? 0) > 50`,
        undefined,
        { timeout: 15_000 },
      );
      const samplesAfter = Number(await rate());
      const legendAfter = await page.textContent('[data-hitrate="p0"]');
      assert.ok(samplesAfter > samplesBefore, `${samplesBefore} -> ${samplesAfter} samples`);
      assert.notEqual(legendAfter, legendBefore);
      await page.waitForSelector('[data-pid="1"]', { timeout: 10_000 });

      // CI keeps the screenshot as an artefact; elsewhere it is checked and removed.
      const dir = inCi ? ".ci/out" : await Deno.makeTempDir({ prefix: "legoemu-dashboard-" });
      await Deno.mkdir(dir, { recursive: true });
      const shot = `${dir}/dashboard.png`;
      await page.screenshot({ path: shot, fullPage: true });
      assert.ok((await Deno.stat(shot)).size > 10_000);
      if (inCi) console.log(`dashboard screenshot: ${shot}`);
      else await Deno.remove(dir, { recursive: true });
    } finally {
      await browser.close();
      await server.close();
      await f.close();
    }
  },
});
