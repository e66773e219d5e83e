import assert from "node:assert/strict";
import { RpcNode } from "../../kernel/rpc.ts";
import { ClusterSecret, handshakeTranscript } from "../../transports/tcp/handshake.ts";
import { writeComponentKeys } from "../../transports/tcp/make_keys.ts";
import { ComponentKey, createTcpTransport } from "../../transports/tcp/mod.ts";
import {
  Control,
  encodeJsonControl,
  FrameReader,
  payloadJson,
  payloadText,
} from "../../transports/tcp/wire.ts";

const SECRET = "a cluster secret of some length";
const utf8 = new TextEncoder();

async function server() {
  const logs: string[] = [];
  const transport = createTcpTransport({ log: (l) => logs.push(l), secret: SECRET });
  const endpoint = await transport.attach("gm", { listen: "127.0.0.1:0" });
  const rpc = new RpcNode(endpoint).handle({ SYS_PING: ({ data }) => ({ data }) });
  return {
    logs,
    endpoint,
    close: async () => {
      await rpc.close();
      await transport.close();
    },
  };
}

/** Runs the dialer's side by hand as `claimed`, proving with `key` (maybe someone else's). */
async function claim(address: string, claimed: string, key: ComponentKey, to = "s0") {
  const port = Number(address.split(":")[1]);
  const socket = await Deno.connect({ hostname: "127.0.0.1", port });
  const reader = new FrameReader(socket, 1 << 16);
  const write = async (bytes: Uint8Array) => {
    for (let at = 0; at < bytes.length;) at += await socket.write(bytes.subarray(at));
  };
  const next = async () => {
    while (true) {
      const frame = reader.next();
      if (frame && !frame.data) return frame;
      if (!(await reader.fill())) throw new Error("closed");
    }
  };
  try {
    const nonce = btoa("n".repeat(32));
    await write(encodeJsonControl({ type: Control.HELLO }, {
      v: 2,
      from: claimed,
      to,
      listen: "",
      nonce,
      secret: true,
    }));
    const challenge = await next();
    assert.equal(challenge.type, Control.CHALLENGE, payloadText(challenge.payload));
    const body = payloadJson(challenge.payload) as { nonce: string };
    const proof = await key.sign(handshakeTranscript("dialer", claimed, to, nonce, body.nonce));
    await write(encodeJsonControl({ type: Control.AUTH }, {
      proof,
      credits: 4,
      key: btoa(String.fromCharCode(...key.publicKey)),
      cert: btoa(String.fromCharCode(...key.certificate)),
    }));
    const answer = await next();
    return answer.type === Control.WELCOME ? "welcome" : payloadText(answer.payload);
  } finally {
    try {
      socket.close();
    } catch { /* closed */ }
  }
}

Deno.test("a memory component's key cannot claim to be gm; it can be m0", async () => {
  const srv = await server();
  try {
    const m0 = await (await ClusterSecret.from(SECRET)).componentKey("m0");
    // m0 claims to be gm towards s0 (which would then take manager commands from it).
    const transport = createTcpTransport({ log: () => {}, secret: SECRET });
    const s0 = await transport.attach("s0", { listen: "127.0.0.1:0" });
    try {
      const verdict = await claim(s0.addresses.tcp, "gm", m0);
      assert.match(verdict, /gm failed to prove the cluster secret \(.*not gm's/);
      assert.equal(await claim(s0.addresses.tcp, "m0", m0), "welcome");
      assert.equal(s0.stats().refused, 1);
    } finally {
      await transport.close();
    }
  } finally {
    await srv.close();
  }
});

Deno.test("a component with only its key file joins; another component's key file is refused", async () => {
  const srv = await server();
  const dir = await Deno.makeTempDir({ prefix: "legoemu-keys-" });
  try {
    const paths = await writeComponentKeys(utf8.encode(SECRET), dir, ["m0", "p0"]);
    assert.deepEqual(paths, [`${dir}/m0.key`, `${dir}/p0.key`]);
    assert.equal((await Deno.stat(paths[0])).mode! & 0o777, 0o600);
    assert.ok(!(await Deno.readTextFile(paths[0])).includes(SECRET));
    const transport = createTcpTransport({ log: () => {}, keyFile: `${dir}/{id}.key` });
    try {
      const m0 = new RpcNode(
        await transport.attach("m0", {
          listen: null,
          manager: { id: "gm", address: srv.endpoint.addresses.tcp },
        }),
      );
      const reply = await m0.call("gm", "SYS_PING", { data: new Uint8Array([9]) });
      assert.deepEqual([...(reply as { data: Uint8Array }).data], [9]);
      await m0.close();
      await assert.rejects(
        transport.attach("gm", { listen: null, keyFile: `${dir}/m0.key` }),
        /holds the key of m0; gm needs its own/,
      );
    } finally {
      await transport.close();
    }
    // A key made from another secret does not get in.
    const other = await writeComponentKeys(utf8.encode("another secret, 32 bytes long!!"), dir, [
      "p0",
    ]);
    const outsider = createTcpTransport({
      log: () => {},
      keyFile: other[0],
      connectTimeoutMs: 500,
    });
    try {
      const p0 = new RpcNode(
        await outsider.attach("p0", {
          listen: null,
          manager: { id: "gm", address: srv.endpoint.addresses.tcp },
        }),
      );
      await assert.rejects(p0.call("gm", "SYS_PING", { data: new Uint8Array([1]) }));
      await p0.close();
    } finally {
      await outsider.close();
    }
  } finally {
    await srv.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ComponentKey.fromText() rejects junk and a tampered file without echoing it", async () => {
  const key = await ComponentKey.derive(utf8.encode(SECRET), "m0");
  const again = await ComponentKey.fromText(key.toText());
  assert.deepEqual(again.publicKey, key.publicKey);
  await assert.rejects(ComponentKey.fromText("SECRET=1"), /not a legoemu component key file/);
  const renamed = key.toText().replace('"id":"m0"', '"id":"gm"');
  await assert.rejects(ComponentKey.fromText(renamed), /does not hold a key certified for it/);
});
