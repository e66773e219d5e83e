/**
 * The system calls a thread makes, served by the processor monitor while the thread
 * sleeps, and routed as LegoOS routes them:
 * - address-space calls (`mmap`, `munmap`, `mremap`, `mprotect`, `brk`) go to the
 *   process's **home** memory component, after the ExCache has written back or dropped
 *   the lines the call affects;
 * - file `read`/`write`/`fsync` go through the home's **buffer cache** (`P2M_READ`,
 *   `P2M_WRITE`, `P2M_FSYNC`);
 * - `open`, `stat`, `unlink`, `mkdir`, `rename` go straight to the **storage** component
 *   that holds the path (asked of the global storage manager once, then remembered);
 * - `spawn`, `join`, `counters` stay on the processor.
 *
 * Every argument arrives as JSON from a workload and is checked here: a bad argument is
 * an `EINVAL` error returned to the calling thread, never a crash.
 *
 * @module
 */

import {
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  O_APPEND,
  PROT_READ,
  PROT_WRITE,
} from "../../kernel/abi.ts";
import { KernelError, RemoteError } from "../../kernel/errors.ts";
import type { ComponentId } from "../../kernel/ids.ts";
import type { LatencyModel } from "../../kernel/latency.ts";
import type { MessageKind, ReplyOf, RequestOf } from "../../kernel/messages.ts";
import type { ThreadCounters } from "../../kernel/process_api.ts";
import { LINE_BYTES, VADDR_LIMIT } from "./layout.ts";
import type { CallSize, Messenger } from "./messenger.ts";
import type { PageService } from "./page_service.ts";
import { persistentWrite } from "./persistent_write.ts";
import type { PmemClient } from "../../kernel/pmem_paths.ts";
import type { OpenFile, ProcessRecord, ThreadRecord } from "./records.ts";
import { pageUp, VmaMirror } from "./vma_mirror.ts";

/** A system call's reply: a JSON object and optional bytes. */
export interface SyscallResult {
  /** The JSON reply. */
  reply: Record<string, unknown>;
  /** Binary payload (file data). */
  blob?: Uint8Array;
}

/** What the system calls need from the monitor. */
export interface SyscallHost {
  /** The global manager's id. */
  readonly manager: ComponentId;
  /** Sends messages on behalf of threads. */
  readonly messenger: Messenger;
  /** Charges device time of the calls that reach storage directly. */
  readonly latency: LatencyModel;
  /** The ExCache's miss and write-back service. */
  readonly pages: PageService;
  /** A client of PMEM memory component `owner` (`proc.persistentWrite`); absent: ENOSYS. */
  pmem?(owner: ComponentId): Promise<PmemClient>;
  /** Starts thread `entry(proc, arg)` in `process`, at `parent`'s model time. */
  spawnThread(process: ProcessRecord, entry: string, arg: unknown, parent: ThreadRecord): number;
}

type Args = Record<string, unknown>;
type Handler = (t: ThreadRecord, args: Args, blob: Uint8Array) => Promise<SyscallResult>;

const ENTRY_NAME = /^[A-Za-z_$][\w$]{0,127}$/;

