/**
 * What travels on a legoemu TCP connection, and the reader that cuts the byte stream
 * back into frames.
 *
 * Two kinds of frame share one stream, told apart by their first two bytes:
 * - **data frames** are codec frames (`kernel/codec.ts`) sent unchanged: their 48-byte
 *   header starts with the magic `"LE"` and carries the body length, so no extra length
 *   prefix is needed;
 * - **control frames** belong to the transport itself (handshake, credits, one-sided
 *   read/write, address lookups, liveness). They start with the magic `"LT"` and have a
 *   fixed 32-byte header (little-endian) followed by a payload:
 *
 * | offset | size | field |
 * |---|---|---|
 * | 0 | 2 | magic `0x544c` ("LT") |
 * | 2 | 1 | version (1) |
 * | 3 | 1 | type (see {@link Control}) |
 * | 4 | 4 | operation id (matches a reply to its request) |
 * | 8 | 4 | argument: credits returned, or a region key |
 * | 12 | 4 | payload length in bytes |
 * | 16 | 8 | offset (f64: a peer may send a bad one, and the server must name it) |
 * | 24 | 8 | length (f64, same reason) |
 *
 * Nothing here trusts the peer: a bad magic, an unknown version or type, or a frame over
 * the size limit throws a {@link ProtocolError}, and the connection that sent it is closed.
 *
 * @module
 */

import { decodeHeader, HEADER_SIZE, MAGIC, WIRE_VERSION } from "../../kernel/codec.ts";
import { DecodeError } from "../../kernel/errors.ts";
import { FLAG_ERROR, FLAG_REPLY, KIND_BY_CODE, KNOWN_FLAGS } from "../../kernel/messages.ts";

/** Magic number of a control frame: the bytes "LT". */
export const CONTROL_MAGIC = 0x544c;
/** Control frame format version. */
export const CONTROL_VERSION = 1;
/** Size of a control frame header in bytes. */
export const CONTROL_HEADER_SIZE = 32;

/** Control frame types. */
export const Control = {
  /** Dialer → acceptor: who I am, whom I want, my nonce. JSON payload. */
  HELLO: 1,
  /** Acceptor → dialer: its nonce and its proof of the secret. JSON payload. */
  CHALLENGE: 2,
  /** Dialer → acceptor: its proof of the secret and the credits it grants. JSON payload. */
  AUTH: 3,
  /** Acceptor → dialer: accepted, with the credits it grants. JSON payload. */
  WELCOME: 4,
  /** Either side: the handshake failed; UTF-8 reason. The sender closes. */
  REFUSED: 5,
  /** Receiver → sender: `arg` more data frames may be sent. */
  CREDIT: 16,
  /** One-sided read of `length` bytes at `offset` in region `arg`. */
  READ: 17,
  /** The bytes a READ asked for. */
  READ_OK: 18,
  /** One-sided write of the payload at `offset` in region `arg`. */
  WRITE: 19,
  /** A WRITE was applied. */
  WRITE_OK: 20,
  /** A one-sided operation or lookup failed; JSON `{ code, message }` payload. */
  OP_ERROR: 21,
  /** Where does the component whose id is the UTF-8 payload listen? */
  WHOIS: 22,
  /** The answer to WHOIS: a UTF-8 `host:port`. */
  WHOIS_OK: 23,
  /** Liveness probe. */
  PING: 24,
  /** Answer to PING. */
  PONG: 25,
} as const;

/** A control frame type number. */
export type ControlType = (typeof Control)[keyof typeof Control];

const CONTROL_TYPES: ReadonlySet<number> = new Set(Object.values(Control));
const CONTROL_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(Control).map(([name, type]) => [type, name]),
);

/**
 * The name of a control frame type, for log lines.
 *
 * @example
 * ```ts
 * import { Control, controlName } from "./wire.ts";
 * console.assert(controlName(Control.CREDIT) === "CREDIT");
 * ```
 */
export function controlName(type: number): string {
  return CONTROL_NAMES.get(type) ?? `type ${type}`;
}

