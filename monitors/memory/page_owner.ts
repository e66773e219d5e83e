/**
 * The owner side of a memory component: for every vRegion the global memory manager gave
 * it, the VMAs it must enforce (told by the process's home, `M2M_VMA_SET`) and the pages
 * themselves, in the hashed page table, the DRAM pool and, under pressure, swap.
 *
 * The page service (`fetch`, `flush`, `flushFetch`) is the hot path. When the page is
 * resident, or is fresh anonymous memory with a free frame at hand, it is served
 * synchronously with no allocation: the reply is a cached view of the frame (the RPC
 * layer copies it into the reply frame one microtask later, before any queued operation
 * can run). A never-written anonymous page reads as a shared zero page without taking a
 * frame (as Linux's zero page); its frame is allocated, zero-filled, on the first flush.
 *
 * Everything else — swap-in, swap-out, reading a file-backed page — is slow and async,
 * and runs through one {@link Serial} queue. While anything is queued there, every other
 * operation queues behind it, so the owner's state never changes under a slow operation
 * and operations complete in arrival order.
 *
 * Protection follows x86: any mapping but `PROT_NONE` can be read (fetched); a flush
 * needs `PROT_WRITE`. A fetch or flush outside the VMAs, or without the permission, is
 * `EFAULT` "segmentation fault"; a fetch of a file-backed page wholly beyond the end of
 * the file is `EFAULT` "bus error" (SIGBUS in Linux).
 *
 * @module
 */

import { PROT_WRITE } from "../../kernel/abi.ts";
import { KernelError } from "../../kernel/errors.ts";
import type { EventBus } from "../../kernel/events.ts";
import type { ComponentId } from "../../kernel/ids.ts";
import type { LatencyModel } from "../../kernel/latency.ts";
import { PAGE_SIZE } from "../../kernel/messages.ts";
import { chargeModel } from "../../kernel/model_time.ts";
import type { FramePool } from "./frame_pool.ts";
import { NO_PAGE, PageTable, slotOf, swapValue } from "./page_table.ts";
import { Serial } from "./serial.ts";
import type { StorageLink } from "./storage_link.ts";
import type { SwapArea } from "./swap.ts";
import { type Vma, VmaList } from "./vma.ts";

/** What a memory component does when its DRAM pool is full. */
export type OnFull = "swap" | "enomem";

/** Most pages one {@link PageOwner.readPages} reply carries (1 MiB of data). */
export const MAX_PAGES_PER_READ = 256;

/** Options of a {@link PageOwner}. */
export interface PageOwnerOptions {
  /** The component id, for messages. */
  id: ComponentId;
  /** The DRAM pool. */
  pool: FramePool;
  /** Where file-backed pages are read from. */
  storage: StorageLink;
  /** Spill cold pages to swap, or answer `ENOMEM`. */
  onFull: OnFull;
  /** The swap area (needed when `onFull` is `"swap"`). */
  swap?: SwapArea;
  /** Pages evicted together when the pool is full (written in one message when possible). */
  evictBatch: number;
  /** Cluster events (segmentation faults are reported there). */
  events?: EventBus;
  /** Charges copies of page data (in DRAM) to the request being served, when given. */
  latency?: LatencyModel;
  /**
   * Writes a page of a `MAP_SHARED` file mapping to its file (`offset` in the file). A
   * flush of such a page is acknowledged only once this has resolved; without it, shared
   * file pages stay in memory only.
   */
  writeShared?: (path: string, offset: number, page: Uint8Array) => Promise<void>;
}

/** Counters of the page service. */
export interface PageOwnerCounters {
  /** Fetches served (including zero pages). */
  fetches: number;
  /** Fetches answered with the shared zero page (never-written anonymous memory). */
  zeroFills: number;
  /** Flushes served. */
  flushes: number;
  /** Flush+fetch requests served in one round trip. */
  piggybacked: number;
  /** Fetches and flushes refused as segmentation faults (or bus errors). */
  segfaults: number;
  /** Page bytes received by flushes. */
  bytesIn: number;
  /** Page bytes sent by fetches. */
  bytesOut: number;
  /** Pages written to swap. */
  swapOuts: number;
  /** Pages read back from swap. */
  swapIns: number;
  /** File-backed pages read from storage. */
  fileReads: number;
  /** Pages of `MAP_SHARED` file mappings written to their file (on their flush). */
  sharedFileWrites: number;
  /** Pages copied or moved for `mremap` and `fork`. */
  pagesCopied: number;
}

