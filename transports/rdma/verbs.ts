/**
 * A thin object layer over libibverbs through Deno FFI: device list and open, device,
 * port and GID queries, protection domains, memory registration on pinned memory,
 * completion queues and channels, RC and UD queue pairs and their state transitions,
 * shared receive queues, address handles, posting work requests and polling completions.
 *
 * The data-path verbs are `static inline` in verbs.h; here they are called through the
 * function pointers of the context's ops table (`ibv_context.ops.post_send` and friends),
 * read at the offsets of `abi.ts`. Work requests, scatter/gather entries and work
 * completions are written into one pinned scratch area per context, so a post or a
 * poll allocates nothing.
 *
 * @example
 * ```ts ignore
 * import { VerbsContext } from "./verbs.ts";
 * const ctx = VerbsContext.open();           // first device, or throws RdmaUnavailableError
 * const pd = ctx.allocPd();
 * const cq = ctx.createCq(256);
 * const qp = pd.createQp({ type: "RC", sendCq: cq, recvCq: cq, maxSendWr: 64, maxRecvWr: 64 });
 * ```
 *
 * @module
 */

import { LAYOUT, VERBS, WC_STATUS_NAMES } from "./abi.ts";
import { CompletionError, errnoName, RdmaUnavailableError, VerbsError } from "./errors.ts";
import { type IbvLibrary, lastErrno, type LibcLibrary, loadVerbs } from "./ffi.ts";

const F = {
  ctx: LAYOUT.ibv_context.fields,
  devAttr: LAYOUT.ibv_device_attr.fields,
  port: LAYOUT.ibv_port_attr.fields,
  mr: LAYOUT.ibv_mr.fields,
  chan: LAYOUT.ibv_comp_channel.fields,
  qp: LAYOUT.ibv_qp.fields,
  qpInit: LAYOUT.ibv_qp_init_attr.fields,
  ah: LAYOUT.ibv_ah_attr.fields,
  qpAttr: LAYOUT.ibv_qp_attr.fields,
  srqInit: LAYOUT.ibv_srq_init_attr.fields,
  sge: LAYOUT.ibv_sge.fields,
  send: LAYOUT.ibv_send_wr.fields,
  recv: LAYOUT.ibv_recv_wr.fields,
  wc: LAYOUT.ibv_wc.fields,
};

/** A pointer as an integer (0 for null), e.g. to key a map by native object. */
export function addressOf(p: Deno.PointerValue): bigint {
  return p === null ? 0n : BigInt(Deno.UnsafePointer.value(p));
}

/** Memory outside the JS heap (libc `aligned_alloc`): its address never changes. */
export class PinnedMemory {
  /** The start of the block. */
  readonly pointer: Deno.PointerObject;
  /** The block as bytes. */
  readonly bytes: Uint8Array;
  /** The block as a DataView. */
  readonly view: DataView;
  /** The start address as an integer. */
  readonly address: bigint;
  readonly #libc: LibcLibrary;
  #freed = false;

  /** Allocates `size` bytes aligned to `align` (a power of two; default one page). */
  constructor(libc: LibcLibrary, size: number, align = 4096) {
    const rounded = Math.max(align, Math.ceil(size / align) * align);
    const p = libc.aligned_alloc(BigInt(align), BigInt(rounded));
    if (p === null) throw new VerbsError("aligned_alloc", 12, `${rounded} bytes`);
    this.#libc = libc;
    this.pointer = p;
    const buffer = Deno.UnsafePointerView.getArrayBuffer(p, rounded);
    this.bytes = new Uint8Array(buffer, 0, size);
    this.bytes.fill(0);
    this.view = new DataView(buffer, 0, size);
    this.address = addressOf(p);
  }

