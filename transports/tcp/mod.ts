/**
 * The TCP transport: one OS process per component (or several components per process),
 * on one host or across hosts.
 *
 * - **Frames**: the one binary codec, unchanged, on a byte stream (the codec header
 *   carries the body length); transport control frames (handshake, credits, one-sided
 *   operations, lookups, liveness) share the stream under their own magic (`wire.ts`).
 * - **Connectionless from above**: monitors address ids; connections are dialled on
 *   first use, either side's connection serves both directions, and a lost one is
 *   re-dialled with exponential backoff (a restarted peer is found again, re-resolving
 *   its address when the old one stops answering).
 * - **One shared receive queue** per component, fed by every connection, with
 *   credit-based flow control: a send waits while the receiver's queue is full.
 * - **One-sided read/write** on registered regions, served by the target's transport
 *   from its read loop; the target's monitor never sees them.
 * - **Cluster secret**: a mutual HMAC challenge–response at the handshake
 *   (`handshake.ts`); a peer without the secret, or with a wrong one, is refused and
 *   logged.
 * - **Robustness**: garbage bytes, a frame over `maxFrameBytes` or a connection cut
 *   mid-frame close that connection only. When a connection is lost, requests that
 *   awaited replies over it fail at once with `EHOSTUNREACH`.
 * - **Address book**: id → `host:port`, from static entries (`peers`, the manager's
 *   address), from peers' handshakes, and from WHOIS lookups answered by the manager's
 *   endpoint, which every component dials when it joins.
 *
 * @example
 * ```ts
 * import { createTcpTransport } from "./mod.ts";
 * import { encode } from "../../kernel/codec.ts";
 *
 * const transport = createTcpTransport({ log: () => {} });
 * const m0 = await transport.attach("m0", { listen: "127.0.0.1:0" });
 * const p0 = await transport.attach("p0", { listen: null });
 * await p0.send("m0", encode({
 *   kind: "SYS_PING", requestId: 1, src: "p0", dst: "m0", flags: 0,
 *   body: { data: new Uint8Array([7]) },
 * }));
 * const frame = await m0.receiveQueue.take();
 * console.assert(frame?.from === "p0");
 * await transport.close();
 * ```
 *
 * @module
 */

import { DEFAULT_MAX_BODY_BYTES, HEADER_SIZE } from "../../kernel/codec.ts";
import { KernelError } from "../../kernel/errors.ts";
import { type ComponentId, componentIdProblem } from "../../kernel/ids.ts";
import type { AttachOptions, Transport } from "../../kernel/transport.ts";
import { AddressBook, parseHostPort } from "./address.ts";
import {
  type EndpointSettings,
  type SharedState,
  type TcpEndpoint,
  TcpEndpointImpl,
} from "./endpoint.ts";
import { ClusterSecret } from "./handshake.ts";
import { ComponentKey } from "./component_key.ts";
import { readSecretFile } from "./secret.ts";

export type { TcpEndpoint, TcpEndpointStats } from "./endpoint.ts";
export type { ConnectionStats } from "./connection.ts";
export { formatHostPort, type HostPort, parseHostPort } from "./address.ts";
export { ClusterSecret, MIN_SECRET_BYTES } from "./handshake.ts";
export { ComponentKey } from "./component_key.ts";
export { readSecretFile, type SecretFile } from "./secret.ts";

/** Settings of a TCP transport; every field has a default. */
export interface TcpTransportOptions {
  /** Largest frame in bytes, header included (default: 48 + 16 MiB, the codec's limit). */
  maxFrameBytes?: number;
  /** Frames a peer may send before this side returns credits (default 256). */
  windowFrames?: number;
  /** Default receive queue capacity, in frames (default 4096). */
  receiveQueueFrames?: number;
  /** Longest wait for a TCP connection to open, in ms (default 3000). */
  connectTimeoutMs?: number;
  /** How long a lost peer is re-dialled (with backoff) before sends fail, in ms (default 5000). */
  reconnectTimeoutMs?: number;
  /** Longest handshake, in ms (default 5000). */
  handshakeTimeoutMs?: number;
  /** Unauthenticated inbound connections per listener; more are closed unread (default 128). */
  maxPendingHandshakes?: number;
  /** Longest wait for a one-sided operation or lookup, in ms (default 30 000). */
  opTimeoutMs?: number;
  /** Idle time before a liveness PING, in ms; silent for 3× this closes (default 5000; 0 off). */
  pingIntervalMs?: number;
  /** One-sided operations in flight per connection (default 256). */
  maxOpsInFlight?: number;
  /** Answer bytes queued for a peer before it is deemed not reading (default 64 MiB). */
  maxQueuedBytes?: number;
  /** Static address book entries: component id → `host:port`. */
  peers?: Record<ComponentId, string>;
  /** Default manager for every endpoint (see {@link TcpAttachOptions.manager}). */
  manager?: TcpManager;
  /** Default cluster secret for every endpoint (at least 16 bytes). */
  secret?: string | Uint8Array;
  /** Default file to read the cluster secret from. */
  secretFile?: string;
  /**
   * Default component key file (`deno task keys` writes them); `{id}` in the path is
   * replaced by the component id, e.g. `/etc/legoemu/{id}.key`. A key file wins over a
   * secret: the component can then prove only its own id.
   */
  keyFile?: string;
  /** Default log for every endpoint (default: standard error, prefixed by the id). */
  log?: (message: string) => void;
}

