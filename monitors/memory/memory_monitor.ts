/**
 * The stock memory monitor (mComponent): address-space calls, per-process page tables
 * (the MMU lives here, not on the processor) and the DRAM frame pool.
 *
 * The page table is hashed (a `Map` from virtual page number to frame), as the LegoOS
 * paper describes: lookups cost the same however sparse the address space is.
 *
 * @module
 */

import { z } from "zod";
import { PROT_READ, PROT_WRITE } from "../../kernel/abi.ts";
import { KernelError } from "../../kernel/errors.ts";
import { joinCluster, type Membership } from "../../kernel/membership.ts";
import { PAGE_SIZE } from "../../kernel/messages.ts";
import type { MemoryMonitor, MonitorContext } from "../../kernel/monitor.ts";
import type { Schema } from "../../kernel/zod_issues.ts";
import { AddressSpace, type Vma } from "./address_space.ts";
import { FramePool } from "./frame_pool.ts";

/** Options of the stock memory monitor. */
export interface MemoryOptions {
  /** Size of the DRAM pool in bytes (default 64 MiB; at least one 4 KiB frame). */
  dramBytes: number;
}

/** Validates {@link MemoryOptions}, filling defaults. */
export const MemoryOptionsSchema: Schema<MemoryOptions> = z.strictObject({
  dramBytes: z.number().int().min(PAGE_SIZE).max(2 ** 40).default(64 * 1024 * 1024),
});

interface ProcessMemory {
  space: AddressSpace;
  pageTable: Map<number, number>;
}

/**
 * The stock memory monitor.
 *
 * @example
 * ```ts ignore
 * const memory = new StockMemoryMonitor(context, { dramBytes: 1 << 26 });
 * await memory.start();
 * ```
 */
export class StockMemoryMonitor implements MemoryMonitor {
  /** The role. */
  readonly role = "memory" as const;
  /** The component id. */
  readonly id: string;
  #context: MonitorContext;
  #pool: FramePool;
  #processes = new Map<number, ProcessMemory>();
  #membership: Membership | undefined;
  #counts = { fetches: 0, flushes: 0, piggybacked: 0, bytesIn: 0, bytesOut: 0, faults: 0 };

  /** Creates the monitor; `start()` begins serving. */
  constructor(context: MonitorContext, options: MemoryOptions) {
    this.#context = context;
    this.id = context.id;
    this.#pool = new FramePool(options.dramBytes);
  }

  /** Registers the P2M handlers and joins the cluster. */
  async start(): Promise<void> {
    this.#context.rpc.handle({
      P2M_FORK: ({ pid }) => {
        if (this.#processes.has(pid)) throw new KernelError("EEXIST", `process ${pid} exists`);
        this.#processes.set(pid, { space: new AddressSpace(), pageTable: new Map() });
        return {};
      },
      P2M_EXIT: ({ pid }) => {
        const proc = this.#process(pid);
        const pagesFreed = proc.pageTable.size;
        for (const frame of proc.pageTable.values()) this.#pool.release(frame);
        this.#processes.delete(pid);
        return { pagesFreed };
      },
      P2M_MMAP: ({ pid, addr, length, prot, flags, path }) => {
        if (path !== "") {
          throw new KernelError("ENODEV", "file-backed mmap is not supported by this monitor");
        }
        return { addr: this.#process(pid).space.mmap(addr, length, prot, flags) };
      },
      P2M_MUNMAP: ({ pid, addr, length }) => {
        const proc = this.#process(pid);
        this.#freeRanges(proc, proc.space.unmap(addr, length));
        return {};
      },
      P2M_BRK: ({ pid, addr }) => {
        const proc = this.#process(pid);
        const { brk, released } = proc.space.setBrk(addr, PROT_READ | PROT_WRITE);
        if (released) this.#freeRanges(proc, [released]);
        return { addr: brk };
      },
      P2M_PAGE_FETCH: ({ pid, vaddr }) => ({ page: this.#fetch(pid, vaddr) }),
      P2M_PAGE_FLUSH: ({ pid, vaddr, page }) => {
        this.#flush(pid, vaddr, page);
        return {};
      },
      P2M_PAGE_FLUSH_FETCH: ({ pid, flushVaddr, page, fetchVaddr }) => {
        this.#flush(pid, flushVaddr, page);
        this.#counts.piggybacked++;
        return { page: this.#fetch(pid, fetchVaddr) };
      },
    });
    this.#membership = await joinCluster(
      this.#context,
      { dramBytes: this.#pool.frames * PAGE_SIZE },
      () => ({ framesUsed: this.#pool.used, framesFree: this.#pool.free }),
    );
  }

  /** Leaves the cluster. */
  stop(): Promise<void> {
    this.#membership?.leave();
    return Promise.resolve();
  }

  /** Frames, faults and bytes served. */
  stats(): Record<string, unknown> {
    return {
      ...this.#counts,
      framesUsed: this.#pool.used,
      framesFree: this.#pool.free,
      processes: this.#processes.size,
    };
  }

  #process(pid: number): ProcessMemory {
    const proc = this.#processes.get(pid);
    if (!proc) throw new KernelError("ESRCH", `no process ${pid} on ${this.id}`);
    return proc;
  }

  /** Checks an access and returns the frame backing `vaddr`, allocating it on first touch. */
  #frameFor(pid: number, vaddr: number, prot: number): number {
    const proc = this.#process(pid);
    if (vaddr % PAGE_SIZE !== 0) {
      throw new KernelError("EINVAL", `page address 0x${vaddr.toString(16)} is unaligned`);
    }
    const vma = proc.space.find(vaddr);
    if (!vma || (vma.prot & prot) !== prot) {
      this.#counts.faults++;
      this.#context.events.emit("fault", {
        component: this.id,
        data: { pid, vaddr, reason: vma ? "protection" : "unmapped" },
      });
      throw new KernelError(
        "EFAULT",
        `segmentation fault: pid ${pid} ${prot & PROT_WRITE ? "write" : "read"} at 0x${
          vaddr.toString(16)
        } (${vma ? "protection" : "not mapped"})`,
      );
    }
    const vpn = vaddr / PAGE_SIZE;
    let frame = proc.pageTable.get(vpn);
    if (frame === undefined) {
      frame = this.#pool.allocate();
      if (frame < 0) {
        throw new KernelError(
          "ENOMEM",
          `${this.id}: DRAM pool of ${this.#pool.frames} frames full`,
        );
      }
      proc.pageTable.set(vpn, frame);
    }
    return frame;
  }

  #fetch(pid: number, vaddr: number): Uint8Array {
    const page = this.#pool.page(this.#frameFor(pid, vaddr, PROT_READ));
    this.#counts.fetches++;
    this.#counts.bytesOut += PAGE_SIZE;
    return page;
  }

  #flush(pid: number, vaddr: number, page: Uint8Array): void {
    this.#pool.page(this.#frameFor(pid, vaddr, PROT_WRITE)).set(page);
    this.#counts.flushes++;
    this.#counts.bytesIn += PAGE_SIZE;
  }

  #freeRanges(proc: ProcessMemory, ranges: Vma[]): void {
    for (const { start, end } of ranges) {
      for (let vpn = start / PAGE_SIZE; vpn < end / PAGE_SIZE; vpn++) {
        const frame = proc.pageTable.get(vpn);
        if (frame !== undefined) {
          this.#pool.release(frame);
          proc.pageTable.delete(vpn);
        }
      }
    }
  }
}