  /** Returns the block to libc. Idempotent; the views must not be used afterwards. */
  free(): void {
    if (this.#freed) return;
    this.#freed = true;
    this.#libc.free(this.pointer);
  }
}

/** What `ibv_query_device` reports (the fields legoemu uses). */
export interface DeviceAttributes {
  /** Firmware version string. */
  firmware: string;
  /** Largest registrable region, bytes. */
  maxMrSize: bigint;
  /** Most queue pairs. */
  maxQp: number;
  /** Most outstanding work requests per queue. */
  maxQpWr: number;
  /** Most scatter/gather entries per work request. */
  maxSge: number;
  /** Most entries per completion queue. */
  maxCqe: number;
  /** Most work requests per shared receive queue. */
  maxSrqWr: number;
  /** Atomic support (`ibv_atomic_cap`; 0 means none). */
  atomicCap: number;
  /** Physical ports. */
  ports: number;
}

/** What `ibv_query_port` reports (the fields legoemu uses). */
export interface PortAttributes {
  /** `ibv_port_state` (4 = active). */
  state: number;
  /** Active MTU as an enum (`IBV_MTU_*`). */
  activeMtu: number;
  /** Active MTU in bytes. */
  activeMtuBytes: number;
  /** Local identifier (InfiniBand addressing; 0 on RoCE). */
  lid: number;
  /** Entries in the GID table. */
  gidTableLength: number;
  /** 1 InfiniBand, 2 Ethernet (RoCE). */
  linkLayer: number;
}

/** Options for creating a queue pair. */
export interface QueuePairOptions {
  /** `RC` (reliable connected) or `UD` (unreliable datagram). */
  type: "RC" | "UD";
  /** Completion queue for sends. */
  sendCq: CompletionQueue;
  /** Completion queue for receives. */
  recvCq: CompletionQueue;
  /** Shared receive queue to take receives from (instead of the QP's own). */
  srq?: SharedReceiveQueue;
  /** Outstanding sends (default 128). */
  maxSendWr?: number;
  /** Outstanding receives on the QP's own queue (default 128; ignored with an SRQ). */
  maxRecvWr?: number;
  /** Signal every send (default true). */
  signalAll?: boolean;
}

/** Where an RC queue pair or an address handle points: the remote port and QP. */
export interface RemoteAddress {
  /** The remote port's LID (0 on RoCE). */
  lid: number;
  /** The remote port's GID (16 bytes); used when `global` is set. */
  gid: Uint8Array;
  /** Route with a GRH (required on RoCE). */
  global: boolean;
  /** Local GID index to send from, when global. */
  gidIndex?: number;
}

/** One work completion, as read from the completion queue. */
export interface WorkCompletion {
  /** The id given when posting. */
  wrId: number;
  /** `ibv_wc_status` (0 = success). */
  status: number;
  /** `ibv_wc_opcode`. */
  opcode: number;
  /** Bytes received (receives) or transferred. */
  byteLength: number;
  /** Immediate data, when `IBV_WC_WITH_IMM` is set in `flags`. */
  imm: number;
  /** The local QP the work belonged to. */
  qpNum: number;
  /** For receives: the sending QP. */
  srcQp: number;
  /** `ibv_wc_flags`. */
  flags: number;
}

const WR_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(VERBS).filter(([k]) => k.startsWith("IBV_WR_")).map(([k, v]) => [v, k]),
);
const WC_OPCODE_TO_WR: Record<number, string> = {
  [VERBS.IBV_WC_SEND]: "IBV_WR_SEND",
  [VERBS.IBV_WC_RDMA_WRITE]: "IBV_WR_RDMA_WRITE",
  [VERBS.IBV_WC_RDMA_READ]: "IBV_WR_RDMA_READ",
  [VERBS.IBV_WC_COMP_SWAP]: "IBV_WR_ATOMIC_CMP_AND_SWP",
  [VERBS.IBV_WC_FETCH_ADD]: "IBV_WR_ATOMIC_FETCH_AND_ADD",
  [VERBS.IBV_WC_RECV]: "IBV_WC_RECV",
  [VERBS.IBV_WC_RECV_RDMA_WITH_IMM]: "IBV_WC_RECV_RDMA_WITH_IMM",
};

/** The name of work-request opcode `op`, e.g. `IBV_WR_RDMA_READ`. */
export function wrOpcodeName(op: number): string {
  return WR_NAMES[op] ?? `opcode ${op}`;
}

/** The name of completion status `status`, e.g. `IBV_WC_REM_ACCESS_ERR`. */
export function wcStatusName(status: number): string {
  return WC_STATUS_NAMES[status] ?? `status ${status}`;
}

/** A {@link CompletionError} for a failed completion; `verb` overrides the opcode name. */
export function completionError(wc: WorkCompletion, verb?: string, detail = ""): CompletionError {
  // A failed completion's opcode is not reliable (verbs.h), so the poster names the verb.
  const name = verb ?? WC_OPCODE_TO_WR[wc.opcode] ?? `opcode ${wc.opcode}`;
  return new CompletionError(name, wc.status, wcStatusName(wc.status), detail);
}

const MTU_BYTES: Record<number, number> = { 1: 256, 2: 512, 3: 1024, 4: 2048, 5: 4096 };

type Fn<P extends readonly Deno.NativeType[]> = Deno.UnsafeFnPointer<
  { parameters: P; result: "i32" }
>;

const SCRATCH = {
  sendWr: 0,
  sendSge: 256,
  recvWr: 512, // RECV_BATCH linked receive WRs of 32 bytes
  recvSge: 1536, // RECV_BATCH SGEs of 16 bytes
  badWr: 2048,
  wc: 2304, // POLL_BATCH completions
  size: 2304 + 32 * LAYOUT.ibv_wc.size,
};
/** Receive WRs posted per call. */
export const RECV_BATCH = 32;
/** Completions read per poll. */
export const POLL_BATCH = 32;

/** An open device: the root of every other verbs object. */
export class VerbsContext {
  /** The device's name, e.g. `mlx5_0`, `rxe0`. */
  readonly deviceName: string;
  /** The `ibv_context *`. */
  readonly pointer: Deno.PointerObject;
  /** The bound library. */
  readonly ibv: IbvLibrary;
  /** The bound libc. */
  readonly libc: LibcLibrary;
  /** Pinned scratch for work requests and completions (one post or poll at a time). */
  readonly scratch: PinnedMemory;
  readonly postSendFn: Fn<["pointer", "pointer", "pointer"]>;
  readonly postRecvFn: Fn<["pointer", "pointer", "pointer"]>;
  readonly postSrqRecvFn: Fn<["pointer", "pointer", "pointer"]>;
  readonly pollCqFn: Fn<["pointer", "i32", "pointer"]>;
  readonly reqNotifyCqFn: Fn<["pointer", "i32"]>;
  #closed = false;

  private constructor(
    ibv: IbvLibrary,
    libc: LibcLibrary,
    pointer: Deno.PointerObject,
    name: string,
  ) {
    this.ibv = ibv;
    this.libc = libc;
    this.pointer = pointer;
    this.deviceName = name;
    const view = new Deno.UnsafePointerView(pointer);
    const op = <P extends readonly Deno.NativeType[]>(field: string, parameters: P): Fn<P> => {
      const fn = view.getPointer(F.ctx[field as keyof typeof F.ctx]);
      if (fn === null) throw new VerbsError("ibv_context.ops", 95, `${field} is NULL`);
      // deno-lint-ignore no-explicit-any
      return new Deno.UnsafeFnPointer(fn as any, { parameters, result: "i32" } as const);
    };
    this.postSendFn = op("ops.post_send", ["pointer", "pointer", "pointer"] as const);
    this.postRecvFn = op("ops.post_recv", ["pointer", "pointer", "pointer"] as const);
    this.postSrqRecvFn = op("ops.post_srq_recv", ["pointer", "pointer", "pointer"] as const);
    this.pollCqFn = op("ops.poll_cq", ["pointer", "i32", "pointer"] as const);
    this.reqNotifyCqFn = op("ops.req_notify_cq", ["pointer", "i32"] as const);
    this.scratch = new PinnedMemory(libc, SCRATCH.size);
  }

