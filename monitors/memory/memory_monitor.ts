/**
 * The stock memory monitor (mComponent): LegoOS's virtual memory system, moved off the
 * processor. One component plays two parts:
 * - **home** of the processes the manager homed here ({@link Home}): their address-space
 *   calls (`P2M_FORK`, `P2M_EXIT`, `P2M_MMAP`, `P2M_MUNMAP`, `P2M_MREMAP`,
 *   `P2M_MPROTECT`, `P2M_BRK`) and their file I/O through the buffer cache
 *   ({@link BufferCache}: `P2M_READ`, `P2M_WRITE`, `P2M_FSYNC`, `P2M_CLOSE`);
 * - **owner** of the vRegions the manager placed here ({@link PageOwner}): their VMAs,
 *   page table and frames, the page service (`P2M_PAGE_FETCH`, `P2M_PAGE_FLUSH`,
 *   `P2M_PAGE_FLUSH_FETCH`) and the `M2M_*` requests homes send.
 *
 * @module
 */

import { z } from "npm:zod@4.6.7";
import { KernelError } from "../../kernel/errors.ts";
import type { ComponentId } from "../../kernel/ids.ts";
import { joinCluster, type Membership } from "../../kernel/membership.ts";
import { PAGE_SIZE } from "../../kernel/messages.ts";
import type { CallContext, OpsTable } from "../../kernel/rpc.ts";
import type { ServiceKind } from "../../kernel/latency.ts";
import { BusyResource } from "../../kernel/model_resource.ts";
import { occupy, withoutSpan, withSpan } from "../../kernel/model_time.ts";
import type { MemoryMonitor, MonitorContext } from "../../kernel/monitor.ts";
import type { Schema } from "../../kernel/zod_issues.ts";
import { BufferCache } from "./buffer_cache.ts";
import { FramePool } from "./frame_pool.ts";
import { Home } from "./home.ts";
import { type OnFull, PageOwner } from "./page_owner.ts";
import { ReplicaService } from "./replica_service.ts";
import { localOwnerLink, type OwnerLink, remoteOwnerLink } from "./owner_link.ts";
import { PersistentOwner } from "./pmem_owner.ts";
import {
  pmemFrameLimit,
  type PmemOptions,
  pmemOptionsObject,
  PmemService,
} from "./pmem_service.ts";
import { StorageLink } from "./storage_link.ts";
import { SwapArea } from "./swap.ts";
import type { Vma } from "./vma.ts";

/** Options of the stock memory monitor. */
export interface MemoryOptions {
  /** Size of the DRAM pool in bytes (default 64 MiB; at least one 4 KiB frame). */
  dramBytes: number;
  /**
   * When the pool is full: `"swap"` spills cold pages to a swap file on a storage
   * component (no page is ever lost), `"enomem"` answers `ENOMEM`. Default `"swap"`.
   */
  onFull: OnFull;
  /** Most bytes of swap (default 16 GiB). */
  swapBytes: number;
  /**
   * The swap file's path on storage (default `@swap/<component id>.bin`: a vNode of its
   * own, out of the way of processes' files).
   */
  swapPath?: string;
  /** The storage component holding the swap file (default: the one the manager picks). */
  swapStorage?: string;
  /** Pages evicted together when the pool is full (default 16). */
  evictBatch: number;
  /** Size of the buffer cache for file I/O, in bytes (default 8 MiB). */
  bufferCacheBytes: number;
  /**
   * PMEM mode: pages and VMAs persist in this host file, every change acknowledged once
   * durable (see `pmem_service.ts`). The DRAM pool is capped to what the file can hold and
   * a full pool answers `ENOMEM` (no swap).
   */
  pmem?: PmemOptions;
  /**
   * Worker threads serving requests, for model time: each request keeps one busy for the
   * latency model's service time, and requests queue when all are (default 1, the
   * configuration of LegoOS's Fig. 8 throughput figures).
   */
  workers: number;
  /**
   * Replication: the memory component that keeps a replica of this one and takes over its
   * vRegions and processes when it fails (see `replica_service.ts`). Not with `pmem`.
   */
  secondary?: string;
  /** Period of the replica backup rounds to storage, ms (default 1000; 0: no backup). */
  replicaBackupMs: number;
}

