/**
 * One running process as its workload sees it: the {@link Proc} implementation. Memory
 * accesses go line by line through the processor's cache; address-space calls go to the
 * home memory component; file calls go to the storage component holding the file.
 *
 * @module
 */

import { MAP_ANONYMOUS, MAP_PRIVATE, O_APPEND, PROT_READ, PROT_WRITE } from "../../kernel/abi.ts";
import { KernelError } from "../../kernel/errors.ts";
import { PAGE_SIZE } from "../../kernel/messages.ts";
import type { FileStat, MmapOptions, Proc } from "../../kernel/process_api.ts";

/** What a process needs from the processor monitor that runs it. */
export interface ProcessHost {
  /**
   * Runs `use` on the cached line holding virtual page `vpn` of `pid`, fetching it on a
   * miss; `use` runs synchronously while the line is guaranteed resident.
   */
  withLine<T>(pid: number, vpn: number, write: boolean, use: (line: Uint8Array) => T): Promise<T>;
  /** Address-space calls to the home memory component. */
  mmap(pid: number, addr: number, length: number, prot: number, flags: number): Promise<number>;
  /** Unmaps after writing back and dropping the cached lines of the range. */
  munmap(pid: number, addr: number, length: number): Promise<void>;
  /** Moves the break. */
  brk(pid: number, addr: number): Promise<number>;
  /** File calls, stateless: every call names the path. */
  files: FileHost;
  /** Writes a log line. */
  log(pid: number, message: string): void;
}

/** Stateless file calls, routed to the storage component that holds each file. */
export interface FileHost {
  /** Opens (or creates) `path`; returns its size. */
  open(pid: number, path: string, flags: number, mode: number): Promise<number>;
  /** Reads up to `length` bytes at `offset`. */
  read(pid: number, path: string, offset: number, length: number): Promise<Uint8Array>;
  /** Writes `data` at `offset`; returns bytes written. */
  write(pid: number, path: string, offset: number, data: Uint8Array): Promise<number>;
  /** Flushes the file to disk. */
  fsync(pid: number, path: string): Promise<void>;
  /** Describes `path`. */
  stat(pid: number, path: string): Promise<FileStat>;
  /** Removes `path`. */
  unlink(pid: number, path: string): Promise<void>;
  /** Creates a directory. */
  mkdir(pid: number, path: string, mode: number): Promise<void>;
  /** Renames a file. */
  rename(pid: number, from: string, to: string): Promise<void>;
}

interface OpenFile {
  path: string;
  position: number;
  append: boolean;
}

/**
 * The process API over a {@link ProcessHost}.
 *
 * @example
 * ```ts ignore
 * const proc = new Process(7, ["--size", "4"], host);
 * await proc.storeU32(await proc.mmap(4096), 1);
 * ```
 */
export class Process implements Proc {
  /** Process id. */
  readonly pid: number;
  /** Arguments. */
  readonly args: readonly string[];
  #host: ProcessHost;
  #files = new Map<number, OpenFile>();
  #nextFd = 3;

  /** Creates the process view for `pid`. */
  constructor(pid: number, args: readonly string[], host: ProcessHost) {
    this.pid = pid;
    this.args = args;
    this.#host = host;
  }

