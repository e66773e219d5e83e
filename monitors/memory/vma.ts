/**
 * Virtual memory areas (VMAs) and a sorted, non-overlapping list of them: the data
 * structure behind both a process's address space on its home memory component and the
 * part of it each vRegion owner enforces.
 *
 * VMA objects are never changed in place (every change replaces them), so a list can be
 * copied by copying its array: the address space computes a call on a copy and commits
 * it only when the call succeeds.
 *
 * Adjacent VMAs that Linux would merge are merged: same protection, same sharing, both
 * anonymous or the same file at contiguous offsets. (Linux sometimes refuses to merge two
 * anonymous areas that were each faulted in separately; legoemu always merges them.)
 *
 * @module
 */

import { MAP_SHARED, PROT_EXEC, PROT_READ, PROT_WRITE } from "../../kernel/abi.ts";

/** A virtual memory area `[start, end)`. */
export interface Vma {
  /** First byte (page-aligned). */
  readonly start: number;
  /** One past the last byte (page-aligned). */
  readonly end: number;
  /** `PROT_*` bits (read, write, exec). */
  readonly prot: number;
  /** Whether the mapping is `MAP_SHARED` (otherwise private). */
  readonly shared: boolean;
  /** The file it maps, `""` for anonymous memory. */
  readonly path: string;
  /** File offset of `start` (0 for anonymous memory). */
  readonly offset: number;
}

/**
 * `vma` cut to `[start, end)` (which must overlap it), the file offset moved along.
 *
 * @example
 * ```ts
 * import { clipVma } from "./vma.ts";
 * const v = { start: 0, end: 8192, prot: 3, shared: false, path: "f", offset: 0 };
 * console.assert(clipVma(v, 4096, 65536).offset === 4096);
 * ```
 */
export function clipVma(vma: Vma, start: number, end: number): Vma {
  const s = Math.max(vma.start, start);
  const e = Math.min(vma.end, end);
  if (s === vma.start && e === vma.end) return vma;
  return { ...vma, start: s, end: e, offset: vma.path === "" ? 0 : vma.offset + (s - vma.start) };
}

/**
 * Whether `b` directly follows `a` and Linux would merge the two.
 *
 * @example
 * ```ts
 * import { mergeable } from "./vma.ts";
 * const a = { start: 0, end: 4096, prot: 3, shared: false, path: "", offset: 0 };
 * console.assert(mergeable(a, { ...a, start: 4096, end: 8192 }));
 * ```
 */
export function mergeable(a: Vma, b: Vma): boolean {
  return a.end === b.start && a.prot === b.prot && a.shared === b.shared &&
    a.path === b.path && (a.path === "" || a.offset + (a.end - a.start) === b.offset);
}

/**
 * The `rwxp` permission string `/proc/<pid>/maps` shows for `vma`.
 *
 * @example
 * ```ts
 * import { permsOf } from "./vma.ts";
 * console.assert(permsOf({ prot: 1, shared: true }) === "r--s");
 * ```
 */
export function permsOf(vma: Pick<Vma, "prot" | "shared">): string {
  return (vma.prot & PROT_READ ? "r" : "-") + (vma.prot & PROT_WRITE ? "w" : "-") +
    (vma.prot & PROT_EXEC ? "x" : "-") + (vma.shared ? "s" : "p");
}

/**
 * Whether mapping flags ask for a shared mapping (`MAP_SHARED` or `MAP_SHARED_VALIDATE`).
 *
 * @example
 * ```ts
 * import { isSharedFlags } from "./vma.ts";
 * console.assert(isSharedFlags(0x01) && !isSharedFlags(0x22));
 * ```
 */
export function isSharedFlags(flags: number): boolean {
  return (flags & MAP_SHARED) !== 0;
}

/**
 * A sorted list of non-overlapping VMAs with merge-on-insert.
 *
 * @example
 * ```ts
 * import { VmaList } from "./vma.ts";
 * const list = new VmaList();
 * list.insert({ start: 0, end: 8192, prot: 3, shared: false, path: "", offset: 0 });
 * list.remove(4096, 8192);
 * console.assert(list.find(0)?.end === 4096 && list.find(4096) === undefined);
 * ```
 */
export class VmaList {
  /** The VMAs, sorted by start. Treat as read-only; change through the methods. */
  vmas: Vma[];

  /** A list holding `vmas` (which must be sorted and disjoint). */
  constructor(vmas: Vma[] = []) {
    this.vmas = vmas;
  }

  /** A copy that shares the (immutable) VMA objects. */
  clone(): VmaList {
    return new VmaList(this.vmas.slice());
  }

  /** Number of VMAs. */
  get length(): number {
    return this.vmas.length;
  }

  /** Index of the first VMA that ends after `addr` (`length` if none). */
  indexAfter(addr: number): number {
    let lo = 0;
    let hi = this.vmas.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.vmas[mid].end <= addr) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The VMA containing `addr`, if any. */
  find(addr: number): Vma | undefined {
    const vma = this.vmas[this.indexAfter(addr)];
    return vma !== undefined && vma.start <= addr ? vma : undefined;
  }

  /** Whether no VMA overlaps `[start, end)`. */
  isFree(start: number, end: number): boolean {
    const vma = this.vmas[this.indexAfter(start)];
    return vma === undefined || vma.start >= end;
  }

  /** Copies of the VMAs overlapping `[start, end)`, cut to it. */
  slice(start: number, end: number): Vma[] {
    const out: Vma[] = [];
    for (let i = this.indexAfter(start); i < this.vmas.length; i++) {
      const vma = this.vmas[i];
      if (vma.start >= end) break;
      out.push(clipVma(vma, start, end));
    }
    return out;
  }

  /** Removes `[start, end)`, splitting VMAs at its edges; returns the removed pieces. */
  remove(start: number, end: number): Vma[] {
    const first = this.indexAfter(start);
    let last = first;
    const removed: Vma[] = [];
    const kept: Vma[] = [];
    while (last < this.vmas.length && this.vmas[last].start < end) {
      const vma = this.vmas[last++];
      if (vma.start < start) kept.push(clipVma(vma, vma.start, start));
      removed.push(clipVma(vma, start, end));
      if (vma.end > end) kept.push(clipVma(vma, end, vma.end));
    }
    if (last > first || kept.length) this.vmas.splice(first, last - first, ...kept);
    return removed;
  }

  /** Inserts `vma` into free space (the caller checked) and merges it with its neighbours. */
  insert(vma: Vma): void {
    const at = this.indexAfter(vma.start);
    this.vmas.splice(at, 0, vma);
    this.#mergeSpan(at, at);
  }

  /**
   * Replaces whatever lies in `[start, end)` with `vmas` (each inside the range), merging
   * at the edges.
   */
  replace(start: number, end: number, vmas: readonly Vma[]): void {
    this.remove(start, end);
    const at = this.indexAfter(start);
    this.vmas.splice(at, 0, ...vmas);
    if (vmas.length) this.#mergeSpan(at, at + vmas.length - 1);
  }

  /** Merges VMAs `first..last` with each other and with their outer neighbours. */
  #mergeSpan(first: number, last: number): void {
    // Downwards, so a merged pair can merge again with the VMA before it.
    for (let i = Math.min(last, this.vmas.length - 2); i >= Math.max(first - 1, 0); i--) {
      if (mergeable(this.vmas[i], this.vmas[i + 1])) {
        this.vmas.splice(i, 2, { ...this.vmas[i], end: this.vmas[i + 1].end });
      }
    }
  }
}
