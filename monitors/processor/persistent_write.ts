/**
 * `proc.persistentWrite(addr, data, { path })`: a workload's write to PMEM-backed memory that
 * returns once durable, by one of the four access paths of `kernel/pmem_paths.ts` (RPC,
 * one-sided WRITE + flushing READ, WRITE + commit RPC, connectionless RPC). Each page piece
 * is really executed on the transport by the same {@link PmemClient} the `study pmem` uses
 * and charged to the thread exactly the model time the study charges (`persistCost`), as
 * stall `pmem`.
 *
 * The ExCache stays coherent: the line of each piece is written back if dirty and dropped
 * before the write, so the thread's next load fetches what memory now holds. A thread that
 * loads the line while the write is on its way may see the old bytes (order your threads).
 *
 * Path 2 writes into the page's frame on the memory component (its place asked with the
 * `pmem-page` query first, which the model does not charge: a real client learns it when it
 * maps the memory); on the in-memory and TCP transports that write is durable only in the
 * model, not in the component's PMEM file. Path 3 goes through the component's PMEM window:
 * each processor cycles through its slots; the commit names the CRC-32 of what was written,
 * so a slot another processor reused in between is refused (nothing written) and the write
 * is done again in the next slot, charged once more.
 *
 * @module
 */

import { PROT_WRITE } from "../../kernel/abi.ts";
import { KernelError, RemoteError } from "../../kernel/errors.ts";
import type { ComponentId } from "../../kernel/ids.ts";
import { PAGE_SIZE } from "../../kernel/messages.ts";
import { persistPathNamed, type PmemClient } from "../../kernel/pmem_paths.ts";
import { LINE_BYTES, VADDR_LIMIT } from "./layout.ts";
import type { PageService } from "./page_service.ts";
import type { ThreadRecord } from "./records.ts";

/** What a persistent write needs from the processor monitor. */
export interface PersistentWriteHost {
  /** The ExCache's miss and write-back service (owners, coherence). */
  readonly pages: PageService;
  /** A client of memory component `owner`'s persistent writes (`ENOENT` if not PMEM). */
  pmem(owner: ComponentId): Promise<PmemClient>;
}

/**
 * Writes `data` at `args.addr` by `args.path` (default `"rpc"`); resolves once durable.
 *
 * @example
 * ```ts ignore
 * await persistentWrite(host, thread, { addr: 0x7f0000000000, path: "write+commit" }, bytes);
 * ```
 */
export async function persistentWrite(
  host: PersistentWriteHost,
  t: ThreadRecord,
  args: Record<string, unknown>,
  data: Uint8Array,
): Promise<void> {
  const addr = args.addr;
  if (typeof addr !== "number" || !Number.isSafeInteger(addr) || addr < 0) {
    throw new KernelError("EINVAL", `addr must be a non-negative integer, got ${addr}`);
  }
  if (data.length === 0) throw new KernelError("EINVAL", "persistentWrite of no bytes");
  if (addr + data.length > VADDR_LIMIT) {
    throw new KernelError(
      "EINVAL",
      `0x${addr.toString(16)}+${data.length} is beyond the address space`,
    );
  }
  const path = persistPathNamed(args.path ?? "rpc");
  const p = t.process;
  for (let done = 0; done < data.length;) {
    const at = addr + done;
    const piece = data.subarray(
      done,
      done + Math.min(data.length - done, PAGE_SIZE - at % PAGE_SIZE),
    );
    const vline = Math.floor(at / LINE_BYTES);
    const range = p.vmas.find(at);
    if (!range || (range.prot & PROT_WRITE) === 0) {
      throw new KernelError(
        "EFAULT",
        `persistentWrite at 0x${at.toString(16)}: ${range ? "not writable" : "not mapped"}`,
      );
    }
    // Coherence: what the cache holds of the line goes to memory first, then leaves.
    await host.pages.syncRange(t, p, vline * LINE_BYTES, (vline + 1) * LINE_BYTES, () => "drop");
    const owner = await host.pages.ownerOf(t, p, vline);
    const client = await host.pmem(owner).catch((e) => {
      if (e instanceof RemoteError && e.code === "ENOENT") {
        throw new KernelError(
          "EINVAL",
          `persistentWrite needs PMEM-backed memory: 0x${at.toString(16)} lives on ${owner}, ` +
            `which is not in PMEM mode`,
        );
      }
      throw e;
    });
    try {
      const page = path === 2 ? await client.locate(p.pid, at) : undefined;
      const { modelNs } = await client.write(path, {
        pid: p.pid,
        vaddr: at,
        data: piece,
        windowOffset: client.nextSlot(),
        page,
      });
      t.clock.advance(modelNs);
      t.chargeStall("pmem", modelNs);
    } catch (e) {
      if (e instanceof RemoteError) throw new KernelError(e.code, e.message);
      throw e;
    }
    t.counters.messages += path === 2 || path === 3 ? 2 : 1;
    t.counters.bytesOut += piece.length;
    p.flushed.add(vline); // memory has the line now: a miss fetches it, never zero-fills
    done += piece.length;
  }
}
