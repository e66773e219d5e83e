/**
 * The RDMA transport as the `transport` plugin named `rdma`:
 * `{ "transport": { "plugin": "rdma", "options": { "mode": "connected" } } }`.
 *
 * Creating it opens the device. On a host that cannot run it (no libibverbs, no RDMA
 * device, a device/port/GID that does not exist) creation fails with a `ConfigError` at
 * `$.transport` whose one line names the cause and the fix, so the command line exits
 * with status 2 before any component starts.
 *
 * @module
 */

import { z } from "npm:zod@4.6.7";
import { ConfigError } from "../../kernel/config.ts";
import { KernelError } from "../../kernel/errors.ts";
import { definePlugin, type PluginDefinition } from "../../kernel/plugins.ts";
import type { Schema } from "../../kernel/zod_issues.ts";
import { createRdmaTransport, RDMA_DEFAULTS, type RdmaMode, type RdmaTransport } from "./mod.ts";

/** Options of the RDMA transport plugin (all have defaults). */
export interface RdmaTransportPluginOptions {
  /** `connectionless` (UD + shared receive queue) or `connected` (RC + WRITE_WITH_IMM). */
  mode: RdmaMode;
  /** Device name; default `LEGOEMU_RDMA_DEVICE`, else the first device. */
  device?: string;
  /** Port number (default 1). */
  port: number;
  /** GID index (default 0; RoCE v2 usually needs the index of an IPv4-mapped GID). */
  gidIndex: number;
  /** Frames a sender may have unconsumed at a receiver (default 256). */
  windowFrames: number;
  /** Receives on each endpoint's shared receive queue (default 1024). */
  srqDepth: number;
  /** Connected mode: ring slots per sender (default 64). */
  ringSlots: number;
  /** Connected mode: bytes per ring slot (default 8192). */
  slotBytes: number;
  /** Send buffers per endpoint (default 256). */
  sendBuffers: number;
  /** Longest one-sided operation or control exchange, ms (default 30 000). */
  opTimeoutMs: number;
  /** Capacity of each component's shared receive queue, in frames (default 4096). */
  receiveQueueFrames: number;
  /** File holding the cluster secret for the TCP control channel. */
  secretFile?: string;
}

/** Validates {@link RdmaTransportPluginOptions}, filling defaults. */
export const RdmaTransportOptionsSchema: Schema<RdmaTransportPluginOptions> = z.strictObject({
  mode: z.enum(["connectionless", "connected"]).default(RDMA_DEFAULTS.mode),
  device: z.string().min(1).optional(),
  port: z.number().int().min(1).max(255).default(1),
  gidIndex: z.number().int().min(0).max(1023).default(0),
  windowFrames: z.number().int().min(1).max(0x7fff).default(RDMA_DEFAULTS.windowFrames),
  srqDepth: z.number().int().min(16).max(1 << 16).default(RDMA_DEFAULTS.srqDepth),
  ringSlots: z.number().int().min(1).max(0x7fff).default(RDMA_DEFAULTS.ringSlots),
  slotBytes: z.number().int().min(256).max(1 << 24).default(RDMA_DEFAULTS.slotBytes),
  sendBuffers: z.number().int().min(1).max(1 << 16).default(RDMA_DEFAULTS.sendBuffers),
  opTimeoutMs: z.number().int().min(1).max(86_400_000).default(RDMA_DEFAULTS.opTimeoutMs),
  receiveQueueFrames: z.number().int().min(1).max(1 << 24).default(4096),
  secretFile: z.string().min(1).optional(),
});

/**
 * Creates the transport, turning "this host cannot do RDMA" into a one-line config error.
 *
 * @example
 * ```ts ignore
 * const transport = openRdmaTransportPlugin(RdmaTransportOptionsSchema.parse({}));
 * ```
 */
export function openRdmaTransportPlugin(options: RdmaTransportPluginOptions): RdmaTransport {
  try {
    return createRdmaTransport({ ...options, tcp: { secretFile: options.secretFile } });
  } catch (e) {
    if (e instanceof KernelError) {
      throw new ConfigError([{ path: "$.transport", message: e.message }]);
    }
    throw e;
  }
}

/** The RDMA transport as a plugin. */
export const rdmaTransportPlugin: PluginDefinition<RdmaTransportPluginOptions, RdmaTransport> =
  definePlugin({
    kind: "transport",
    name: "rdma",
    description: "libibverbs through FFI: UD+SRQ or RC write-with-imm RPC, one-sided RDMA",
    configSchema: RdmaTransportOptionsSchema,
    // An endpoint refuses a hello from a peer in the other mode (endpoint.ts `#adopt`).
    peerOptions: ["mode"],
    create: (options: RdmaTransportPluginOptions) => openRdmaTransportPlugin(options),
  });
