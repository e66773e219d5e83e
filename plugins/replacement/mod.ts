/**
 * The stock ExCache replacement policies (`"replacement-policy"` plugins): FIFO, LRU and
 * random, as LegoOS ships them, plus the contract every policy implements.
 *
 * @example
 * ```ts
 * import { replacementPolicyPlugins } from "./mod.ts";
 * console.assert(replacementPolicyPlugins.map((p) => p.name).join() === "fifo,lru,random");
 * ```
 *
 * @module
 */

import type { PluginDefinition } from "../../kernel/plugins.ts";
import { fifoPlugin } from "./fifo.ts";
import { lruPlugin } from "./lru.ts";
import type { ReplacementGeometry, ReplacementPolicy } from "../../kernel/replacement.ts";
import { randomPlugin } from "./random.ts";

export { createFifo, type FifoOptions, FifoOptionsSchema, fifoPlugin } from "./fifo.ts";
export { createLru, type LruOptions, LruOptionsSchema, lruPlugin } from "./lru.ts";
export {
  createRandom,
  mulberry32,
  type RandomOptions,
  RandomOptionsSchema,
  randomPlugin,
} from "./random.ts";
export {
  checkGeometry,
  checkVictimCall,
  type ReplacementGeometry,
  type ReplacementPolicy,
} from "../../kernel/replacement.ts";

/** Every stock replacement policy. */
export const replacementPolicyPlugins: readonly PluginDefinition<
  // deno-lint-ignore no-explicit-any
  any,
  ReplacementPolicy,
  ReplacementGeometry
>[] = [
  fifoPlugin,
  lruPlugin,
  randomPlugin,
];
