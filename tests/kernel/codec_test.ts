import assert from "node:assert/strict";
import fc from "fast-check";
import {
  copyMessage,
  decode,
  decodeHeader,
  encode,
  FrameEncoder,
  HEADER_SIZE,
  MAGIC,
  type Message,
  WIRE_VERSION,
} from "../../kernel/codec.ts";
import { DecodeError, type DecodeProblem, KernelError } from "../../kernel/errors.ts";
import {
  type BodySpec,
  ERROR_BODY,
  type FieldType,
  FLAG_ERROR,
  FLAG_ONE_WAY,
  FLAG_REPLY,
  MAX_STRING_BYTES,
  MESSAGE_KIND_NAMES,
  MESSAGE_KINDS,
  type MessageKind,
  PAGE_SIZE,
} from "../../kernel/messages.ts";

const utf8 = new TextEncoder();

// ---------------------------------------------------------------------------------------
// Arbitraries, built generically from the field types of the message table.

const componentIdArb = fc.stringMatching(/^[a-z][a-z0-9_-]{0,15}$/);
const requestIdArb = fc.oneof(
  fc.integer({ min: 0, max: 0xffffffff }),
  fc.constantFrom(0, 1, 0xffffffff),
);

/** Strings within MAX_STRING_BYTES: any code point (up to 4 UTF-8 bytes each). */
const strArb = fc.oneof(
  fc.string({ unit: "binary", maxLength: MAX_STRING_BYTES / 4 }),
  fc.string({ unit: "grapheme", maxLength: 64 }),
  fc.constant("é".repeat(MAX_STRING_BYTES / 2)),
).filter((s) => utf8.encode(s).length <= MAX_STRING_BYTES);

const FIELD_ARBS: Record<FieldType, fc.Arbitrary<unknown>> = {
  u8: fc.integer({ min: 0, max: 0xff }),
  u16: fc.integer({ min: 0, max: 0xffff }),
  u32: fc.integer({ min: 0, max: 0xffffffff }),
  i32: fc.integer({ min: -0x80000000, max: 0x7fffffff }),
  u64: fc.oneof(fc.maxSafeNat(), fc.constantFrom(0, 2 ** 32, Number.MAX_SAFE_INTEGER)),
  f64: fc.oneof(fc.double(), fc.constantFrom(-0, NaN, Infinity, -Infinity, Number.MIN_VALUE)),
  bool: fc.boolean(),
  str: strArb,
  bytes: fc.uint8Array({ maxLength: 10_000 }),
  page: fc.uint8Array({ minLength: PAGE_SIZE, maxLength: PAGE_SIZE }),
  json: fc.jsonValue(),
};

function bodyArb(spec: BodySpec): fc.Arbitrary<Record<string, unknown>> {
  return fc.record(
    Object.fromEntries(Object.entries(spec).map(([name, type]) => [name, FIELD_ARBS[type]])),
  );
}

type Variant = "request" | "reply" | "error";

function specOf(kind: MessageKind, variant: Variant): BodySpec {
  return variant === "error" ? ERROR_BODY : MESSAGE_KINDS[kind][variant];
}

function messageArb(kind: MessageKind, variant: Variant): fc.Arbitrary<Message> {
  const flags = variant === "request"
    ? fc.constantFrom(0, FLAG_ONE_WAY)
    : fc.constant(variant === "reply" ? FLAG_REPLY : FLAG_REPLY | FLAG_ERROR);
  return fc.record({
    kind: fc.constant(kind),
    requestId: requestIdArb,
    src: componentIdArb,
    dst: componentIdArb,
    flags,
    body: bodyArb(specOf(kind, variant)),
  });
}

const anyMessageArb: fc.Arbitrary<Message> = fc
  .tuple(
    fc.constantFrom(...MESSAGE_KIND_NAMES),
    fc.constantFrom<Variant>("request", "reply", "error"),
  )
  .chain(([kind, variant]) => messageArb(kind, variant));

// ---------------------------------------------------------------------------------------
// Helpers.

function assertSameField(type: FieldType, actual: unknown, expected: unknown, name: string): void {
  switch (type) {
    case "bytes":
    case "page":
      assert.ok(actual instanceof Uint8Array, `${name} decodes to a Uint8Array`);
      assert.deepEqual(actual, expected, name);
      break;
    case "json":
      // JSON text cannot carry -0; compare with what JSON itself round-trips to.
      assert.deepEqual(actual, JSON.parse(JSON.stringify(expected)), name);
      break;
    default:
      assert.ok(Object.is(actual, expected), `${name}: ${String(actual)} !== ${String(expected)}`);
  }
}

