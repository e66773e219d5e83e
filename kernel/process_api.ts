/**
 * The process API: the only way a workload touches memory and files.
 *
 * A workload is a module exporting `main(proc)`; each of its threads runs in its own
 * Worker on a processor component and sees its virtual address space only through these
 * calls, never as a host array. Every load and store goes through the processor's
 * ExCache: a hit is served inside the thread with no message; a miss blocks only the
 * calling thread while the processor monitor fetches the line from the memory component
 * that owns it.
 *
 * Every call is **synchronous**: it returns when the access or the system call is done
 * (a miss or a system call blocks the calling thread, as on real hardware). `await` on
 * a result still works, so older asynchronous workloads keep running.
 *
 * Addresses and lengths are byte counts (plain numbers, below 2^47). Typed loads and
 * stores are little-endian and may be unaligned or straddle lines (the aligned case is
 * the fast one). Errors are `KernelError`s with an errno-style `code`: `EFAULT` for a
 * segmentation fault, `EINVAL` for a bad argument, `EBADF` for a bad descriptor.
 *
 * For tight loops, work a line at a time: {@link Proc.forEachF32} hands out the resident
 * part of each line as a `Float32Array` (no copy), {@link Proc.loadF32Array} and
 * {@link Proc.storeF32Array} copy whole ranges in one call.
 *
 * @example
 * ```ts ignore
 * import type { Proc } from "legoemu";
 * export function main(proc: Proc): number {
 *   const addr = proc.mmap(1 << 20);
 *   proc.storeU32(addr, 42);
 *   return proc.loadU32(addr) === 42 ? 0 : 1;
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
  /** `MAP_*` bits; default private + anonymous (private only with `path`). */
  flags?: number;
  /** Map this file instead of anonymous memory. */
  path?: string;
  /** Byte offset into `path` (a multiple of 4096). */
  offset?: number;
}

/** Options for {@link Proc.mremap}. */
export interface MremapOptions {
  /** `MREMAP_*` bits (default 0: grow or shrink in place only, as Linux). */
  flags?: number;
  /** With `MREMAP_FIXED`: the new address. */
  newAddr?: number;
}

/**
 * How {@link Proc.persistentWrite} makes a write durable (the four access paths of
 * `kernel/pmem_paths.ts`): `"rpc"` — the memory component writes, flushes, replies;
 * `"write+read"` — a one-sided WRITE, then a one-sided READ as a flush (only with the latency
 * model's `ddio` off); `"write+commit"` — a one-sided WRITE, then a small commit RPC that
 * flushes; `"connectionless"` — an RPC over a shared receive queue.
 */
export type PersistentWritePath = "rpc" | "write+read" | "write+commit" | "connectionless";

/** Options for {@link Proc.persistentWrite}. */
export interface PersistentWriteOptions {
  /** The access path (default `"rpc"`). */
  path?: PersistentWritePath;
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

/**
 * Work a thread declares with {@link Proc.compute}: counts, each a finite number >= 0
 * (absent means 0).
 */
export interface ComputeWork {
  /** Floating-point operations (a fused multiply-add counts 2). */
  flops?: number;
  /** Bytes read plus bytes written by the work. */
  bytes?: number;
}

/** What one thread has cost so far ({@link Proc.counters}). */
export interface ThreadCounters {
  /** Accesses served from the ExCache. */
  hits: number;
  /** Accesses that waited for a line to be filled. */
  misses: number;
  /** Lines evicted to make room for this thread's misses. */
  evictions: number;
  /** Dirty lines this thread's misses and calls wrote back. */
  dirtyFlushes: number;
  /** Write-backs that shared their round trip with a fetch. */
  piggybacked: number;
  /** Lines zero-filled locally (p-local: memory never contacted). */
  pLocalZeroFills: number;
  /** Lines fetched from memory components. */
  pagesFetched: number;
  /** Messages sent on this thread's behalf. */
  messages: number;
  /** This thread's model time so far, in nanoseconds. */
  modelNs: number;
}

/** The entry function of a thread other than the first: an export of the workload. */
export type ThreadEntry = (proc: Proc, arg: unknown) => number | void | Promise<number | void>;

/** A running thread of a process, as its workload sees it. */
export interface Proc {
  /** Cluster-wide process id. */
  readonly pid: number;
  /** Thread id within the process; the thread running `main` is 0. */
  readonly tid: number;
  /** Arguments the process was started with. */
  readonly args: readonly string[];

