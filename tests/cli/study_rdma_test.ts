/**
 * `deno task study pmem --quick --transport rdma`: the four persistent-write paths run
 * through the RDMA transport (connected mode; one-sided WRITE and READ as RDMA verbs)
 * over the real libibverbs and the loopback verbs provider, in a subprocess (libibverbs
 * reads the provider's environment when it loads). Without gcc or libibverbs-dev it skips,
 * naming what to install (under `LEGOEMU_CI=1` it fails instead); with
 * `LEGOEMU_RDMA_DEVICE` set it runs on that device.
 */

import assert from "node:assert/strict";
import { buildLoopback, loopbackMissing } from "../../transports/rdma/loopback/build.ts";

const realDevice = Deno.env.get("LEGOEMU_RDMA_DEVICE");
const missing = realDevice ? undefined : await loopbackMissing();
const inCi = Deno.env.get("LEGOEMU_CI") === "1";

if (missing && !inCi) {
  console.warn(`rdma study test skipped: the loopback verbs provider ${missing}`);
}

Deno.test({
  name: "study pmem --transport rdma runs every path through the RDMA transport's verbs",
  ignore: missing !== undefined && !inCi,
  async fn() {
    assert.equal(missing, undefined, `the loopback verbs provider ${missing}`);
    const loopback = realDevice ? undefined : await buildLoopback();
    const dir = await Deno.makeTempDir({ prefix: "legoemu-study-rdma-" });
    try {
      const study = new URL("../../cli/study.ts", import.meta.url).pathname;
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "--no-check",
          study,
          "pmem",
          "--quick",
          "--transport",
          "rdma",
          "--out",
          dir,
        ],
        env: { ...loopback?.env, NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.ok(out.success, `the study failed:\n${text}`);
      assert.match(text, /run on the rdma transport/);
      const json = JSON.parse(await Deno.readTextFile(`${dir}/pmem.json`));
      assert.equal(json.transport, "rdma");
      for (const row of json.latency) if (row.valid) assert.ok(row.wallUs > 0, JSON.stringify(row));
    } finally {
      await Deno.remove(dir, { recursive: true });
      await loopback?.remove();
    }
  },
});
