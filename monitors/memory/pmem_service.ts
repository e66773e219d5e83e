/**
 * PMEM mode of the stock memory monitor (`options.pmem`): opens the component's PMEM
 * file, replays it into the owner, and serves the server side of the persistent-write
 * access paths (see `pmem_paths.ts`):
 * - `P2M_PMEM_WRITE` (paths 1 and 4): write, make durable, reply;
 * - the **PMEM window**, a region registered with the transport for one-sided access
 *   (paths 2 and 3): peers WRITE into it and READ from it without this component's CPU;
 * - `P2M_PMEM_COMMIT` (path 3): copy bytes of the window to their address, make them
 *   durable, reply.
 *
 * - the **frame region**: the component's frames registered for one-sided access, so that a
 *   workload's path-2 write (`proc.persistentWrite`) lands in the page itself; a peer finds
 *   a page there with the `pmem-page` query (`{ pid, vaddr }` → `{ key, offset }`).
 *
 * On the in-memory and TCP transports the window and the frames are host memory that the
 * transport itself reads and writes, so a path-2 write (WRITE + READ, no server CPU) is
 * durable **only in the model** — on PMEM with DDIO off — and not in the host file: only
 * paths 1, 3 and 4 put the bytes through the log before they are acknowledged (a path-2
 * write into a frame reaches the file with the next checkpoint, and is lost if the
 * component crashes first). Peers find the window with the `pmem` control-plane query.
 *
 * @module
 */

import { z } from "npm:zod@4.6.7";
import { crc32 } from "../../kernel/crc32.ts";
import { KernelError } from "../../kernel/errors.ts";
import { PAGE_SIZE } from "../../kernel/messages.ts";
import type { MonitorContext } from "../../kernel/monitor.ts";
import type { OpsTable } from "../../kernel/rpc.ts";
import type { MemoryRegion } from "../../kernel/transport.ts";
import type { Schema } from "../../kernel/zod_issues.ts";
import type { FramePool } from "./frame_pool.ts";
import type { PersistentOwner } from "./pmem_owner.ts";
import { MIN_PMEM_BYTES, pmemLayout, PmemPool, type PmemPoolStats } from "./pmem_pool.ts";
import { SECTOR } from "./pmem_log.ts";

/** `options.pmem` of a memory component. */
export interface PmemOptions {
  /** The host file holding the component's pages (created when absent). */
  path: string;
  /** Its size in bytes (fixed once created). */
  bytes: number;
  /** Size of the PMEM window for one-sided writes (default 1 MiB). */
  windowBytes: number;
}

/** The zod object behind {@link PmemOptionsSchema} (for schemas that embed it). */
export const pmemOptionsObject = z.strictObject({
  path: z.string().min(1).max(4096),
  bytes: z.number().int().min(MIN_PMEM_BYTES).max(2 ** 44),
  windowBytes: z.number().int().min(PAGE_SIZE).max(1 << 30).default(1 << 20),
});

/**
 * Validates {@link PmemOptions}.
 *
 * @example
 * ```ts
 * import { PmemOptionsSchema } from "./pmem_service.ts";
 * const result = PmemOptionsSchema.safeParse({ path: "/tmp/m0.pmem", bytes: 1 << 24 });
 * console.assert(result.success && result.data.windowBytes === 1 << 20);
 * ```
 */
export const PmemOptionsSchema: Schema<PmemOptions> = pmemOptionsObject;

/**
 * The most DRAM frames a PMEM file of `bytes` can checkpoint (a page takes its 4 KiB
 * plus a record header in an image; 1/16 of the image is left for VMA records).
 *
 * @example
 * ```ts
 * import { pmemFrameLimit } from "./pmem_service.ts";
 * console.assert(pmemFrameLimit(1 << 20) > 0);
 * ```
 */
export function pmemFrameLimit(bytes: number): number {
  const image = pmemLayout(bytes).imageBytes;
  return Math.max(1, Math.floor((image * 15 / 16) / (PAGE_SIZE + SECTOR)));
}

/** What the `pmem` control-plane query answers. */
export interface PmemInfo {
  /** The host file. */
  path: string;
  /** Its size. */
  bytes: number;
  /** Whether the file is open (false before start and after stop). */
  open: boolean;
  /** Key of the PMEM window for one-sided access (-1 when closed). */
  windowKey: number;
  /** Size of the window. */
  windowBytes: number;
  /** Records replayed at start (image, log) and a torn record dropped, if any. */
  recovered: { created: boolean; imageRecords: number; logRecords: number; tornAt?: number };
  /** Durable-write counters. */
  stats: PmemPoolStats;
}

/**
 * The PMEM side of a memory component.
 *
 * @example
 * ```ts ignore
 * const service = new PmemService(context, owner, PmemOptionsSchema.parse({ path, bytes }));
 * context.rpc.handle(await service.start());
 * ```
 */
