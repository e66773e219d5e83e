import assert from "node:assert/strict";
import { encode, HEADER_SIZE } from "../../kernel/codec.ts";
import { UnreachableError } from "../../kernel/errors.ts";
import { RpcNode } from "../../kernel/rpc.ts";
import { ClusterSecret, dialHandshake } from "../../transports/tcp/handshake.ts";
import {
  createTcpTransport,
  type TcpEndpoint,
  type TcpTransport,
} from "../../transports/tcp/mod.ts";
import { Control, encodeControl, FrameReader } from "../../transports/tcp/wire.ts";

const SECRET = "a cluster secret of some length";

interface Server {
  transport: TcpTransport;
  endpoint: TcpEndpoint;
  rpc: RpcNode;
  logs: string[];
  address: string;
}

/** A server `srv` that echoes SYS_PING, logging into `logs`. */
async function startServer(
  options: { secret?: string; handshakeTimeoutMs?: number; maxQueuedBytes?: number } = {},
): Promise<Server> {
  const logs: string[] = [];
  const transport = createTcpTransport({
    log: (line) => logs.push(line),
    secret: options.secret,
    handshakeTimeoutMs: options.handshakeTimeoutMs,
    maxQueuedBytes: options.maxQueuedBytes,
    windowFrames: 8,
  });
  const endpoint = await transport.attach("srv", { listen: "127.0.0.1:0" });
  const rpc = new RpcNode(endpoint).handle({ SYS_PING: ({ data }) => ({ data }) });
  return { transport, endpoint, rpc, logs, address: endpoint.addresses.tcp };
}

async function stopServer(server: Server): Promise<void> {
  await server.rpc.close();
  await server.transport.close();
}

/** A legitimate client of `server`; returns its RPC node and transport. */
async function client(server: Server, id: string, secret: string | undefined) {
  const transport = createTcpTransport({ log: () => {}, secret, reconnectTimeoutMs: 200 });
  const rpc = new RpcNode(
    await transport.attach(id, { listen: null, manager: { id: "srv", address: server.address } }),
  );
  return {
    rpc,
    ping: (byte: number) => rpc.call("srv", "SYS_PING", { data: new Uint8Array([byte]) }),
    close: async () => {
      await rpc.close();
      await transport.close();
    },
  };
}

/** A raw TCP connection to `server`, optionally authenticated as `id`. */
async function raw(server: Server, authenticateAs?: string) {
  const port = Number(server.address.split(":")[1]);
  const socket = await Deno.connect({ hostname: "127.0.0.1", port });
  const reader = new FrameReader(socket, 1 << 20);
  const write = async (bytes: Uint8Array) => {
    let at = 0;
    while (at < bytes.length) at += await socket.write(bytes.subarray(at));
  };
  if (authenticateAs) {
    await dialHandshake(
      { reader, write },
      {
        id: authenticateAs,
        key: await (await ClusterSecret.from(SECRET)).componentKey(authenticateAs),
        credits: 8,
      },
      "srv",
      "",
    );
  }
  /** Resolves true once the server has closed the connection. */
  const closedByServer = async () => {
    try {
      while (await reader.fill()) { /* drain whatever comes */ }
      return true;
    } catch {
      return true;
    }
  };
  return {
    write,
    closedByServer,
    close: () => {
      try {
        socket.close();
      } catch { /* closed */ }
    },
  };
}

async function eventually(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 2));
  assert.ok(check(), what);
}

function ping(src: string, dst: string, requestId: number): Uint8Array {
  return encode({
    kind: "SYS_PING",
    requestId,
    src,
    dst,
    flags: 0,
    body: { data: new Uint8Array([1]) },
  });
}

Deno.test("tcp security: a peer without the secret is refused and logged", async () => {
  const server = await startServer({ secret: SECRET });
  const outsider = await client(server, "evil", undefined);
  try {
    await assert.rejects(outsider.ping(1), (e) => {
      assert.ok(e instanceof UnreachableError, String(e));
      assert.match(e.message, /presented no cluster secret/);
      return true;
    });
    await eventually(
      () =>
        server.logs.some((l) =>
          /refused a connection from 127\.0\.0\.1:\d+: evil presented no cluster secret/.test(l)
        ),
      "the refusal is logged",
    );
    assert.equal(server.endpoint.stats().refused, 1);
    assert.equal(server.endpoint.receiveQueue.length, 0, "nothing it sent got in");
  } finally {
    await outsider.close();
    await stopServer(server);
  }
});