/** Validates {@link MemoryOptions}, filling defaults. */
export const MemoryOptionsSchema: Schema<MemoryOptions> = z.strictObject({
  dramBytes: z.number().int().min(PAGE_SIZE).max(2 ** 40).default(64 * 1024 * 1024),
  onFull: z.enum(["swap", "enomem"]).default("swap"),
  swapBytes: z.number().int().min(PAGE_SIZE).max(2 ** 43).default(16 * 2 ** 30),
  swapPath: z.string().min(1).max(255).optional(),
  swapStorage: z.string().min(1).max(16).optional(),
  evictBatch: z.number().int().min(1).max(256).default(16),
  bufferCacheBytes: z.number().int().min(PAGE_SIZE).max(2 ** 36).default(8 * 1024 * 1024),
  pmem: pmemOptionsObject.optional(),
  workers: z.number().int().min(1).max(64).default(1),
  secondary: z.string().min(1).max(16).optional(),
  replicaBackupMs: z.number().int().min(0).max(3_600_000).default(1000),
}).refine((o) => !(o.secondary && o.pmem), {
  message: "secondary (replication) cannot be combined with pmem (PMEM is already durable)",
  path: ["secondary"],
});

const vmaSchema = z.strictObject({
  start: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  end: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  prot: z.number().int().min(0).max(7),
  shared: z.boolean(),
  path: z.string().max(4096),
  offset: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
});
const vmasSchema = z.array(vmaSchema).max(1 << 20);
const addrsSchema = z.array(z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)).max(1 << 16);

/**
 * The stock memory monitor.
 *
 * @example
 * ```ts ignore
 * const memory = new StockMemoryMonitor(context, MemoryOptionsSchema.parse({ dramBytes: 1 << 26 }));
 * await memory.start();
 * ```
 */
export class StockMemoryMonitor implements MemoryMonitor {
  /** The role. */
  readonly role = "memory" as const;
  /** The component id. */
  readonly id: string;
  readonly #context: MonitorContext;
  readonly #options: MemoryOptions;
  readonly #pool: FramePool;
  readonly #storage: StorageLink;
  readonly #swap: SwapArea | undefined;
  readonly #owner: PageOwner;
  readonly #home: Home;
  readonly #cache: BufferCache;
  readonly #links = new Map<ComponentId, OwnerLink>();
  readonly #pmem: PmemService | undefined;
  readonly #replica: ReplicaService;
  /** Until the manager answered the join, requests are refused (a restart must not serve). */
  #joined = false;
  /** The worker threads in model time: requests queue for them. */
  readonly #workers: BusyResource;
  #membership: Membership | undefined;
  #reported = { fetches: 0, flushes: 0 };

