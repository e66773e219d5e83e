/**
 * The fuzz targets: the codec, the cluster-config loader, the TCP frame reader and the
 * HTTP control plane. Each target is a fast-check property whose only allowed failures
 * are the typed errors its input can cause; anything else (another error class, a 500,
 * a non-JSON error body, a hang past the per-case deadline) fails the property.
 * `fuzz_test.ts` runs a few hundred cases of each; `deno task fuzz` runs 100 000.
 *
 * @module
 */

import fc from "fast-check";
import { decode, decodeHeader, encode, type Message } from "../../kernel/codec.ts";
import { ConfigError, parseClusterConfig } from "../../kernel/config.ts";
import { DecodeError } from "../../kernel/errors.ts";
import {
  ERROR_BODY,
  type FieldType,
  FLAG_ERROR,
  FLAG_ONE_WAY,
  FLAG_REPLY,
  MESSAGE_KIND_NAMES,
  MESSAGE_KINDS,
} from "../../kernel/messages.ts";
import { createControlApp } from "../../monitors/manager/control/app.ts";
import type { ControlSource } from "../../monitors/manager/control/source.ts";
import { FrameReader, ProtocolError } from "../../transports/tcp/wire.ts";
import { Control, type ControlType, encodeJsonControl } from "../../transports/tcp/wire.ts";

/** One fuzz target: a name and its property for `numRuns` cases from `seed`. */
export interface FuzzTarget {
  /** Short name (`codec`, `config`, `frame-reader`, `http`). */
  readonly name: string;
  /** Runs `numRuns` cases; throws fast-check's report on a failing case. */
  run(numRuns: number, seed: number): Promise<void>;
}

const FIELD: Record<FieldType, fc.Arbitrary<unknown>> = {
  u8: fc.integer({ min: 0, max: 0xff }),
  u16: fc.integer({ min: 0, max: 0xffff }),
  u32: fc.integer({ min: 0, max: 0xffffffff }),
  i32: fc.integer({ min: -0x80000000, max: 0x7fffffff }),
  u64: fc.maxSafeNat(),
  f64: fc.double(),
  bool: fc.boolean(),
  str: fc.string({ maxLength: 64 }),
  bytes: fc.uint8Array({ maxLength: 256 }),
  // A page from a seed: generating 4096 bytes one by one would dominate the run.
  page: fc.integer().map((seed) => {
    const page = new Uint8Array(4096);
    let x = seed | 1;
    for (let i = 0; i < page.length; i++) {
      page[i] = (x = Math.imul(x ^ (x >>> 15), 0x2c1b3c6d)) & 0xff;
    }
    return page;
  }),
  json: fc.jsonValue({ maxDepth: 3 }),
} as Record<FieldType, fc.Arbitrary<unknown>>;

const shortIdArb = fc.stringMatching(/^[a-z][a-z0-9]{0,7}$/);

/** One arbitrary per kind and variant, built once (building them per case is slow). */
const MESSAGE_ARBS: fc.Arbitrary<Message>[] = MESSAGE_KIND_NAMES.flatMap((kind) =>
  (["request", "reply", "error"] as const).map((variant) => {
    const spec = variant === "error" ? ERROR_BODY : (MESSAGE_KINDS[kind] as unknown as Record<
      string,
      Record<string, FieldType>
    >)[variant];
    const flags = variant === "request"
      ? fc.constantFrom(0, FLAG_ONE_WAY)
      : fc.constant(variant === "reply" ? FLAG_REPLY : FLAG_REPLY | FLAG_ERROR);
    return fc.record({
      kind: fc.constant(kind),
      requestId: fc.integer({ min: 0, max: 0xffffffff }),
      src: shortIdArb,
      dst: shortIdArb,
      flags,
      body: fc.record(
        Object.fromEntries(Object.entries(spec).map(([name, type]) => [name, FIELD[type]])),
      ),
    });
  })
);

/** Valid messages of every kind (requests, replies, error replies). */
const messageArb: fc.Arbitrary<Message> = fc.integer({
  min: 0,
  max: MESSAGE_ARBS.length - 1,
}).chain((i) => MESSAGE_ARBS[i]);

