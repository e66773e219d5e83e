/**
 * The stock processor monitor (pComponent) of the first end-to-end cluster: runs each
 * process's workload, serves its memory accesses from a line cache, and turns every miss
 * into messages to the memory component that holds the page.
 *
 * A miss evicts the least recently used line first; when that line is dirty and belongs
 * to the same memory component, the write-back and the fetch travel in one round trip
 * (`P2M_PAGE_FLUSH_FETCH`). Misses are handled one at a time, so two accesses to a missing
 * line cause one fetch and a line being written back cannot be read stale.
 *
 * @module
 */

import { z } from "zod";
import { ModelClock } from "../../kernel/clock.ts";
import { KernelError } from "../../kernel/errors.ts";
import type { ComponentId } from "../../kernel/ids.ts";
import { joinCluster, type Membership } from "../../kernel/membership.ts";
import {
  type MessageKind,
  PAGE_SIZE,
  type ReplyOf,
  type RequestOf,
} from "../../kernel/messages.ts";
import type {
  MonitorContext,
  ProcessorMonitor,
  ProcessResult,
  ProcessSpec,
} from "../../kernel/monitor.ts";
import type { FileStat, WorkloadModule } from "../../kernel/process_api.ts";
import type { Schema } from "../../kernel/zod_issues.ts";
import { LineCache, MAX_PID } from "./line_cache.ts";
import { type FileHost, Process, type ProcessHost } from "./process.ts";

/** Options of the stock processor monitor. */
export interface ProcessorOptions {
  /** Cache size in bytes, a whole number of 4 KiB lines (default 4 MiB). */
  cacheBytes: number;
}

/** Validates {@link ProcessorOptions}, filling defaults. */
export const ProcessorOptionsSchema: Schema<ProcessorOptions> = z.strictObject({
  cacheBytes: z.number().int().min(PAGE_SIZE).max(2 ** 34).multipleOf(PAGE_SIZE)
    .default(4 * 1024 * 1024),
});

/** Largest chunk of one file read or write message. */
const FILE_CHUNK_BYTES = 1024 * 1024;

/** Per-process counters; every field is a count of events or bytes. */
export interface ProcessCounters {
  [name: string]: number;
  /** Accesses served from the cache. */
  hits: number;
  /** Accesses that had to fetch a line. */
  misses: number;
  /** Lines evicted to make room. */
  evictions: number;
  /** Dirty lines written back. */
  dirtyFlushes: number;
  /** Write-backs that shared a round trip with a fetch. */
  piggybacked: number;
  /** Pages fetched from memory components. */
  pagesFetched: number;
  /** Bytes received from memory and storage. */
  bytesIn: number;
  /** Bytes sent to memory and storage. */
  bytesOut: number;
  /** Messages sent (each is one round trip). */
  messages: number;
}

interface Running {
  home: ComponentId;
  clock: ModelClock;
  counters: ProcessCounters;
}

const newCounters = (): ProcessCounters => ({
  hits: 0,
  misses: 0,
  evictions: 0,
  dirtyFlushes: 0,
  piggybacked: 0,
  pagesFetched: 0,
  bytesIn: 0,
  bytesOut: 0,
  messages: 0,
});

/**
 * The stock processor monitor.
 *
 * @example
 * ```ts ignore
 * const processor = new StockProcessorMonitor(context, { cacheBytes: 1 << 22 });
 * await processor.start();
 * const result = await processor.runProcess({ pid: 1, home: "m0", workload: "w.ts", args: [] });
 * ```
 */
export class StockProcessorMonitor implements ProcessorMonitor {
  /** The role. */
  readonly role = "processor" as const;
  /** The component id. */
  readonly id: string;
  #context: MonitorContext;
  #cache: LineCache;
  #running = new Map<number, Running>();
  #totals = newCounters();
  #processesRun = 0;
  #missLock: Promise<unknown> = Promise.resolve();
  #fileHomes = new Map<string, ComponentId>();
  #membership: Membership | undefined;

