/**
 * The registered memory regions of one endpoint, with the checks every transport applies
 * to one-sided access: the key must exist, the region must allow the operation, and the
 * range must lie inside it. Transports share it so that memory, TCP and RDMA refuse the
 * same accesses with the same errors.
 *
 * @module
 */

import { KernelError } from "./errors.ts";
import type { ComponentId } from "./ids.ts";
import type { MemoryRegion, RegionAccess } from "./transport.ts";

/**
 * Regions by key, for one endpoint.
 *
 * @example
 * ```ts
 * import { RegionTable } from "./region_table.ts";
 * const table = new RegionTable("m0");
 * const region = table.register(new Uint8Array(8), { remoteRead: true, remoteWrite: false });
 * console.assert(table.target(region.key, 0, 8, "remoteRead").length === 8);
 * ```
 */
export class RegionTable {
  readonly #owner: ComponentId;
  readonly #regions = new Map<number, { region: MemoryRegion; bytes: Uint8Array }>();
  #nextKey = 1;

  /** Creates the table of component `owner` (named in errors). */
  constructor(owner: ComponentId) {
    this.#owner = owner;
  }

  /** Registers `bytes`; returns the handle peers use. */
  register(bytes: Uint8Array, access: RegionAccess): MemoryRegion {
    if (!(bytes instanceof Uint8Array)) {
      throw new TypeError(`region must be a Uint8Array, got ${typeof bytes}`);
    }
    if (typeof access?.remoteRead !== "boolean" || typeof access?.remoteWrite !== "boolean") {
      throw new TypeError("region access needs boolean remoteRead and remoteWrite");
    }
    const region: MemoryRegion = Object.freeze({
      key: this.#nextKey++,
      length: bytes.length,
      access: Object.freeze({ remoteRead: access.remoteRead, remoteWrite: access.remoteWrite }),
    });
    this.#regions.set(region.key, { region, bytes });
    return region;
  }

  /** Withdraws `region`; `EINVAL` when it is not registered here. */
  deregister(region: MemoryRegion): void {
    if (this.#regions.get(region?.key)?.region !== region) {
      throw new KernelError(
        "EINVAL",
        `${this.#owner} has no registered region with key ${region?.key}`,
      );
    }
    this.#regions.delete(region.key);
  }

  /** Withdraws every region. */
  clear(): void {
    this.#regions.clear();
  }

  /**
   * The bytes of region `key` after checking that it exists (`EINVAL`), allows `right`
   * (`EACCES`) and holds `[offset, offset + length)` (`EFAULT`).
   */
  target(key: number, offset: number, length: number, right: keyof RegionAccess): Uint8Array {
    const registered = this.#regions.get(key);
    if (!registered) {
      throw new KernelError("EINVAL", `${this.#owner} has no registered region with key ${key}`);
    }
    if (!registered.region.access[right]) {
      throw new KernelError(
        "EACCES",
        `region ${key} of ${this.#owner} does not allow ${right}`,
      );
    }
    const size = registered.bytes.length;
    if (
      !Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 ||
      length < 0 || offset + length > size
    ) {
      throw new KernelError(
        "EFAULT",
        `offset ${offset} length ${length} is outside region ${key} of ${this.#owner} (${size} bytes)`,
      );
    }
    return registered.bytes;
  }
}