interface OwnedProcess {
  /** The home that told us about this process. */
  home: ComponentId;
  /** The VMAs of this process inside the vRegions we own. */
  vmas: VmaList;
  /** Pages held (resident or swapped). */
  pages: number;
  /** Pages held per vRegion. */
  vregionPages: Map<number, number>;
}

/** The page a never-written anonymous page reads as; never written to. */
const ZERO_PAGE = new Uint8Array(PAGE_SIZE);

/**
 * The VMAs and pages this component owns, and the page service over them.
 *
 * @example
 * ```ts ignore
 * const owner = new PageOwner({ id: "m0", pool: new FramePool(1 << 20), storage, onFull: "enomem", evictBatch: 8 });
 * owner.setVmas(1, "m0", 0x10000, 0x20000, true, [{ start: 0x10000, end: 0x20000, prot: 3, shared: false, path: "", offset: 0 }]);
 * await owner.flush(1, 0x10000, page);
 * const back = await owner.fetch(1, 0x10000);
 * ```
 */
export class PageOwner {
  /** Size of a vRegion, for the per-vRegion counts (set from the manager's join reply). */
  vregionBytes: number = 2 ** 30;
  readonly #id: ComponentId;
  readonly #pool: FramePool;
  readonly #table: PageTable;
  readonly #storage: StorageLink;
  readonly #swap: SwapArea | undefined;
  readonly #latency: LatencyModel | undefined;
  readonly #onFull: OnFull;
  readonly #evictBatch: number;
  readonly #events: EventBus | undefined;
  readonly #writeShared: PageOwnerOptions["writeShared"];
  readonly #procs = new Map<number, OwnedProcess>();
  readonly #serial = new Serial();
  readonly #counts: PageOwnerCounters = {
    fetches: 0,
    zeroFills: 0,
    flushes: 0,
    piggybacked: 0,
    segfaults: 0,
    bytesIn: 0,
    bytesOut: 0,
    swapOuts: 0,
    swapIns: 0,
    fileReads: 0,
    sharedFileWrites: 0,
    pagesCopied: 0,
  };
  #hand = 0;

  /** An owner with nothing mapped. */
  constructor(options: PageOwnerOptions) {
    this.#id = options.id;
    this.#pool = options.pool;
    this.#storage = options.storage;
    this.#swap = options.swap;
    this.#latency = options.latency;
    this.#onFull = options.onFull;
    this.#evictBatch = Math.max(1, Math.min(options.evictBatch, options.pool.frames));
    this.#events = options.events;
    this.#writeShared = options.writeShared;
    // Room for every frame plus as many swapped pages before the table first grows.
    this.#table = new PageTable(2 * options.pool.frames);
  }

  /** A copy of the counters. */
  counters(): PageOwnerCounters {
    return { ...this.#counts };
  }

  /** Pages in swap. */
  get swappedPages(): number {
    return this.#swap?.used ?? 0;
  }

  /** Processes this component owns memory of. */
  get processes(): number {
    return this.#procs.size;
  }

  /** Pages held per process (resident or swapped). */
  pagesPerProcess(): Record<string, number> {
    return Object.fromEntries([...this.#procs].map(([pid, p]) => [String(pid), p.pages]));
  }

  /** The vRegions this component owns, with their home and page count. */
  ownedVregions(): { pid: number; vregion: number; home: ComponentId; pages: number }[] {
    const out: { pid: number; vregion: number; home: ComponentId; pages: number }[] = [];
    for (const [pid, proc] of this.#procs) {
      const vregions = new Set(proc.vregionPages.keys());
      for (const vma of proc.vmas.vmas) {
        const last = Math.floor((vma.end - 1) / this.vregionBytes);
        for (let v = Math.floor(vma.start / this.vregionBytes); v <= last; v++) vregions.add(v);
      }
      for (const vregion of [...vregions].sort((a, b) => a - b)) {
        out.push({ pid, vregion, home: proc.home, pages: proc.vregionPages.get(vregion) ?? 0 });
      }
    }
    return out;
  }

  /** The VMAs this component enforces for `pid` (within its vRegions). */
  vmasOf(pid: number): readonly Vma[] {
    return this.#procs.get(pid)?.vmas.vmas ?? [];
  }

  // ---- page service (hot path) ----

  /** Serves a fetch of the page at `vaddr`: its bytes (a view; copy before keeping). */
  fetch(pid: number, vaddr: number): Uint8Array | Promise<Uint8Array> {
    return this.fetchNow(pid, vaddr) ?? this.#serial.run(() => this.#fetchSlow(pid, vaddr));
  }

  /**
   * {@link PageOwner.fetch} when it needs no I/O and waits for nothing: the page's bytes
   * (a view), else undefined, having changed nothing (then `fetch` serves it).
   */
  fetchNow(pid: number, vaddr: number): Uint8Array | undefined {
    if (this.#serial.pending !== 0) return undefined;
    const vma = this.#access(pid, vaddr, false);
    const value = this.#table.get(pid, vaddr / PAGE_SIZE);
    if (!this.#atHand(value, vma)) return undefined;
    return value === NO_PAGE ? this.#zeroServed() : this.#served(value);
  }

  /**
   * Whether a page of `vma` whose page-table value is `value` is served with no I/O: it
   * is in a frame, or it is anonymous memory never touched (zeros).
   */
  #atHand(value: number, vma: Vma): boolean {
    return (value >= 0 && value !== NO_PAGE) || (value === NO_PAGE && vma.path === "");
  }

  /** Serves a flush: `page` becomes the content of the page at `vaddr`. */
  flush(pid: number, vaddr: number, page: Uint8Array): void | Promise<void> {
    if (this.#serial.pending === 0 && this.#flushFast(pid, vaddr, page)) return;
    const copy = page.slice(); // the request's bytes may not outlive this call
    return this.#serial.run(() => this.#flushSlow(pid, vaddr, copy));
  }

  /**
   * {@link PageOwner.flush} when it needs no I/O and waits for nothing: true when done,
   * else false, having changed nothing (then `flush` serves it). An owner whose `flush`
   * does more (a persistent one logs every flush first) answers false.
   */
  flushNow(pid: number, vaddr: number, page: Uint8Array): boolean {
    return this.#serial.pending === 0 && this.#flushFast(pid, vaddr, page);
  }

  /**
   * {@link PageOwner.flushFetch} when neither half needs I/O or waits for anything: the
   * fetched page's bytes (a view), else undefined, having changed nothing (then
   * `flushFetch` serves it, and reports a fault of either half as it always does).
   */
  flushFetchNow(
    pid: number,
    flushVaddr: number,
    page: Uint8Array,
    fetchVaddr: number,
  ): Uint8Array | undefined {
    if (this.#serial.pending !== 0 || fetchVaddr % PAGE_SIZE !== 0) return undefined;
    // The fetch must be one fetchNow serves, checked before the flush changes anything.
    const vma = this.#procs.get(pid)?.vmas.find(fetchVaddr);
    if (vma === undefined || vma.prot === 0) return undefined;
    if (!this.#atHand(this.#table.get(pid, fetchVaddr / PAGE_SIZE), vma)) return undefined;
    if (!this.flushNow(pid, flushVaddr, page)) return undefined;
    this.#counts.piggybacked++;
    return this.fetchNow(pid, fetchVaddr);
  }

  /** A flush and a fetch in one request (the piggybacked miss of LegoOS). */
  flushFetch(
    pid: number,
    flushVaddr: number,
    page: Uint8Array,
    fetchVaddr: number,
  ): Uint8Array | Promise<Uint8Array> {
    if (this.#serial.pending === 0 && this.#flushFast(pid, flushVaddr, page)) {
      this.#counts.piggybacked++;
      return this.fetch(pid, fetchVaddr);
    }
    const copy = page.slice();
    return this.#serial.run(async () => {
      await this.#flushSlow(pid, flushVaddr, copy);
      this.#counts.piggybacked++;
      return await this.#fetchSlow(pid, fetchVaddr);
    });
  }

  /** Checks an access; returns the VMA or throws the segmentation fault. */
  #access(pid: number, vaddr: number, write: boolean): Vma {
    if (vaddr % PAGE_SIZE !== 0) {
      throw new KernelError("EINVAL", `page address 0x${vaddr.toString(16)} is not page-aligned`);
    }
    const vma = this.#procs.get(pid)?.vmas.find(vaddr);
    if (vma !== undefined && (write ? (vma.prot & PROT_WRITE) !== 0 : vma.prot !== 0)) return vma;
    return this.#segfault(pid, vaddr, write, vma === undefined ? "not mapped" : "protection");
  }

  #segfault(
    pid: number,
    vaddr: number,
    write: boolean,
    why: string,
    signal = "segmentation fault",
  ): never {
    this.#counts.segfaults++;
    this.#events?.emit("fault", {
      component: this.#id,
      data: { pid, vaddr, access: write ? "write" : "read", reason: why },
    });
    throw new KernelError(
      "EFAULT",
      `${signal}: pid ${pid} ${write ? "write" : "read"} at 0x${vaddr.toString(16)} (${why})`,
    );
  }

  #served(frame: number): Uint8Array {
    this.#pool.referenced[frame] = 1;
    this.#counts.fetches++;
    this.#counts.bytesOut += PAGE_SIZE;
    return this.#pool.page(frame);
  }

  #zeroServed(): Uint8Array {
    this.#counts.fetches++;
    this.#counts.zeroFills++;
    this.#counts.bytesOut += PAGE_SIZE;
    return ZERO_PAGE;
  }

  /** A flush that needs no I/O; false when it must take the slow path (nothing changed). */
  #flushFast(pid: number, vaddr: number, page: Uint8Array): boolean {
    const vma = this.#access(pid, vaddr, true);
    if (vma.shared && vma.path !== "" && this.#writeShared) return false; // the file too
    const vpn = vaddr / PAGE_SIZE;
    let frame = this.#table.get(pid, vpn);
    if (frame === NO_PAGE) {
      frame = this.#pool.allocate(false);
      if (frame < 0) return false;
      this.#install(pid, vpn, frame, true);
    } else if (frame < 0) {
      return false;
    }
    this.#pool.bytes.set(page, frame * PAGE_SIZE);
    this.#pool.referenced[frame] = 1;
    this.#counts.flushes++;
    this.#counts.bytesIn += PAGE_SIZE;
    return true;
  }

  async #flushSlow(pid: number, vaddr: number, page: Uint8Array): Promise<void> {
    const vma = this.#access(pid, vaddr, true);
    await this.#store(pid, vaddr / PAGE_SIZE, page);
    if (vma.shared && vma.path !== "" && this.#writeShared) {
      await this.#writeShared(vma.path, vma.offset + (vaddr - vma.start), page);
      this.#counts.sharedFileWrites++;
    }
    this.#counts.flushes++;
    this.#counts.bytesIn += PAGE_SIZE;
  }

  /** Makes `page` the content of page `vpn` of `pid`, taking a frame if needed. Slow path. */
  async #store(pid: number, vpn: number, page: Uint8Array): Promise<void> {
    const value = this.#table.get(pid, vpn);
    let frame = value;
    if (value === NO_PAGE || value < 0) {
      // The whole page is overwritten: a swapped copy need not be read back.
      frame = await this.#allocFrame(false);
      if (value < 0) {
        this.#swap!.release(slotOf(value));
        this.#install(pid, vpn, frame, false);
      } else {
        this.#install(pid, vpn, frame, true);
      }
    }
    this.#pool.bytes.set(page, frame * PAGE_SIZE);
    this.#pool.referenced[frame] = 1;
  }

  async #fetchSlow(pid: number, vaddr: number): Promise<Uint8Array> {
    const vma = this.#access(pid, vaddr, false);
    const vpn = vaddr / PAGE_SIZE;
    const value = this.#table.get(pid, vpn);
    if (value >= 0 && value !== NO_PAGE) return this.#served(value).slice();
    if (value < 0) return this.#served(await this.#swapIn(pid, vpn, value)).slice();
    if (vma.path === "") return this.#zeroServed();
    // A file-backed page touched for the first time: read it from the file.
    const frame = await this.#allocFrame(true);
    let data: Uint8Array;
    try {
      data = await this.#storage.read(vma.path, vma.offset + (vaddr - vma.start), PAGE_SIZE);
    } catch (e) {
      this.#pool.release(frame);
      throw e;
    }
    if (data.length === 0) {
      this.#pool.release(frame);
      this.#segfault(pid, vaddr, false, `beyond the end of "${vma.path}"`, "bus error");
    }
    this.#pool.bytes.set(data, frame * PAGE_SIZE);
    this.#install(pid, vpn, frame, true);
    this.#counts.fileReads++;
    return this.#served(frame).slice();
  }

  // ---- frames and swap ----

  /** Maps `frame` as page `vpn` of `pid`; `fresh` counts it as a new page of the process. */
  #install(pid: number, vpn: number, frame: number, fresh: boolean): void {
    this.#table.set(pid, vpn, frame);
    this.#pool.owner[frame] = pid;
    this.#pool.vpn[frame] = vpn;
    if (fresh) this.#countPage(pid, vpn, 1);
  }

  #countPage(pid: number, vpn: number, delta: number): void {
    const proc = this.#procs.get(pid);
    if (!proc) return;
    proc.pages += delta;
    const vregion = Math.floor((vpn * PAGE_SIZE) / this.vregionBytes);
    const n = (proc.vregionPages.get(vregion) ?? 0) + delta;
    if (n === 0) proc.vregionPages.delete(vregion);
    else proc.vregionPages.set(vregion, n);
  }

  /** A free frame, evicting cold pages to swap when the pool is full. Slow path only. */
  async #allocFrame(zero: boolean): Promise<number> {
    let frame = this.#pool.allocate(zero);
    if (frame >= 0) return frame;
    if (this.#onFull === "enomem" || this.#swap === undefined) {
      throw new KernelError(
        "ENOMEM",
        `${this.#id}: out of memory: the DRAM pool of ${this.#pool.frames} frames is full ` +
          `and this component answers ENOMEM instead of swapping (onFull: "enomem")`,
      );
    }
    await this.#evict();
    frame = this.#pool.allocate(zero);
    if (frame < 0) throw new KernelError("ENOMEM", `${this.#id}: no frame free after eviction`);
    return frame;
  }

  /**
   * Writes up to `evictBatch` cold pages (clock algorithm over the referenced bits) to
   * swap and frees their frames. Frames are freed only after storage acknowledged the
   * write, so a failed write loses nothing.
   */
  async #evict(): Promise<void> {
    const pool = this.#pool;
    const victims: number[] = [];
    for (
      let scanned = 0;
      victims.length < this.#evictBatch && scanned < 3 * pool.frames;
      scanned++
    ) {
      const frame = this.#hand;
      this.#hand = (frame + 1) % pool.frames;
      if (pool.owner[frame] === 0) continue; // free, or being filled by this operation
      if (pool.referenced[frame]) {
        pool.referenced[frame] = 0;
        continue;
      }
      if (!victims.includes(frame)) victims.push(frame);
    }
    if (victims.length === 0) {
      throw new KernelError("ENOMEM", `${this.#id}: no page can be evicted from the DRAM pool`);
    }
    const swap = this.#swap!;
    const slots = swap.allocate(victims.length);
    try {
      await swap.write(slots, (i) => pool.page(victims[i]));
    } catch (e) {
      for (const slot of slots) swap.release(slot);
      throw new KernelError(
        "EIO",
        `${this.#id}: cannot swap out to "${swap.path}": ${(e as Error).message}`,
      );
    }
    for (let i = 0; i < victims.length; i++) {
      const frame = victims[i];
      this.#table.set(pool.owner[frame], pool.vpn[frame], swapValue(slots[i]));
      pool.release(frame);
    }
    this.#counts.swapOuts += victims.length;
  }

  /** Brings a swapped page back into a frame. Slow path only. */
  async #swapIn(pid: number, vpn: number, value: number): Promise<number> {
    const frame = await this.#allocFrame(false);
    const slot = slotOf(value);
    try {
      await this.#swap!.read(slot, this.#pool.page(frame));
    } catch (e) {
      this.#pool.release(frame);
      throw new KernelError(
        "EIO",
        `${this.#id}: cannot swap in pid ${pid} page 0x${(vpn * PAGE_SIZE).toString(16)}: ${
          (e as Error).message
        }`,
      );
    }
    this.#swap!.release(slot);
    this.#install(pid, vpn, frame, false);
    this.#counts.swapIns++;
    return frame;
  }

  /** Drops one page-table value's frame or slot and counts the page gone. */
  #drop(pid: number, vpn: number, value: number): void {
    if (value >= 0) this.#pool.release(value);
    else this.#swap?.release(slotOf(value));
    this.#countPage(pid, vpn, -1);
  }

  /** The vpns `pid` holds in `[start, end)`, ascending, walking whichever is smaller. */
  #presentVpns(pid: number, start: number, end: number): number[] {
    const first = start / PAGE_SIZE;
    const last = end / PAGE_SIZE;
    const vpns: number[] = [];
    if (last - first <= this.#table.capacity) {
      for (let vpn = first; vpn < last; vpn++) {
        if (this.#table.get(pid, vpn) !== NO_PAGE) vpns.push(vpn);
      }
      return vpns;
    }
    this.#table.forEachOf(pid, (vpn) => {
      if (vpn >= first && vpn < last) vpns.push(vpn);
    });
    return vpns.sort((a, b) => a - b);
  }

  #freeRange(pid: number, start: number, end: number): number {
    const vpns = this.#presentVpns(pid, start, end);
    for (const vpn of vpns) this.#drop(pid, vpn, this.#table.delete(pid, vpn));
    return vpns.length;
  }

  /**
   * The frame holding page `vaddr` of `pid`, for a one-sided write straight into it (PMEM
   * access path 2): a never-written page gets a zero-filled frame, a swapped one is read
   * back. `EFAULT` as a flush would be (outside a writable VMA).
   */
  frameFor(pid: number, vaddr: number): Promise<number> {
    return this.#serial.run(async () => {
      this.#access(pid, vaddr, true);
      const vpn = vaddr / PAGE_SIZE;
      const value = this.#table.get(pid, vpn);
      if (value >= 0 && value !== NO_PAGE) return value;
      if (value < 0) return await this.#swapIn(pid, vpn, value);
      const vma = this.#procs.get(pid)!.vmas.find(vaddr)!;
      if (vma.path !== "") await this.#fetchSlow(pid, vaddr); // the file's bytes first
      else this.#install(pid, vpn, await this.#allocFrame(true), true);
      return this.#table.get(pid, vpn);
    });
  }

  /** Runs `op` now, or behind the slow operations queued before it. */
  #inOrder<T>(op: () => T | Promise<T>): T | Promise<T> {
    return this.#serial.pending === 0 ? op() : this.#serial.run(op);
  }

  // ---- VMAs and page moves (told by the home) ----

  /**
   * Replaces the VMAs of `pid` in `[start, end)` with `vmas` and drops pages: all of
   * them with `discard`, otherwise those no VMA covers any more. Returns pages dropped.
   */
  setVmas(
    pid: number,
    home: ComponentId,
    start: number,
    end: number,
    discard: boolean,
    vmas: readonly Vma[],
  ): number | Promise<number> {
    return this.#inOrder(() => {
      let proc = this.#procs.get(pid);
      if (!proc) {
        if (vmas.length === 0) return 0;
        proc = { home, vmas: new VmaList(), pages: 0, vregionPages: new Map() };
        this.#procs.set(pid, proc);
      }
      proc.home = home;
      proc.vmas.replace(start, end, vmas);
      let dropped = 0;
      if (discard) {
        dropped = this.#freeRange(pid, start, end);
      } else {
        // Drop only the gaps between the new VMAs.
        let at = start;
        for (const vma of [...vmas, { start: end, end }]) {
          if (vma.start > at) dropped += this.#freeRange(pid, at, vma.start);
          at = Math.max(at, vma.end);
        }
      }
      if (proc.vmas.length === 0 && proc.pages === 0) this.#procs.delete(pid);
      return dropped;
    });
  }

  /**
   * Copies out up to `maxPages` pages `pid` holds in `[start, end)` (never-touched pages
   * are skipped). `next` is where to continue; `end` when done.
   */
  readPages(
    pid: number,
    start: number,
    end: number,
    maxPages: number,
  ): Promise<{ addrs: number[]; data: Uint8Array; next: number }> {
    return this.#serial.run(async () => {
      const vpns = this.#presentVpns(pid, start, end);
      const taken = vpns.slice(0, Math.max(1, Math.min(maxPages, MAX_PAGES_PER_READ)));
      const data = new Uint8Array(taken.length * PAGE_SIZE);
      this.#chargeCopy("read", data.length);
      for (let i = 0; i < taken.length; i++) {
        const value = this.#table.get(pid, taken[i]);
        const into = data.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE);
        if (value >= 0) into.set(this.#pool.page(value));
        else await this.#swap!.read(slotOf(value), into);
      }
      const next = taken.length < vpns.length ? (taken[taken.length - 1] + 1) * PAGE_SIZE : end;
      return { addrs: taken.map((vpn) => vpn * PAGE_SIZE), data, next };
    });
  }

  /** Installs pages (4 KiB each, in order) at `addrs`; each must be inside a VMA of `pid`. */
  writePages(pid: number, addrs: readonly number[], data: Uint8Array): Promise<void> {
    if (data.length !== addrs.length * PAGE_SIZE) {
      return Promise.reject(
        new KernelError(
          "EINVAL",
          `${addrs.length} pages need ${addrs.length * PAGE_SIZE} bytes, got ${data.length}`,
        ),
      );
    }
    return this.#serial.run(async () => {
      this.#chargeCopy("write", data.length);
      for (let i = 0; i < addrs.length; i++) {
        const vaddr = addrs[i];
        if (vaddr % PAGE_SIZE !== 0 || !this.#procs.get(pid)?.vmas.find(vaddr)) {
          throw new KernelError(
            "EFAULT",
            `${this.#id}: page 0x${vaddr.toString(16)} of pid ${pid} is outside its VMAs here`,
          );
        }
        this.#counts.pagesCopied++;
        await this.#store(
          pid,
          vaddr / PAGE_SIZE,
          data.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE),
        );
      }
    });
  }

  /**
   * Copies (or with `move`, moves) the pages `pid` holds in `[from, from + length)` to
   * `[to, ...)` of `toPid`, both on this component. Returns the pages handled.
   */
  copyPages(
    pid: number,
    from: number,
    toPid: number,
    to: number,
    length: number,
    move: boolean,
  ): Promise<number> {
    return this.#serial.run(async () => {
      const vpns = this.#presentVpns(pid, from, from + length);
      const shift = (to - from) / PAGE_SIZE;
      if (vpns.length && !this.#procs.has(toPid)) {
        throw new KernelError("EFAULT", `${this.#id}: pid ${toPid} has no VMAs here to copy into`);
      }
      for (const vpn of vpns) {
        const target = vpn + shift;
        const old = this.#table.delete(toPid, target);
        if (old !== NO_PAGE) this.#drop(toPid, target, old);
        if (move) {
          const value = this.#table.delete(pid, vpn);
          this.#countPage(pid, vpn, -1);
          this.#table.set(toPid, target, value);
          if (value >= 0) {
            this.#pool.owner[value] = toPid;
            this.#pool.vpn[value] = target;
          }
          this.#countPage(toPid, target, 1);
        } else {
          this.#chargeCopy("read", PAGE_SIZE);
          this.#chargeCopy("write", PAGE_SIZE);
          const frame = await this.#allocFrame(false);
          // Allocation may have evicted the source: look it up again.
          const value = this.#table.get(pid, vpn);
          if (value >= 0) this.#pool.page(frame).set(this.#pool.page(value));
          else await this.#swap!.read(slotOf(value), this.#pool.page(frame));
          this.#install(toPid, target, frame, true);
        }
      }
      this.#counts.pagesCopied += vpns.length;
      return vpns.length;
    });
  }

  /** Charges the request being served a DRAM `op` of `bytes` (a page copy's half). */
  #chargeCopy(op: "read" | "write", bytes: number): void {
    if (this.#latency && bytes > 0) {
      chargeModel(this.#latency.deviceNs("dram", op, bytes), "service");
    }
  }

  /** Frees every page and VMA of `pid`. Returns the pages freed. */
  exit(pid: number): number | Promise<number> {
    return this.#inOrder(() => {
      if (!this.#procs.has(pid)) return 0;
      const entries: [number, number][] = [];
      this.#table.forEachOf(pid, (vpn, value) => entries.push([vpn, value]));
      for (const [vpn, value] of entries) {
        this.#table.delete(pid, vpn);
        this.#drop(pid, vpn, value);
      }
      this.#procs.delete(pid);
      return entries.length;
    });
  }
}
