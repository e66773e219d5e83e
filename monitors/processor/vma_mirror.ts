/**
 * The processor's copy of a process's mapped ranges, kept from the replies of its own
 * address-space calls (the memory component stays the authority).
 *
 * The processor needs it for two things the memory component cannot do for it without a
 * message: deciding that a line of anonymous memory never written anywhere can be
 * zero-filled locally (p-local), and refusing a write to a read-only range before the
 * line is even fetched. An address the mirror does not know is simply asked of the memory
 * component, which answers with the page or a segmentation fault.
 *
 * @module
 */

import { LINE_BYTES } from "./layout.ts";

/** One mapped range `[start, end)`, page-aligned. */
export interface MirroredRange {
  /** First byte. */
  start: number;
  /** One past the last byte. */
  end: number;
  /** `PROT_*` bits. */
  prot: number;
  /** Whether a file backs it (its lines are never p-local). */
  file: boolean;
  /**
   * Whether its writes belong to the file (`MAP_SHARED` of a file): its dirty lines are
   * written back when it is unmapped or the process exits; those of any other mapping die
   * with it.
   */
  shared?: boolean;
}

/**
 * Rounds `bytes` up to a whole number of pages.
 *
 * @example
 * ```ts
 * import { pageUp } from "./vma_mirror.ts";
 * console.assert(pageUp(1) === 4096 && pageUp(8192) === 8192);
 * ```
 */
export function pageUp(bytes: number): number {
  return Math.ceil(bytes / LINE_BYTES) * LINE_BYTES;
}

/**
 * Sorted, non-overlapping mapped ranges with Linux-like replace/split semantics.
 *
 * @example
 * ```ts
 * import { VmaMirror } from "./vma_mirror.ts";
 * const vmas = new VmaMirror();
 * vmas.map(0x10000, 0x14000, 3, false);
 * vmas.unmap(0x11000, 0x12000);
 * console.assert(vmas.find(0x11000) === undefined && vmas.find(0x12000)?.prot === 3);
 * ```
 */
export class VmaMirror {
  #ranges: MirroredRange[] = [];

  /** The range holding `addr`, if any. */
  find(addr: number): MirroredRange | undefined {
    const ranges = this.#ranges;
    let lo = 0;
    let hi = ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const range = ranges[mid];
      if (addr < range.start) hi = mid - 1;
      else if (addr >= range.end) lo = mid + 1;
      else return range;
    }
    return undefined;
  }

  /** Maps `[start, end)`, replacing whatever was mapped there (like `MAP_FIXED`). */
  map(start: number, end: number, prot: number, file: boolean, shared = false): void {
    if (end <= start) return;
    this.unmap(start, end);
    const at = this.#ranges.findIndex((r) => r.start >= end);
    const range: MirroredRange = shared ? { start, end, prot, file, shared } : {
      start,
      end,
      prot,
      file,
    };
    this.#ranges.splice(at < 0 ? this.#ranges.length : at, 0, range);
  }

  /** Whether the dirty lines of `range` must reach memory before it goes away. */
  static keepsWrites(range: MirroredRange | undefined): boolean {
    return range?.file === true && range.shared === true;
  }

  /** Unmaps `[start, end)`, splitting ranges that straddle its edges. */
  unmap(start: number, end: number): void {
    if (end <= start) return;
    const kept: MirroredRange[] = [];
    for (const range of this.#ranges) {
      if (range.end <= start || range.start >= end) {
        kept.push(range);
        continue;
      }
      if (range.start < start) kept.push({ ...range, end: start });
      if (range.end > end) kept.push({ ...range, start: end });
    }
    this.#ranges = kept;
  }

  /** Sets the protection of the mapped parts of `[start, end)`. */
  protect(start: number, end: number, prot: number): void {
    const pieces = this.#ranges.filter((r) => r.start < end && r.end > start).map((r) => ({
      ...r,
      start: Math.max(r.start, start),
      end: Math.min(r.end, end),
      prot,
    }));
    for (const piece of pieces) {
      this.map(piece.start, piece.end, piece.prot, piece.file, piece.shared);
    }
  }

  /**
   * Mirrors an `mprotect` that failed with `ENOMEM` at a hole: as Linux does, the mapped
   * ranges from `start` up to the first hole got the new protection.
   */
  protectUntilHole(start: number, end: number, prot: number): void {
    let at = start;
    for (const range of this.#ranges) {
      if (range.end <= at) continue;
      if (range.start > at || at >= end) break;
      at = Math.min(range.end, end);
    }
    if (at > start) this.protect(start, at, prot);
  }

  /**
   * Mirrors a successful `mremap`: the mapping at `[oldStart, oldStart + oldLength)` now
   * lives at `[newStart, newStart + newLength)` with the same protection and backing.
   */
  remap(oldStart: number, oldLength: number, newStart: number, newLength: number): void {
    const template: Omit<MirroredRange, "start" | "end"> = this.find(oldStart) ??
      { prot: 3, file: false };
    this.unmap(oldStart, oldStart + pageUp(oldLength));
    this.map(
      newStart,
      newStart + pageUp(newLength),
      template.prot,
      template.file,
      template.shared,
    );
  }

  /** Every range, in address order (copies). */
  ranges(): MirroredRange[] {
    return this.#ranges.map((r) => ({ ...r }));
  }
}
