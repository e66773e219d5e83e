/**
 * What a secondary keeps of one primary memory component, enough to serve its processes
 * after a promotion: the primary's pages (a {@link PageLog}), the VMAs it enforces as a
 * vRegion owner, and the address space (VMAs and break) of every process homed on it.
 *
 * It changes by page flushes (sent by processors beside the flush to the primary) and by
 * the {@link ReplicaOp}s the primary forwards (`M2M_REPLICA_APPLY`), each applied with the
 * same meaning the primary's own {@link PageOwner} and home gave it.
 *
 * @module
 */

import { z } from "npm:zod@4.6.7";
import { KernelError } from "../../kernel/errors.ts";
import type { ComponentId } from "../../kernel/ids.ts";
import { PAGE_SIZE } from "../../kernel/messages.ts";
import { PageLog, type PageLogStats } from "./replica_log.ts";
import { type Vma, VmaList } from "./vma.ts";

const u64 = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const pid = z.number().int().min(1).max(0xffffffff);
const vmaSchema = z.strictObject({
  start: u64,
  end: u64,
  prot: z.number().int().min(0).max(7),
  shared: z.boolean(),
  path: z.string().max(4096),
  offset: u64,
});
const vmasSchema = z.array(vmaSchema).max(1 << 20);

/**
 * A change the primary forwards to its secondary:
 * - `vmas`: an owner's `M2M_VMA_SET` (VMAs of `pid` in `[start, end)`, dropping pages);
 * - `write`: pages installed at `addrs` (the op's data, in order);
 * - `copy`: pages copied or moved inside the owner;
 * - `exit`: the owner freed everything of `pid`;
 * - `space`: the address space of `pid`, homed on the primary, after a call;
 * - `unhome`: `pid` is no longer homed on the primary.
 */
export type ReplicaOp =
  | {
    t: "vmas";
    pid: number;
    home: string;
    start: number;
    end: number;
    discard: boolean;
    vmas: Vma[];
  }
  | { t: "write"; pid: number; addrs: number[] }
  | {
    t: "copy";
    pid: number;
    from: number;
    toPid: number;
    to: number;
    length: number;
    move: boolean;
  }
  | { t: "exit"; pid: number }
  | { t: "space"; pid: number; brk: number; vmas: Vma[] }
  | { t: "unhome"; pid: number };

const opSchema = z.discriminatedUnion("t", [
  z.strictObject({
    t: z.literal("vmas"),
    pid,
    home: z.string().min(1).max(16),
    start: u64,
    end: u64,
    discard: z.boolean(),
    vmas: vmasSchema,
  }),
  z.strictObject({ t: z.literal("write"), pid, addrs: z.array(u64).max(1 << 16) }),
  z.strictObject({
    t: z.literal("copy"),
    pid,
    from: u64,
    toPid: pid,
    to: u64,
    length: u64,
    move: z.boolean(),
  }),
  z.strictObject({ t: z.literal("exit"), pid }),
  z.strictObject({ t: z.literal("space"), pid, brk: u64, vmas: vmasSchema }),
  z.strictObject({ t: z.literal("unhome"), pid }),
]);

/**
 * Checks a forwarded op; `EINVAL` naming the problem when it is not one.
 *
 * @example
 * ```ts
 * import { parseReplicaOp } from "./replica_store.ts";
 * console.assert(parseReplicaOp({ t: "exit", pid: 3 }).t === "exit");
 * try { parseReplicaOp({ t: "exit" }); } catch (e) { console.assert((e as { code: string }).code === "EINVAL"); }
 * ```
 */
export function parseReplicaOp(value: unknown): ReplicaOp {
  const parsed = opSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new KernelError(
      "EINVAL",
      `not a replica op: ${issue.path.join(".") || "(op)"}: ${issue.message}`,
    );
  }
  const op = parsed.data as ReplicaOp;
  for (const at of replicaAddresses(op)) {
    if (at % PAGE_SIZE !== 0) {
      throw new KernelError(
        "EINVAL",
        `replica op ${op.t}: 0x${at.toString(16)} is not page-aligned`,
      );
    }
  }
  return op;
}

function replicaAddresses(op: ReplicaOp): number[] {
  switch (op.t) {
    case "vmas":
      return [op.start, op.end];
    case "write":
      return op.addrs;
    case "copy":
      return [op.from, op.to, op.length];
    default:
      return [];
  }
}

/** A process whose memory the primary owns (some of its vRegions). */
export interface OwnedCopy {
  /** Its home. */
  home: ComponentId;
  /** The VMAs the primary enforces for it. */
  vmas: VmaList;
}

/** A process homed on the primary. */
export interface HomedCopy {
  /** Its program break. */
  brk: number;
  /** All its VMAs. */
  vmas: Vma[];
}

