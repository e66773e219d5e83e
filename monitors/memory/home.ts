/**
 * The home side of a memory component: it serves the address-space calls of the
 * processes homed here (`fork`, `exit`, `mmap`, `munmap`, `mremap`, `mprotect`, `brk`)
 * and carries each change out on the owners of the vRegions it touches.
 *
 * A call is computed on a copy of the process's {@link AddressSpace} (Linux semantics;
 * a failing call changes nothing), propagated, and committed only once every owner has
 * applied it: for every vRegion a
 * changed range covers, the home asks the global memory manager for the owner
 * (`MGR_PLACE_VREGION`, remembered per process) and tells it the VMAs it must now
 * enforce there (`M2M_VMA_SET`); pages that `mremap` moves or `fork` copies travel
 * owner to owner (`M2M_PAGES_COPY` inside one owner, `M2M_PAGES_READ` + `M2M_PAGES_WRITE`
 * across two). One process's calls run one at a time, in arrival order.
 *
 * With first-touch placement (the manager answers "" at `mmap`: not placed yet) a vRegion
 * has no owner until a page of it first reaches memory: the manager then passes the
 * processor's touch here (`MGR_VREGION_TOUCH`, see {@link Home.touch}), and the home asks
 * for the owner (`MGR_PLACE_VREGION` with `touch`) and sets the vRegion's VMAs there before
 * answering. Until then calls change only the home's copy; a `fork` or `mremap` that
 * carries pages into an unplaced vRegion places it then.
 *
 * Home and owners stay consistent whatever fails. When an owner call fails part-way, the
 * steps already sent (and the failed one, which may have been applied with only its reply
 * lost) are undone in reverse order (old VMAs set again, moved pages moved back) and the
 * home keeps the old address space. A range whose undo failed too is remembered and set
 * again on its owners before the process's next call, which fails rather than go on while
 * an owner may disagree.
 *
 * With a `persist` hook (PMEM mode) every committed change of a process's state — a call,
 * a fork, a first-touch placement, an exit — is made durable before it is answered, and
 * {@link Home.restore} brings the processes back after a restart. A call that was under
 * way at the crash was not answered; its owners may have applied it while the home's state
 * is the one before it, so every placed vRegion of a restored process is in doubt and set
 * again on its owner: at start where this component owns it ({@link Home.repairLocal}),
 * before the process's next call elsewhere. The call's VMAs are undone, but pages it
 * discarded (an unmapped range, a shrunk break) or was moving (`mremap`) may stay lost, as
 * the call never returned.
 *
 * @module
 */

import { KernelError } from "../../kernel/errors.ts";
import type { ComponentId } from "../../kernel/ids.ts";
import type { RpcNode } from "../../kernel/rpc.ts";
import { inParallel as modelParallel, inParallelSettled } from "../../kernel/model_time.ts";
import { AddressSpace, HEAP_START, type SpaceResult, type SpaceStep } from "./address_space.ts";
import { MAX_PAGES_PER_READ } from "./page_owner.ts";
import type { OwnerLink } from "./owner_link.ts";
import { Serial } from "./serial.ts";
import { permsOf, type Vma, VmaList } from "./vma.ts";

/** Most vRegions one call may touch (a guard against tiny vRegions and huge ranges). */
export const MAX_VREGIONS_PER_CALL = 65536;
/** Owner messages of one step in flight at once. */
const PARALLEL_OWNER_CALLS = 32;

interface HomedProcess {
  space: AddressSpace;
  /** vRegion index → owner, as the manager placed them. */
  readonly owners: Map<number, ComponentId>;
  readonly serial: Serial;
  /** Ranges an owner may hold differently from `space` (an undo failed): set them again. */
  readonly inDoubt: [number, number][];
}

/** One process's state as the home persists it ({@link HomeOptions.persist}). */
export interface HomeState {
  /** Where the heap starts. */
  startBrk: number;
  /** The program break. */
  brk: number;
  /** The VMAs, ascending. */
  vmas: Vma[];
  /** vRegion index → owner, for the vRegions placed so far. */
  owners: [number, ComponentId][];
  /** The vRegion size the indices are in. */
  vregionBytes: number;
}

