/**
 * The wire protocol in one place: every message kind, its opcode, its group and the
 * shapes of its request and reply bodies.
 *
 * Kinds are grouped as LegoOS groups them: `P2M` (processor → memory), `P2S`
 * (processor → storage), `M2S` (memory → storage), `M2M` (memory → memory) and `MGR`
 * (traffic with the global managers), plus `SYS` for transport-level housekeeping.
 * Each kind has a request body and a reply body; an error reply always has the
 * {@link ERROR_BODY} shape. `codec.ts` turns these into bytes.
 *
 * Adding a kind: give it a fresh opcode inside its group's range and describe both
 * bodies with {@link FieldType}s; the codec, the RPC types and the property tests pick
 * it up from this table.
 *
 * @module
 */

/**
 * The field types a body may use, with their wire forms (little-endian):
 * - `u8`, `u16`, `u32`: unsigned integers of that width.
 * - `i32`: signed 32-bit integer.
 * - `u64`: unsigned 64-bit on the wire, a JS number in memory (must be a safe integer,
 *   which covers 48-bit virtual addresses and any realistic size).
 * - `f64`: IEEE double.
 * - `bool`: one byte, 0 or 1.
 * - `str`: u16 byte length + UTF-8 (at most {@link MAX_STRING_BYTES}).
 * - `bytes`: u32 byte length + raw bytes.
 * - `page`: exactly {@link PAGE_SIZE} raw bytes, no length prefix.
 * - `json`: u32 byte length + UTF-8 JSON text (for small, loosely shaped records such as
 *   load reports; never for page data).
 */
export type FieldType =
  | "u8"
  | "u16"
  | "u32"
  | "i32"
  | "u64"
  | "f64"
  | "bool"
  | "str"
  | "bytes"
  | "page"
  | "json";

/** The JS type a field of type `T` decodes to. */
export type FieldValue<T extends FieldType> = T extends "bool" ? boolean
  : T extends "str" ? string
  : T extends "bytes" | "page" ? Uint8Array
  : T extends "json" ? unknown
  : number;

/** A body layout: field names in wire order, each with its type. */
export type BodySpec = Readonly<Record<string, FieldType>>;

/** The decoded object for a body layout. */
export type BodyOf<S extends BodySpec> = { -readonly [K in keyof S]: FieldValue<S[K]> };

/** Size of a page (an ExCache line) in bytes. */
export const PAGE_SIZE = 4096;

/** Longest `str` field in UTF-8 bytes (Linux's PATH_MAX). */
export const MAX_STRING_BYTES = 4096;

/** The message groups. */
export type MessageGroup = "SYS" | "P2M" | "P2S" | "M2S" | "M2M" | "MGR";

/** Opcode ranges of the groups: the high byte of the opcode names the group. */
export const GROUP_OF_HIGH_BYTE: Readonly<Record<number, MessageGroup>> = {
  0x00: "SYS",
  0x01: "P2M",
  0x02: "P2S",
  0x03: "M2S",
  0x04: "M2M",
  0x05: "MGR",
};

/** The description of one message kind. */
export interface KindSpec {
  /** 16-bit opcode; its high byte is the group (see {@link GROUP_OF_HIGH_BYTE}). */
  readonly code: number;
  /** Request body layout. */
  readonly request: BodySpec;
  /** Reply body layout. */
  readonly reply: BodySpec;
}

/** The body of every error reply: a machine-readable code and a message. */
export const ERROR_BODY = { code: "str", message: "str" } as const satisfies BodySpec;

const empty = {} as const;

/**
 * Every message kind. Field order in each body is its wire order.
 *
 * Addresses and lengths are bytes; `pid` is the cluster-wide process id; `prot` uses the
 * Linux `PROT_*` bits and `flags` the Linux `MAP_*`/`O_*` bits where a Linux call exists.
 */
