/**
 * One process's virtual address space as the memory component sees it: its VMAs (sorted,
 * non-overlapping ranges with protection bits) and its program break.
 *
 * Follows Linux semantics where it matters for correctness: page-aligned addresses,
 * lengths rounded up to pages, `MAP_FIXED` replacing what was there, top-down placement
 * below {@link MMAP_BASE}, `brk` returning the old break when it cannot move.
 *
 * @module
 */

import { MAP_FIXED } from "../../kernel/abi.ts";
import { KernelError } from "../../kernel/errors.ts";
import { PAGE_SIZE } from "../../kernel/messages.ts";

/** Highest user address + 1 (x86-64 with 4-level paging). */
export const TASK_SIZE = 0x7ffffffff000;
/** Where top-down `mmap` placement starts. */
export const MMAP_BASE = 0x7f0000000000;
/** Start of the heap (`brk` area). */
export const HEAP_START = 0x10000000;

/** A virtual memory area `[start, end)`. */
export interface Vma {
  /** First byte (page-aligned). */
  start: number;
  /** One past the last byte (page-aligned). */
  end: number;
  /** `PROT_*` bits. */
  prot: number;
}

const pageUp = (n: number) => Math.ceil(n / PAGE_SIZE) * PAGE_SIZE;

/**
 * VMAs and break of one process.
 *
 * @example
 * ```ts
 * import { AddressSpace } from "./address_space.ts";
 * const as = new AddressSpace();
 * const addr = as.mmap(0, 8192, 3, 0x22);
 * console.assert(as.find(addr)?.end === addr + 8192);
 * ```
 */
export class AddressSpace {
  /** VMAs sorted by start. */
  readonly vmas: Vma[] = [];
  /** Current program break. */
  brk: number = HEAP_START;

  /** The VMA containing `addr`, if any. */
  find(addr: number): Vma | undefined {
    let lo = 0;
    let hi = this.vmas.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const vma = this.vmas[mid];
      if (addr < vma.start) hi = mid - 1;
      else if (addr >= vma.end) lo = mid + 1;
      else return vma;
    }
    return undefined;
  }

  /** Maps `length` bytes; returns the address. Throws `EINVAL`/`ENOMEM` as Linux does. */
  mmap(addr: number, length: number, prot: number, flags: number): number {
    if (length === 0) throw new KernelError("EINVAL", "mmap length is 0");
    const size = pageUp(length);
    if (size > TASK_SIZE) throw new KernelError("ENOMEM", `mmap length ${length} is too large`);
    if (flags & MAP_FIXED) {
      if (addr % PAGE_SIZE !== 0) {
        throw new KernelError("EINVAL", `MAP_FIXED address 0x${addr.toString(16)} is unaligned`);
      }
      if (addr + size > TASK_SIZE) {
        throw new KernelError("ENOMEM", "MAP_FIXED range is beyond the user address space");
      }
      this.unmap(addr, size);
      this.#insert({ start: addr, end: addr + size, prot });
      return addr;
    }
    // A free hint is honoured, as Linux does; otherwise place top-down.
    const hint = pageUp(addr);
    if (hint !== 0 && hint + size <= TASK_SIZE && this.#isFree(hint, hint + size)) {
      this.#insert({ start: hint, end: hint + size, prot });
      return hint;
    }
    let top = MMAP_BASE;
    for (let i = this.vmas.length - 1; i >= 0; i--) {
      const vma = this.vmas[i];
      if (vma.start >= top) continue;
      if (vma.end <= top - size) break;
      top = vma.start;
    }
    const start = top - size;
    if (start < this.brk) throw new KernelError("ENOMEM", "no free range of that size");
    this.#insert({ start, end: top, prot });
    return start;
  }

  /**
   * Removes `[addr, addr + length)` from the map, splitting VMAs at its edges.
   * Returns the removed ranges so the caller can free their frames.
   */
  unmap(addr: number, length: number): Vma[] {
    if (addr % PAGE_SIZE !== 0) {
      throw new KernelError("EINVAL", `munmap address 0x${addr.toString(16)} is unaligned`);
    }
    if (length === 0) throw new KernelError("EINVAL", "munmap length is 0");
    const end = addr + pageUp(length);
    const removed: Vma[] = [];
    const kept: Vma[] = [];
    for (const vma of this.vmas) {
      if (vma.end <= addr || vma.start >= end) {
        kept.push(vma);
        continue;
      }
      if (vma.start < addr) kept.push({ start: vma.start, end: addr, prot: vma.prot });
      if (vma.end > end) kept.push({ start: end, end: vma.end, prot: vma.prot });
      removed.push({
        start: Math.max(vma.start, addr),
        end: Math.min(vma.end, end),
        prot: vma.prot,
      });
    }
    this.vmas.splice(0, this.vmas.length, ...kept.sort((a, b) => a.start - b.start));
    return removed;
  }

  /**
   * Moves the break to `addr` (0 queries it). Like Linux `brk`, returns the new break on
   * success and the unchanged break when the request cannot be met. Returns the range
   * released by a shrink so the caller can free its frames.
   */
  setBrk(addr: number, prot: number): { brk: number; released?: Vma } {
    if (addr === 0 || addr < HEAP_START) return { brk: this.brk };
    const oldTop = pageUp(this.brk);
    const newTop = pageUp(addr);
    if (newTop > oldTop) {
      if (!this.#isFree(oldTop, newTop) || newTop > MMAP_BASE) return { brk: this.brk };
      this.#growHeap(oldTop, newTop, prot);
      this.brk = addr;
      return { brk: addr };
    }
    this.brk = addr;
    if (newTop < oldTop) {
      this.unmap(newTop, oldTop - newTop);
      return { brk: addr, released: { start: newTop, end: oldTop, prot } };
    }
    return { brk: addr };
  }

  #growHeap(from: number, to: number, prot: number): void {
    const heap = this.find(from - 1);
    if (heap && heap.start >= HEAP_START && heap.end === from && heap.prot === prot) {
      heap.end = to;
    } else {
      this.#insert({ start: from, end: to, prot });
    }
  }

  #isFree(start: number, end: number): boolean {
    return this.vmas.every((v) => v.end <= start || v.start >= end);
  }

  #insert(vma: Vma): void {
    let i = this.vmas.length;
    while (i > 0 && this.vmas[i - 1].start > vma.start) i--;
    this.vmas.splice(i, 0, vma);
  }
}
