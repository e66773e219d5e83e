/**
 * Memory replication on one memory component, in both of its parts:
 *
 * - **As a primary** (its options name a `secondary`): everything that changes its state
 *   besides a page flush — VMAs an owner is told to enforce, pages copied or written by a
 *   home, a process's exit, the address space of a process homed here after each call —
 *   is forwarded to the secondary (`M2M_REPLICA_APPLY`) before the request is answered.
 *   Page flushes reach the secondary from the processor itself, in parallel with the flush
 *   to the primary (`P2M_PAGE_REPLICATE`), so the primary never adds a hop to them.
 * - **As a secondary**: one {@link ReplicaStore} per primary (its pages in an append-only
 *   {@link PageLog}, its VMAs, its homed processes), copied to a backup file on storage in
 *   the background ({@link ReplicaBackup}). On `MGR_PROMOTE` from the manager, it loads a
 *   primary's replica into its own page owner and home: the primary's vRegions and
 *   processes are now served here. A promotion re-sends what it loads to this component's
 *   own secondary, if it has one, so the adopted memory is replicated again.
 *
 * Both parts follow failovers of the components they talk to ({@link FailoverWatch},
 * `MGR_FAILOVER`): a home's call to a vRegion owner that is gone is retried at its
 * successor, and a primary whose secondary is gone stops forwarding to it.
 *
 * @module
 */

import { KernelError } from "../../kernel/errors.ts";
import { FailoverWatch, followFailover, isUnreachable } from "../../kernel/failover.ts";
import type { ComponentId } from "../../kernel/ids.ts";
import { PAGE_SIZE } from "../../kernel/messages.ts";
import type { MonitorContext } from "../../kernel/monitor.ts";
import type { OpsTable } from "../../kernel/rpc.ts";
import type { Home } from "./home.ts";
import type { OwnerLink } from "./owner_link.ts";
import { MAX_PAGES_PER_READ, type PageOwner } from "./page_owner.ts";
import { ReplicaBackup } from "./replica_backup.ts";
import { parseReplicaOp, type ReplicaOp, ReplicaStore } from "./replica_store.ts";
import type { StorageLink } from "./storage_link.ts";

/** What a {@link ReplicaService} works with. */
export interface ReplicaServiceOptions {
  /** The component's context (RPC, manager, events, log). */
  context: MonitorContext;
  /** The component's page owner. */
  owner: PageOwner;
  /** The component's home. */
  home: Home;
  /** Storage, for the backup files. */
  storage: StorageLink;
  /** This component's secondary, when it is a primary. */
  secondary?: ComponentId;
  /** Period of the background backup rounds, ms (0: none). */
  backupMs: number;
  /** The plain link to owner `id` (direct calls for this component, messages otherwise). */
  rawLink(id: ComponentId): OwnerLink;
}

/** Counters of a {@link ReplicaService}. */
export interface ReplicaStats {
  /** This component's secondary while replication to it is on, else null. */
  secondary: ComponentId | null;
  /** Changes forwarded to the secondary. */
  forwarded: number;
  /** Page bytes those changes carried. */
  forwardedBytes: number;
  /** Page flushes received as a secondary. */
  replicaFlushes: number;
  /** The replicas kept here, one per primary. */
  replicas: unknown[];
  /** Promotions done here: which primary, and what was loaded. */
  promotions: { primary: ComponentId; pages: number; processes: number; vmas: number }[];
}

/**
 * Replication and failover for one memory component.
 *
 * @example
 * ```ts ignore
 * const replica = new ReplicaService({ context, owner, home, storage, secondary: "m1", backupMs: 1000, rawLink });
 * context.rpc.handle(replica.handlers());
 * const link = replica.localLink(); // the owner's changes, forwarded to m1
 * ```
 */
export class ReplicaService {
  /** Failovers announced by the manager. */
  readonly watch: FailoverWatch = new FailoverWatch();
  readonly #options: ReplicaServiceOptions;
  #secondary: ComponentId | undefined;
  readonly #stores = new Map<ComponentId, { store: ReplicaStore; backup: ReplicaBackup }>();
  readonly #links = new Map<ComponentId, OwnerLink>();
  readonly #promotions: ReplicaStats["promotions"] = [];
  #forwarded = 0;
  #forwardedBytes = 0;
  #replicaFlushes = 0;

  /** Creates the service; register {@link ReplicaService.handlers} to serve. */
  constructor(options: ReplicaServiceOptions) {
    this.#options = options;
    this.#secondary = options.secondary;
    this.watch.listen((id, successor) => {
      if (successor !== "") options.home.reassign(id, successor);
      if (id === this.#secondary) this.#lose(`${id} is down`);
    });
  }

  /** Counters. */
  stats(): ReplicaStats {
    return {
      secondary: this.#secondary ?? null,
      forwarded: this.#forwarded,
      forwardedBytes: this.#forwardedBytes,
      replicaFlushes: this.#replicaFlushes,
      replicas: [...this.#stores.values()].map(({ store, backup }) => ({
        ...store.stats(),
        backup: backup.stats(),
      })),
      promotions: [...this.#promotions],
    };
  }

