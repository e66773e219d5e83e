/**
 * One process's virtual address space as its home memory component keeps it: the VMA
 * list and the program break, changed by `mmap`, `munmap`, `mremap`, `mprotect` and
 * `brk` with Linux semantics (checked against a real Linux run, see
 * `tests/fixtures/linux_mm/`).
 *
 * Each call returns the address Linux would return plus the {@link SpaceStep}s the home
 * must carry out on the vRegion owners: which ranges now hold different VMAs (and whether
 * their old pages are discarded), and which pages move (`mremap`). The calls change the
 * object they are called on, so the home runs them on a {@link AddressSpace.clone} and
 * keeps the clone only when the call succeeds: a failing call changes nothing.
 *
 * Deliberate differences from Linux (x86-64, 4-level paging):
 * - `MAP_FIXED` below `mmap_min_addr` (4096 here) is `EPERM` even for root;
 * - no overcommit accounting, no `RLIMIT_*`, no stack guard gap;
 * - `mremap` with old length 0 (duplicating a shared mapping) is `EINVAL`;
 * - `MAP_SHARED` anonymous memory behaves as private (there is no second process sharing
 *   it: `fork` copies); a writable `MAP_SHARED` file mapping writes its pages to the file
 *   when they are written back to memory (see `PageOwner`), not when the file is read;
 * - adjacent anonymous areas always merge (Linux keeps some apart, see `vma.ts`).
 *
 * @module
 */

import {
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_SHARED_VALIDATE,
  MREMAP_DONTUNMAP,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
} from "../../kernel/abi.ts";
import { KernelError } from "../../kernel/errors.ts";
import { PAGE_SIZE } from "../../kernel/messages.ts";
import { isSharedFlags, type Vma, VmaList } from "./vma.ts";

/** Highest user address + 1 (x86-64 with 4-level paging). */
export const TASK_SIZE = 0x7ffffffff000;
/** Where top-down `mmap` placement starts. */
export const MMAP_BASE = 0x7f0000000000;
/** Start of the heap (the initial program break). */
export const HEAP_START = 0x10000000;
/** Lowest address a mapping may use (`vm.mmap_min_addr` of the machine the table came from). */
export const MMAP_MIN_ADDR = 4096;
/** Most VMAs one process may have (`vm.max_map_count`). */
export const MAX_MAP_COUNT = 65530;

/** Semaphore protection bit (x86): accepted and ignored, as Linux does. */
const PROT_SEM = 0x8;
const PROT_GROWSDOWN = 0x01000000;
const PROT_GROWSUP = 0x02000000;
const PROT_RWX = PROT_READ | PROT_WRITE | PROT_EXEC;
/**
 * Flags `MAP_SHARED_VALIDATE` accepts: Linux's `LEGACY_MAP_MASK` (shared, private, fixed,
 * anonymous, 32bit, growsdown, denywrite, executable, locked, noreserve, populate,
 * nonblock, stack, hugetlb, huge-page sizes). Anything else (`MAP_SYNC`,
 * `MAP_FIXED_NOREPLACE`, unknown bits) is `EOPNOTSUPP` there.
 */
const KNOWN_MAP_FLAGS = 0x03 | MAP_FIXED | MAP_ANONYMOUS | 0x40 | 0x100 | 0x800 | 0x1000 |
  0x2000 | 0x4000 | 0x8000 | 0x10000 | 0x20000 | 0x40000 | 0xfc000000;

/**
 * What the home must do on the vRegion owners after a call, in order:
 * - `set`: the owners of `[start, end)` get the VMAs the home now has there; with
 *   `discard` every page in the range is dropped first (new memory reads as zeros);
 *   otherwise only pages no VMA covers any more are dropped;
 * - `copy`: the pages of `[from, from + length)` are copied to `[to, to + length)`.
 */
export type SpaceStep =
  | { readonly kind: "set"; readonly start: number; readonly end: number; discard: boolean }
  | { readonly kind: "copy"; readonly from: number; readonly to: number; readonly length: number };

