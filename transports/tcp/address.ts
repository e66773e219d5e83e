/**
 * TCP addresses: parsing `host:port` (IPv6 in brackets) and the address book that maps
 * component ids to where they listen.
 *
 * @module
 */

import { KernelError } from "../../kernel/errors.ts";
import type { ComponentId } from "../../kernel/ids.ts";

/** A parsed `host:port`. */
export interface HostPort {
  /** Host name or IP address (IPv6 without brackets). */
  hostname: string;
  /** Port, 0–65535 (0: any free port, for listening). */
  port: number;
}

const HOST_PORT =
  /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)):([0-9]{1,5})$/;

/**
 * Parses `host:port`. Throws a `KernelError` (`EINVAL`) naming the bad address.
 *
 * @example
 * ```ts
 * import { parseHostPort } from "./address.ts";
 * console.assert(parseHostPort("127.0.0.1:7000").port === 7000);
 * console.assert(parseHostPort("[::1]:80").hostname === "::1");
 * ```
 */
export function parseHostPort(address: string): HostPort {
  const match = typeof address === "string" ? HOST_PORT.exec(address) : null;
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) {
    throw new KernelError(
      "EINVAL",
      `bad address ${JSON.stringify(address)}: expected "host:port", e.g. "127.0.0.1:7000"`,
    );
  }
  return { hostname: match[1] ?? match[2], port };
}

/**
 * Formats a host and port as `host:port` (brackets around IPv6).
 *
 * @example
 * ```ts
 * import { formatHostPort } from "./address.ts";
 * console.assert(formatHostPort("::1", 80) === "[::1]:80");
 * ```
 */
export function formatHostPort(hostname: string, port: number): string {
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}

/** Where an address book entry came from. */
export type AddressSource = "static" | "learnt" | "resolved";

/**
 * Component id → `host:port`. Static entries come from options (the manager, fixed
 * peers); learnt ones from peers' handshakes; resolved ones from asking the manager.
 * A failed dial forgets a learnt or resolved entry, so the next attempt asks again.
 *
 * @example
 * ```ts
 * import { AddressBook } from "./address.ts";
 * const book = new AddressBook({ gm: "127.0.0.1:7000" });
 * book.set("m0", "127.0.0.1:7101", "learnt");
 * book.forget("m0");
 * console.assert(book.get("gm") === "127.0.0.1:7000" && book.get("m0") === undefined);
 * ```
 */
export class AddressBook {
  readonly #entries = new Map<ComponentId, { address: string; source: AddressSource }>();

  /** Creates a book holding `initial` as static entries. */
  constructor(initial: Record<ComponentId, string> = {}) {
    for (const [id, address] of Object.entries(initial)) this.set(id, address, "static");
  }

  /** The address of `id`, if known. */
  get(id: ComponentId): string | undefined {
    return this.#entries.get(id)?.address;
  }

  /** Records `address` for `id` (a static entry is only replaced by another static one). */
  set(id: ComponentId, address: string, source: AddressSource): void {
    parseHostPort(address);
    const old = this.#entries.get(id);
    if (old?.source === "static" && source !== "static") return;
    this.#entries.set(id, { address, source });
  }

  /** Forgets a learnt or resolved entry (static entries stay). */
  forget(id: ComponentId): void {
    if (this.#entries.get(id)?.source !== "static") this.#entries.delete(id);
  }

  /** Every entry, for inspection. */
  entries(): Record<ComponentId, string> {
    return Object.fromEntries([...this.#entries].map(([id, e]) => [id, e.address]));
  }
}