/**
 * The peer broke the protocol (bad magic, oversized frame, ignored credits, ...). The
 * connection that carried it is closed; nothing else is affected.
 *
 * @example
 * ```ts
 * import { ProtocolError } from "./wire.ts";
 * console.assert(new ProtocolError("bad magic").code === "EPROTO");
 * ```
 */
export class ProtocolError extends Error {
  /** Always `EPROTO`. */
  readonly code = "EPROTO";
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ProtocolError";
  }
}

/** The fields of a control frame header. */
export interface ControlFields {
  /** Frame type. */
  type: ControlType;
  /** Operation id; 0 when the type has none. */
  opId?: number;
  /** Credits or region key. */
  arg?: number;
  /** Byte offset (one-sided operations). */
  offset?: number;
  /** Byte count (READ). */
  length?: number;
}

/** A control frame read from the stream. */
export interface ControlFrame {
  /** Discriminant. */
  readonly data: false;
  /** Frame type. */
  readonly type: ControlType;
  /** Operation id. */
  readonly opId: number;
  /** Credits or region key. */
  readonly arg: number;
  /** Byte offset. */
  readonly offset: number;
  /** Byte count. */
  readonly length: number;
  /** The payload: a view that is valid only until the reader reads again. */
  readonly payload: Uint8Array;
}

/**
 * A data (codec) frame read from the stream. Its header has been checked except for the
 * two ids, which the connection compares with the ids it expects (see
 * {@link frameIdsMatch}).
 */
export interface DataFrame {
  /** Discriminant. */
  readonly data: true;
  /** Header flags. */
  readonly flags: number;
  /** Request id. */
  readonly requestId: number;
  /** The whole frame; the caller owns these bytes. */
  readonly bytes: Uint8Array;
}

/**
 * The 32 bytes a data frame from `src` to `dst` carries at header offsets 16–47 (both
 * ids, NUL-padded), for {@link frameIdsMatch}.
 *
 * @example
 * ```ts
 * import { idField } from "./wire.ts";
 * console.assert(idField("p0", "m0")[16] === "m".charCodeAt(0));
 * ```
 */
export function idField(src: string, dst: string): Uint8Array {
  const field = new Uint8Array(32);
  for (let i = 0; i < src.length && i < 16; i++) field[i] = src.charCodeAt(i);
  for (let i = 0; i < dst.length && i < 16; i++) field[16 + i] = dst.charCodeAt(i);
  return field;
}

/**
 * Whether `frame`'s source and destination ids are exactly those of `field`: a byte
 * comparison, much cheaper than decoding and validating the ids of every frame.
 *
 * @example
 * ```ts
 * import { encode } from "../../kernel/codec.ts";
 * import { frameIdsMatch, idField } from "./wire.ts";
 * const frame = encode({
 *   kind: "SYS_PING", requestId: 1, src: "p0", dst: "m0", flags: 0, body: { data: new Uint8Array() },
 * });
 * console.assert(frameIdsMatch(frame, idField("p0", "m0")));
 * console.assert(!frameIdsMatch(frame, idField("p1", "m0")));
 * ```
 */
export function frameIdsMatch(frame: Uint8Array, field: Uint8Array): boolean {
  for (let i = 0; i < 32; i++) if (frame[16 + i] !== field[i]) return false;
  return true;
}

/**
 * The ids a frame claims, as text for a message (`"?"` when unreadable).
 *
 * @example
 * ```ts
 * import { encode } from "../../kernel/codec.ts";
 * import { frameIds } from "./wire.ts";
 * const frame = encode({
 *   kind: "SYS_PING", requestId: 1, src: "p0", dst: "m0", flags: 0, body: { data: new Uint8Array() },
 * });
 * console.assert(frameIds(frame).src === "p0");
 * ```
 */
export function frameIds(frame: Uint8Array): { src: string; dst: string } {
  try {
    const { src, dst } = decodeHeader(frame.subarray(0, HEADER_SIZE), {
      maxBodyBytes: Number.MAX_SAFE_INTEGER,
    });
    return { src, dst };
  } catch {
    return { src: "?", dst: "?" };
  }
}

/** Either kind of frame. */
export type WireFrame = DataFrame | ControlFrame;

