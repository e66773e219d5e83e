/**
 * `linux-reclaim`: page reclaim as Linux 4.9 does it for anonymous memory, as a replacement
 * policy for the cache of a baseline machine (its local DRAM).
 *
 * Two lists per set, like the kernel's per-zone LRU lists (source L4 in `SOURCES.md`):
 * - new pages enter the head of the **inactive** list (a swapped-in page is added there);
 * - reclaim takes the inactive list's tail: a page referenced since it was last looked at
 *   (its hardware accessed bit) gets a second chance — it is **activated** (moved to the
 *   active list's head, bit cleared); an unreferenced one is evicted;
 * - whenever the active list outgrows the inactive one (for anonymous pages the kernel
 *   keeps `inactive × ratio ≥ active`, ratio 1 below 1 GB of memory) its tail is
 *   **deactivated** to the inactive head with its bit cleared, referenced or not (4.9
 *   protects only executable file pages there).
 *
 * The accessed bit is the cache's recency stamp: a page is referenced when its `lastUse`
 * is newer than when reclaim last cleared it. The access that faulted a page in counts,
 * as the faulting access sets the PTE's accessed bit in Linux; a page read ahead into the
 * swap cache (last use 0) is not referenced until it is touched. Pages the cache cannot
 * evict right now (pinned or busy) are rotated to the inactive head, as the kernel rotates
 * pages it cannot isolate.
 *
 * Simplifications, named: lists are per set (the cache is set-associative; choose many
 * ways to approach the kernel's global lists); every fill enters the inactive list (4.9
 * puts a first-touch anonymous page on the active list).
 *
 * @example
 * ```ts
 * import { createLinuxReclaim } from "./linux_reclaim.ts";
 * import { UNREFERENCED } from "../../kernel/replacement.ts";
 * const policy = createLinuxReclaim({ sets: 1, ways: 2 });
 * policy.filled(0, 0);
 * policy.filled(0, 1);
 * // Both pages were referenced by the faults that brought them in, so both are activated;
 * // way 0, activated first, is deactivated first and, unused since, is evicted.
 * const use = [1, 2];
 * console.assert(policy.victim(0, [0, 1], (w) => use[w], UNREFERENCED) === 0);
 * ```
 *
 * @module
 */

import { z } from "npm:zod@4.6.7";
import { definePlugin, type PluginDefinition } from "../../kernel/plugins.ts";
import type { Schema } from "../../kernel/zod_issues.ts";
import {
  checkGeometry,
  checkVictimCall,
  type ReplacementGeometry,
  type ReplacementPolicy,
} from "../../kernel/replacement.ts";

/** Options of `linux-reclaim`. */
export interface LinuxReclaimOptions {
  /**
   * Inactive-to-active ratio the kernel keeps for anonymous pages: `int_sqrt(10 × GB)`,
   * so 1 below 1 GB of memory and 3 at 1 GB (L4). Default 1 (the paper's 128–512 MB).
   */
  inactiveRatio: number;
}

/** Validates {@link LinuxReclaimOptions}. */
export const LinuxReclaimOptionsSchema: Schema<LinuxReclaimOptions> = z.strictObject({
  inactiveRatio: z.number().int().min(1).max(64).default(1).describe(
    "inactive:active ratio kept for anonymous pages (L4: int_sqrt(10 x GB))",
  ),
});

const NONE = 0;
const INACTIVE = 1;
const ACTIVE = 2;

/**
 * The policy for `geometry`.
 *
 * @example
 * ```ts
 * import { createLinuxReclaim } from "./linux_reclaim.ts";
 * import { UNREFERENCED } from "../../kernel/replacement.ts";
 * const p = createLinuxReclaim({ sets: 1, ways: 3 });
 * for (const w of [0, 1, 2]) p.filled(0, w);
 * console.assert([0, 1, 2].includes(p.victim(0, [0, 1, 2], () => 0, UNREFERENCED)));
 * ```
 */
