import assert from "node:assert/strict";
import fc from "fast-check";
import { ModelClock, WallClock } from "../../kernel/clock.ts";
import { KernelError } from "../../kernel/errors.ts";
import type { LatencyModel } from "../../kernel/latency.ts";
import { PluginError, PluginRegistry } from "../../kernel/plugins.ts";
import { latencyModelPlugins } from "../../plugins/latency/mod.ts";

const registry = new PluginRegistry();
for (const plugin of latencyModelPlugins) registry.register(plugin);

function model(name: string, options: unknown = {}): Promise<LatencyModel> {
  return registry.create<LatencyModel>("latency-model", name, options, {});
}

Deno.test("ModelClock advances only when charged, and rejects bad amounts", () => {
  const clock = new ModelClock();
  assert.equal(clock.nowNs(), 0);
  assert.equal(clock.advance(4630), 4630);
  assert.equal(clock.advance(0), 4630);
  for (const bad of [-1, NaN, Infinity]) {
    assert.throws(
      () => clock.advance(bad),
      (err: unknown) => err instanceof KernelError && err.code === "EINVAL",
    );
  }
  assert.equal(clock.nowNs(), 4630);
  assert.throws(() => new ModelClock(-5), KernelError);
});

Deno.test("ModelClock.fork() is independent and advanceTo() joins", () => {
  const clock = new ModelClock(100);
  const a = clock.fork();
  const b = clock.fork();
  a.advance(50);
  b.advance(200);
  assert.equal(clock.nowNs(), 100);
  clock.advanceTo(a.nowNs());
  clock.advanceTo(b.nowNs());
  clock.advanceTo(10); // earlier: no effect
  assert.equal(clock.nowNs(), 300);
});

Deno.test("WallClock counts real nanoseconds from zero", async () => {
  const clock = new WallClock();
  const t0 = clock.nowNs();
  await new Promise((resolve) => setTimeout(resolve, 5));
  const t1 = clock.nowNs();
  assert.ok(t0 >= 0 && t1 - t0 >= 4e6, `${t0} -> ${t1}`);
});

Deno.test("legoos-ib charges the Fig. 7 RPC points exactly", async () => {
  const m = await model("legoos-ib");
  assert.equal(m.name, "legoos-ib");
  const fig7: [number, number][] = [
    [128, 4630],
    [256, 4760],
    [512, 4900],
    [1024, 5350],
    [2048, 6050],
    [4096, 6520],
  ];
  for (const [bytes, ns] of fig7) assert.equal(m.messageNs(bytes), ns, `${bytes} B`);
  assert.equal(m.messageNs(0), 4630, "flat below the smallest point");
  assert.equal(m.messageNs(3072), (6050 + 6520) / 2, "linear between points");
  assert.equal(m.messageNs(8192), 6520 + 470 * 2, "the 2K->4K slope beyond 4 KB");
});

for (const name of ["legoos-ib", "ipoib"]) {
  Deno.test(`${name} is non-negative and monotonic in bytes for every operation`, async () => {
    assertMonotonic(await model(name));
  });
}

function assertMonotonic(m: LatencyModel): void {
  const costs: ((bytes: number) => number)[] = [
    (b) => m.messageNs(b),
    (b) => m.messageNs(b, "loopback"),
    (b) => m.oneSidedNs("read", b),
    (b) => m.oneSidedNs("write", b),
    ...(["ssd", "ramdisk", "pmem", "dram"] as const).flatMap((d) =>
      (["read", "write", "flush"] as const).map((op) => (b: number) => m.deviceNs(d, op, b))
    ),
  ];
  fc.assert(
    fc.property(
      fc.double({ min: 0, max: 1 << 26, noNaN: true }),
      fc.double({ min: 0, max: 1 << 26, noNaN: true }),
      (x, y) => {
        const [small, large] = x <= y ? [x, y] : [y, x];
        for (const cost of costs) {
          const a = cost(small);
          const b = cost(large);
          if (!(Number.isFinite(a) && a >= 0 && a <= b)) return false;
        }
        return true;
      },
    ),
    { numRuns: 300 },
  );
}

Deno.test("legoos-ib one-sided and device costs follow their sources", async () => {
  const m = await model("legoos-ib");
  assert.equal(m.oneSidedNs("read", 4096), 6190);
  assert.equal(m.oneSidedNs("write", 4096), 5520);
  assert.equal(m.oneSidedNs("write", 4), 1170);
  const beyond = m.oneSidedNs("read", 8192) - (6190 + 4096 * 8 / 40);
  assert.ok(Math.abs(beyond) < 1e-6, "grows at 40 Gbps beyond 4 KB");
  assert.equal(Math.round(m.deviceNs("ssd", "read", 4096)), 94340);
  assert.equal(m.deviceNs("ssd", "flush", 4096), 0);
  assert.equal(m.deviceNs("pmem", "read", 0), 305);
  assert.equal(m.deviceNs("pmem", "flush", 0), 62);
  assert.equal(m.deviceNs("dram", "read", 0), 101);
  assert.equal(m.roofline().flopsPerNs, 2.4 * 32, "E5-2620 v3: 2.4 GHz x 32 fp32 FLOP/cycle");
  assert.equal(m.roofline().bytesPerNs, 4 * 1.866 * 8 / 6, "4 x DDR4-1866 shared by 6 cores");
  assert.throws(() => m.messageNs(-1), KernelError);
  assert.throws(() => m.messageNs(NaN), KernelError);
});

Deno.test("legoos-ib describe() gives every constant a unit and a SOURCES.md key", async () => {
  const entries = Object.entries((await model("legoos-ib")).describe());
  assert.ok(entries.length >= 20);
  for (const [key, { value, unit, source }] of entries) {
    assert.ok(Number.isFinite(value) && value >= 0, key);
    assert.ok(unit.length > 0, key);
    assert.match(source, /^(A|R|N|L|C)\d\b/, `${key}: ${source}`);
  }
  const described = (await model("legoos-ib")).describe();
  assert.equal(described["rpcPoints.4096B"].value, 6520);
  assert.match(described["rpcPoints.4096B"].source, /^A2/);
});

Deno.test("legoos-ib options override constants and describe() says so", async () => {
  const m = await model("legoos-ib", {
    rpcPoints: [{ bytes: 0, ns: 2300 }],
    pmemFlushNs: 70,
  });
  assert.equal(m.messageNs(1 << 20), 2300);
  assert.equal(m.deviceNs("pmem", "flush", 0), 70);
  assert.match(m.describe().pmemFlushNs.source, /^options\.pmemFlushNs/);
  assert.match(m.describe()["rpcPoints.0B"].source, /^options\.rpcPoints/);
  await assert.rejects(
    model("legoos-ib", { rpcPoints: [{ bytes: 4096, ns: 1 }, { bytes: 128, ns: 2 }] }),
    (err: unknown) => err instanceof PluginError && err.path === "options.rpcPoints[1].bytes",
  );
});

Deno.test("ipoib charges Linux IPoIB round trips and one-sided access as RPC", async () => {
  const m = await model("ipoib");
  assert.equal(m.messageNs(128), 18_500);
  assert.equal(m.messageNs(4096), 23_800);
  assert.equal(m.oneSidedNs("read", 4096), 23_800);
  assert.ok(m.messageNs(4096) > (await model("legoos-ib")).messageNs(4096));
  for (const { source } of Object.values(m.describe())) assert.match(source, /^(A|R|N|L|C)\d\b/);
});