/** The manager whose endpoint answers address lookups: an id, or an id and its address. */
export type TcpManager = ComponentId | { id: ComponentId; address?: string };

/** Per-component attach options of the TCP transport. */
export interface TcpAttachOptions extends AttachOptions {
  /** `host:port` to listen on (port 0: any free port); `null` or `""`: do not listen. Default `127.0.0.1:0`. */
  listen?: string | null;
  /** The manager to ask for addresses; with an address, it is also an address book entry. */
  manager?: TcpManager;
  /** The cluster secret (overrides the transport's). */
  secret?: string | Uint8Array;
  /** A file holding the cluster secret (overrides the transport's). */
  secretFile?: string;
  /** This component's key file (overrides the transport's; wins over a secret). */
  keyFile?: string;
  /** Where this endpoint's log lines go. */
  log?: (message: string) => void;
}

/** A TCP transport: `attach` returns {@link TcpEndpoint}s. */
export interface TcpTransport extends Transport {
  /** Attaches component `id`, listening where `options.listen` says. */
  attach(id: ComponentId, options?: TcpAttachOptions): Promise<TcpEndpoint>;
  /** The address book, for inspection: component id → `host:port`. */
  addressBook(): Record<ComponentId, string>;
}

const DEFAULTS = {
  maxFrameBytes: HEADER_SIZE + DEFAULT_MAX_BODY_BYTES,
  windowFrames: 256,
  receiveQueueFrames: 4096,
  connectTimeoutMs: 3000,
  reconnectTimeoutMs: 5000,
  handshakeTimeoutMs: 5000,
  maxPendingHandshakes: 128,
  opTimeoutMs: 30_000,
  pingIntervalMs: 5000,
  maxOpsInFlight: 256,
  maxQueuedBytes: 64 * 1024 * 1024,
};

type NumericOption = keyof typeof DEFAULTS;

const LIMITS: Record<NumericOption, readonly [number, number]> = {
  maxFrameBytes: [HEADER_SIZE + 4096 + 64, 2 ** 31],
  windowFrames: [1, 1 << 20],
  receiveQueueFrames: [1, 1 << 24],
  connectTimeoutMs: [1, 3_600_000],
  reconnectTimeoutMs: [0, 86_400_000],
  handshakeTimeoutMs: [1, 3_600_000],
  maxPendingHandshakes: [1, 1 << 16],
  opTimeoutMs: [1, 86_400_000],
  pingIntervalMs: [0, 3_600_000],
  maxOpsInFlight: [1, 1 << 16],
  maxQueuedBytes: [1 << 20, 2 ** 40],
};

function numeric(options: TcpTransportOptions): Record<NumericOption, number> {
  const result = { ...DEFAULTS };
  for (const name of Object.keys(DEFAULTS) as NumericOption[]) {
    const value = options[name];
    if (value === undefined) continue;
    const [min, max] = LIMITS[name];
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
      throw new KernelError(
        "EINVAL",
        `tcp transport option ${name} must be an integer from ${min} to ${max}, got ${
          String(value)
        }`,
      );
    }
    result[name] = value;
  }
  return result;
}

function managerOf(
  manager: TcpManager | undefined,
): { id: ComponentId; address?: string } | undefined {
  if (manager === undefined) return undefined;
  const value = typeof manager === "string" ? { id: manager } : manager;
  const problem = componentIdProblem(value?.id);
  if (problem) throw new KernelError("EINVAL", `tcp transport manager: ${problem}`);
  if (value.address !== undefined) parseHostPort(value.address);
  return value;
}

