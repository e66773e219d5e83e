/**
 * The stock storage monitor (sComponent): a stateless file service over a host
 * directory, NFSv2 style.
 *
 * Every request names the full path (with its vNode, see `storage_path.ts`) and, for
 * I/O, the offset; the service keeps no open-file state a client depends on, so a
 * component that stops and starts again over the same root serves the next request as
 * if nothing happened (clients retry what was in flight: `StorageClient` does).
 *
 * Operations (request kinds): create/open (`P2S_OPEN` with `O_CREAT`, `O_EXCL`,
 * `O_TRUNC`), read (`P2S_READ`, `M2S_READ`), write (`P2S_WRITE`, `M2S_WRITE`; creates a
 * missing file; with `sync` the data reaches the disk — `fdatasync` — before the reply),
 * `P2S_TRUNCATE`, `P2S_STAT`, `P2S_UNLINK`, `P2S_MKDIR`, `P2S_RMDIR`, `P2S_RENAME`,
 * `P2S_READDIR`, `P2S_FSYNC`. One read or write moves at most `maxIoBytes`; a larger one
 * is refused with `EMSGSIZE` (clients split large transfers into chunks). Errors carry
 * errno codes and name the client's path, never the host's.
 *
 * Small reads and writes (up to `blockingIoMaxBytes`) run as blocking host calls on the
 * event loop: a few µs when the data is in the page cache, against tens of µs for Deno's
 * asynchronous file calls. A small sync write blocks for its `fdatasync` too (the disk's
 * flush time, 0.1–0.3 ms on the development machine), which holds up the other
 * components of an in-process cluster meanwhile; `blockingIoMaxBytes: 0` makes every
 * call asynchronous. Large reads and writes, `fsync` and everything beyond the limit run
 * asynchronously on a file opened for the occasion.
 *
 * Requests naming the same file are served in the order they arrived, even when one of
 * them runs asynchronously (later ones wait for it), so a retried request is never
 * overtaken by a duplicate of itself still at work.
 *
 * The component tells the manager (one-way `MGR_FILE_CHANGED`) when a file is created,
 * removed or renamed, so the managers' file map shows what each storage component holds.
 *
 * @module
 */

import { z } from "npm:zod@4.6.7";
import { O_CREAT, O_EXCL, O_RDONLY, O_TRUNC } from "../../kernel/abi.ts";
import { KernelError } from "../../kernel/errors.ts";
import { joinCluster, type Membership } from "../../kernel/membership.ts";
import type { DeviceOp } from "../../kernel/latency.ts";
import { BusyResource } from "../../kernel/model_resource.ts";
import { occupy } from "../../kernel/model_time.ts";
import type { MonitorContext, StorageMonitor } from "../../kernel/monitor.ts";
import type { Schema } from "../../kernel/zod_issues.ts";
import { toStorageError } from "./errno.ts";
import { type CachedHandle, HandleCache } from "./handle_cache.ts";
import { type HostPath, resolveHostPath, vnodeDirectory } from "./safe_path.ts";
import { parseStoragePath, type StoragePath } from "./storage_path.ts";

/** Default largest read or write in one request: 4 MiB. */
export const MAX_IO_BYTES: number = 4 * 1024 * 1024;
/** Default largest file: 1 TiB. */
export const MAX_FILE_BYTES: number = 2 ** 40;
/** Most names a `readdir` returns (a larger directory is refused with `E2BIG`). */
export const MAX_READDIR_ENTRIES = 65_536;

/** Options of the stock storage monitor. */
export interface StorageOptions {
  /** Host directory that holds this component's files; omitted: a fresh temporary one. */
  root?: string;
  /** Largest read or write one request may carry, bytes (default 4 MiB, at most 8 MiB). */
  maxIoBytes: number;
  /** Largest file a write or truncate may produce, bytes (default 1 TiB). */
  maxFileBytes: number;
  /** Host files kept open between requests (default 64; 0 opens and closes every time). */
  openFiles: number;
  /** A file kept open is reopened (and its path checked again) after this many ms (default 1000). */
  handleTtlMs: number;
  /**
   * Reads and writes up to this many bytes use blocking host calls (a sync write's
   * `fdatasync` included); larger ones use asynchronous calls (default 64 KiB; 0: always
   * asynchronous, so the event loop never waits for the disk).
   */
  blockingIoMaxBytes: number;
  /**
   * The device the emulated storage component keeps its files on, for model time
   * (default `"ssd"`, the LegoOS testbed's NVMe SSD): each read, write and flush is
   * charged through the latency model and queues at the device (queue depth 1).
   */
  device: "ssd" | "ramdisk" | "pmem";
}