  /**
   * The names of the RDMA devices libibverbs lists. Throws {@link RdmaUnavailableError}
   * when it lists none (naming errno, e.g. `ENOSYS` on a kernel without RDMA).
   */
  static listDevices(): string[] {
    const { ibv } = loadVerbs();
    const count = new Int32Array(1);
    const list = ibv.ibv_get_device_list(new Uint8Array(count.buffer));
    if (list === null) throw noDevices(lastErrno(loadVerbs().libc));
    try {
      const view = new Deno.UnsafePointerView(list);
      const names: string[] = [];
      for (let i = 0; i < count[0]; i++) {
        const dev = view.getPointer(i * 8);
        if (dev) names.push(Deno.UnsafePointerView.getCString(ibv.ibv_get_device_name(dev)!));
      }
      if (names.length === 0) throw noDevices(0);
      return names;
    } finally {
      ibv.ibv_free_device_list(list);
    }
  }

  /**
   * Opens device `name` (default: the first listed). Throws {@link RdmaUnavailableError}
   * when there is no device or no device of that name (listing those there are).
   */
  static open(name?: string): VerbsContext {
    const { ibv, libc } = loadVerbs();
    const count = new Int32Array(1);
    const list = ibv.ibv_get_device_list(new Uint8Array(count.buffer));
    if (list === null) throw noDevices(lastErrno(libc));
    try {
      const view = new Deno.UnsafePointerView(list);
      const names: string[] = [];
      for (let i = 0; i < count[0]; i++) {
        const dev = view.getPointer(i * 8)!;
        const devName = Deno.UnsafePointerView.getCString(ibv.ibv_get_device_name(dev)!);
        names.push(devName);
        if (name !== undefined && devName !== name) continue;
        const ctx = ibv.ibv_open_device(dev);
        if (ctx === null) {
          throw new VerbsError("ibv_open_device", lastErrno(libc), `device ${devName}`);
        }
        return new VerbsContext(ibv, libc, ctx, devName);
      }
      if (names.length === 0) throw noDevices(0);
      throw new RdmaUnavailableError(
        `no RDMA device named "${name}" (devices: ${names.join(", ")})`,
        "set the rdma transport's `device` option (or LEGOEMU_RDMA_DEVICE) to one of those",
      );
    } finally {
      ibv.ibv_free_device_list(list);
    }
  }

  /** `ibv_query_device`. */
  queryDevice(): DeviceAttributes {
    const buf = new Uint8Array(LAYOUT.ibv_device_attr.size);
    const rc = this.ibv.ibv_query_device(this.pointer, buf);
    if (rc !== 0) throw new VerbsError("ibv_query_device", rc > 0 ? rc : lastErrno(this.libc));
    const v = new DataView(buf.buffer);
    const fw = buf.subarray(F.devAttr.fw_ver, F.devAttr.fw_ver + 64);
    return {
      firmware: new TextDecoder().decode(fw.subarray(0, Math.max(0, fw.indexOf(0)))),
      maxMrSize: v.getBigUint64(F.devAttr.max_mr_size, true),
      maxQp: v.getInt32(F.devAttr.max_qp, true),
      maxQpWr: v.getInt32(F.devAttr.max_qp_wr, true),
      maxSge: v.getInt32(F.devAttr.max_sge, true),
      maxCqe: v.getInt32(F.devAttr.max_cqe, true),
      maxSrqWr: v.getInt32(F.devAttr.max_srq_wr, true),
      atomicCap: v.getInt32(F.devAttr.atomic_cap, true),
      ports: v.getUint8(F.devAttr.phys_port_cnt),
    };
  }

  /** `ibv_query_port`; a port the device lacks is a {@link VerbsError} naming it. */
  queryPort(port: number): PortAttributes {
    if (!Number.isInteger(port) || port < 1 || port > 255) {
      throw new VerbsError("ibv_query_port", 22, `port ${port} is not a port number (1-255)`);
    }
    const buf = new Uint8Array(LAYOUT.ibv_port_attr.size);
    const rc = this.ibv.ibv_query_port(this.pointer, port, buf);
    if (rc !== 0) {
      throw new VerbsError(
        "ibv_query_port",
        rc > 0 ? rc : lastErrno(this.libc) || 22,
        `device ${this.deviceName} has no port ${port}`,
      );
    }
    const v = new DataView(buf.buffer);
    const activeMtu = v.getInt32(F.port.active_mtu, true);
    return {
      state: v.getInt32(F.port.state, true),
      activeMtu,
      activeMtuBytes: MTU_BYTES[activeMtu] ?? 256,
      lid: v.getUint16(F.port.lid, true),
      gidTableLength: v.getInt32(F.port.gid_tbl_len, true),
      linkLayer: v.getUint8(F.port.link_layer),
    };
  }

  /** `ibv_query_gid`: the 16-byte GID at `index` of `port`. */
  queryGid(port: number, index: number): Uint8Array {
    const gid = new Uint8Array(LAYOUT.ibv_gid.size);
    const rc = this.ibv.ibv_query_gid(this.pointer, port, index, gid);
    if (rc !== 0) {
      throw new VerbsError(
        "ibv_query_gid",
        lastErrno(this.libc) || 22,
        `device ${this.deviceName} port ${port} has no GID at index ${index}`,
      );
    }
    return gid;
  }

