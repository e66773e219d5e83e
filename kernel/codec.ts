/**
 * The one binary codec every transport uses.
 *
 * A frame is a fixed 64-byte header followed by a typed body (little-endian):
 *
 * | offset | size | field |
 * |---|---|---|
 * | 0 | 2 | magic `0x454c` ("LE") |
 * | 2 | 1 | version (1) |
 * | 3 | 1 | flags (reply, error, one-way, modeled) |
 * | 4 | 2 | kind opcode |
 * | 6 | 2 | reserved, zero |
 * | 8 | 4 | request id |
 * | 12 | 4 | body length in bytes |
 * | 16 | 16 | source component id, ASCII, NUL-padded |
 * | 32 | 16 | destination component id, ASCII, NUL-padded |
 * | 48 | 8 | model time, f64 ns: a request's sending time, a reply's service time |
 * | 56 | 8 | queueing, f64 ns: the part of a reply's service time spent waiting |
 *
 * Model time rides in the header so that every component charges its own work: a
 * request carries the caller's model time, the server adds what it spent (handling,
 * device I/O, queueing at its busy resources, further calls) and the reply carries the
 * total back (`kernel/model_time.ts`).
 *
 * The body layout comes from the kind's entry in `messages.ts`: the request layout, the
 * reply layout when the reply flag is set, or the error layout when the error flag is set.
 *
 * Page payloads are copied exactly once, into the frame, when encoding; decoding returns
 * views into the frame (no copy). Decoding never trusts the bytes: every problem throws a
 * {@link DecodeError} that names it.
 *
 * @module
 */

import { DecodeError, KernelError } from "./errors.ts";
import { type ComponentId, componentIdProblem, MAX_COMPONENT_ID_BYTES } from "./ids.ts";
import {
  type BodySpec,
  ERROR_BODY,
  type FieldType,
  FLAG_ERROR,
  FLAG_REPLY,
  KNOWN_FLAGS,
  MAX_STRING_BYTES,
  MESSAGE_KINDS,
  type MessageKind,
  PAGE_SIZE,
} from "./messages.ts";

/** Magic number at the start of every frame ("LE" little-endian). */
export const MAGIC = 0x454c;
/** Wire format version. */
export const WIRE_VERSION = 2;
/** Header size in bytes. */
export const HEADER_SIZE = 64;
/** Default largest body accepted by {@link decode} (16 MiB). */
export const DEFAULT_MAX_BODY_BYTES: number = 16 * 1024 * 1024;

/** A decoded (or to-be-encoded) message. */
export interface Message {
  /** The kind name. */
  kind: MessageKind;
  /** Request id; a reply carries its request's id. 0 for one-way messages. */
  requestId: number;
  /** Sending component. */
  src: ComponentId;
  /** Destination component. */
  dst: ComponentId;
  /** Header flags (`FLAG_REPLY`, `FLAG_ERROR`, `FLAG_ONE_WAY`). */
  flags: number;
  /** The typed body; its layout depends on `kind` and `flags`. */
  body: Record<string, unknown>;
  /**
   * Model time in ns (default 0): for a request, the caller's model time when it sent
   * it; for a reply, the model time the callee spent serving it.
   */
  modelNs?: number;
  /** Of a reply's `modelNs`, the part spent waiting for busy resources (default 0). */
  queueNs?: number;
}

/** The fixed header of a frame. */
export interface FrameHeader {
  /** The kind name. */
  kind: MessageKind;
  /** Header flags. */
  flags: number;
  /** Request id. */
  requestId: number;
  /** Length of the body that follows the header. */
  bodyLength: number;
  /** Sending component. */
  src: ComponentId;
  /** Destination component. */
  dst: ComponentId;
}

/** Options for decoding. */
export interface DecodeOptions {
  /** Largest body accepted (default {@link DEFAULT_MAX_BODY_BYTES}). */
  maxBodyBytes?: number;
}

type FieldList = readonly (readonly [string, FieldType])[];

/** A kind's opcode and body layouts as field lists, worked out once for every frame. */
interface KindLayout {
  readonly kind: MessageKind;
  readonly code: number;
  readonly request: FieldList;
  readonly reply: FieldList;
}

const ERROR_FIELDS: FieldList = Object.entries(ERROR_BODY);
const LAYOUTS: ReadonlyMap<string, KindLayout> = new Map(
  (Object.keys(MESSAGE_KINDS) as MessageKind[]).map((kind) => {
    const { code, request, reply } = MESSAGE_KINDS[kind];
    return [kind, { kind, code, request: Object.entries(request), reply: Object.entries(reply) }];
  }),
);