/**
 * The replica of one primary.
 *
 * @example
 * ```ts
 * import { ReplicaStore } from "./replica_store.ts";
 * const store = new ReplicaStore("m0");
 * const vma = { start: 0x10000, end: 0x20000, prot: 3, shared: false, path: "", offset: 0 };
 * store.apply({ t: "vmas", pid: 1, home: "m0", start: 0x10000, end: 0x20000, discard: true, vmas: [vma] });
 * store.flush(1, 0x10000, new Uint8Array(4096).fill(5));
 * console.assert(store.log.get(1, 0x10)?.[0] === 5);
 * store.apply({ t: "vmas", pid: 1, home: "m0", start: 0x10000, end: 0x20000, discard: true, vmas: [] });
 * console.assert(store.log.get(1, 0x10) === undefined);
 * ```
 */
export class ReplicaStore {
  /** The primary this replicates. */
  readonly primary: ComponentId;
  /** The primary's pages. */
  readonly log: PageLog = new PageLog();
  /** Processes whose memory the primary owns. */
  readonly owned: Map<number, OwnedCopy> = new Map();
  /** Processes homed on the primary. */
  readonly homed: Map<number, HomedCopy> = new Map();
  #ops = 0;
  #flushes = 0;

  /** An empty replica of `primary`. */
  constructor(primary: ComponentId) {
    this.primary = primary;
  }

  /** Logs a flush: `page` is now the content of the page at `vaddr` of `pid`. */
  flush(pid: number, vaddr: number, page: Uint8Array): void {
    if (vaddr % PAGE_SIZE !== 0) {
      throw new KernelError("EINVAL", `page address 0x${vaddr.toString(16)} is not page-aligned`);
    }
    this.log.append(pid, vaddr / PAGE_SIZE, page);
    this.#flushes++;
  }

  /** Applies a forwarded change; `data` holds the pages of a `write`. */
  apply(op: ReplicaOp, data: Uint8Array = new Uint8Array(0)): void {
    this.#ops++;
    switch (op.t) {
      case "vmas": {
        let proc = this.owned.get(op.pid);
        if (!proc) this.owned.set(op.pid, proc = { home: op.home, vmas: new VmaList() });
        proc.home = op.home;
        proc.vmas.replace(op.start, op.end, op.vmas);
        if (op.discard) this.#dropRange(op.pid, op.start, op.end);
        else {
          let at = op.start;
          for (const vma of [...op.vmas, { start: op.end, end: op.end }]) {
            if (vma.start > at) this.#dropRange(op.pid, at, vma.start);
            at = Math.max(at, vma.end);
          }
        }
        if (proc.vmas.length === 0 && this.log.vpnsOf(op.pid).length === 0) {
          this.owned.delete(op.pid);
        }
        return;
      }
      case "write":
        if (data.length !== op.addrs.length * PAGE_SIZE) {
          throw new KernelError(
            "EINVAL",
            `${op.addrs.length} pages need ${
              op.addrs.length * PAGE_SIZE
            } bytes, got ${data.length}`,
          );
        }
        op.addrs.forEach((addr, i) =>
          this.log.append(
            op.pid,
            addr / PAGE_SIZE,
            data.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE),
          )
        );
        return;
      case "copy": {
        const first = op.from / PAGE_SIZE;
        const shift = (op.to - op.from) / PAGE_SIZE;
        // Read every source first: the ranges may overlap.
        const pages = this.log.vpnsOf(op.pid, first, first + op.length / PAGE_SIZE)
          .map((vpn) => [vpn, this.log.get(op.pid, vpn)!.slice()] as const);
        if (op.move) { for (const [vpn] of pages) this.log.drop(op.pid, vpn); }
        for (const [vpn, page] of pages) this.log.append(op.toPid, vpn + shift, page);
        return;
      }
      case "exit":
        this.log.dropProcess(op.pid);
        this.owned.delete(op.pid);
        return;
      case "space":
        this.homed.set(op.pid, { brk: op.brk, vmas: op.vmas });
        return;
      case "unhome":
        this.homed.delete(op.pid);
        return;
    }
  }

  /** Counters for `stats()`. */
  stats(): { primary: ComponentId; ops: number; flushes: number; owned: number; homed: number } & {
    log: PageLogStats;
  } {
    return {
      primary: this.primary,
      ops: this.#ops,
      flushes: this.#flushes,
      owned: this.owned.size,
      homed: this.homed.size,
      log: this.log.stats(),
    };
  }

  #dropRange(pid: number, start: number, end: number): void {
    for (const vpn of this.log.vpnsOf(pid, start / PAGE_SIZE, end / PAGE_SIZE)) {
      this.log.drop(pid, vpn);
    }
  }
}