/** The outcome of an address-space call. */
export interface SpaceResult {
  /** What the call returns (an address, or 0 for calls that return nothing). */
  addr: number;
  /** What the owners must do. */
  steps: SpaceStep[];
  /**
   * An error to report after the steps are carried out: Linux's `mprotect` changes the
   * areas before a hole and then fails with `ENOMEM`.
   */
  error?: KernelError;
}

const pageUp = (n: number) => Math.ceil(n / PAGE_SIZE) * PAGE_SIZE;
const hex = (n: number) => `0x${n.toString(16)}`;
const fail = (code: string, message: string): never => {
  throw new KernelError(code, message);
};

/**
 * The VMAs and break of one process, with Linux's address-space calls.
 *
 * @example
 * ```ts
 * import { AddressSpace } from "./address_space.ts";
 * const space = new AddressSpace();
 * const { addr } = space.mmap(0, 8192, 3, 0x22);
 * space.munmap(addr, 4096);
 * console.assert(space.vmas.find(addr) === undefined && space.vmas.find(addr + 4096) !== undefined);
 * ```
 */
export class AddressSpace {
  /** The VMAs. */
  vmas: VmaList;
  /** Current program break. */
  brk: number;
  /** Where the heap starts; `brk` never goes below it. */
  readonly startBrk: number;

  /** An empty address space whose heap starts at `startBrk`. */
  constructor(startBrk: number = HEAP_START, vmas: VmaList = new VmaList(), brk = startBrk) {
    this.startBrk = startBrk;
    this.vmas = vmas;
    this.brk = brk;
  }

  /** A copy to run a call on (cheap: VMA objects are shared, never changed in place). */
  clone(): AddressSpace {
    return new AddressSpace(this.startBrk, this.vmas.clone(), this.brk);
  }

  /**
   * `mmap(addr, length, prot, flags, fd = path, offset)`. An empty `path` needs
   * `MAP_ANONYMOUS`; with `MAP_ANONYMOUS` the path and offset are ignored.
   */
  mmap(
    addr: number,
    length: number,
    prot: number,
    flags: number,
    path = "",
    offset = 0,
  ): SpaceResult {
    const anonymous = (flags & MAP_ANONYMOUS) !== 0;
    if (!anonymous && path === "") {
      fail("EBADF", "mmap without MAP_ANONYMOUS needs a file (an empty path is no file)");
    }
    const type = flags & MAP_SHARED_VALIDATE;
    if (type === 0) fail("EINVAL", "mmap flags must include MAP_PRIVATE or MAP_SHARED");
    if (type === MAP_SHARED_VALIDATE) {
      if (anonymous) fail("EINVAL", "MAP_SHARED_VALIDATE cannot map anonymous memory");
      if (flags & ~KNOWN_MAP_FLAGS) {
        fail(
          "EOPNOTSUPP",
          `MAP_SHARED_VALIDATE with unknown flags ${hex(flags & ~KNOWN_MAP_FLAGS)}`,
        );
      }
    }
    if (length === 0) fail("EINVAL", "mmap length is 0");
    if (offset % PAGE_SIZE !== 0) fail("EINVAL", `mmap offset ${offset} is not page-aligned`);
    const len = pageUp(length);
    if (len > TASK_SIZE) fail("ENOMEM", `mmap length ${length} is larger than the address space`);
    if (!anonymous && offset + len > Number.MAX_SAFE_INTEGER) {
      fail("EOVERFLOW", `mmap offset ${offset} + length ${length} overflows`);
    }
    const noReplace = (flags & MAP_FIXED_NOREPLACE) !== 0;
    let start: number;
    if ((flags & MAP_FIXED) || noReplace) {
      if (addr % PAGE_SIZE !== 0) fail("EINVAL", `MAP_FIXED address ${hex(addr)} is unaligned`);
      if (addr > TASK_SIZE - len) {
        fail("ENOMEM", `MAP_FIXED range ${hex(addr)}+${len} is beyond the user address space`);
      }
      if (addr < MMAP_MIN_ADDR) {
        fail("EPERM", `MAP_FIXED address ${hex(addr)} is below mmap_min_addr (${MMAP_MIN_ADDR})`);
      }
      if (noReplace && !this.vmas.isFree(addr, addr + len)) {
        fail("EEXIST", `MAP_FIXED_NOREPLACE range ${hex(addr)}+${len} is already mapped`);
      }
      start = addr;
    } else {
      start = this.#unmappedArea(addr, len);
    }
    const end = start + len;
    this.vmas.remove(start, end);
    this.vmas.insert({
      start,
      end,
      prot: prot & PROT_RWX,
      shared: isSharedFlags(flags),
      path: anonymous ? "" : path,
      offset: anonymous ? 0 : offset,
    });
    this.#checkMapCount();
    return { addr: start, steps: [{ kind: "set", start, end, discard: true }] };
  }