Deno.test("tcp security: a peer with a wrong secret is refused and logged; the right one gets in", async () => {
  const server = await startServer({ secret: SECRET });
  const outsider = await client(server, "evil", "not the cluster secret at all");
  const insider = await client(server, "good", SECRET);
  try {
    // The server proves itself first, so the outsider already sees the mismatch.
    await assert.rejects(outsider.ping(1), (e) => {
      assert.ok(e instanceof UnreachableError, String(e));
      assert.match(e.message, /srv failed to prove the cluster secret \(the secrets differ\)/);
      return true;
    });
    await eventually(
      () =>
        server.logs.some((l) =>
          /refused a connection from 127\.0\.0\.1:\d+: the other side refused: evil: srv failed to prove the cluster secret \(the secrets differ\)/
            .test(l)
        ),
      `the refusal is logged: ${server.logs.join(" | ")}`,
    );
    const reply = await insider.ping(7);
    assert.equal(reply.data[0], 7);
    assert.equal(server.endpoint.stats().accepted, 1);
  } finally {
    await outsider.close();
    await insider.close();
    await stopServer(server);
  }
});

Deno.test("tcp security: a wrong proof from the dialer is refused and logged", async () => {
  const server = await startServer({ secret: SECRET });
  const port = Number(server.address.split(":")[1]);
  const socket = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const reader = new FrameReader(socket, 1 << 20);
    const write = (bytes: Uint8Array) => socket.write(bytes).then(() => {});
    // An impostor that skips checking the server's proof and sends a made-up one.
    const hello = {
      v: 2,
      from: "evil",
      to: "srv",
      listen: "",
      nonce: "x".repeat(44),
      secret: true,
    };
    await write(
      encodeControl({ type: Control.HELLO }, new TextEncoder().encode(JSON.stringify(hello))),
    );
    while (!reader.next()) await reader.fill();
    await write(
      encodeControl(
        { type: Control.AUTH },
        new TextEncoder().encode(JSON.stringify({ proof: btoa("forged"), credits: 4 })),
      ),
    );
    let refused = "";
    while (!refused) {
      const frame = reader.next();
      if (frame && !frame.data && frame.type === Control.REFUSED) {
        refused = new TextDecoder().decode(frame.payload);
      } else if (!frame && !(await reader.fill())) break;
    }
    assert.match(refused, /evil failed to prove the cluster secret/);
    await eventually(
      () => server.logs.some((l) => /evil failed to prove the cluster secret/.test(l)),
      "logged",
    );
  } finally {
    socket.close();
    await stopServer(server);
  }
});

Deno.test("tcp security: a dialer with a secret will not talk to a server without one", async () => {
  const server = await startServer();
  const careful = await client(server, "good", SECRET);
  try {
    await assert.rejects(
      careful.ping(1),
      /srv has no cluster secret, and this component requires one/,
    );
  } finally {
    await careful.close();
    await stopServer(server);
  }
});

