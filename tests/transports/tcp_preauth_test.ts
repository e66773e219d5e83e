import assert from "node:assert/strict";
import { RpcNode } from "../../kernel/rpc.ts";
import { createTcpTransport, parseHostPort } from "../../transports/tcp/mod.ts";

const SECRET = "a cluster secret of some length";
const FLOOD = 2000;

/** Polls `check` every 10 ms until it holds (the flood's accepts are asynchronous). */
async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`never: ${what}`);
}

/** Opens `count` TCP connections to `address` that never say a word. */
async function flood(address: string, count: number): Promise<Deno.TcpConn[]> {
  const { hostname, port } = parseHostPort(address);
  const sockets: Deno.TcpConn[] = [];
  for (let i = 0; i < count; i++) sockets.push(await Deno.connect({ hostname, port }));
  return sockets;
}

function closeAll(sockets: Deno.TcpConn[]): void {
  for (const socket of sockets) {
    try {
      socket.close();
    } catch {
      // Already closed by the server.
    }
  }
}

Deno.test("2000 silent connections cost small buffers and at most maxPendingHandshakes of them", async () => {
  const logs: string[] = [];
  const transport = createTcpTransport({
    log: (line) => logs.push(line),
    secret: SECRET,
    handshakeTimeoutMs: 600_000,
    maxPendingHandshakes: 64,
  });
  const endpoint = await transport.attach("srv", { listen: "127.0.0.1:0" });
  const rpc = new RpcNode(endpoint).handle({ SYS_PING: ({ data }) => ({ data }) });
  let sockets: Deno.TcpConn[] = [];
  try {
    sockets = await flood(endpoint.addresses.tcp, FLOOD);
    await until(
      () => endpoint.stats().pendingHandshakes + endpoint.stats().handshakesShed >= FLOOD,
      "the server to see every connection",
    );
    const stats = endpoint.stats();
    assert.equal(stats.pendingHandshakes, 64);
    assert.equal(stats.handshakesShed, FLOOD - 64);
    // 64 small buffers, where each pending connection used to hold 256 KiB (≈ 500 MB for 2000).
    assert.ok(stats.handshakeBufferBytes <= 64 * 4096, `${stats.handshakeBufferBytes} bytes`);
    assert.ok(logs.some((l) => /maxPendingHandshakes/.test(l)), logs.join("\n"));
    closeAll(sockets);
    sockets = [];
    await until(() => endpoint.stats().pendingHandshakes === 0, "the pending handshakes to end");
    // With the flood gone, a real member is served as before.
    const other = createTcpTransport({ log: () => {}, secret: SECRET });
    const client = new RpcNode(
      await other.attach("c0", {
        listen: null,
        manager: { id: "srv", address: endpoint.addresses.tcp },
      }),
    );
    try {
      const reply = await client.call("srv", "SYS_PING", { data: new Uint8Array([7]) });
      assert.deepEqual([...(reply as { data: Uint8Array }).data], [7]);
    } finally {
      await client.close();
      await other.close();
    }
  } finally {
    closeAll(sockets);
    await rpc.close();
    await transport.close();
  }
});

Deno.test("each unauthenticated connection holds a 4 KiB read buffer, not the 256 KiB of a member", async () => {
  const transport = createTcpTransport({
    log: () => {},
    secret: SECRET,
    handshakeTimeoutMs: 600_000,
    maxPendingHandshakes: FLOOD,
  });
  const endpoint = await transport.attach("srv", { listen: "127.0.0.1:0" });
  let sockets: Deno.TcpConn[] = [];
  try {
    sockets = await flood(endpoint.addresses.tcp, FLOOD);
    await until(() => endpoint.stats().pendingHandshakes === FLOOD, "every connection pending");
    const stats = endpoint.stats();
    assert.equal(stats.handshakesShed, 0);
    assert.equal(stats.handshakeBufferBytes, FLOOD * 4096);
  } finally {
    closeAll(sockets);
    await transport.close();
  }
});

Deno.test("createTcpTransport() rejects a bad maxPendingHandshakes", () => {
  assert.throws(
    () => createTcpTransport({ maxPendingHandshakes: 0 }),
    /maxPendingHandshakes must be an integer from 1/,
  );
});
