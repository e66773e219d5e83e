/**
 * The buffer cache of a memory component: file `read`/`write` from processes go through
 * it (LegoOS routes them this way), 4 KiB pages of files held in a pool of its own.
 *
 * Reads are served from the cache when the page is there (a hit) and from storage
 * otherwise (`M2S_READ`, a miss). Writes are write-back: they dirty cached pages, which
 * reach storage (`M2S_WRITE`) on `fsync` (synchronously, on disk before the reply), on
 * close, when the writing process exits, and when a dirty page is evicted to make room.
 *
 * Consistency is close-to-open, like NFS: after a close the next access revalidates the
 * file (size and modification time from storage) and drops cached pages if someone else
 * changed it. Changes made directly on storage (a `P2S_OPEN` with `O_TRUNC`, another
 * component's cache) are not seen while the file stays open, and a `P2S_STAT` sent
 * straight to storage does not see writes still dirty here.
 *
 * All operations run one at a time (a {@link Serial} queue): file I/O is far from the
 * page-service hot path, and this keeps eviction and write-back simple and correct.
 *
 * @module
 */

import { KernelError } from "../../kernel/errors.ts";
import { PAGE_SIZE } from "../../kernel/messages.ts";
import { Serial } from "./serial.ts";
import type { StorageLink } from "./storage_link.ts";

/** Largest read or write one request may carry. */
export const MAX_FILE_IO_BYTES: number = 4 * 1024 * 1024;
/** Pages written back in one message at most (1 MiB). */
const WRITEBACK_RUN_PAGES = 256;

/** Counters of a {@link BufferCache}. */
export interface BufferCacheStats {
  /** Pages in the cache pool. */
  pages: number;
  /** Pages holding file data. */
  pagesUsed: number;
  /** Cached pages not yet written back. */
  dirtyPages: number;
  /** Files with cached state. */
  files: number;
  /** Page lookups served from the cache. */
  hits: number;
  /** Page lookups that went to storage (or were fresh pages past the end of file). */
  misses: number;
  /** Read requests served. */
  reads: number;
  /** Write requests served. */
  writes: number;
  /** Bytes returned by reads. */
  bytesRead: number;
  /** Bytes accepted by writes. */
  bytesWritten: number;
  /** Pages written back to storage. */
  writebacks: number;
  /** Pages evicted to make room. */
  evictions: number;
  /** Files whose cached pages were dropped because storage showed another change. */
  invalidations: number;
}

interface CachedFile {
  readonly path: string;
  /** Size including writes not yet written back. */
  size: number;
  /** Size on storage, as far as this cache knows: pages beyond it are not read from there. */
  storedSize: number;
  /** Modification time storage last reported. */
  mtimeMs: number;
  /** False after a close: the next access asks storage whether the file changed. */
  validated: boolean;
  /** Cached pages: page index → cache slot. */
  readonly pages: Map<number, number>;
  /** Indexes of dirty pages. */
  readonly dirty: Set<number>;
  /** Written to storage without a sync since the last fsync. */
  unsynced: boolean;
  /** Written to storage since `mtimeMs` was last read from there. */
  wroteSinceStat: boolean;
}

/**
 * A write-back cache of file pages.
 *
 * @example
 * ```ts ignore
 * const cache = new BufferCache(new StorageLink(rpc, "gm"), 8 << 20);
 * await cache.write(1, "notes.txt", 0, new TextEncoder().encode("hello"));
 * const text = await cache.read(1, "notes.txt", 0, 5);
 * await cache.fsync(1, "notes.txt");
 * ```
 */
