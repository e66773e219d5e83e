/**
 * The placement-policy contracts: how the global managers decide where things go.
 *
 * Three plugin kinds, one per manager, each a plain object with one required method:
 * - `process-placement` (GPM): which processor component runs a new process;
 * - `vregion-placement` (GMM): which memory component owns a vRegion, and which one is
 *   the home of a new process;
 * - `file-placement` (GSM): which storage component holds a new file.
 *
 * The manager calls a policy only with {@link PlacementCandidate}s that are up and not
 * drained, in id order, never an empty list; the policy returns one of their ids. A
 * policy sees each candidate's latest heartbeat `load` (memory components report
 * `framesUsed`, `framesFree` and `requests`; processors report `threads`) and what the
 * managers themselves have placed there (`assigned`, always current, while a heartbeat
 * may be a period old). Policies may keep state (a round-robin cursor); they must not
 * throw for any list of candidates the manager hands them.
 *
 * A vRegion policy that needs figures as of the decision sets `figures: "current"` (or the
 * manager's `vregionFigures` option does): the manager then asks every memory candidate
 * for its load (`MGR_QUERY` `load`) right before calling it, and `load` holds the answer
 * (a candidate that does not answer within a heartbeat period keeps its heartbeat figures).
 * When a vRegion is placed — at the `mmap` that first maps it, or at the first touch of
 * one of its pages — is the manager's `vregionPlacementAt` option ({@link PlacementTime}).
 *
 * @example
 * ```ts
 * import { z } from "npm:zod@4.6.7";
 * import { definePlugin } from "./plugins.ts";
 * import type { ProcessPlacementPolicy } from "./placement.ts";
 *
 * // Always the first processor in id order.
 * const firstProcessor = definePlugin({
 *   kind: "process-placement",
 *   name: "first",
 *   configSchema: z.strictObject({}),
 *   create: (): ProcessPlacementPolicy => ({
 *     name: "first",
 *     pickProcessor: (_request, candidates) => candidates[0].id,
 *   }),
 * });
 * console.assert(firstProcessor.kind === "process-placement");
 * ```
 *
 * @module
 */

import type { ComponentId, Role } from "./ids.ts";

/** What the managers have placed on one component (counted by the managers themselves). */
export interface AssignedCounts {
  /** Threads of running processes placed on this processor. */
  threads: number;
  /** Running processes placed on this processor. */
  processes: number;
  /** Running processes whose home is this memory component. */
  homes: number;
  /** vRegions this memory component owns. */
  vregions: number;
  /** Files this storage component holds. */
  files: number;
}

/** A component that may receive a placement, as a policy sees it. */
export interface PlacementCandidate {
  /** Component id. */
  readonly id: ComponentId;
  /** Its role (the one the policy places on). */
  readonly role: Role;
  /** What it announced when it joined (DRAM size, cache size, root directory, ...). */
  readonly capacity: Readonly<Record<string, unknown>>;
  /** The figures of its latest heartbeat (`{}` before the first one). */
  readonly load: Readonly<Record<string, unknown>>;
  /** What the managers have placed on it so far. */
  readonly assigned: Readonly<AssignedCounts>;
  /** When the managers last heard from it, epoch ms. */
  readonly lastSeenAt: number;
}

/** A new process to place. */
export interface ProcessPlacementRequest {
  /** The process id the manager assigned. */
  readonly pid: number;
  /** Threads it will run. */
  readonly threads: number;
}

/** A vRegion to place. */
export interface VregionPlacementRequest {
  /** The process the vRegion belongs to. */
  readonly pid: number;
  /** The vRegion index (`floor(vaddr / vregionBytes)`). */
  readonly vregion: number;
  /** The process's home memory component, when the manager knows it. */
  readonly home?: ComponentId;
}

/** A file to place. */
export interface FilePlacementRequest {
  /** The file's path as clients name it (with its vNode prefix, if any). */
  readonly path: string;
}

/**
 * A GPM policy (`process-placement` plugin instance).
 *
 * @example
 * ```ts
 * import type { ProcessPlacementPolicy } from "./placement.ts";
 * const last: ProcessPlacementPolicy = {
 *   name: "last",
 *   pickProcessor: (_request, candidates) => candidates[candidates.length - 1].id,
 * };
 * console.assert(last.name === "last");
 * ```
 */
export interface ProcessPlacementPolicy {
  /** The policy's plugin name, for listings and events. */
  readonly name: string;
  /** The processor (one of `candidates`) that runs the new process. */
  pickProcessor(
    request: ProcessPlacementRequest,
    candidates: readonly PlacementCandidate[],
  ): ComponentId;
}

/**
 * When the GMM places a vRegion: `"mmap"` — when the home first maps memory in it;
 * `"first-touch"` — when a page of it first reaches memory (a miss fetches it, or a dirty
 * line is written back), so the policy sees the cluster as it is then.
 */
