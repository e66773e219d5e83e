/**
 * The fault-injection transport as the `transport` plugin named `fault`: it builds the
 * transport named by `inner` and wraps it (see `fault.ts`).
 *
 * @module
 */

import { z } from "npm:zod@4.6.7";
import type { ComponentId } from "../../kernel/ids.ts";
import { definePlugin, type PluginDefinition, type PluginRegistry } from "../../kernel/plugins.ts";
import type { Transport } from "../../kernel/transport.ts";
import type { Schema } from "../../kernel/zod_issues.ts";
import { createFaultTransport, type FaultTransport } from "./fault.ts";

/** Options of the fault transport plugin. */
export interface FaultTransportPluginOptions {
  /** The transport to wrap: its plugin name and options (default the memory transport). */
  inner: { plugin: string; options: Record<string, unknown> };
  /** Seed of every fault decision. */
  seed: number;
  /** Probability that a frame is lost. */
  lossProbability: number;
  /** Probability that a frame is delivered twice. */
  duplicateProbability: number;
  /** Probability that a frame is held back behind the next one. */
  reorderProbability: number;
  /** Shortest delay added to a frame, in ms. */
  delayMsMin: number;
  /** Longest delay added to a frame, in ms. */
  delayMsMax: number;
  /** Groups of components cut off from each other. */
  partitions: ComponentId[][];
  /** Crash `component` at its `message`-th frame sent. */
  crashAt?: { component: ComponentId; message: number };
}

const probability = z.number().min(0).max(1).default(0);

/** Validates {@link FaultTransportPluginOptions}, filling defaults. */
export const FaultTransportOptionsSchema: Schema<FaultTransportPluginOptions> = z.strictObject({
  inner: z.strictObject({
    plugin: z.string().min(1),
    options: z.record(z.string(), z.unknown()).default({}),
  }).default({ plugin: "memory", options: {} }),
  seed: z.number().int().min(0).max(2 ** 32 - 1).default(1),
  lossProbability: probability,
  duplicateProbability: probability,
  reorderProbability: probability,
  delayMsMin: z.number().min(0).max(60_000).default(0),
  delayMsMax: z.number().min(0).max(60_000).default(0),
  partitions: z.array(z.array(z.string().min(1))).default([]),
  crashAt: z.strictObject({
    component: z.string().min(1),
    message: z.number().int().min(1),
  }).optional(),
});

/** The fault-injection transport as a plugin; its context must carry the plugin registry. */
export const faultTransportPlugin: PluginDefinition<FaultTransportPluginOptions, FaultTransport> =
  definePlugin({
    kind: "transport",
    name: "fault",
    description: "wraps another transport with seeded drops, delays, duplicates, reordering, " +
      "partitions and crashes",
    configSchema: FaultTransportOptionsSchema,
    create: async (options: FaultTransportPluginOptions, context: unknown) => {
      const registry = (context as { registry?: PluginRegistry } | undefined)?.registry;
      if (!registry) {
        throw new TypeError("the fault transport needs the plugin registry to build its inner one");
      }
      if (options.inner.plugin === "fault") {
        throw new TypeError("the fault transport cannot wrap itself");
      }
      const inner = await registry.create<Transport>(
        "transport",
        options.inner.plugin,
        options.inner.options,
        context,
      );
      const { inner: _, ...faults } = options;
      return createFaultTransport(inner, faults);
    },
  });