function assertRoundTrip(message: Message): void {
  const frame = encode(message);
  const decoded = decode(frame);
  assert.equal(decoded.kind, message.kind);
  assert.equal(decoded.requestId, message.requestId);
  assert.equal(decoded.src, message.src);
  assert.equal(decoded.dst, message.dst);
  assert.equal(decoded.flags, message.flags);
  const spec: BodySpec = message.flags & FLAG_ERROR
    ? ERROR_BODY
    : MESSAGE_KINDS[message.kind][message.flags & FLAG_REPLY ? "reply" : "request"];
  assert.deepEqual(Object.keys(decoded.body), Object.keys(spec));
  for (const [name, type] of Object.entries(spec)) {
    assertSameField(type, decoded.body[name], message.body[name], name);
  }
  assert.equal(decodeHeader(frame).bodyLength, frame.length - HEADER_SIZE);
}

/** Runs decode and requires it to succeed or throw a DecodeError, nothing else. */
function decodeOrDecodeError(bytes: Uint8Array): void {
  try {
    decode(bytes);
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
  }
}

function assertDecodeError(bytes: Uint8Array, reason: DecodeProblem, options = {}): void {
  assert.throws(() => decode(bytes, options), (e) => {
    assert.ok(e instanceof DecodeError, `expected DecodeError, got ${e}`);
    assert.equal(e.reason, reason, e.message);
    assert.equal(e.code, "EBADMSG");
    return true;
  });
}

function frameOf(kind: MessageKind, body: Record<string, unknown>, flags = 0): Uint8Array {
  return encode({ kind, requestId: 5, src: "p0", dst: "m0", flags, body });
}

/** A header for `kind` followed by arbitrary body bytes, bodyLength set to match. */
function rawFrame(code: number, flags: number, body: Uint8Array): Uint8Array {
  const frame = new Uint8Array(HEADER_SIZE + body.length);
  const view = new DataView(frame.buffer);
  view.setUint16(0, MAGIC, true);
  view.setUint8(2, WIRE_VERSION);
  view.setUint8(3, flags);
  view.setUint16(4, code, true);
  view.setUint32(8, 1, true);
  view.setUint32(12, body.length, true);
  frame.set(utf8.encode("p0"), 16);
  frame.set(utf8.encode("m0"), 32);
  frame.set(body, HEADER_SIZE);
  return frame;
}

function assertEinval(fn: () => unknown): void {
  assert.throws(fn, (e) => e instanceof KernelError && e.code === "EINVAL");
}

// ---------------------------------------------------------------------------------------
// Properties.

for (const kind of MESSAGE_KIND_NAMES) {
  Deno.test(`encode() then decode() round-trips every ${kind} request, reply and error`, () => {
    for (const variant of ["request", "reply", "error"] as const) {
      fc.assert(fc.property(messageArb(kind, variant), assertRoundTrip), { numRuns: 60 });
    }
  });
}

Deno.test("FrameEncoder encodes every message exactly as encode(), reusing one buffer", () => {
  // One encoder for the whole run: each frame must be right whatever the previous (longer,
  // shorter, with other ids) left in its buffer.
  const encoder = new FrameEncoder();
  fc.assert(
    fc.property(anyMessageArb, (message) => {
      assert.deepEqual(encoder.encode(message), encode(message));
    }),
    { numRuns: 1500 },
  );
});

Deno.test("copyMessage() gives what decode(encode()) gives, with its frame size, sharing no bytes", () => {
  fc.assert(
    fc.property(anyMessageArb, (message) => {
      const frame = encode(message);
      const { frameBytes, ...copy } = copyMessage(message);
      assert.equal(frameBytes, frame.length);
      assert.deepEqual(copy, decode(frame));
      for (const [name, value] of Object.entries(copy.body)) {
        if (value instanceof Uint8Array) {
          assert.notEqual(value.buffer, (message.body[name] as Uint8Array).buffer, name);
        }
      }
    }),
    { numRuns: 1500 },
  );
});

