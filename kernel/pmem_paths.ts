/**
 * The four ways to make a remote write persistent, executed on the transport and charged
 * by the latency model:
 *
 * 1. **rpc** — a two-sided RPC (`P2M_PMEM_WRITE`): the server writes the bytes to PMEM
 *    (non-temporal stores + fence), then replies.
 * 2. **write+read** — a one-sided WRITE into the server's PMEM window, then a one-sided
 *    READ of the same region: the READ completes only after the WRITE has left the NIC,
 *    so with DDIO off (NIC writes go to memory, which on PMEM is the persistence domain)
 *    the write is durable when the READ returns. With DDIO on the WRITE lands in the
 *    CPU's cache and the READ proves nothing: the path is refused (`EINVAL`).
 * 3. **write+commit** — a one-sided WRITE, then a small commit RPC (`P2M_PMEM_COMMIT`)
 *    whose server flushes the lines (clwb + fence) and replies.
 * 4. **connectionless** — an RPC over a shared receive queue with no per-peer connection
 *    (FaSST/eRPC style); the server does what path 1's does.
 *
 * Model time per path (all from the latency model; sizes in bytes):
 * ```
 * 1  messageNs(n) + pmem write(n)
 * 2  oneSided write(n) + oneSided read(8)                      (valid only with DDIO off)
 * 3  oneSided write(n) + messageNs(24) + pmem flush(n)
 * 4  connectionlessRpcNs + n * 8 / linkGbps + pmem write(n)
 * ```
 * The flushing READ reads {@link FLUSH_READ_BYTES}; a commit request carries
 * {@link COMMIT_BYTES} of body. Models without `connectionlessRpcNs` charge path 4 as
 * path 1's RPC; models without `ddio` are taken to have it on.
 *
 * On the in-memory and TCP transports one-sided operations are served by the transport
 * itself and two-sided ones go through the component's one shared receive queue, so
 * paths 1 and 4 run the same code there; they differ in the model (and on RDMA). A path-2
 * write there is durable **only in the model**: the transport puts the bytes in the
 * server's memory, no fence or flush reaches its PMEM file (it gets them at the next
 * checkpoint); paths 1, 3 and 4 are durable in the file before they are acknowledged.
 *
 * Workloads take the paths with `proc.persistentWrite(addr, data, { path })` (see
 * `kernel/process_api.ts`), charged exactly as here.
 *
 * @module
 */

import { crc32 } from "./crc32.ts";
import { KernelError } from "./errors.ts";
import type { ComponentId } from "./ids.ts";
import type { LatencyModel } from "./latency.ts";
import { PAGE_SIZE } from "./messages.ts";
import type { RpcNode } from "./rpc.ts";
import type { TransportEndpoint } from "./transport.ts";

/** An access path's number. */
export type PersistPath = 1 | 2 | 3 | 4;

/** Every path, in order. */
export const PERSIST_PATHS: readonly PersistPath[] = [1, 2, 3, 4];

/** Short names of the paths, for tables. */
export const PATH_NAMES: Readonly<Record<PersistPath, string>> = {
  1: "rpc",
  2: "write+read",
  3: "write+commit",
  4: "connectionless",
};

/**
 * The path named `name` (`rpc`, `write+read`, `write+commit`, `connectionless`, as in
 * {@link PATH_NAMES}), or `EINVAL` naming the choices.
 *
 * @example
 * ```ts
 * import { persistPathNamed } from "./pmem_paths.ts";
 * console.assert(persistPathNamed("write+commit") === 3);
 * ```
 */
export function persistPathNamed(name: unknown): PersistPath {
  for (const path of PERSIST_PATHS) if (PATH_NAMES[path] === name) return path;
  throw new KernelError(
    "EINVAL",
    `persistent-write path must be one of ${
      PERSIST_PATHS.map((p) => `"${PATH_NAMES[p]}"`).join(", ")
    }, got ${JSON.stringify(name)}`,
  );
}

/** Bytes the flushing READ of path 2 reads (a small read; N3 does not say its size). */
export const FLUSH_READ_BYTES = 8;

/** Body bytes of a commit request (pid 4, address 8, offset 4, length 4, CRC-32 4). */
export const COMMIT_BYTES = 24;

/** Times path 3 writes and commits before it gives up on a window other writers keep reusing. */
export const COMMIT_ATTEMPTS = 16;

/** The model's figures for one path and size. */
export interface PathCost {
  /** Model latency of one persistent write [ns]. */
  ns: number;
  /** False when the path does not make the write durable (path 2 with DDIO on). */
  valid: boolean;
  /** Server CPU the write takes [ns] (0 for path 2). */
  serverCpuNs: number;
  /** Server NIC time the write takes [ns]. */
  nicNs: number;
}

function constant(model: LatencyModel, key: string): number | undefined {
  return model.describe()[key]?.value;
}

/** The DDIO switch of `model` (on when the model does not say). */
export function ddioOf(model: LatencyModel): boolean {
  return (constant(model, "ddio") ?? 1) !== 0;
}