/**
 * Encodes a control frame: header and payload in one buffer, ready for one write.
 *
 * @example
 * ```ts
 * import { Control, CONTROL_HEADER_SIZE, encodeControl } from "./wire.ts";
 * const frame = encodeControl({ type: Control.CREDIT, arg: 16 });
 * console.assert(frame.length === CONTROL_HEADER_SIZE);
 * ```
 */
export function encodeControl(fields: ControlFields, payload?: Uint8Array): Uint8Array {
  const size = payload?.length ?? 0;
  const frame = new Uint8Array(CONTROL_HEADER_SIZE + size);
  const view = new DataView(frame.buffer);
  view.setUint16(0, CONTROL_MAGIC, true);
  view.setUint8(2, CONTROL_VERSION);
  view.setUint8(3, fields.type);
  view.setUint32(4, fields.opId ?? 0, true);
  view.setUint32(8, fields.arg ?? 0, true);
  view.setUint32(12, size, true);
  view.setFloat64(16, fields.offset ?? 0, true);
  view.setFloat64(24, fields.length ?? 0, true);
  if (payload) frame.set(payload, CONTROL_HEADER_SIZE);
  return frame;
}

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder("utf-8", { fatal: true });

/**
 * Encodes a control frame whose payload is `value` as JSON.
 *
 * @example
 * ```ts
 * import { Control, encodeJsonControl } from "./wire.ts";
 * const frame = encodeJsonControl({ type: Control.WELCOME }, { credits: 8 });
 * console.assert(frame.length > 32);
 * ```
 */
export function encodeJsonControl(fields: ControlFields, value: unknown): Uint8Array {
  return encodeControl(fields, utf8.encode(JSON.stringify(value)));
}

/**
 * Encodes a control frame whose payload is `text` as UTF-8.
 *
 * @example
 * ```ts
 * import { Control, encodeTextControl } from "./wire.ts";
 * console.assert(encodeTextControl({ type: Control.WHOIS, opId: 1 }, "m0").length === 34);
 * ```
 */
export function encodeTextControl(fields: ControlFields, text: string): Uint8Array {
  return encodeControl(fields, utf8.encode(text));
}

/**
 * The payload of a control frame as text. Throws a {@link ProtocolError} for bytes that
 * are not UTF-8.
 *
 * @example
 * ```ts
 * import { payloadText } from "./wire.ts";
 * console.assert(payloadText(new TextEncoder().encode("m0")) === "m0");
 * ```
 */
export function payloadText(payload: Uint8Array): string {
  try {
    return utf8Strict.decode(payload);
  } catch {
    throw new ProtocolError("control payload is not valid UTF-8");
  }
}

/**
 * The payload of a control frame parsed as a JSON object. Throws a
 * {@link ProtocolError} for anything else.
 *
 * @example
 * ```ts
 * import { payloadJson } from "./wire.ts";
 * console.assert(payloadJson(new TextEncoder().encode('{"a":1}')).a === 1);
 * ```
 */