/** A valid frame, maybe damaged: bytes flipped, cut short, or grown. */
const damagedFrameArb: fc.Arbitrary<Uint8Array> = fc.tuple(
  messageArb,
  fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
  fc.option(fc.nat(), { nil: undefined }),
  fc.uint8Array({ maxLength: 16 }),
).map(([message, flips, cut, tail]) => {
  let frame: Uint8Array;
  try {
    frame = encode(message);
  } catch {
    frame = new Uint8Array(0);
  }
  const out = new Uint8Array(frame.length + tail.length);
  out.set(frame);
  out.set(tail, frame.length);
  for (const [at, value] of flips) if (out.length) out[at % out.length] = value;
  return cut === undefined || out.length === 0 ? out : out.subarray(0, cut % out.length);
});

const bytesArb = fc.oneof(
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 512 }) },
  { weight: 3, arbitrary: damagedFrameArb },
);

/** Runs a synchronous property as the promise a {@link FuzzTarget} returns. */
function syncRun(run: () => void): Promise<void> {
  try {
    run();
    return Promise.resolve();
  } catch (e) {
    return Promise.reject(e);
  }
}

/** Fails unless `error` is one of `types`. */
function expectTyped(error: unknown, ...types: (abstract new (...a: never[]) => Error)[]): void {
  if (types.some((t) => error instanceof t)) return;
  throw new Error(`untyped failure: ${(error as Error)?.stack ?? String(error)}`);
}

const codec: FuzzTarget = {
  name: "codec",
  run: (numRuns, seed) =>
    syncRun(() =>
      fc.assert(
        fc.property(bytesArb, (bytes) => {
          try {
            decodeHeader(bytes);
          } catch (e) {
            expectTyped(e, DecodeError);
          }
          try {
            const message = decode(bytes);
            // What decodes must encode again to a frame that decodes the same.
            const again = decode(encode(message));
            if (again.kind !== message.kind || again.requestId !== message.requestId) {
              throw new Error("a decoded message did not survive encode → decode");
            }
          } catch (e) {
            expectTyped(e, DecodeError);
          }
        }),
        { numRuns, seed },
      )
    ),
};

const baseConfig = {
  name: "fuzz",
  transport: { plugin: "tcp", options: { secretFile: "x.secret" } },
  components: [
    { id: "gm", role: "manager", address: "127.0.0.1:7000" },
    { id: "p0", role: "processor", options: { cacheBytes: 65536 } },
    { id: "m0", role: "memory" },
    { id: "s0", role: "storage", options: { root: "/tmp/s0" } },
  ],
};

/** Replaces the value at a random path of `value` with `replacement`. */
function mutate(value: unknown, path: number[], replacement: unknown): unknown {
  if (path.length === 0 || value === null || typeof value !== "object") return replacement;
  const entries = Array.isArray(value)
    ? value.map((v, i) => [i, v] as const)
    : Object.entries(value);
  if (entries.length === 0) return replacement;
  const [key] = entries[path[0] % entries.length];
  const copy = (Array.isArray(value) ? [...value] : { ...value }) as Record<
    string | number,
    unknown
  >;
  copy[key] = mutate((value as Record<string | number, unknown>)[key], path.slice(1), replacement);
  return copy;
}

const configArb = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  fc.tuple(
    fc.array(fc.nat(), { maxLength: 5 }),
    fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom(undefined, "", -1, 1e309, "p0")),
  ).map(([path, replacement]) => mutate(baseConfig, path, replacement)),
  fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 6 })
    .map((extra) => ({ ...baseConfig, ...extra })),
);

const config: FuzzTarget = {
  name: "config",
  run: (numRuns, seed) =>
    syncRun(() =>
      fc.assert(
        fc.property(configArb, (value) => {
          try {
            parseClusterConfig(value, "fuzz.json");
          } catch (e) {
            expectTyped(e, ConfigError);
            if (!(e as ConfigError).message.startsWith("fuzz.json: ")) {
              throw new Error(
                `a config error that does not name the file: ${(e as Error).message}`,
              );
            }
          }
        }),
        { numRuns, seed },
      )
    ),
};

