/**
 * The stock storage monitor (sComponent): a stateless file service over a host
 * directory. Every request names the full path and offset (NFSv2 style), so nothing is
 * kept between requests and a restarted component simply serves the next one.
 *
 * @module
 */

import { z } from "zod";
import { O_CREAT, O_EXCL, O_TRUNC } from "../../kernel/abi.ts";
import { KernelError } from "../../kernel/errors.ts";
import { joinCluster, type Membership } from "../../kernel/membership.ts";
import type { MonitorContext, StorageMonitor } from "../../kernel/monitor.ts";
import type { Schema } from "../../kernel/zod_issues.ts";
import { resolveInRoot } from "./safe_path.ts";

/** Largest read or write in one request (larger ones are split by the client). */
export const MAX_IO_BYTES: number = 4 * 1024 * 1024;

/** Options of the stock storage monitor. */
export interface StorageOptions {
  /** Host directory that holds this component's files; omitted: a fresh temporary one. */
  root?: string;
}

/** Validates {@link StorageOptions}. */
export const StorageOptionsSchema: Schema<StorageOptions> = z.strictObject({
  root: z.string().min(1).optional(),
});

/**
 * The stock storage monitor.
 *
 * @example
 * ```ts ignore
 * const storage = new StockStorageMonitor(context, { root: "/tmp/legoemu-s0" });
 * await storage.start();
 * ```
 */
export class StockStorageMonitor implements StorageMonitor {
  /** The role. */
  readonly role = "storage" as const;
  /** The component id. */
  readonly id: string;
  #context: MonitorContext;
  #options: StorageOptions;
  #root = "";
  #ownsRoot = false;
  #membership: Membership | undefined;
  #counts = { reads: 0, writes: 0, bytesRead: 0, bytesWritten: 0, syncs: 0, errors: 0 };

  /** Creates the monitor; `start()` begins serving. */
  constructor(context: MonitorContext, options: StorageOptions) {
    this.#context = context;
    this.#options = options;
    this.id = context.id;
  }

  /** The real host path of the root directory (known after `start()`). */
  get root(): string {
    return this.#root;
  }

