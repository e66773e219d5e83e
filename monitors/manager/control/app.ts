/**
 * The control plane as a Hono app: JSON read endpoints over the managers' state, live
 * events over Server-Sent Events, Prometheus text, bearer-protected mutations, the
 * OpenAPI document and Swagger UI generated from the same schemas that validate
 * requests, and the dashboard.
 *
 * @module
 */

import { createRoute, OpenAPIHono, type z } from "npm:@hono/zod-openapi@1.6.3";
import type { Context } from "npm:hono@4.13.19";
import { bodyLimit } from "npm:hono@4.13.19/body-limit";
import { streamSSE } from "npm:hono@4.13.19/streaming";
import { KernelError } from "../../../kernel/errors.ts";
import type { ClusterEvent } from "../../../kernel/events.ts";
import { censusOf, type ComponentRecord, type ProcessRecord } from "../cluster_state.ts";
import { mountApiDocs } from "./api_docs.ts";
import { requireBearer } from "./auth.ts";
import { DASHBOARD_HTML } from "./dashboard.ts";
import {
  allowedMethods,
  checkHost,
  DEFAULT_MAX_BODY_BYTES,
  httpErrorMessage,
  HTTPException,
  LOOPBACK_HOSTS,
  requireJsonBody,
} from "./http_guards.ts";
import { renderPrometheus } from "./prometheus.ts";
import {
  AcceptedSchema,
  AddressSpaceSchema,
  ClusterSummarySchema,
  ComponentIdParamSchema,
  ComponentSchema,
  ComponentStatsSchema,
  DrainRequestSchema,
  ErrorSchema,
  EventPageSchema,
  EventQuerySchema,
  LatencyModelSchema,
  PidParamSchema,
  PolicyRequestSchema,
  ProcessSchema,
  SnapshotSchema,
  SpawnRequestSchema,
  SpawnResultSchema,
  StorageFilesSchema,
} from "./schemas.ts";
import type { ControlSource } from "./source.ts";

/** Options of the control app. */
export interface ControlAppOptions {
  /** Bearer token the mutating endpoints require. */
  token: string;
  /** Period of the `tick` messages on the event stream, in ms (default 1000). */
  tickMs?: number;
  /**
   * Host names requests may address (the `Host` header); others get `421`, so a page
   * that rebinds its own DNS name to this address cannot read the cluster. Default:
   * `localhost`, `127.0.0.1`, `::1`.
   */
  allowedHosts?: readonly string[];
  /** Largest request body in bytes (default 1 MiB + 64 KiB); larger gets `413`. */
  maxBodyBytes?: number;
}

const json = <T extends z.ZodType>(schema: T, description: string) => ({
  content: { "application/json": { schema } },
  description,
});
const errors = {
  400: json(ErrorSchema, "Bad input; `issues` names the fields"),
  404: json(ErrorSchema, "No such component or process"),
};
const mutationErrors = {
  ...errors,
  413: json(ErrorSchema, "The body is larger than the limit"),
  415: json(ErrorSchema, "The body is not application/json"),
  401: json(ErrorSchema, "Missing or wrong bearer token"),
  409: json(ErrorSchema, "Not possible in the current state"),
  500: json(ErrorSchema, "The action failed"),
  503: json(ErrorSchema, "The cluster cannot do it now (no component up, unreachable)"),
};

function componentView(c: ComponentRecord, now: number): z.infer<typeof ComponentSchema> {
  return {
    id: c.id,
    role: c.role,
    state: c.state,
    drained: Boolean((c as { drained?: boolean }).drained),
    addresses: c.addresses ?? {},
    capacity: c.capacity ?? {},
    load: c.load ?? {},
    joinedAt: c.joinedAt,
    lastSeenAt: c.lastSeenAt,
    uptimeMs: now - c.joinedAt,
  };
}

function processView(p: ProcessRecord): z.infer<typeof ProcessSchema> {
  const extra = p as ProcessRecord & {
    wallNs?: number;
    modelNs?: number;
    stats?: Record<string, unknown>;
  };
  return {
    pid: p.pid,
    threads: p.threads,
    processor: p.processor,
    home: p.home,
    state: p.state,
    startedAt: p.startedAt,
    exitCode: p.exitCode,
    error: p.error,
    wallNs: extra.wallNs,
    modelNs: extra.modelNs,
    stats: extra.stats,
  };
}