Deno.test("copyMessage() refuses what encode() refuses, with the same error", () => {
  const good: Message = {
    kind: "P2M_PAGE_FLUSH",
    requestId: 9,
    src: "p0",
    dst: "m0",
    flags: 0,
    body: { pid: 1, vaddr: 4096, page: new Uint8Array(PAGE_SIZE) },
  };
  const bad: Message[] = [
    { ...good, src: "P 0" },
    { ...good, kind: "NOPE" as MessageKind },
    { ...good, flags: FLAG_ERROR },
    { ...good, requestId: -1 },
    { ...good, modelNs: -5 },
    { ...good, body: { ...good.body, page: new Uint8Array(PAGE_SIZE - 1) } },
    { ...good, body: { ...good.body, pid: 2 ** 32 } },
    { ...good, body: { pid: 1, page: good.body.page } },
    { ...good, kind: "P2S_STAT", body: { path: "\ud800" } },
    { ...good, kind: "SYS_PING", body: { data: [1, 2] } },
  ];
  for (const message of bad) {
    let expected: unknown;
    try {
      encode(message);
    } catch (e) {
      expected = e;
    }
    assert.ok(expected instanceof KernelError && expected.code === "EINVAL");
    assert.throws(() => copyMessage(message), {
      name: expected.name,
      message: expected.message,
    });
  }
  assert.equal(copyMessage(good).frameBytes, encode(good).length);
});

Deno.test("FrameEncoder's frame is overwritten by its next encode, and a bad message throws EINVAL", () => {
  const encoder = new FrameEncoder();
  const first = encoder.encode({
    kind: "P2M_BRK",
    requestId: 1,
    src: "p0",
    dst: "m0",
    flags: 0,
    body: { pid: 1, addr: 4096 },
  });
  encoder.encode({
    kind: "P2M_BRK",
    requestId: 2,
    src: "p0",
    dst: "m0",
    flags: 0,
    body: { pid: 1, addr: 8192 },
  });
  assert.equal(decode(first).requestId, 2, "the first frame's bytes were reused");
  assertEinval(() =>
    encoder.encode({
      kind: "P2M_BRK",
      requestId: 3,
      src: "P 0",
      dst: "m0",
      flags: 0,
      body: { pid: 1, addr: 0 },
    })
  );
});

Deno.test("decode() of random bytes returns a message or throws DecodeError", () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), decodeOrDecodeError), {
    numRuns: 2000,
  });
});

Deno.test("decode() of a valid header with a random body returns a message or throws DecodeError", () => {
  const codes = MESSAGE_KIND_NAMES.map((kind) => MESSAGE_KINDS[kind].code);
  fc.assert(
    fc.property(
      fc.constantFrom(...codes),
      fc.constantFrom(0, FLAG_ONE_WAY, FLAG_REPLY, FLAG_REPLY | FLAG_ERROR),
      fc.uint8Array({ maxLength: 300 }),
      (code, flags, body) => decodeOrDecodeError(rawFrame(code, flags, body)),
    ),
    { numRuns: 3000 },
  );
});

Deno.test("decode() of a frame with flipped bytes returns a message or throws DecodeError", () => {
  fc.assert(
    fc.property(
      anyMessageArb,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), {
        minLength: 1,
        maxLength: 4,
      }),
      (message, flips) => {
        const frame = encode(message);
        for (const [at, mask] of flips) frame[at % frame.length] ^= mask;
        decodeOrDecodeError(frame);
      },
    ),
    { numRuns: 1000 },
  );
});

Deno.test("decode() of a frame with flipped body bytes returns a message or throws DecodeError", () => {
  // Body-only flips get past the header checks, so the body decoder sees them.
  fc.assert(
    fc.property(anyMessageArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (message, at, mask) => {
      const frame = encode(message);
      if (frame.length === HEADER_SIZE) return;
      frame[HEADER_SIZE + (at % (frame.length - HEADER_SIZE))] ^= mask;
      decodeOrDecodeError(frame);
    }),
    { numRuns: 1000 },
  );
});

