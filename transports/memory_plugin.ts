/**
 * The in-memory transport as the `transport` plugin named `memory`.
 *
 * @module
 */

import { z } from "npm:zod@4.6.7";
import { definePlugin, type PluginDefinition } from "../kernel/plugins.ts";
import type { Schema } from "../kernel/zod_issues.ts";
import { createMemoryTransport, type MemoryTransport } from "./memory.ts";

/** Options of the memory transport plugin. */
export interface MemoryTransportPluginOptions {
  /** Capacity of each component's shared receive queue, in frames (default 4096). */
  receiveQueueFrames: number;
}

/** Validates {@link MemoryTransportPluginOptions}, filling defaults. */
export const MemoryTransportOptionsSchema: Schema<MemoryTransportPluginOptions> = z.strictObject({
  receiveQueueFrames: z.number().int().min(1).max(1 << 20).default(4096),
});

/** The in-memory transport as a plugin. */
export const memoryTransportPlugin: PluginDefinition<
  MemoryTransportPluginOptions,
  MemoryTransport
> = definePlugin({
  kind: "transport",
  name: "memory",
  description: "every component in one process; frames handed over without copying",
  configSchema: MemoryTransportOptionsSchema,
  // A cluster boots one memory transport per distinct options; only endpoints of the same
  // one see each other.
  peerOptions: ["receiveQueueFrames"],
  create: (options: MemoryTransportPluginOptions) => createMemoryTransport(options),
});
