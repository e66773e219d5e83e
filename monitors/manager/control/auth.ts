/**
 * Bearer-token checking for the control plane's mutating endpoints.
 *
 * @module
 */

import type { MiddlewareHandler } from "npm:hono@4.13.19";

/** Compares two strings in time independent of where they differ. */
function sameSecret(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

/**
 * Middleware that answers `401` unless the request carries `Authorization: Bearer <token>`.
 *
 * @example
 * ```ts
 * import { Hono } from "npm:hono@4.13.19";
 * import { requireBearer } from "./auth.ts";
 * const app = new Hono().post("/x", requireBearer("s3cret"), (c) => c.text("ok"));
 * const res = await app.request("/x", { method: "POST" });
 * console.assert(res.status === 401);
 * ```
 */
export function requireBearer(token: string): MiddlewareHandler {
  return async (c, next) => {
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) {
      return c.json({ error: "missing bearer token: send Authorization: Bearer <token>" }, 401);
    }
    if (!sameSecret(match[1], token)) return c.json({ error: "wrong bearer token" }, 401);
    await next();
  };
}

/**
 * Generates a random token (32 bytes, hex).
 *
 * @example
 * ```ts
 * import { randomToken } from "./auth.ts";
 * console.assert(randomToken().length === 64);
 * ```
 */
export function randomToken(): string {
  return [...crypto.getRandomValues(new Uint8Array(32))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}
