/**
 * The contract suite every latency model passes (stock or user-written): call
 * {@link runLatencyModelContract} from a test file with the plugin definition.
 *
 * It checks what `kernel/latency.ts` promises: every cost is a finite number of
 * nanoseconds, never negative; moving more bytes never costs less; the model is a pure
 * function (the same question, the same answer); its roofline has two positive rates;
 * `describe()` gives each constant a finite value, a unit and a source.
 *
 * @example
 * ```ts ignore
 * import { runLatencyModelContract } from "./latency_contract.ts";
 * import { flatLatencyPlugin } from "../examples/plugins/flat_latency.ts";
 * runLatencyModelContract(flatLatencyPlugin);
 * ```
 *
 * @module
 */

import assert from "node:assert/strict";
import fc from "npm:fast-check@4.11.0";
import type { DeviceKind, DeviceOp, LatencyModel } from "../kernel/latency.ts";
import { type PluginDefinition, PluginRegistry } from "../kernel/plugins.ts";
import { checkRoofline } from "../kernel/roofline.ts";

const DEVICES: readonly DeviceKind[] = ["ssd", "ramdisk", "pmem", "dram"];
const OPS: readonly DeviceOp[] = ["read", "write", "flush"];
const bytes = fc.integer({ min: 0, max: 64 * 1024 * 1024 });

function cost(value: number, what: string): number {
  assert.ok(Number.isFinite(value) && value >= 0, `${what} = ${value}: expected finite ns >= 0`);
  return value;
}

/**
 * Registers the contract tests for a `latency-model` plugin, created with `options`.
 *
 * @example
 * ```ts ignore
 * import { runLatencyModelContract } from "./latency_contract.ts";
 * runLatencyModelContract(myModelPlugin, { rpcNs: 3000 });
 * ```
 */
export function runLatencyModelContract(
  // deno-lint-ignore no-explicit-any
  plugin: PluginDefinition<any, LatencyModel, any>,
  options: Record<string, unknown> = {},
): void {
  const name = plugin.name;
  const registry = new PluginRegistry().register(plugin);
  const create = () => registry.create<LatencyModel>("latency-model", name, options, {});

  Deno.test(`${name}: a latency-model plugin whose instances carry its name`, async () => {
    assert.equal(plugin.kind, "latency-model");
    const model = await create();
    assert.equal(model.name, name);
    checkRoofline(model.roofline(), name);
    const constants = model.describe();
    assert.ok(Object.keys(constants).length > 0, "describe() lists no constant");
    for (const [key, c] of Object.entries(constants)) {
      assert.ok(Number.isFinite(c.value), `${key}: value ${c.value}`);
      assert.ok(typeof c.unit === "string" && c.unit.length > 0, `${key}: no unit`);
      assert.ok(typeof c.source === "string" && c.source.length > 0, `${key}: no source`);
    }
  });

  Deno.test(`${name}: every cost is finite, non-negative and grows with the bytes moved`, async () => {
    const model = await create();
    fc.assert(
      fc.property(bytes, bytes, (a, b) => {
        const [small, large] = a <= b ? [a, b] : [b, a];
        for (const link of ["network", "loopback"] as const) {
          assert.ok(
            cost(model.messageNs(small, link), `messageNs(${small}, ${link})`) <=
              cost(model.messageNs(large, link), `messageNs(${large}, ${link})`),
            `messageNs(${link}) shrinks from ${small} to ${large} bytes`,
          );
        }
        for (const op of ["read", "write"] as const) {
          assert.ok(
            cost(model.oneSidedNs(op, small), `oneSidedNs(${op}, ${small})`) <=
              cost(model.oneSidedNs(op, large), `oneSidedNs(${op}, ${large})`),
            `oneSidedNs(${op}) shrinks from ${small} to ${large} bytes`,
          );
        }
        for (const device of DEVICES) {
          for (const op of OPS) {
            assert.ok(
              cost(model.deviceNs(device, op, small), `deviceNs(${device}, ${op}, ${small})`) <=
                cost(model.deviceNs(device, op, large), `deviceNs(${device}, ${op}, ${large})`),
              `deviceNs(${device}, ${op}) shrinks from ${small} to ${large} bytes`,
            );
          }
        }
      }),
      { seed: 9, numRuns: 200 },
    );
  });

  Deno.test(`${name}: the model is a pure function of its options`, async () => {
    const [a, b] = [await create(), await create()];
    for (const n of [0, 64, 4096, 1 << 20]) {
      assert.equal(a.messageNs(n), b.messageNs(n));
      assert.equal(a.messageNs(n), a.messageNs(n));
      assert.equal(a.oneSidedNs("read", n), b.oneSidedNs("read", n));
      for (const device of DEVICES) {
        for (const op of OPS) assert.equal(a.deviceNs(device, op, n), b.deviceNs(device, op, n));
      }
    }
    assert.deepEqual(a.describe(), b.describe());
  });
}