export type PlacementTime = "mmap" | "first-touch";

/**
 * Which load figures a policy sees: `"heartbeat"` — each candidate's latest heartbeat (up to
 * a period old, no extra message); `"current"` — asked of every candidate at decision time.
 */
export type PlacementFigures = "heartbeat" | "current";

/**
 * A GMM policy (`vregion-placement` plugin instance).
 *
 * @example
 * ```ts
 * import type { VregionPlacementPolicy } from "./placement.ts";
 * // Every vRegion on its process's home when the home can take it.
 * const homeFirst: VregionPlacementPolicy = {
 *   name: "home-first",
 *   pickOwner: (request, candidates) =>
 *     candidates.find((c) => c.id === request.home)?.id ?? candidates[0].id,
 * };
 * console.assert(homeFirst.pickHome === undefined);
 * ```
 */
export interface VregionPlacementPolicy {
  /** The policy's plugin name. */
  readonly name: string;
  /** The memory component (one of `candidates`) that will own the vRegion. */
  pickOwner(
    request: VregionPlacementRequest,
    candidates: readonly PlacementCandidate[],
  ): ComponentId;
  /**
   * The figures this policy needs (default: the manager's `vregionFigures` option, itself
   * `"heartbeat"` by default). A capacity-aware policy sets `"current"`.
   */
  readonly figures?: PlacementFigures;
  /**
   * The home memory component of a new process. Without it the manager picks the
   * candidate homing the fewest running processes.
   */
  pickHome?(
    request: ProcessPlacementRequest,
    candidates: readonly PlacementCandidate[],
  ): ComponentId;
}

/**
 * A GSM policy (`file-placement` plugin instance). Asked once per file: the managers
 * remember where each file went.
 *
 * @example
 * ```ts
 * import type { FilePlacementPolicy } from "./placement.ts";
 * const first: FilePlacementPolicy = {
 *   name: "first",
 *   pickStorage: (_request, candidates) => candidates[0].id,
 * };
 * console.assert(first.name === "first");
 * ```
 */
export interface FilePlacementPolicy {
  /** The policy's plugin name. */
  readonly name: string;
  /** The storage component (one of `candidates`) that will hold the file. */
  pickStorage(
    request: FilePlacementRequest,
    candidates: readonly PlacementCandidate[],
  ): ComponentId;
}

/** What the manager hands every placement plugin's `create`. */
export interface PlacementContext {
  /** The manager component's id. */
  readonly manager: ComponentId;
  /** Seeded randomness in [0, 1), for policies that choose at random. */
  readonly prng: () => number;
}

/**
 * A numeric heartbeat figure of `candidate`, or `undefined` when it did not report a
 * finite number under that name.
 *
 * @example
 * ```ts
 * import { loadFigure, type PlacementCandidate } from "./placement.ts";
 * const m0 = {
 *   id: "m0",
 *   role: "memory",
 *   capacity: {},
 *   load: { framesFree: 12, note: "x" },
 *   assigned: { threads: 0, processes: 0, homes: 0, vregions: 0, files: 0 },
 *   lastSeenAt: 0,
 * } satisfies PlacementCandidate;
 * console.assert(loadFigure(m0, "framesFree") === 12);
 * console.assert(loadFigure(m0, "note") === undefined);
 * ```
 */
export function loadFigure(candidate: PlacementCandidate, name: string): number | undefined {
  const value = candidate.load[name];
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

/**
 * The candidate with the lowest `score` (ties go to the earlier candidate, i.e. the lower
 * id). `score` may return a tuple, compared element by element. Throws a `RangeError`
 * on an empty list.
 *
 * @example
 * ```ts
 * import { lowestBy } from "./placement.ts";
 * const picked = lowestBy([{ id: "a", n: 2 }, { id: "b", n: 1 }, { id: "c", n: 1 }], (c) => c.n);
 * console.assert(picked.id === "b");
 * ```
 */
export function lowestBy<T>(items: readonly T[], score: (item: T) => number | number[]): T {
  if (items.length === 0) throw new RangeError("lowestBy() needs at least one item");
  let best = items[0];
  let bestScore = [score(best)].flat();
  for (let i = 1; i < items.length; i++) {
    const s = [score(items[i])].flat();
    if (compareScores(s, bestScore) < 0) {
      best = items[i];
      bestScore = s;
    }
  }
  return best;
}

function compareScores(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    // NaN sorts last: a policy fed odd figures still picks something sensible.
    if (Number.isNaN(x) !== Number.isNaN(y)) return Number.isNaN(x) ? 1 : -1;
    if (x !== y && !Number.isNaN(x)) return x < y ? -1 : 1;
  }
  return 0;
}