/** The same layouts by opcode, for decoding. */
const LAYOUTS_BY_CODE: ReadonlyMap<number, KindLayout> = new Map(
  [...LAYOUTS.values()].map((layout) => [layout.code, layout]),
);

/** The fields of a frame of `layout`'s kind with `flags`: error, reply or request. */
function fieldsOf(layout: KindLayout, flags: number): FieldList {
  return flags & FLAG_ERROR ? ERROR_FIELDS : flags & FLAG_REPLY ? layout.reply : layout.request;
}

/**
 * The body layout for `kind` with `flags`: error, reply or request.
 *
 * @example
 * ```ts
 * import { bodySpecOf } from "./codec.ts";
 * import { FLAG_REPLY } from "./messages.ts";
 * console.assert("page" in bodySpecOf("P2M_PAGE_FETCH", FLAG_REPLY));
 * ```
 */
export function bodySpecOf(kind: MessageKind, flags: number): BodySpec {
  if (flags & FLAG_ERROR) return ERROR_BODY;
  const spec = MESSAGE_KINDS[kind];
  return flags & FLAG_REPLY ? spec.reply : spec.request;
}

const utf8 = new TextEncoder();
// ignoreBOM: a string that begins with U+FEFF keeps it (the default strips it as a mark).
const utf8Strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function encodeProblem(msg: string): never {
  throw new KernelError("EINVAL", `cannot encode message: ${msg}`);
}

/**
 * Encodes `message` into a new frame. Throws a `KernelError` (`EINVAL`) when a field does
 * not fit its type (a page of the wrong size, an integer out of range, a bad id).
 *
 * @example
 * ```ts
 * import { decode, encode } from "./codec.ts";
 * const frame = encode({
 *   kind: "P2M_PAGE_FETCH", requestId: 7, src: "p0", dst: "m0", flags: 0,
 *   body: { pid: 1, vaddr: 0x1000 },
 * });
 * console.assert(decode(frame).body.vaddr === 0x1000);
 * ```
 */
export function encode(message: Message): Uint8Array {
  const plan = planFrame(message);
  const frame = new Uint8Array(plan.size);
  writeFrame(message, plan, frame, new DataView(frame.buffer));
  return frame;
}

/** Largest frame a {@link FrameEncoder} keeps its buffer for; bigger ones get their own. */
const ENCODER_KEEP_BYTES = 1024 * 1024;

/**
 * Encodes messages into one reused buffer. Each frame it returns is a view that is valid
 * only until the next `encode` call: for handing to a transport that copies the bytes at
 * once (`TransportEndpoint.sendCopy`). Allocating a fresh buffer per frame costs more
 * than encoding it (a 4 KiB `ArrayBuffer` takes one to two microseconds to allocate and
 * later to collect), and a busy node encodes a frame per request and per reply.
 *
 * @example
 * ```ts
 * import { decode, FrameEncoder } from "./codec.ts";
 * const encoder = new FrameEncoder();
 * const frame = encoder.encode({
 *   kind: "P2M_PAGE_FETCH", requestId: 7, src: "p0", dst: "m0", flags: 0,
 *   body: { pid: 1, vaddr: 0x1000 },
 * });
 * console.assert(decode(frame).body.vaddr === 0x1000);
 * ```
 */
export class FrameEncoder {
  #buffer = new Uint8Array(8192);
  #view = new DataView(this.#buffer.buffer);
  /** The last frame handed out: the same view serves the next frame of the same size. */
  #frame = this.#buffer.subarray(0, 0);

