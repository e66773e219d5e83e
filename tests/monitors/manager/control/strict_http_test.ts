import assert from "node:assert/strict";
import { startCluster } from "../../../../mod.ts";
import { startControlFixture } from "./_fixture.ts";

const drainedOf = (f: Awaited<ReturnType<typeof startControlFixture>>, id: string) =>
  Boolean(
    (f.source.snapshot().components.find((c) => c.id === id) as { drained?: boolean })?.drained,
  );

Deno.test("control plane: malformed JSON answers 400 and a wrong content type 415, as JSON", async () => {
  const f = await startControlFixture();
  try {
    const auth = { authorization: "Bearer test-token-0123456789abcdef" };
    const malformed = await f.app.request("/api/processes", {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: '{"workload": ',
    });
    assert.equal(malformed.status, 400);
    assert.match((await malformed.json()).error, /malformed JSON/i);
    const wrongType = await f.app.request("/api/policies", {
      method: "PUT",
      headers: { ...auth, "content-type": "text/plain" },
      body: JSON.stringify({ kind: "file-placement", name: "fewest-files" }),
    });
    assert.equal(wrongType.status, 415);
    assert.match((await wrongType.json()).error, /content type text\/plain/);
    const form = await f.app.request("/api/components/m0/drain", {
      method: "POST",
      headers: { ...auth, "content-type": "application/x-www-form-urlencoded" },
      body: "drained=false",
    });
    assert.equal(form.status, 415);
    assert.equal(f.source.snapshot().processes.length, 0);
  } finally {
    await f.close();
  }
});

Deno.test("control plane: a mutation without a body is refused, so a body-less drain does not undrain", async () => {
  const f = await startControlFixture();
  try {
    const drain = await f.request("/api/components/m0/drain", {
      method: "POST",
      token: true,
      body: JSON.stringify({ drained: true }),
    });
    assert.equal(drain.status, 200);
    assert.ok(drainedOf(f, "m0"));
    const bare = await f.request("/api/components/m0/drain", { method: "POST", token: true });
    assert.equal(bare.status, 400);
    assert.match((await bare.json()).error, /needs a JSON body/);
    assert.ok(drainedOf(f, "m0"), "m0 stays drained");
    for (const [path, method] of [["/api/processes", "POST"], ["/api/policies", "PUT"]]) {
      const res = await f.request(path, { method, token: true });
      assert.equal(res.status, 400, `${method} ${path}`);
    }
  } finally {
    await f.close();
  }
});

Deno.test("control plane: a wrong method on a known path answers 405 with Allow", async () => {
  const f = await startControlFixture();
  try {
    const cases: [string, string, string][] = [
      ["/api/cluster", "DELETE", "GET, HEAD"],
      ["/api/processes", "PUT", "GET, HEAD, POST"],
      ["/api/processes/3", "POST", "DELETE, GET, HEAD"],
      ["/api/components/m0/drain", "GET", "POST"],
      ["/api/policies", "POST", "PUT"],
    ];
    for (const [path, method, allow] of cases) {
      const res = await f.request(path, { method, token: true });
      assert.equal(res.status, 405, `${method} ${path}`);
      assert.equal(res.headers.get("allow"), allow, `${method} ${path}`);
      assert.match((await res.json()).error, /not allowed/);
    }
    assert.equal((await f.request("/api/nowhere", { method: "POST" })).status, 404);
  } finally {
    await f.close();
  }
});

Deno.test("control plane: a body over the size limit answers 413 and starts nothing", async () => {
  const f = await startControlFixture();
  try {
    const res = await f.request("/api/processes", {
      method: "POST",
      token: true,
      body: JSON.stringify({ workload: "w.ts", args: ["x".repeat(2 * 1024 * 1024)] }),
    });
    assert.equal(res.status, 413);
    assert.match((await res.json()).error, /larger than/);
    assert.equal(f.source.snapshot().processes.length, 0);
  } finally {
    await f.close();
  }
});

/** Sends one raw HTTP/1.1 request with the given Host header, returns the status line. */
async function rawStatus(url: string, host: string): Promise<string> {
  const { hostname, port } = new URL(url);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  try {
    await conn.write(
      new TextEncoder().encode(
        `GET /api/snapshot HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      ),
    );
    const buf = new Uint8Array(4096);
    const n = await conn.read(buf);
    return new TextDecoder().decode(buf.subarray(0, n ?? 0)).split("\r\n")[0];
  } finally {
    conn.close();
  }
}

Deno.test("control plane: a foreign Host (DNS rebinding) is refused; the token file goes with the cluster", async () => {
  const f = await startControlFixture();
  try {
    const foreign = await f.app.request("http://rebind.attacker.example/api/snapshot");
    assert.equal(foreign.status, 421);
    assert.match((await foreign.json()).error, /not served here/);
    assert.equal((await f.app.request("http://localhost:7080/api/snapshot")).status, 200);
  } finally {
    await f.close();
  }
  const lines: string[] = [];
  const saved = Deno.env.get("LEGOEMU_TOKEN");
  Deno.env.delete("LEGOEMU_TOKEN");
  const cluster = await startCluster({
    name: "hosts",
    components: [
      { id: "gm", role: "manager", options: { control: { port: 0 } } },
      { id: "p0", role: "processor" },
      { id: "m0", role: "memory" },
      { id: "s0", role: "storage" },
    ],
  }, { log: (_id, line) => lines.push(line) });
  let tokenFile: string | undefined;
  try {
    if (saved !== undefined) Deno.env.set("LEGOEMU_TOKEN", saved);
    const url = (cluster.manager as unknown as { controlUrl: string }).controlUrl;
    assert.match(await rawStatus(url, "rebind.attacker.example"), /^HTTP\/1\.1 421/);
    assert.match(await rawStatus(url, new URL(url).host), /^HTTP\/1\.1 200/);
    assert.match(await rawStatus(url, `localhost:${new URL(url).port}`), /^HTTP\/1\.1 200/);
    tokenFile = /token in (\S+?)\)/.exec(lines.join("\n"))?.[1];
    assert.ok(tokenFile, lines.join("\n"));
    assert.ok((await Deno.stat(tokenFile)).isFile);
  } finally {
    await cluster.stop();
  }
  await assert.rejects(Deno.stat(tokenFile!), Deno.errors.NotFound, "token file removed at stop");
});
