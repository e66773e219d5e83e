/**
 * The process API: the only way a workload touches memory and files.
 *
 * A workload is a module exporting `main(proc)`; it runs on a processor component and
 * sees its virtual address space only through these calls, never as a host array. Every
 * load and store goes through the processor's cache; a miss crosses the transport to the
 * memory component that owns the page.
 *
 * @example
 * ```ts ignore
 * import type { Proc } from "legoemu";
 * export async function main(proc: Proc): Promise<number> {
 *   const addr = await proc.mmap(1 << 20);
 *   await proc.storeU32(addr, 42);
 *   return (await proc.loadU32(addr)) === 42 ? 0 : 1;
 * }
 * ```
 *
 * @module
 */

/** Options for {@link Proc.mmap}. */
export interface MmapOptions {
  /** Address hint (or exact address with `MAP_FIXED`); 0 lets the kernel choose. */
  addr?: number;
  /** `PROT_*` bits; default read + write. */
  prot?: number;
  /** `MAP_*` bits; default private + anonymous. */
  flags?: number;
}

/** What {@link Proc.stat} reports. */
export interface FileStat {
  /** Size in bytes. */
  size: number;
  /** Whether the path is a directory. */
  isDirectory: boolean;
  /** Permission bits. */
  mode: number;
  /** Last modification, epoch milliseconds. */
  mtimeMs: number;
}

/** A running process, as its workload sees it. */
export interface Proc {
  /** Cluster-wide process id. */
  readonly pid: number;
  /** Arguments the process was started with. */
  readonly args: readonly string[];

  /** Maps `length` bytes of anonymous memory; returns its address. */
  mmap(length: number, options?: MmapOptions): Promise<number>;
  /** Unmaps `[addr, addr + length)`; dirty cached lines are written back first. */
  munmap(addr: number, length: number): Promise<void>;
  /** Sets the program break to `addr` (0 queries it); returns the new break. */
  brk(addr?: number): Promise<number>;

  /** Reads `length` bytes at virtual address `addr`. */
  load(addr: number, length: number): Promise<Uint8Array>;
  /** Writes `data` at virtual address `addr`. */
  store(addr: number, data: Uint8Array): Promise<void>;
  /** Reads a little-endian u32 at `addr`. */
  loadU32(addr: number): Promise<number>;
  /** Writes a little-endian u32 at `addr`. */
  storeU32(addr: number, value: number): Promise<void>;
  /** Reads a little-endian f64 at `addr`. */
  loadF64(addr: number): Promise<number>;
  /** Writes a little-endian f64 at `addr`. */
  storeF64(addr: number, value: number): Promise<void>;

  /** Opens `path` with `O_*` flags; returns a file descriptor. */
  open(path: string, flags?: number, mode?: number): Promise<number>;
  /** Reads up to `length` bytes from `fd` at its position (advancing it). */
  read(fd: number, length: number): Promise<Uint8Array>;
  /** Writes `data` to `fd` at its position (advancing it); returns bytes written. */
  write(fd: number, data: Uint8Array): Promise<number>;
  /** Moves the position of `fd` to `offset`. */
  seek(fd: number, offset: number): void;
  /** Flushes `fd`'s data to stable storage. */
  fsync(fd: number): Promise<void>;
  /** Closes `fd`. */
  close(fd: number): Promise<void>;
  /** Describes `path`. */
  stat(path: string): Promise<FileStat>;
  /** Removes the file `path`. */
  unlink(path: string): Promise<void>;
  /** Creates the directory `path`. */
  mkdir(path: string, mode?: number): Promise<void>;
  /** Renames `from` to `to`. */
  rename(from: string, to: string): Promise<void>;

  /** Writes a log line attributed to this process. */
  log(...parts: unknown[]): void;
}

/** The shape of a workload module. */
export interface WorkloadModule {
  /** Runs the workload; the returned number (default 0) is the exit code. */
  main(proc: Proc): Promise<number | void> | number | void;
}
