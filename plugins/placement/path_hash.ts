/**
 * A GSM policy: a file goes where its path hashes (rendezvous hashing over the storage
 * components that are up), so any manager, even a restarted one with no memory of past
 * placements, sends a path to the same component while the set of components is the
 * same, and a component joining or leaving moves only the files it wins or held.
 *
 * @module
 */

import { definePlugin, type PluginDefinition } from "../../kernel/plugins.ts";
import { type FilePlacementPolicy, lowestBy } from "../../kernel/placement.ts";
import { type NoPlacementOptions, NoPlacementOptionsSchema } from "./_options.ts";

const utf8 = new TextEncoder();

/**
 * 32-bit FNV-1a of `text`'s UTF-8 bytes.
 *
 * @example
 * ```ts
 * import { fnv1a32 } from "./path_hash.ts";
 * console.assert(fnv1a32("") === 0x811c9dc5);
 * ```
 */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of utf8.encode(text)) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return hash >>> 0;
}

/**
 * Creates the policy.
 *
 * @example
 * ```ts
 * import { createPathHashPolicy } from "./path_hash.ts";
 * const assigned = { threads: 0, processes: 0, homes: 0, vregions: 0, files: 0 };
 * const s = (id: string) => ({ id, role: "storage" as const, capacity: {}, load: {}, assigned, lastSeenAt: 0 });
 * const a = createPathHashPolicy().pickStorage({ path: "data/x" }, [s("s0"), s("s1")]);
 * const b = createPathHashPolicy().pickStorage({ path: "data/x" }, [s("s0"), s("s1")]);
 * console.assert(a === b);
 * ```
 */
export function createPathHashPolicy(): FilePlacementPolicy {
  return {
    name: "path-hash",
    // Highest score wins; lowestBy wants the lowest, hence the minus.
    pickStorage: ({ path }, candidates) =>
      lowestBy(candidates, (c) => -fnv1a32(`${c.id}\u0000${path}`)).id,
  };
}

/** The policy as the `file-placement` plugin named `path-hash`. */
export const pathHashPlugin: PluginDefinition<NoPlacementOptions, FilePlacementPolicy> =
  definePlugin({
    kind: "file-placement",
    name: "path-hash",
    description: "where the file's path hashes (rendezvous hashing; needs no placement memory)",
    configSchema: NoPlacementOptionsSchema,
    create: () => createPathHashPolicy(),
  });