/**
 * Creates a TCP transport. Throws a `KernelError` (`EINVAL`) naming a bad option.
 *
 * @example
 * ```ts
 * import { createTcpTransport } from "./mod.ts";
 * const transport = createTcpTransport({ windowFrames: 64, log: () => {} });
 * const endpoint = await transport.attach("gm", { listen: "127.0.0.1:0" });
 * console.assert(endpoint.addresses.tcp?.startsWith("127.0.0.1:"));
 * await transport.close();
 * ```
 */
export function createTcpTransport(options: TcpTransportOptions = {}): TcpTransport {
  const settings = numeric(options);
  const defaultManager = managerOf(options.manager);
  const shared: SharedState = { book: new AddressBook(options.peers ?? {}), local: new Map() };
  if (defaultManager?.address) shared.book.set(defaultManager.id, defaultManager.address, "static");
  const attaching = new Set<ComponentId>();
  const endpoints = new Set<TcpEndpointImpl>();
  let closed = false;

  const attach = async (id: ComponentId, attachOptions: TcpAttachOptions = {}) => {
    if (closed) throw new KernelError("ESHUTDOWN", "tcp transport is closed");
    const problem = componentIdProblem(id);
    if (problem) throw new KernelError("EINVAL", problem);
    if (shared.local.has(id) || attaching.has(id)) {
      throw new KernelError("EEXIST", `component ${id} is already attached`);
    }
    attaching.add(id);
    try {
      const log = attachOptions.log ?? options.log ??
        ((message: string) => console.error(`[${id}] tcp: ${message}`));
      const listenText = attachOptions.listen === undefined ? "127.0.0.1:0" : attachOptions.listen;
      const listen = listenText ? parseHostPort(listenText) : undefined;
      const manager = managerOf(attachOptions.manager) ?? defaultManager;
      if (manager?.address) shared.book.set(manager.id, manager.address, "static");
      const queueFrames = attachOptions.receiveQueueFrames ?? settings.receiveQueueFrames;
      if (typeof queueFrames !== "number" || !Number.isInteger(queueFrames) || queueFrames < 1) {
        throw new KernelError(
          "EINVAL",
          `receiveQueueFrames must be a positive integer, got ${String(queueFrames)}`,
        );
      }
      const key = await loadKey(id, attachOptions, options, log);
      if (closed) throw new KernelError("ESHUTDOWN", "tcp transport is closed");
      const endpointSettings: EndpointSettings = {
        ...settings,
        id,
        listen,
        manager: manager?.id,
        key,
        queueFrames,
        log,
      };
      const endpoint = TcpEndpointImpl.open(endpointSettings, shared);
      if (!key && endpoint.listenAddress) {
        log(
          `no cluster secret: anyone who reaches ${endpoint.listenAddress} may join; give a secret file to require one`,
        );
      }
      shared.local.set(id, endpoint);
      endpoints.add(endpoint);
      return endpoint;
    } finally {
      attaching.delete(id);
    }
  };

  return {
    name: "tcp",
    attach,
    addressBook: () => shared.book.entries(),
    async close() {
      closed = true;
      await Promise.all([...endpoints].map((endpoint) => endpoint.close()));
    },
  };
}

async function loadKey(
  id: ComponentId,
  attach: TcpAttachOptions,
  options: TcpTransportOptions,
  log: (message: string) => void,
): Promise<ComponentKey | undefined> {
  const mine = attach.secret !== undefined || attach.secretFile !== undefined ||
    attach.keyFile !== undefined;
  const from = mine ? attach : options;
  if (from.keyFile !== undefined) {
    const path = from.keyFile.replaceAll("{id}", id);
    let key: ComponentKey;
    try {
      key = await ComponentKey.fromText(await Deno.readTextFile(path));
    } catch (e) {
      const why = e instanceof Deno.errors.NotFound ? "file not found" : (e as Error).message;
      throw new KernelError("EINVAL", `cannot use the key file ${path}: ${why}`);
    }
    if (key.id !== id) {
      throw new KernelError(
        "EACCES",
        `the key file ${path} holds the key of ${key.id}; ${id} needs its own`,
      );
    }
    return key;
  }
  let raw: string | Uint8Array | undefined = from.secret;
  const file = from.secretFile;
  if (raw === undefined && file !== undefined) {
    const read = await readSecretFile(file);
    if (read.warning) log(read.warning);
    raw = read.secret;
  }
  if (raw === undefined) return undefined;
  try {
    return await (await ClusterSecret.from(raw)).componentKey(id);
  } catch (e) {
    throw new KernelError("EINVAL", (e as Error).message);
  }
}