/** Work that takes a step back, recorded before the step is sent. */
type Undo = () => Promise<void>;

/** What a {@link Home} needs from its component. */
export interface HomeOptions {
  /** This component's id. */
  id: ComponentId;
  /** RPC, to reach the manager. */
  rpc: RpcNode;
  /** The global manager's id. */
  manager: ComponentId;
  /** A link to the owner `id` (local calls for this component, messages otherwise). */
  link(id: ComponentId): OwnerLink;
  /**
   * Makes the state of `pid` durable (`null`: no longer homed here); each change is
   * answered only once this resolves. Without it the home keeps its state in memory only.
   */
  persist?: (pid: number, state: HomeState | null) => Promise<void>;
}

/** One process's address space as a control-plane query shows it. */
export interface AddressSpaceView {
  /** Process id. */
  pid: number;
  /** Program break. */
  brk: number;
  /** VMAs, ascending. */
  vmas: {
    start: number;
    end: number;
    prot: number;
    perms: string;
    shared: boolean;
    path: string;
    offset: number;
  }[];
  /** Owner of every vRegion placed for the process. */
  vregions: { vregion: number; owner: ComponentId }[];
}

/**
 * The address-space service for the processes homed on one component.
 *
 * @example
 * ```ts ignore
 * const home = new Home({ id: "m0", rpc, manager: "gm", link });
 * await home.fork(1, 0);
 * const addr = await home.call(1, (space) => space.mmap(0, 4096, 3, 0x22));
 * await home.exit(1);
 * ```
 */
export class Home {
  /** Size of a vRegion (set from the manager's join reply). */
  vregionBytes: number = 2 ** 30;
  readonly #options: HomeOptions;
  readonly #procs = new Map<number, HomedProcess>();
  /** The manager places vRegions at first touch (it answered "" at an `mmap`). */
  #deferring = false;

  /** A home with no process. */
  constructor(options: HomeOptions) {
    this.#options = options;
  }

  /** Processes homed here. */
  get processes(): number {
    return this.#procs.size;
  }

  /**
   * Homes the processes of `states` again (persisted before a restart). Their placed
   * vRegions are in doubt: set again on their owners before each process's next call.
   * Throws `EIO` naming the process when a state does not make sense.
   */
  restore(states: ReadonlyMap<number, unknown>): void {
    for (const [pid, value] of states) {
      const state = value as HomeState;
      try {
        const vmas = new VmaList(state.vmas.map((v) => ({ ...v })));
        const space = new AddressSpace(state.startBrk, vmas, state.brk);
        const owners = new Map(state.owners);
        const vb = state.vregionBytes;
        if (![space.startBrk, space.brk, vb].every(Number.isSafeInteger)) {
          throw new Error("bad numbers");
        }
        const inDoubt: [number, number][] = [...owners.keys()].sort((a, b) => a - b)
          .map((v) => [v * vb, (v + 1) * vb]);
        this.#procs.set(pid, { space, owners, serial: new Serial(), inDoubt });
      } catch (e) {
        throw new KernelError(
          "EIO",
          `the persisted home state of process ${pid} does not apply: ${(e as Error).message}`,
        );
      }
    }
  }