/**
 * Validates {@link StorageOptions}, filling defaults.
 *
 * @example
 * ```ts
 * import { StorageOptionsSchema } from "./storage_monitor.ts";
 * const parsed = StorageOptionsSchema.safeParse({ root: "/srv/legoemu/s0" });
 * console.assert(parsed.success && parsed.data.maxIoBytes === 4 * 1024 * 1024);
 * console.assert(!StorageOptionsSchema.safeParse({ maxIoBytes: 64 * 1024 * 1024 }).success);
 * ```
 */
export const StorageOptionsSchema: Schema<StorageOptions> = z.strictObject({
  root: z.string().min(1).optional(),
  maxIoBytes: z.number().int().min(4096).max(8 * 1024 * 1024).default(MAX_IO_BYTES),
  maxFileBytes: z.number().int().min(1).max(2 ** 52).default(MAX_FILE_BYTES),
  openFiles: z.number().int().min(0).max(4096).default(64),
  handleTtlMs: z.number().int().min(0).max(3_600_000).default(1000),
  blockingIoMaxBytes: z.number().int().min(0).max(8 * 1024 * 1024).default(64 * 1024),
  device: z.enum(["ssd", "ramdisk", "pmem"]).default("ssd"),
});

type Reply<T> = T | Promise<T>;

/** The access-mode bits of open flags (`O_RDONLY`, `O_WRONLY`, `O_RDWR`). */
const O_ACCMODE = 0o3;

