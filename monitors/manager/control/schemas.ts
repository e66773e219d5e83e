/**
 * The control plane's request and response shapes. The same schemas validate requests
 * and generate the OpenAPI document (`/openapi.json`).
 *
 * @module
 */

import { z } from "npm:@hono/zod-openapi@1.6.3";

const record = z.record(z.string(), z.unknown());

/** Any error response: a message, and for a bad request the fields at fault. */
export const ErrorSchema = z.object({
  error: z.string().openapi({ example: 'no component named "m9"' }),
  issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
}).openapi("Error");

/** `GET /api/cluster`. */
export const ClusterSummarySchema = z.object({
  name: z.string(),
  uptimeMs: z.number(),
  components: z.object({
    total: z.number().int(),
    up: z.number().int(),
    down: z.number().int(),
    byRole: z.record(z.string(), z.number().int()),
  }),
  processes: z.object({ running: z.number().int(), exited: z.number().int() }),
  latencyModel: z.string(),
  policies: z.record(z.string(), z.string()),
  lastEventSeq: z.number().int(),
}).openapi("ClusterSummary");

/** The managers' whole state (`ClusterSnapshot`): components, processes, placements. */
export const SnapshotSchema = z.object({
  components: z.array(record),
  processes: z.array(record),
  vregions: z.array(z.object({ pid: z.number(), vregion: z.number(), owner: z.string() })),
  files: z.array(z.object({ path: z.string(), storage: z.string() })),
}).passthrough().openapi("ClusterSnapshot");

/** One component. */
export const ComponentSchema = z.object({
  id: z.string(),
  role: z.enum(["processor", "memory", "storage", "manager"]),
  state: z.string(),
  drained: z.boolean(),
  addresses: record,
  capacity: record,
  load: record,
  joinedAt: z.number(),
  lastSeenAt: z.number(),
  uptimeMs: z.number(),
  secondary: z.string().optional().describe("A memory component's secondary (replication)"),
  successor: z.string().optional().describe("Who took over this component (a failover)"),
}).openapi("Component");

/** One process. */
export const ProcessSchema = z.object({
  pid: z.number().int(),
  threads: z.number().int(),
  processor: z.string(),
  home: z.string(),
  state: z.string(),
  startedAt: z.number(),
  exitCode: z.number().int().optional(),
  error: z.string().optional(),
  wallNs: z.number().optional(),
  modelNs: z.number().optional(),
  stats: record.optional(),
}).openapi("Process");

/** A process's address space. */
export const AddressSpaceSchema = z.object({
  pid: z.number().int(),
  home: z.string(),
  vregions: z.array(z.object({ vregion: z.number().int(), owner: z.string() })),
  detail: z.unknown().openapi({ description: "what the home memory component reports" }),
}).openapi("AddressSpace");

/** Statistics that one component reported when asked. */
export const ComponentStatsSchema = z.object({
  id: z.string(),
  role: z.string(),
  state: z.string(),
  stats: z.unknown(),
}).openapi("ComponentStats");

/** Files per storage component. */
export const StorageFilesSchema = z.object({
  storage: z.string(),
  files: z.array(z.string()),
}).openapi("StorageFiles");

/** The latency model in force. */
export const LatencyModelSchema = z.object({
  name: z.string(),
  constants: z.record(
    z.string(),
    z.object({ value: z.number(), unit: z.string(), source: z.string() }),
  ),
  /** The references the constants cite, by key (see plugins/latency/SOURCES.md). */
  sources: z.record(z.string(), z.string()),
}).openapi("LatencyModel");

/** One cluster event. */
export const EventSchema = z.object({
  seq: z.number().int(),
  type: z.string(),
  at: z.number(),
  component: z.string().optional(),
  data: record.optional(),
}).openapi("Event");

/** A page of events. */
export const EventPageSchema = z.object({
  events: z.array(EventSchema),
  nextAfterSeq: z.number().int(),
}).openapi("EventPage");

/** Paging of `GET /api/events`. */
export const EventQuerySchema = z.object({
  afterSeq: z.coerce.number().int().min(0).optional().openapi({
    description: "only events after this sequence number (oldest first)",
  }),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  type: z.string().min(1).max(64).optional(),
});

/** `POST /api/processes`. */
export const SpawnRequestSchema = z.strictObject({
  workload: z.string().min(1).max(4096).openapi({ example: "examples/workloads/demo.ts" }),
  args: z.array(z.string().max(4096)).max(256).default([]),
  threads: z.number().int().min(1).max(256).default(1),
  processor: z.string().min(1).max(16).optional(),
}).openapi("SpawnRequest");

/** Where a started process runs. */
export const SpawnResultSchema = z.object({
  pid: z.number().int(),
  processor: z.string(),
  home: z.string(),
}).openapi("SpawnResult");

/** `POST /api/components/{id}/drain`. */
export const DrainRequestSchema = z.strictObject({
  drained: z.boolean().default(true),
}).openapi("DrainRequest");

/** `PUT /api/policies`. */
export const PolicyRequestSchema = z.strictObject({
  kind: z.enum(["process-placement", "vregion-placement", "file-placement", "replacement-policy"]),
  name: z.string().min(1).max(48),
  component: z.string().min(1).max(16).optional().openapi({
    description: "the processor whose replacement policy changes (replacement-policy only)",
  }),
}).openapi("PolicyRequest");

/** The outcome of a mutation. */
export const AcceptedSchema = z.object({
  ok: z.literal(true),
  message: z.string(),
}).openapi("Accepted");

/** Path parameter: a component id. */
export const ComponentIdParamSchema = z.object({
  id: z.string().min(1).max(16).openapi({ param: { name: "id", in: "path" }, example: "m0" }),
});

/** Path parameter: a process id. */
export const PidParamSchema = z.object({
  pid: z.coerce.number().int().min(1).max(2 ** 32 - 1).openapi({
    param: { name: "pid", in: "path" },
    example: 1,
  }),
});
