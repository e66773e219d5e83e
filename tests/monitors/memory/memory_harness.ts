/**
 * Test harness for the memory component: boots a manager, memory components and a
 * storage component on the in-memory transport (no processor), and attaches a client
 * node `p0` that plays the processor: it sends the P2M address-space calls to a home and
 * the page service to each vRegion's owner, exactly as the processor contract says.
 *
 * @module
 */

import { bootCluster, type Cluster } from "../../../kernel/cluster.ts";
import type { ResolvedClusterConfig, ResolvedComponentConfig } from "../../../kernel/config.ts";
import type { ComponentId, Role } from "../../../kernel/ids.ts";
import { PAGE_SIZE } from "../../../kernel/messages.ts";
import { managerMonitorPlugin } from "../../../monitors/manager/mod.ts";
import { type PluginKind, PluginRegistry } from "../../../kernel/plugins.ts";
import { RpcNode } from "../../../kernel/rpc.ts";
import { memoryMonitorPlugin, type StockMemoryMonitor } from "../../../monitors/memory/mod.ts";
import { storageMonitorPlugin } from "../../../monitors/storage/mod.ts";
import { latencyModelPlugins } from "../../../plugins/latency/mod.ts";
import { placementPlugins } from "../../../plugins/placement/mod.ts";
import { memoryTransportPlugin } from "../../../transports/memory_plugin.ts";

/** The plugins these tests need: the stock ones minus the processor (not needed here). */
function memoryTestRegistry(): PluginRegistry {
  const registry = new PluginRegistry();
  for (
    const plugin of [
      memoryTransportPlugin,
      ...latencyModelPlugins,
      managerMonitorPlugin,
      memoryMonitorPlugin,
      storageMonitorPlugin,
      ...placementPlugins,
    ]
  ) registry.register(plugin);
  return registry;
}

/** What to boot. */
export interface MemoryClusterOptions {
  /** Memory components: how many (ids m0, m1, ...), each with these options. */
  memories?: number;
  /** Options of every memory component. */
  memoryOptions?: Record<string, unknown>;
  /** Per-component option overrides, by id. */
  memoryOverrides?: Record<ComponentId, Record<string, unknown>>;
  /** The manager's vRegion size. */
  vregionBytes?: number;
  /** The manager's vRegion placement policy. */
  vregionPlacement?: string;
  /** The manager's heartbeat period (default 60 s: no heartbeat during a test). */
  heartbeatMs?: number;
  /** Storage root (default: a temporary directory the storage monitor removes). */
  storageRoot?: string;
  /** Further options of the storage component. */
  storageOptions?: Record<string, unknown>;
}

/** A booted cluster plus the client that plays the processor. */
export interface MemoryCluster {
  /** The cluster. */
  cluster: Cluster;
  /** The client node (`p0`). */
  client: RpcNode;
  /** Size of a vRegion. */
  vregionBytes: number;
  /** A memory monitor by id. */
  memory(id: ComponentId): StockMemoryMonitor;
  /** A process driven from the client, homed on `home`. */
  process(pid: number, home: ComponentId): FakeProcess;
  /** Stops everything. */
  stop(): Promise<void>;
}

/**
 * Boots the cluster.
 *
 * @example
 * ```ts ignore
 * const mc = await bootMemoryCluster({ memories: 2, vregionBytes: 1 << 16 });
 * const p = mc.process(1, "m0");
 * await p.fork();
 * await mc.stop();
 * ```
 */
export async function bootMemoryCluster(
  options: MemoryClusterOptions = {},
): Promise<MemoryCluster> {
  const registry = memoryTestRegistry();
  const vregionBytes = options.vregionBytes ?? 2 ** 30;
  const component = (
    id: string,
    role: Role,
    opts: Record<string, unknown>,
  ): ResolvedComponentConfig => {
    const kind = `${role}-monitor` as PluginKind;
    return { id, role, kind, plugin: role, options: registry.parseOptions(kind, role, opts) };
  };
  const managerOptions: Record<string, unknown> = {
    vregionBytes,
    heartbeatMs: options.heartbeatMs ?? 60_000,
  };
  if (options.vregionPlacement) managerOptions.vregionPlacement = options.vregionPlacement;
  const memories = options.memories ?? 1;
  const config: ResolvedClusterConfig = {
    name: "memory-test",
    transport: {
      kind: "transport",
      plugin: "memory",
      options: registry.parseOptions("transport", "memory", {}),
    },
    latencyModel: {
      kind: "latency-model",
      plugin: "legoos-ib",
      options: registry.parseOptions("latency-model", "legoos-ib", {}),
    },
    components: [
      component("gm", "manager", managerOptions),
      component("s0", "storage", {
        ...options.storageOptions,
        ...(options.storageRoot ? { root: options.storageRoot } : {}),
      }),
      ...Array.from({ length: memories }, (_, i) =>
        component(`m${i}`, "memory", {
          ...options.memoryOptions,
          ...options.memoryOverrides?.[`m${i}`],
        })),
    ],
  };
  const cluster = await bootCluster(config, registry, { log: () => {} });
  const client = new RpcNode(await cluster.transport.attach("p0"));
  return {
    cluster,
    client,
    vregionBytes,
    memory: (id) => cluster.monitors.get(id) as StockMemoryMonitor,
    process: (pid, home) => new FakeProcess(client, pid, home, vregionBytes),
    async stop() {
      await client.close();
      await cluster.stop();
    },
  };
}