/** A byte source that hands out `chunks` one read at a time. */
function chunkSource(chunks: Uint8Array[]) {
  let i = 0;
  let pending: Uint8Array = new Uint8Array(0);
  return {
    read(into: Uint8Array): Promise<number | null> {
      while (pending.length === 0) {
        if (i >= chunks.length) return Promise.resolve(null);
        pending = chunks[i++];
      }
      const n = Math.min(into.length, pending.length);
      into.set(pending.subarray(0, n));
      pending = pending.subarray(n);
      return Promise.resolve(n);
    },
  };
}

const controlFrameArb = fc.tuple(fc.integer({ min: 0, max: 20 }), fc.jsonValue({ maxDepth: 2 }))
  .map(([type, body]) => encodeJsonControl({ type: type as ControlType }, body));

const streamArb = fc.array(
  fc.oneof(bytesArb, controlFrameArb, fc.constant(encodeJsonControl({ type: Control.PING }, {}))),
  { maxLength: 8 },
).chain((parts) => {
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 64 }).map((cuts) => {
    const chunks: Uint8Array[] = [];
    let from = 0;
    for (const cut of cuts) {
      if (from >= all.length) break;
      chunks.push(all.subarray(from, Math.min(all.length, from + cut)));
      from += cut;
    }
    if (from < all.length) chunks.push(all.subarray(from));
    return { total: all.length, chunks };
  });
});

const frameReader: FuzzTarget = {
  name: "frame-reader",
  run: (numRuns, seed) =>
    fc.assert(
      fc.asyncProperty(fc.boolean(), streamArb, async (small, { total, chunks }) => {
        const reader = new FrameReader(chunkSource(chunks), 1 << 16, small ? 4096 : 256 * 1024);
        let consumed = 0;
        try {
          while (true) {
            let frame;
            while ((frame = reader.next())) {
              consumed += frame.data ? frame.bytes.length : 32 + frame.payload.length;
            }
            if (!(await reader.fill())) break;
          }
        } catch (e) {
          expectTyped(e, ProtocolError);
        }
        if (consumed > total) throw new Error(`read ${consumed} frame bytes from ${total}`);
      }),
      { numRuns, seed, timeout: 5000 },
    ),
};

/** A control source over a fixed snapshot whose actions record instead of acting. */
function fakeSource(): ControlSource {
  const now = Date.now();
  const components = ["gm", "p0", "m0", "s0"].map((id, i) => ({
    id,
    role: ["manager", "processor", "memory", "storage"][i],
    state: "up",
    addresses: {},
    capacity: {},
    load: {},
    joinedAt: now,
    lastSeenAt: now,
  }));
  return {
    name: "fuzz",
    startedAt: now,
    snapshot: () =>
      ({
        components: components.map((c) => ({ ...c })),
        processes: [{
          pid: 1,
          threads: 1,
          processor: "p0",
          home: "m0",
          state: "exited",
          startedAt: now,
          exitCode: 0,
        }],
        vregions: [],
        files: [],
      }) as unknown as ReturnType<ControlSource["snapshot"]>,
    query: () => Promise.resolve({ ok: true }),
    events: {
      lastSeq: 0,
      recent: () => [],
      subscribe: () => () => {},
    } as unknown as ControlSource["events"],
    metrics: { collect: () => [] } as unknown as ControlSource["metrics"],
    latency: { name: "fuzz", describe: () => ({}) } as unknown as ControlSource["latency"],
    policies: () => ({}),
    actions: {
      spawn: () => Promise.resolve({ pid: 2, processor: "p0", home: "m0" }),
      kill: () => Promise.resolve(),
      drain: () => Promise.resolve(),
      stopComponent: () => Promise.resolve(),
      setPolicy: () => Promise.resolve(),
    },
  };
}

