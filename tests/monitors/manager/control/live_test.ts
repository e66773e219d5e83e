import assert from "node:assert/strict";
import { ControlClientError, createControlClient, serveControlPlane } from "../../../../mod.ts";
import { startControlFixture, TOKEN, workloadUrl } from "./_fixture.ts";

/** Reads Server-Sent Events from `response` until `stop` says so. */
async function readEvents(
  response: Response,
  stop: (event: { event: string; data: string }) => boolean,
): Promise<{ event: string; data: string }[]> {
  const seen: { event: string; data: string }[] = [];
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) return seen;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1] ?? "message";
        const data = /^data: (.*)$/m.exec(block)?.[1] ?? "";
        seen.push({ event, data });
        if (stop({ event, data })) return seen;
      }
    }
  } finally {
    await reader.cancel();
  }
}

Deno.test("the event stream carries process events and load ticks live", async () => {
  const f = await startControlFixture(50);
  const server = await serveControlPlane(f.source, { port: 0, token: TOKEN, tickMs: 50 });
  try {
    const response = await fetch(`${server.url}/api/events/stream`);
    assert.equal(response.headers.get("content-type"), "text/event-stream");
    const spawned = fetch(`${server.url}/api/processes`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ workload: workloadUrl("pattern.ts"), args: ["4"] }),
    }).then((r) => r.json());
    let ticks = 0;
    let exited = false;
    const events = await readEvents(response, ({ event, data }) => {
      if (event === "tick") ticks++;
      if (event === "cluster" && JSON.parse(data).type === "process.exit") exited = true;
      return exited && ticks > 0;
    });
    assert.equal((await spawned).pid, 1);
    assert.equal(events[0].event, "hello");
    const types = events.filter((e) => e.event === "cluster").map((e) => JSON.parse(e.data).type);
    assert.ok(types.includes("process.start") && types.includes("process.exit"), types.join());
    const tick = JSON.parse(events.find((e) => e.event === "tick")!.data);
    assert.deepEqual(tick.components.map((c: { id: string }) => c.id).sort(), [
      "gm",
      "m0",
      "p0",
      "s0",
    ]);
  } finally {
    await server.close();
    await f.close();
  }
});

Deno.test("the typed client reads the cluster and starts and refuses as the API does", async () => {
  const f = await startControlFixture();
  const server = await serveControlPlane(f.source, { port: 0, token: TOKEN });
  try {
    const client = createControlClient(server.url, { token: TOKEN });
    const summary = await client.cluster();
    assert.equal(summary.components.total, 4);
    assert.deepEqual((await client.components()).map((c) => c.id), ["gm", "m0", "p0", "s0"]);
    const started = await client.spawn(workloadUrl("pattern.ts"), ["2"]);
    assert.equal(started.processor, "p0");
    assert.equal((await client.processes()).length, 1);
    const anonymous = createControlClient(server.url);
    await assert.rejects(anonymous.spawn(workloadUrl("pattern.ts")), (e: unknown) => {
      assert.ok(e instanceof ControlClientError);
      assert.equal(e.status, 401);
      return true;
    });
    await assert.rejects(client.kill(999), /no process/);
  } finally {
    await server.close();
    await f.close();
  }
});

Deno.test("serveControlPlane() refuses a non-loopback listener without a token", async () => {
  const f = await startControlFixture();
  try {
    await assert.rejects(
      serveControlPlane(f.source, { hostname: "0.0.0.0", port: 0 }),
      /without a token/,
    );
    await assert.rejects(
      serveControlPlane(f.source, { port: 0, token: "short" }),
      /at least 16 characters/,
    );
    const local = await serveControlPlane(f.source, { port: 0 });
    assert.equal(local.generatedToken, true);
    assert.equal(local.token.length, 64);
    await local.close();
  } finally {
    await f.close();
  }
});

Deno.test("/metrics shows a running process's hits as they grow, and the API its live thread count", async () => {
  const f = await startControlFixture(200);
  try {
    // Two threads that only hit, for 4 s: nothing but the heartbeats carries their counters.
    const spawned = await f.request("/api/processes", {
      method: "POST",
      token: true,
      body: JSON.stringify({ workload: workloadUrl("hot_loop.ts"), args: ["4000", "2"] }),
    });
    assert.equal(spawned.status, 201);
    const { pid } = await spawned.json();
    const hitsIn = async () => {
      const text = await (await f.request("/metrics")).text();
      return Number(/^legoemu_processor_hits\{component="p0"\} (\d+)$/m.exec(text)?.[1] ?? 0);
    };
    const running = async () =>
      (await (await f.request(`/api/processes/${pid}`)).json()).state === "running";
    const seen: number[] = [];
    let threads = 0;
    for (let i = 0; i < 60 && await running(); i++) {
      seen.push(await hitsIn());
      const process = await (await f.request(`/api/processes/${pid}`)).json();
      threads = Math.max(threads, process.threads);
      await new Promise((r) => setTimeout(r, 100));
    }
    const rises = seen.slice(1).filter((h, i) => h > seen[i]).length;
    assert.ok(rises >= 3, `/metrics showed p0's hits rise ${rises} times while it ran: ${seen}`);
    assert.equal(threads, 2, "the process's thread count reaches the API");
  } finally {
    await f.close();
  }
});