  /** Stops the backups. */
  stop(): void {
    for (const { backup } of this.#stores.values()) backup.stop();
  }

  /** The replica of `primary` kept here, if any (for tests and the control plane). */
  replicaOf(primary: ComponentId): ReplicaStore | undefined {
    return this.#stores.get(primary)?.store;
  }

  /** Writes every replica's backup now (tests; the timer does it in the background). */
  async backupNow(): Promise<void> {
    await Promise.all([...this.#stores.values()].map(({ backup }) => backup.round()));
  }

  /** The link to this component's own owner whose changes are forwarded to the secondary. */
  localLink(): OwnerLink {
    const raw = this.#options.rawLink(this.#options.context.id);
    return {
      id: raw.id,
      setVmas: async (pid, home, start, end, discard, vmas) => {
        const freed = await raw.setVmas(pid, home, start, end, discard, vmas);
        await this.#forward({ t: "vmas", pid, home, start, end, discard, vmas: [...vmas] });
        return freed;
      },
      readPages: (...args) => raw.readPages(...args),
      writePages: async (pid, addrs, data) => {
        await raw.writePages(pid, addrs, data);
        await this.#forward({ t: "write", pid, addrs: [...addrs] }, data);
      },
      copyPages: async (pid, from, toPid, to, length, move) => {
        const pages = await raw.copyPages(pid, from, toPid, to, length, move);
        await this.#forward({ t: "copy", pid, from, toPid, to, length, move });
        return pages;
      },
      exit: async (pid) => {
        const freed = await raw.exit(pid);
        await this.#forward({ t: "exit", pid });
        return freed;
      },
    };
  }

  /** The link to owner `id` that follows `id`'s failover to its successor. */
  link(id: ComponentId): OwnerLink {
    if (id === this.#options.context.id) return this.localLink();
    let link = this.#links.get(id);
    if (link) return link;
    const follow = <T>(pid: number, run: (l: OwnerLink) => Promise<T>) =>
      followFailover({
        rpc: this.#options.context.rpc,
        manager: this.#options.context.manager,
        watch: this.watch,
        pid,
        to: id,
        attempt: (to) =>
          run(to === this.#options.context.id ? this.localLink() : this.#options.rawLink(to)),
      });
    link = {
      id,
      setVmas: (pid, ...rest) => follow(pid, (l) => l.setVmas(pid, ...rest)),
      readPages: (pid, ...rest) => follow(pid, (l) => l.readPages(pid, ...rest)),
      writePages: (pid, ...rest) => follow(pid, (l) => l.writePages(pid, ...rest)),
      copyPages: (pid, ...rest) => follow(pid, (l) => l.copyPages(pid, ...rest)),
      exit: (pid) => follow(pid, (l) => l.exit(pid)),
    };
    this.#links.set(id, link);
    return link;
  }

  /** After an address-space call of `pid` homed here: its new state goes to the secondary. */
  async afterHomeCall(pid: number): Promise<void> {
    if (this.#secondary === undefined) return;
    let view;
    try {
      view = this.#options.home.view(pid);
    } catch {
      await this.#forward({ t: "unhome", pid });
      return;
    }
    await this.#forward({
      t: "space",
      pid,
      brk: view.brk,
      vmas: view.vmas.map(({ start, end, prot, shared, path, offset }) => ({
        start,
        end,
        prot,
        shared,
        path,
        offset,
      })),
    });
  }

  /** The handlers of the replication messages. */
  handlers(): Partial<OpsTable> {
    const { context, owner } = this.#options;
    return {
      P2M_PAGE_REPLICATE: ({ primary, pid, vaddr, page }) => {
        if (primary === context.id) {
          throw new KernelError("EINVAL", `${context.id} is not its own secondary`);
        }
        // Memory adopted from `primary` in a promotion is served here now: a late copy of a
        // flush to it is a flush here. Anything else is the primary's, kept in its replica.
        if (owner.vmasOf(pid).some((v) => v.start <= vaddr && vaddr < v.end)) {
          const done = owner.flush(pid, vaddr, page);
          return done === undefined ? {} : done.then(() => ({}));
        }
        this.#storeOf(primary).flush(pid, vaddr, page);
        this.#replicaFlushes++;
        return {};
      },
      M2M_REPLICA_APPLY: ({ op, data }, call) => {
        this.#storeOf(call.from).apply(parseReplicaOp(op), data);
        return {};
      },
      MGR_PROMOTE: async ({ primary }, call) => {
        if (call.from !== context.manager) {
          throw new KernelError("EPERM", `only the manager promotes a secondary, not ${call.from}`);
        }
        return await this.promote(primary);
      },
      MGR_FAILOVER: ({ id, successor }, call) => {
        if (call.from !== context.manager) {
          throw new KernelError("EPERM", `only the manager announces failovers, not ${call.from}`);
        }
        this.watch.notify(id, successor);
        return {};
      },
    };
  }

  /**
   * Takes over `primary`: loads its replica into this component's owner and home (and
   * sends it on to this component's own secondary). Returns what was loaded.
   */
  async promote(primary: ComponentId): Promise<{ pages: number; processes: number; vmas: number }> {
    const { context, home } = this.#options;
    // `primary` is gone: calls waiting on it (a forward, when it was also this component's
    // own secondary) give up now rather than wait for their transport to time out.
    this.watch.notify(primary, context.id);
    const entry = this.#stores.get(primary);
    const store = entry?.store ?? new ReplicaStore(primary);
    entry?.backup.stop();
    const local = this.localLink();
    let pages = 0;
    let vmas = 0;
    for (const [pid, copy] of store.owned) {
      const homeId = copy.home === primary ? context.id : copy.home;
      for (const vma of copy.vmas.vmas) {
        await local.setVmas(pid, homeId, vma.start, vma.end, false, [vma]);
        vmas++;
      }
      const addrs = store.log.vpnsOf(pid).map((vpn) => vpn * PAGE_SIZE)
        .filter((addr) => copy.vmas.find(addr) !== undefined);
      for (let i = 0; i < addrs.length; i += MAX_PAGES_PER_READ) {
        const batch = addrs.slice(i, i + MAX_PAGES_PER_READ);
        const data = new Uint8Array(batch.length * PAGE_SIZE);
        batch.forEach((addr, k) => data.set(store.log.get(pid, addr / PAGE_SIZE)!, k * PAGE_SIZE));
        await local.writePages(pid, batch, data);
        pages += batch.length;
      }
    }
    for (const [pid, space] of store.homed) {
      home.adopt(pid, space.vmas, space.brk);
      await this.afterHomeCall(pid);
    }
    home.reassign(primary, context.id);
    this.#stores.delete(primary);
    const result = { pages, processes: store.homed.size, vmas };
    this.#promotions.push({ primary, ...result });
    context.log(
      `took over ${primary}: ${pages} pages, ${vmas} VMAs, ${store.homed.size} processes homed`,
    );
    return result;
  }

  #storeOf(primary: ComponentId): ReplicaStore {
    let entry = this.#stores.get(primary);
    if (!entry) {
      const { context, storage, backupMs } = this.#options;
      const store = new ReplicaStore(primary);
      const backup = new ReplicaBackup({
        primary,
        log: store.log,
        storage,
        truncate: async (path, length) => {
          await context.rpc.call(await storage.locate(path), "P2S_TRUNCATE", { path, length });
        },
        intervalMs: backupMs,
        report: (line) => context.log(line),
      });
      backup.start();
      this.#stores.set(primary, entry = { store, backup });
    }
    return entry.store;
  }

  /**
   * Sends `op` to the secondary and waits for its acknowledgement. A secondary the
   * manager declared down (or announced gone) ends replication instead.
   */
  async #forward(op: ReplicaOp, data: Uint8Array = new Uint8Array(0)): Promise<void> {
    const { context } = this.#options;
    let waitMs = 10;
    for (;;) {
      const secondary = this.#secondary;
      if (secondary === undefined) return;
      const call = context.rpc.call(secondary, "M2M_REPLICA_APPLY", { op, data });
      let failure: unknown;
      try {
        const gone = this.watch.gone(secondary).then(() => "gone" as const);
        if ((await Promise.race([call, gone])) === "gone") {
          call.catch(() => {});
          continue; // the listener has ended replication
        }
        this.#forwarded++;
        this.#forwardedBytes += data.length;
        return;
      } catch (e) {
        failure = e;
      }
      if (!isUnreachable(failure)) throw failure;
      const info = await context.rpc.call(context.manager, "MGR_REPLICA_INFO", {
        id: context.id,
        pid: 0,
      }, { timeoutMs: 5000 }).catch(() => undefined);
      if (info && info.secondary !== secondary) {
        this.#lose(`the manager no longer counts ${secondary} as the secondary`);
        continue;
      }
      await new Promise((resolve) => setTimeout(resolve, waitMs));
      waitMs = Math.min(2 * waitMs, 250);
    }
  }

  #lose(why: string): void {
    if (this.#secondary === undefined) return;
    const { context } = this.#options;
    context.log(`replication to ${this.#secondary} ended (${why}); serving unreplicated`);
    context.events.emit("custom.replication-lost", {
      component: context.id,
      data: { secondary: this.#secondary, reason: why },
    });
    this.#secondary = undefined;
  }
}