  // ── address space (served by the process's home memory component) ──

  /**
   * Maps `length` bytes (anonymous by default, or a file); returns the address. Lengths,
   * here and below, are 64-bit as in Linux: any non-negative integer number or bigint; one
   * too large for the address space gets Linux's errno (`ENOMEM` here).
   */
  mmap(length: number | bigint, options?: MmapOptions): number;
  /**
   * Unmaps `[addr, addr + length)`. Cached lines of anonymous memory are discarded (the
   * data dies with the mapping); dirty lines of a file mapping are written back first.
   */
  munmap(addr: number, length: number | bigint): void;
  /**
   * Grows or shrinks a mapping, in place unless `options.flags` has `MREMAP_MAYMOVE`
   * (flags default to 0, as in Linux); returns its (possibly new) address.
   */
  mremap(
    oldAddr: number,
    oldLength: number | bigint,
    newLength: number | bigint,
    options?: MremapOptions,
  ): number;
  /** Changes the protection of `[addr, addr + length)` to `prot` (`PROT_*` bits). */
  mprotect(addr: number, length: number | bigint, prot: number): void;
  /** Writes the dirty cached lines of `[addr, addr + length)` back to memory. */
  msync(addr: number, length: number | bigint): void;
  /**
   * Writes `data` at `addr` straight to the memory that holds it and returns once the bytes
   * are durable there, by `options.path`; the memory must be owned by a memory component in
   * PMEM mode (else `EINVAL`), mapped and writable (else `EFAULT`). Each page piece is
   * charged the latency model's cost of that path (as `deno task study pmem` charges it,
   * stall `pmem`); the cached line is written back and dropped first. Path `"write+read"`
   * needs the model's `ddio` off (else `EINVAL`), and on the in-memory and TCP transports it
   * is durable only in the model, not in the component's PMEM file.
   */
  persistentWrite(addr: number, data: ArrayBufferView, options?: PersistentWriteOptions): void;
  /** Sets the program break to `addr` (0 or no argument queries it); returns the break. */
  brk(addr?: number): number;

  // ── typed loads and stores (little-endian) ──

  /** Reads a u8. */
  loadU8(addr: number): number;
  /** Reads a u16. */
  loadU16(addr: number): number;
  /** Reads a u32. */
  loadU32(addr: number): number;
  /** Reads an i32. */
  loadI32(addr: number): number;
  /** Reads an f32. */
  loadF32(addr: number): number;
  /** Reads an f64. */
  loadF64(addr: number): number;
  /** Reads a u64. */
  loadU64(addr: number): bigint;
  /** Writes a u8 (the value is taken modulo 2^8). */
  storeU8(addr: number, value: number): void;
  /** Writes a u16 (modulo 2^16). */
  storeU16(addr: number, value: number): void;
  /** Writes a u32 (modulo 2^32). */
  storeU32(addr: number, value: number): void;
  /** Writes an i32 (modulo 2^32). */
  storeI32(addr: number, value: number): void;
  /** Writes an f32 (rounded to single precision). */
  storeF32(addr: number, value: number): void;
  /** Writes an f64. */
  storeF64(addr: number, value: number): void;
  /** Writes a u64 (modulo 2^64). */
  storeU64(addr: number, value: bigint): void;

  // ── bulk ──