/**
 * Model cost of a persistent write of `bytes` by `path`.
 *
 * @example
 * ```ts
 * import { persistCost } from "./pmem_paths.ts";
 * import type { LatencyModel } from "./latency.ts";
 * const flat = {
 *   name: "flat", messageNs: () => 5000, oneSidedNs: () => 2000, deviceNs: () => 100,
 *   roofline: () => ({}), describe: () => ({ ddio: { value: 0, unit: "switch", source: "test" } }),
 * } as unknown as LatencyModel;
 * console.assert(persistCost(flat, 1, 64).ns === 5100);
 * console.assert(persistCost(flat, 2, 64).ns === 4000 && persistCost(flat, 2, 64).valid);
 * ```
 */
export function persistCost(model: LatencyModel, path: PersistPath, bytes: number): PathCost {
  const described = model.describe();
  const cpu = described.rpcServerCpuNs?.value ?? 0;
  const nicOp = described.nicOpNs?.value ?? 0;
  const linkGbps = described.linkGbps?.value ?? 40;
  const wire = (n: number) => Math.max(nicOp, (n * 8) / linkGbps);
  const pmemWrite = model.deviceNs("pmem", "write", bytes);
  const pmemFlush = model.deviceNs("pmem", "flush", bytes);
  switch (path) {
    case 1:
      return {
        ns: model.messageNs(bytes) + pmemWrite,
        valid: true,
        serverCpuNs: cpu + pmemWrite,
        nicNs: wire(bytes) + wire(0),
      };
    case 2:
      return {
        ns: model.oneSidedNs("write", bytes) + model.oneSidedNs("read", FLUSH_READ_BYTES),
        valid: !ddioOf(model),
        serverCpuNs: 0,
        nicNs: wire(bytes) + wire(FLUSH_READ_BYTES),
      };
    case 3:
      return {
        ns: model.oneSidedNs("write", bytes) + model.messageNs(COMMIT_BYTES) + pmemFlush,
        valid: true,
        serverCpuNs: cpu + pmemFlush,
        nicNs: wire(bytes) + wire(COMMIT_BYTES) + wire(0),
      };
    case 4: {
      const rtt = described.connectionlessRpcNs?.value;
      return {
        ns: (rtt === undefined ? model.messageNs(bytes) : rtt + (bytes * 8) / linkGbps) + pmemWrite,
        valid: true,
        serverCpuNs: cpu + pmemWrite,
        nicNs: wire(bytes) + wire(0),
      };
    }
  }
}

/**
 * Model throughput of `clients` closed-loop clients each issuing one write at a time:
 * the least of what the clients offer (`clients / latency`), what the server's CPU
 * cores serve and what its NIC serves (asymptotic bounds) [writes per second], and which
 * one limits.
 *
 * @example
 * ```ts
 * import { persistThroughput } from "./pmem_paths.ts";
 * const t = persistThroughput({ ns: 1000, valid: true, serverCpuNs: 500, nicNs: 10 }, 64, 1);
 * console.assert(t.perSecond === 2e6 && t.limit === "server cpu");
 * ```
 */
export function persistThroughput(
  cost: PathCost,
  clients: number,
  serverCores: number,
): { perSecond: number; limit: "clients" | "server cpu" | "nic" } {
  const offered = (clients / cost.ns) * 1e9;
  const cpu = cost.serverCpuNs > 0 ? (serverCores / cost.serverCpuNs) * 1e9 : Infinity;
  const nic = cost.nicNs > 0 ? (1 / cost.nicNs) * 1e9 : Infinity;
  const perSecond = Math.min(offered, cpu, nic);
  return {
    perSecond,
    limit: perSecond === offered ? "clients" : perSecond === cpu ? "server cpu" : "nic",
  };
}

/** One persistent write done: what the model charges and what this machine took. */
export interface PersistResult {
  /** Model time [ns]. */
  modelNs: number;
  /** Wall time on this machine [ns]. */
  wallNs: number;
}

/** Where a {@link PmemClient} writes. */
export interface PmemClientOptions {
  /** RPC over the client's endpoint. */
  rpc: RpcNode;
  /** The client's endpoint (for one-sided access). */
  endpoint: TransportEndpoint;
  /** The PMEM memory component. */
  target: ComponentId;
  /** The model that charges each write. */
  model: LatencyModel;
}

/**
 * A client of a PMEM memory component's persistent writes, by any of the four paths.
 *
 * @example
 * ```ts ignore
 * const client = await PmemClient.connect({ rpc, endpoint, target: "m0", model });
 * const { modelNs } = await client.write(1, { pid: 7, vaddr: 0x10000, data, windowOffset: 0 });
 * ```
 */
export class PmemClient {
  readonly #options: PmemClientOptions;
  readonly #windowKey: number;
  /** Size of the server's PMEM window. */
  readonly windowBytes: number;
  #slot = 0;