export function createLinuxReclaim(
  geometry: ReplacementGeometry,
  options: Partial<LinuxReclaimOptions> = {},
): ReplacementPolicy {
  checkGeometry(geometry);
  const { sets, ways } = geometry;
  const ratio = options.inactiveRatio ?? 1;
  const slots = sets * ways;
  // Doubly linked lists through slot numbers (-1 ends a list), per set and per list.
  const next = new Int32Array(slots).fill(-1);
  const prev = new Int32Array(slots).fill(-1);
  const list = new Uint8Array(slots);
  const cleared = new Float64Array(slots).fill(-Infinity); // lastUse when the bit was cleared
  const head = new Int32Array(sets * 3).fill(-1);
  const tail = new Int32Array(sets * 3).fill(-1);
  const count = new Int32Array(sets * 3);
  const allowed = new Uint8Array(ways);

  const unlink = (set: number, slot: number) => {
    const l = set * 3 + list[slot];
    if (prev[slot] >= 0) next[prev[slot]] = next[slot];
    else head[l] = next[slot];
    if (next[slot] >= 0) prev[next[slot]] = prev[slot];
    else tail[l] = prev[slot];
    next[slot] = prev[slot] = -1;
    count[l]--;
    list[slot] = NONE;
  };
  const pushHead = (set: number, slot: number, which: number) => {
    const l = set * 3 + which;
    list[slot] = which;
    prev[slot] = -1;
    next[slot] = head[l];
    if (head[l] >= 0) prev[head[l]] = slot;
    else tail[l] = slot;
    head[l] = slot;
    count[l]++;
  };
  const move = (set: number, slot: number, which: number) => {
    unlink(set, slot);
    pushHead(set, slot, which);
  };

  return {
    name: "linux-reclaim",
    needsRecency: true,
    filled(set, way) {
      const slot = set * ways + way;
      if (list[slot] !== NONE) unlink(set, slot);
      // A fill for an access has a last use after 0 (the faulting access sets the accessed
      // bit); a page read ahead has last use 0: not referenced until something touches it.
      cleared[slot] = 0;
      pushHead(set, slot, INACTIVE);
    },
    removed(set, way) {
      const slot = set * ways + way;
      if (list[slot] !== NONE) unlink(set, slot);
    },
    victim(set, candidates, lastUse) {
      checkVictimCall(geometry, set, candidates);
      for (const way of candidates) allowed[way] = 1;
      const base = set * ways;
      const referenced = (slot: number) => {
        const use = lastUse(slot - base);
        if (use <= cleared[slot]) return false;
        cleared[slot] = use;
        return true;
      };
      let chosen = -1;
      // Every page is looked at a bounded number of times: each look clears its bit.
      for (let looks = 0; looks < 4 * ways + 4 && chosen < 0; looks++) {
        const active = set * 3 + ACTIVE;
        const inactive = set * 3 + INACTIVE;
        while (count[active] > 0 && count[inactive] * ratio < count[active]) {
          const slot = tail[active];
          referenced(slot); // deactivation clears the bit, referenced or not
          move(set, slot, INACTIVE);
        }
        const slot = tail[inactive];
        if (slot < 0) break;
        if (allowed[slot - base] === 0) move(set, slot, INACTIVE); // busy: rotate
        else if (referenced(slot)) move(set, slot, ACTIVE); // second chance
        else chosen = slot - base;
      }
      for (const way of candidates) allowed[way] = 0;
      // Nothing evictable found in the lists (e.g. every candidate keeps being used):
      // the oldest-used candidate goes.
      if (chosen < 0) {
        chosen = candidates[0];
        for (const way of candidates) if (lastUse(way) < lastUse(chosen)) chosen = way;
      }
      return chosen;
    },
  };
}

/** The `linux-reclaim` replacement-policy plugin. */
export const linuxReclaimPlugin: PluginDefinition<
  LinuxReclaimOptions,
  ReplacementPolicy,
  ReplacementGeometry
> = definePlugin({
  kind: "replacement-policy",
  name: "linux-reclaim",
  description: "Linux 4.9 page reclaim: active/inactive lists, second chance by accessed bit",
  configSchema: LinuxReclaimOptionsSchema,
  create: (options: LinuxReclaimOptions, geometry: ReplacementGeometry) =>
    createLinuxReclaim(geometry, options),
});