  /** Creates the monitor; `start()` joins the cluster. */
  constructor(context: MonitorContext, options: ProcessorOptions) {
    this.#context = context;
    this.id = context.id;
    this.#cache = new LineCache(options.cacheBytes / PAGE_SIZE);
  }

  /** Serves `MGR_EXEC` (the manager starting a placed process) and joins the cluster. */
  async start(): Promise<void> {
    this.#context.rpc.handle({
      MGR_EXEC: async ({ pid, home, workload, args }) => {
        if (!Array.isArray(args) || !args.every((a) => typeof a === "string")) {
          throw new KernelError("EINVAL", "args must be an array of strings");
        }
        const result = await this.runProcess({ pid, home, workload, args });
        return {
          exitCode: result.exitCode,
          error: result.error ?? "",
          wallNs: result.wallNs,
          modelNs: result.modelNs,
          stats: result.stats,
        };
      },
    });
    this.#membership = await joinCluster(
      this.#context,
      { cacheBytes: this.#cache.lines * PAGE_SIZE },
      () => ({ processes: this.#running.size, threads: this.#running.size, ...this.#totals }),
    );
  }

  /** Leaves the cluster. */
  stop(): Promise<void> {
    this.#membership?.leave();
    return Promise.resolve();
  }

  /** Totals over every process run here. */
  stats(): Record<string, unknown> {
    return {
      ...this.#totals,
      processesRun: this.#processesRun,
      running: this.#running.size,
      cacheLines: this.#cache.lines,
      cacheLinesUsed: this.#cache.used,
    };
  }

  /** Runs `spec`'s workload to completion on this component. */
  async runProcess(spec: ProcessSpec): Promise<ProcessResult> {
    const { pid, home } = spec;
    if (!Number.isInteger(pid) || pid < 1 || pid > MAX_PID) {
      throw new KernelError("EINVAL", `pid must be in 1..${MAX_PID}, got ${pid}`);
    }
    if (this.#running.has(pid)) throw new KernelError("EEXIST", `process ${pid} is running`);
    const running: Running = { home, clock: new ModelClock(), counters: newCounters() };
    this.#running.set(pid, running);
    this.#processesRun++;
    const wallStart = this.#context.wallClock.nowNs();
    let exitCode = 0;
    let error: string | undefined;
    try {
      await this.#call(pid, home, "P2M_FORK", { pid, parentPid: 0 }, 16);
      const module = await loadWorkload(spec.workload);
      const result = await module.main(new Process(pid, spec.args, this.#host));
      if (typeof result === "number") exitCode = result;
    } catch (e) {
      exitCode = 1;
      error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      this.#context.log(`process ${pid} failed: ${error}`);
    }
    // Private anonymous memory dies with the process: drop its lines, no write-back.
    this.#cache.drop(pid);
    try {
      await this.#call(pid, home, "P2M_EXIT", { pid }, 8);
    } catch (e) {
      this.#context.log(`process ${pid}: exit on ${home} failed: ${(e as Error).message}`);
    }
    this.#running.delete(pid);
    await this.#context.rpc.call(this.#context.manager, "MGR_PROCESS_EXIT", {
      pid,
      exitCode,
      error: error ?? "",
    }).catch((e) => this.#context.log(`exit report failed: ${(e as Error).message}`));
    return {
      pid,
      exitCode,
      error,
      wallNs: this.#context.wallClock.nowNs() - wallStart,
      modelNs: running.clock.nowNs(),
      stats: { ...running.counters },
    };
  }

  /** Sends one request for `pid`, charging its model time and counters. */
  async #call<K extends MessageKind>(
    pid: number,
    to: ComponentId,
    kind: K,
    body: RequestOf<K>,
    requestBytes: number,
    replyBytes = 0,
    deviceNs = 0,
  ): Promise<ReplyOf<K>> {
    const running = this.#running.get(pid);
    const reply = await this.#context.rpc.call(to, kind, body);
    if (running) {
      running.clock.advance(this.#context.latency.messageNs(requestBytes + replyBytes) + deviceNs);
      this.#count(running, "messages", 1);
      this.#count(running, "bytesOut", requestBytes);
      this.#count(running, "bytesIn", replyBytes);
    }
    return reply;
  }

  #count(running: Running, counter: keyof ProcessCounters, n: number): void {
    running.counters[counter] += n;
    this.#totals[counter] += n;
  }

  #process(pid: number): Running {
    const running = this.#running.get(pid);
    if (!running) throw new KernelError("ESRCH", `no process ${pid} on ${this.id}`);
    return running;
  }

  /** Serves one access: a hit in place, a miss through the memory component. */
  #withLine = <T>(
    pid: number,
    vpn: number,
    write: boolean,
    use: (line: Uint8Array) => T,
  ): Promise<T> => {
    const running = this.#process(pid);
    const slot = this.#cache.lookup(pid, vpn);
    if (slot >= 0) return Promise.resolve(this.#hit(running, slot, write, use));
    // Misses go one at a time; a waiter re-checks the cache once its turn comes.
    const turn = this.#missLock.then(() => this.#miss(running, pid, vpn, write, use));
    this.#missLock = turn.catch(() => {});
    return turn;
  };

  #hit<T>(running: Running, slot: number, write: boolean, use: (line: Uint8Array) => T): T {
    this.#count(running, "hits", 1);
    running.clock.advance(this.#context.latency.cacheHitNs(8));
    if (write) this.#cache.markDirty(slot);
    return use(this.#cache.line(slot));
  }

  async #miss<T>(
    running: Running,
    pid: number,
    vpn: number,
    write: boolean,
    use: (line: Uint8Array) => T,
  ): Promise<T> {
    const cached = this.#cache.lookup(pid, vpn);
    if (cached >= 0) return this.#hit(running, cached, write, use);
    this.#count(running, "misses", 1);
    const vaddr = vpn * PAGE_SIZE;
    const victim = this.#cache.evictOldest();
    let page: Uint8Array;
    if (victim) this.#count(running, "evictions", 1);
    const victimHome = victim?.dirty ? this.#running.get(victim.pid)?.home : undefined;
    if (victim?.dirty && victimHome === running.home) {
      this.#count(running, "dirtyFlushes", 1);
      this.#count(running, "piggybacked", 1);
      ({ page } = await this.#call(
        pid,
        running.home,
        "P2M_PAGE_FLUSH_FETCH",
        {
          pid: victim.pid,
          flushVaddr: victim.vpn * PAGE_SIZE,
          page: victim.bytes,
          fetchVaddr: vaddr,
        },
        PAGE_SIZE + 32,
        PAGE_SIZE,
      ));
    } else {
      if (victim?.dirty && victimHome) {
        this.#count(running, "dirtyFlushes", 1);
        await this.#call(pid, victimHome, "P2M_PAGE_FLUSH", {
          pid: victim.pid,
          vaddr: victim.vpn * PAGE_SIZE,
          page: victim.bytes,
        }, PAGE_SIZE + 16);
      }
      ({ page } = await this.#call(
        pid,
        running.home,
        "P2M_PAGE_FETCH",
        { pid, vaddr },
        16,
        PAGE_SIZE,
      ));
    }
    this.#count(running, "pagesFetched", 1);
    const slot = this.#cache.insert(pid, vpn);
    const line = this.#cache.line(slot);
    line.set(page);
    if (write) this.#cache.markDirty(slot);
    return use(line);
  }

  #storageFor = async (pid: number, path: string): Promise<ComponentId> => {
    let storage = this.#fileHomes.get(path);
    if (!storage) {
      ({ storage } = await this.#call(pid, this.#context.manager, "MGR_PLACE_FILE", { path }, 64));
      this.#fileHomes.set(path, storage);
    }
    return storage;
  };

  #files: FileHost = {
    open: async (pid, path, flags, mode) =>
      (await this.#call(pid, await this.#storageFor(pid, path), "P2S_OPEN", {
        path,
        flags,
        mode,
      }, 64)).size,
    read: async (pid, path, offset, length) => {
      const storage = await this.#storageFor(pid, path);
      const chunks: Uint8Array[] = [];
      let total = 0;
      while (total < length) {
        const want = Math.min(FILE_CHUNK_BYTES, length - total);
        const { data } = await this.#call(
          pid,
          storage,
          "P2S_READ",
          { path, offset: offset + total, length: want },
          64,
          want,
          this.#context.latency.deviceNs("ssd", "read", want),
        );
        chunks.push(data);
        total += data.length;
        if (data.length < want) break;
      }
      const out = new Uint8Array(total);
      let at = 0;
      for (const chunk of chunks) {
        out.set(chunk, at);
        at += chunk.length;
      }
      return out;
    },
    write: async (pid, path, offset, data) => {
      const storage = await this.#storageFor(pid, path);
      let total = 0;
      while (total < data.length) {
        const chunk = data.subarray(total, total + FILE_CHUNK_BYTES);
        const { written } = await this.#call(
          pid,
          storage,
          "P2S_WRITE",
          { path, offset: offset + total, data: chunk, sync: false },
          chunk.length + 64,
          0,
          this.#context.latency.deviceNs("ssd", "write", chunk.length),
        );
        total += written;
      }
      return total;
    },
    fsync: async (pid, path) => {
      await this.#call(
        pid,
        await this.#storageFor(pid, path),
        "P2S_FSYNC",
        { path },
        64,
        0,
        this.#context.latency.deviceNs("ssd", "flush", 0),
      );
    },
    stat: async (pid, path): Promise<FileStat> =>
      await this.#call(pid, await this.#storageFor(pid, path), "P2S_STAT", { path }, 64),
    unlink: async (pid, path) => {
      await this.#call(pid, await this.#storageFor(pid, path), "P2S_UNLINK", { path }, 64);
    },
    mkdir: async (pid, path, mode) => {
      await this.#call(pid, await this.#storageFor(pid, path), "P2S_MKDIR", { path, mode }, 64);
    },
    rename: async (pid, from, to) => {
      const storage = await this.#storageFor(pid, from);
      await this.#call(pid, storage, "P2S_RENAME", { from, to }, 128);
      this.#fileHomes.set(to, storage);
    },
  };

  #host: ProcessHost = {
    withLine: this.#withLine,
    mmap: async (pid, addr, length, prot, flags) =>
      (await this.#call(pid, this.#process(pid).home, "P2M_MMAP", {
        pid,
        addr,
        length,
        prot,
        flags,
        path: "",
        offset: 0,
      }, 48)).addr,
    munmap: async (pid, addr, length) => {
      // Unmapped private memory is discarded, so its cached lines go without write-back.
      const first = Math.floor(addr / PAGE_SIZE);
      this.#cache.drop(pid, first, Math.ceil((addr + length) / PAGE_SIZE));
      await this.#call(pid, this.#process(pid).home, "P2M_MUNMAP", { pid, addr, length }, 24);
    },
    brk: async (pid, addr) =>
      (await this.#call(pid, this.#process(pid).home, "P2M_BRK", { pid, addr }, 16)).addr,
    files: this.#files,
    log: (pid, message) => this.#context.log(`[pid ${pid}] ${message}`),
  };
}

async function loadWorkload(workload: string): Promise<WorkloadModule> {
  let url: string;
  try {
    url = new URL(workload).href;
  } catch {
    url = new URL(workload, `file://${Deno.cwd()}/`).href;
  }
  let module: Partial<WorkloadModule>;
  try {
    module = await import(url);
  } catch (e) {
    throw new KernelError("ENOENT", `cannot load workload ${workload}: ${(e as Error).message}`);
  }
  if (typeof module.main !== "function") {
    throw new KernelError("ENOEXEC", `workload ${workload} does not export a main(proc) function`);
  }
  return module as WorkloadModule;
}