  /** `ibv_alloc_pd`. */
  allocPd(): ProtectionDomain {
    const pd = this.ibv.ibv_alloc_pd(this.pointer);
    if (pd === null) throw new VerbsError("ibv_alloc_pd", lastErrno(this.libc));
    return new ProtectionDomain(this, pd);
  }

  /** `ibv_create_comp_channel`: a file descriptor that wakes blocking waits. */
  createCompletionChannel(): CompletionChannel {
    const ch = this.ibv.ibv_create_comp_channel(this.pointer);
    if (ch === null) throw new VerbsError("ibv_create_comp_channel", lastErrno(this.libc));
    return new CompletionChannel(this, ch);
  }

  /** `ibv_create_cq` with room for `entries` completions. */
  createCq(entries: number, channel?: CompletionChannel): CompletionQueue {
    const cq = this.ibv.ibv_create_cq(this.pointer, entries, null, channel?.pointer ?? null, 0);
    if (cq === null) {
      throw new VerbsError("ibv_create_cq", lastErrno(this.libc), `${entries} entries`);
    }
    return new CompletionQueue(this, cq, channel);
  }

  /** `ibv_close_device`. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.ibv.ibv_close_device(this.pointer);
    this.scratch.free();
  }
}

function noDevices(errno: number): RdmaUnavailableError {
  const why = errno
    ? `libibverbs lists no RDMA device (ibv_get_device_list: ${errnoName(errno)}${
      errno === 38 ? ", this kernel has no RDMA support" : ""
    })`
    : "libibverbs lists no RDMA device";
  return new RdmaUnavailableError(
    why,
    "load an RDMA driver (an InfiniBand/RoCE NIC's, or soft-RoCE: " +
      "`rdma link add rxe0 type rxe netdev eth0`) and install its provider " +
      "(apt-get install ibverbs-providers), or choose the tcp transport",
  );
}

/** A protection domain: owns memory registrations, QPs, SRQs and address handles. */
export class ProtectionDomain {
  /** The context. */
  readonly context: VerbsContext;
  /** The `ibv_pd *`. */
  readonly pointer: Deno.PointerObject;

  /** Wraps `pointer`; use {@link VerbsContext.allocPd}. */
  constructor(context: VerbsContext, pointer: Deno.PointerObject) {
    this.context = context;
    this.pointer = pointer;
  }

  /**
   * `ibv_reg_mr_iova2`: registers `length` bytes at `memory` with `access`
   * (`IBV_ACCESS_*` flags). Peers address the region from `iova` (default 0, so a
   * remote address is an offset into the region). The memory must not move or be
   * freed while registered: pass {@link PinnedMemory}, or a buffer kept alive.
   */
  register(
    memory: PinnedMemory | Uint8Array,
    access: number,
    iova = 0n,
  ): MemoryRegistration {
    let pointer: Deno.PointerValue;
    let length: number;
    if (memory instanceof PinnedMemory) {
      pointer = memory.pointer;
      length = memory.bytes.length;
    } else {
      // Touching .buffer moves a small on-heap typed array's bytes off the heap for good,
      // so the pointer taken next stays valid.
      void memory.buffer;
      pointer = Deno.UnsafePointer.of(memory as Uint8Array<ArrayBuffer>);
      length = memory.byteLength;
    }
    const mr = this.context.ibv.ibv_reg_mr_iova2(
      this.pointer,
      pointer,
      BigInt(length),
      iova,
      access,
    );
    if (mr === null) {
      throw new VerbsError("ibv_reg_mr", lastErrno(this.context.libc), `${length} bytes`);
    }
    return new MemoryRegistration(this, mr, memory);
  }

  /** `ibv_create_qp`. */
  createQp(options: QueuePairOptions): QueuePair {
    const attr = new Uint8Array(LAYOUT.ibv_qp_init_attr.size);
    const v = new DataView(attr.buffer);
    v.setBigUint64(F.qpInit.send_cq, addressOf(options.sendCq.pointer), true);
    v.setBigUint64(F.qpInit.recv_cq, addressOf(options.recvCq.pointer), true);
    if (options.srq) v.setBigUint64(F.qpInit.srq, addressOf(options.srq.pointer), true);
    v.setUint32(F.qpInit["cap.max_send_wr"], options.maxSendWr ?? 128, true);
    v.setUint32(F.qpInit["cap.max_recv_wr"], options.srq ? 0 : options.maxRecvWr ?? 128, true);
    v.setUint32(F.qpInit["cap.max_send_sge"], 1, true);
    v.setUint32(F.qpInit["cap.max_recv_sge"], 1, true);
    v.setInt32(
      F.qpInit.qp_type,
      options.type === "RC" ? VERBS.IBV_QPT_RC : VERBS.IBV_QPT_UD,
      true,
    );
    v.setInt32(F.qpInit.sq_sig_all, options.signalAll === false ? 0 : 1, true);
    const qp = this.context.ibv.ibv_create_qp(this.pointer, attr);
    if (qp === null) {
      throw new VerbsError("ibv_create_qp", lastErrno(this.context.libc), `${options.type} QP`);
    }
    return new QueuePair(this, qp, options.type);
  }

