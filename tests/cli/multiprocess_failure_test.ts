import assert from "node:assert/strict";
import { KernelError } from "../../kernel/errors.ts";
import { RpcNode } from "../../kernel/rpc.ts";
import { createStockRegistry } from "../../plugins/stock.ts";
import { createTcpTransport } from "../../transports/tcp/mod.ts";
import { spawnComponent, startTcpManager } from "../tcp_manager.ts";
import { within } from "../within.ts";

Deno.test("SIGKILL of a component turns its callers' pending requests into unreachable errors, not hangs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "legoemu-kill-" });
  const secretFile = `${dir}/cluster.secret`;
  await Deno.writeTextFile(secretFile, "0123456789abcdef0123456789abcdef\n", { mode: 0o600 });
  const registry = createStockRegistry();
  const logs: string[] = [];
  // The manager runs here, booted the way `legoemu component --role manager` boots it.
  const gm = await startTcpManager(
    "kill-test",
    registry,
    secretFile,
    (id, line) => logs.push(`[${id}] ${line}`),
  );
  const manager = `gm@${gm.addresses.tcp}`;
  const common = ["--manager", manager, "--secret-file", secretFile, "--listen", "127.0.0.1:0"];
  const [m0, s0] = await Promise.all([
    spawnComponent(["--role", "memory", "--id", "m0", ...common]),
    spawnComponent([
      "--role",
      "storage",
      "--id",
      "s0",
      ...common,
      "--options",
      `{"root":"${dir}/s0"}`,
    ]),
  ]);
  const transport = createTcpTransport({ log: () => {}, reconnectTimeoutMs: 300, secretFile });
  const caller = new RpcNode(
    await transport.attach("p9", {
      listen: null,
      manager: { id: "gm", address: gm.addresses.tcp },
    }),
  );
  try {
    // A standalone component stops cleanly on SIGTERM.
    s0.child.kill("SIGTERM");
    assert.equal((await s0.child.status).code, 0);
    assert.match(await s0.stderr(), /\[s0\] stopping \(SIGTERM\)/);

    const query = () =>
      caller.call("m0", "MGR_QUERY", { what: "stats", args: {} }, { timeoutMs: 60_000 });
    assert.ok((await query()).result, "m0 answers while alive (found through the manager)");

    // Freeze m0 so requests pile up unanswered, then kill it.
    m0.child.kill("SIGSTOP");
    const pending = Promise.allSettled([query(), query(), query()]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    m0.child.kill("SIGKILL");
    assert.equal((await m0.child.status).signal, "SIGKILL");
    const outcomes = await within(pending, 5000, "requests to the killed m0");
    for (const outcome of outcomes) {
      assert.equal(outcome.status, "rejected");
      const e = (outcome as PromiseRejectedResult).reason;
      assert.ok(e instanceof KernelError, String(e));
      assert.equal(e.code, "EHOSTUNREACH");
      assert.match(e.message, /m0: the connection was lost before it answered MGR_QUERY/);
    }
    // New requests fail too, once re-dialling has had its chance.
    await assert.rejects(within(query(), 5000, "a new request to the dead m0"), (e) => {
      assert.ok(e instanceof KernelError, String(e));
      assert.equal(e.code, "EHOSTUNREACH");
      assert.match(
        e.message,
        new RegExp(
          `cannot reach m0: no connection to ${m0.address.replace(/\./g, "\\.")} within 300 ms`,
        ),
      );
      return true;
    });
    assert.equal(caller.stats().inFlight, 0);
  } finally {
    await caller.close();
    await transport.close();
    await m0.kill();
    await s0.kill();
    await gm.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