  /** Maps anonymous memory. */
  mmap(length: number, options: MmapOptions = {}): Promise<number> {
    checkAddress("mmap length", length);
    return this.#host.mmap(
      this.pid,
      options.addr ?? 0,
      length,
      options.prot ?? (PROT_READ | PROT_WRITE),
      options.flags ?? (MAP_PRIVATE | MAP_ANONYMOUS),
    );
  }

  /** Unmaps a range. */
  munmap(addr: number, length: number): Promise<void> {
    checkAddress("munmap address", addr);
    checkAddress("munmap length", length);
    return this.#host.munmap(this.pid, addr, length);
  }

  /** Moves or queries the break. */
  brk(addr = 0): Promise<number> {
    checkAddress("brk address", addr);
    return this.#host.brk(this.pid, addr);
  }

  /** Reads bytes at a virtual address. */
  async load(addr: number, length: number): Promise<Uint8Array> {
    checkAddress("load address", addr);
    checkAddress("load length", length);
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const at = addr + done;
      const offset = at % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - offset, length - done);
      await this.#host.withLine(this.pid, (at - offset) / PAGE_SIZE, false, (line) => {
        out.set(line.subarray(offset, offset + n), done);
      });
      done += n;
    }
    return out;
  }

  /** Writes bytes at a virtual address. */
  async store(addr: number, data: Uint8Array): Promise<void> {
    checkAddress("store address", addr);
    let done = 0;
    while (done < data.length) {
      const at = addr + done;
      const offset = at % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - offset, data.length - done);
      await this.#host.withLine(this.pid, (at - offset) / PAGE_SIZE, true, (line) => {
        line.set(data.subarray(done, done + n), offset);
      });
      done += n;
    }
  }

  /** Reads a little-endian u32. */
  async loadU32(addr: number): Promise<number> {
    return new DataView((await this.load(addr, 4)).buffer).getUint32(0, true);
  }

  /** Writes a little-endian u32. */
  storeU32(addr: number, value: number): Promise<void> {
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setUint32(0, value, true);
    return this.store(addr, bytes);
  }

  /** Reads a little-endian f64. */
  async loadF64(addr: number): Promise<number> {
    return new DataView((await this.load(addr, 8)).buffer).getFloat64(0, true);
  }

  /** Writes a little-endian f64. */
  storeF64(addr: number, value: number): Promise<void> {
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setFloat64(0, value, true);
    return this.store(addr, bytes);
  }

  /** Opens a file. */
  async open(path: string, flags = 0, mode = 0o644): Promise<number> {
    await this.#host.files.open(this.pid, path, flags, mode);
    const fd = this.#nextFd++;
    this.#files.set(fd, { path, position: 0, append: (flags & O_APPEND) !== 0 });
    return fd;
  }

  /** Reads from an open file at its position. */
  async read(fd: number, length: number): Promise<Uint8Array> {
    checkAddress("read length", length);
    const file = this.#file(fd);
    const data = await this.#host.files.read(this.pid, file.path, file.position, length);
    file.position += data.length;
    return data;
  }

  /** Writes to an open file at its position (or its end, when opened with `O_APPEND`). */
  async write(fd: number, data: Uint8Array): Promise<number> {
    const file = this.#file(fd);
    if (file.append) file.position = (await this.#host.files.stat(this.pid, file.path)).size;
    const written = await this.#host.files.write(this.pid, file.path, file.position, data);
    file.position += written;
    return written;
  }

  /** Moves a file position. */
  seek(fd: number, offset: number): void {
    checkAddress("seek offset", offset);
    this.#file(fd).position = offset;
  }

  /** Flushes a file to disk. */
  fsync(fd: number): Promise<void> {
    return this.#host.files.fsync(this.pid, this.#file(fd).path);
  }

  /** Closes a file descriptor. */
  close(fd: number): Promise<void> {
    this.#file(fd);
    this.#files.delete(fd);
    return Promise.resolve();
  }

  /** Describes a path. */
  stat(path: string): Promise<FileStat> {
    return this.#host.files.stat(this.pid, path);
  }

  /** Removes a file. */
  unlink(path: string): Promise<void> {
    return this.#host.files.unlink(this.pid, path);
  }

  /** Creates a directory. */
  mkdir(path: string, mode = 0o755): Promise<void> {
    return this.#host.files.mkdir(this.pid, path, mode);
  }

  /** Renames a file. */
  rename(from: string, to: string): Promise<void> {
    return this.#host.files.rename(this.pid, from, to);
  }

  /** Logs a line attributed to this process. */
  log(...parts: unknown[]): void {
    this.#host.log(
      this.pid,
      parts.map((p) => typeof p === "string" ? p : Deno.inspect(p)).join(" "),
    );
  }

  #file(fd: number): OpenFile {
    const file = this.#files.get(fd);
    if (!file) throw new KernelError("EBADF", `bad file descriptor ${fd}`);
    return file;
  }
}

function checkAddress(what: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new KernelError("EINVAL", `${what} must be a non-negative integer, got ${value}`);
  }
}
