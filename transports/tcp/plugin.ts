/**
 * The TCP transport as the `transport` plugin named `tcp`.
 *
 * Cluster-wide settings come from the config (`transport.options`); what differs per
 * component (where it listens, where the manager is, the secret) comes with `attach`.
 *
 * @module
 */

import { z } from "npm:zod@4.6.7";
import { DEFAULT_MAX_BODY_BYTES, HEADER_SIZE } from "../../kernel/codec.ts";
import { componentIdProblem } from "../../kernel/ids.ts";
import { definePlugin, type PluginDefinition } from "../../kernel/plugins.ts";
import type { Schema } from "../../kernel/zod_issues.ts";
import { parseHostPort } from "./address.ts";
import { createTcpTransport, type TcpTransport } from "./mod.ts";

/** Options of the TCP transport plugin (all have defaults). */
export interface TcpTransportPluginOptions {
  /** Largest frame in bytes, header included (default 48 + 16 MiB). */
  maxFrameBytes: number;
  /** Frames a peer may send before credits come back (default 256). */
  windowFrames: number;
  /** Capacity of each component's shared receive queue, in frames (default 4096). */
  receiveQueueFrames: number;
  /** Longest wait for a TCP connection to open, in ms (default 3000). */
  connectTimeoutMs: number;
  /** How long a lost peer is re-dialled before sends to it fail, in ms (default 5000). */
  reconnectTimeoutMs: number;
  /** Longest handshake, in ms (default 5000). */
  handshakeTimeoutMs: number;
  /** Unauthenticated inbound connections per listener; more are closed (default 128). */
  maxPendingHandshakes: number;
  /** Longest wait for a one-sided operation, in ms (default 30 000). */
  opTimeoutMs: number;
  /** Idle time before a liveness ping, in ms; 0 turns pings off (default 5000). */
  pingIntervalMs: number;
  /** File holding the cluster secret (at least 16 bytes); the CLI's `--secret-file` wins. */
  secretFile?: string;
  /** Component key files, `{id}` replaced by the component id (wins over a secret). */
  keyFile?: string;
  /** Fixed address book entries: component id → `host:port`. */
  peers: Record<string, string>;
}

const hostPort = z.string().refine((a) => {
  try {
    parseHostPort(a);
    return true;
  } catch {
    return false;
  }
}, 'expected "host:port", e.g. "10.0.0.2:7000"');

/** Validates {@link TcpTransportPluginOptions}, filling defaults. */
export const TcpTransportOptionsSchema: Schema<TcpTransportPluginOptions> = z.strictObject({
  maxFrameBytes: z.number().int().min(HEADER_SIZE + 4096 + 64).max(2 ** 31)
    .default(HEADER_SIZE + DEFAULT_MAX_BODY_BYTES),
  windowFrames: z.number().int().min(1).max(1 << 20).default(256),
  receiveQueueFrames: z.number().int().min(1).max(1 << 24).default(4096),
  connectTimeoutMs: z.number().int().min(1).max(3_600_000).default(3000),
  reconnectTimeoutMs: z.number().int().min(0).max(86_400_000).default(5000),
  handshakeTimeoutMs: z.number().int().min(1).max(3_600_000).default(5000),
  maxPendingHandshakes: z.number().int().min(1).max(1 << 16).default(128),
  opTimeoutMs: z.number().int().min(1).max(86_400_000).default(30_000),
  pingIntervalMs: z.number().int().min(0).max(3_600_000).default(5000),
  secretFile: z.string().min(1).optional(),
  keyFile: z.string().min(1).optional(),
  peers: z.record(
    z.string().refine((id) => componentIdProblem(id) === undefined, "not a component id"),
    hostPort,
  ).default({}),
});

/** The TCP transport as a plugin. */
export const tcpTransportPlugin: PluginDefinition<TcpTransportPluginOptions, TcpTransport> =
  definePlugin({
    kind: "transport",
    name: "tcp",
    description: "one process per component over TCP; credits, one-sided ops, HMAC handshake",
    configSchema: TcpTransportOptionsSchema,
    create: (options: TcpTransportPluginOptions) => createTcpTransport(options),
  });