  /** Encodes `message` (see {@link encode}); the result is overwritten by the next call. */
  encode(message: Message): Uint8Array {
    const plan = planFrame(message);
    const size = plan.size;
    if (size > ENCODER_KEEP_BYTES) {
      const frame = new Uint8Array(size);
      writeFrame(message, plan, frame, new DataView(frame.buffer));
      return frame;
    }
    if (size > this.#buffer.length) {
      this.#buffer = new Uint8Array(
        Math.min(ENCODER_KEEP_BYTES, Math.max(size, this.#buffer.length * 2)),
      );
      this.#view = new DataView(this.#buffer.buffer);
    }
    let frame = this.#frame;
    if (frame.length !== size || frame.buffer !== this.#buffer.buffer) {
      frame = this.#frame = this.#buffer.subarray(0, size);
    }
    // Earlier frames left bytes behind: clear the header fields that are not all written.
    frame.fill(0, 16, HEADER_SIZE);
    writeFrame(message, plan, frame, this.#view);
    return frame;
  }
}

/**
 * A message as {@link copyMessage} hands it over within one process: what decoding its
 * frame would give, plus the size that frame would have.
 */
export interface CopiedMessage extends Message {
  /** Bytes of the frame it stands for (header and body): what the wire would carry. */
  readonly frameBytes: number;
}

/**
 * What `decode(encode(message))` gives, without the bytes in between: for handing a
 * message to a component in the same process (`TransportEndpoint.sendMessage`). Checks
 * `message` exactly as {@link encode} does (same `EINVAL` errors); the copy has only the
 * fields of its kind's layout, integers as decoding gives them, JSON fields parsed
 * afresh, and every byte field copied (once: the copy is the receiver's, as a frame's
 * views are), so the sender may reuse what it sent. Model times default to 0.
 *
 * @example
 * ```ts
 * import { copyMessage } from "./codec.ts";
 * const page = new Uint8Array(4096).fill(7);
 * const copy = copyMessage({
 *   kind: "P2M_PAGE_FLUSH", requestId: 7, src: "p0", dst: "m0", flags: 0,
 *   body: { pid: 1, vaddr: 0x1000, page, extra: "dropped" },
 * });
 * page.fill(0); // the sender reuses its buffer: the copy keeps what was sent
 * console.assert((copy.body.page as Uint8Array)[0] === 7 && !("extra" in copy.body));
 * console.assert(copy.frameBytes === 64 + 4 + 8 + 4096);
 * ```
 */
export function copyMessage(message: Message): CopiedMessage {
  const plan = planFrame(message);
  const source = message.body;
  const body: Record<string, unknown> = {};
  let next = 0;
  for (const [name, type] of plan.fields) {
    const value = source[name];
    switch (type) {
      case "page":
        body[name] = copyPage(value as Uint8Array);
        break;
      case "bytes":
        body[name] = (value as Uint8Array).slice();
        break;
      case "str":
        next++;
        body[name] = value;
        break;
      case "json":
        // A fresh object, as decoding gives: the receiver must not share the sender's.
        body[name] = JSON.parse(utf8Strict.decode(plan.encoded![next++]));
        break;
      case "f64":
      case "bool":
        body[name] = value;
        break;
      default:
        body[name] = (value as number) + 0; // an integer field: -0 comes out as 0
    }
  }
  return {
    kind: message.kind,
    requestId: message.requestId,
    src: message.src,
    dst: message.dst,
    flags: message.flags,
    body,
    modelNs: message.modelNs ?? 0,
    queueNs: message.queueNs ?? 0,
    frameBytes: plan.size,
  };
}

/** Pages per buffer that {@link copyPage} cuts page copies from. */
const PAGES_PER_SLAB = 16;
let pageSlab = new ArrayBuffer(0);
let pageSlabUsed = 0;

/**
 * A copy of a 4 KiB page, cut from a shared 64 KiB buffer: allocating an `ArrayBuffer`
 * per page cost 1-2 µs of a 4 KiB fetch's RPC here (allocation and, later, freeing on
 * another thread), a view of an existing one a few ns. The buffer lives while any of its
 * pages does; the receivers of page fields copy them where they keep them (the ExCache,
 * memory's frames, the replica log), so a page copy lives about as long as its message.
 */
function copyPage(page: Uint8Array): Uint8Array {
  if (pageSlabUsed === pageSlab.byteLength) {
    pageSlab = new ArrayBuffer(PAGES_PER_SLAB * PAGE_SIZE);
    pageSlabUsed = 0;
  }
  const copy = new Uint8Array(pageSlab, pageSlabUsed, PAGE_SIZE);
  pageSlabUsed += PAGE_SIZE;
  copy.set(page);
  return copy;
}

/** What {@link planFrame} learnt about a message: its layout, size and encoded text fields. */
interface FramePlan {
  code: number;
  fields: FieldList;
  size: number;
  /** Strings and JSON, turned into bytes once, up front, to learn the size. */
  encoded: Uint8Array[] | undefined;
}

/** Checks `message` and works out its frame size. */
function planFrame(message: Message): FramePlan {
  const { kind, flags, requestId } = message;
  const layout = LAYOUTS.get(kind);
  if (!layout) encodeProblem(`unknown kind ${JSON.stringify(kind)}`);
  if ((flags & ~KNOWN_FLAGS) !== 0 || ((flags & FLAG_ERROR) && !(flags & FLAG_REPLY))) {
    encodeProblem(`bad flags 0x${flags.toString(16)}`);
  }
  if (!Number.isInteger(requestId) || requestId < 0 || requestId > 0xffffffff) {
    encodeProblem(`request id ${requestId} is not a u32`);
  }
  const fields = fieldsOf(layout, flags);
  const body = message.body;
  const plan: FramePlan = { code: layout.code, fields, size: HEADER_SIZE, encoded: undefined };
  for (const [name, type] of fields) {
    plan.size += fieldSize(name, type, body[name], plan);
  }
  checkId(message.src, "source");
  checkId(message.dst, "destination");
  checkModelTime(message.modelNs, "modelNs");
  checkModelTime(message.queueNs, "queueNs");
  return plan;
}

/** Writes the frame planned by {@link planFrame}; `view` covers `frame`'s buffer from 0. */
function writeFrame(message: Message, plan: FramePlan, frame: Uint8Array, view: DataView): void {
  const { size, fields, encoded } = plan;
  view.setUint16(0, MAGIC, true);
  view.setUint8(2, WIRE_VERSION);
  view.setUint8(3, message.flags);
  view.setUint16(4, plan.code, true);
  view.setUint16(6, 0, true);
  view.setUint32(8, message.requestId, true);
  view.setUint32(12, size - HEADER_SIZE, true);
  writeId(frame, 16, message.src);
  writeId(frame, 32, message.dst);
  view.setFloat64(48, message.modelNs ?? 0, true);
  view.setFloat64(56, message.queueNs ?? 0, true);
  const body = message.body;
  let at = HEADER_SIZE;
  let next = 0;
  for (const [name, type] of fields) {
    const value = body[name];
    switch (type) {
      case "u8":
        view.setUint8(at, value as number);
        at += 1;
        break;
      case "u16":
        view.setUint16(at, value as number, true);
        at += 2;
        break;
      case "u32":
        view.setUint32(at, value as number, true);
        at += 4;
        break;
      case "i32":
        view.setInt32(at, value as number, true);
        at += 4;
        break;
      case "u64":
        view.setUint32(at, (value as number) >>> 0, true);
        view.setUint32(at + 4, Math.floor((value as number) / 0x100000000), true);
        at += 8;
        break;
      case "f64":
        view.setFloat64(at, value as number, true);
        at += 8;
        break;
      case "bool":
        view.setUint8(at, value ? 1 : 0);
        at += 1;
        break;
      case "page":
        frame.set(value as Uint8Array, at);
        at += PAGE_SIZE;
        break;
      case "bytes":
        view.setUint32(at, (value as Uint8Array).length, true);
        frame.set(value as Uint8Array, at + 4);
        at += 4 + (value as Uint8Array).length;
        break;
      case "str": {
        const bytes = encoded![next++];
        view.setUint16(at, bytes.length, true);
        frame.set(bytes, at + 2);
        at += 2 + bytes.length;
        break;
      }
      case "json": {
        const bytes = encoded![next++];
        view.setUint32(at, bytes.length, true);
        frame.set(bytes, at + 4);
        at += 4 + bytes.length;
        break;
      }
    }
  }
}

const INTEGER_LIMITS: Partial<Record<FieldType, readonly [number, number]>> = {
  u8: [0, 0xff],
  u16: [0, 0xffff],
  u32: [0, 0xffffffff],
  i32: [-0x80000000, 0x7fffffff],
  u64: [0, Number.MAX_SAFE_INTEGER],
};

/** Validates one field for encoding and returns its wire size. */
function fieldSize(name: string, type: FieldType, value: unknown, plan: FramePlan): number {
  const limits = INTEGER_LIMITS[type];
  if (limits) {
    if (typeof value !== "number" || !Number.isInteger(value)) {
      encodeProblem(`field "${name}" must be an integer (${type}), got ${String(value)}`);
    }
    if (value < limits[0] || value > limits[1]) {
      encodeProblem(`field "${name}" = ${value} is out of range for ${type}`);
    }
    return type === "u8" ? 1 : type === "u16" ? 2 : type === "u64" ? 8 : 4;
  }
  switch (type) {
    case "f64":
      if (typeof value !== "number") encodeProblem(`field "${name}" must be a number`);
      return 8;
    case "bool":
      if (typeof value !== "boolean") encodeProblem(`field "${name}" must be a boolean`);
      return 1;
    case "page":
      if (!(value instanceof Uint8Array) || value.length !== PAGE_SIZE) {
        encodeProblem(`field "${name}" must be a Uint8Array of exactly ${PAGE_SIZE} bytes`);
      }
      return PAGE_SIZE;
    case "bytes":
      if (!(value instanceof Uint8Array)) encodeProblem(`field "${name}" must be a Uint8Array`);
      return 4 + value.length;
    case "str": {
      if (typeof value !== "string") encodeProblem(`field "${name}" must be a string`);
      // TextEncoder would silently turn a lone surrogate into U+FFFD, altering the value.
      if (!value.isWellFormed()) encodeProblem(`field "${name}" has a lone UTF-16 surrogate`);
      const bytes = utf8.encode(value);
      if (bytes.length > MAX_STRING_BYTES) {
        encodeProblem(`field "${name}" is ${bytes.length} bytes, over ${MAX_STRING_BYTES}`);
      }
      (plan.encoded ??= []).push(bytes);
      return 2 + bytes.length;
    }
    case "json": {
      let text: string | undefined;
      try {
        text = value === undefined ? undefined : JSON.stringify(value);
      } catch (e) {
        // BigInts and cycles make JSON.stringify throw a TypeError.
        encodeProblem(`field "${name}" is not JSON-serialisable: ${(e as Error).message}`);
      }
      if (text === undefined) encodeProblem(`field "${name}" is not JSON-serialisable`);
      const bytes = utf8.encode(text);
      (plan.encoded ??= []).push(bytes);
      return 4 + bytes.length;
    }
    default:
      encodeProblem(`field "${name}" has unknown type ${type}`);
  }
}

/**
 * Ids already found valid. Every frame carries two ids and a node talks to few peers, so
 * remembering them spares a pattern match per id per frame. Bounded: a flood of distinct
 * ids only clears it.
 */
const validIds = new Set<string>();
const MAX_VALID_IDS = 4096;

function idProblem(id: ComponentId): string | undefined {
  if (validIds.has(id)) return undefined;
  const problem = componentIdProblem(id);
  if (problem === undefined) {
    if (validIds.size >= MAX_VALID_IDS) validIds.clear();
    validIds.add(id);
  }
  return problem;
}

function checkId(id: ComponentId, which: string): void {
  const problem = idProblem(id);
  if (problem) encodeProblem(`${which}: ${problem}`);
}

/** Writes a checked id; the rest of its 16-byte field must already be zero. */
function writeId(frame: Uint8Array, at: number, id: ComponentId): void {
  for (let i = 0; i < id.length; i++) frame[at + i] = id.charCodeAt(i);
}

/** Slots of the cache of ids recently read, as their 16 header bytes and as strings. */
const RECENT_IDS = 8;
const recentIdBytes = new Uint8Array(RECENT_IDS * MAX_COMPONENT_ID_BYTES);
const recentIds: ComponentId[] = [];
let recentNext = 0;

function readId(frame: Uint8Array, at: number, which: string): ComponentId {
  // A node hears from few peers: comparing 16 bytes beats building and checking a string.
  for (let slot = 0; slot < recentIds.length; slot++) {
    const base = slot * MAX_COMPONENT_ID_BYTES;
    let i = 0;
    while (i < MAX_COMPONENT_ID_BYTES && frame[at + i] === recentIdBytes[base + i]) i++;
    if (i === MAX_COMPONENT_ID_BYTES) return recentIds[slot];
  }
  const id = parseId(frame, at, which);
  recentIdBytes.set(
    frame.subarray(at, at + MAX_COMPONENT_ID_BYTES),
    recentNext * MAX_COMPONENT_ID_BYTES,
  );
  recentIds[recentNext] = id;
  recentNext = (recentNext + 1) % RECENT_IDS;
  return id;
}

function parseId(frame: Uint8Array, at: number, which: string): ComponentId {
  let end = at;
  while (end < at + MAX_COMPONENT_ID_BYTES && frame[end] !== 0) end++;
  for (let i = end; i < at + MAX_COMPONENT_ID_BYTES; i++) {
    if (frame[i] !== 0) throw new DecodeError("BAD_ID", `${which} id has bytes after its NUL`);
  }
  // Ids are at most 16 ASCII bytes: building the string directly beats a TextDecoder.
  let id = "";
  for (let i = at; i < end; i++) id += String.fromCharCode(frame[i]);
  const problem = idProblem(id);
  if (problem) throw new DecodeError("BAD_ID", `${which} id is invalid: ${problem}`);
  return id;
}

/** Throws `TRUNCATED` when `frame` is too short to hold a header. */
function requireHeader(frame: Uint8Array): void {
  if (frame.length < HEADER_SIZE) {
    throw new DecodeError("TRUNCATED", `header needs ${HEADER_SIZE} bytes, got ${frame.length}`);
  }
}

/**
 * Decodes and checks only the fixed header of `frame` (which may be just the header):
 * what a stream transport needs to learn how long the frame is.
 *
 * @example
 * ```ts
 * import { decodeHeader, encode } from "./codec.ts";
 * const frame = encode({
 *   kind: "SYS_PING", requestId: 1, src: "a", dst: "b", flags: 0, body: { data: new Uint8Array(3) },
 * });
 * console.assert(decodeHeader(frame).bodyLength === 7);
 * ```
 */
export function decodeHeader(frame: Uint8Array, options: DecodeOptions = {}): FrameHeader {
  requireHeader(frame);
  const view = viewOf(frame);
  const base = frame.byteOffset;
  const { kind } = checkHeader(view, base, options);
  return {
    kind,
    flags: view.getUint8(base + 3),
    requestId: view.getUint32(base + 8, true),
    bodyLength: view.getUint32(base + 12, true),
    src: readId(frame, 16, "source"),
    dst: readId(frame, 32, "destination"),
  };
}

/** A view over the whole buffer of the frames last decoded (one view per read buffer). */
let lastBuffer: ArrayBufferLike | undefined;
let lastView: DataView | undefined;
/** Buffers larger than this get a view of their own, so the cache never pins much memory. */
const VIEW_CACHE_MAX_BYTES = 1024 * 1024;

/** A `DataView` over `frame`'s whole buffer (add `frame.byteOffset` to offsets). */
function viewOf(frame: Uint8Array): DataView {
  const buffer = frame.buffer;
  if (buffer === lastBuffer) return lastView!;
  const view = new DataView(buffer);
  if (buffer.byteLength <= VIEW_CACHE_MAX_BYTES) {
    lastBuffer = buffer;
    lastView = view;
  }
  return view;
}

/**
 * Checks the fixed header at `base` in `view` (a frame at least a header long) and
 * returns its kind's layout.
 */
function checkHeader(view: DataView, base: number, options: DecodeOptions): KindLayout {
  const magic = view.getUint16(base, true);
  if (magic !== MAGIC) {
    throw new DecodeError("BAD_MAGIC", `bad magic 0x${magic.toString(16)}, not a legoemu frame`);
  }
  const version = view.getUint8(base + 2);
  if (version !== WIRE_VERSION) {
    throw new DecodeError(
      "BAD_VERSION",
      `wire version ${version} is not supported (want ${WIRE_VERSION})`,
    );
  }
  const flags = view.getUint8(base + 3);
  if ((flags & ~KNOWN_FLAGS) !== 0 || ((flags & FLAG_ERROR) && !(flags & FLAG_REPLY))) {
    throw new DecodeError("BAD_FLAGS", `bad flags 0x${flags.toString(16)}`);
  }
  const code = view.getUint16(base + 4, true);
  const layout = LAYOUTS_BY_CODE.get(code);
  if (layout === undefined) {
    throw new DecodeError("UNKNOWN_KIND", `unknown message kind 0x${code.toString(16)}`);
  }
  if (view.getUint16(base + 6, true) !== 0) {
    throw new DecodeError("BAD_FLAGS", "reserved header bytes are not zero");
  }
  checkBodyBytes(view.getUint32(base + 12, true), options.maxBodyBytes);
  return layout;
}

/**
 * Throws `OVERSIZED` when a body of `bodyBytes` is over `maxBodyBytes` (default
 * {@link DEFAULT_MAX_BODY_BYTES}): the limit a receiver puts on a frame's body, whether it
 * decodes the frame or takes the message as is (`RpcNode` over `sendMessage`).
 *
 * @example
 * ```ts
 * import { checkBodyBytes } from "./codec.ts";
 * checkBodyBytes(4096, 8192); // within the limit: nothing happens
 * let refused = false;
 * try {
 *   checkBodyBytes(9000, 8192);
 * } catch {
 *   refused = true;
 * }
 * if (!refused) throw new Error("a 9000-byte body passed an 8192-byte limit");
 * ```
 */
export function checkBodyBytes(bodyBytes: number, maxBodyBytes?: number): void {
  const max = maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (bodyBytes > max) {
    throw new DecodeError("OVERSIZED", `body of ${bodyBytes} bytes is over the ${max}-byte limit`);
  }
}

/**
 * Decodes a whole frame. Byte fields (`page`, `bytes`) are views into `frame`.
 * Throws {@link DecodeError} naming the problem for any malformed input.
 *
 * @example
 * ```ts
 * import { decode } from "./codec.ts";
 * import { DecodeError } from "./errors.ts";
 * try {
 *   decode(new Uint8Array([1, 2, 3]));
 * } catch (e) {
 *   console.assert(e instanceof DecodeError && e.reason === "TRUNCATED");
 * }
 * ```
 */
export function decode(frame: Uint8Array, options: DecodeOptions = {}): Message {
  requireHeader(frame);
  const view = viewOf(frame);
  const base = frame.byteOffset;
  const layout = checkHeader(view, base, options);
  const kind = layout.kind;
  const flags = view.getUint8(base + 3);
  const bodyLength = view.getUint32(base + 12, true);
  const end = HEADER_SIZE + bodyLength;
  if (frame.length < end) {
    throw new DecodeError(
      "TRUNCATED",
      `${kind} body needs ${bodyLength} bytes, got ${frame.length - HEADER_SIZE}`,
    );
  }
  if (frame.length > end) {
    throw new DecodeError(
      "TRAILING_BYTES",
      `${frame.length - end} bytes after the end of the ${kind} body`,
    );
  }
  const requestId = view.getUint32(base + 8, true);
  const src = readId(frame, 16, "source");
  const dst = readId(frame, 32, "destination");
  const modelNs = readModelTime(view, base + 48, "model time");
  const queueNs = readModelTime(view, base + 56, "queueing time");
  const body: Record<string, unknown> = {};
  let at = HEADER_SIZE;
  for (const [name, type] of fieldsOf(layout, flags)) {
    switch (type) {
      case "u8":
        if (at + 1 > end) tooShort(kind, name, 1, at, end);
        body[name] = view.getUint8(base + at);
        at += 1;
        break;
      case "u16":
        if (at + 2 > end) tooShort(kind, name, 2, at, end);
        body[name] = view.getUint16(base + at, true);
        at += 2;
        break;
      case "u32":
        if (at + 4 > end) tooShort(kind, name, 4, at, end);
        body[name] = view.getUint32(base + at, true);
        at += 4;
        break;
      case "i32":
        if (at + 4 > end) tooShort(kind, name, 4, at, end);
        body[name] = view.getInt32(base + at, true);
        at += 4;
        break;
      case "u64": {
        if (at + 8 > end) tooShort(kind, name, 8, at, end);
        // Two u32 halves: cheaper than a BigInt, and the high one shows an unsafe value.
        const low = view.getUint32(base + at, true);
        const high = view.getUint32(base + at + 4, true);
        if (high > 0x1fffff) {
          throw new DecodeError(
            "BAD_BODY",
            `${kind} field "${name}" = ${view.getBigUint64(base + at, true)} is beyond 2^53 - 1`,
          );
        }
        body[name] = high * 0x100000000 + low;
        at += 8;
        break;
      }
      case "f64":
        if (at + 8 > end) tooShort(kind, name, 8, at, end);
        body[name] = view.getFloat64(base + at, true);
        at += 8;
        break;
      case "bool": {
        if (at + 1 > end) tooShort(kind, name, 1, at, end);
        const b = view.getUint8(base + at);
        if (b > 1) {
          throw new DecodeError("BAD_BODY", `${kind} field "${name}" is ${b}, not 0 or 1`);
        }
        body[name] = b === 1;
        at += 1;
        break;
      }
      case "page":
        if (at + PAGE_SIZE > end) tooShort(kind, name, PAGE_SIZE, at, end);
        body[name] = frame.subarray(at, at + PAGE_SIZE);
        at += PAGE_SIZE;
        break;
      case "bytes": {
        if (at + 4 > end) tooShort(kind, name, 4, at, end);
        const n = view.getUint32(base + at, true);
        at += 4;
        if (at + n > end) tooShort(kind, name, n, at, end);
        body[name] = frame.subarray(at, at + n);
        at += n;
        break;
      }
      case "str": {
        if (at + 2 > end) tooShort(kind, name, 2, at, end);
        const n = view.getUint16(base + at, true);
        at += 2;
        if (n > MAX_STRING_BYTES) {
          throw new DecodeError(
            "BAD_BODY",
            `${kind} field "${name}" is ${n} bytes, over ${MAX_STRING_BYTES}`,
          );
        }
        if (at + n > end) tooShort(kind, name, n, at, end);
        body[name] = decodeUtf8(frame.subarray(at, at + n), kind, name);
        at += n;
        break;
      }
      case "json": {
        if (at + 4 > end) tooShort(kind, name, 4, at, end);
        const n = view.getUint32(base + at, true);
        at += 4;
        if (at + n > end) tooShort(kind, name, n, at, end);
        const text = decodeUtf8(frame.subarray(at, at + n), kind, name);
        try {
          body[name] = JSON.parse(text);
        } catch (e) {
          throw new DecodeError(
            "BAD_BODY",
            `${kind} field "${name}" is not valid JSON: ${(e as Error).message}`,
          );
        }
        at += n;
        break;
      }
    }
  }
  if (at !== end) {
    throw new DecodeError(
      "TRAILING_BYTES",
      `${end - at} bytes left over after the last ${kind} field`,
    );
  }
  return {
    kind,
    requestId,
    src,
    dst,
    flags,
    body,
    modelNs,
    queueNs,
  };
}

function checkModelTime(ns: number | undefined, what: string): void {
  if (ns !== undefined && !(typeof ns === "number" && ns >= 0 && ns < Infinity)) {
    encodeProblem(`${what} must be a finite number of ns >= 0, got ${ns}`);
  }
}

function readModelTime(view: DataView, at: number, what: string): number {
  const ns = view.getFloat64(at, true);
  if (!(ns >= 0 && ns < Infinity)) {
    throw new DecodeError("BAD_MODEL_TIME", `${what} ${ns} is not a finite number of ns >= 0`);
  }
  return ns;
}

function tooShort(kind: MessageKind, name: string, n: number, at: number, end: number): never {
  throw new DecodeError(
    "BAD_BODY",
    `${kind} field "${name}" needs ${n} bytes at offset ${at - HEADER_SIZE}, body has ${
      end - at
    } left`,
  );
}

function decodeUtf8(bytes: Uint8Array, kind: string, name: string): string {
  try {
    return utf8Strict.decode(bytes);
  } catch {
    throw new DecodeError("BAD_BODY", `${kind} field "${name}" is not valid UTF-8`);
  }
}

/**
 * {@link setFrameModelTimes} for a message handed over by {@link copyMessage}: the same
 * checks, written into the message.
 *
 * @example
 * ```ts
 * import { copyMessage, setMessageModelTimes } from "./codec.ts";
 * const message = copyMessage({
 *   kind: "SYS_PING", requestId: 1, src: "a", dst: "b", flags: 0, body: { data: new Uint8Array(0) },
 * });
 * setMessageModelTimes(message, 7, 2);
 * console.assert(message.modelNs === 7 && message.queueNs === 2);
 * ```
 */
export function setMessageModelTimes(message: Message, modelNs: number, queueNs: number): void {
  checkModelTime(modelNs, "modelNs");
  checkModelTime(queueNs, "queueNs");
  message.modelNs = modelNs;
  message.queueNs = queueNs;
}

/**
 * Rewrites the model-time fields of an encoded frame in place (a message's wire time is
 * known only once it is encoded, and waiting for a busy NIC moves the time it carries).
 *
 * @example
 * ```ts
 * import { decode, encode, setFrameModelTimes } from "./codec.ts";
 * const frame = encode({
 *   kind: "SYS_PING", requestId: 1, src: "a", dst: "b", flags: 0,
 *   body: { data: new Uint8Array(0) }, modelNs: 5,
 * });
 * setFrameModelTimes(frame, 7, 2);
 * console.assert(decode(frame).modelNs === 7 && decode(frame).queueNs === 2);
 * ```
 */
export function setFrameModelTimes(frame: Uint8Array, modelNs: number, queueNs: number): void {
  checkModelTime(modelNs, "modelNs");
  checkModelTime(queueNs, "queueNs");
  const view = new DataView(frame.buffer, frame.byteOffset, HEADER_SIZE);
  view.setFloat64(48, modelNs, true);
  view.setFloat64(56, queueNs, true);
}