export class PmemService {
  readonly #context: MonitorContext;
  readonly #owner: PersistentOwner;
  readonly #options: PmemOptions;
  #pool: PmemPool | undefined;
  #window: Uint8Array | undefined;
  #region: MemoryRegion | undefined;
  #frameRegion: MemoryRegion | undefined;
  readonly #frames: FramePool | undefined;
  #lastStats: PmemPoolStats = {
    records: 0,
    logBytes: 0,
    syncs: 0,
    syncWallNs: 0,
    checkpoints: 0,
    logUsed: 0,
    logCapacity: 0,
  };

  /**
   * A service for `owner`; {@link PmemService.start} opens the file. With `frames` (the
   * owner's pool) the frames are open to one-sided writes (path 2 into the page itself).
   */
  constructor(
    context: MonitorContext,
    owner: PersistentOwner,
    options: PmemOptions,
    frames?: FramePool,
  ) {
    this.#context = context;
    this.#owner = owner;
    this.#options = options;
    this.#frames = frames;
  }

  /**
   * Opens (or creates) the file, replays it, registers the window; returns the handlers
   * to register. Throws `PmemDamageError` for a damaged file.
   */
  async start(): Promise<Partial<OpsTable>> {
    const { path, bytes, windowBytes } = this.#options;
    const { pool, records, report } = await PmemPool.open(path, bytes);
    this.#pool = pool;
    try {
      await this.#owner.recover(pool, records, report);
    } catch (e) {
      pool.close();
      throw e;
    }
    this.#context.log(
      report.created
        ? `PMEM file "${path}" created (${bytes} bytes)`
        : `PMEM file "${path}": replayed ${report.imageRecords} image and ${report.logRecords} log records` +
          (report.tornAt !== undefined
            ? `; dropped a torn, unacknowledged record at offset 0x${report.tornAt.toString(16)}`
            : ""),
    );
    this.#window = new Uint8Array(windowBytes);
    this.#region = this.#context.endpoint.registerRegion(this.#window, {
      remoteRead: true,
      remoteWrite: true,
    });
    if (this.#frames) {
      this.#frameRegion = this.#context.endpoint.registerRegion(this.#frames.bytes, {
        remoteRead: true,
        remoteWrite: true,
      });
    }
    const owner = this.#owner;
    const window = this.#window;
    return {
      P2M_PMEM_WRITE: async (
        { pid, vaddr, data },
      ) => (await owner.persistWrite(pid, vaddr, data), {}),
      P2M_PMEM_COMMIT: async ({ pid, vaddr, offset, length, crc }) => {
        if (offset + length > window.length) {
          throw new KernelError(
            "EINVAL",
            `commit of ${length} bytes at ${offset} runs past the PMEM window (${window.length} bytes)`,
          );
        }
        // A copy taken and checked at once (one-sided writes land between tasks, never
        // during this one): a slot another writer reused since is refused, not committed.
        const bytes = window.slice(offset, offset + length);
        if (crc32(bytes) !== crc) {
          throw new KernelError(
            "EAGAIN",
            `the PMEM window at ${offset} no longer holds the ${length} bytes to commit ` +
              `(another writer reused the slot): nothing written, write again`,
          );
        }
        await owner.persistWrite(pid, vaddr, bytes);
        return {};
      },
    };
  }

  /**
   * The `pmem-page` query: where page `vaddr` of `pid` is in the frame region (the page
   * gets a frame if it had none; `EFAULT` outside a writable VMA).
   */
  async locate(pid: number, vaddr: number): Promise<{ key: number; offset: number }> {
    const region = this.#frameRegion;
    if (!region) {
      throw new KernelError("EAGAIN", "the PMEM frames are not open to one-sided access");
    }
    if (!Number.isSafeInteger(pid) || !Number.isSafeInteger(vaddr) || vaddr < 0) {
      throw new KernelError("EINVAL", "pmem-page needs { pid, vaddr } as integers");
    }
    const offset = vaddr % PAGE_SIZE;
    const frame = await this.#owner.frameFor(pid, vaddr - offset);
    return { key: region.key, offset: frame * PAGE_SIZE + offset };
  }

  /** The `pmem` query's answer (also before start and after stop, then with `open` false). */
  info(): PmemInfo {
    const pool = this.#pool;
    const r = this.#owner.report;
    return {
      path: this.#options.path,
      bytes: this.#options.bytes,
      open: pool !== undefined,
      windowKey: this.#region?.key ?? -1,
      windowBytes: this.#region?.length ?? 0,
      recovered: {
        created: r?.created ?? false,
        imageRecords: r?.imageRecords ?? 0,
        logRecords: r?.logRecords ?? 0,
        tornAt: r?.tornAt,
      },
      stats: this.#lastStats = pool?.stats() ?? this.#lastStats,
    };
  }

  /** Writes a checkpoint (so the next start replays an image, not a long log) and closes. */
  async stop(): Promise<void> {
    const pool = this.#pool;
    if (!pool) return;
    this.#lastStats = pool.stats();
    this.#pool = undefined;
    if (this.#region) this.#context.endpoint.deregisterRegion(this.#region);
    this.#region = undefined;
    if (this.#frameRegion) this.#context.endpoint.deregisterRegion(this.#frameRegion);
    this.#frameRegion = undefined;
    try {
      await this.#owner.checkpointNow();
    } catch (e) {
      this.#context.log(
        `PMEM file "${pool.path}": checkpoint at stop failed: ${(e as Error).message}`,
      );
    } finally {
      this.#lastStats = pool.stats();
      pool.close();
    }
  }
}