export const MESSAGE_KINDS = {
  // SYS: housekeeping.
  SYS_PING: { code: 0x0001, request: { data: "bytes" }, reply: { data: "bytes" } },

  // P2M: the processor asks the memory component (page service and address space).
  P2M_PAGE_FETCH: { code: 0x0101, request: { pid: "u32", vaddr: "u64" }, reply: { page: "page" } },
  P2M_PAGE_FLUSH: {
    code: 0x0102,
    request: { pid: "u32", vaddr: "u64", page: "page" },
    reply: empty,
  },
  P2M_PAGE_FLUSH_FETCH: {
    code: 0x0103,
    request: { pid: "u32", flushVaddr: "u64", page: "page", fetchVaddr: "u64" },
    reply: { page: "page" },
  },
  P2M_MMAP: {
    code: 0x0104,
    request: {
      pid: "u32",
      addr: "u64",
      length: "u64",
      prot: "u32",
      flags: "u32",
      path: "str",
      offset: "u64",
    },
    reply: { addr: "u64" },
  },
  P2M_MUNMAP: { code: 0x0105, request: { pid: "u32", addr: "u64", length: "u64" }, reply: empty },
  P2M_MREMAP: {
    code: 0x0106,
    request: {
      pid: "u32",
      oldAddr: "u64",
      oldLength: "u64",
      newLength: "u64",
      flags: "u32",
      newAddr: "u64",
    },
    reply: { addr: "u64" },
  },
  P2M_MPROTECT: {
    code: 0x0107,
    request: { pid: "u32", addr: "u64", length: "u64", prot: "u32" },
    reply: empty,
  },
  P2M_BRK: { code: 0x0108, request: { pid: "u32", addr: "u64" }, reply: { addr: "u64" } },
  P2M_FORK: { code: 0x0109, request: { pid: "u32", parentPid: "u32" }, reply: empty },
  P2M_EXIT: { code: 0x010a, request: { pid: "u32" }, reply: { pagesFreed: "u32" } },
  P2M_READ: {
    code: 0x010b,
    request: { pid: "u32", path: "str", offset: "u64", length: "u32" },
    reply: { data: "bytes" },
  },
  P2M_WRITE: {
    code: 0x010c,
    request: { pid: "u32", path: "str", offset: "u64", data: "bytes" },
    reply: { written: "u32" },
  },
  P2M_FSYNC: { code: 0x010d, request: { pid: "u32", path: "str" }, reply: empty },
  // The process closed `path`: its dirty buffer-cache pages are written back.
  P2M_CLOSE: { code: 0x010e, request: { pid: "u32", path: "str" }, reply: empty },

  // PMEM mode: a persistent write of `data` (inside one page) at `vaddr` of `pid`, answered
  // once durable. `path` is the access path the client took (1: RPC, 4: connectionless RPC).
  P2M_PMEM_WRITE: {
    code: 0x0120,
    request: { pid: "u32", vaddr: "u64", path: "u8", data: "bytes" },
    reply: empty,
  },
  // PMEM mode: commit of a one-sided WRITE: `length` bytes at `offset` of the component's
  // PMEM window become the bytes at `vaddr` of `pid`; answered once durable. `crc` is the
  // CRC-32 of the bytes the client wrote: `EAGAIN` (nothing written) when the window no
  // longer holds them (another writer took the slot in between).
  P2M_PMEM_COMMIT: {
    code: 0x0121,
    request: { pid: "u32", vaddr: "u64", offset: "u32", length: "u32", crc: "u32" },
    reply: empty,
  },

  // Replication: the copy of a dirty flush a processor sends to the secondary of `primary`,
  // in parallel with the flush itself (acknowledged to the thread once both have it).
  P2M_PAGE_REPLICATE: {
    code: 0x0110,
    request: { primary: "str", pid: "u32", vaddr: "u64", page: "page" },
    reply: empty,
  },

  // P2S: the processor asks a storage component (stateless: full path every time).
  P2S_OPEN: {
    code: 0x0201,
    request: { path: "str", flags: "u32", mode: "u32" },
    reply: { size: "u64" },
  },
  P2S_STAT: {
    code: 0x0202,
    request: { path: "str" },
    reply: { size: "u64", mode: "u32", isDirectory: "bool", mtimeMs: "f64" },
  },
  P2S_READ: {
    code: 0x0203,
    request: { path: "str", offset: "u64", length: "u32" },
    reply: { data: "bytes" },
  },
  P2S_WRITE: {
    code: 0x0204,
    request: { path: "str", offset: "u64", data: "bytes", sync: "bool" },
    reply: { written: "u32" },
  },
  P2S_TRUNCATE: { code: 0x0205, request: { path: "str", length: "u64" }, reply: empty },
  P2S_UNLINK: { code: 0x0206, request: { path: "str" }, reply: empty },
  P2S_MKDIR: { code: 0x0207, request: { path: "str", mode: "u32" }, reply: empty },
  P2S_RMDIR: { code: 0x0208, request: { path: "str" }, reply: empty },
  P2S_RENAME: { code: 0x0209, request: { from: "str", to: "str" }, reply: empty },
  P2S_READDIR: { code: 0x020a, request: { path: "str" }, reply: { names: "json" } },
  P2S_FSYNC: { code: 0x020b, request: { path: "str" }, reply: empty },

  // M2S: a memory component uses storage (buffer-cache write-back, swap, backups).
  M2S_READ: {
    code: 0x0301,
    request: { path: "str", offset: "u64", length: "u32" },
    reply: { data: "bytes" },
  },
  M2S_WRITE: {
    code: 0x0302,
    request: { path: "str", offset: "u64", data: "bytes", sync: "bool" },
    reply: { written: "u32" },
  },

  // M2M: memory components among themselves (vRegion ownership, replication).
  M2M_VREGION_ALLOC: {
    code: 0x0401,
    request: { pid: "u32", vregion: "u32", home: "str" },
    reply: empty,
  },
  M2M_VREGION_FREE: { code: 0x0402, request: { pid: "u32", vregion: "u32" }, reply: empty },
  M2M_REPLICATE: {
    code: 0x0403,
    request: { pid: "u32", vaddr: "u64", page: "page" },
    reply: empty,
  },
  // The home tells a vRegion owner the VMAs of `pid` in [start, end) (a JSON array of
  // { start, end, prot, shared, path, offset }); `discard` drops every page there first.
  M2M_VMA_SET: {
    code: 0x0404,
    request: { pid: "u32", home: "str", start: "u64", end: "u64", discard: "bool", vmas: "json" },
    reply: { pagesFreed: "u32" },
  },
  // Copies out pages an owner holds in [start, end) (at most `maxPages`; `addrs` is a JSON
  // array, `data` their 4 KiB pages in order); `next` is where to continue.
  M2M_PAGES_READ: {
    code: 0x0405,
    request: { pid: "u32", start: "u64", end: "u64", maxPages: "u32" },
    reply: { addrs: "json", data: "bytes", next: "u64" },
  },
  // Installs pages (mremap across owners, fork): `addrs` JSON array, `data` pages in order.
  M2M_PAGES_WRITE: {
    code: 0x0406,
    request: { pid: "u32", addrs: "json", data: "bytes" },
    reply: empty,
  },
  // Copies (or moves) pages inside one owner: [from, from + length) of pid to `to` of toPid.
  M2M_PAGES_COPY: {
    code: 0x0407,
    request: { pid: "u32", from: "u64", toPid: "u32", to: "u64", length: "u64", move: "bool" },
    reply: { pages: "u32" },
  },
  // The process exited: the owner frees its pages and VMAs.
  M2M_PROCESS_EXIT: { code: 0x0408, request: { pid: "u32" }, reply: { pagesFreed: "u32" } },

  // Replication: a primary tells its secondary what changed its state besides page flushes
  // (VMAs set, pages copied or written, a process's address space, an exit): `op` a JSON
  // record (see monitors/memory/replica_store.ts), `data` the pages it carries.
  M2M_REPLICA_APPLY: { code: 0x0409, request: { op: "json", data: "bytes" }, reply: empty },

  // MGR: components and the global managers (GPM, GMM, GSM).
  MGR_JOIN: {
    code: 0x0501,
    request: { role: "str", capacity: "json", addresses: "json" },
    reply: { heartbeatMs: "u32", vregionBytes: "u64" },
  },
  MGR_HEARTBEAT: { code: 0x0502, request: { load: "json" }, reply: empty },
  MGR_PLACE_PROCESS: {
    code: 0x0503,
    request: { threads: "u32" },
    reply: { pid: "u32", processor: "str", home: "str" },
  },
  // The owner of a vRegion, placed by the vRegion policy on the first request. `touch`: a
  // page of it is reaching memory now. With the manager's `vregionPlacementAt` set to
  // "first-touch", a request without `touch` (the home's, at mmap) gets `owner` "" (not
  // placed yet), and a processor's touch is passed to the process's home
  // (`MGR_VREGION_TOUCH`), which places it and tells the owner its VMAs.
  MGR_PLACE_VREGION: {
    code: 0x0504,
    request: { pid: "u32", vregion: "u32", touch: "bool" },
    reply: { owner: "str" },
  },
  // The manager asks a process's home to place a vRegion that is being touched (first-touch
  // placement): the home asks for its owner (`MGR_PLACE_VREGION` with `touch`), sets its
  // VMAs there and answers the owner; `EFAULT` when no VMA of the process is in it.
  MGR_VREGION_TOUCH: {
    code: 0x050b,
    request: { pid: "u32", vregion: "u32" },
    reply: { owner: "str" },
  },
  MGR_PLACE_FILE: { code: 0x0505, request: { path: "str" }, reply: { storage: "str" } },
  MGR_PROCESS_EXIT: {
    code: 0x0506,
    request: { pid: "u32", exitCode: "i32", error: "str" },
    reply: empty,
  },
  // Address book: where a component can be reached (learnt by the manager at join).
  MGR_LOOKUP: {
    code: 0x0507,
    request: { id: "str" },
    reply: { role: "str", state: "str", addresses: "json" },
  },
  // The whole cluster state the managers keep (a ClusterSnapshot as JSON).
  MGR_SNAPSHOT: { code: 0x0508, request: empty, reply: { state: "json" } },
  // A client asks the manager to place and run a workload; the reply comes at exit.
  MGR_SPAWN: {
    code: 0x0509,
    request: { workload: "str", args: "json", threads: "u32" },
    reply: {
      pid: "u32",
      processor: "str",
      home: "str",
      exitCode: "i32",
      error: "str",
      wallNs: "f64",
      modelNs: "f64",
      stats: "json",
    },
  },
  // The manager tells a processor to run a placed process; the reply comes at exit.
  MGR_EXEC: {
    code: 0x050a,
    request: { pid: "u32", home: "str", workload: "str", args: "json" },
    reply: { exitCode: "i32", error: "str", wallNs: "f64", modelNs: "f64", stats: "json" },
  },
  // Control traffic sent to any component (the control plane asks, steers, injects faults).
  MGR_QUERY: { code: 0x0520, request: { what: "str", args: "json" }, reply: { result: "json" } },
  MGR_KILL: { code: 0x0521, request: { pid: "u32" }, reply: empty },
  MGR_STOP: { code: 0x0522, request: empty, reply: empty },
  MGR_SET_POLICY: { code: 0x0523, request: { kind: "str", name: "str" }, reply: empty },
  // A storage component tells the manager (one-way) that its namespace changed, so the
  // file map stays true: change is "create", "remove", "rmdir" or "rename" (then `to`).
  MGR_FILE_CHANGED: {
    code: 0x0510,
    request: { change: "str", path: "str", to: "str" },
    reply: empty,
  },
  // Failover: the manager tells a secondary to take over `primary`'s memory and processes.
  MGR_PROMOTE: {
    code: 0x0512,
    request: { primary: "str" },
    reply: { pages: "u32", processes: "u32", vmas: "u32" },
  },
  // Where memory component `id`'s work is: its state, its live secondary ("" when none),
  // its successor after a failover ("" when none), and the home of process `pid` (0: none).
  MGR_REPLICA_INFO: {
    code: 0x0513,
    request: { id: "str", pid: "u32" },
    reply: { state: "str", secondary: "str", successor: "str", home: "str" },
  },
  // The manager announces that memory component `id` is gone and its work is now at
  // `successor` ("": nowhere, it had no replica), so callers waiting on it retry there.
  MGR_FAILOVER: { code: 0x0514, request: { id: "str", successor: "str" }, reply: empty },
  // Drain a component (no new placements) or undrain it.
  MGR_DRAIN: { code: 0x0511, request: { id: "str", drained: "bool" }, reply: empty },
  // Deterministic mode across OS processes (kernel/remote_scheduler.ts): a processor drives
  // the cluster's one model-time scheduler, hosted by the manager. `session` names the
  // processor's scheduler instance (a restarted processor has a new one); `seq` numbers its
  // operations from 0, and the manager applies them in that order whatever order they
  // arrive in. One-way operations: `op` is "enter", "done", "park" (until `other` leaves)
  // or "leave", on thread `name` ("p0/pid/tid"); `other` is "" but for "park".
  MGR_SCHED_OP: {
    code: 0x0530,
    request: { session: "u32", seq: "u64", op: "str", name: "str", other: "str" },
    reply: empty,
  },
  // Thread `name` reached an event at model time `atNs`: answered when it is its turn.
  MGR_SCHED_ARRIVE: {
    code: 0x0531,
    request: { session: "u32", seq: "u64", name: "str", atNs: "f64" },
    reply: empty,
  },
  // Is the manager there, hosting a scheduler that still serves `session`? (asked while
  // threads wait for their turn, so they do not wait forever for a dead manager) `next`:
  // the number of the session's next operation it waits for (a lost one stops it there).
  MGR_SCHED_PING: { code: 0x0532, request: { session: "u32" }, reply: { next: "u64" } },
} as const satisfies Record<string, KindSpec>;

