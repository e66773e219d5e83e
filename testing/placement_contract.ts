/**
 * The contract suite every placement policy passes (stock or user-written), for the three
 * kinds `process-placement`, `vregion-placement` and `file-placement`: call
 * {@link runPlacementPolicyContract} from a test file with the plugin definition.
 *
 * It checks what the managers rely on (see `kernel/placement.ts`): for any list of up
 * candidates (ids in order, any heartbeat figures, including none or nonsense), the
 * policy returns the id of one of them and never throws; the same calls with the same
 * seeded randomness give the same answers; and the plugin is well formed.
 *
 * @example
 * ```ts ignore
 * import { runPlacementPolicyContract } from "./placement_contract.ts";
 * import { roundRobinPlugin } from "../plugins/placement/round_robin.ts";
 * runPlacementPolicyContract(roundRobinPlugin);
 * ```
 *
 * @module
 */

import assert from "node:assert/strict";
import fc from "npm:fast-check@4.11.0";
import type { ComponentId, Role } from "../kernel/ids.ts";
import type {
  FilePlacementPolicy,
  PlacementCandidate,
  PlacementContext,
  ProcessPlacementPolicy,
  VregionPlacementPolicy,
} from "../kernel/placement.ts";
import { type PluginDefinition, PluginRegistry } from "../kernel/plugins.ts";
import { mulberry32 } from "../kernel/prng.ts";

type PlacementKind = "process-placement" | "vregion-placement" | "file-placement";
/** A placement policy of any of the three kinds. */
export type PlacementPolicy = ProcessPlacementPolicy | VregionPlacementPolicy | FilePlacementPolicy;

const ROLE: Record<PlacementKind, Role> = {
  "process-placement": "processor",
  "vregion-placement": "memory",
  "file-placement": "storage",
};

/** A heartbeat figure as a component might send it: a number, or junk. */
const figure = fc.oneof(
  fc.integer({ min: 0, max: 1 << 20 }),
  fc.double({ noNaN: false }),
  fc.constant(undefined),
  fc.string({ maxLength: 3 }),
);

function candidates(role: Role): fc.Arbitrary<PlacementCandidate[]> {
  return fc.array(
    fc.record({
      load: fc.record({
        framesFree: figure,
        framesUsed: figure,
        requests: figure,
        threads: figure,
        files: figure,
      }, { requiredKeys: [] }),
      capacity: fc.record({ dramBytes: figure, cacheBytes: figure }, { requiredKeys: [] }),
      assigned: fc.record({
        threads: fc.nat(64),
        processes: fc.nat(64),
        homes: fc.nat(64),
        vregions: fc.nat(4096),
        files: fc.nat(4096),
      }),
      lastSeenAt: fc.nat(),
    }),
    { minLength: 1, maxLength: 6 },
  ).map((list) =>
    list.map((c, i) => ({ id: `${role[0]}${i}` as ComponentId, role, ...c }) as PlacementCandidate)
  );
}

/** One request of `kind`, numbered `n`. */
function ask(
  kind: PlacementKind,
  policy: PlacementPolicy,
  n: number,
  list: readonly PlacementCandidate[],
): ComponentId {
  if (kind === "process-placement") {
    return (policy as ProcessPlacementPolicy).pickProcessor(
      { pid: n + 1, threads: 1 + n % 4 },
      list,
    );
  }
  if (kind === "vregion-placement") {
    const p = policy as VregionPlacementPolicy;
    if (n % 3 === 2 && p.pickHome) return p.pickHome({ pid: n + 1, threads: 1 }, list);
    return p.pickOwner({ pid: 1 + (n % 5), vregion: n, home: list[n % list.length].id }, list);
  }
  return (policy as FilePlacementPolicy).pickStorage({ path: `@u/f${n}` }, list);
}

/**
 * Registers the contract tests for a placement-policy plugin (any of the three kinds).
 *
 * @example
 * ```ts ignore
 * import { runPlacementPolicyContract } from "./placement_contract.ts";
 * runPlacementPolicyContract(myPackFullestPlugin);
 * ```
 */
export function runPlacementPolicyContract(
  // deno-lint-ignore no-explicit-any
  plugin: PluginDefinition<any, PlacementPolicy, PlacementContext>,
  options: Record<string, unknown> = {},
): void {
  const kind = plugin.kind as PlacementKind;
  const name = plugin.name;
  const registry = new PluginRegistry().register(plugin);
  const create = async (seed: number) =>
    await registry.create<PlacementPolicy>(
      kind,
      name,
      options,
      {
        manager: "gm",
        prng: mulberry32(seed),
      } satisfies PlacementContext,
    );

  Deno.test(`${name}: a placement plugin whose instances carry its name`, async () => {
    assert.ok(kind in ROLE, `kind ${kind} is not a placement kind`);
    const policy = await create(1);
    assert.equal(policy.name, name);
  });

  Deno.test(`${name}: always picks one of the candidates and never throws`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(candidates(ROLE[kind]), { minLength: 1, maxLength: 20 }),
        fc.nat(),
        async (lists, seed) => {
          const policy = await create(seed);
          lists.forEach((list, n) => {
            const id = ask(kind, policy, n, list);
            assert.ok(list.some((c) => c.id === id), `picked ${id} of ${list.map((c) => c.id)}`);
          });
        },
      ),
      { seed: 7, numRuns: 150 },
    );
  });

  Deno.test(`${name}: the same calls and seed give the same picks`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(candidates(ROLE[kind]), { minLength: 1, maxLength: 20 }),
        fc.nat(),
        async (lists, seed) => {
          const run = async () => {
            const policy = await create(seed);
            return lists.map((list, n) => ask(kind, policy, n, list));
          };
          assert.deepEqual(await run(), await run());
        },
      ),
      { seed: 8, numRuns: 80 },
    );
  });
}