  /** Creates the monitor; `start()` begins serving. */
  constructor(context: MonitorContext, options: MemoryOptions) {
    this.#context = context;
    this.#options = options;
    this.id = context.id;
    const pmem = options.pmem;
    this.#pool = new FramePool(
      pmem
        ? Math.min(options.dramBytes, pmemFrameLimit(pmem.bytes) * PAGE_SIZE)
        : options.dramBytes,
    );
    this.#workers = new BusyResource(`${context.id}.workers`, options.workers ?? 1);
    this.#storage = new StorageLink(context.rpc, context.manager);
    if (options.onFull === "swap" && !pmem) {
      const path = options.swapPath ?? `@swap/${context.id}.bin`;
      if (options.swapStorage) this.#storage.pin(path, options.swapStorage);
      this.#swap = new SwapArea(this.#storage, path, Math.floor(options.swapBytes / PAGE_SIZE));
    }
    const ownerOptions = {
      id: context.id,
      pool: this.#pool,
      storage: this.#storage,
      onFull: pmem ? "enomem" as const : options.onFull,
      swap: this.#swap,
      evictBatch: options.evictBatch,
      events: context.events,
      latency: context.latency,
      // Shared file mappings reach the file through this component's buffer cache.
      writeShared: (path: string, offset: number, page: Uint8Array) =>
        this.#cache.writeMapped(path, offset, page),
    };
    let persistent: PersistentOwner | undefined;
    if (pmem) {
      const owner = persistent = new PersistentOwner(ownerOptions);
      this.#owner = owner;
      this.#pmem = new PmemService(context, owner, pmem, this.#pool);
    } else {
      this.#owner = new PageOwner(ownerOptions);
    }
    this.#links.set(context.id, localOwnerLink(context.id, this.#owner));
    if (options.secondary === context.id) {
      throw new KernelError("EINVAL", `${context.id} cannot be its own secondary`);
    }
    this.#home = new Home({
      id: context.id,
      rpc: context.rpc,
      manager: context.manager,
      link: (id) => this.#replica.link(id),
      // PMEM mode: the address spaces homed here persist beside the pages.
      persist: persistent && ((pid, state) => persistent.persistHome(pid, state)),
    });
    this.#replica = new ReplicaService({
      context,
      owner: this.#owner,
      home: this.#home,
      storage: this.#storage,
      secondary: options.secondary,
      backupMs: options.replicaBackupMs ?? 1000,
      rawLink: (id) => this.#link(id),
    });
    this.#cache = new BufferCache(this.#storage, options.bufferCacheBytes);
  }

  /** Registers the P2M and M2M handlers and joins the cluster. */
  async start(): Promise<void> {
    const owner = this.#owner;
    const home = this.#home;
    const cache = this.#cache;
    const replica = this.#replica;
    const local = replica.localLink();
    // A process's address space after each call goes to the secondary (a no-op without one).
    const homed = async <T>(pid: number, run: () => Promise<T>): Promise<T> => {
      try {
        return await run();
      } finally {
        await replica.afterHomeCall(pid);
      }
    };
    const { MGR_PROMOTE, MGR_FAILOVER, ...replication } = replica.handlers();
    this.#context.rpc.handle({ MGR_PROMOTE, MGR_FAILOVER });
    this.#context.rpc.handle(this.#charged(replication));
    if (this.#pmem) {
      this.#context.rpc.handle(this.#charged(await this.#pmem.start()));
      try {
        home.restore((owner as PersistentOwner).homeStates());
      } catch (e) {
        // Refused like a damaged file: no checkpoint, nothing written.
        throw new KernelError(
          "EIO",
          `PMEM file "${this.#options.pmem!.path}": ${(e as Error).message}`,
        );
      }
      // A call cut short by the crash may have reached this owner: undo it before serving.
      await home.repairLocal();
    }
    // Page service: served by the owner of the page's vRegion. A fetch, a flush or both in
    // one is mostly answered at once: it enters its request's span only when it must wait.
    this.#context.rpc.handle({
      P2M_PAGE_FETCH: ({ pid, vaddr }, ctx) => {
        this.#chargePage(ctx);
        const page = owner.fetchNow(pid, vaddr);
        if (page) return { page };
        const later = inSpanOf(ctx, () => owner.fetch(pid, vaddr));
        return later instanceof Uint8Array ? { page: later } : later.then((p) => ({ page: p }));
      },
      P2M_PAGE_FLUSH: ({ pid, vaddr, page }, ctx) => {
        this.#chargePage(ctx);
        if (owner.flushNow(pid, vaddr, page)) return {};
        const done = inSpanOf(ctx, () => owner.flush(pid, vaddr, page));
        return done === undefined ? {} : done.then(() => ({}));
      },
      P2M_PAGE_FLUSH_FETCH: ({ pid, flushVaddr, page, fetchVaddr }, ctx) => {
        this.#chargePage(ctx);
        const now = owner.flushFetchNow(pid, flushVaddr, page, fetchVaddr);
        if (now) return { page: now };
        const later = inSpanOf(ctx, () => owner.flushFetch(pid, flushVaddr, page, fetchVaddr));
        return later instanceof Uint8Array ? { page: later } : later.then((p) => ({ page: p }));
      },
    }, { explicitSpan: true });
    this.#context.rpc.handle(this.#charged({
      // Address space: served by the process's home.
      P2M_FORK: ({ pid, parentPid }) =>
        homed(pid, async () => (await home.fork(pid, parentPid), {})),
      P2M_EXIT: ({ pid }) =>
        homed(pid, async () => {
          // Files first: the exiting process's writes must reach storage.
          await cache.exitProcess(pid).catch((e) =>
            this.#context.log(
              `process ${pid}: file write-back at exit failed: ${(e as Error).message}`,
            )
          );
          return { pagesFreed: await home.exit(pid) };
        }),
      P2M_MMAP: ({ pid, addr, length, prot, flags, path, offset }) =>
        homed(pid, async () => {
          if (path !== "" && !(flags & 0x20)) {
            // The file must exist, and what was written through the cache must be seen.
            await cache.flushPath(path);
            await this.#storage.attributes(path);
          }
          return {
            addr: await home.call(pid, (s) => s.mmap(addr, length, prot, flags, path, offset)),
          };
        }),
      P2M_MUNMAP: ({ pid, addr, length }) =>
        homed(pid, async () => (await home.call(pid, (s) => s.munmap(addr, length)), {})),
      P2M_MREMAP: ({ pid, oldAddr, oldLength, newLength, flags, newAddr }) =>
        homed(pid, async () => ({
          addr: await home.call(
            pid,
            (s) => s.mremap(oldAddr, oldLength, newLength, flags, newAddr),
          ),
        })),
      P2M_MPROTECT: ({ pid, addr, length, prot }) =>
        homed(pid, async () => (await home.call(pid, (s) => s.mprotect(addr, length, prot)), {})),
      P2M_BRK: ({ pid, addr }) =>
        homed(pid, async () => ({ addr: await home.call(pid, (s) => s.setBrk(addr)) })),
      // First-touch placement, passed on by the manager.
      MGR_VREGION_TOUCH: async ({ pid, vregion }) => ({ owner: await home.touch(pid, vregion) }),

      // File I/O through the buffer cache.
      P2M_READ: async ({ pid, path, offset, length }) => ({
        data: await cache.read(pid, path, offset, length),
      }),
      P2M_WRITE: async ({ pid, path, offset, data }) => ({
        written: await cache.write(pid, path, offset, data),
      }),
      P2M_FSYNC: async ({ pid, path }) => (await cache.fsync(pid, path), {}),
      P2M_CLOSE: async ({ pid, path }) => (await cache.close(pid, path), {}),

      // From homes to this owner.
      M2M_VMA_SET: async ({ pid, home: from, start, end, discard, vmas }) => ({
        pagesFreed: await local.setVmas(
          pid,
          from,
          start,
          end,
          discard,
          checkVmas(vmas, start, end),
        ),
      }),
      M2M_PAGES_READ: async ({ pid, start, end, maxPages }) => {
        checkRange(start, end);
        return await owner.readPages(pid, start, end, maxPages);
      },
      M2M_PAGES_WRITE: async ({ pid, addrs, data }) => {
        const parsed = addrsSchema.safeParse(addrs);
        if (!parsed.success) throw new KernelError("EINVAL", "addrs must be an array of addresses");
        await local.writePages(pid, parsed.data, data);
        return {};
      },
      M2M_PAGES_COPY: async ({ pid, from, toPid, to, length, move }) => {
        checkRange(from, from + length);
        checkRange(to, to + length);
        return { pages: await local.copyPages(pid, from, toPid, to, length, move) };
      },
      M2M_PROCESS_EXIT: async ({ pid }) => ({ pagesFreed: await local.exit(pid) }),
    }));
    this.#membership = await joinCluster(
      this.#context,
      {
        dramBytes: this.#pool.frames * PAGE_SIZE,
        frames: this.#pool.frames,
        onFull: this.#options.onFull,
        bufferCacheBytes: this.#options.bufferCacheBytes,
        ...(this.#options.secondary ? { secondary: this.#options.secondary } : {}),
      },
      () => this.#load(),
    );
    this.#joined = true;
    owner.vregionBytes = this.#membership.vregionBytes;
    home.vregionBytes = this.#membership.vregionBytes;
  }

  /** Leaves the cluster and removes the swap file (its pages mean nothing any more). */
  async stop(): Promise<void> {
    this.#membership?.leave();
    this.#membership = undefined;
    this.#replica.stop();
    await this.#pmem?.stop();
    const swap = this.#swap;
    if (swap && swap.highWater > 0) {
      try {
        const storage = await this.#storage.locate(swap.path);
        await this.#context.rpc.call(storage, "P2S_UNLINK", { path: swap.path }, {
          timeoutMs: 1000,
        });
      } catch (e) {
        this.#context.log(`could not remove swap file "${swap.path}": ${(e as Error).message}`);
      }
    }
  }

  /**
   * Frames, pages, faults, bytes, swap, buffer cache and vRegions, for the control plane.
   * `processes` counts processes homed here; `ownedProcesses` those whose pages live here.
   */
  stats(): Record<string, unknown> {
    const counters = this.#owner.counters();
    return {
      frames: this.#pool.frames,
      framesUsed: this.#pool.used,
      framesFree: this.#pool.free,
      processes: this.#home.processes,
      ownedProcesses: this.#owner.processes,
      pagesPerProcess: this.#owner.pagesPerProcess(),
      ...counters,
      faultsServed: counters.fetches,
      requests: this.#context.rpc.stats().requestsHandled,
      onFull: this.#options.onFull,
      swappedPages: this.#owner.swappedPages,
      swapFilePages: this.#swap?.highWater ?? 0,
      bufferCache: this.#cache.stats(),
      storage: this.#storage.stats(),
      vregions: this.#home.vregions(),
      ownedVregions: this.#owner.ownedVregions(),
      ...(this.#pmem ? { pmem: this.#pmem.info() } : {}),
      replication: this.#replica.stats(),
    };
  }

  /**
   * Control-plane questions: `address-space` (`{ pid }`, a process homed here: VMAs, break,
   * vRegion owners), `load` (the figures a heartbeat carries, as of now) and `owned` (`{ pid }`: the VMAs and pages this component owns of it).
   */
  query(what: string, args: Record<string, unknown>): unknown {
    const pid = Number(args.pid);
    switch (what) {
      case "address-space":
        return this.#home.view(pid);
      case "load":
        return this.#figures();
      case "replica":
        return this.#replica.stats();
      case "pmem":
        if (!this.#pmem) throw new KernelError("ENOENT", `${this.id} is not in PMEM mode`);
        return this.#pmem.info();
      case "pmem-page":
        if (!this.#pmem) throw new KernelError("ENOENT", `${this.id} is not in PMEM mode`);
        return this.#pmem.locate(Number(args.pid), Number(args.vaddr));
      case "owned":
        return {
          pid,
          vmas: this.#owner.vmasOf(pid),
          vregions: this.#owner.ownedVregions().filter((v) => v.pid === pid),
        };
      default:
        throw new KernelError(
          "ENOENT",
          `${this.id} answers no question "${what}" (it knows: address-space, load, owned, pmem, pmem-page, replica)`,
        );
    }
  }

  /** What the heartbeat tells the manager; also refreshes this component's metrics. */
  #load(): Record<string, unknown> {
    const counters = this.#owner.counters();
    const labels = { component: this.id };
    const metrics = this.#context.metrics;
    metrics.gauge("memory_frames_used", "DRAM frames in use", labels).set(this.#pool.used);
    metrics.gauge("memory_frames_free", "DRAM frames free", labels).set(this.#pool.free);
    metrics.gauge("memory_swapped_pages", "Pages in swap", labels).set(this.#owner.swappedPages);
    metrics.counter("memory_page_fetches_total", "Pages fetched", labels)
      .inc(counters.fetches - this.#reported.fetches);
    metrics.counter("memory_page_flushes_total", "Pages flushed", labels)
      .inc(counters.flushes - this.#reported.flushes);
    this.#reported = { fetches: counters.fetches, flushes: counters.flushes };
    return this.#figures();
  }

  /** The load figures placement sees (heartbeat, and the `load` query at decision time). */
  #figures(): Record<string, unknown> {
    return {
      framesUsed: this.#pool.used,
      framesFree: this.#pool.free,
      requests: this.#context.rpc.stats().requestsHandled,
      processes: this.#home.processes,
      swappedPages: this.#owner.swappedPages,
    };
  }

  /**
   * The handlers, each first charging its request a worker's service time (queued behind
   * the workers' earlier requests in model time): a page request's for the page service,
   * a call's for everything else.
   */
  #charged(ops: Partial<OpsTable>): Partial<OpsTable> {
    const latency = this.#context.latency;
    const charged: Record<string, unknown> = {};
    for (const [kind, handler] of Object.entries(ops)) {
      const service: ServiceKind = kind.startsWith("P2M_PAGE_") ? "page" : "call";
      const run = handler as (body: never, ctx: CallContext) => unknown;
      charged[kind] = (body: never, ctx: CallContext) => {
        if (!this.#joined) {
          throw new KernelError("EAGAIN", `${this.id} has not joined the cluster yet`);
        }
        const cost = latency.service(service);
        occupy(this.#workers, cost.busyNs, "service", cost.latencyNs);
        return run(body, ctx);
      };
    }
    return charged as Partial<OpsTable>;
  }

  /**
   * What {@link MemoryMonitor.#charged} charges a page request, for the page handlers that
   * are called outside their request's span (`explicitSpan`): the same charge, to
   * `ctx.model` directly.
   */
  #chargePage(ctx: CallContext): void {
    if (!this.#joined) {
      throw new KernelError("EAGAIN", `${this.id} has not joined the cluster yet`);
    }
    if (!ctx.modeled) return;
    const cost = this.#context.latency.service("page");
    const now = ctx.model.nowNs();
    ctx.model.charge(this.#workers.reserve(now, cost.busyNs) - now, "queue");
    ctx.model.charge(cost.latencyNs, "service");
  }

  #link(id: ComponentId): OwnerLink {
    let link = this.#links.get(id);
    if (!link) this.#links.set(id, link = remoteOwnerLink(this.#context.rpc, id));
    return link;
  }
}

/** Runs `fn` in the span of the request `ctx` serves (outside any span if not modeled). */
function inSpanOf<T>(ctx: CallContext, fn: () => T): T {
  return ctx.modeled ? withSpan(ctx.model, fn) : withoutSpan(fn);
}

function checkRange(start: number, end: number): void {
  if (start % PAGE_SIZE !== 0 || end % PAGE_SIZE !== 0 || end < start) {
    throw new KernelError(
      "EINVAL",
      `range 0x${start.toString(16)}-0x${end.toString(16)} is not page-aligned`,
    );
  }
}

/** Checks VMAs sent by a home: valid, sorted, disjoint, aligned, inside `[start, end)`. */
function checkVmas(value: unknown, start: number, end: number): Vma[] {
  checkRange(start, end);
  const parsed = vmasSchema.safeParse(value);
  if (!parsed.success) throw new KernelError("EINVAL", "vmas must be an array of VMA records");
  let at = start;
  for (const vma of parsed.data) {
    if (
      vma.start < at || vma.end <= vma.start || vma.end > end || vma.start % PAGE_SIZE !== 0 ||
      vma.end % PAGE_SIZE !== 0
    ) {
      throw new KernelError(
        "EINVAL",
        `VMA 0x${vma.start.toString(16)}-0x${
          vma.end.toString(16)
        } is out of order or outside the range`,
      );
    }
    at = vma.end;
  }
  return parsed.data;
}
