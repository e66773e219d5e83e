/**
 * A client for storage components: every operation as one method, large reads and
 * writes split into bounded chunks with a few in flight at a time, and retries on the
 * RPC layer so a storage component that restarts mid-sequence is invisible to the
 * caller.
 *
 * Retrying is safe for reads, writes at an offset, truncate, stat and readdir (doing
 * them twice is doing them once). For the rest, a retry after a lost reply may find the
 * work already done; the client then reports what the first attempt did, as NFS clients
 * do: a retried `unlink`, `rmdir` or `rename` that finds its source gone, and a retried
 * `mkdir` or exclusive create that finds its target present, count as done.
 *
 * @module
 */

import { O_CREAT, O_EXCL, O_RDWR, O_TRUNC } from "../../kernel/abi.ts";
import { KernelError } from "../../kernel/errors.ts";
import type { ComponentId } from "../../kernel/ids.ts";
import type { MessageKind, ReplyOf, RequestOf } from "../../kernel/messages.ts";
import type { RetryOptions, RpcNode } from "../../kernel/rpc.ts";
import { inParallel } from "../../kernel/model_time.ts";

/** Options of a {@link StorageClient}. */
export interface StorageClientOptions {
  /** The storage component to use for every path; without it, ask `manager` per path. */
  storage?: ComponentId;
  /** The manager to ask where a path lives (`MGR_PLACE_FILE`), when `storage` is not set. */
  manager?: ComponentId;
  /** The vNode whose namespace the client's paths are in (default: the default vNode). */
  vnode?: string;
  /** Largest read or write per request, bytes (default 1 MiB; keep it within the server's limit). */
  chunkBytes?: number;
  /** Chunk requests in flight at once for one large read or write (default 4). */
  window?: number;
  /** Per-attempt timeout, ms (default 5000). */
  timeoutMs?: number;
  /** How failed requests are retried (default: 8 attempts, 5 ms doubling to 500 ms, on
   * `ETIMEDOUT`, `EHOSTUNREACH` and `EAGAIN`). */
  retry?: RetryOptions;
  /** Message kinds for reads and writes: `P2S` (a processor) or `M2S` (a memory component). */
  via?: "P2S" | "M2S";
}

/** What {@link StorageClient.stat} returns. */
export type StorageStat = ReplyOf<"P2S_STAT">;

const DEFAULT_RETRY: RetryOptions = {
  attempts: 8,
  backoffMs: 5,
  maxBackoffMs: 500,
  on: ["ETIMEDOUT", "EHOSTUNREACH", "EAGAIN"],
};

/**
 * Talks to storage components through an {@link RpcNode}.
 *
 * @example
 * ```ts ignore
 * const files = new StorageClient(rpc, { storage: "s0", vnode: "alice" });
 * await files.writeFile("results/run1.csv", new TextEncoder().encode("a,b\n"), { sync: true });
 * const text = new TextDecoder().decode(await files.readFile("results/run1.csv"));
 * ```
 */
export class StorageClient {
  readonly #rpc: RpcNode;
  readonly #storage: ComponentId | undefined;
  readonly #manager: ComponentId | undefined;
  readonly #prefix: string;
  readonly #chunkBytes: number;
  readonly #window: number;
  readonly #timeoutMs: number;
  readonly #retry: RetryOptions;
  readonly #via: "P2S" | "M2S";
  readonly #locations = new Map<string, ComponentId>();

  /** Creates a client that sends from `rpc`. */
  constructor(rpc: RpcNode, options: StorageClientOptions = {}) {
    if (options.storage === undefined && options.manager === undefined) {
      throw new KernelError("EINVAL", "a StorageClient needs a storage component or a manager");
    }
    const chunk = options.chunkBytes ?? 1024 * 1024;
    const window = options.window ?? 4;
    if (!Number.isInteger(chunk) || chunk < 1) {
      throw new RangeError(`chunkBytes must be a positive integer, got ${chunk}`);
    }
    if (!Number.isInteger(window) || window < 1 || window > 64) {
      throw new RangeError(`window must be an integer from 1 to 64, got ${window}`);
    }
    this.#rpc = rpc;
    this.#storage = options.storage;
    this.#manager = options.manager;
    this.#prefix = options.vnode === undefined ? "" : `@${options.vnode}/`;
    this.#chunkBytes = chunk;
    this.#window = window;
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#retry = options.retry ?? DEFAULT_RETRY;
    this.#via = options.via ?? "P2S";
  }