  /** Prepares the root, registers the P2S/M2S handlers and joins the cluster. */
  async start(): Promise<void> {
    if (this.#options.root) {
      await Deno.mkdir(this.#options.root, { recursive: true });
      this.#root = await Deno.realPath(this.#options.root);
    } else {
      this.#root = await Deno.realPath(await Deno.makeTempDir({ prefix: `legoemu-${this.id}-` }));
      this.#ownsRoot = true;
    }
    const read = (b: { path: string; offset: number; length: number }) =>
      this.#guard(async () => ({ data: await this.#read(b.path, b.offset, b.length) }));
    const write = (b: { path: string; offset: number; data: Uint8Array; sync: boolean }) =>
      this.#guard(async () => ({ written: await this.#write(b.path, b.offset, b.data, b.sync) }));
    this.#context.rpc.handle({
      P2S_READ: read,
      P2S_WRITE: write,
      M2S_READ: read,
      M2S_WRITE: write,
      P2S_OPEN: (b) => this.#guard(() => this.#open(b.path, b.flags, b.mode)),
      P2S_STAT: (b) =>
        this.#guard(async () => {
          const info = await Deno.stat(await this.#host(b.path));
          return {
            size: info.size,
            mode: info.mode ?? 0,
            isDirectory: info.isDirectory,
            mtimeMs: info.mtime?.getTime() ?? 0,
          };
        }),
      P2S_TRUNCATE: (b) =>
        this.#guard(async () => (await Deno.truncate(await this.#host(b.path), b.length), {})),
      P2S_UNLINK: (b) =>
        this.#guard(async () => {
          const host = await this.#host(b.path);
          if ((await Deno.lstat(host)).isDirectory) {
            throw new KernelError("EISDIR", `"${b.path}" is a directory`);
          }
          await Deno.remove(host);
          return {};
        }),
      P2S_MKDIR: (b) =>
        this.#guard(async () => (await Deno.mkdir(await this.#host(b.path), { mode: b.mode }), {})),
      P2S_RMDIR: (b) =>
        this.#guard(async () => {
          const host = await this.#host(b.path);
          if (!(await Deno.lstat(host)).isDirectory) {
            throw new KernelError("ENOTDIR", `"${b.path}" is not a directory`);
          }
          await Deno.remove(host);
          return {};
        }),
      P2S_RENAME: (b) =>
        this.#guard(async () => {
          await Deno.rename(await this.#host(b.from), await this.#host(b.to));
          return {};
        }),
      P2S_READDIR: (b) =>
        this.#guard(async () => {
          const names: string[] = [];
          for await (const entry of Deno.readDir(await this.#host(b.path))) names.push(entry.name);
          return { names: names.sort() };
        }),
      P2S_FSYNC: (b) =>
        this.#guard(async () => {
          using file = await Deno.open(await this.#host(b.path), { read: true, write: true });
          await file.sync();
          this.#counts.syncs++;
          return {};
        }),
    });
    this.#membership = await joinCluster(this.#context, { root: this.#root }, () => ({
      ...this.#counts,
    }));
  }

  /** Leaves the cluster; removes the root only if it was a temporary one made at start. */
  async stop(): Promise<void> {
    this.#membership?.leave();
    this.#membership = undefined;
    if (this.#ownsRoot) {
      await Deno.remove(this.#root, { recursive: true }).catch(() => {});
      this.#ownsRoot = false;
    }
  }

  /** Operations and bytes served. */
  stats(): Record<string, unknown> {
    return { ...this.#counts, root: this.#root };
  }

  #host(path: string): Promise<string> {
    return resolveInRoot(this.#root, path);
  }

  async #open(path: string, flags: number, mode: number): Promise<{ size: number }> {
    const host = await this.#host(path);
    const create = (flags & O_CREAT) !== 0;
    using file = await Deno.open(host, {
      read: true,
      write: create || (flags & O_TRUNC) !== 0,
      create: create && (flags & O_EXCL) === 0,
      createNew: create && (flags & O_EXCL) !== 0,
      truncate: (flags & O_TRUNC) !== 0,
      mode: mode || 0o644,
    });
    const info = await file.stat();
    if (info.isDirectory && create) throw new KernelError("EISDIR", `"${path}" is a directory`);
    return { size: info.size };
  }

  async #read(path: string, offset: number, length: number): Promise<Uint8Array> {
    if (length > MAX_IO_BYTES) {
      throw new KernelError("EINVAL", `read of ${length} bytes is over ${MAX_IO_BYTES} bytes`);
    }
    using file = await Deno.open(await this.#host(path), { read: true });
    await file.seek(offset, Deno.SeekMode.Start);
    const buffer = new Uint8Array(length);
    let filled = 0;
    while (filled < length) {
      const n = await file.read(buffer.subarray(filled));
      if (n === null) break;
      filled += n;
    }
    this.#counts.reads++;
    this.#counts.bytesRead += filled;
    return buffer.subarray(0, filled);
  }

  async #write(path: string, offset: number, data: Uint8Array, sync: boolean): Promise<number> {
    if (data.length > MAX_IO_BYTES) {
      throw new KernelError("EINVAL", `write of ${data.length} bytes is over ${MAX_IO_BYTES}`);
    }
    using file = await Deno.open(await this.#host(path), { write: true, create: true });
    await file.seek(offset, Deno.SeekMode.Start);
    let written = 0;
    while (written < data.length) written += await file.write(data.subarray(written));
    // A sync write reaches the disk before the reply.
    if (sync) {
      await file.syncData();
      this.#counts.syncs++;
    }
    this.#counts.writes++;
    this.#counts.bytesWritten += written;
    return written;
  }

  /** Runs a file operation, turning host errors into errno-coded kernel errors. */
  async #guard<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (e) {
      this.#counts.errors++;
      throw toKernelError(e);
    }
  }
}

const ERRNO_OF: [new (...args: never[]) => Error, string][] = [
  [Deno.errors.NotFound, "ENOENT"],
  [Deno.errors.AlreadyExists, "EEXIST"],
  [Deno.errors.PermissionDenied, "EACCES"],
  [Deno.errors.IsADirectory, "EISDIR"],
  [Deno.errors.NotADirectory, "ENOTDIR"],
  [Deno.errors.InvalidData, "EINVAL"],
];

function toKernelError(e: unknown): KernelError {
  if (e instanceof KernelError) return e;
  for (const [type, code] of ERRNO_OF) {
    if (e instanceof type) return new KernelError(code, (e as Error).message);
  }
  return new KernelError("EIO", e instanceof Error ? e.message : String(e));
}