  /** `ibv_create_srq` holding up to `maxWr` receives of one SGE each. */
  createSrq(maxWr: number): SharedReceiveQueue {
    const attr = new Uint8Array(LAYOUT.ibv_srq_init_attr.size);
    const v = new DataView(attr.buffer);
    v.setUint32(F.srqInit["attr.max_wr"], maxWr, true);
    v.setUint32(F.srqInit["attr.max_sge"], 1, true);
    const srq = this.context.ibv.ibv_create_srq(this.pointer, attr);
    if (srq === null) {
      throw new VerbsError("ibv_create_srq", lastErrno(this.context.libc), `${maxWr} WRs`);
    }
    return new SharedReceiveQueue(this, srq);
  }

  /** `ibv_create_ah`: an address handle for UD sends to `remote` through `port`. */
  createAh(remote: RemoteAddress, port: number): AddressHandle {
    const attr = new Uint8Array(LAYOUT.ibv_ah_attr.size);
    writeAhAttr(new DataView(attr.buffer), 0, remote, port);
    attr.set(remote.gid.subarray(0, 16), F.ah["grh.dgid"]);
    const ah = this.context.ibv.ibv_create_ah(this.pointer, attr);
    if (ah === null) {
      throw new VerbsError("ibv_create_ah", lastErrno(this.context.libc), `lid ${remote.lid}`);
    }
    return new AddressHandle(this, ah);
  }

  /** `ibv_dealloc_pd`. */
  dealloc(): void {
    const rc = this.context.ibv.ibv_dealloc_pd(this.pointer);
    if (rc !== 0) throw new VerbsError("ibv_dealloc_pd", rc);
  }
}

function writeAhAttr(v: DataView, base: number, remote: RemoteAddress, port: number): void {
  v.setUint16(base + F.ah.dlid, remote.lid, true);
  v.setUint8(base + F.ah.port_num, port);
  if (remote.global) {
    v.setUint8(base + F.ah.is_global, 1);
    v.setUint8(base + F.ah["grh.hop_limit"], 64);
    v.setUint8(base + F.ah["grh.sgid_index"], remote.gidIndex ?? 0);
    new Uint8Array(v.buffer, v.byteOffset + base + F.ah["grh.dgid"], 16).set(
      remote.gid.subarray(0, 16),
    );
  }
}

/** A registered memory region (`ibv_mr`). */
export class MemoryRegistration {
  /** The protection domain. */
  readonly pd: ProtectionDomain;
  /** The `ibv_mr *`. */
  readonly pointer: Deno.PointerObject;
  /** Local key, for SGEs. */
  readonly lkey: number;
  /** Remote key, for peers' one-sided access. */
  readonly rkey: number;
  /** Address of byte 0 in this process. */
  readonly address: bigint;
  /** Length in bytes. */
  readonly length: number;
  /** The registered memory, held so it cannot be collected while registered. */
  readonly memory: PinnedMemory | Uint8Array;
  #registered = true;

  /** Wraps `pointer`; use {@link ProtectionDomain.register}. */
  constructor(
    pd: ProtectionDomain,
    pointer: Deno.PointerObject,
    memory: PinnedMemory | Uint8Array,
  ) {
    this.pd = pd;
    this.pointer = pointer;
    this.memory = memory;
    const view = new Deno.UnsafePointerView(pointer);
    this.lkey = view.getUint32(F.mr.lkey);
    this.rkey = view.getUint32(F.mr.rkey);
    this.address = addressOf(view.getPointer(F.mr.addr));
    this.length = Number(view.getBigUint64(F.mr.length));
  }

  /** `ibv_dereg_mr`. Idempotent. */
  deregister(): void {
    if (!this.#registered) return;
    this.#registered = false;
    const rc = this.pd.context.ibv.ibv_dereg_mr(this.pointer);
    if (rc !== 0) throw new VerbsError("ibv_dereg_mr", rc);
  }
}

/** A completion channel: lets a thread block until a CQ has a completion. */
export class CompletionChannel {
  /** The context. */
  readonly context: VerbsContext;
  /** The `ibv_comp_channel *`. */
  readonly pointer: Deno.PointerObject;
  /** The channel's file descriptor. */
  readonly fd: number;
  readonly #cqOut = new Uint8Array(8);
  readonly #ctxOut = new Uint8Array(8);

  /** Wraps `pointer`; use {@link VerbsContext.createCompletionChannel}. */
  constructor(context: VerbsContext, pointer: Deno.PointerObject) {
    this.context = context;
    this.pointer = pointer;
    this.fd = new Deno.UnsafePointerView(pointer).getInt32(F.chan.fd);
  }

