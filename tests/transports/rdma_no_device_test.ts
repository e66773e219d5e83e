/**
 * Choosing the RDMA transport on a host that cannot run it fails at start with one clear
 * message naming the cause and the fix, and the command line exits with status 2. This
 * machine (and CI) has libibverbs but no RDMA device and no kernel RDMA support, so
 * `ibv_get_device_list` fails with ENOSYS. On a host with a device the device-specific
 * assertions skip, saying so.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ConfigError } from "../../kernel/config.ts";
import { createRdmaTransport, RdmaUnavailableError } from "../../transports/rdma/mod.ts";
import {
  openRdmaTransportPlugin,
  RdmaTransportOptionsSchema,
} from "../../transports/rdma/plugin.ts";
import { VerbsContext } from "../../transports/rdma/verbs.ts";

function hostState(): "no-library" | "no-device" | "device" {
  try {
    VerbsContext.listDevices();
    return "device";
  } catch (e) {
    assert.ok(e instanceof RdmaUnavailableError, String(e));
    return /could not be loaded/.test(e.message) ? "no-library" : "no-device";
  }
}

function defaults() {
  const parsed = RdmaTransportOptionsSchema.safeParse({});
  assert.ok(parsed.success);
  return parsed.data;
}

const state = hostState();
if (state === "device") console.warn("rdma no-device tests skipped: this host has an RDMA device");

Deno.test({
  name: "rdma: with no RDMA device, creating the transport names the cause and the fix",
  ignore: state === "device",
  fn() {
    assert.throws(() => createRdmaTransport(), (e) => {
      assert.ok(e instanceof RdmaUnavailableError);
      assert.equal(e.code, "ENODEV");
      if (state === "no-device") {
        assert.match(e.message, /libibverbs lists no RDMA device/);
        assert.match(e.message, /rdma link add rxe0 type rxe netdev eth0/);
      } else assert.match(e.message, /apt-get install libibverbs1/);
      assert.match(e.message, /choose the tcp transport/);
      assert.equal(e.message.split("\n").length, 1, "one line");
      return true;
    });
    // Through the plugin it is a config error at $.transport (the CLI exits 2 on those).
    assert.throws(
      () => openRdmaTransportPlugin(defaults()),
      (e) => e instanceof ConfigError && e.path === "$.transport" && /Fix: /.test(e.message),
    );
  },
});

Deno.test({
  name: "rdma: `legoemu cluster` with an rdma config exits 2 with that one message",
  ignore: state === "device",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "legoemu-rdma-cli-" });
    try {
      const config = `${dir}/rdma.json`;
      await Deno.writeTextFile(
        config,
        JSON.stringify({
          transport: { plugin: "rdma", options: { mode: "connected" } },
          components: [
            { id: "gm", role: "manager" },
            { id: "p0", role: "processor" },
            { id: "m0", role: "memory" },
            { id: "s0", role: "storage" },
          ],
        }),
      );
      const main = new URL("../../mod.ts", import.meta.url).pathname;
      const workload = new URL("../../examples/workloads/demo.ts", import.meta.url).pathname;
      for (const extra of [["--in-process"], []]) {
        const out = await new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", main, "cluster", config, ...extra, "--run", workload],
          env: { NO_COLOR: "1" },
          stdout: "piped",
          stderr: "piped",
        }).output();
        const stderr = new TextDecoder().decode(out.stderr);
        assert.equal(
          out.code,
          2,
          `exit code with ${extra.join(" ") || "one process per component"}: ${stderr}`,
        );
        const lines = stderr.split("\n").filter((l) => l.includes("RDMA transport unavailable"));
        assert.equal(lines.length, 1, stderr);
        assert.match(lines[0], /\$\.transport: RDMA transport unavailable: .*Fix: /);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("rdma: without FFI permission the error says to allow it", async () => {
  const script = `import { createRdmaTransport } from ${
    JSON.stringify(new URL("../../transports/rdma/mod.ts", import.meta.url).href)
  };
try { createRdmaTransport(); } catch (e) { console.log(e.message); }`;
  const file = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(file, script);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-check", "--allow-read", "--allow-env", file],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output().finally(() => Deno.remove(file));
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.match(
    text,
    /RDMA transport unavailable: Deno may not load native libraries\. Fix: run with --allow-ffi/,
  );
});
