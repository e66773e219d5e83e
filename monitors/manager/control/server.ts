/**
 * Serving the control plane over HTTP with `Deno.serve`, bound to 127.0.0.1 unless told
 * otherwise. Mutations need a bearer token; a listener on a non-loopback address refuses
 * to start without one given explicitly (a generated token is only for loopback use).
 *
 * @module
 */

import { KernelError } from "../../../kernel/errors.ts";
import { randomToken } from "./auth.ts";
import { buildControlRoutes } from "./app.ts";
import { LOOPBACK_HOSTS } from "./http_guards.ts";
import type { ControlSource } from "./source.ts";

/** Options of {@link serveControlPlane}. */
export interface ControlServerOptions {
  /** Address to bind (default `127.0.0.1`). */
  hostname?: string;
  /** Port (default 7080; 0 picks a free one). */
  port?: number;
  /** The bearer token, given directly. */
  token?: string;
  /** A file whose first line is the bearer token. */
  tokenFile?: string;
  /** Period of the stream's `tick` messages in ms (default 1000). */
  tickMs?: number;
  /**
   * Host names clients may use in the `Host` header (DNS-rebinding defence). Default: the
   * loopback names, plus the bound address and this machine's host name when not
   * bound to loopback. Give the names (or addresses) clients really use.
   */
  allowedHosts?: readonly string[];
  /** Largest request body in bytes (default 1 MiB + 64 KiB). */
  maxBodyBytes?: number;
}

/** A running control plane. */
export interface ControlServer {
  /** Base URL, e.g. `http://127.0.0.1:7080`. */
  readonly url: string;
  /** The bearer token mutations need. */
  readonly token: string;
  /** Whether the token was generated (not given). */
  readonly generatedToken: boolean;
  /** Stops serving. Idempotent. */
  close(): Promise<void>;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|::1|\[::1\])$/;

/**
 * Reads the token from `options` (`token`, then `tokenFile`, then `LEGOEMU_TOKEN`).
 *
 * @example
 * ```ts
 * import { resolveControlToken } from "./server.ts";
 * const token = "0123456789abcdef0123";
 * console.assert((await resolveControlToken({ token })) === token);
 * ```
 */
export async function resolveControlToken(
  options: Pick<ControlServerOptions, "token" | "tokenFile">,
): Promise<string | undefined> {
  if (options.token !== undefined) return checkToken(options.token, "token");
  if (options.tokenFile !== undefined) {
    let text: string;
    try {
      text = await Deno.readTextFile(options.tokenFile);
    } catch (e) {
      throw new KernelError(
        "EINVAL",
        `cannot read token file ${options.tokenFile}: ${(e as Error).message}`,
      );
    }
    return checkToken(text.split("\n")[0].trim(), `token file ${options.tokenFile}`);
  }
  const env = Deno.env.get("LEGOEMU_TOKEN");
  return env ? checkToken(env.trim(), "LEGOEMU_TOKEN") : undefined;
}

function checkToken(token: string, where: string): string {
  if (token.length < 16 || /\s/.test(token)) {
    throw new KernelError("EINVAL", `${where}: a token needs at least 16 characters, no spaces`);
  }
  return token;
}

/**
 * Serves the control plane for `source`.
 *
 * @example
 * ```ts ignore
 * const server = await serveControlPlane(source, { port: 0 });
 * console.log(server.url, server.token);
 * await server.close();
 * ```
 */
export async function serveControlPlane(
  source: ControlSource,
  options: ControlServerOptions = {},
): Promise<ControlServer> {
  const hostname = options.hostname ?? "127.0.0.1";
  const given = await resolveControlToken(options);
  if (!given && !LOOPBACK.test(hostname)) {
    throw new KernelError(
      "EINVAL",
      `refusing to serve the control plane on ${hostname} without a token (give a token file)`,
    );
  }
  const token = given ?? randomToken();
  const app = buildControlRoutes(source, {
    token,
    tickMs: options.tickMs,
    allowedHosts: options.allowedHosts ?? defaultHosts(hostname),
    maxBodyBytes: options.maxBodyBytes,
  });
  const ready = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({
    hostname,
    port: options.port ?? 7080,
    onListen: (addr) => ready.resolve(addr as Deno.NetAddr),
  }, app.fetch);
  const addr = await ready.promise;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${addr.port}`,
    token,
    generatedToken: given === undefined,
    close: () => (closing ??= server.shutdown()),
  };
}

/** Loopback names, plus the bound address and the machine's name off loopback. */
function defaultHosts(hostname: string): string[] {
  const hosts = [...LOOPBACK_HOSTS];
  if (LOOPBACK.test(hostname)) return hosts;
  if (hostname !== "0.0.0.0" && hostname !== "::") hosts.push(hostname);
  try {
    hosts.push(Deno.hostname());
  } catch {
    // No `sys` permission: the operator lists the names in allowedHosts.
  }
  return hosts;
}
