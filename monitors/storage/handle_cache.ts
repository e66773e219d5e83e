/**
 * A small cache of open host files, so that a run of reads and writes to the same file
 * does not pay for an open, a path check and a close each time.
 *
 * It is a cache, not protocol state: requests still carry the full path and offset, a
 * restarted component starts with an empty cache and serves the next request the same
 * way. Entries are keyed by host path, opened read-only until a write needs more, and
 * closed when evicted (least recently used first), when older than `ttlMs` (so a file a
 * host user replaced is reopened soon enough), on {@link HandleCache.invalidate} (the
 * monitor calls it for every unlink, rmdir and rename, which change what a path names)
 * and on {@link HandleCache.close}. A handle in use by an asynchronous operation (a
 * sync-to-disk) is pinned and closed only once released.
 *
 * @module
 */

/** An open host file lent out by a {@link HandleCache}. */
export interface CachedHandle {
  /** The open file. Use positioned access only synchronously (seek then read/write). */
  readonly file: Deno.FsFile;
  /** Whether it was opened for writing. */
  readonly writable: boolean;
}

interface Entry extends CachedHandle {
  readonly openedAt: number;
  pins: number;
  retired: boolean;
}

/** Options of a {@link HandleCache}. */
export interface HandleCacheOptions {
  /** Most files kept open (default 64; 0 disables the cache). */
  capacity?: number;
  /** Reopen a cached file after this many milliseconds (default 1000). */
  ttlMs?: number;
  /** Millisecond clock (default `performance.now`). */
  now?: () => number;
}

/**
 * Open files by host path.
 *
 * @example
 * ```ts
 * import { HandleCache } from "./handle_cache.ts";
 * const dir = Deno.makeTempDirSync();
 * const cache = new HandleCache({ capacity: 2 });
 * const handle = cache.acquire(`${dir}/a`, { write: true, create: true });
 * handle.file.writeSync(new TextEncoder().encode("hi"));
 * cache.release(handle);
 * console.assert(cache.acquire(`${dir}/a`, { write: false }) === handle && cache.size === 1);
 * cache.release(handle);
 * cache.close();
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export class HandleCache {
  readonly #entries = new Map<string, Entry>();
  readonly #capacity: number;
  readonly #ttlMs: number;
  readonly #now: () => number;
  #hits = 0;
  #misses = 0;
  #created = false;

  /** Creates an empty cache. */
  constructor(options: HandleCacheOptions = {}) {
    this.#capacity = options.capacity ?? 64;
    this.#ttlMs = options.ttlMs ?? 1000;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Files open right now. */
  get size(): number {
    return this.#entries.size;
  }

  /** Whether the latest {@link HandleCache.acquire} created the file it opened. */
  get created(): boolean {
    return this.#created;
  }

  /** Cache hits and misses so far. */
  stats(): { hits: number; misses: number; open: number } {
    return { hits: this.#hits, misses: this.#misses, open: this.#entries.size };
  }

  /** Whether {@link HandleCache.acquire} would serve `host` from the cache. */
  holds(host: string, write: boolean): boolean {
    const cached = this.#entries.get(host);
    return cached !== undefined && (cached.writable || !write) &&
      this.#now() - cached.openedAt < this.#ttlMs;
  }

  /**
   * An open handle for `host`, pinned until {@link HandleCache.release}. Opens it
   * (synchronously; creating it when `create` is set and it is missing) on a miss, or
   * when the cached one is read-only and `write` is asked for. Throws the host's error.
   */
  acquire(host: string, want: { write: boolean; create?: boolean }): CachedHandle {
    this.#created = false;
    const cached = this.#entries.get(host);
    if (cached) {
      if ((cached.writable || !want.write) && this.#now() - cached.openedAt < this.#ttlMs) {
        this.#hits++;
        // Map order is recency order: move to the back.
        this.#entries.delete(host);
        this.#entries.set(host, cached);
        cached.pins++;
        return cached;
      }
      this.#retire(host, cached);
    }
    this.#misses++;
    const entry = this.#open(host, want.write, want.create ?? false);
    if (this.#capacity > 0) {
      this.#entries.set(host, entry);
      this.#evictOverflow();
    } else {
      entry.retired = true;
    }
    return entry;
  }

  /** Returns a handle from {@link HandleCache.acquire}; closes it if it was retired meanwhile. */
  release(handle: CachedHandle): void {
    const entry = handle as Entry;
    entry.pins--;
    if (entry.retired && entry.pins === 0) closeQuietly(entry.file);
  }

  /** Closes every cached file whose host path is `host` or lies below it. */
  invalidate(host: string): void {
    for (const [path, entry] of [...this.#entries]) {
      if (path === host || path.startsWith(host + "/")) this.#retire(path, entry);
    }
  }

  /** Closes every cached file (pinned ones once released). */
  close(): void {
    for (const [path, entry] of [...this.#entries]) this.#retire(path, entry);
  }

  #open(host: string, write: boolean, create: boolean): Entry {
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(host, { read: true, write });
    } catch (e) {
      if (!(create && e instanceof Deno.errors.NotFound)) throw e;
      file = Deno.openSync(host, { read: true, write: true, create: true, mode: 0o644 });
      this.#created = true;
    }
    return {
      file,
      writable: write || this.#created,
      openedAt: this.#now(),
      pins: 1,
      retired: false,
    };
  }

  #evictOverflow(): void {
    for (const [path, entry] of this.#entries) {
      if (this.#entries.size <= this.#capacity) break;
      this.#retire(path, entry);
    }
  }

  #retire(path: string, entry: Entry): void {
    this.#entries.delete(path);
    entry.retired = true;
    if (entry.pins === 0) closeQuietly(entry.file);
  }
}

function closeQuietly(file: Deno.FsFile): void {
  try {
    file.close();
  } catch {
    // Already closed: nothing left to release.
  }
}
