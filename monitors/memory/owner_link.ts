/**
 * How a home reaches the owner of a vRegion: the same five operations whether the owner
 * is this component (direct calls into its {@link PageOwner}) or another one (`M2M_*`
 * messages).
 *
 * @module
 */

import type { ComponentId } from "../../kernel/ids.ts";
import type { RpcNode } from "../../kernel/rpc.ts";
import type { PageOwner } from "./page_owner.ts";
import type { Vma } from "./vma.ts";

/** The owner operations a home uses. */
export interface OwnerLink {
  /** The owner's component id. */
  readonly id: ComponentId;
  /** `M2M_VMA_SET`: the VMAs of `pid` in `[start, end)`; returns pages dropped. */
  setVmas(
    pid: number,
    home: ComponentId,
    start: number,
    end: number,
    discard: boolean,
    vmas: readonly Vma[],
  ): Promise<number>;
  /** `M2M_PAGES_READ`: up to `maxPages` pages held in `[start, end)`. */
  readPages(
    pid: number,
    start: number,
    end: number,
    maxPages: number,
  ): Promise<{ addrs: number[]; data: Uint8Array; next: number }>;
  /** `M2M_PAGES_WRITE`: installs pages at `addrs`. */
  writePages(pid: number, addrs: readonly number[], data: Uint8Array): Promise<void>;
  /** `M2M_PAGES_COPY`: copies or moves pages inside the owner; returns pages handled. */
  copyPages(
    pid: number,
    from: number,
    toPid: number,
    to: number,
    length: number,
    move: boolean,
  ): Promise<number>;
  /** `M2M_PROCESS_EXIT`: frees everything of `pid`; returns pages freed. */
  exit(pid: number): Promise<number>;
}

/**
 * The link to this component's own owner: direct calls, no message.
 *
 * @example
 * ```ts ignore
 * const link = localOwnerLink("m0", owner);
 * await link.exit(7);
 * ```
 */
export function localOwnerLink(id: ComponentId, owner: PageOwner): OwnerLink {
  return {
    id,
    setVmas: async (...args) => await owner.setVmas(...args),
    readPages: (...args) => owner.readPages(...args),
    writePages: (...args) => owner.writePages(...args),
    copyPages: (...args) => owner.copyPages(...args),
    exit: async (pid) => await owner.exit(pid),
  };
}

/**
 * The link to another memory component, over `M2M_*` messages.
 *
 * @example
 * ```ts ignore
 * const link = remoteOwnerLink(context.rpc, "m1");
 * const freed = await link.exit(7);
 * ```
 */
export function remoteOwnerLink(rpc: RpcNode, id: ComponentId): OwnerLink {
  return {
    id,
    setVmas: async (pid, home, start, end, discard, vmas) =>
      (await rpc.call(id, "M2M_VMA_SET", { pid, home, start, end, discard, vmas })).pagesFreed,
    readPages: async (pid, start, end, maxPages) => {
      const reply = await rpc.call(id, "M2M_PAGES_READ", { pid, start, end, maxPages });
      return { addrs: reply.addrs as number[], data: reply.data, next: reply.next };
    },
    writePages: async (pid, addrs, data) => {
      await rpc.call(id, "M2M_PAGES_WRITE", { pid, addrs, data });
    },
    copyPages: async (pid, from, toPid, to, length, move) =>
      (await rpc.call(id, "M2M_PAGES_COPY", { pid, from, toPid, to, length, move })).pages,
    exit: async (pid) => (await rpc.call(id, "M2M_PROCESS_EXIT", { pid })).pagesFreed,
  };
}