  private constructor(options: PmemClientOptions, windowKey: number, windowBytes: number) {
    this.#options = options;
    this.#windowKey = windowKey;
    this.windowBytes = windowBytes;
  }

  /** Asks the target for its PMEM window (the `pmem` query) and returns a client. */
  static async connect(options: PmemClientOptions): Promise<PmemClient> {
    const { result } = await options.rpc.call(options.target, "MGR_QUERY", {
      what: "pmem",
      args: {},
    });
    const info = result as { windowKey: number; windowBytes: number };
    return new PmemClient(options, info.windowKey, info.windowBytes);
  }

  /**
   * Writes `data` at `vaddr` of `pid` by `path` and resolves once it is durable (paths 1,
   * 3, 4 in the server's PMEM file; path 2 in the model). Paths 2 and 3 WRITE into the
   * window at `windowOffset`; path 2 WRITEs and READs at `page` instead when given (the
   * server's region holding the page itself, so the bytes land at `vaddr`; see
   * {@link PmemClient.locate}).
   */
  async write(
    path: PersistPath,
    target: {
      pid: number;
      vaddr: number;
      data: Uint8Array;
      windowOffset: number;
      page?: { key: number; offset: number };
    },
  ): Promise<PersistResult> {
    const { rpc, endpoint, target: to, model } = this.#options;
    const { pid, vaddr, data, windowOffset, page } = target;
    const cost = persistCost(model, path, data.length);
    if (!cost.valid) {
      throw new KernelError(
        "EINVAL",
        `path 2 (WRITE + READ) does not make a write persistent with DDIO on: the NIC's ` +
          `write lands in the CPU cache (set the latency model's ddio to false)`,
      );
    }
    if ((path === 3 || (path === 2 && !page)) && windowOffset + data.length > this.windowBytes) {
      throw new KernelError(
        "EINVAL",
        `window offset ${windowOffset} + ${data.length} bytes is past the window`,
      );
    }
    const t0 = performance.now();
    let attempts = 1;
    switch (path) {
      case 1:
      case 4:
        await rpc.call(to, "P2M_PMEM_WRITE", { pid, vaddr, path, data });
        break;
      case 2: {
        const key = page?.key ?? this.#windowKey;
        const offset = page?.offset ?? windowOffset;
        await endpoint.write(to, key, offset, data);
        await endpoint.read(to, key, offset, Math.min(FLUSH_READ_BYTES, data.length));
        break;
      }
      case 3:
        attempts = await this.#writeAndCommit(pid, vaddr, data, windowOffset);
        break;
    }
    // A commit refused because another writer reused the slot is done again, and the
    // hardware would have paid for each attempt too.
    return { modelNs: cost.ns * attempts, wallNs: (performance.now() - t0) * 1e6 };
  }

  /**
   * Path 3: WRITEs `data` into the window at `windowOffset` and commits it, naming its
   * CRC-32; when the server answers that the slot no longer holds it (another writer of
   * the same window reused the slot in between), writes again in the next slot, up to
   * {@link COMMIT_ATTEMPTS} times. Returns the attempts it took.
   */
  async #writeAndCommit(
    pid: number,
    vaddr: number,
    data: Uint8Array,
    windowOffset: number,
  ): Promise<number> {
    const { rpc, endpoint, target: to } = this.#options;
    const crc = crc32(data);
    let offset = windowOffset;
    for (let attempt = 1;; attempt++) {
      await endpoint.write(to, this.#windowKey, offset, data);
      try {
        await rpc.call(to, "P2M_PMEM_COMMIT", { pid, vaddr, offset, length: data.length, crc });
        return attempt;
      } catch (e) {
        if (!(e instanceof KernelError && e.code === "EAGAIN") || attempt >= COMMIT_ATTEMPTS) {
          throw e;
        }
        if (data.length <= PAGE_SIZE) offset = this.nextSlot();
        // Back off a little, by an amount that differs between writers (it follows their
        // bytes), so that two writers that keep meeting in one slot stop meeting.
        await new Promise((resolve) => setTimeout(resolve, ((crc >>> attempt) % 4) * attempt));
      }
    }
  }

  /** A window offset for a write of at most a page: page-sized slots, taken in turn. */
  nextSlot(): number {
    const slots = Math.max(1, Math.floor(this.windowBytes / PAGE_SIZE));
    return (this.#slot++ % slots) * PAGE_SIZE;
  }

  /**
   * Where the server holds page `vaddr` of `pid` for one-sided access (the `pmem-page`
   * query): the key of its frame region and the offset of `vaddr` in it. The page gets a
   * frame if it had none; `EFAULT` when `pid` may not write there. A real client learns
   * this when it maps the memory; here it is asked right before a path-2 write, and the
   * model charges nothing for it.
   */
  async locate(pid: number, vaddr: number): Promise<{ key: number; offset: number }> {
    const { result } = await this.#options.rpc.call(this.#options.target, "MGR_QUERY", {
      what: "pmem-page",
      args: { pid, vaddr },
    });
    return result as { key: number; offset: number };
  }
}
