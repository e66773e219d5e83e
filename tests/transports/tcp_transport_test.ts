import assert from "node:assert/strict";
import { encode, HEADER_SIZE } from "../../kernel/codec.ts";
import { KernelError, RemoteError, UnreachableError } from "../../kernel/errors.ts";
import { PAGE_SIZE } from "../../kernel/messages.ts";
import { PluginRegistry } from "../../kernel/plugins.ts";
import { RpcNode } from "../../kernel/rpc.ts";
import { createTcpTransport, type TcpTransport } from "../../transports/tcp/mod.ts";
import { tcpTransportPlugin } from "../../transports/tcp/plugin.ts";
import { runTransportContract } from "./transport_contract.ts";

runTransportContract("tcp", () => createTcpTransport({ log: () => {} }), {
  attachOptions: () => ({ listen: "127.0.0.1:0" }),
});

const quiet = { log: () => {} };

function ping(src: string, dst: string, requestId: number, data: Uint8Array): Uint8Array {
  return encode({ kind: "SYS_PING", requestId, src, dst, flags: 0, body: { data } });
}

/** Runs `body` with fresh transports that are always closed afterwards. */
async function withTransports(
  count: number,
  body: (transports: TcpTransport[]) => Promise<void>,
  options: Parameters<typeof createTcpTransport>[0] = {},
): Promise<void> {
  const transports = Array.from(
    { length: count },
    () => createTcpTransport({ ...quiet, ...options }),
  );
  try {
    await body(transports);
  } finally {
    await Promise.all(transports.map((t) => t.close()));
  }
}

