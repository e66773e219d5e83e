/**
 * The one binary codec every transport uses.
 *
 * A frame is a fixed 48-byte header followed by a typed body (little-endian):
 *
 * | offset | size | field |
 * |---|---|---|
 * | 0 | 2 | magic `0x454c` ("LE") |
 * | 2 | 1 | version (1) |
 * | 3 | 1 | flags (reply, error, one-way) |
 * | 4 | 2 | kind opcode |
 * | 6 | 2 | reserved, zero |
 * | 8 | 4 | request id |
 * | 12 | 4 | body length in bytes |
 * | 16 | 16 | source component id, ASCII, NUL-padded |
 * | 32 | 16 | destination component id, ASCII, NUL-padded |
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
  KIND_BY_CODE,
  KNOWN_FLAGS,
  MAX_STRING_BYTES,
  MESSAGE_KINDS,
  type MessageKind,
  PAGE_SIZE,
} from "./messages.ts";

/** Magic number at the start of every frame ("LE" little-endian). */
export const MAGIC = 0x454c;
/** Wire format version. */
export const WIRE_VERSION = 1;
/** Header size in bytes. */
export const HEADER_SIZE = 48;
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

const fieldLists = new Map<BodySpec, FieldList>();
function fieldsOf(spec: BodySpec): FieldList {
  let list = fieldLists.get(spec);
  if (!list) {
    list = Object.entries(spec);
    fieldLists.set(spec, list);
  }
  return list;
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
const utf8Strict = new TextDecoder("utf-8", { fatal: true });

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
  const { kind, flags, requestId } = message;
  const kindSpec = MESSAGE_KINDS[kind];
  if (!kindSpec) encodeProblem(`unknown kind ${JSON.stringify(kind)}`);
  if ((flags & ~KNOWN_FLAGS) !== 0 || ((flags & FLAG_ERROR) && !(flags & FLAG_REPLY))) {
    encodeProblem(`bad flags 0x${flags.toString(16)}`);
  }
  if (!Number.isInteger(requestId) || requestId < 0 || requestId > 0xffffffff) {
    encodeProblem(`request id ${requestId} is not a u32`);
  }
  const fields = fieldsOf(bodySpecOf(kind, flags));
  const body = message.body;
  // Strings and JSON are turned into bytes once, up front, to learn the size.
  const encoded: Uint8Array[] = [];
  let size = HEADER_SIZE;
  for (const [name, type] of fields) {
    size += fieldSize(name, type, body[name], encoded);
  }
  const frame = new Uint8Array(size);
  const view = new DataView(frame.buffer);
  view.setUint16(0, MAGIC, true);
  view.setUint8(2, WIRE_VERSION);
  view.setUint8(3, flags);
  view.setUint16(4, kindSpec.code, true);
  view.setUint32(8, requestId, true);
  view.setUint32(12, size - HEADER_SIZE, true);
  writeId(frame, 16, message.src, "source");
  writeId(frame, 32, message.dst, "destination");
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
        view.setBigUint64(at, BigInt(value as number), true);
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
        const bytes = encoded[next++];
        view.setUint16(at, bytes.length, true);
        frame.set(bytes, at + 2);
        at += 2 + bytes.length;
        break;
      }
      case "json": {
        const bytes = encoded[next++];
        view.setUint32(at, bytes.length, true);
        frame.set(bytes, at + 4);
        at += 4 + bytes.length;
        break;
      }
    }
  }
  return frame;
}

const INTEGER_LIMITS: Partial<Record<FieldType, readonly [number, number]>> = {
  u8: [0, 0xff],
  u16: [0, 0xffff],
  u32: [0, 0xffffffff],
  i32: [-0x80000000, 0x7fffffff],
  u64: [0, Number.MAX_SAFE_INTEGER],
};

/** Validates one field for encoding and returns its wire size. */
function fieldSize(name: string, type: FieldType, value: unknown, encoded: Uint8Array[]): number {
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
      encoded.push(bytes);
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
      encoded.push(bytes);
      return 4 + bytes.length;
    }
    default:
      encodeProblem(`field "${name}" has unknown type ${type}`);
  }
}

function writeId(frame: Uint8Array, at: number, id: ComponentId, which: string): void {
  const problem = componentIdProblem(id);
  if (problem) encodeProblem(`${which}: ${problem}`);
  for (let i = 0; i < id.length; i++) frame[at + i] = id.charCodeAt(i);
}

