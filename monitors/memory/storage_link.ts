/**
 * How a memory component reaches storage: finds the storage component holding a file
 * (asking the global storage manager once per path, `MGR_PLACE_FILE`) and reads and
 * writes it with `M2S_READ` / `M2S_WRITE`, split into bounded chunks. Used by swap,
 * file-backed mappings and the buffer cache.
 *
 * @module
 */

import { KernelError } from "../../kernel/errors.ts";
import type { ComponentId } from "../../kernel/ids.ts";
import type { RpcNode } from "../../kernel/rpc.ts";

/** Largest read or write sent in one message (storage refuses more than 4 MiB). */
export const STORAGE_CHUNK_BYTES = 1024 * 1024;

/** Size and modification time of a file, as storage reports them. */
export interface FileAttributes {
  /** Size in bytes. */
  size: number;
  /** Last modification, epoch milliseconds. */
  mtimeMs: number;
}

/** Counters of the traffic a {@link StorageLink} sent. */
export interface StorageLinkStats {
  /** Read messages sent. */
  reads: number;
  /** Bytes read. */
  bytesRead: number;
  /** Write messages sent. */
  writes: number;
  /** Bytes written. */
  bytesWritten: number;
}

/**
 * Reads and writes files on whichever storage component holds them.
 *
 * @example
 * ```ts ignore
 * const link = new StorageLink(context.rpc, context.manager);
 * await link.write("swap-m0.bin", 0, page, false);
 * const back = await link.read("swap-m0.bin", 0, 4096);
 * ```
 */
export class StorageLink {
  readonly #rpc: RpcNode;
  readonly #manager: ComponentId;
  readonly #pinned = new Map<string, ComponentId>();
  readonly #located = new Map<string, ComponentId>();
  readonly #stats: StorageLinkStats = { reads: 0, bytesRead: 0, writes: 0, bytesWritten: 0 };

  /** A link that asks `manager` where files live. */
  constructor(rpc: RpcNode, manager: ComponentId) {
    this.#rpc = rpc;
    this.#manager = manager;
  }

  /** Sends `path` to `storage` without asking the manager (e.g. a configured swap device). */
  pin(path: string, storage: ComponentId): void {
    this.#pinned.set(path, storage);
  }

  /** A copy of the traffic counters. */
  stats(): StorageLinkStats {
    return { ...this.#stats };
  }

  /** The storage component holding `path` (asked once, then remembered). */
  async locate(path: string): Promise<ComponentId> {
    const known = this.#pinned.get(path) ?? this.#located.get(path);
    if (known !== undefined) return known;
    const { storage } = await this.#rpc.call(this.#manager, "MGR_PLACE_FILE", { path });
    this.#located.set(path, storage);
    return storage;
  }

  /** Reads up to `length` bytes at `offset`; shorter at the end of the file. */
  async read(path: string, offset: number, length: number): Promise<Uint8Array> {
    const storage = await this.locate(path);
    if (length <= STORAGE_CHUNK_BYTES) return await this.#readChunk(storage, path, offset, length);
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const want = Math.min(STORAGE_CHUNK_BYTES, length - done);
      const data = await this.#readChunk(storage, path, offset + done, want);
      out.set(data, done);
      done += data.length;
      if (data.length < want) break;
    }
    return out.subarray(0, done);
  }

  /** Writes all of `data` at `offset`; with `sync` it is on disk before this resolves. */
  async write(path: string, offset: number, data: Uint8Array, sync: boolean): Promise<void> {
    const storage = await this.locate(path);
    let done = 0;
    do {
      const chunk = data.subarray(done, done + STORAGE_CHUNK_BYTES);
      const last = done + chunk.length >= data.length;
      const { written } = await this.#rpc.call(storage, "M2S_WRITE", {
        path,
        offset: offset + done,
        data: chunk,
        sync: sync && last,
      });
      if (written !== chunk.length) {
        throw new KernelError(
          "EIO",
          `${storage} wrote ${written} of ${chunk.length} bytes of "${path}" at ${offset + done}`,
        );
      }
      this.#stats.writes++;
      this.#stats.bytesWritten += chunk.length;
      done += chunk.length;
    } while (done < data.length);
  }

  /**
   * Size and modification time of `path` (`P2S_STAT`: storage serves it to any caller;
   * there is no M2S kind for it).
   */
  async attributes(path: string): Promise<FileAttributes> {
    const storage = await this.locate(path);
    const { size, mtimeMs, isDirectory } = await this.#rpc.call(storage, "P2S_STAT", { path });
    if (isDirectory) throw new KernelError("EISDIR", `"${path}" is a directory`);
    return { size, mtimeMs };
  }

  async #readChunk(
    storage: ComponentId,
    path: string,
    offset: number,
    length: number,
  ): Promise<Uint8Array> {
    const { data } = await this.#rpc.call(storage, "M2S_READ", { path, offset, length });
    this.#stats.reads++;
    this.#stats.bytesRead += data.length;
    return data;
  }
}