  /**
   * `ibv_get_cq_event` on a worker thread: resolves when an armed CQ of this channel
   * gets a completion, with that CQ's address (for {@link CompletionQueue.ack}), or
   * null when the channel failed.
   */
  async wait(): Promise<bigint | null> {
    const rc = await this.context.ibv.ibv_get_cq_event(this.pointer, this.#cqOut, this.#ctxOut);
    return rc === 0 ? new DataView(this.#cqOut.buffer).getBigUint64(0, true) : null;
  }

  /** `ibv_destroy_comp_channel`. */
  destroy(): void {
    this.context.ibv.ibv_destroy_comp_channel(this.pointer);
  }
}

/** A completion queue. */
export class CompletionQueue {
  /** The context. */
  readonly context: VerbsContext;
  /** The `ibv_cq *`. */
  readonly pointer: Deno.PointerObject;
  /** The channel that wakes waits on it, if any. */
  readonly channel?: CompletionChannel;
  readonly #wcBase: Deno.PointerObject;
  readonly #view: DataView;

  /** Wraps `pointer`; use {@link VerbsContext.createCq}. */
  constructor(context: VerbsContext, pointer: Deno.PointerObject, channel?: CompletionChannel) {
    this.context = context;
    this.pointer = pointer;
    this.channel = channel;
    this.#wcBase = Deno.UnsafePointer.offset(context.scratch.pointer, SCRATCH.wc)!;
    this.#view = context.scratch.view;
  }

  /**
   * `ibv_poll_cq` (through `ops.poll_cq`): reads up to {@link POLL_BATCH} completions
   * and calls `each` for every one. Returns how many there were.
   */
  poll(each: (wc: WorkCompletion) => void): number {
    const n = this.context.pollCqFn.call(this.pointer, POLL_BATCH, this.#wcBase);
    if (n < 0) throw new VerbsError("ibv_poll_cq", -n || 5);
    const v = this.#view;
    // Copy out first: `each` may post, and a nested poll reuses the scratch.
    const wcs: WorkCompletion[] = [];
    for (let i = 0; i < n; i++) {
      const b = SCRATCH.wc + i * LAYOUT.ibv_wc.size;
      wcs.push({
        wrId: v.getUint32(b + F.wc.wr_id, true) + v.getUint32(b + F.wc.wr_id + 4, true) * 2 ** 32,
        status: v.getInt32(b + F.wc.status, true),
        opcode: v.getInt32(b + F.wc.opcode, true),
        byteLength: v.getUint32(b + F.wc.byte_len, true),
        imm: v.getUint32(b + F.wc.imm_data, true),
        qpNum: v.getUint32(b + F.wc.qp_num, true),
        srcQp: v.getUint32(b + F.wc.src_qp, true),
        flags: v.getUint32(b + F.wc.wc_flags, true),
      });
    }
    for (const wc of wcs) each(wc);
    return n;
  }

  /** `ibv_req_notify_cq` (through `ops.req_notify_cq`): arm for the next completion. */
  requestNotify(): void {
    const rc = this.context.reqNotifyCqFn.call(this.pointer, 0);
    if (rc !== 0) throw new VerbsError("ibv_req_notify_cq", rc);
  }

  /** `ibv_ack_cq_events`. */
  ack(events: number): void {
    this.context.ibv.ibv_ack_cq_events(this.pointer, events);
  }

  /** `ibv_destroy_cq`. */
  destroy(): void {
    const rc = this.context.ibv.ibv_destroy_cq(this.pointer);
    if (rc !== 0) throw new VerbsError("ibv_destroy_cq", rc);
  }
}

/** A scatter/gather entry: `length` bytes at `address` inside registration `lkey`. */
export interface Sge {
  /** Start address. */
  address: bigint;
  /** Bytes. */
  length: number;
  /** The registration's local key. */
  lkey: number;
}

/** One send-queue work request. */
export interface SendRequest {
  /** Returned in the completion. */
  wrId: number;
  /** `IBV_WR_*`. */
  opcode: number;
  /** The local buffer (absent for a zero-length operation). */
  sge?: Sge;
  /** Immediate data (`*_WITH_IMM`). */
  imm?: number;
  /** Remote address for RDMA and atomics (an offset when the region's iova is 0). */
  remoteAddress?: bigint;
  /** Remote key for RDMA and atomics. */
  rkey?: number;
  /** Atomic operand: the addend, or the value to compare. */
  compareAdd?: bigint;
  /** Atomic compare-and-swap's new value. */
  swap?: bigint;
  /** UD: the address handle. */
  ah?: AddressHandle;
  /** UD: the remote QP number. */
  remoteQpn?: number;
  /** UD: the remote Q_Key. */
  remoteQkey?: number;
  /** Ask for a completion even without `signalAll`. */
  signaled?: boolean;
}

/** Attributes for a queue pair's move to RTR. */
export interface ReadyToReceive {
  /** RC: the remote QP number. */
  remoteQpn?: number;
  /** RC: the remote port. */
  remote?: RemoteAddress;
  /** RC: path MTU enum (`IBV_MTU_*`). */
  pathMtu?: number;
  /** RC: first expected PSN. */
  rqPsn?: number;
}

/** A queue pair (RC or UD). */
export class QueuePair {
  /** The protection domain. */
  readonly pd: ProtectionDomain;
  /** The `ibv_qp *`. */
  readonly pointer: Deno.PointerObject;
  /** RC or UD. */
  readonly type: "RC" | "UD";
  /** The QP number peers address. */
  readonly qpn: number;
  #destroyed = false;

  /** Wraps `pointer`; use {@link ProtectionDomain.createQp}. */
  constructor(pd: ProtectionDomain, pointer: Deno.PointerObject, type: "RC" | "UD") {
    this.pd = pd;
    this.pointer = pointer;
    this.type = type;
    this.qpn = new Deno.UnsafePointerView(pointer).getUint32(F.qp.qp_num);
  }

  /** The QP's state (`IBV_QPS_*`), as libibverbs last recorded it. */
  get state(): number {
    return new Deno.UnsafePointerView(this.pointer).getInt32(F.qp.state);
  }

  #modify(fill: (v: DataView) => void, mask: number, what: string): void {
    const attr = new Uint8Array(LAYOUT.ibv_qp_attr.size);
    fill(new DataView(attr.buffer));
    const rc = this.pd.context.ibv.ibv_modify_qp(this.pointer, attr, mask);
    if (rc !== 0) {
      throw new VerbsError(
        "ibv_modify_qp",
        rc > 0 ? rc : 22,
        `${this.type} QP ${this.qpn} ${what}`,
      );
    }
  }

  /** RESET → INIT on `port`; RC gets remote read/write/atomic rights, UD `qkey`. */
  toInit(port: number, qkey = 0x11111111): void {
    this.#modify(
      (v) => {
        v.setInt32(F.qpAttr.qp_state, VERBS.IBV_QPS_INIT, true);
        v.setUint8(F.qpAttr.port_num, port);
        v.setUint16(F.qpAttr.pkey_index, 0, true);
        if (this.type === "UD") v.setUint32(F.qpAttr.qkey, qkey, true);
        else {
          v.setInt32(
            F.qpAttr.qp_access_flags,
            VERBS.IBV_ACCESS_REMOTE_WRITE | VERBS.IBV_ACCESS_REMOTE_READ |
              VERBS.IBV_ACCESS_REMOTE_ATOMIC,
            true,
          );
        }
      },
      VERBS.IBV_QP_STATE | VERBS.IBV_QP_PKEY_INDEX | VERBS.IBV_QP_PORT |
        (this.type === "UD" ? VERBS.IBV_QP_QKEY : VERBS.IBV_QP_ACCESS_FLAGS),
      `to INIT on port ${port}`,
    );
  }

  /** INIT → RTR (RC: connect to `remoteQpn` at `remote`). */
  toRtr(options: ReadyToReceive, port: number): void {
    if (this.type === "UD") {
      this.#modify(
        (v) => v.setInt32(F.qpAttr.qp_state, VERBS.IBV_QPS_RTR, true),
        VERBS.IBV_QP_STATE,
        "to RTR",
      );
      return;
    }
    const remote = options.remote!;
    this.#modify(
      (v) => {
        v.setInt32(F.qpAttr.qp_state, VERBS.IBV_QPS_RTR, true);
        v.setInt32(F.qpAttr.path_mtu, options.pathMtu ?? VERBS.IBV_MTU_1024, true);
        v.setUint32(F.qpAttr.dest_qp_num, options.remoteQpn ?? 0, true);
        v.setUint32(F.qpAttr.rq_psn, options.rqPsn ?? 0, true);
        v.setUint8(F.qpAttr.max_dest_rd_atomic, 16);
        v.setUint8(F.qpAttr.min_rnr_timer, 12);
        writeAhAttr(v, F.qpAttr.ah_attr, remote, port);
      },
      VERBS.IBV_QP_STATE | VERBS.IBV_QP_AV | VERBS.IBV_QP_PATH_MTU | VERBS.IBV_QP_DEST_QPN |
        VERBS.IBV_QP_RQ_PSN | VERBS.IBV_QP_MAX_DEST_RD_ATOMIC | VERBS.IBV_QP_MIN_RNR_TIMER,
      `to RTR (remote QP ${options.remoteQpn})`,
    );
  }

