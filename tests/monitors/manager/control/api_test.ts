import assert from "node:assert/strict";
import { eventually, startControlFixture, workloadUrl } from "./_fixture.ts";

Deno.test("control plane: every read endpoint answers with its documented shape", async () => {
  const f = await startControlFixture();
  try {
    const run = await f.cluster.run(
      new URL("../../../../examples/workloads/demo.ts", import.meta.url).href,
      ["1"],
    );
    assert.equal(run.exitCode, 0);

    const cluster = await (await f.request("/api/cluster")).json();
    assert.equal(cluster.name, "control-test");
    assert.deepEqual(cluster.components.byRole, {
      manager: 1,
      processor: 1,
      memory: 1,
      storage: 1,
    });
    assert.equal(cluster.components.up, 4);
    assert.deepEqual(cluster.processes, { running: 0, exited: 1 });
    assert.equal(cluster.latencyModel, "legoos-ib");

    const components = await (await f.request("/api/components")).json();
    assert.deepEqual(components.map((c: { id: string }) => c.id), ["gm", "m0", "p0", "s0"]);
    const m0 = await (await f.request("/api/components/m0")).json();
    assert.equal(m0.role, "memory");
    assert.equal(m0.state, "up");
    assert.equal(typeof m0.uptimeMs, "number");

    const processes = await (await f.request("/api/processes")).json();
    assert.equal(processes.length, 1);
    assert.equal(processes[0].exitCode, 0);
    const one = await (await f.request("/api/processes/1")).json();
    assert.equal(one.processor, "p0");
    const space = await (await f.request("/api/processes/1/address-space")).json();
    assert.equal(space.home, "m0");
    assert.ok("detail" in space);

    const excache = await (await f.request("/api/excache")).json();
    assert.equal(excache[0].id, "p0");
    assert.ok(excache[0].stats.misses > 0, JSON.stringify(excache));
    const memory = await (await f.request("/api/memory")).json();
    assert.equal(memory[0].id, "m0");
    assert.ok(typeof memory[0].stats.framesFree === "number");
    const files = await (await f.request("/api/storage/files")).json();
    assert.deepEqual(files, [{ storage: "s0", files: ["demo.txt"] }]);
    const transport = await (await f.request("/api/transport")).json();
    const p0 = transport.find((t: { id: string }) => t.id === "p0");
    assert.ok(p0.stats.rpc.callsSent > 0);
    const model = await (await f.request("/api/latency-model")).json();
    assert.equal(model.name, "legoos-ib");
    assert.match(model.sources.A2, /Fig\. 7/, "the references the constants cite");
    assert.ok(
      Object.values(model.constants).every((c) =>
        typeof (c as { source: string }).source === "string"
      ),
    );

    const page1 = await (await f.request("/api/events?afterSeq=0&limit=2")).json();
    assert.equal(page1.events.length, 2);
    const page2 = await (await f.request(`/api/events?afterSeq=${page1.nextAfterSeq}&limit=2`))
      .json();
    assert.ok(page2.events[0].seq > page1.events[1].seq);
    const starts = await (await f.request("/api/events?type=process.start")).json();
    assert.equal(starts.events.length, 1);

    const metrics = await (await f.request("/metrics")).text();
    assert.match(metrics, /^legoemu_component_up\{component="p0",role="processor"\} 1$/m);
    assert.match(metrics, /# TYPE legoemu_cluster_processes gauge/);
    assert.match(await (await f.request("/docs")).text(), /swagger/i);
    assert.match(await (await f.request("/")).text(), /<title>legoemu dashboard<\/title>/);
  } finally {
    await f.close();
  }
});

Deno.test("control plane: unknown ids answer 404 with a JSON error", async () => {
  const f = await startControlFixture();
  try {
    for (
      const path of ["/api/components/zz", "/api/processes/99", "/api/processes/99/address-space"]
    ) {
      const res = await f.request(path);
      assert.equal(res.status, 404, path);
      assert.match((await res.json()).error, /no (component|process)/);
    }
    const kill = await f.request("/api/processes/99", { method: "DELETE", token: true });
    assert.equal(kill.status, 404);
    const stop = await f.request("/api/components/zz/stop", { method: "POST", token: true });
    assert.equal(stop.status, 404);
    assert.equal((await f.request("/api/nowhere")).status, 404);
  } finally {
    await f.close();
  }
});

Deno.test("control plane: bad input answers 400 naming the field, and changes nothing", async () => {
  const f = await startControlFixture();
  try {
    const before = f.source.snapshot().processes.length;
    const cases: [string, RequestInit & { token?: boolean }, RegExp][] = [
      ["/api/events?limit=0", {}, /limit/],
      ["/api/processes/abc", {}, /pid/],
      [
        "/api/processes",
        { method: "POST", token: true, body: JSON.stringify({ workload: 5 }) },
        /workload/,
      ],
      ["/api/processes", {
        method: "POST",
        token: true,
        body: JSON.stringify({ workload: "w.ts", threads: 0 }),
      }, /threads/],
      ["/api/processes", {
        method: "POST",
        token: true,
        body: JSON.stringify({ workload: "w.ts", color: "red" }),
      }, /color/],
      ["/api/policies", {
        method: "PUT",
        token: true,
        body: JSON.stringify({ kind: "x", name: "y" }),
      }, /kind/],
      ["/api/policies", {
        method: "PUT",
        token: true,
        body: JSON.stringify({ kind: "replacement-policy", name: "lru" }),
      }, /component/],
      ["/api/components/m0/drain", {
        method: "POST",
        token: true,
        body: JSON.stringify({ drained: "yes" }),
      }, /drained/],
    ];
    for (const [path, init, field] of cases) {
      const res = await f.request(path, init);
      assert.equal(res.status, 400, `${path} ${init.body ?? ""}`);
      const body = await res.json();
      assert.match(body.error, field, `${path}: ${body.error}`);
    }
    assert.equal(f.source.snapshot().processes.length, before);
  } finally {
    await f.close();
  }
});

Deno.test("control plane: mutations need the bearer token, and a refused one changes nothing", async () => {
  const f = await startControlFixture();
  try {
    const spawn = { method: "POST", body: JSON.stringify({ workload: workloadUrl("pattern.ts") }) };
    for (const token of [undefined, "wrong-token-wrong-token"]) {
      for (
        const [path, init] of [
          ["/api/processes", spawn],
          ["/api/processes/1", { method: "DELETE" }],
          ["/api/components/m0/drain", { method: "POST", body: "{}" }],
          ["/api/components/s0/stop", { method: "POST" }],
          ["/api/policies", {
            method: "PUT",
            body: JSON.stringify({ kind: "file-placement", name: "x" }),
          }],
        ] as const
      ) {
        const res = await f.request(path, { ...init, token });
        assert.equal(res.status, 401, `${path} with token ${token}`);
        assert.match((await res.json()).error, /bearer token/);
      }
    }
    assert.equal(f.source.snapshot().processes.length, 0);
    assert.ok(f.cluster.monitors.has("s0"), "a refused stop leaves the component running");
  } finally {
    await f.close();
  }
});

Deno.test("control plane: a process started over HTTP runs to its exit", async () => {
  const f = await startControlFixture();
  try {
    const res = await f.request("/api/processes", {
      method: "POST",
      token: true,
      body: JSON.stringify({ workload: workloadUrl("pattern.ts"), args: ["8"] }),
    });
    assert.equal(res.status, 201);
    const started = await res.json();
    assert.deepEqual([started.pid, started.processor, started.home], [1, "p0", "m0"]);
    await eventually(
      () => f.source.snapshot().processes[0]?.state === "exited",
      "the process to exit",
    );
    assert.equal(f.source.snapshot().processes[0].exitCode, 0);
  } finally {
    await f.close();
  }
});

Deno.test("control plane: stopping a component over HTTP takes it out of the cluster", async () => {
  const f = await startControlFixture(20);
  try {
    const res = await f.request("/api/components/s0/stop", { method: "POST", token: true });
    assert.equal(res.status, 202);
    await eventually(() => !f.cluster.monitors.has("s0"), "s0 to stop");
    await eventually(
      () => f.source.snapshot().components.find((c) => c.id === "s0")?.state === "down",
      "the managers to declare s0 down",
    );
    const down = await (await f.request("/api/events?type=component.down")).json();
    assert.equal(down.events[0].component, "s0");
    const self = await f.request("/api/components/gm/stop", { method: "POST", token: true });
    assert.equal(self.status, 400);
  } finally {
    await f.close();
  }
});

Deno.test("the OpenAPI document lists every route and its references resolve", async () => {
  const f = await startControlFixture();
  try {
    const doc = await (await f.request("/openapi.json")).json();
    assert.equal(doc.openapi, "3.0.0");
    const expected = {
      "/api/cluster": ["get"],
      "/api/snapshot": ["get"],
      "/api/components": ["get"],
      "/api/components/{id}": ["get"],
      "/api/components/{id}/drain": ["post"],
      "/api/components/{id}/stop": ["post"],
      "/api/processes": ["get", "post"],
      "/api/processes/{pid}": ["get", "delete"],
      "/api/processes/{pid}/address-space": ["get"],
      "/api/excache": ["get"],
      "/api/memory": ["get"],
      "/api/storage/files": ["get"],
      "/api/transport": ["get"],
      "/api/latency-model": ["get"],
      "/api/events": ["get"],
      "/api/policies": ["put"],
    };
    assert.deepEqual(Object.keys(doc.paths).sort(), Object.keys(expected).sort());
    for (const [path, methods] of Object.entries(expected)) {
      assert.deepEqual(Object.keys(doc.paths[path]).sort(), [...methods].sort(), path);
      for (const method of methods) {
        const op = doc.paths[path][method];
        assert.ok(op.responses && Object.keys(op.responses).length > 0, `${method} ${path}`);
        for (const name of path.match(/\{(\w+)\}/g) ?? []) {
          const param = name.slice(1, -1);
          assert.ok(
            op.parameters?.some((p: { name: string; in: string }) =>
              p.name === param && p.in === "path"
            ),
            `${method} ${path} declares ${param}`,
          );
        }
        if (method !== "get") {
          assert.deepEqual(op.security, [{ bearerAuth: [] }], `${method} ${path}`);
        }
      }
    }
    // Every $ref points at a schema that exists.
    const refs = JSON.stringify(doc).match(/"\$ref":"#\/components\/schemas\/[^"]+"/g) ?? [];
    assert.ok(refs.length > 5);
    for (const ref of refs) {
      const name = ref.split("/").pop()!.replace(/"$/, "");
      assert.ok(doc.components.schemas[name], `schema ${name} exists`);
    }
    assert.ok(doc.components.securitySchemes.bearerAuth);
  } finally {
    await f.close();
  }
});

Deno.test("a manager configured with `control` serves the control plane itself", async () => {
  const { startCluster } = await import("../../../../mod.ts");
  const cluster = await startCluster({
    name: "served",
    components: [
      { id: "gm", role: "manager", options: { control: { port: 0 } } },
      { id: "p0", role: "processor" },
      { id: "m0", role: "memory" },
      { id: "s0", role: "storage" },
    ],
  }, { log: () => {} });
  try {
    const url = (cluster.manager as unknown as { controlUrl?: string }).controlUrl;
    assert.ok(url?.startsWith("http://127.0.0.1:"), url);
    const summary = await (await fetch(`${url}/api/cluster`)).json();
    assert.equal(summary.name, "served");
    assert.equal(summary.components.up, 4);

    // The CLI's views read the same control plane.
    const { createStockRegistry, runCli } = await import("../../../../mod.ts");
    const out: string[] = [];
    const code = await runCli(["status", "--control", url!], {
      registry: createStockRegistry(),
      demo: { config: "", workload: "" },
      out: (line) => out.push(line),
      err: (line) => out.push(line),
    });
    assert.equal(code, 0, out.join("\n"));
    const text = out.join("\n");
    for (const id of ["gm", "p0", "m0", "s0"]) assert.match(text, new RegExp(`^${id}\\s`, "m"));
    const snapshot = await (await fetch(`${url}/api/snapshot`)).json();
    assert.equal(snapshot.components.length, 4);
  } finally {
    await cluster.stop();
  }
});
