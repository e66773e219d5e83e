/**
 * Runs the RDMA transport's suite (`rdma_loopback_suite.ts`: the transport contract,
 * RPC, page fetch through a cluster, one-sided access, bad input) through the real
 * libibverbs and the FFI code path, in a subprocess:
 * - by default over the loopback provider (`transports/rdma/loopback/`), which this test
 *   builds with gcc; without gcc or libibverbs-dev it skips, naming what to install
 *   (under `LEGOEMU_CI=1` it fails instead);
 * - with `LEGOEMU_RDMA_DEVICE` set, against that real device (InfiniBand, RoCE, rxe).
 *
 * @module
 */

import assert from "node:assert/strict";
import { buildLoopback, loopbackMissing } from "../../transports/rdma/loopback/build.ts";

const realDevice = Deno.env.get("LEGOEMU_RDMA_DEVICE");
const missing = realDevice ? undefined : await loopbackMissing();
const inCi = Deno.env.get("LEGOEMU_CI") === "1";

if (missing && !inCi) {
  console.warn(`rdma loopback tests skipped: the loopback verbs provider ${missing}`);
}

Deno.test({
  name: realDevice
    ? `rdma: the transport suite passes on device ${realDevice}`
    : "rdma: the transport suite passes through the real libibverbs over the loopback provider",
  ignore: missing !== undefined && !inCi,
  async fn() {
    assert.equal(missing, undefined, `the loopback verbs provider ${missing}`);
    const loopback = realDevice ? undefined : await buildLoopback();
    try {
      const suite = new URL("./rdma_loopback_suite.ts", import.meta.url).pathname;
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["test", "-A", "--no-check", suite],
        env: { ...loopback?.env, NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.ok(out.success, `the RDMA suite failed:\n${text}`);
      const summary = text.match(/ok \| (\d+) passed \| 0 failed/);
      assert.ok(summary && Number(summary[1]) >= 40, `expected the whole suite to run:\n${text}`);
    } finally {
      await loopback?.remove();
    }
  },
});