const TOKEN = "fuzz-token-0123456789abcdef";
const PATHS = [
  "/api/cluster",
  "/api/snapshot",
  "/api/components",
  "/api/components/{id}",
  "/api/components/{id}/drain",
  "/api/components/{id}/stop",
  "/api/processes",
  "/api/processes/{pid}",
  "/api/processes/{pid}/address-space",
  "/api/excache",
  "/api/memory",
  "/api/storage/files",
  "/api/transport",
  "/api/latency-model",
  "/api/events",
  "/api/policies",
  "/openapi.json",
  "/nowhere",
];

const requestArb = fc.record({
  method: fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"),
  path: fc.constantFrom(...PATHS),
  id: fc.oneof(fc.constantFrom("m0", "p0", "s0", "zz"), fc.string({ maxLength: 20 })),
  pid: fc.oneof(
    fc.constantFrom("1", "2", "0", "-1", "abc", "1e3", "4294967296"),
    fc.string({ maxLength: 8 }),
  ),
  query: fc.option(fc.string({ maxLength: 40 }), { nil: undefined }),
  host: fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom("localhost", "127.0.0.1:7080", "[::1]:1") },
    { weight: 1, arbitrary: fc.domain() },
  ),
  auth: fc.constantFrom("none", "right", "wrong"),
  contentType: fc.option(
    fc.oneof(
      fc.constantFrom(
        "application/json",
        "text/plain",
        "application/json; charset=utf-8",
        "multipart/form-data",
      ),
      fc.string({ maxLength: 30 }),
    ),
    { nil: undefined },
  ),
  body: fc.option(
    fc.oneof(
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
      fc.record({
        workload: fc.string({ maxLength: 30 }),
        args: fc.array(fc.string({ maxLength: 8 }), { maxLength: 4 }),
        threads: fc.integer({ min: -2, max: 300 }),
        drained: fc.oneof(fc.boolean(), fc.string()),
        kind: fc.constantFrom("process-placement", "replacement-policy", "x"),
        name: fc.string({ maxLength: 10 }),
      }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
      fc.string({ maxLength: 80 }),
    ),
    { nil: undefined },
  ),
});

const ALLOWED = new Set([200, 201, 202, 400, 401, 404, 405, 409, 413, 415, 421]);

const http: FuzzTarget = {
  name: "http",
  run: (numRuns, seed) => {
    const app = createControlApp(fakeSource(), { token: TOKEN, tickMs: 60_000 });
    return fc.assert(
      fc.asyncProperty(requestArb, async (r) => {
        const path = r.path.replace("{id}", encodeURIComponent(r.id)).replace(
          "{pid}",
          encodeURIComponent(r.pid),
        ) + (r.query === undefined ? "" : `?${r.query}`);
        const headers = new Headers();
        try {
          headers.set("host", r.host);
        } catch { /* a host the Headers class refuses */ }
        if (r.auth !== "none") {
          headers.set(
            "authorization",
            `Bearer ${r.auth === "right" ? TOKEN : "nope-nope-nope-nope"}`,
          );
        }
        if (r.contentType !== undefined) {
          try {
            headers.set("content-type", r.contentType);
          } catch { /* not a header value */ }
        }
        const hasBody = r.body !== undefined && r.method !== "GET" && r.method !== "HEAD";
        let url: string;
        try {
          url = new URL(path, "http://localhost").href;
        } catch {
          return;
        }
        const res = await app.fetch(
          new Request(url, { method: r.method, headers, body: hasBody ? r.body : undefined }),
        );
        if (!ALLOWED.has(res.status)) {
          throw new Error(`${r.method} ${path} answered ${res.status}: ${await res.text()}`);
        }
        const text = await res.text();
        if (res.status >= 400 && r.method !== "HEAD") {
          const body = JSON.parse(text);
          if (typeof body.error !== "string") throw new Error(`error without a message: ${text}`);
        }
      }),
      { numRuns, seed, timeout: 5000 },
    );
  },
};

/** Every fuzz target, in the order `deno task fuzz` runs them. */
export const FUZZ_TARGETS: readonly FuzzTarget[] = [codec, config, frameReader, http];