Deno.test("decode() rejects every truncation of a valid frame with TRUNCATED", () => {
  const small = { ...FIELD_ARBS, bytes: fc.uint8Array({ maxLength: 16 }) };
  for (const kind of MESSAGE_KIND_NAMES) {
    for (const variant of ["request", "reply", "error"] as const) {
      const spec = specOf(kind, variant);
      const [body] = fc.sample(
        fc.record(Object.fromEntries(Object.entries(spec).map(([n, t]) => [n, small[t]]))),
        { seed: 1, numRuns: 1 },
      );
      const flags = variant === "request"
        ? 0
        : variant === "reply"
        ? FLAG_REPLY
        : FLAG_REPLY | FLAG_ERROR;
      const frame = frameOf(kind, body, flags);
      for (let length = 0; length < frame.length; length++) {
        assertDecodeError(frame.subarray(0, length), "TRUNCATED");
      }
      decode(frame);
    }
  }
});

Deno.test("decode() rejects a valid frame with extra bytes appended with TRAILING_BYTES", () => {
  fc.assert(
    fc.property(anyMessageArb, fc.uint8Array({ minLength: 1, maxLength: 8 }), (message, extra) => {
      const frame = encode(message);
      const longer = new Uint8Array(frame.length + extra.length);
      longer.set(frame);
      longer.set(extra, frame.length);
      assertDecodeError(longer, "TRAILING_BYTES");
    }),
    { numRuns: 200 },
  );
});

// ---------------------------------------------------------------------------------------
// Specific cases.

Deno.test("decode() rejects a truncated header with TRUNCATED", () => {
  assertDecodeError(new Uint8Array(0), "TRUNCATED");
  assertDecodeError(frameOf("P2M_EXIT", { pid: 1 }).subarray(0, HEADER_SIZE - 1), "TRUNCATED");
  assert.throws(
    () => decodeHeader(new Uint8Array(3)),
    (e) => e instanceof DecodeError && e.reason === "TRUNCATED" && /64/.test(e.message),
  );
});

Deno.test("decode() rejects a bad magic number with BAD_MAGIC", () => {
  const frame = frameOf("P2M_EXIT", { pid: 1 });
  frame[0] ^= 0xff;
  assertDecodeError(frame, "BAD_MAGIC");
});

Deno.test("decode() rejects an unsupported version with BAD_VERSION", () => {
  const frame = frameOf("P2M_EXIT", { pid: 1 });
  frame[2] = 1; // the version before model time rode in the header
  assertDecodeError(frame, "BAD_VERSION");
});

Deno.test("model time round-trips in the header; a negative or NaN one is BAD_MODEL_TIME", () => {
  const frame = encode({
    kind: "P2M_EXIT",
    requestId: 5,
    src: "p0",
    dst: "m0",
    flags: FLAG_REPLY,
    body: { pagesFreed: 0 },
    modelNs: 12_345.5,
    queueNs: 45,
  });
  const message = decode(frame);
  assert.equal(message.modelNs, 12_345.5);
  assert.equal(message.queueNs, 45);
  assert.equal(decode(frameOf("P2M_EXIT", { pid: 1 })).modelNs, 0);
  for (const bad of [-1, NaN, Infinity]) {
    const copy = frame.slice();
    new DataView(copy.buffer).setFloat64(48, bad, true);
    assertDecodeError(copy, "BAD_MODEL_TIME");
    assertEinval(() => encode({ ...message, modelNs: bad }));
  }
});

Deno.test("decode() rejects bad flags and non-zero reserved bytes with BAD_FLAGS", () => {
  const frame = frameOf("P2M_EXIT", { pid: 1 });
  frame[3] = FLAG_ERROR; // An error that is not a reply.
  assertDecodeError(frame, "BAD_FLAGS");
  frame[3] = 0x80;
  assertDecodeError(frame, "BAD_FLAGS");
  frame[3] = 0;
  frame[7] = 1;
  assertDecodeError(frame, "BAD_FLAGS");
});

Deno.test("decode() rejects an unknown kind with UNKNOWN_KIND", () => {
  const frame = frameOf("P2M_EXIT", { pid: 1 });
  new DataView(frame.buffer).setUint16(4, 0x0fff, true);
  assert.throws(
    () => decode(frame),
    (e) => e instanceof DecodeError && e.reason === "UNKNOWN_KIND" && /0xfff/.test(e.message),
  );
});

Deno.test("decode() rejects a body over maxBodyBytes with OVERSIZED", () => {
  const frame = frameOf("SYS_PING", { data: new Uint8Array(100) });
  assertDecodeError(frame, "OVERSIZED", { maxBodyBytes: 50 });
  assert.throws(
    () => decodeHeader(frame, { maxBodyBytes: 50 }),
    (e) => e instanceof DecodeError && e.reason === "OVERSIZED",
  );
  assert.equal(decode(frame, { maxBodyBytes: 104 }).kind, "SYS_PING");
  // A lying header is caught before anything is allocated for it.
  new DataView(frame.buffer).setUint32(12, 0xffffffff, true);
  assertDecodeError(frame, "OVERSIZED");
});