  /** Opens `path` with Linux `O_*` flags; returns its size. With `O_CREAT` it may create it. */
  async open(path: string, flags: number, mode = 0o644): Promise<number> {
    let retried = false;
    try {
      const { size } = await this.#call(path, "P2S_OPEN", { path: this.#wire(path), flags, mode }, {
        onRetry: () => retried = true,
      });
      return size;
    } catch (e) {
      // An exclusive create whose first reply was lost: the file is ours.
      if (retried && (flags & O_EXCL) !== 0 && codeOf(e) === "EEXIST") {
        return (await this.stat(path)).size;
      }
      throw e;
    }
  }

  /** Creates `path` if missing (`O_CREAT`); `exclusive` fails with `EEXIST` if it exists. */
  async create(path: string, options: { exclusive?: boolean; mode?: number } = {}): Promise<void> {
    await this.open(path, O_CREAT | O_RDWR | (options.exclusive ? O_EXCL : 0), options.mode);
  }

  /** Size, mode, kind and modification time of `path`. */
  stat(path: string): Promise<StorageStat> {
    return this.#call(path, "P2S_STAT", { path: this.#wire(path) });
  }

  /**
   * Reads up to `length` bytes at `offset`, in chunks; fewer at the end of the file.
   * A short chunk ends the read (the file ended there when it was read).
   */
  async read(path: string, offset: number, length: number): Promise<Uint8Array> {
    checkRange(offset, length);
    const chunks = this.#chunks(offset, length);
    const parts: Uint8Array[] = new Array(chunks.length);
    const kind = this.#via === "P2S" ? "P2S_READ" : "M2S_READ";
    await this.#inWindow(chunks, async ([at, n], i) => {
      const { data } = await this.#call(path, kind, {
        path: this.#wire(path),
        offset: at,
        length: n,
      });
      parts[i] = data;
    });
    // Stop at the first short chunk: what follows it lies past the end of the file.
    let total = 0;
    let used = 0;
    for (const [i, part] of parts.entries()) {
      total += part.length;
      used = i + 1;
      if (part.length < chunks[i][1]) break;
    }
    if (used === 1) return parts[0];
    const out = new Uint8Array(total);
    let at = 0;
    for (let i = 0; i < used; i++) {
      out.set(parts[i], at);
      at += parts[i].length;
    }
    return out;
  }

  /** The whole file. */
  async readFile(path: string): Promise<Uint8Array> {
    const { size } = await this.stat(path);
    return size === 0 ? new Uint8Array(0) : await this.read(path, 0, size);
  }

  /**
   * Writes `data` at `offset` in chunks, creating the file if missing. With `sync`,
   * every byte is on disk when the promise resolves (the last chunk is sent, with the
   * server's `fdatasync`, after all others were acknowledged). Returns the bytes written.
   */
  async write(
    path: string,
    offset: number,
    data: Uint8Array,
    options: { sync?: boolean } = {},
  ): Promise<number> {
    checkRange(offset, data.length);
    const chunks = this.#chunks(offset, data.length);
    const sync = options.sync ?? false;
    const kind = this.#via === "P2S" ? "P2S_WRITE" : "M2S_WRITE";
    const send = async ([at, n]: [number, number], syncThis: boolean) => {
      const body = {
        path: this.#wire(path),
        offset: at,
        data: data.subarray(at - offset, at - offset + n),
        sync: syncThis,
      };
      const { written } = await this.#call(path, kind, body);
      if (written !== n) {
        throw new KernelError("EIO", `${path}: wrote ${written} of ${n} bytes at offset ${at}`);
      }
    };
    const last = chunks.pop()!;
    await this.#inWindow(chunks, (chunk) => send(chunk, false));
    await send(last, sync);
    return data.length;
  }

  /** Replaces the file's contents with `data` (creating it), optionally synced to disk. */
  async writeFile(path: string, data: Uint8Array, options: { sync?: boolean } = {}): Promise<void> {
    await this.open(path, O_CREAT | O_RDWR | O_TRUNC);
    if (data.length > 0 || options.sync) await this.write(path, 0, data, options);
  }

  /** Sets the file's size to `length`. */
  async truncate(path: string, length: number): Promise<void> {
    checkRange(length, 0);
    await this.#call(path, "P2S_TRUNCATE", { path: this.#wire(path), length });
  }

  /** Removes a file. */
  unlink(path: string): Promise<void> {
    return this.#idempotent(path, "P2S_UNLINK", { path: this.#wire(path) }, "ENOENT");
  }

  /** Creates a directory (its parent must exist). */
  mkdir(path: string, mode = 0o755): Promise<void> {
    return this.#idempotent(path, "P2S_MKDIR", { path: this.#wire(path), mode }, "EEXIST");
  }

  /** Removes an empty directory. */
  rmdir(path: string): Promise<void> {
    return this.#idempotent(path, "P2S_RMDIR", { path: this.#wire(path) }, "ENOENT");
  }

  /** Renames `from` to `to` (same storage component and vNode), replacing `to`. */
  rename(from: string, to: string): Promise<void> {
    return this.#idempotent(
      from,
      "P2S_RENAME",
      { from: this.#wire(from), to: this.#wire(to) },
      "ENOENT",
    );
  }

  /** The names in a directory, sorted (`"."` is the vNode's root). */
  async readdir(path: string): Promise<string[]> {
    const wire = path === "." || path === ""
      ? (this.#prefix.slice(0, -1) || ".")
      : this.#wire(path);
    const { names } = await this.#call(path, "P2S_READDIR", { path: wire });
    if (!Array.isArray(names) || !names.every((n) => typeof n === "string")) {
      throw new KernelError("EPROTO", `readdir "${path}": the reply is not a list of names`);
    }
    return names;
  }

  /** Flushes the file's data and metadata to disk. */
  async fsync(path: string): Promise<void> {
    await this.#call(path, "P2S_FSYNC", { path: this.#wire(path) });
  }

  #wire(path: string): string {
    return this.#prefix + path;
  }

  async #storageFor(path: string): Promise<ComponentId> {
    if (this.#storage !== undefined) return this.#storage;
    const wire = this.#wire(path);
    const known = this.#locations.get(wire);
    if (known !== undefined) return known;
    const { storage } = await this.#rpc.call(this.#manager!, "MGR_PLACE_FILE", { path: wire }, {
      timeoutMs: this.#timeoutMs,
      retry: this.#retry,
    });
    this.#locations.set(wire, storage);
    return storage;
  }

  async #call<K extends MessageKind>(
    path: string,
    kind: K,
    body: RequestOf<K>,
    extra: { onRetry?: () => void } = {},
  ): Promise<ReplyOf<K>> {
    const to = await this.#storageFor(path);
    const base = this.#retry;
    const retry: RetryOptions = extra.onRetry === undefined ? base : {
      ...base,
      onRetry: (error, attempt) => {
        extra.onRetry!();
        base.onRetry?.(error, attempt);
      },
    };
    return await this.#rpc.call(to, kind, body, { timeoutMs: this.#timeoutMs, retry });
  }

  /** Runs an operation whose retry may find it already done (`doneCode`). */
  async #idempotent<K extends "P2S_UNLINK" | "P2S_MKDIR" | "P2S_RMDIR" | "P2S_RENAME">(
    path: string,
    kind: K,
    body: RequestOf<K>,
    doneCode: string,
  ): Promise<void> {
    let retried = false;
    try {
      await this.#call(path, kind, body, { onRetry: () => retried = true });
    } catch (e) {
      if (!(retried && codeOf(e) === doneCode)) throw e;
    }
  }

  /** `[offset, length]` pieces of at most `chunkBytes` (one empty piece for length 0). */
  #chunks(offset: number, length: number): [number, number][] {
    const out: [number, number][] = [];
    for (let at = 0; at < length; at += this.#chunkBytes) {
      out.push([offset + at, Math.min(this.#chunkBytes, length - at)]);
    }
    if (out.length === 0) out.push([offset, 0]);
    return out;
  }

  /**
   * Runs `task` over `items` with at most `window` running at once; fails fast. In model
   * time the lanes overlap: the request being served is charged the slowest lane, not the
   * sum of all chunks.
   */
  async #inWindow<T>(items: T[], task: (item: T, index: number) => Promise<void>): Promise<void> {
    let next = 0;
    let failure: { error: unknown } | undefined;
    const lane = async () => {
      while (!failure && next < items.length) {
        const i = next++;
        try {
          await task(items[i], i);
        } catch (error) {
          failure ??= { error };
        }
      }
    };
    await inParallel(Array.from({ length: Math.min(this.#window, items.length) }, () => lane));
    if (failure) throw failure.error;
  }
}

function codeOf(error: unknown): unknown {
  return (error as { code?: unknown })?.code;
}

function checkRange(offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new KernelError("EINVAL", `offset must be a non-negative integer, got ${offset}`);
  }
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new KernelError("EINVAL", `length must be a non-negative integer, got ${length}`);
  }
}