/**
 * The stock storage monitor.
 *
 * @example
 * ```ts ignore
 * const storage = new StockStorageMonitor(context, StorageOptionsSchema.parse({ root: "/srv/s0" }));
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
  #handles: HandleCache;
  #parsed = new Map<string, StoragePath>();
  #busy = new Map<string, Promise<void>>();
  #ready = false;
  #stopping = false;
  #stopped: Promise<void> | undefined;
  #inFlight = 0;
  #idle: (() => void) | undefined;
  /** The device in model time: requests queue at it. */
  #device: BusyResource;
  #counts = {
    requests: 0,
    reads: 0,
    writes: 0,
    bytesRead: 0,
    bytesWritten: 0,
    syncs: 0,
    metadataOps: 0,
    errors: 0,
    refusedPaths: 0,
  };

  /** Creates the monitor; `start()` begins serving. */
  constructor(context: MonitorContext, options: StorageOptions) {
    this.#context = context;
    // Defaults first, so options built in code (not parsed) may leave fields out.
    this.#options = { ...defaults(), ...options };
    this.id = context.id;
    this.#handles = new HandleCache({
      capacity: this.#options.openFiles,
      ttlMs: this.#options.handleTtlMs,
    });
    this.#device = new BusyResource(`${context.id}.${this.#options.device}`);
  }

  /** The real host path of the root directory (known after `start()`). */
  get root(): string {
    return this.#root;
  }

  /**
   * Registers the P2S/M2S handlers, prepares the root and joins the cluster. Requests
   * that arrive while the root is being prepared get `EAGAIN` (retry), never `UNHANDLED`.
   */
  async start(): Promise<void> {
    const read = (b: { path: string; offset: number; length: number }) =>
      this.#serve("read", b.path, () => {
        this.#chargeDevice("read", b.length);
        return this.#read(b.path, b.offset, b.length);
      });
    const write = (b: { path: string; offset: number; data: Uint8Array; sync: boolean }) =>
      this.#serve("write", b.path, () => {
        this.#chargeDevice("write", b.data.length);
        if (b.sync) this.#chargeDevice("flush", b.data.length);
        return this.#write(b.path, b.offset, b.data, b.sync);
      });
    this.#context.rpc.handle({
      P2S_READ: read,
      M2S_READ: read,
      P2S_WRITE: write,
      M2S_WRITE: write,
      P2S_OPEN: (b) => this.#serve("open", b.path, () => this.#open(b.path, b.flags, b.mode)),
      P2S_STAT: (b) => this.#serve("stat", b.path, () => this.#stat(b.path)),
      P2S_TRUNCATE: (b) => this.#serve("truncate", b.path, () => this.#truncate(b.path, b.length)),
      P2S_UNLINK: (b) => this.#serve("unlink", b.path, () => this.#unlink(b.path)),
      P2S_MKDIR: (b) => this.#serve("mkdir", b.path, () => this.#mkdir(b.path, b.mode)),
      P2S_RMDIR: (b) => this.#serve("rmdir", b.path, () => this.#rmdir(b.path)),
      P2S_RENAME: (b) => this.#serve("rename", b.from, () => this.#rename(b.from, b.to)),
      P2S_READDIR: (b) => this.#serve("readdir", b.path, () => ({ names: this.#readdir(b.path) })),
      P2S_FSYNC: (b) =>
        this.#serve("fsync", b.path, () => {
          this.#chargeDevice("flush", 0);
          return this.#fsync(b.path);
        }),
    });
    if (this.#options.root) {
      await Deno.mkdir(this.#options.root, { recursive: true });
      this.#root = await Deno.realPath(this.#options.root);
    } else {
      this.#root = await Deno.realPath(await Deno.makeTempDir({ prefix: `legoemu-${this.id}-` }));
      this.#ownsRoot = true;
    }
    this.#ready = true;
    this.#membership = await joinCluster(
      this.#context,
      {
        root: this.#root,
        maxIoBytes: this.#options.maxIoBytes,
        maxFileBytes: this.#options.maxFileBytes,
      },
      () => ({ ...this.#counts, inFlight: this.#inFlight, openFiles: this.#handles.size }),
    );
  }

  /**
   * Stops serving: new requests are refused with `EAGAIN` (clients retry), requests
   * already running finish, open files are closed, heartbeats stop. A temporary root made
   * at start is removed; a configured root is left as it is. Idempotent.
   */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      this.#stopping = true;
      this.#membership?.leave();
      this.#membership = undefined;
      if (this.#inFlight > 0) await new Promise<void>((resolve) => this.#idle = resolve);
      this.#handles.close();
      if (this.#ownsRoot) {
        await Deno.remove(this.#root, { recursive: true }).catch(() => {});
        this.#ownsRoot = false;
      }
    })();
    return this.#stopped;
  }

  /**
   * Charges the request being served the storage software and one `op` of `bytes` on the
   * device, queued behind the device's earlier work in model time.
   */
  #chargeDevice(op: DeviceOp, bytes: number): void {
    const latency = this.#context.latency;
    const service = latency.service("file");
    const deviceNs = latency.deviceNs(this.#options.device, op, bytes);
    occupy(this.#device, deviceNs + service.busyNs, "device", deviceNs + service.latencyNs);
  }

  /** Operations and bytes served, open files, and the root. */
  stats(): Record<string, unknown> {
    return {
      ...this.#counts,
      inFlight: this.#inFlight,
      handles: this.#handles.stats(),
      root: this.#root,
    };
  }

  /**
   * Runs one request: refuses it while stopping, counts it, turns host errors into
   * errno-coded errors naming the client's path, and tracks it until it settles.
   *
   * Requests naming the same file are served in arrival order: while an asynchronous
   * one is running, later ones on that path wait for it (a blocking one never leaves
   * anything running). So a client's retry, or another client's request, can never be
   * overtaken by an earlier request that is still at work.
   */
  #serve<T>(op: string, path: string, run: () => Reply<T>): Reply<T> {
    if (this.#stopping || !this.#ready) {
      const state = this.#stopping ? "stopping" : "starting";
      throw new KernelError("EAGAIN", `${this.id} is ${state}; retry once it is serving`);
    }
    this.#counts.requests++;
    let key: string | undefined;
    try {
      key = this.#parse(path).normal;
    } catch {
      key = undefined; // run() reports the bad path
    }
    const before = key === undefined ? undefined : this.#busy.get(key);
    let result: Reply<T>;
    if (before === undefined) {
      try {
        result = run();
      } catch (e) {
        throw this.#failed(e, op, path);
      }
      if (!(result instanceof Promise)) return result;
    } else {
      result = before.then(run);
    }
    if (key !== undefined) this.#queueBehind(key, result);
    this.#inFlight++;
    return result.then(
      (value) => (this.#settled(), value),
      (e) => {
        this.#settled();
        throw this.#failed(e, op, path);
      },
    );
  }

  /** Makes `work` the request the next one on `key` waits for. */
  #queueBehind(key: string, work: Promise<unknown>): void {
    const done = work.then(() => {}, () => {});
    this.#busy.set(key, done);
    done.then(() => {
      if (this.#busy.get(key) === done) this.#busy.delete(key);
    });
  }

  #settled(): void {
    if (--this.#inFlight === 0 && this.#idle) {
      this.#idle();
      this.#idle = undefined;
    }
  }

  #failed(e: unknown, op: string, path: string): KernelError {
    this.#counts.errors++;
    const error = toStorageError(e, op, String(path).slice(0, 256));
    if (error.code === "EACCES" || error.code === "ELOOP") this.#counts.refusedPaths++;
    return error;
  }

  /** {@link parseStoragePath}, remembering recent answers (paths repeat a lot). */
  #parse(path: string): StoragePath {
    let parsed = this.#parsed.get(path);
    if (parsed === undefined) {
      parsed = parseStoragePath(path);
      if (this.#parsed.size >= 1024) this.#parsed.clear();
      this.#parsed.set(path, parsed);
    }
    return parsed;
  }

  /** Parses a wire path that must name a file or directory below a vNode's root. */
  #below(path: string): StoragePath {
    const parsed = this.#parse(path);
    if (parsed.segments.length === 0) {
      throw new KernelError("EINVAL", `"${parsed.normal}" is the root of a vNode, not a file`);
    }
    return parsed;
  }

  #resolve(path: StoragePath): HostPath {
    return resolveHostPath(this.#root, path);
  }

  /** The host path of `path` without checks: only for looking up the handle cache. */
  #lexicalHost(path: StoragePath): string {
    return `${vnodeDirectory(this.#root, path.vnode)}/${path.segments.join("/")}`;
  }

  /** Creates the vNode's directory on first use. */
  #ensureVnode(host: HostPath): void {
    if (host.vnodeRoot === this.#root) return;
    try {
      Deno.mkdirSync(host.vnodeRoot, { mode: 0o755 });
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
  }

  /** A pinned handle for `path`, checking the path only when the cache cannot serve it. */
  #handle(path: StoragePath, write: boolean): CachedHandle {
    const lexical = this.#lexicalHost(path);
    if (!this.#handles.holds(lexical, write)) {
      const host = this.#resolve(path);
      if (write) this.#ensureVnode(host);
    }
    const handle = this.#handles.acquire(lexical, { write, create: write });
    if (this.#handles.created) this.#notify("create", path.normal);
    return handle;
  }

  #checkIo(op: "read" | "write", offset: number, length: number): void {
    if (length > this.#options.maxIoBytes) {
      throw new KernelError(
        "EMSGSIZE",
        `${op} of ${length} bytes is over ${this.id}'s limit of ${this.#options.maxIoBytes} ` +
          "bytes per request; split it into chunks (StorageClient does)",
      );
    }
    if (op === "write" && offset + length > this.#options.maxFileBytes) {
      throw new KernelError(
        "EFBIG",
        `a write ending at byte ${offset + length} would make the file larger than ` +
          `${this.#options.maxFileBytes} bytes`,
      );
    }
  }

  #read(wirePath: string, offset: number, length: number): Reply<{ data: Uint8Array }> {
    this.#checkIo("read", offset, length);
    const path = this.#below(wirePath);
    if (length > this.#options.blockingIoMaxBytes) return this.#readAsync(path, offset, length);
    const handle = this.#handle(path, false);
    const buffer = new Uint8Array(length);
    let filled = 0;
    try {
      handle.file.seekSync(offset, Deno.SeekMode.Start);
      while (filled < length) {
        const n = handle.file.readSync(buffer.subarray(filled));
        if (n === null || n === 0) break;
        filled += n;
      }
    } finally {
      this.#handles.release(handle);
    }
    this.#counts.reads++;
    this.#counts.bytesRead += filled;
    return { data: filled === length ? buffer : buffer.subarray(0, filled) };
  }

  async #readAsync(path: StoragePath, offset: number, length: number) {
    const { host } = this.#resolve(path);
    using file = await Deno.open(host, { read: true });
    await file.seek(offset, Deno.SeekMode.Start);
    const buffer = new Uint8Array(length);
    let filled = 0;
    while (filled < length) {
      const n = await file.read(buffer.subarray(filled));
      if (n === null || n === 0) break;
      filled += n;
    }
    this.#counts.reads++;
    this.#counts.bytesRead += filled;
    return { data: buffer.subarray(0, filled) };
  }

  #write(
    wirePath: string,
    offset: number,
    data: Uint8Array,
    sync: boolean,
  ): Reply<{ written: number }> {
    this.#checkIo("write", offset, data.length);
    const path = this.#below(wirePath);
    if (data.length > this.#options.blockingIoMaxBytes) {
      return this.#writeAsync(path, offset, data, sync);
    }
    const handle = this.#handle(path, true);
    let written = 0;
    try {
      handle.file.seekSync(offset, Deno.SeekMode.Start);
      while (written < data.length) written += handle.file.writeSync(data.subarray(written));
    } catch (e) {
      this.#handles.release(handle);
      throw e;
    }
    this.#counts.writes++;
    this.#counts.bytesWritten += written;
    if (!sync) {
      this.#handles.release(handle);
      return { written };
    }
    // A sync write reaches the disk before the reply. Blocking, like the write itself:
    // Deno's asynchronous fdatasync costs a thread hop that shows at queue depth 1.
    try {
      handle.file.syncDataSync();
      this.#counts.syncs++;
    } finally {
      this.#handles.release(handle);
    }
    return { written };
  }

  async #writeAsync(path: StoragePath, offset: number, data: Uint8Array, sync: boolean) {
    const host = this.#resolve(path);
    this.#ensureVnode(host);
    let file: Deno.FsFile;
    try {
      file = await Deno.open(host.host, { write: true });
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      file = await Deno.open(host.host, { write: true, create: true, mode: 0o644 });
      this.#notify("create", path.normal);
    }
    using _ = file;
    await file.seek(offset, Deno.SeekMode.Start);
    let written = 0;
    while (written < data.length) written += await file.write(data.subarray(written));
    if (sync) {
      await file.syncData();
      this.#counts.syncs++;
    }
    this.#counts.writes++;
    this.#counts.bytesWritten += written;
    return { written };
  }

  #open(wirePath: string, flags: number, mode: number): { size: number } {
    const path = this.#below(wirePath);
    const host = this.#resolve(path);
    this.#counts.metadataOps++;
    const create = (flags & O_CREAT) !== 0;
    const truncate = (flags & O_TRUNC) !== 0;
    const fileMode = (mode & 0o7777) || 0o644;
    if (create) this.#ensureVnode(host);
    let info: Deno.FileInfo;
    if (create && (flags & O_EXCL) !== 0) {
      using file = Deno.openSync(host.host, { write: true, createNew: true, mode: fileMode });
      info = file.statSync();
      this.#notify("create", path.normal);
    } else {
      try {
        info = Deno.statSync(host.host);
      } catch (e) {
        if (!(create && e instanceof Deno.errors.NotFound)) throw e;
        using file = Deno.openSync(host.host, { write: true, create: true, mode: fileMode });
        info = file.statSync();
        this.#notify("create", path.normal);
      }
      if (info.isDirectory && ((flags & O_ACCMODE) !== O_RDONLY || create || truncate)) {
        throw new KernelError("EISDIR", `open "${path.normal}": it is a directory`);
      }
      if (truncate && info.size > 0) {
        Deno.truncateSync(host.host, 0);
        return { size: 0 };
      }
    }
    return { size: info.size };
  }

  #stat(wirePath: string) {
    const path = this.#parse(wirePath);
    const host = this.#resolve(path);
    this.#counts.metadataOps++;
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(host.host);
    } catch (e) {
      // A vNode that has stored nothing yet is an empty directory.
      if (!(host.isVnodeRoot && e instanceof Deno.errors.NotFound)) throw e;
      return { size: 0, mode: 0o040755, isDirectory: true, mtimeMs: 0 };
    }
    return {
      size: info.size,
      mode: info.mode ?? 0,
      isDirectory: info.isDirectory,
      mtimeMs: info.mtime?.getTime() ?? 0,
    };
  }

  #truncate(wirePath: string, length: number): Record<never, never> {
    if (length > this.#options.maxFileBytes) {
      throw new KernelError(
        "EFBIG",
        `truncate to ${length} bytes is over the file size limit of ${this.#options.maxFileBytes}`,
      );
    }
    const path = this.#below(wirePath);
    const host = this.#resolve(path);
    this.#counts.metadataOps++;
    Deno.truncateSync(host.host, length);
    return {};
  }

  #unlink(wirePath: string): Record<never, never> {
    const path = this.#below(wirePath);
    const host = this.#resolve(path);
    this.#counts.metadataOps++;
    if (Deno.lstatSync(host.host).isDirectory) {
      throw new KernelError("EISDIR", `unlink "${path.normal}": it is a directory (use rmdir)`);
    }
    this.#handles.invalidate(host.host);
    Deno.removeSync(host.host);
    this.#notify("remove", path.normal);
    return {};
  }

  #mkdir(wirePath: string, mode: number): Record<never, never> {
    const path = this.#below(wirePath);
    const host = this.#resolve(path);
    this.#counts.metadataOps++;
    this.#ensureVnode(host);
    Deno.mkdirSync(host.host, { mode: (mode & 0o7777) || 0o755 });
    return {};
  }

  #rmdir(wirePath: string): Record<never, never> {
    const path = this.#below(wirePath);
    const host = this.#resolve(path);
    this.#counts.metadataOps++;
    if (!Deno.lstatSync(host.host).isDirectory) {
      throw new KernelError("ENOTDIR", `rmdir "${path.normal}": it is not a directory`);
    }
    this.#handles.invalidate(host.host);
    Deno.removeSync(host.host);
    this.#notify("rmdir", path.normal);
    return {};
  }

  #rename(fromPath: string, toPath: string): Record<never, never> {
    const from = this.#below(fromPath);
    const to = this.#below(toPath);
    if (from.vnode !== to.vnode) {
      throw new KernelError(
        "EXDEV",
        `rename "${from.normal}" to "${to.normal}": a file cannot move between vNodes`,
      );
    }
    const fromHost = this.#resolve(from);
    const toHost = this.#resolve(to);
    this.#counts.metadataOps++;
    this.#handles.invalidate(fromHost.host);
    this.#handles.invalidate(toHost.host);
    Deno.renameSync(fromHost.host, toHost.host);
    this.#notify("rename", from.normal, to.normal);
    try {
      if (Deno.statSync(toHost.host).isFile) this.#notify("create", to.normal);
    } catch {
      // Gone again already: nothing to report.
    }
    return {};
  }

  #readdir(wirePath: string): string[] {
    const path = this.#parse(wirePath);
    const host = this.#resolve(path);
    this.#counts.metadataOps++;
    const names: string[] = [];
    // The default vNode's root also holds the other vNodes' directories: not its names.
    const hideVnodes = path.vnode === undefined && host.isVnodeRoot;
    try {
      for (const entry of Deno.readDirSync(host.host)) {
        if (hideVnodes && entry.name.startsWith("@")) continue;
        if (names.length === MAX_READDIR_ENTRIES) {
          throw new KernelError(
            "E2BIG",
            `readdir "${path.normal}": more than ${MAX_READDIR_ENTRIES} entries`,
          );
        }
        names.push(entry.name);
      }
    } catch (e) {
      if (host.isVnodeRoot && e instanceof Deno.errors.NotFound) return [];
      throw e;
    }
    return names.sort();
  }

  async #fsync(wirePath: string): Promise<Record<never, never>> {
    const path = this.#parse(wirePath);
    const host = this.#resolve(path);
    this.#counts.metadataOps++;
    // fsync works on a read-only descriptor, and so on directories too.
    using file = await Deno.open(host.host, { read: true });
    await file.sync();
    this.#counts.syncs++;
    return {};
  }

  /** Tells the manager about a namespace change; best effort, never in the way. */
  #notify(change: "create" | "remove" | "rmdir" | "rename", path: string, to = ""): void {
    this.#context.rpc.notify(this.#context.manager, "MGR_FILE_CHANGED", { change, path, to })
      .catch(() => {});
  }
}

function defaults(): StorageOptions {
  const parsed = StorageOptionsSchema.safeParse({});
  if (!parsed.success) throw new Error("the storage options' defaults do not validate");
  return parsed.data;
}