Deno.test("decode() rejects bytes left after the last field with TRAILING_BYTES", () => {
  const frame = frameOf("P2M_EXIT", { pid: 1 });
  const longer = new Uint8Array(frame.length + 2);
  longer.set(frame);
  new DataView(longer.buffer).setUint32(12, 6, true); // The header owns up to the extra bytes.
  assert.throws(
    () => decode(longer),
    (e) => e instanceof DecodeError && e.reason === "TRAILING_BYTES" && /left over/.test(e.message),
  );
});

Deno.test("decode() rejects a string that is not UTF-8 with BAD_BODY", () => {
  const frame = frameOf("P2S_STAT", { path: "ab" });
  frame[HEADER_SIZE + 2] = 0xff;
  assert.throws(
    () => decode(frame),
    (e) => e instanceof DecodeError && e.reason === "BAD_BODY" && /UTF-8/.test(e.message),
  );
});

Deno.test("decode() rejects a bool byte other than 0 or 1 with BAD_BODY", () => {
  const frame = frameOf("P2S_WRITE", {
    path: "/f",
    offset: 0,
    data: new Uint8Array(1),
    sync: true,
  });
  assert.equal(frame[frame.length - 1], 1);
  frame[frame.length - 1] = 2;
  assert.throws(
    () => decode(frame),
    (e) => e instanceof DecodeError && e.reason === "BAD_BODY" && /sync/.test(e.message),
  );
});

Deno.test("decode() rejects a u64 beyond 2^53 - 1 with BAD_BODY", () => {
  const frame = frameOf("P2M_BRK", { pid: 1, addr: 0 });
  new DataView(frame.buffer).setBigUint64(HEADER_SIZE + 4, 2n ** 53n, true);
  assertDecodeError(frame, "BAD_BODY");
});

Deno.test("decode() rejects a field whose length runs past the body with BAD_BODY", () => {
  const frame = frameOf("SYS_PING", { data: new Uint8Array(4) });
  new DataView(frame.buffer).setUint32(HEADER_SIZE, 5, true);
  assertDecodeError(frame, "BAD_BODY");
  const str = frameOf("P2S_STAT", { path: "" });
  const long = rawFrame(MESSAGE_KINDS.P2S_STAT.code, 0, new Uint8Array(2 + 4097));
  new DataView(long.buffer).setUint16(HEADER_SIZE, 4097, true);
  assertDecodeError(long, "BAD_BODY");
  assert.equal(decode(str).body.path, "");
});

Deno.test("decode() rejects invalid JSON with BAD_BODY", () => {
  const frame = frameOf("MGR_HEARTBEAT", { load: { a: 1 } });
  frame[HEADER_SIZE + 4] = "[".charCodeAt(0);
  assertDecodeError(frame, "BAD_BODY");
});

Deno.test("decode() rejects an invalid component id with BAD_ID", () => {
  const upper = frameOf("P2M_EXIT", { pid: 1 });
  upper[16] = "P".charCodeAt(0);
  assertDecodeError(upper, "BAD_ID");
  const afterNul = frameOf("P2M_EXIT", { pid: 1 });
  afterNul[32 + 5] = "x".charCodeAt(0);
  assertDecodeError(afterNul, "BAD_ID");
  const empty = frameOf("P2M_EXIT", { pid: 1 });
  empty.fill(0, 32, 48);
  assertDecodeError(empty, "BAD_ID");
});

Deno.test("decode() returns page and bytes fields as views into the frame", () => {
  const page = new Uint8Array(PAGE_SIZE).fill(0xab);
  const frame = frameOf("P2M_PAGE_FETCH", { page }, FLAG_REPLY);
  const decoded = decode(frame).body.page as Uint8Array;
  assert.equal(decoded.buffer, frame.buffer);
  assert.equal(decoded.byteOffset, HEADER_SIZE);
  frame[HEADER_SIZE] = 1;
  assert.equal(decoded[0], 1, "no copy was made");
  assert.equal(page[0], 0xab, "encode copied the page into the frame");
});

