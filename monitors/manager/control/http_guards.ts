/**
 * The control plane's strict-HTTP guards: requests for a host name the operator did not
 * configure are refused (a DNS-rebinding page in a browser sends its own name), bodies
 * are bounded, mutations that take a body must send one as JSON, and a known path asked
 * with the wrong method answers `405` with `Allow`. Every refusal is a JSON error.
 *
 * @module
 */

import type { Context, MiddlewareHandler } from "npm:hono@4.13.19";
import { HTTPException } from "npm:hono@4.13.19/http-exception";

/** The host names a loopback-bound control plane answers to. */
export const LOOPBACK_HOSTS: readonly string[] = ["localhost", "127.0.0.1", "::1"];

/** Largest request body accepted by default, in bytes (a spawn with its args fits). */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024 + 64 * 1024;

/** `host` without brackets and port, lower-cased (`[::1]:80` → `::1`). */
function hostName(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith("[")) return h.slice(1, h.indexOf("]") > 0 ? h.indexOf("]") : undefined);
  const colon = h.indexOf(":");
  return colon >= 0 && h.indexOf(":", colon + 1) < 0 ? h.slice(0, colon) : h;
}

/**
 * Middleware that answers `421` unless the request's `Host` names one of `allowed`.
 *
 * @example
 * ```ts
 * import { Hono } from "npm:hono@4.13.19";
 * import { checkHost } from "./http_guards.ts";
 * const app = new Hono().use(checkHost(["localhost"])).get("/", (c) => c.text("ok"));
 * console.assert((await app.request("http://localhost:7080/")).status === 200);
 * console.assert((await app.request("http://evil.example/")).status === 421);
 * ```
 */
export function checkHost(allowed: readonly string[]): MiddlewareHandler {
  const names = new Set(allowed.map(hostName));
  return async (c, next) => {
    const host = c.req.header("host") ?? new URL(c.req.url).host;
    if (!names.has(hostName(host))) {
      return c.json({
        error: `host "${host.slice(0, 100)}" is not served here (allowed: ${
          [...names].join(", ")
        }); configure it in allowedHosts`,
      }, 421);
    }
    await next();
  };
}

/**
 * Middleware for a route that takes a JSON body: `415` for another content type, `400`
 * when there is no body at all (a body-less mutation must not fall back to defaults).
 *
 * @example
 * ```ts
 * import { Hono } from "npm:hono@4.13.19";
 * import { requireJsonBody } from "./http_guards.ts";
 * const app = new Hono().post("/x", requireJsonBody(), (c) => c.text("ok"));
 * console.assert((await app.request("/x", { method: "POST" })).status === 400);
 * ```
 */
export function requireJsonBody(): MiddlewareHandler {
  return async (c, next) => {
    const type = c.req.header("content-type");
    if (type === undefined) {
      if (c.req.raw.body === null) {
        return c.json({
          error: "this request needs a JSON body (Content-Type: application/json)",
          issues: [{ path: "(body)", message: "required" }],
        }, 400);
      }
      return unsupported(c, "(none)");
    }
    if (!/^application\/json\s*(;|$)/i.test(type.trim())) return unsupported(c, type);
    await next();
  };
}

function unsupported(c: Context, type: string) {
  return c.json({
    error: `unsupported content type ${type.slice(0, 100)}: send application/json`,
  }, 415);
}

/**
 * The methods each known path pattern answers, for `405` and `Allow`. Hono's `:param`
 * segments match one path segment.
 *
 * @example
 * ```ts
 * import { allowedMethods } from "./http_guards.ts";
 * const allow = allowedMethods([{ method: "GET", path: "/a/:id" }, { method: "POST", path: "/a/:id" }]);
 * console.assert(allow("/a/7").join() === "GET,HEAD,POST");
 * ```
 */
export function allowedMethods(
  routes: readonly { method: string; path: string }[],
): (path: string) => string[] {
  const table = routes.filter((r) => r.method !== "ALL" && !r.path.includes("*")).map((r) => ({
    method: r.method.toUpperCase(),
    pattern: new RegExp(
      "^" +
        r.path.split("/").map((s) =>
          s.startsWith(":") ? "[^/]+" : s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
        ).join("/") + "$",
    ),
  }));
  return (path) => {
    const methods = new Set<string>();
    for (const r of table) if (r.pattern.test(path)) methods.add(r.method);
    if (methods.has("GET")) methods.add("HEAD");
    return [...methods].sort();
  };
}

/**
 * The JSON answer for an `HTTPException` raised inside Hono or a validator (malformed
 * JSON → 400, wrong media type → 415, a body too large → 413).
 *
 * @example
 * ```ts
 * import { HTTPException } from "npm:hono@4.13.19/http-exception";
 * import { httpErrorMessage } from "./http_guards.ts";
 * const e = new HTTPException(400, { message: "Malformed JSON in request body" });
 * console.assert(httpErrorMessage(e) === "malformed JSON in request body");
 * ```
 */
export function httpErrorMessage(error: HTTPException): string {
  const text = error.message || `HTTP ${error.status}`;
  return text.charAt(0).toLowerCase() + text.slice(1);
}

export { HTTPException };