/** The name of a message kind, e.g. `"P2M_PAGE_FETCH"`. */
export type MessageKind = keyof typeof MESSAGE_KINDS;

/** The request body of kind `K`. */
export type RequestOf<K extends MessageKind> = BodyOf<(typeof MESSAGE_KINDS)[K]["request"]>;

/** The reply body of kind `K`. */
export type ReplyOf<K extends MessageKind> = BodyOf<(typeof MESSAGE_KINDS)[K]["reply"]>;

/** The body of an error reply. */
export type ErrorBody = BodyOf<typeof ERROR_BODY>;

/** Every kind name, in table order. */
export const MESSAGE_KIND_NAMES: readonly MessageKind[] = Object.keys(
  MESSAGE_KINDS,
) as MessageKind[];

/** Kind name for each opcode. */
export const KIND_BY_CODE: ReadonlyMap<number, MessageKind> = new Map(
  MESSAGE_KIND_NAMES.map((name) => [MESSAGE_KINDS[name].code, name]),
);

/**
 * The group a kind belongs to.
 *
 * @example
 * ```ts
 * import { groupOf } from "./messages.ts";
 * console.assert(groupOf("P2M_PAGE_FETCH") === "P2M");
 * ```
 */
export function groupOf(kind: MessageKind): MessageGroup {
  return GROUP_OF_HIGH_BYTE[MESSAGE_KINDS[kind].code >> 8];
}

/** Header flag: this message is a reply. */
export const FLAG_REPLY = 0x01;
/** Header flag: this reply carries an error body (only with {@link FLAG_REPLY}). */
export const FLAG_ERROR = 0x02;
/** Header flag: a request that expects no reply. */
export const FLAG_ONE_WAY = 0x04;
/**
 * Header flag: a request in model time (it carries a thread's or a served request's model
 * time); without it the request is outside model time and its service charges nobody.
 */
export const FLAG_MODELED = 0x08;
/** Every flag bit that is defined. */
export const KNOWN_FLAGS: number = FLAG_REPLY | FLAG_ERROR | FLAG_ONE_WAY | FLAG_MODELED;
