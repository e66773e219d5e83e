/**
 * GSM's stock policy: a new file goes to the storage component holding the fewest files
 * (as the managers count them), ties to the lower id.
 *
 * @module
 */

import { definePlugin, type PluginDefinition } from "../../kernel/plugins.ts";
import { type FilePlacementPolicy, lowestBy } from "../../kernel/placement.ts";
import { type NoPlacementOptions, NoPlacementOptionsSchema } from "./_options.ts";

/**
 * Creates the policy.
 *
 * @example
 * ```ts
 * import { createFewestFilesPolicy } from "./fewest_files.ts";
 * const none = { threads: 0, processes: 0, homes: 0, vregions: 0, files: 0 };
 * const s = (id: string, files: number) =>
 *   ({ id, role: "storage" as const, capacity: {}, load: {}, assigned: { ...none, files }, lastSeenAt: 0 });
 * const policy = createFewestFilesPolicy();
 * console.assert(policy.pickStorage({ path: "a.txt" }, [s("s0", 4), s("s1", 2)]) === "s1");
 * ```
 */
export function createFewestFilesPolicy(): FilePlacementPolicy {
  return {
    name: "fewest-files",
    pickStorage: (_request, candidates) => lowestBy(candidates, (c) => c.assigned.files).id,
  };
}

/** The policy as the `file-placement` plugin named `fewest-files`. */
export const fewestFilesPlugin: PluginDefinition<NoPlacementOptions, FilePlacementPolicy> =
  definePlugin({
    kind: "file-placement",
    name: "fewest-files",
    description: "the storage component holding the fewest files",
    configSchema: NoPlacementOptionsSchema,
    create: () => createFewestFilesPolicy(),
  });