export class BufferCache {
  readonly #storage: StorageLink;
  readonly #slots: number;
  readonly #bytes: Uint8Array;
  readonly #slotFile: (CachedFile | undefined)[];
  readonly #slotPage: Float64Array;
  readonly #referenced: Uint8Array;
  readonly #free: number[] = [];
  readonly #files = new Map<string, CachedFile>();
  readonly #written = new Map<number, Set<string>>();
  readonly #serial = new Serial();
  #hand = 0;
  readonly #counts = {
    hits: 0,
    misses: 0,
    reads: 0,
    writes: 0,
    bytesRead: 0,
    bytesWritten: 0,
    writebacks: 0,
    evictions: 0,
    invalidations: 0,
  };

  /** A cache of `bytes` (whole pages, at least one) over `storage`. */
  constructor(storage: StorageLink, bytes: number) {
    this.#storage = storage;
    this.#slots = Math.max(1, Math.floor(bytes / PAGE_SIZE));
    this.#bytes = new Uint8Array(this.#slots * PAGE_SIZE);
    this.#slotFile = new Array(this.#slots);
    this.#slotPage = new Float64Array(this.#slots);
    this.#referenced = new Uint8Array(this.#slots);
    for (let i = this.#slots - 1; i >= 0; i--) this.#free.push(i);
  }

  /** Counters and occupancy. */
  stats(): BufferCacheStats {
    let dirtyPages = 0;
    for (const file of this.#files.values()) dirtyPages += file.dirty.size;
    return {
      pages: this.#slots,
      pagesUsed: this.#slots - this.#free.length,
      dirtyPages,
      files: this.#files.size,
      ...this.#counts,
    };
  }

  /** Reads up to `length` bytes of `path` at `offset` (fewer at the end of the file). */
  read(_pid: number, path: string, offset: number, length: number): Promise<Uint8Array> {
    checkIo(offset, length);
    return this.#serial.run(async () => {
      const file = await this.#open(path, false);
      const end = Math.min(offset + length, file.size);
      const out = new Uint8Array(Math.max(0, end - offset));
      for (let at = offset; at < end;) {
        const within = at % PAGE_SIZE;
        const n = Math.min(PAGE_SIZE - within, end - at);
        const slot = await this.#page(file, (at - within) / PAGE_SIZE, true);
        const from = slot * PAGE_SIZE + within;
        out.set(this.#bytes.subarray(from, from + n), at - offset);
        at += n;
      }
      this.#counts.reads++;
      this.#counts.bytesRead += out.length;
      return out;
    });
  }

  /** Writes `data` into `path` at `offset` (cached; written back later). Returns its length. */
  write(pid: number, path: string, offset: number, data: Uint8Array): Promise<number> {
    checkIo(offset, data.length);
    const copy = data.slice(); // the request's bytes may not outlive this call
    return this.#serial.run(async () => {
      const file = await this.#open(path, true);
      for (let done = 0; done < copy.length;) {
        const at = offset + done;
        const within = at % PAGE_SIZE;
        const n = Math.min(PAGE_SIZE - within, copy.length - done);
        const index = (at - within) / PAGE_SIZE;
        // A page written whole need not be read first.
        const slot = await this.#page(file, index, n < PAGE_SIZE);
        this.#bytes.set(copy.subarray(done, done + n), slot * PAGE_SIZE + within);
        file.dirty.add(index);
        done += n;
      }
      file.size = Math.max(file.size, offset + copy.length);
      let paths = this.#written.get(pid);
      if (!paths) this.#written.set(pid, paths = new Set());
      paths.add(path);
      this.#counts.writes++;
      this.#counts.bytesWritten += copy.length;
      return copy.length;
    });
  }

  /**
   * Writes a page of a `MAP_SHARED` file mapping (`offset` page-aligned) into `path` and on
   * to storage before resolving: reads through this cache see it at once, other
   * components' caches at their next revalidation. As in Linux, the part of the page past
   * the end of the file is not written (a mapping never grows its file).
   */
  writeMapped(path: string, offset: number, page: Uint8Array): Promise<void> {
    if (offset % PAGE_SIZE !== 0 || page.length !== PAGE_SIZE) {
      return Promise.reject(
        new KernelError("EINVAL", `a mapped page write needs a whole page at a page offset`),
      );
    }
    const copy = page.slice();
    return this.#serial.run(async () => {
      const file = await this.#open(path, false);
      if (offset >= file.size) return;
      const index = offset / PAGE_SIZE;
      const slot = await this.#page(file, index, false);
      this.#bytes.set(copy, slot * PAGE_SIZE);
      file.dirty.add(index);
      this.#counts.writes++;
      this.#counts.bytesWritten += Math.min(PAGE_SIZE, file.size - offset);
      await this.#writeRun(file, [index], false);
      await this.#writeBack(file, false); // records storage's new modification time
    });
  }

  /** Writes back `path`'s dirty pages and makes them durable before resolving. */
  fsync(_pid: number, path: string): Promise<void> {
    return this.#serial.run(async () => {
      const file = this.#files.get(path);
      if (file) await this.#writeBack(file, true);
    });
  }

  /** Writes back `path`'s dirty pages; the next access revalidates the file. */
  close(pid: number, path: string): Promise<void> {
    return this.#serial.run(async () => {
      const file = this.#files.get(path);
      if (!file) return;
      await this.#writeBack(file, false);
      file.validated = false;
      this.#written.get(pid)?.delete(path);
    });
  }

  /** Flushes `path` before it is mapped, so the mapping reads what was written. */
  flushPath(path: string): Promise<void> {
    return this.#serial.run(async () => {
      const file = this.#files.get(path);
      if (file) await this.#writeBack(file, false);
    });
  }

  /**
   * Writes back every file `pid` wrote and forgets the process. Rejects with the first
   * failure after trying every file.
   */
  exitProcess(pid: number): Promise<void> {
    return this.#serial.run(async () => {
      const paths = this.#written.get(pid);
      this.#written.delete(pid);
      let failure: unknown;
      for (const path of paths ?? []) {
        const file = this.#files.get(path);
        if (!file) continue;
        try {
          await this.#writeBack(file, false);
        } catch (e) {
          failure ??= e;
        }
      }
      if (failure !== undefined) throw failure;
    });
  }

  /** The cached state of `path`, created or revalidated against storage when needed. */
  async #open(path: string, forWrite: boolean): Promise<CachedFile> {
    const known = this.#files.get(path);
    if (known?.validated) return known;
    let size = 0;
    let mtimeMs = 0;
    try {
      ({ size, mtimeMs } = await this.#storage.attributes(path));
    } catch (e) {
      // Writing creates the file (storage creates it on the first write-back).
      if (!(forWrite && (e as KernelError).code === "ENOENT")) throw e;
    }
    if (!known) {
      const file: CachedFile = {
        path,
        size,
        storedSize: size,
        mtimeMs,
        validated: true,
        pages: new Map(),
        dirty: new Set(),
        unsynced: false,
        wroteSinceStat: false,
      };
      this.#files.set(path, file);
      return file;
    }
    if (known.mtimeMs !== mtimeMs || (known.size !== size && known.dirty.size === 0)) {
      // Someone else changed the file since our close: drop what we cached (clean pages).
      for (const [index, slot] of [...known.pages]) {
        if (known.dirty.has(index)) continue;
        known.pages.delete(index);
        this.#release(slot);
      }
      known.size = known.dirty.size ? Math.max(size, known.size) : size;
      this.#counts.invalidations++;
    }
    known.storedSize = size;
    known.mtimeMs = mtimeMs;
    known.validated = true;
    return known;
  }

  /** The slot holding page `index` of `file`, loading it (when `fill`) on a miss. */
  async #page(file: CachedFile, index: number, fill: boolean): Promise<number> {
    const cached = file.pages.get(index);
    if (cached !== undefined) {
      this.#counts.hits++;
      this.#referenced[cached] = 1;
      return cached;
    }
    this.#counts.misses++;
    const slot = await this.#takeSlot();
    const page = this.#bytes.subarray(slot * PAGE_SIZE, (slot + 1) * PAGE_SIZE);
    page.fill(0);
    if (fill && index * PAGE_SIZE < file.storedSize) {
      try {
        page.set(await this.#storage.read(file.path, index * PAGE_SIZE, PAGE_SIZE));
      } catch (e) {
        this.#free.push(slot);
        throw e;
      }
    }
    this.#slotFile[slot] = file;
    this.#slotPage[slot] = index;
    this.#referenced[slot] = 1;
    file.pages.set(index, slot);
    return slot;
  }

  /** A free slot, evicting (and writing back, when dirty) a cold page if none is free. */
  async #takeSlot(): Promise<number> {
    const free = this.#free.pop();
    if (free !== undefined) return free;
    for (;;) {
      const slot = this.#hand;
      this.#hand = (slot + 1) % this.#slots;
      if (this.#referenced[slot]) {
        this.#referenced[slot] = 0;
        continue;
      }
      const file = this.#slotFile[slot]!;
      const index = this.#slotPage[slot];
      if (file.dirty.has(index)) await this.#writeRun(file, [index], false);
      file.pages.delete(index);
      this.#slotFile[slot] = undefined;
      this.#counts.evictions++;
      return slot;
    }
  }

  #release(slot: number): void {
    this.#slotFile[slot] = undefined;
    this.#referenced[slot] = 0;
    this.#free.push(slot);
  }

  /** Writes back every dirty page of `file` in runs; with `sync`, durably. */
  async #writeBack(file: CachedFile, sync: boolean): Promise<void> {
    const dirty = [...file.dirty].sort((a, b) => a - b);
    let first = 0;
    while (first < dirty.length) {
      let last = first;
      while (
        last + 1 < dirty.length && dirty[last + 1] === dirty[last] + 1 &&
        last + 1 - first < WRITEBACK_RUN_PAGES
      ) last++;
      await this.#writeRun(file, dirty.slice(first, last + 1), sync && last + 1 === dirty.length);
      first = last + 1;
    }
    if (sync && dirty.length === 0 && file.unsynced) {
      // Earlier write-backs were not synced: an empty synced write makes them durable.
      await this.#storage.write(file.path, 0, new Uint8Array(0), true);
      file.unsynced = false;
    }
    if (file.wroteSinceStat) {
      // Remember storage's new modification time, so our own writes are not taken for
      // someone else's at the next revalidation.
      file.mtimeMs = (await this.#storage.attributes(file.path)).mtimeMs;
      file.wroteSinceStat = false;
    }
  }

  /** Writes consecutive dirty pages `indexes` of `file` in one message. */
  async #writeRun(file: CachedFile, indexes: readonly number[], sync: boolean): Promise<void> {
    const start = indexes[0] * PAGE_SIZE;
    const length = Math.min(indexes.length * PAGE_SIZE, file.size - start);
    if (length > 0) {
      const data = new Uint8Array(length);
      for (let i = 0; i < indexes.length; i++) {
        const slot = file.pages.get(indexes[i])!;
        const n = Math.min(PAGE_SIZE, length - i * PAGE_SIZE);
        if (n > 0) {
          data.set(this.#bytes.subarray(slot * PAGE_SIZE, slot * PAGE_SIZE + n), i * PAGE_SIZE);
        }
      }
      await this.#storage.write(file.path, start, data, sync);
      file.storedSize = Math.max(file.storedSize, start + length);
      file.wroteSinceStat = true;
      this.#counts.writebacks += indexes.length;
    }
    for (const index of indexes) file.dirty.delete(index);
    file.unsynced = !sync;
  }
}

function checkIo(offset: number, length: number): void {
  if (length > MAX_FILE_IO_BYTES) {
    throw new KernelError(
      "EINVAL",
      `file I/O of ${length} bytes is over the ${MAX_FILE_IO_BYTES}-byte limit of one request`,
    );
  }
  if (offset + length > Number.MAX_SAFE_INTEGER) {
    throw new KernelError("EFBIG", `file offset ${offset} + ${length} is too large`);
  }
}