  /** RTR → RTS, sending from PSN `sqPsn`. */
  toRts(sqPsn = 0): void {
    this.#modify(
      (v) => {
        v.setInt32(F.qpAttr.qp_state, VERBS.IBV_QPS_RTS, true);
        v.setUint32(F.qpAttr.sq_psn, sqPsn, true);
        if (this.type === "RC") {
          v.setUint8(F.qpAttr.timeout, 14);
          v.setUint8(F.qpAttr.retry_cnt, 7);
          v.setUint8(F.qpAttr.rnr_retry, 7);
          v.setUint8(F.qpAttr.max_rd_atomic, 16);
        }
      },
      VERBS.IBV_QP_STATE | VERBS.IBV_QP_SQ_PSN |
        (this.type === "RC"
          ? VERBS.IBV_QP_TIMEOUT | VERBS.IBV_QP_RETRY_CNT | VERBS.IBV_QP_RNR_RETRY |
            VERBS.IBV_QP_MAX_QP_RD_ATOMIC
          : 0),
      "to RTS",
    );
  }

  /** Any state → ERR (flushes outstanding work requests). */
  toError(): void {
    this.#modify(
      (v) => v.setInt32(F.qpAttr.qp_state, VERBS.IBV_QPS_ERR, true),
      VERBS.IBV_QP_STATE,
      "to ERR",
    );
  }

  /** `ibv_post_send` (through `ops.post_send`) of one work request. */
  postSend(wr: SendRequest): void {
    const ctx = this.pd.context;
    const v = ctx.scratch.view;
    const b = SCRATCH.sendWr;
    new Uint8Array(v.buffer, v.byteOffset + b, LAYOUT.ibv_send_wr.size).fill(0);
    v.setUint32(b + F.send.wr_id, wr.wrId >>> 0, true);
    v.setUint32(b + F.send.wr_id + 4, Math.floor(wr.wrId / 2 ** 32), true);
    if (wr.sge) {
      const s = SCRATCH.sendSge;
      v.setBigUint64(s + F.sge.addr, wr.sge.address, true);
      v.setUint32(s + F.sge.length, wr.sge.length, true);
      v.setUint32(s + F.sge.lkey, wr.sge.lkey, true);
      v.setBigUint64(b + F.send.sg_list, ctx.scratch.address + BigInt(s), true);
      v.setInt32(b + F.send.num_sge, 1, true);
    }
    v.setInt32(b + F.send.opcode, wr.opcode, true);
    v.setUint32(b + F.send.send_flags, wr.signaled ? VERBS.IBV_SEND_SIGNALED : 0, true);
    v.setUint32(b + F.send.imm_data, wr.imm ?? 0, true);
    if (this.type === "UD") {
      v.setBigUint64(b + F.send["wr.ud.ah"], addressOf(wr.ah!.pointer), true);
      v.setUint32(b + F.send["wr.ud.remote_qpn"], wr.remoteQpn ?? 0, true);
      v.setUint32(b + F.send["wr.ud.remote_qkey"], wr.remoteQkey ?? 0, true);
    } else if (
      wr.opcode === VERBS.IBV_WR_ATOMIC_FETCH_AND_ADD ||
      wr.opcode === VERBS.IBV_WR_ATOMIC_CMP_AND_SWP
    ) {
      v.setBigUint64(b + F.send["wr.atomic.remote_addr"], wr.remoteAddress ?? 0n, true);
      v.setBigUint64(b + F.send["wr.atomic.compare_add"], wr.compareAdd ?? 0n, true);
      v.setBigUint64(b + F.send["wr.atomic.swap"], wr.swap ?? 0n, true);
      v.setUint32(b + F.send["wr.atomic.rkey"], wr.rkey ?? 0, true);
    } else {
      v.setBigUint64(b + F.send["wr.rdma.remote_addr"], wr.remoteAddress ?? 0n, true);
      v.setUint32(b + F.send["wr.rdma.rkey"], wr.rkey ?? 0, true);
    }
    const rc = ctx.postSendFn.call(
      this.pointer,
      Deno.UnsafePointer.offset(ctx.scratch.pointer, b),
      Deno.UnsafePointer.offset(ctx.scratch.pointer, SCRATCH.badWr),
    );
    if (rc !== 0) {
      throw new VerbsError(
        "ibv_post_send",
        rc,
        `${wrOpcodeName(wr.opcode)} on ${this.type} QP ${this.qpn}`,
      );
    }
  }

  /** `ibv_post_recv` (through `ops.post_recv`) of receives into `sges`, ids `wrIds`. */
  postRecv(wrIds: readonly number[], sges: readonly (Sge | undefined)[]): void {
    postReceives(
      this.pd.context,
      this.pointer,
      this.pd.context.postRecvFn,
      "ibv_post_recv",
      wrIds,
      sges,
    );
  }

  /** `ibv_destroy_qp`. Idempotent. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    const rc = this.pd.context.ibv.ibv_destroy_qp(this.pointer);
    if (rc !== 0) throw new VerbsError("ibv_destroy_qp", rc);
  }
}

function postReceives(
  ctx: VerbsContext,
  target: Deno.PointerObject,
  fn: Fn<["pointer", "pointer", "pointer"]>,
  verb: string,
  wrIds: readonly number[],
  sges: readonly (Sge | undefined)[],
): void {
  const v = ctx.scratch.view;
  for (let start = 0; start < wrIds.length; start += RECV_BATCH) {
    const n = Math.min(RECV_BATCH, wrIds.length - start);
    for (let i = 0; i < n; i++) {
      const b = SCRATCH.recvWr + i * LAYOUT.ibv_recv_wr.size;
      const s = SCRATCH.recvSge + i * LAYOUT.ibv_sge.size;
      const id = wrIds[start + i];
      const sge = sges[start + i];
      v.setUint32(b + F.recv.wr_id, id >>> 0, true);
      v.setUint32(b + F.recv.wr_id + 4, Math.floor(id / 2 ** 32), true);
      v.setBigUint64(
        b + F.recv.next,
        i + 1 < n ? ctx.scratch.address + BigInt(b + LAYOUT.ibv_recv_wr.size) : 0n,
        true,
      );
      if (sge) {
        v.setBigUint64(s + F.sge.addr, sge.address, true);
        v.setUint32(s + F.sge.length, sge.length, true);
        v.setUint32(s + F.sge.lkey, sge.lkey, true);
        v.setBigUint64(b + F.recv.sg_list, ctx.scratch.address + BigInt(s), true);
        v.setInt32(b + F.recv.num_sge, 1, true);
      } else {
        v.setBigUint64(b + F.recv.sg_list, 0n, true);
        v.setInt32(b + F.recv.num_sge, 0, true);
      }
    }
    const rc = fn.call(
      target,
      Deno.UnsafePointer.offset(ctx.scratch.pointer, SCRATCH.recvWr),
      Deno.UnsafePointer.offset(ctx.scratch.pointer, SCRATCH.badWr),
    );
    if (rc !== 0) throw new VerbsError(verb, rc, `${n} receives`);
  }
}

/** A shared receive queue: one pool of receive buffers for many QPs. */
export class SharedReceiveQueue {
  /** The protection domain. */
  readonly pd: ProtectionDomain;
  /** The `ibv_srq *`. */
  readonly pointer: Deno.PointerObject;