function integer(args: Args, name: string, fallback?: number): number {
  const value = args[name] ?? fallback;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new KernelError(
      "EINVAL",
      `${name} must be a non-negative integer, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/**
 * Lengths at or above this are answered as if they were this: larger than the 47-bit
 * address space, so the memory component gives Linux's errno for a length too large
 * (`ENOMEM` for `mmap`, `EINVAL` for `munmap` ...), and exactly representable on the wire.
 */
const HUGE_LENGTH = 2 ** 52;

/**
 * A byte count: any non-negative integer-valued number (Linux's lengths are 64-bit, so
 * 2^62 is a legal argument whose answer is the call's errno for a length too large).
 */
function length(args: Args, name: string): number {
  const value = args[name];
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
    throw new KernelError(
      "EINVAL",
      `${name} must be a non-negative integer, got ${JSON.stringify(value)}`,
    );
  }
  return Math.min(value, HUGE_LENGTH);
}

function address(args: Args, name: string, fallback?: number): number {
  const value = integer(args, name, fallback);
  if (value >= VADDR_LIMIT) {
    throw new KernelError("EINVAL", `${name} 0x${value.toString(16)} is beyond the 47-bit space`);
  }
  return value;
}

function aligned(args: Args, name: string): number {
  const value = address(args, name);
  if (value % LINE_BYTES !== 0) {
    throw new KernelError("EINVAL", `${name} 0x${value.toString(16)} is not page-aligned`);
  }
  return value;
}

function text(args: Args, name: string, fallback?: string): string {
  const value = args[name] ?? fallback;
  if (typeof value !== "string" || value.length === 0) {
    throw new KernelError("EINVAL", `${name} must be a non-empty string`);
  }
  return value;
}

const pathBytes = (path: string) => new TextEncoder().encode(path).length;

/**
 * The system-call table of one processor monitor.
 *
 * @example
 * ```ts ignore
 * const syscalls = new Syscalls(host);
 * const { reply } = await syscalls.run(thread, { op: "mmap", length: 4096 }, new Uint8Array());
 * ```
 */
export class Syscalls {
  readonly #host: SyscallHost;
  /** Path → the storage component holding it. */
  readonly #storageOf = new Map<string, ComponentId>();
  readonly #storageLookups = new Map<string, Promise<ComponentId>>();
  /** Homes that answered that they have no buffer cache (files then go to storage). */
  readonly #noBufferCache = new Set<ComponentId>();
  readonly #handlers: Record<string, Handler>;

  /** Creates the table. */
  constructor(host: SyscallHost) {
    this.#host = host;
    this.#handlers = {
      mmap: (t, a) => this.#mmap(t, a),
      munmap: (t, a) => this.#munmap(t, a),
      mremap: (t, a) => this.#mremap(t, a),
      mprotect: (t, a) => this.#mprotect(t, a),
      msync: (t, a) => this.#msync(t, a),
      persistentWrite: async (t, a, blob) => {
        const { pmem, pages } = this.#host;
        if (!pmem) throw new KernelError("ENOSYS", "this processor has no PMEM client");
        await persistentWrite({ pages, pmem: (owner) => pmem(owner) }, t, a, blob);
        return { reply: {} };
      },
      brk: (t, a) => this.#brk(t, a),
      open: (t, a) => this.#open(t, a),
      read: (t, a) => this.#read(t, a),
      write: (t, a, blob) => this.#write(t, a, blob),
      seek: (t, a) => this.#seek(t, a),
      fsync: (t, a) => this.#fsync(t, a),
      close: (t, a) => this.#close(t, a),
      stat: (t, a) => this.#stat(t, a),
      unlink: (t, a) => this.#toStorage(t, a, "P2S_UNLINK"),
      mkdir: (t, a) => this.#toStorage(t, a, "P2S_MKDIR"),
      rename: (t, a) => this.#rename(t, a),
      spawn: (t, a) => this.#spawn(t, a),
      join: (t, a) => this.#join(t, a),
      counters: (t) => Promise.resolve({ reply: { ...counters(t) } }),
    };
  }

  /** Runs the call described by `args.op` for thread `t`. */
  run(t: ThreadRecord, args: Args, blob: Uint8Array): Promise<SyscallResult> {
    const op = args?.op;
    const handler = typeof op === "string" && Object.hasOwn(this.#handlers, op)
      ? this.#handlers[op]
      : undefined;
    if (!handler) {
      return Promise.reject(new KernelError("ENOSYS", `no system call ${JSON.stringify(op)}`));
    }
    return handler(t, args, blob);
  }

  /** Closes every open file of an ending process (flushing written ones). */
  async closeAll(t: ThreadRecord): Promise<void> {
    for (const fd of [...t.process.files.keys()]) {
      await this.#close(t, { fd }).catch(() => {});
    }
  }

  #call<K extends MessageKind>(
    t: ThreadRecord,
    to: ComponentId,
    kind: K,
    body: RequestOf<K>,
    size: CallSize,
  ): Promise<ReplyOf<K>> {
    return this.#host.messenger.call(t, to, kind, body, size);
  }

  // ── address space ──

  #mmap(t: ThreadRecord, args: Args): Promise<SyscallResult> {
    return t.process.changeAddressSpace(() => this.#mmapNow(t, args));
  }

  async #mmapNow(t: ThreadRecord, args: Args): Promise<SyscallResult> {
    const p = t.process;
    const bytes = length(args, "length");
    const path = args.path === undefined || args.path === "" ? "" : text(args, "path");
    const prot = integer(args, "prot", PROT_READ | PROT_WRITE);
    const flags = integer(args, "flags", path ? MAP_PRIVATE : MAP_PRIVATE | MAP_ANONYMOUS);
    const hint = address(args, "addr", 0);
    const offset = integer(args, "offset", 0);
    const { addr } = await this.#call(t, p.home, "P2M_MMAP", {
      pid: p.pid,
      addr: hint,
      length: bytes,
      prot,
      flags,
      path,
      offset,
    }, { request: 48 + pathBytes(path), reply: 8 });
    const end = addr + pageUp(bytes);
    if (flags & MAP_FIXED) {
      // The new mapping replaced whatever was there: its lines and memory's copies die.
      await this.#host.pages.syncRange(t, p, addr, end, () => "discard");
    }
    forgetFlushed(p, addr, end);
    p.vmas.map(addr, end, prot, path !== "", path !== "" && (flags & MAP_SHARED) !== 0);
    return { reply: { addr } };
  }

  #munmap(t: ThreadRecord, args: Args): Promise<SyscallResult> {
    return t.process.changeAddressSpace(() => this.#munmapNow(t, args));
  }

  async #munmapNow(t: ThreadRecord, args: Args): Promise<SyscallResult> {
    const p = t.process;
    const addr = aligned(args, "addr");
    const bytes = length(args, "length");
    if (bytes === 0) throw new KernelError("EINVAL", "munmap length must be > 0");
    if (bytes >= VADDR_LIMIT) {
      throw new KernelError("EINVAL", `munmap length ${bytes} is beyond the address space`);
    }
    const end = addr + pageUp(bytes);
    // Private memory (anonymous, or a private copy of a file) is discarded with its
    // mapping, so its dirty lines are dropped unwritten; a shared file mapping's dirty
    // lines are the file's data, which outlives it.
    await this.#host.pages.syncRange(
      t,
      p,
      addr,
      end,
      (range) => VmaMirror.keepsWrites(range) ? "drop" : "discard",
    );
    await this.#call(t, p.home, "P2M_MUNMAP", { pid: p.pid, addr, length: bytes }, {
      request: 24,
    });
    p.vmas.unmap(addr, end);
    forgetFlushed(p, addr, end);
    return { reply: {} };
  }

  #mremap(t: ThreadRecord, args: Args): Promise<SyscallResult> {
    return t.process.changeAddressSpace(() => this.#mremapNow(t, args));
  }

  async #mremapNow(t: ThreadRecord, args: Args): Promise<SyscallResult> {
    const p = t.process;
    const oldAddr = aligned(args, "oldAddr");
    const oldLength = length(args, "oldLength");
    const newLength = length(args, "newLength");
    // Explicit, as in Linux: without MREMAP_MAYMOVE the mapping never moves.
    const flags = integer(args, "flags", 0);
    const newAddr = address(args, "newAddr", 0);
    const oldEnd = Math.min(oldAddr + pageUp(oldLength), VADDR_LIMIT);
    // The data moves with the mapping: memory must hold all of it, so write every dirty
    // line back (p-local ones included) and drop the cached copies at the old address.
    await this.#host.pages.syncRange(t, p, oldAddr, oldEnd, () => "drop");
    const { addr } = await this.#call(t, p.home, "P2M_MREMAP", {
      pid: p.pid,
      oldAddr,
      oldLength,
      newLength,
      flags,
      newAddr,
    }, { request: 48, reply: 8 });
    const newEnd = addr + pageUp(newLength);
    const moved = [...p.flushed].filter((line) =>
      line >= oldAddr / LINE_BYTES && line < oldEnd / LINE_BYTES
    );
    if (addr !== oldAddr) {
      await this.#host.pages.syncRange(t, p, addr, newEnd, () => "discard");
      forgetFlushed(p, addr, newEnd);
    }
    for (const line of moved) p.flushed.delete(line);
    for (const line of moved) {
      const at = line * LINE_BYTES - oldAddr;
      if (at < pageUp(newLength)) p.flushed.add((addr + at) / LINE_BYTES);
    }
    p.vmas.remap(oldAddr, oldLength, addr, newLength);
    return { reply: { addr } };
  }

  #mprotect(t: ThreadRecord, args: Args): Promise<SyscallResult> {
    return t.process.changeAddressSpace(() => this.#mprotectNow(t, args));
  }

  async #mprotectNow(t: ThreadRecord, args: Args): Promise<SyscallResult> {
    const p = t.process;
    const addr = aligned(args, "addr");
    const bytes = length(args, "length");
    const prot = integer(args, "prot");
    const end = Math.min(addr + pageUp(bytes), VADDR_LIMIT);
    // Drop the range's lines (writing dirty ones back) so every later access is checked
    // against the new protection.
    await this.#host.pages.syncRange(t, p, addr, end, () => "drop");
    try {
      await this.#call(t, p.home, "P2M_MPROTECT", { pid: p.pid, addr, length: bytes, prot }, {
        request: 28,
      });
    } catch (e) {
      // Linux changes the mapped part before a hole, then fails with ENOMEM.
      if (e instanceof KernelError && e.code === "ENOMEM") p.vmas.protectUntilHole(addr, end, prot);
      throw e;
    }
    p.vmas.protect(addr, end, prot);
    return { reply: {} };
  }

  async #msync(t: ThreadRecord, args: Args): Promise<SyscallResult> {
    const addr = aligned(args, "addr");
    const bytes = length(args, "length");
    const end = Math.min(addr + pageUp(bytes), VADDR_LIMIT);
    await this.#host.pages.syncRange(t, t.process, addr, end, () => "keep");
    return { reply: {} };
  }

  #brk(t: ThreadRecord, args: Args): Promise<SyscallResult> {
    return t.process.changeAddressSpace(() => this.#brkNow(t, args));
  }

  async #brkNow(t: ThreadRecord, args: Args): Promise<SyscallResult> {
    const p = t.process;
    const want = address(args, "addr", 0);
    if (!p.heap) {
      const { addr: start } = await this.#call(t, p.home, "P2M_BRK", { pid: p.pid, addr: 0 }, {
        request: 12,
        reply: 8,
      });
      p.heap = { start, brk: start };
    }
    if (want === 0) return { reply: { addr: p.heap.brk } };
    const before = p.heap.brk;
    const { addr: now } = await this.#call(t, p.home, "P2M_BRK", { pid: p.pid, addr: want }, {
      request: 12,
      reply: 8,
    });
    const [oldTop, newTop] = [pageUp(before), pageUp(now)];
    if (newTop > oldTop) {
      forgetFlushed(p, oldTop, newTop);
      p.vmas.map(oldTop, newTop, PROT_READ | PROT_WRITE, false);
    } else if (newTop < oldTop) {
      // Released heap is anonymous memory that dies: drop its lines unwritten.
      await this.#host.pages.syncRange(t, p, newTop, oldTop, () => "discard");
      p.vmas.unmap(newTop, oldTop);
      forgetFlushed(p, newTop, oldTop);
    }
    p.heap.brk = now;
    return { reply: { addr: now } };
  }

  // ── files ──

  async #storageFor(t: ThreadRecord, path: string): Promise<ComponentId> {
    const known = this.#storageOf.get(path);
    if (known) return known;
    let lookup = this.#storageLookups.get(path);
    if (!lookup) {
      lookup = this.#call(t, this.#host.manager, "MGR_PLACE_FILE", { path }, {
        request: 2 + pathBytes(path),
        reply: 8,
      }).then(({ storage }) => {
        this.#storageOf.set(path, storage);
        return storage;
      }).finally(() => this.#storageLookups.delete(path));
      this.#storageLookups.set(path, lookup);
    }
    return await lookup;
  }

  #file(t: ThreadRecord, args: Args): OpenFile & { fd: number } {
    const fd = integer(args, "fd");
    const file = t.process.files.get(fd);
    if (!file) throw new KernelError("EBADF", `bad file descriptor ${fd}`);
    return Object.assign(file, { fd });
  }

  /** Tries the home's buffer cache; falls back to storage when the home has none. */
  async #viaBufferCache<T>(
    t: ThreadRecord,
    buffered: () => Promise<T>,
    direct: () => Promise<T>,
  ): Promise<T> {
    const home = t.process.home;
    if (this.#noBufferCache.has(home)) return await direct();
    try {
      return await buffered();
    } catch (e) {
      if (!(e instanceof RemoteError && e.code === "UNHANDLED")) throw e;
      this.#noBufferCache.add(home);
      return await direct();
    }
  }

  async #open(t: ThreadRecord, args: Args): Promise<SyscallResult> {
    const path = text(args, "path");
    const flags = integer(args, "flags", 0);
    const mode = integer(args, "mode", 0o644);
    const storage = await this.#storageFor(t, path);
    const { size } = await this.#call(t, storage, "P2S_OPEN", { path, flags, mode }, {
      request: 10 + pathBytes(path),
      reply: 8,
    });
    const p = t.process;
    const fd = p.nextFd++;
    p.files.set(fd, { path, position: 0, append: (flags & O_APPEND) !== 0, written: false, size });
    return { reply: { fd } };
  }

  async #read(t: ThreadRecord, args: Args): Promise<SyscallResult> {
    const file = this.#file(t, args);
    const length = integer(args, "length");
    const { path, position: offset } = file;
    const p = t.process;
    const { data } = await this.#viaBufferCache(
      t,
      () =>
        this.#call(t, p.home, "P2M_READ", { pid: p.pid, path, offset, length }, {
          request: 20 + pathBytes(path),
          reply: length,
        }),
      async () =>
        this.#call(t, await this.#storageFor(t, path), "P2S_READ", { path, offset, length }, {
          request: 16 + pathBytes(path),
          reply: length,
        }),
    );
    file.position += data.length;
    return { reply: {}, blob: data };
  }

  async #write(t: ThreadRecord, args: Args, data: Uint8Array): Promise<SyscallResult> {
    const file = this.#file(t, args);
    const p = t.process;
    const { path } = file;
    if (file.append) file.position = file.size;
    const offset = file.position;
    const { written } = await this.#viaBufferCache(
      t,
      () =>
        this.#call(t, p.home, "P2M_WRITE", { pid: p.pid, path, offset, data }, {
          request: data.length + 20 + pathBytes(path),
          reply: 4,
        }),
      async () =>
        this.#call(t, await this.#storageFor(t, path), "P2S_WRITE", {
          path,
          offset,
          data,
          sync: false,
        }, {
          request: data.length + 17 + pathBytes(path),
          reply: 4,
        }),
    );
    file.position += written;
    file.size = Math.max(file.size, file.position);
    file.written = true;
    return { reply: { written } };
  }

  #seek(t: ThreadRecord, args: Args): Promise<SyscallResult> {
    const file = this.#file(t, args);
    file.position = integer(args, "offset");
    return Promise.resolve({ reply: {} });
  }

  async #fsync(t: ThreadRecord, args: Args): Promise<SyscallResult> {
    const file = this.#file(t, args);
    const p = t.process;
    const path = file.path;
    await this.#viaBufferCache(
      t,
      () =>
        this.#call(t, p.home, "P2M_FSYNC", { pid: p.pid, path }, {
          request: 6 + pathBytes(path),
        }),
      async () =>
        this.#call(t, await this.#storageFor(t, path), "P2S_FSYNC", { path }, {
          request: 2 + pathBytes(path),
        }),
    );
    file.written = false;
    return { reply: {} };
  }

  async #close(t: ThreadRecord, args: Args): Promise<SyscallResult> {
    const file = this.#file(t, args);
    // The buffer cache writes back on fsync; a closed file's data must reach storage.
    if (file.written) await this.#fsync(t, args);
    t.process.files.delete(file.fd);
    return { reply: {} };
  }

  async #stat(t: ThreadRecord, args: Args): Promise<SyscallResult> {
    const path = text(args, "path");
    const stat = await this.#call(t, await this.#storageFor(t, path), "P2S_STAT", { path }, {
      request: 2 + pathBytes(path),
      reply: 21,
    });
    return { reply: { ...stat } };
  }

  async #toStorage(
    t: ThreadRecord,
    args: Args,
    kind: "P2S_UNLINK" | "P2S_MKDIR",
  ): Promise<SyscallResult> {
    const path = text(args, "path");
    const storage = await this.#storageFor(t, path);
    const size = { request: 6 + pathBytes(path) };
    if (kind === "P2S_MKDIR") {
      await this.#call(t, storage, kind, { path, mode: integer(args, "mode", 0o755) }, size);
    } else await this.#call(t, storage, kind, { path }, size);
    return { reply: {} };
  }

  async #rename(t: ThreadRecord, args: Args): Promise<SyscallResult> {
    const from = text(args, "from");
    const to = text(args, "to");
    const storage = await this.#storageFor(t, from);
    await this.#call(t, storage, "P2S_RENAME", { from, to }, {
      request: 4 + pathBytes(from) + pathBytes(to),
    });
    this.#storageOf.set(to, storage);
    return { reply: {} };
  }

  // ── threads ──

  #spawn(t: ThreadRecord, args: Args): Promise<SyscallResult> {
    const entry = text(args, "entry");
    if (!ENTRY_NAME.test(entry)) {
      throw new KernelError(
        "EINVAL",
        `thread entry ${JSON.stringify(entry)} is not an export name`,
      );
    }
    const tid = this.#host.spawnThread(t.process, entry, args.arg ?? null, t);
    return Promise.resolve({ reply: { tid } });
  }

  async #join(t: ThreadRecord, args: Args): Promise<SyscallResult> {
    const tid = integer(args, "tid");
    const target = t.process.threads.get(tid);
    if (!target) throw new KernelError("ESRCH", `process ${t.process.pid} has no thread ${tid}`);
    if (target === t) throw new KernelError("EDEADLK", `thread ${tid} cannot join itself`);
    const end = await target.ended;
    // The joiner continues once the joined thread's work is done, in model time too.
    t.clock.advanceTo(Math.max(0, target.modelNs() - t.ownNs()));
    if (end.kind === "failed") throw new KernelError("ESRCH", `thread ${tid} failed: ${end.error}`);
    return { reply: { value: end.kind === "returned" ? end.value : end.code } };
  }
}

/** The counters a thread sees through `proc.counters()`. */
function counters(t: ThreadRecord): ThreadCounters {
  const c = t.snapshot();
  return {
    hits: c.hits,
    misses: c.misses,
    evictions: c.evictions,
    dirtyFlushes: c.dirtyFlushes,
    piggybacked: c.piggybacked,
    pLocalZeroFills: c.pLocalZeroFills,
    pagesFetched: c.pagesFetched,
    messages: c.messages,
    modelNs: t.modelNs(),
  };
}

/** Forgets that memory holds lines of `[start, end)` (it freed them, or never had them). */
function forgetFlushed(p: ProcessRecord, start: number, end: number): void {
  const first = Math.floor(start / LINE_BYTES);
  const last = Math.ceil(end / LINE_BYTES);
  if (last - first <= p.flushed.size) {
    for (let line = first; line < last; line++) p.flushed.delete(line);
  } else {
    for (const line of p.flushed) if (line >= first && line < last) p.flushed.delete(line);
  }
}