/** A free TCP port on 127.0.0.1 (bound and released at once). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

Deno.test("tcp transport: attach() reports the real address when asked for port 0", async () => {
  await withTransports(1, async ([t]) => {
    const endpoint = await t.attach("m0", { listen: "127.0.0.1:0" });
    assert.match(endpoint.addresses.tcp, /^127\.0\.0\.1:[1-9][0-9]*$/);
    const client = await t.attach("c0", { listen: null });
    assert.deepEqual(client.addresses, {});
  });
});

Deno.test("tcp transport: attach() rejects a bad listen address and an address in use", async () => {
  await withTransports(1, async ([t]) => {
    await assert.rejects(
      t.attach("a", { listen: "localhost" }),
      (e) => e instanceof KernelError && e.code === "EINVAL" && /host:port/.test(e.message),
    );
    const taken = await t.attach("b", { listen: "127.0.0.1:0" });
    await assert.rejects(
      t.attach("c", { listen: taken.addresses.tcp }),
      (e) =>
        e instanceof KernelError && e.code === "EADDRINUSE" &&
        e.message.includes(taken.addresses.tcp),
    );
  });
});

Deno.test("tcp transport: components in different processes find each other through the manager", async () => {
  // Three transports stand for three processes: only the manager's address is configured.
  await withTransports(3, async ([tg, tm, tp]) => {
    const gm = await tg.attach("gm", { listen: "127.0.0.1:0" });
    const manager = { id: "gm", address: gm.addresses.tcp };
    const m0 = await tm.attach("m0", { listen: "127.0.0.1:0", manager });
    const p0 = await tp.attach("p0", { listen: "127.0.0.1:0", manager });
    // m0 "joins": its handshake tells the manager where it listens.
    await m0.send("gm", ping("m0", "gm", 1, new Uint8Array([1])));
    assert.equal((await gm.receiveQueue.take())?.from, "m0");
    await p0.send("m0", ping("p0", "m0", 2, new Uint8Array([2])));
    const got = await m0.receiveQueue.take();
    assert.equal(got?.from, "p0");
    assert.equal(got?.bytes.at(-1), 2);
    assert.equal(tp.addressBook().m0, m0.addresses.tcp, "the answer is cached");
    await assert.rejects(p0.send("nobody", ping("p0", "nobody", 3, new Uint8Array())), (e) => {
      assert.ok(e instanceof UnreachableError);
      assert.match(e.message, /cannot reach nobody: the manager gm knows no such component/);
      return true;
    });
  });
});

Deno.test("tcp transport: a reply goes back over the caller's connection, even to a caller that does not listen", async () => {
  await withTransports(2, async ([ts, tc]) => {
    const srv = await ts.attach("srv", { listen: "127.0.0.1:0" });
    const server = new RpcNode(srv).handle({ SYS_PING: ({ data }) => ({ data }) });
    const cli = await tc.attach("cli", {
      listen: null,
      manager: { id: "srv", address: srv.addresses.tcp },
    });
    assert.deepEqual(cli.addresses, {});
    const client = new RpcNode(cli);
    const reply = await client.call("srv", "SYS_PING", { data: new Uint8Array([9, 9]) });
    assert.deepEqual([...reply.data], [9, 9]);
    assert.equal(ts.addressBook().cli, undefined, "the server never needed cli's address");
    await client.close();
    await server.close();
  });
});

Deno.test("tcp transport: many calls in flight on one connection complete out of order", async () => {
  await withTransports(2, async ([ts, tc]) => {
    const srv = await ts.attach("srv", { listen: "127.0.0.1:0" });
    const server = new RpcNode(srv).handle({
      // The first byte says how many milliseconds to hold the reply.
      SYS_PING: async ({ data }) => {
        await new Promise((resolve) => setTimeout(resolve, data[0]));
        return { data };
      },
    });
    const client = new RpcNode(
      await tc.attach("cli", { listen: null, manager: { id: "srv", address: srv.addresses.tcp } }),
    );
    const finished: number[] = [];
    const delays = [40, 30, 20, 10, 0];
    await Promise.all(delays.map(async (delay, i) => {
      const reply = await client.call("srv", "SYS_PING", { data: new Uint8Array([delay, i]) });
      assert.equal(reply.data[1], i);
      finished.push(i);
    }));
    assert.deepEqual(finished, [4, 3, 2, 1, 0], "no reply waited for an earlier one");
    const many = await Promise.all(
      Array.from(
        { length: 200 },
        (_, i) => client.call("srv", "SYS_PING", { data: new Uint8Array([0, i & 0xff, i >> 8]) }),
      ),
    );
    many.forEach((reply, i) => assert.equal(reply.data[1] | reply.data[2] << 8, i));
    assert.equal(srv.stats().connections, 1, "all of it over one connection");
    await client.close();
    await server.close();
  });
});

Deno.test("tcp transport: a frame bigger than the read buffer arrives intact; one over maxFrameBytes is refused", async () => {
  await withTransports(1, async ([t]) => {
    const a = await t.attach("a");
    const b = await t.attach("b");
    const big = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 7) & 0xff);
    await a.send("b", ping("a", "b", 1, big));
    const got = await b.receiveQueue.take();
    assert.equal(got?.bytes.length, HEADER_SIZE + 4 + big.length);
    assert.deepEqual(got?.bytes.subarray(HEADER_SIZE + 4), big);
  });
  await withTransports(1, async ([t]) => {
    const a = await t.attach("a");
    await t.attach("b");
    await assert.rejects(
      a.send("b", ping("a", "b", 1, new Uint8Array(70_000))),
      (e) =>
        e instanceof KernelError && e.code === "EMSGSIZE" && /65536-byte limit/.test(e.message),
    );
    await assert.rejects(
      a.send("b", new Uint8Array([1, 2, 3])),
      (e) => e instanceof KernelError && e.code === "EINVAL",
    );
  }, { maxFrameBytes: 65536 });
});

Deno.test("tcp transport: a sender gets windowFrames credits and more as the receiver takes frames", async () => {
  await withTransports(2, async ([ta, tb]) => {
    const b = await tb.attach("b", { listen: "127.0.0.1:0" });
    const a = await ta.attach("a", {
      listen: null,
      manager: { id: "b", address: b.addresses.tcp },
    });
    let accepted = 0;
    const sends = Array.from(
      { length: 12 },
      (_, i) => a.send("b", ping("a", "b", i + 1, new Uint8Array([i]))).then(() => accepted++),
    );
    for (let i = 0; i < 10; i++) await new Promise((resolve) => setTimeout(resolve, 2));
    assert.equal(accepted, 4, "only the window's worth is accepted while nothing is taken");
    for (let i = 0; i < 12; i++) assert.equal((await b.receiveQueue.take())?.bytes.at(-1), i);
    await Promise.all(sends);
    assert.equal(accepted, 12);
  }, { windowFrames: 4 });
});

Deno.test("tcp transport: a peer that restarts on the same address is reached again", async () => {
  const port = freePort();
  const address = `127.0.0.1:${port}`;
  await withTransports(1, async ([tp]) => {
    const p0 = await tp.attach("p0", { listen: null, manager: { id: "m0", address } });
    for (let round = 0; round < 2; round++) {
      const tm = createTcpTransport(quiet);
      try {
        const m0 = await tm.attach("m0", { listen: address });
        await p0.send("m0", ping("p0", "m0", round + 1, new Uint8Array([round])));
        assert.equal((await m0.receiveQueue.take())?.bytes.at(-1), round);
      } finally {
        await tm.close();
      }
      // A restart takes longer than noticing the old connection's end; wait for that.
      while (p0.stats().connections > 0) await new Promise((resolve) => setTimeout(resolve, 2));
    }
    assert.equal(p0.stats().dials, 2);
  }, { reconnectTimeoutMs: 3000 });
});

Deno.test("tcp transport: a peer that stays away fails sends after reconnectTimeoutMs", async () => {
  const address = `127.0.0.1:${freePort()}`;
  await withTransports(1, async ([t]) => {
    const p0 = await t.attach("p0", { listen: null, manager: { id: "m0", address } });
    await assert.rejects(p0.send("m0", ping("p0", "m0", 1, new Uint8Array())), (e) => {
      assert.ok(e instanceof UnreachableError);
      assert.match(e.message, new RegExp(`no connection to ${address} within 200 ms`));
      return true;
    });
  }, { reconnectTimeoutMs: 200 });
});

Deno.test("tcp transport: calls awaiting replies fail with EHOSTUNREACH when the connection is lost", async () => {
  await withTransports(2, async ([ts, tc]) => {
    const srv = await ts.attach("srv", { listen: "127.0.0.1:0" });
    let arrived = 0;
    // A handler that never answers: the calls can only end by the connection's loss.
    const server = new RpcNode(srv).handle({
      SYS_PING: () => {
        arrived++;
        return new Promise<never>(() => {});
      },
    });
    const client = new RpcNode(
      await tc.attach("cli", { listen: null, manager: { id: "srv", address: srv.addresses.tcp } }),
    );
    const calls = [1, 2, 3].map((i) =>
      client.call("srv", "SYS_PING", { data: new Uint8Array([i]) }, { timeoutMs: 60_000 })
    );
    while (arrived < 3) await new Promise((resolve) => setTimeout(resolve, 2));
    await ts.close();
    for (const call of calls) {
      await assert.rejects(call, (e) => {
        assert.ok(e instanceof RemoteError);
        assert.equal(e.code, "EHOSTUNREACH");
        assert.match(e.message, /connection was lost before it answered SYS_PING/);
        return true;
      });
    }
    await client.close();
    await server.close();
  }, { reconnectTimeoutMs: 100 });
});

Deno.test("tcp transport: one-sided access works across transports and never reaches the target's queue", async () => {
  await withTransports(2, async ([tm, tp]) => {
    const m0 = await tm.attach("m0", { listen: "127.0.0.1:0" });
    const p0 = await tp.attach("p0", {
      listen: null,
      manager: { id: "m0", address: m0.addresses.tcp },
    });
    const pool = new Uint8Array(4 * PAGE_SIZE);
    const region = m0.registerRegion(pool, { remoteRead: true, remoteWrite: true });
    const page = new Uint8Array(PAGE_SIZE).fill(0xab);
    await p0.write("m0", region.key, PAGE_SIZE, page);
    assert.equal(pool[PAGE_SIZE], 0xab);
    const reads = await Promise.all(
      [0, 1, 2, 3].map((i) => p0.read("m0", region.key, i * PAGE_SIZE, PAGE_SIZE)),
    );
    assert.equal(reads[1][0], 0xab);
    assert.equal(reads[0][0], 0);
    assert.equal(m0.receiveQueue.length, 0);
    assert.equal(m0.stats().oneSidedServed, 5);
    await assert.rejects(
      p0.read("m0", region.key, 0, 10 * 1024 * 1024),
      (e) => e instanceof KernelError && e.code === "EMSGSIZE",
    );
  }, { maxFrameBytes: 1024 * 1024 });
});

Deno.test("tcp transport plugin: options are validated and defaults filled", async () => {
  const registry = new PluginRegistry().register(tcpTransportPlugin);
  const options = registry.parseOptions("transport", "tcp", {}, "options") as Record<
    string,
    unknown
  >;
  assert.equal(options.windowFrames, 256);
  assert.throws(
    () => registry.parseOptions("transport", "tcp", { windowFrames: 0 }, "options"),
    /options\.windowFrames/,
  );
  assert.throws(
    () => registry.parseOptions("transport", "tcp", { peers: { m0: "nowhere" } }, "options"),
    /host:port/,
  );
  const transport = await registry.create<TcpTransport>(
    "transport",
    "tcp",
    { pingIntervalMs: 0 },
    {},
  );
  assert.equal(transport.name, "tcp");
  await transport.close();
});