  /** `munmap(addr, length)`: removes whatever is mapped there (nothing is fine). */
  munmap(addr: number, length: number): SpaceResult {
    if (addr % PAGE_SIZE !== 0) fail("EINVAL", `munmap address ${hex(addr)} is unaligned`);
    if (length === 0) fail("EINVAL", "munmap length is 0");
    const len = pageUp(length);
    if (len > TASK_SIZE || addr > TASK_SIZE - len) {
      fail("EINVAL", `munmap range ${hex(addr)}+${length} is beyond the user address space`);
    }
    const removed = this.vmas.remove(addr, addr + len);
    this.#checkMapCount();
    return { addr: 0, steps: discardSteps(removed) };
  }

  /**
   * `mprotect(addr, length, prot)`. As in Linux, a hole in the range fails with `ENOMEM`
   * after the areas before it were changed (the result carries both).
   */
  mprotect(addr: number, length: number, prot: number): SpaceResult {
    if (addr % PAGE_SIZE !== 0) fail("EINVAL", `mprotect address ${hex(addr)} is unaligned`);
    if (length === 0) return { addr: 0, steps: [] };
    const end = addr + pageUp(length);
    if (end > Number.MAX_SAFE_INTEGER) {
      fail("ENOMEM", `mprotect range ${hex(addr)}+${length} wraps`);
    }
    if (prot & (PROT_GROWSDOWN | PROT_GROWSUP)) {
      fail("EINVAL", "PROT_GROWSDOWN/PROT_GROWSUP need a growable mapping, and there is none");
    }
    if (prot & ~(PROT_RWX | PROT_SEM)) {
      fail("EINVAL", `mprotect prot ${hex(prot)} has unknown bits`);
    }
    // Walk the contiguous VMAs from addr; stop at the first hole.
    let at = addr;
    let hole = false;
    for (let i = this.vmas.indexAfter(addr); at < end; i++) {
      const vma = this.vmas.vmas[i];
      if (vma === undefined || vma.start > at) {
        hole = true;
        break;
      }
      at = Math.min(vma.end, end);
    }
    const error = hole
      ? new KernelError("ENOMEM", `mprotect range ${hex(addr)}+${length} is not fully mapped`)
      : undefined;
    if (error && at === addr) throw error;
    const changed = this.vmas.slice(addr, at).map((v) => ({ ...v, prot: prot & PROT_RWX }));
    this.vmas.replace(addr, at, changed);
    this.#checkMapCount();
    return { addr: 0, steps: [{ kind: "set", start: addr, end: at, discard: false }], error };
  }