/** HTTP status for a kernel error raised by an action. */
function statusOf(error: unknown): 400 | 404 | 409 | 500 | 503 {
  const code = (error as { code?: unknown })?.code;
  switch (code) {
    case "ENOENT":
    case "ESRCH":
      return 404;
    case "EINVAL":
    case "UNKNOWN_PLUGIN":
    case "BAD_PLUGIN_OPTIONS":
      return 400;
    case "EEXIST":
    case "EBUSY":
      return 409;
    case "EAGAIN":
    case "EHOSTUNREACH":
    case "ETIMEDOUT":
      return 503;
    default:
      return 500;
  }
}

function failure(c: Context, error: unknown) {
  const message = error instanceof Error ? error.message : String(error);
  return c.json({ error: message }, statusOf(error));
}

/**
 * Builds the control app with its routes chained, so `typeof` the result carries every
 * route's types for `hono/client`.
 */
// The inferred return type is the point: it carries every route's types to hono/client.
// deno-lint-ignore explicit-module-boundary-types
export function buildControlRoutes(source: ControlSource, options: ControlAppOptions) {
  const app = new OpenAPIHono({
    // Validation failures become one JSON shape that names each bad field.
    defaultHook: (result, c) => {
      if (result.success) return;
      const issues = result.error.issues.map((i) => ({
        path: i.path.map(String).join(".") || "(body)",
        message: i.message,
      }));
      return c.json({
        error: `invalid request: ${issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`,
        issues,
      }, 400);
    },
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
    type: "http",
    scheme: "bearer",
  });
  app.use(checkHost(options.allowedHosts ?? LOOPBACK_HOSTS));
  app.use(bodyLimit({
    maxSize: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    onError: (c) =>
      c.json({
        error: `request body is larger than ${
          options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES
        } bytes`,
      }, 413),
  }));
  const auth = requireBearer(options.token);
  // Authentication first, then the body's media type, then the schema.
  const jsonBody = requireJsonBody();
  const tickMs = options.tickMs ?? 1000;
  const findComponent = (id: string) => source.snapshot().components.find((c) => c.id === id);
  const findProcess = (pid: number) => source.snapshot().processes.find((p) => p.pid === pid);
  const notFound = (what: string) => ({ error: `no ${what}` });
  const ofRole = (role: string) =>
    source.snapshot().components.filter((c) => c.role === role).sort((a, b) =>
      a.id.localeCompare(b.id)
    );
  const askEach = async (role: string, what: string) =>
    await Promise.all(
      ofRole(role).map(async (c) => ({
        id: c.id,
        role: c.role,
        state: c.state,
        stats: c.state === "up"
          ? await source.query(c.id, what).catch((e) => ({ error: (e as Error).message }))
          : { error: "component is down" },
      })),
    );

  const routes = app
    .openapi(
      createRoute({
        method: "get",
        path: "/api/cluster",
        summary: "Cluster summary",
        responses: { 200: json(ClusterSummarySchema, "The cluster at a glance") },
      }),
      (c) => {
        // Counted in place: a snapshot copies every component's load (slow at 64).
        const census = source.census?.() ?? censusOf(source.snapshot());
        return c.json({
          name: source.name,
          uptimeMs: Date.now() - source.startedAt,
          components: census.components,
          processes: census.processes,
          latencyModel: source.latency.name,
          policies: source.policies(),
          lastEventSeq: source.events.lastSeq,
        }, 200);
      },
    )
    .openapi(
      createRoute({
        method: "get",
        path: "/api/snapshot",
        summary: "Everything the managers know, in one document (what `legoemu status` shows)",
        responses: { 200: json(SnapshotSchema, "The managers' cluster state") },
      }),
      (c) => c.json(source.snapshot() as unknown as z.infer<typeof SnapshotSchema>, 200),
    )
    .openapi(
      createRoute({
        method: "get",
        path: "/api/components",
        summary: "Every component with its state and latest load",
        responses: { 200: json(ComponentSchema.array(), "Components, by id") },
      }),
      (c) => {
        const now = Date.now();
        const list = source.snapshot().components.sort((a, b) => a.id.localeCompare(b.id));
        return c.json(list.map((comp) => componentView(comp, now)), 200);
      },
    )
    .openapi(
      createRoute({
        method: "get",
        path: "/api/components/{id}",
        summary: "One component",
        request: { params: ComponentIdParamSchema },
        responses: { 200: json(ComponentSchema, "The component"), ...errors },
      }),
      (c) => {
        const { id } = c.req.valid("param");
        const comp = findComponent(id);
        if (!comp) return c.json(notFound(`component named "${id}"`), 404);
        return c.json(componentView(comp, Date.now()), 200);
      },
    )
    .openapi(
      createRoute({
        method: "get",
        path: "/api/processes",
        summary: "Every process the managers placed",
        responses: { 200: json(ProcessSchema.array(), "Processes, by pid") },
      }),
      (c) => c.json(source.snapshot().processes.map(processView), 200),
    )
    .openapi(
      createRoute({
        method: "get",
        path: "/api/processes/{pid}",
        summary: "One process",
        request: { params: PidParamSchema },
        responses: { 200: json(ProcessSchema, "The process"), ...errors },
      }),
      (c) => {
        const { pid } = c.req.valid("param");
        const process = findProcess(pid);
        if (!process) return c.json(notFound(`process with pid ${pid}`), 404);
        return c.json(processView(process), 200);
      },
    )
    .openapi(
      createRoute({
        method: "get",
        path: "/api/processes/{pid}/address-space",
        summary: "A process's address space: VMAs, vRegion owners, resident pages",
        request: { params: PidParamSchema },
        responses: { 200: json(AddressSpaceSchema, "The address space"), ...errors },
      }),
      async (c) => {
        const { pid } = c.req.valid("param");
        const process = findProcess(pid);
        if (!process) return c.json(notFound(`process with pid ${pid}`), 404);
        const vregions = source.snapshot().vregions.filter((v) => v.pid === pid)
          .map(({ vregion, owner }) => ({ vregion, owner }));
        const detail = await source.query(process.home, "address-space", { pid })
          .catch((e) => ({ error: (e as Error).message }));
        return c.json({ pid, home: process.home, vregions, detail }, 200);
      },
    )
    .openapi(
      createRoute({
        method: "get",
        path: "/api/excache",
        summary: "ExCache statistics per processor (and per process, as each reports)",
        responses: { 200: json(ComponentStatsSchema.array(), "One entry per processor") },
      }),
      async (c) => c.json(await askEach("processor", "stats"), 200),
    )
    .openapi(
      createRoute({
        method: "get",
        path: "/api/memory",
        summary: "Memory usage per memory component",
        responses: { 200: json(ComponentStatsSchema.array(), "One entry per memory component") },
      }),
      async (c) => c.json(await askEach("memory", "stats"), 200),
    )
    .openapi(
      createRoute({
        method: "get",
        path: "/api/storage/files",
        summary: "Files placed on each storage component",
        responses: { 200: json(StorageFilesSchema.array(), "One entry per storage component") },
      }),
      (c) => {
        const snap = source.snapshot();
        return c.json(
          ofRole("storage").map((s) => ({
            storage: s.id,
            files: snap.files.filter((f) => f.storage === s.id).map((f) => f.path).sort(),
          })),
          200,
        );
      },
    )
    .openapi(
      createRoute({
        method: "get",
        path: "/api/transport",
        summary: "Transport statistics per component: messages, bytes, latency histogram",
        responses: { 200: json(ComponentStatsSchema.array(), "One entry per component") },
      }),
      async (c) => {
        const all = await Promise.all(
          ["manager", "processor", "memory", "storage"].map((r) => askEach(r, "transport")),
        );
        return c.json(all.flat(), 200);
      },
    )
    .openapi(
      createRoute({
        method: "get",
        path: "/api/latency-model",
        summary: "The latency model in force, with every constant and its source",
        responses: { 200: json(LatencyModelSchema, "The model") },
      }),
      (c) =>
        c.json({
          name: source.latency.name,
          constants: source.latency.describe(),
          sources: source.latency.sources?.() ?? {},
        }, 200),
    )
    .openapi(
      createRoute({
        method: "get",
        path: "/api/events",
        summary: "Recent events, oldest first after `afterSeq`, else the newest",
        request: { query: EventQuerySchema },
        responses: { 200: json(EventPageSchema, "A page of events"), 400: errors[400] },
      }),
      (c) => {
        const { afterSeq, limit, type } = c.req.valid("query");
        const events = source.events.recent({ afterSeq, limit, type }) as ClusterEvent[];
        const last = events.length ? events[events.length - 1].seq : (afterSeq ?? 0);
        return c.json({ events: events.map((e) => ({ ...e })), nextAfterSeq: last }, 200);
      },
    )
    .openapi(
      createRoute({
        method: "post",
        path: "/api/processes",
        summary: "Start a process (placed by the managers unless `processor` is given)",
        security: [{ bearerAuth: [] }],
        middleware: [auth, jsonBody] as const,
        request: {
          body: {
            required: true,
            content: { "application/json": { schema: SpawnRequestSchema } },
          },
        },
        responses: { 201: json(SpawnResultSchema, "Started"), ...mutationErrors },
      }),
      async (c) => {
        const body = c.req.valid("json");
        if (body.processor) {
          const target = findComponent(body.processor);
          if (!target || target.role !== "processor") {
            return c.json(notFound(`processor named "${body.processor}"`), 404);
          }
        }
        try {
          return c.json(await source.actions.spawn(body), 201);
        } catch (e) {
          return failure(c, e);
        }
      },
    )
    .openapi(
      createRoute({
        method: "delete",
        path: "/api/processes/{pid}",
        summary: "Kill a running process",
        security: [{ bearerAuth: [] }],
        middleware: [auth] as const,
        request: { params: PidParamSchema },
        responses: { 200: json(AcceptedSchema, "Killed"), ...mutationErrors },
      }),
      async (c) => {
        const { pid } = c.req.valid("param");
        const process = findProcess(pid);
        if (!process) return c.json(notFound(`process with pid ${pid}`), 404);
        if (process.state !== "running") {
          return c.json({ error: `process ${pid} is not running` }, 409);
        }
        try {
          await source.actions.kill(pid);
          return c.json({ ok: true as const, message: `process ${pid} killed` }, 200);
        } catch (e) {
          return failure(c, e);
        }
      },
    )
    .openapi(
      createRoute({
        method: "post",
        path: "/api/components/{id}/drain",
        summary: "Mark a component drained (no new placements) or undrained",
        security: [{ bearerAuth: [] }],
        middleware: [auth, jsonBody] as const,
        request: {
          params: ComponentIdParamSchema,
          body: { required: true, content: { "application/json": { schema: DrainRequestSchema } } },
        },
        responses: { 200: json(AcceptedSchema, "Done"), ...mutationErrors },
      }),
      async (c) => {
        const { id } = c.req.valid("param");
        const { drained } = c.req.valid("json");
        if (!findComponent(id)) return c.json(notFound(`component named "${id}"`), 404);
        try {
          await source.actions.drain(id, drained);
          return c.json({
            ok: true as const,
            message: `${id} ${drained ? "drained" : "undrained"}`,
          }, 200);
        } catch (e) {
          return failure(c, e);
        }
      },
    )
    .openapi(
      createRoute({
        method: "post",
        path: "/api/components/{id}/stop",
        summary: "Stop a component (fault injection)",
        security: [{ bearerAuth: [] }],
        middleware: [auth] as const,
        request: { params: ComponentIdParamSchema },
        responses: { 202: json(AcceptedSchema, "Stopping"), ...mutationErrors },
      }),
      async (c) => {
        const { id } = c.req.valid("param");
        const comp = findComponent(id);
        if (!comp) return c.json(notFound(`component named "${id}"`), 404);
        if (comp.role === "manager") {
          return c.json({ error: "the manager serves this API and cannot stop itself" }, 400);
        }
        try {
          await source.actions.stopComponent(id);
          return c.json({ ok: true as const, message: `${id} stopping` }, 202);
        } catch (e) {
          return failure(c, e);
        }
      },
    )
    .openapi(
      createRoute({
        method: "put",
        path: "/api/policies",
        summary: "Switch a placement or replacement policy at run time",
        security: [{ bearerAuth: [] }],
        middleware: [auth, jsonBody] as const,
        request: {
          body: {
            required: true,
            content: { "application/json": { schema: PolicyRequestSchema } },
          },
        },
        responses: { 200: json(AcceptedSchema, "Switched"), ...mutationErrors },
      }),
      async (c) => {
        const { kind, name, component } = c.req.valid("json");
        if (kind === "replacement-policy") {
          const target = component ? findComponent(component) : undefined;
          if (!component) {
            return c.json({
              error: "invalid request: component: required for a replacement-policy",
              issues: [{ path: "component", message: "required for a replacement-policy" }],
            }, 400);
          }
          if (!target || target.role !== "processor") {
            return c.json(notFound(`processor named "${component}"`), 404);
          }
        }
        try {
          await source.actions.setPolicy(kind, name, component);
          return c.json({ ok: true as const, message: `${kind} is now ${name}` }, 200);
        } catch (e) {
          return failure(c, e);
        }
      },
    );

  routes.get("/api/events/stream", (c) =>
    streamSSE(c, async (stream) => {
      const lastId = Number(c.req.header("last-event-id") ?? c.req.query("afterSeq") ?? NaN);
      const queue: ClusterEvent[] = Number.isInteger(lastId)
        ? source.events.recent({ afterSeq: lastId, limit: 1000 })
        : [];
      let wake: (() => void) | undefined;
      const unsubscribe = source.events.subscribe((e) => {
        queue.push(e);
        wake?.();
      });
      const tick = setInterval(() => {
        stream.writeSSE({
          event: "tick",
          data: JSON.stringify({
            at: Date.now(),
            components: source.snapshot().components.map((comp) => ({
              id: comp.id,
              role: comp.role,
              state: comp.state,
              drained: comp.drained,
              lastSeenAt: comp.lastSeenAt,
              load: comp.load,
            })),
          }),
        }).catch(() => {});
      }, tickMs);
      let open = true;
      stream.onAbort(() => {
        open = false;
        wake?.();
      });
      try {
        await stream.writeSSE({
          event: "hello",
          data: JSON.stringify({ lastSeq: source.events.lastSeq }),
        });
        while (open) {
          const event = queue.shift();
          if (event) {
            await stream.writeSSE({
              event: "cluster",
              id: String(event.seq),
              data: JSON.stringify(event),
            });
            continue;
          }
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
      } finally {
        clearInterval(tick);
        unsubscribe();
      }
    }));
  routes.get("/metrics", (c) => {
    c.header("content-type", "text/plain; version=0.0.4; charset=utf-8");
    return c.body(renderPrometheus(source.metrics, source.snapshot()));
  });
  routes.doc("/openapi.json", {
    openapi: "3.0.0",
    info: {
      title: "legoemu control plane",
      version: "1",
      description: "Query and steer a legoemu cluster.",
    },
  });
  mountApiDocs(routes, "/openapi.json");
  routes.get("/", (c) => c.html(DASHBOARD_HTML));
  const allow = allowedMethods(routes.routes);
  routes.notFound((c) => {
    const methods = allow(c.req.path);
    if (methods.length > 0) {
      c.header("allow", methods.join(", "));
      return c.json({
        error: `method ${c.req.method} is not allowed on ${c.req.path} (allowed: ${
          methods.join(", ")
        })`,
      }, 405);
    }
    return c.json({ error: `no route ${c.req.method} ${c.req.path}` }, 404);
  });
  routes.onError((error, c) => {
    if (error instanceof KernelError) return failure(c, error);
    if (error instanceof HTTPException) {
      // 400 malformed JSON, 413 too large, 415 wrong media type: the client's fault.
      return c.json({ error: httpErrorMessage(error) }, error.status);
    }
    return c.json({ error: `internal error: ${error.message}` }, 500);
  });
  return routes;
}

/** The control app's type, routes included (for `hono/client`). */
export type ControlRoutes = ReturnType<typeof buildControlRoutes>;

/** The control plane app: a fetch handler, and in-process requests for tests and scripts. */
export interface ControlApp {
  /** Answers one HTTP request (what `Deno.serve` calls). */
  fetch(request: Request): Response | Promise<Response>;
  /** Answers a request for `path` without a network (Hono's `app.request`). */
  request(path: string, init?: RequestInit): Response | Promise<Response>;
}

/**
 * Creates the control plane app for `source`.
 *
 * @example
 * ```ts ignore
 * const app = createControlApp(source, { token: "s3cret-s3cret-s3cret" });
 * const res = await app.request("/api/cluster");
 * ```
 */
export function createControlApp(source: ControlSource, options: ControlAppOptions): ControlApp {
  const app = buildControlRoutes(source, options);
  return {
    fetch: (request) => app.fetch(request),
    request: (path, init) => app.request(path, init),
  };
}