/**
 * One process as a processor would drive it, with no cache: every load fetches the page
 * from its owner, every store fetches, changes and flushes it.
 */
export class FakeProcess {
  readonly pid: number;
  readonly home: ComponentId;
  readonly #client: RpcNode;
  readonly #vregionBytes: number;
  readonly #owners = new Map<number, ComponentId>();

  constructor(client: RpcNode, pid: number, home: ComponentId, vregionBytes: number) {
    this.#client = client;
    this.pid = pid;
    this.home = home;
    this.#vregionBytes = vregionBytes;
  }

  /** P2M_FORK (a new, empty process unless `parentPid` is given). */
  async fork(parentPid = 0): Promise<void> {
    await this.#client.call(this.home, "P2M_FORK", { pid: this.pid, parentPid });
  }

  /** P2M_EXIT. */
  async exit(): Promise<number> {
    return (await this.#client.call(this.home, "P2M_EXIT", { pid: this.pid })).pagesFreed;
  }

  /** P2M_MMAP. */
  async mmap(
    addr: number,
    length: number,
    prot: number,
    flags: number,
    path = "",
    offset = 0,
  ): Promise<number> {
    return (await this.#client.call(this.home, "P2M_MMAP", {
      pid: this.pid,
      addr,
      length,
      prot,
      flags,
      path,
      offset,
    })).addr;
  }

  /** P2M_MUNMAP. */
  async munmap(addr: number, length: number): Promise<void> {
    await this.#client.call(this.home, "P2M_MUNMAP", { pid: this.pid, addr, length });
  }

  /** P2M_MPROTECT. */
  async mprotect(addr: number, length: number, prot: number): Promise<void> {
    await this.#client.call(this.home, "P2M_MPROTECT", { pid: this.pid, addr, length, prot });
  }

  /** P2M_MREMAP. */
  async mremap(
    oldAddr: number,
    oldLength: number,
    newLength: number,
    flags: number,
    newAddr = 0,
  ): Promise<number> {
    return (await this.#client.call(this.home, "P2M_MREMAP", {
      pid: this.pid,
      oldAddr,
      oldLength,
      newLength,
      flags,
      newAddr,
    })).addr;
  }

  /** P2M_BRK. */
  async brk(addr: number): Promise<number> {
    return (await this.#client.call(this.home, "P2M_BRK", { pid: this.pid, addr })).addr;
  }

  /** The owner of the vRegion holding `vaddr` (asked from the manager once). */
  async owner(vaddr: number): Promise<ComponentId> {
    const vregion = Math.floor(vaddr / this.#vregionBytes);
    let owner = this.#owners.get(vregion);
    if (owner === undefined) {
      ({ owner } = await this.#client.call("gm", "MGR_PLACE_VREGION", {
        pid: this.pid,
        vregion,
        touch: true,
      }));
      this.#owners.set(vregion, owner);
    }
    return owner;
  }

  /** P2M_PAGE_FETCH of the page at `vaddr` (page-aligned), from its owner. */
  async fetch(vaddr: number): Promise<Uint8Array> {
    return (await this.#client.call(await this.owner(vaddr), "P2M_PAGE_FETCH", {
      pid: this.pid,
      vaddr,
    })).page.slice();
  }

  /** P2M_PAGE_FLUSH of `page` to `vaddr`. */
  async flush(vaddr: number, page: Uint8Array): Promise<void> {
    await this.#client.call(await this.owner(vaddr), "P2M_PAGE_FLUSH", {
      pid: this.pid,
      vaddr,
      page,
    });
  }

  /** Reads `length` bytes at `addr`. */
  async load(addr: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    for (let done = 0; done < length;) {
      const at = addr + done;
      const within = at % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - within, length - done);
      const page = await this.fetch(at - within);
      out.set(page.subarray(within, within + n), done);
      done += n;
    }
    return out;
  }

  /** Writes `data` at `addr` (fetch, change, flush per page). */
  async store(addr: number, data: Uint8Array): Promise<void> {
    for (let done = 0; done < data.length;) {
      const at = addr + done;
      const within = at % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - within, data.length - done);
      const page = n === PAGE_SIZE ? new Uint8Array(PAGE_SIZE) : await this.fetch(at - within);
      page.set(data.subarray(done, done + n), within);
      await this.flush(at - within, page);
      done += n;
    }
  }
}