  /** Wraps `pointer`; use {@link ProtectionDomain.createSrq}. */
  constructor(pd: ProtectionDomain, pointer: Deno.PointerObject) {
    this.pd = pd;
    this.pointer = pointer;
  }

  /** `ibv_post_srq_recv` (through `ops.post_srq_recv`); an absent SGE posts a zero-length receive. */
  postRecv(wrIds: readonly number[], sges: readonly (Sge | undefined)[]): void {
    postReceives(
      this.pd.context,
      this.pointer,
      this.pd.context.postSrqRecvFn,
      "ibv_post_srq_recv",
      wrIds,
      sges,
    );
  }

  /** `ibv_destroy_srq`. */
  destroy(): void {
    const rc = this.pd.context.ibv.ibv_destroy_srq(this.pointer);
    if (rc !== 0) throw new VerbsError("ibv_destroy_srq", rc);
  }
}

/** An address handle: where UD sends go. */
export class AddressHandle {
  /** The protection domain. */
  readonly pd: ProtectionDomain;
  /** The `ibv_ah *`. */
  readonly pointer: Deno.PointerObject;

  /** Wraps `pointer`; use {@link ProtectionDomain.createAh}. */
  constructor(pd: ProtectionDomain, pointer: Deno.PointerObject) {
    this.pd = pd;
    this.pointer = pointer;
  }

  /** `ibv_destroy_ah`. */
  destroy(): void {
    this.pd.context.ibv.ibv_destroy_ah(this.pointer);
  }
}