  /** Reads `length` bytes at `addr` into a new array. */
  load(addr: number, length: number): Uint8Array;
  /** Reads `target.byteLength` bytes at `addr` into `target` (any typed array or view). */
  loadInto(addr: number, target: ArrayBufferView): void;
  /** Writes the bytes of `data` (any typed array or view) at `addr`. */
  store(addr: number, data: ArrayBufferView): void;
  /** Copies `length` bytes from `src` to `dst`; the ranges may overlap (memmove). */
  copy(dst: number, src: number, length: number): void;
  /** Sets `length` bytes at `addr` to `value` (0-255). */
  fill(addr: number, value: number, length: number): void;
  /** Reads `count` f32s at `addr` into a new array. */
  loadF32Array(addr: number, count: number): Float32Array;
  /** Writes `values` as f32s at `addr`. */
  storeF32Array(addr: number, values: Float32Array): void;
  /**
   * Calls `fn` once per cache line overlapping `[addr, addr + length)`, in address order,
   * with the resident bytes of that line and their offset from `addr`. The view is valid
   * only during the call and `fn` must not call back into `proc`. With `write`, the bytes
   * may be modified in place.
   */
  forEachLine(
    addr: number,
    length: number,
    write: boolean,
    fn: (bytes: Uint8Array, offset: number) => void,
  ): void;
  /**
   * Like {@link Proc.forEachLine} over `count` f32s at a 4-aligned `addr`: `fn` gets the
   * resident part of each line as a `Float32Array` and the index of its first element.
   */
  forEachF32(
    addr: number,
    count: number,
    write: boolean,
    fn: (values: Float32Array, index: number) => void,
  ): void;

  // ── atomics (between the threads of a process) ──

  /** Atomically adds `delta` to the i32 at a 4-aligned `addr`; returns the old value. */
  fetchAdd(addr: number, delta: number): number;
  /**
   * Atomically replaces the i32 at a 4-aligned `addr` with `replacement` if it equals
   * `expected`; returns the old value (equal to `expected` on success).
   */
  compareExchange(addr: number, expected: number, replacement: number): number;

  // ── files (read/write through the home's buffer cache; the rest to storage) ──

  /** Opens `path` with `O_*` flags; returns a file descriptor. */
  open(path: string, flags?: number, mode?: number): number;
  /** Reads up to `length` bytes from `fd` at its position (advancing it). */
  read(fd: number, length: number): Uint8Array;
  /** Writes `data` to `fd` at its position (advancing it); returns bytes written. */
  write(fd: number, data: Uint8Array): number;
  /** Moves the position of `fd` to `offset`. */
  seek(fd: number, offset: number): void;
  /** Flushes `fd`'s data to stable storage. */
  fsync(fd: number): void;
  /** Closes `fd` (written data is flushed to storage). */
  close(fd: number): void;
  /** Describes `path`. */
  stat(path: string): FileStat;
  /** Removes the file `path`. */
  unlink(path: string): void;
  /** Creates the directory `path`. */
  mkdir(path: string, mode?: number): void;
  /** Renames `from` to `to`. */
  rename(from: string, to: string): void;

  // ── threads and time ──

  /**
   * Starts a thread running the workload's export `entry` as `entry(proc, arg)`; `arg`
   * must survive JSON. Returns the thread id. The thread may run in the Worker of an
   * earlier thread of this process that returned (a thread pool), so it may find the
   * workload module's top-level variables as that thread left them; keep thread state in
   * locals and emulated memory.
   */
  spawn(entry: string, arg?: unknown): number;
  /** Waits for thread `tid` to end; returns its entry's return value (default 0). */
  join(tid: number): number;
  /**
   * Gives up the host CPU until the processor monitor has seen this thread (Linux's
   * `sched_yield`): one round trip to the monitor, which answers at once. A thread that
   * spins on a flag another thread sets should call it in its loop when the host has
   * fewer cores than busy threads, so that the spinning does not take the core the
   * monitor or the other thread needs. It costs no model time and is not an event of
   * deterministic mode's schedule: there a thread spinning with it still stalls the others
   * (see `kernel/model_scheduler.ts`), so wait with `join` instead.
   */
  schedYield(): void;
  /**
   * Declares work this thread did over data already in the ExCache: `flops`
   * floating-point operations and `bytes` read or written. The latency model's roofline
   * of the emulated CPU turns it into model time (the slower of the two limits); no wall
   * time passes. Hits themselves add no model time, so a kernel's cost is what it
   * declares here, however it was written (typed loads or `forEachF32`).
   */
  compute(work: ComputeWork): void;
  /** What this thread has cost so far. */
  counters(): ThreadCounters;
  /** Ends the whole process with `code` (other threads are stopped). */
  exit(code: number): never;
  /** Writes a log line attributed to this thread. */
  log(...parts: unknown[]): void;
}

/** The shape of a workload module: `main` plus any thread entries it spawns by name. */
export interface WorkloadModule {
  /** Runs the workload; the returned number (default 0) is the exit code. */
  main(proc: Proc): Promise<number | void> | number | void;
}