function readId(frame: Uint8Array, at: number, which: string): ComponentId {
  let end = at;
  while (end < at + MAX_COMPONENT_ID_BYTES && frame[end] !== 0) end++;
  for (let i = end; i < at + MAX_COMPONENT_ID_BYTES; i++) {
    if (frame[i] !== 0) throw new DecodeError("BAD_ID", `${which} id has bytes after its NUL`);
  }
  // Ids are at most 16 ASCII bytes: building the string directly beats a TextDecoder.
  let id = "";
  for (let i = at; i < end; i++) id += String.fromCharCode(frame[i]);
  const problem = componentIdProblem(id);
  if (problem) throw new DecodeError("BAD_ID", `${which} id is invalid: ${problem}`);
  return id;
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
  if (frame.length < HEADER_SIZE) {
    throw new DecodeError(
      "TRUNCATED",
      `header needs ${HEADER_SIZE} bytes, got ${frame.length}`,
    );
  }
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const magic = view.getUint16(0, true);
  if (magic !== MAGIC) {
    throw new DecodeError("BAD_MAGIC", `bad magic 0x${magic.toString(16)}, not a legoemu frame`);
  }
  const version = view.getUint8(2);
  if (version !== WIRE_VERSION) {
    throw new DecodeError(
      "BAD_VERSION",
      `wire version ${version} is not supported (want ${WIRE_VERSION})`,
    );
  }
  const flags = view.getUint8(3);
  if ((flags & ~KNOWN_FLAGS) !== 0 || ((flags & FLAG_ERROR) && !(flags & FLAG_REPLY))) {
    throw new DecodeError("BAD_FLAGS", `bad flags 0x${flags.toString(16)}`);
  }
  const code = view.getUint16(4, true);
  const kind = KIND_BY_CODE.get(code);
  if (kind === undefined) {
    throw new DecodeError("UNKNOWN_KIND", `unknown message kind 0x${code.toString(16)}`);
  }
  if (view.getUint16(6, true) !== 0) {
    throw new DecodeError("BAD_FLAGS", "reserved header bytes are not zero");
  }
  const bodyLength = view.getUint32(12, true);
  const max = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (bodyLength > max) {
    throw new DecodeError("OVERSIZED", `body of ${bodyLength} bytes is over the ${max}-byte limit`);
  }
  return {
    kind,
    flags,
    requestId: view.getUint32(8, true),
    bodyLength,
    src: readId(frame, 16, "source"),
    dst: readId(frame, 32, "destination"),
  };
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
  const header = decodeHeader(frame, options);
  const end = HEADER_SIZE + header.bodyLength;
  if (frame.length < end) {
    throw new DecodeError(
      "TRUNCATED",
      `${header.kind} body needs ${header.bodyLength} bytes, got ${frame.length - HEADER_SIZE}`,
    );
  }
  if (frame.length > end) {
    throw new DecodeError(
      "TRAILING_BYTES",
      `${frame.length - end} bytes after the end of the ${header.kind} body`,
    );
  }
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const body: Record<string, unknown> = {};
  let at = HEADER_SIZE;
  const need = (n: number, name: string) => {
    if (at + n > end) {
      throw new DecodeError(
        "BAD_BODY",
        `${header.kind} field "${name}" needs ${n} bytes at offset ${at - HEADER_SIZE}, body has ${
          end - at
        } left`,
      );
    }
  };
  for (const [name, type] of fieldsOf(bodySpecOf(header.kind, header.flags))) {
    switch (type) {
      case "u8":
        need(1, name);
        body[name] = view.getUint8(at);
        at += 1;
        break;
      case "u16":
        need(2, name);
        body[name] = view.getUint16(at, true);
        at += 2;
        break;
      case "u32":
        need(4, name);
        body[name] = view.getUint32(at, true);
        at += 4;
        break;
      case "i32":
        need(4, name);
        body[name] = view.getInt32(at, true);
        at += 4;
        break;
      case "u64": {
        need(8, name);
        const value = view.getBigUint64(at, true);
        if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
          throw new DecodeError(
            "BAD_BODY",
            `${header.kind} field "${name}" = ${value} is beyond 2^53 - 1`,
          );
        }
        body[name] = Number(value);
        at += 8;
        break;
      }
      case "f64":
        need(8, name);
        body[name] = view.getFloat64(at, true);
        at += 8;
        break;
      case "bool": {
        need(1, name);
        const b = view.getUint8(at);
        if (b > 1) {
          throw new DecodeError("BAD_BODY", `${header.kind} field "${name}" is ${b}, not 0 or 1`);
        }
        body[name] = b === 1;
        at += 1;
        break;
      }
      case "page":
        need(PAGE_SIZE, name);
        body[name] = frame.subarray(at, at + PAGE_SIZE);
        at += PAGE_SIZE;
        break;
      case "bytes": {
        need(4, name);
        const n = view.getUint32(at, true);
        at += 4;
        need(n, name);
        body[name] = frame.subarray(at, at + n);
        at += n;
        break;
      }
      case "str": {
        need(2, name);
        const n = view.getUint16(at, true);
        at += 2;
        if (n > MAX_STRING_BYTES) {
          throw new DecodeError(
            "BAD_BODY",
            `${header.kind} field "${name}" is ${n} bytes, over ${MAX_STRING_BYTES}`,
          );
        }
        need(n, name);
        body[name] = decodeUtf8(frame.subarray(at, at + n), header.kind, name);
        at += n;
        break;
      }
      case "json": {
        need(4, name);
        const n = view.getUint32(at, true);
        at += 4;
        need(n, name);
        const text = decodeUtf8(frame.subarray(at, at + n), header.kind, name);
        try {
          body[name] = JSON.parse(text);
        } catch (e) {
          throw new DecodeError(
            "BAD_BODY",
            `${header.kind} field "${name}" is not valid JSON: ${(e as Error).message}`,
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
      `${end - at} bytes left over after the last ${header.kind} field`,
    );
  }
  return {
    kind: header.kind,
    requestId: header.requestId,
    src: header.src,
    dst: header.dst,
    flags: header.flags,
    body,
  };
}

function decodeUtf8(bytes: Uint8Array, kind: string, name: string): string {
  try {
    return utf8Strict.decode(bytes);
  } catch {
    throw new DecodeError("BAD_BODY", `${kind} field "${name}" is not valid UTF-8`);
  }
}