  /**
   * Sets the ranges in doubt whose owner is this component again, now (no message leaves:
   * done at start, before pages are served); the others wait for each process's next call.
   */
  async repairLocal(): Promise<void> {
    for (const [pid, proc] of this.#procs) {
      await proc.serial.run(async () => {
        const left: [number, number][] = [];
        // Restored ranges are whole vRegions of the size the state was saved with.
        for (const [start, end] of proc.inDoubt) {
          const local = proc.owners.get(start / (end - start)) === this.#options.id;
          if (!local) {
            left.push([start, end]);
            continue;
          }
          await this.#options.link(this.#options.id).setVmas(
            pid,
            this.#options.id,
            start,
            end,
            false,
            proc.space.vmas.slice(start, end),
          );
        }
        proc.inDoubt.splice(0, proc.inDoubt.length, ...left);
      });
    }
  }

  /** Makes the state of `pid` durable (when persisting). */
  async #persist(pid: number, proc: HomedProcess | undefined): Promise<void> {
    if (!this.#options.persist) return;
    await this.#options.persist(
      pid,
      proc
        ? {
          startBrk: proc.space.startBrk,
          brk: proc.space.brk,
          vmas: proc.space.vmas.vmas,
          owners: [...proc.owners],
          vregionBytes: this.vregionBytes,
        }
        : null,
    );
  }

  /** Every vRegion owner known for processes homed here. */
  vregions(): { pid: number; vregion: number; owner: ComponentId }[] {
    const out: { pid: number; vregion: number; owner: ComponentId }[] = [];
    for (const [pid, proc] of this.#procs) {
      for (const [vregion, owner] of [...proc.owners].sort((a, b) => a[0] - b[0])) {
        out.push({ pid, vregion, owner });
      }
    }
    return out;
  }

  /** The address space of `pid`, for the control plane; `ESRCH` if not homed here. */
  view(pid: number): AddressSpaceView {
    const proc = this.#proc(pid);
    return {
      pid,
      brk: proc.space.brk,
      vmas: proc.space.vmas.vmas.map((v) => ({
        start: v.start,
        end: v.end,
        prot: v.prot,
        perms: permsOf(v),
        shared: v.shared,
        path: v.path,
        offset: v.offset,
      })),
      vregions: [...proc.owners].sort((a, b) => a[0] - b[0]).map(([vregion, owner]) => ({
        vregion,
        owner,
      })),
    };
  }

  /**
   * Starts homing `pid`: empty (`parentPid` 0) or a copy of `parentPid`'s address space
   * and memory (the parent must be homed here).
   */
  async fork(pid: number, parentPid: number): Promise<void> {
    if (!Number.isInteger(pid) || pid < 1) {
      throw new KernelError("EINVAL", `pid must be a positive integer, got ${pid}`);
    }
    if (this.#procs.has(pid)) throw new KernelError("EEXIST", `process ${pid} already exists`);
    if (parentPid === 0) {
      const proc: HomedProcess = {
        space: new AddressSpace(),
        owners: new Map(),
        serial: new Serial(),
        inDoubt: [],
      };
      this.#procs.set(pid, proc);
      await proc.serial.run(() => this.#persist(pid, proc));
      return;
    }
    const parent = this.#procs.get(parentPid);
    if (!parent) {
      throw new KernelError(
        "ESRCH",
        `cannot fork from process ${parentPid}: it is not homed on ${this.#options.id}`,
      );
    }
    await parent.serial.run(async () => {
      if (this.#procs.get(parentPid) !== parent) {
        throw new KernelError("ESRCH", `cannot fork from process ${parentPid}: it has exited`);
      }
      if (this.#procs.has(pid)) throw new KernelError("EEXIST", `process ${pid} already exists`);
      const child: HomedProcess = {
        space: parent.space.clone(),
        owners: new Map(),
        serial: new Serial(),
        inDoubt: [],
      };
      this.#procs.set(pid, child);
      try {
        await child.serial.run(async () => {
          const vmas = child.space.vmas.vmas;
          await this.#apply(pid, child, child.space, vmas.map((v) => set(v.start, v.end)), []);
          for (const vma of vmas) {
            await this.#copyPages(
              parentPid,
              parent,
              vma.start,
              pid,
              child,
              vma.start,
              vma.end - vma.start,
              false,
            );
          }
          await this.#persist(pid, child);
        });
      } catch (e) {
        await this.#release(pid, child).catch(() => {});
        this.#procs.delete(pid);
        throw e;
      }
    });
  }

  /**
   * Starts homing `pid` with the VMAs and break a replica kept of it (a failover made this
   * component its home); its vRegion owners are asked of the manager afresh. No-op when
   * `pid` is homed here already.
   */
  adopt(pid: number, vmas: readonly Vma[], brk: number): void {
    if (this.#procs.has(pid)) return;
    this.#procs.set(pid, {
      space: new AddressSpace(HEAP_START, new VmaList([...vmas]), brk),
      owners: new Map(),
      serial: new Serial(),
      inDoubt: [],
    });
  }

  /** Every vRegion owned by `from` is now `to`'s (`from` failed over to `to`). */
  reassign(from: ComponentId, to: ComponentId): void {
    for (const proc of this.#procs.values()) {
      for (const [vregion, owner] of proc.owners) if (owner === from) proc.owners.set(vregion, to);
    }
  }

  /**
   * Runs an address-space call of `pid` and carries it out on the owners. Returns what
   * the call returns.
   */
  call(pid: number, op: (space: AddressSpace) => SpaceResult): Promise<number> {
    const proc = this.#proc(pid);
    return proc.serial.run(async () => {
      if (this.#procs.get(pid) !== proc) {
        throw new KernelError("ESRCH", `process ${pid} has exited`);
      }
      await this.#repair(pid, proc);
      const old = proc.space;
      const next = old.clone();
      const result = op(next);
      this.#checkSpan(result.steps);
      const undo: Undo[] = [];
      try {
        await this.#apply(pid, proc, next, result.steps, undo, old);
      } catch (e) {
        await this.#undo(undo);
        throw e;
      }
      proc.space = next;
      await this.#persist(pid, proc);
      if (result.error) throw result.error;
      return result.addr;
    });
  }

  /** Runs `undo` newest first; what cannot be undone is left for {@link Home.#repair}. */
  async #undo(undo: Undo[]): Promise<void> {
    for (const step of undo.reverse()) {
      try {
        await step();
      } catch {
        // Recorded in the doubt list (VMAs) or lost with the owner (pages): go on.
      }
    }
  }

  /** Sets the ranges in doubt again on their owners; fails (naming why) while one cannot. */
  async #repair(pid: number, proc: HomedProcess): Promise<void> {
    while (proc.inDoubt.length > 0) {
      const [start, end] = proc.inDoubt[0];
      try {
        await this.#apply(pid, proc, proc.space, [
          { kind: "set", start, end, discard: false },
        ], []);
      } catch (e) {
        throw new KernelError(
          "EIO",
          `process ${pid}: an owner of 0x${start.toString(16)}-0x${end.toString(16)} may ` +
            `still disagree with its home after a failed call: ${(e as Error).message}`,
        );
      }
      proc.inDoubt.shift();
    }
  }

  /** Frees everything of `pid` on every owner and stops homing it; returns pages freed. */
  async exit(pid: number): Promise<number> {
    const proc = this.#proc(pid);
    return await proc.serial.run(async () => {
      this.#procs.delete(pid);
      const freed = await this.#release(pid, proc);
      await this.#persist(pid, undefined);
      return freed;
    });
  }

  /** The process `pid`, or `ESRCH`. */
  #proc(pid: number): HomedProcess {
    const proc = this.#procs.get(pid);
    if (!proc) throw new KernelError("ESRCH", `no process ${pid} is homed on ${this.#options.id}`);
    return proc;
  }

  async #release(pid: number, proc: HomedProcess): Promise<number> {
    const owners = [...new Set(proc.owners.values())];
    // The owners free their pages at once: charged the slowest, not the sum.
    const results = await inParallelSettled(
      owners.map((o) => () => this.#options.link(o).exit(pid)),
    );
    let freed = 0;
    const failures: string[] = [];
    results.forEach((r, i) => {
      if (r.status === "fulfilled") freed += r.value;
      else failures.push(`${owners[i]}: ${(r.reason as Error).message}`);
    });
    if (failures.length) {
      throw new KernelError(
        "EIO",
        `process ${pid} exit was not acknowledged by ${failures.join("; ")}`,
      );
    }
    return freed;
  }

  #checkSpan(steps: readonly SpaceStep[]): void {
    let vregions = 0;
    for (const step of steps) {
      if (step.kind !== "set") continue;
      vregions += Math.floor((step.end - 1) / this.vregionBytes) -
        Math.floor(step.start / this.vregionBytes) + 1;
    }
    if (vregions > MAX_VREGIONS_PER_CALL) {
      throw new KernelError(
        "ENOMEM",
        `the call spans ${vregions} vRegions of ${this.vregionBytes} bytes, over the ` +
          `${MAX_VREGIONS_PER_CALL} one call may touch`,
      );
    }
  }

  /**
   * The owner of vRegion `vregion` of `pid` (placed by the manager on first use), or
   * `undefined` while the manager leaves it to its first touch.
   */
  async #ownerOf(
    pid: number,
    proc: HomedProcess,
    vregion: number,
  ): Promise<ComponentId | undefined> {
    const known = proc.owners.get(vregion);
    if (known !== undefined || this.#deferring) return known;
    const owner = await this.#askOwner(pid, vregion, false);
    if (owner === "") {
      this.#deferring = true;
      return undefined;
    }
    proc.owners.set(vregion, owner);
    return owner;
  }

  async #askOwner(pid: number, vregion: number, touch: boolean): Promise<ComponentId> {
    if (vregion > 0xffffffff) {
      throw new KernelError(
        "EINVAL",
        `vRegion index ${vregion} does not fit the u32 of MGR_PLACE_VREGION (vregionBytes ${this.vregionBytes} is too small)`,
      );
    }
    const { owner } = await this.#options.rpc.call(this.#options.manager, "MGR_PLACE_VREGION", {
      pid,
      vregion,
      touch,
    });
    return owner;
  }

  /**
   * First-touch placement: the owner of vRegion `vregion` of `pid`, placed now if it has
   * none yet (the manager picks it; its VMAs are set there before this resolves). `EFAULT`
   * when the process maps nothing in that vRegion; `ESRCH` when it is not homed here.
   */
  touch(pid: number, vregion: number): Promise<ComponentId> {
    const proc = this.#proc(pid);
    return proc.serial.run(async () => {
      if (this.#procs.get(pid) !== proc) {
        throw new KernelError("ESRCH", `process ${pid} has exited`);
      }
      if (proc.owners.has(vregion)) return proc.owners.get(vregion)!;
      const owner = await this.#place(pid, proc, vregion, proc.space);
      await this.#persist(pid, proc);
      return owner;
    });
  }

  /**
   * Places vRegion `vregion` of `pid` (if not yet placed) and sets the VMAs `space` has
   * there on its owner. With `old`, records in `undo` how to set `old`'s VMAs there again.
   */
  async #place(
    pid: number,
    proc: HomedProcess,
    vregion: number,
    space: AddressSpace,
    undo?: Undo[],
    old?: AddressSpace,
  ): Promise<ComponentId> {
    const known = proc.owners.get(vregion);
    if (known !== undefined) return known;
    const start = vregion * this.vregionBytes;
    const end = start + this.vregionBytes;
    const vmas = space.vmas.slice(start, end);
    if (vmas.length === 0) {
      throw new KernelError(
        "EFAULT",
        `segmentation fault: pid ${pid} maps nothing in vRegion ${vregion} ` +
          `(0x${start.toString(16)}-0x${end.toString(16)})`,
      );
    }
    const owner = await this.#askOwner(pid, vregion, true);
    const link = this.#options.link(owner);
    if (old) {
      undo!.push(async () => {
        try {
          await link.setVmas(pid, this.#options.id, start, end, false, old.vmas.slice(start, end));
        } catch (e) {
          proc.inDoubt.push([start, end]);
          throw e;
        }
      });
    }
    await link.setVmas(pid, this.#options.id, start, end, true, vmas);
    proc.owners.set(vregion, owner);
    return owner;
  }

  /**
   * Carries out `steps` (which lead to `space`) in order; the chunks of one step go out in
   * parallel. With `old`, each piece records in `undo`, before it is sent, how to take it
   * back to `old` (a range that cannot be taken back goes to the process's doubt list).
   */
  async #apply(
    pid: number,
    proc: HomedProcess,
    space: AddressSpace,
    steps: readonly SpaceStep[],
    undo: Undo[],
    old?: AddressSpace,
  ): Promise<void> {
    const vb = this.vregionBytes;
    for (const step of steps) {
      if (step.kind === "copy") {
        // Pages moving into a vRegion with no owner yet place it first, so that taking the
        // move back (below) runs before taking its VMAs back.
        await this.#placeTargets(pid, proc, step.from, step.to, step.length, space, undo, old);
        if (old) {
          // A move is taken back by moving the pages home again (before the target's own
          // VMAs are taken back, which comes later in the reverse order).
          undo.push(() =>
            this.#copyPages(pid, proc, step.to, pid, proc, step.from, step.length, true)
          );
        }
        await this.#copyPages(pid, proc, step.from, pid, proc, step.to, step.length, true);
        continue;
      }
      const chunks: [number, number][] = [];
      for (let at = step.start; at < step.end;) {
        const end = Math.min(step.end, (Math.floor(at / vb) + 1) * vb);
        chunks.push([at, end]);
        at = end;
      }
      await inParallel(chunks, PARALLEL_OWNER_CALLS, async ([start, end]) => {
        const owner = await this.#ownerOf(pid, proc, Math.floor(start / vb));
        if (owner === undefined) return; // not placed yet: its VMAs go with the placement
        const link = this.#options.link(owner);
        if (old) {
          undo.push(async () => {
            try {
              await link.setVmas(
                pid,
                this.#options.id,
                start,
                end,
                false,
                old.vmas.slice(start, end),
              );
            } catch (e) {
              proc.inDoubt.push([start, end]);
              throw e;
            }
          });
        }
        await link.setVmas(
          pid,
          this.#options.id,
          start,
          end,
          step.discard,
          space.vmas.slice(start, end),
        );
      });
    }
  }

  /**
   * First-touch placement of the vRegions of `[to, to + length)` that pages of
   * `[from, from + length)` will be copied into (those whose source has an owner).
   */
  async #placeTargets(
    pid: number,
    proc: HomedProcess,
    from: number,
    to: number,
    length: number,
    space: AddressSpace,
    undo: Undo[],
    old?: AddressSpace,
  ): Promise<void> {
    if (!this.#deferring) return;
    const vb = this.vregionBytes;
    for (let done = 0; done < length;) {
      const a = from + done;
      const b = to + done;
      const n = Math.min(length - done, vb - (a % vb), vb - (b % vb));
      if (proc.owners.has(Math.floor(a / vb))) {
        await this.#place(pid, proc, Math.floor(b / vb), space, undo, old);
      }
      done += n;
    }
  }

  /**
   * Copies (or moves) the pages of `[from, from + length)` of `srcPid` to `to` of
   * `dstPid`, piece by piece so that each piece has one owner on each side. A source
   * vRegion with no owner yet holds no pages; a target one is placed (with the VMAs of
   * `dst.space`).
   */
  async #copyPages(
    srcPid: number,
    src: HomedProcess,
    from: number,
    dstPid: number,
    dst: HomedProcess,
    to: number,
    length: number,
    move: boolean,
  ): Promise<void> {
    const vb = this.vregionBytes;
    for (let done = 0; done < length;) {
      const a = from + done;
      const b = to + done;
      const n = Math.min(length - done, vb - (a % vb), vb - (b % vb));
      const srcOwner = await this.#ownerOf(srcPid, src, Math.floor(a / vb));
      if (srcOwner === undefined) {
        done += n;
        continue;
      }
      const dstOwner = await this.#ownerOf(dstPid, dst, Math.floor(b / vb)) ??
        await this.#place(dstPid, dst, Math.floor(b / vb), dst.space);
      if (srcOwner === dstOwner) {
        await this.#options.link(srcOwner).copyPages(srcPid, a, dstPid, b, n, move);
      } else {
        // Across owners the pages travel through here; the source is dropped afterwards
        // by the step that unmaps it, so a failure part-way loses nothing.
        for (let at = a; at < a + n;) {
          const chunk = await this.#options.link(srcOwner).readPages(
            srcPid,
            at,
            a + n,
            MAX_PAGES_PER_READ,
          );
          if (chunk.addrs.length) {
            await this.#options.link(dstOwner).writePages(
              dstPid,
              chunk.addrs.map((addr) => addr - a + b),
              chunk.data,
            );
          }
          at = chunk.next;
        }
      }
      done += n;
    }
  }
}

function set(start: number, end: number): SpaceStep {
  return { kind: "set", start, end, discard: true };
}

/**
 * Runs `fn` over `items` with at most `limit` in flight. After a failure no new item
 * starts; it rejects with the first failure once every item in flight has settled (so an
 * undo never races a call still on its way).
 */
async function inParallel<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (next < items.length && !failure) {
      try {
        await fn(items[next++]);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  // In model time the lanes overlap: the request is charged the slowest lane.
  await modelParallel(Array.from({ length: Math.min(limit, items.length) }, () => worker));
  if (failure) throw failure.error;
}