for (
  const [title, bytes] of [
    ["garbage bytes before the handshake", new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n")],
    [
      "a handshake frame over the limit",
      encodeControl({ type: Control.HELLO }, new Uint8Array(70_000)),
    ],
  ] as const
) {
  Deno.test(`tcp security: ${title} close only that connection`, async () => {
    const server = await startServer({ secret: SECRET });
    const insider = await client(server, "good", SECRET);
    const attacker = await raw(server);
    try {
      assert.equal((await insider.ping(1)).data[0], 1);
      await attacker.write(bytes);
      assert.ok(await attacker.closedByServer());
      await eventually(() => server.logs.some((l) => /refused a connection/.test(l)), "logged");
      assert.equal((await insider.ping(2)).data[0], 2, "the server still serves others");
    } finally {
      attacker.close();
      await insider.close();
      await stopServer(server);
    }
  });
}

const authenticatedAttacks: [string, (evil: string) => Uint8Array, RegExp][] = [
  ["garbage bytes", () => new Uint8Array(64).fill(0x5a), /bad magic 0x5a5a/],
  [
    "a frame over the limit",
    (evil) => {
      // A valid header announcing a 64 MiB body, over the default 16 MiB limit.
      const frame = ping(evil, "srv", 1);
      new DataView(frame.buffer).setUint32(12, 64 * 1024 * 1024, true);
      return frame.subarray(0, HEADER_SIZE);
    },
    /over the \d+-byte limit/,
  ],
  [
    "a frame that claims another sender",
    () => ping("good", "srv", 1),
    /claims to be from good to srv/,
  ],
  [
    "frames beyond the credits granted",
    (evil) => {
      const frames = Array.from({ length: 9 }, (_, i) => ping(evil, "srv", i + 1));
      const all = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
      let at = 0;
      for (const f of frames) {
        all.set(f, at);
        at += f.length;
      }
      return all;
    },
    /more than the 8 frames it had credits for/,
  ],
];

for (const [title, attack, logged] of authenticatedAttacks) {
  Deno.test(`tcp security: ${title} from an authenticated peer close only its connection`, async () => {
    const server = await startServer({ secret: SECRET });
    const insider = await client(server, "good", SECRET);
    const attacker = await raw(server, "evil");
    try {
      assert.equal((await insider.ping(1)).data[0], 1);
      await attacker.write(attack("evil"));
      assert.ok(await attacker.closedByServer());
      await eventually(
        () => server.logs.some((l) => logged.test(l)),
        `logged: ${server.logs.join(" | ")}`,
      );
      assert.equal(server.endpoint.stats().protocolErrors, 1);
      assert.equal((await insider.ping(2)).data[0], 2, "the server still serves others");
    } finally {
      attacker.close();
      await insider.close();
      await stopServer(server);
    }
  });
}

Deno.test("tcp security: a connection cut mid-frame closes only that connection", async () => {
  const server = await startServer({ secret: SECRET });
  const insider = await client(server, "good", SECRET);
  const attacker = await raw(server, "evil");
  try {
    const frame = ping("evil", "srv", 1);
    await attacker.write(frame.subarray(0, 30));
    attacker.close();
    await eventually(
      () => server.logs.some((l) => /cut mid-frame \(30 bytes/.test(l)),
      `logged: ${server.logs.join(" | ")}`,
    );
    assert.equal(server.endpoint.receiveQueue.length, 0);
    assert.equal((await insider.ping(3)).data[0], 3);
  } finally {
    await insider.close();
    await stopServer(server);
  }
});

Deno.test("tcp security: a connection that never finishes its handshake is closed", async () => {
  const server = await startServer({ secret: SECRET, handshakeTimeoutMs: 100 });
  const idle = await raw(server);
  try {
    assert.ok(await idle.closedByServer());
    await eventually(() => server.logs.some((l) => /no handshake within 100 ms/.test(l)), "logged");
  } finally {
    idle.close();
    await stopServer(server);
  }
});

Deno.test("tcp security: a peer that asks for one-sided reads without reading the answers is cut off", async () => {
  const server = await startServer({ secret: SECRET, maxQueuedBytes: 1 << 20 });
  const region = server.endpoint.registerRegion(new Uint8Array(1 << 20), {
    remoteRead: true,
    remoteWrite: false,
  });
  const insider = await client(server, "good", SECRET);
  const attacker = await raw(server, "evil");
  try {
    for (let opId = 1; opId <= 16; opId++) {
      await attacker.write(
        encodeControl({ type: Control.READ, opId, arg: region.key, offset: 0, length: 1 << 20 }),
      );
    }
    await eventually(
      () => server.logs.some((l) => /evil asks without reading the answers/.test(l)),
      `logged: ${server.logs.join(" | ")}`,
    );
    assert.equal((await insider.ping(4)).data[0], 4, "the server still serves others");
  } finally {
    attacker.close();
    await insider.close();
    await stopServer(server);
  }
});