export function payloadJson(payload: Uint8Array): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(payloadText(payload));
  } catch (e) {
    if (e instanceof ProtocolError) throw e;
    throw new ProtocolError(`control payload is not JSON: ${(e as Error).message}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new ProtocolError("control payload is not a JSON object");
  }
  return value as Record<string, unknown>;
}

/**
 * Size of a read buffer. Frames are handed out as views into it (no copy), so a buffer is
 * never written twice: once it fills up, reading moves on to a fresh one. A fresh buffer
 * costs more per byte the smaller it is (allocating, zeroing and collecting an
 * `ArrayBuffer` has a fixed cost): 256 KiB cut the CPU per 4 KiB round trip by ~10% against
 * 64 KiB, while a frame a consumer keeps pins at most this much.
 */
const READ_CHUNK_BYTES = 256 * 1024;

/**
 * Read buffer of a connection that has not authenticated yet: handshake frames are a few
 * hundred bytes, and an unauthenticated peer must not cost a full chunk.
 */
export const HANDSHAKE_CHUNK_BYTES = 4 * 1024;
/** With less free space than this, the next read goes into a fresh buffer. */
const MIN_READ_SPACE = 8 * 1024;

/** What a {@link FrameReader} reads from: a TCP connection or anything alike. */
export interface ByteSource {
  /** Reads into `buffer`; resolves to the byte count, or `null` at end of stream. */
  read(buffer: Uint8Array): Promise<number | null>;
}

/**
 * Cuts a byte stream into frames. `next()` returns a complete frame already buffered
 * (or `undefined`); `fill()` reads more bytes. A frame larger than the buffer grows it,
 * up to `maxFrameBytes`; a frame announcing more than that is a protocol error.
 *
 * @example
 * ```ts
 * import { encode } from "../../kernel/codec.ts";
 * import { FrameReader } from "./wire.ts";
 * const frame = encode({
 *   kind: "SYS_PING", requestId: 1, src: "a", dst: "b", flags: 0, body: { data: new Uint8Array(3) },
 * });
 * let given = false;
 * const reader = new FrameReader({
 *   read: (buffer) => {
 *     if (given) return Promise.resolve(null);
 *     given = true;
 *     buffer.set(frame);
 *     return Promise.resolve(frame.length);
 *   },
 * }, 1 << 20);
 * await reader.fill();
 * const got = reader.next();
 * console.assert(got?.data === true && got.requestId === 1);
 * ```
 */
export class FrameReader {
  readonly #source: ByteSource;
  #maxFrameBytes: number;
  #chunk: number;
  #buffer: Uint8Array;
  #view: DataView;
  #start = 0;
  #end = 0;
  /** Bytes the frame at `#start` needs in all, once its header has been seen. */
  #need = 0;
  /** Bytes read from the source so far. */
  bytesRead = 0;

  /**
   * Reads frames of at most `maxFrameBytes` bytes (header included) from `source`, into
   * a buffer of `chunkBytes` (default 256 KiB) that grows only for a frame that needs it.
   */
  constructor(source: ByteSource, maxFrameBytes: number, chunkBytes = READ_CHUNK_BYTES) {
    this.#source = source;
    this.#maxFrameBytes = maxFrameBytes;
    this.#chunk = chunkBytes;
    this.#buffer = new Uint8Array(chunkBytes);
    this.#view = new DataView(this.#buffer.buffer);
  }

  /**
   * Changes the largest frame accepted from now on, and the read chunk (the handshake
   * runs with small ones, the connection with the configured limit and 256 KiB reads).
   * Returns this reader.
   */
  withLimit(maxFrameBytes: number, chunkBytes = READ_CHUNK_BYTES): this {
    this.#maxFrameBytes = maxFrameBytes;
    this.#chunk = chunkBytes;
    return this;
  }

  /** Bytes of read buffer this reader holds now. */
  get bufferBytes(): number {
    return this.#buffer.length;
  }

  /** Bytes buffered that do not yet make a whole frame (non-zero at EOF: a cut frame). */
  get partialBytes(): number {
    return this.#end - this.#start;
  }

  /**
   * The next complete frame in the buffer, or `undefined` when more bytes are needed.
   * Throws a {@link ProtocolError} for bytes that cannot start a frame.
   */
  next(): WireFrame | undefined {
    const available = this.#end - this.#start;
    if (available < 2 || available < this.#need) return undefined;
    const at = this.#start;
    const magic = this.#view.getUint16(at, true);
    if (magic === MAGIC) {
      if (available < HEADER_SIZE) return undefined;
      const view = this.#view;
      const flags = view.getUint8(at + 3);
      const bodyLength = view.getUint32(at + 12, true);
      // The checks of decodeHeader, minus the ids (the connection compares those as bytes).
      if (
        view.getUint8(at + 2) !== WIRE_VERSION || (flags & ~KNOWN_FLAGS) !== 0 ||
        ((flags & FLAG_ERROR) && !(flags & FLAG_REPLY)) ||
        !KIND_BY_CODE.has(view.getUint16(at + 4, true)) || view.getUint16(at + 6, true) !== 0 ||
        bodyLength > this.#maxFrameBytes - HEADER_SIZE
      ) {
        throw this.#badHeader(at);
      }
      const total = HEADER_SIZE + bodyLength;
      if (available < total) {
        this.#need = total;
        return undefined;
      }
      const frame: DataFrame = {
        data: true,
        flags,
        requestId: view.getUint32(at + 8, true),
        // A view: this part of the buffer is never written again.
        bytes: this.#buffer.subarray(at, at + total),
      };
      this.#consume(total);
      return frame;
    }
    if (magic === CONTROL_MAGIC) {
      if (available < CONTROL_HEADER_SIZE) return undefined;
      const version = this.#view.getUint8(at + 2);
      if (version !== CONTROL_VERSION) {
        throw new ProtocolError(`control frame version ${version} is not supported`);
      }
      const type = this.#view.getUint8(at + 3);
      if (!CONTROL_TYPES.has(type)) throw new ProtocolError(`unknown control frame type ${type}`);
      const size = this.#view.getUint32(at + 12, true);
      const total = CONTROL_HEADER_SIZE + size;
      if (total > this.#maxFrameBytes) {
        throw new ProtocolError(
          `${
            controlName(type)
          } frame of ${total} bytes is over the ${this.#maxFrameBytes}-byte limit`,
        );
      }
      if (available < total) {
        this.#need = total;
        return undefined;
      }
      const frame: ControlFrame = {
        data: false,
        type: type as ControlType,
        opId: this.#view.getUint32(at + 4, true),
        arg: this.#view.getUint32(at + 8, true),
        offset: this.#view.getFloat64(at + 16, true),
        length: this.#view.getFloat64(at + 24, true),
        payload: this.#buffer.subarray(at + CONTROL_HEADER_SIZE, at + total),
      };
      this.#consume(total);
      return frame;
    }
    throw new ProtocolError(
      `bad magic 0x${magic.toString(16).padStart(4, "0")}: not a legoemu frame`,
    );
  }

  /**
   * Reads more bytes from the source. Resolves `false` at end of stream. Throws what the
   * source throws (a reset connection, a closed socket).
   */
  async fill(): Promise<boolean> {
    const n = await this.read();
    if (n === null) return false;
    this.commit(n);
    return true;
  }

  /**
   * The two halves of {@link FrameReader.fill}, for a hot loop that wants no extra
   * promise: `read()` reads into the buffer and resolves to the count (or `null` at end
   * of stream); `commit(n)` makes those bytes available to `next()`. Call them in pairs.
   */
  read(): Promise<number | null> {
    this.#makeRoom();
    return this.#source.read(this.#buffer.subarray(this.#end));
  }

  /** See {@link FrameReader.read}. */
  commit(n: number): void {
    this.#end += n;
    this.bytesRead += n;
  }

  /** The error for a bad data frame header, worded by the codec. */
  #badHeader(at: number): ProtocolError {
    try {
      decodeHeader(this.#buffer.subarray(at, at + HEADER_SIZE), {
        maxBodyBytes: this.#maxFrameBytes - HEADER_SIZE,
      });
    } catch (e) {
      if (e instanceof DecodeError) {
        return new ProtocolError(`bad data frame header: ${e.message}`, { cause: e });
      }
    }
    return new ProtocolError("bad data frame header");
  }

  #consume(total: number): void {
    this.#start += total;
    this.#need = 0;
    // A buffer grown for a big frame is not read into again: small frames viewing it
    // would keep all of it alive.
    if (this.#start === this.#end && this.#buffer.length > this.#chunk) {
      this.#fresh(0);
    }
  }

  /** Makes sure there is room to read, for at least the whole of a known pending frame. */
  #makeRoom(): void {
    const pending = this.#end - this.#start;
    const free = this.#buffer.length - this.#end;
    const space = Math.min(MIN_READ_SPACE, this.#chunk / 2);
    if (free >= space && free >= this.#need - pending) return;
    this.#fresh(Math.max(this.#chunk, this.#need, pending + space));
  }

  /** Moves to a new buffer of `size` bytes (at least a chunk), carrying the pending bytes. */
  #fresh(size: number): void {
    const buffer = new Uint8Array(Math.max(size, this.#chunk));
    buffer.set(this.#buffer.subarray(this.#start, this.#end));
    this.#end -= this.#start;
    this.#start = 0;
    this.#buffer = buffer;
    this.#view = new DataView(buffer.buffer);
  }
}
