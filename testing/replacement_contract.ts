/**
 * The contract suite every replacement policy passes (stock or user-written): run it
 * from a test file with the policy's plugin definition.
 *
 * It checks what the ExCache relies on: a victim is always one of the candidates, the
 * same calls give the same victims (runs are repeatable), bad calls fail with `EINVAL`
 * instead of returning nonsense, and the plugin is well formed. The calls include random
 * accesses (referenced bits set) that the policy may read and clear.
 *
 * @example
 * ```ts ignore
 * import { runPolicyContract } from "./replacement_contract.ts";
 * import { fifoPlugin } from "../plugins/replacement/fifo.ts";
 * runPolicyContract(fifoPlugin);
 * ```
 *
 * @module
 */

import assert from "node:assert/strict";
import fc from "npm:fast-check@4.11.0";
import { KernelError } from "../kernel/errors.ts";
import { type PluginDefinition, PluginRegistry } from "../kernel/plugins.ts";
import {
  ReferencedBitArray,
  type ReplacementGeometry,
  type ReplacementPolicy,
  UNREFERENCED,
} from "../kernel/replacement.ts";

type Op =
  | { op: "filled"; set: number; way: number }
  | { op: "removed"; set: number; way: number }
  | { op: "accessed"; set: number; way: number }
  | { op: "victim"; set: number; mask: number; uses: number[] };

const geometries = fc.record({
  sets: fc.integer({ min: 1, max: 4 }),
  ways: fc.integer({ min: 1, max: 8 }),
});

function opsFor(geometry: ReplacementGeometry): fc.Arbitrary<Op[]> {
  const set = fc.integer({ min: 0, max: geometry.sets - 1 });
  const way = fc.integer({ min: 0, max: geometry.ways - 1 });
  return fc.array(
    fc.oneof(
      fc.record({ op: fc.constant("filled" as const), set, way }),
      fc.record({ op: fc.constant("removed" as const), set, way }),
      fc.record({ op: fc.constant("accessed" as const), set, way }),
      fc.record({
        op: fc.constant("victim" as const),
        set,
        mask: fc.integer({ min: 1, max: 2 ** geometry.ways - 1 }),
        uses: fc.array(fc.integer({ min: 0, max: 50 }), {
          minLength: geometry.ways,
          maxLength: geometry.ways,
        }),
      }),
    ),
    { maxLength: 60 },
  );
}

/** Runs `ops` on a fresh instance; returns the victims it chose. */
function replay(
  create: (geometry: ReplacementGeometry) => ReplacementPolicy,
  geometry: ReplacementGeometry,
  ops: readonly Op[],
): number[] {
  const policy = create(geometry);
  const bits = new ReferencedBitArray(geometry);
  const victims: number[] = [];
  for (const op of ops) {
    if (op.op === "filled") {
      bits.set(op.set, op.way); // as the ExCache does: a fill is for an access
      policy.filled(op.set, op.way);
    } else if (op.op === "removed") policy.removed(op.set, op.way);
    else if (op.op === "accessed") bits.set(op.set, op.way);
    else {
      const candidates = [...Array(geometry.ways).keys()].filter((w) => (op.mask >> w) & 1);
      const victim = policy.victim(op.set, candidates, (w) => op.uses[w], bits.of(op.set));
      assert.ok(candidates.includes(victim), `victim ${victim} is not among ${candidates}`);
      victims.push(victim);
    }
  }
  return victims;
}

/**
 * Registers the contract tests for `plugin` (a `"replacement-policy"` plugin definition).
 *
 * @example
 * ```ts ignore
 * import { runPolicyContract } from "./replacement_contract.ts";
 * import { lruPlugin } from "../plugins/replacement/lru.ts";
 * runPolicyContract(lruPlugin);
 * ```
 */
export function runPolicyContract(
  // deno-lint-ignore no-explicit-any
  plugin: PluginDefinition<any, ReplacementPolicy, ReplacementGeometry>,
): void {
  const registry = new PluginRegistry().register(plugin);
  const parsed = registry.parseOptions("replacement-policy", plugin.name, {});
  const create = (geometry: ReplacementGeometry) =>
    plugin.create(parsed, geometry) as ReplacementPolicy;
  const name = plugin.name;

  Deno.test(`${name}: the plugin is a replacement-policy whose instances carry its name`, () => {
    assert.equal(plugin.kind, "replacement-policy");
    const policy = create({ sets: 2, ways: 4 });
    assert.equal(policy.name, name);
    assert.equal(typeof policy.needsRecency, "boolean");
    assert.throws(
      () => registry.parseOptions("replacement-policy", name, { noSuchOption: 1 }),
      /noSuchOption/,
    );
  });

  Deno.test(`${name}: victim() always returns one of the candidates`, () => {
    fc.assert(
      fc.property(geometries.chain((g) => fc.tuple(fc.constant(g), opsFor(g))), ([g, ops]) => {
        replay(create, g, ops);
      }),
      { seed: 5, numRuns: 200 },
    );
  });

  Deno.test(`${name}: the same calls give the same victims`, () => {
    fc.assert(
      fc.property(geometries.chain((g) => fc.tuple(fc.constant(g), opsFor(g))), ([g, ops]) => {
        assert.deepEqual(replay(create, g, ops), replay(create, g, ops));
      }),
      { seed: 6, numRuns: 100 },
    );
  });

  Deno.test(`${name}: a single candidate is the victim`, () => {
    const policy = create({ sets: 1, ways: 8 });
    for (let way = 0; way < 8; way++) policy.filled(0, way);
    for (let way = 0; way < 8; way++) {
      assert.equal(policy.victim(0, [way], () => 0, UNREFERENCED), way);
    }
  });

  Deno.test(`${name}: bad calls fail with EINVAL instead of choosing nonsense`, () => {
    const policy = create({ sets: 2, ways: 4 });
    const einval = (e: unknown) => e instanceof KernelError && e.code === "EINVAL";
    assert.throws(() => policy.victim(0, [], () => 0, UNREFERENCED), einval);
    assert.throws(() => policy.victim(2, [0], () => 0, UNREFERENCED), einval);
    assert.throws(() => policy.victim(-1, [0], () => 0, UNREFERENCED), einval);
    assert.throws(() => policy.victim(0, [4], () => 0, UNREFERENCED), einval);
    assert.throws(() => policy.victim(0, [0.5], () => 0, UNREFERENCED), einval);
    assert.throws(() => create({ sets: 0, ways: 4 }), einval);
    assert.throws(() => create({ sets: 1, ways: 1.5 }), einval);
  });
}