Deno.test("decode() reads a frame that sits at an offset inside a larger buffer", () => {
  const frame = frameOf("P2M_BRK", { pid: 9, addr: 0x1234_5678_9abc });
  const big = new Uint8Array(frame.length + 10);
  big.set(frame, 3);
  const decoded = decode(big.subarray(3, 3 + frame.length));
  assert.deepEqual(decoded.body, { pid: 9, addr: 0x1234_5678_9abc });
});

Deno.test("encode() accepts a string of exactly MAX_STRING_BYTES and rejects one more", () => {
  const path = "a".repeat(MAX_STRING_BYTES);
  assert.equal(decode(frameOf("P2S_STAT", { path })).body.path, path);
  assertEinval(() => frameOf("P2S_STAT", { path: path + "b" }));
  assertEinval(() => frameOf("P2S_STAT", { path: "€".repeat(1366) })); // 4098 bytes.
});

Deno.test("encode() rejects a page of the wrong size with EINVAL", () => {
  assertEinval(() =>
    frameOf("P2M_PAGE_FETCH", { page: new Uint8Array(PAGE_SIZE - 1) }, FLAG_REPLY)
  );
  assertEinval(() =>
    frameOf("P2M_PAGE_FETCH", { page: new Uint8Array(PAGE_SIZE + 1) }, FLAG_REPLY)
  );
  assertEinval(() => frameOf("P2M_PAGE_FETCH", { page: [] }, FLAG_REPLY));
});

Deno.test("encode() rejects integers out of range with EINVAL", () => {
  assertEinval(() => frameOf("P2M_EXIT", { pid: 2 ** 32 }));
  assertEinval(() => frameOf("P2M_EXIT", { pid: -1 }));
  assertEinval(() => frameOf("P2M_EXIT", { pid: 1.5 }));
  assertEinval(() => frameOf("P2M_EXIT", { pid: "1" }));
  assertEinval(() => frameOf("P2M_BRK", { pid: 1, addr: 2 ** 53 }));
  assertEinval(() => frameOf("MGR_PROCESS_EXIT", { pid: 1, exitCode: 2 ** 31, error: "" }));
});

Deno.test("encode() rejects bad ids, request ids and flags with EINVAL", () => {
  const body = { pid: 1 };
  assertEinval(() =>
    encode({ kind: "P2M_EXIT", requestId: 1, src: "P0", dst: "m0", flags: 0, body })
  );
  assertEinval(() =>
    encode({ kind: "P2M_EXIT", requestId: 2 ** 32, src: "p0", dst: "m0", flags: 0, body })
  );
  assertEinval(() =>
    encode({ kind: "P2M_EXIT", requestId: 1, src: "p0", dst: "m0", flags: FLAG_ERROR, body })
  );
  assertEinval(() =>
    encode({ kind: "NOPE" as MessageKind, requestId: 1, src: "p0", dst: "m0", flags: 0, body })
  );
});

Deno.test("encode() rejects a string with a lone surrogate instead of altering it", () => {
  assertEinval(() => frameOf("P2S_STAT", { path: "/tmp/\ud800x" }));
});

Deno.test("a string that begins with U+FEFF (a byte-order mark) round-trips with it", () => {
  for (const path of ["\uFEFF", "\uFEFF/tmp/a", "a\uFEFF"]) {
    assert.equal(decode(frameOf("P2S_STAT", { path })).body.path, path);
  }
});

Deno.test("encode() of any UTF-16 string either round-trips it exactly or rejects with EINVAL", () => {
  const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((u) => String.fromCharCode(u));
  fc.assert(
    fc.property(fc.string({ unit: codeUnit, maxLength: 40 }), (path) => {
      let frame: Uint8Array;
      try {
        frame = frameOf("P2S_STAT", { path });
      } catch (e) {
        assert.ok(e instanceof KernelError && e.code === "EINVAL");
        return;
      }
      assert.equal(decode(frame).body.path, path);
    }),
    { numRuns: 500 },
  );
});

Deno.test("encode() rejects a json field that JSON cannot represent with EINVAL", () => {
  assertEinval(() => frameOf("MGR_HEARTBEAT", { load: undefined }));
  assertEinval(() => frameOf("MGR_HEARTBEAT", { load: 1n }));
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  assertEinval(() => frameOf("MGR_HEARTBEAT", { load: cycle }));
});