  /** `mremap(old, oldLength, newLength, flags, newAddr)`: shrink, grow in place, or move. */
  mremap(
    old: number,
    oldLength: number,
    newLength: number,
    flags: number,
    newAddr = 0,
  ): SpaceResult {
    if (flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP)) {
      fail("EINVAL", `mremap flags ${hex(flags)} has unknown bits`);
    }
    const mayMove = (flags & MREMAP_MAYMOVE) !== 0;
    if ((flags & MREMAP_FIXED) && !mayMove) fail("EINVAL", "MREMAP_FIXED needs MREMAP_MAYMOVE");
    const dontUnmap = (flags & MREMAP_DONTUNMAP) !== 0;
    if (dontUnmap && (!mayMove || oldLength !== newLength)) {
      fail("EINVAL", "MREMAP_DONTUNMAP needs MREMAP_MAYMOVE and an unchanged length");
    }
    if (old % PAGE_SIZE !== 0) fail("EINVAL", `mremap address ${hex(old)} is unaligned`);
    let oldLen = pageUp(oldLength);
    const newLen = pageUp(newLength);
    if (newLen === 0) fail("EINVAL", "mremap new length is 0");
    const fixed = (flags & MREMAP_FIXED) !== 0;
    if (fixed) {
      if (newAddr % PAGE_SIZE !== 0) {
        fail("EINVAL", `mremap new address ${hex(newAddr)} is unaligned`);
      }
      if (newLen > TASK_SIZE || newAddr > TASK_SIZE - newLen) {
        fail("EINVAL", `mremap target ${hex(newAddr)}+${newLen} is beyond the user address space`);
      }
      if (old + oldLen > newAddr && newAddr + newLen > old) {
        fail("EINVAL", "mremap source and MREMAP_FIXED target overlap");
      }
    }
    const vma = this.vmas.find(old) ??
      fail("EFAULT", `mremap address ${hex(old)} is not mapped`);
    if (oldLen === 0) {
      fail("EINVAL", "mremap of old length 0 (duplicating a shared mapping) is not supported");
    }
    if (oldLen > vma.end - old) {
      fail("EFAULT", `mremap range ${hex(old)}+${oldLength} is not inside one mapping`);
    }
    const steps: SpaceStep[] = [];
    if (fixed || dontUnmap) {
      if (oldLen > newLen) {
        steps.push(...discardSteps(this.vmas.remove(old + newLen, old + oldLen)));
        oldLen = newLen;
      }
      const target = fixed ? newAddr : this.#unmappedArea(newAddr, newLen);
      return this.#move(vma, old, oldLen, target, newLen, dontUnmap, steps);
    }
    if (oldLen === newLen) return { addr: old, steps };
    if (newLen < oldLen) {
      return { addr: old, steps: discardSteps(this.vmas.remove(old + newLen, old + oldLen)) };
    }
    const growFrom = old + oldLen;
    const growTo = old + newLen;
    if (growFrom === vma.end && growTo <= TASK_SIZE && this.vmas.isFree(growFrom, growTo)) {
      this.vmas.insert({
        ...vma,
        start: growFrom,
        end: growTo,
        offset: vma.path === "" ? 0 : vma.offset + (growFrom - vma.start),
      });
      return { addr: old, steps: [{ kind: "set", start: growFrom, end: growTo, discard: true }] };
    }
    if (!mayMove) {
      fail("ENOMEM", `mremap cannot grow ${hex(old)} in place and MREMAP_MAYMOVE is not set`);
    }
    return this.#move(vma, old, oldLen, this.#unmappedArea(0, newLen), newLen, false, steps);
  }

  /**
   * `brk(addr)`: moves the break and returns the new one, or returns the unchanged break
   * when it cannot move (below the heap start, into a mapping, out of VMAs); 0 queries.
   * Like Linux, growth needs one free page above the new break.
   */
  setBrk(addr: number): SpaceResult {
    const unchanged = { addr: this.brk, steps: [] };
    if (addr < this.startBrk) return unchanged;
    const oldTop = pageUp(this.brk);
    const newTop = pageUp(addr);
    if (newTop === oldTop) {
      this.brk = addr;
      return { addr, steps: [] };
    }
    if (newTop < oldTop) {
      const removed = this.vmas.remove(newTop, oldTop);
      if (this.vmas.length > MAX_MAP_COUNT) return unchanged;
      this.brk = addr;
      return { addr, steps: discardSteps(removed) };
    }
    if (newTop + PAGE_SIZE > TASK_SIZE || !this.vmas.isFree(oldTop, newTop + PAGE_SIZE)) {
      return unchanged;
    }
    if (this.vmas.length >= MAX_MAP_COUNT) return unchanged;
    this.vmas.insert({
      start: oldTop,
      end: newTop,
      prot: PROT_READ | PROT_WRITE,
      shared: false,
      path: "",
      offset: 0,
    });
    this.brk = addr;
    return { addr, steps: [{ kind: "set", start: oldTop, end: newTop, discard: true }] };
  }

  /** Moves `[old, old + oldLen)` of `vma` to `[target, target + newLen)`. */
  #move(
    vma: Vma,
    old: number,
    oldLen: number,
    target: number,
    newLen: number,
    dontUnmap: boolean,
    steps: SpaceStep[],
  ): SpaceResult {
    const piece = this.vmas.slice(old, old + oldLen)[0] ?? vma;
    if (!dontUnmap) this.vmas.remove(old, old + oldLen);
    this.vmas.remove(target, target + newLen);
    this.vmas.insert({ ...piece, start: target, end: target + newLen });
    this.#checkMapCount();
    steps.push(
      { kind: "set", start: target, end: target + newLen, discard: true },
      { kind: "copy", from: old, to: target, length: oldLen },
      { kind: "set", start: old, end: old + oldLen, discard: true },
    );
    return { addr: target, steps };
  }

  /** Linux's `get_unmapped_area`: a free hint (rounded down), else top-down, else above. */
  #unmappedArea(hint: number, len: number): number {
    let h = hint - (hint % PAGE_SIZE);
    if (h !== 0 && h < MMAP_MIN_ADDR) h = MMAP_MIN_ADDR;
    if (h !== 0 && len <= TASK_SIZE - h && this.vmas.isFree(h, h + len)) return h;
    const vmas = this.vmas.vmas;
    // Top-down from MMAP_BASE: the highest gap that fits.
    const above = this.vmas.indexAfter(MMAP_BASE);
    let top = Math.min(MMAP_BASE, vmas[above]?.start ?? MMAP_BASE);
    for (let i = above - 1; i >= -1; i--) {
      const low = i >= 0 ? Math.max(vmas[i].end, MMAP_MIN_ADDR) : MMAP_MIN_ADDR;
      if (top - low >= len) return top - len;
      if (i >= 0) top = Math.min(top, vmas[i].start);
    }
    // Bottom-up above MMAP_BASE.
    let low = MMAP_BASE;
    for (let i = this.vmas.indexAfter(MMAP_BASE); i <= vmas.length; i++) {
      const high = i < vmas.length ? vmas[i].start : TASK_SIZE;
      if (high - low >= len) return low;
      if (i < vmas.length) low = Math.max(low, vmas[i].end);
    }
    return fail("ENOMEM", `no free range of ${len} bytes in the address space`);
  }

  #checkMapCount(): void {
    if (this.vmas.length > MAX_MAP_COUNT) {
      fail("ENOMEM", `the call would need more than ${MAX_MAP_COUNT} mappings (vm.max_map_count)`);
    }
  }
}

/** `set` steps that discard each removed piece (adjacent pieces joined). */
function discardSteps(removed: readonly Vma[]): SpaceStep[] {
  const steps: { kind: "set"; start: number; end: number; discard: boolean }[] = [];
  for (const { start, end } of removed) {
    const last = steps[steps.length - 1];
    if (last && last.end === start) steps[steps.length - 1] = { ...last, end };
    else steps.push({ kind: "set", start, end, discard: true });
  }
  return steps;
}
