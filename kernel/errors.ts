/**
 * Typed errors shared by every layer of the kernel.
 *
 * Errors that cross the wire carry a short `code` (an errno name such as `ENOMEM`,
 * `EFAULT`, `ENOENT`, or a kernel code such as `UNHANDLED`) so that the caller can react
 * to them without parsing prose.
 *
 * @module
 */

import type { ComponentId } from "./ids.ts";

/**
 * An error with a machine-readable code. Monitors throw these from their handlers; the
 * RPC layer carries `code` and `message` back to the caller.
 *
 * @example
 * ```ts
 * import { KernelError } from "./errors.ts";
 * const err = new KernelError("EINVAL", "length must be positive");
 * console.assert(err.code === "EINVAL");
 * ```
 */
export class KernelError extends Error {
  /** Machine-readable code, e.g. an errno name. */
  readonly code: string;
  /** Creates an error with `code` and a human-readable `message`. */
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "KernelError";
    this.code = code;
  }
}

/**
 * Bytes that are not a valid legoemu message: truncated, oversized, a bad magic number,
 * an unknown kind, or a body that does not match its kind.
 *
 * @example
 * ```ts
 * import { DecodeError } from "./errors.ts";
 * const err = new DecodeError("TRUNCATED", "header needs 48 bytes, got 3");
 * console.assert(err.reason === "TRUNCATED");
 * ```
 */
export class DecodeError extends KernelError {
  /** What was wrong, as a short code. */
  readonly reason: DecodeProblem;
  /** Creates a decode error for `reason`. */
  constructor(reason: DecodeProblem, message: string) {
    super("EBADMSG", message);
    this.name = "DecodeError";
    this.reason = reason;
  }
}

/** The ways a frame can fail to decode. */
export type DecodeProblem =
  | "TRUNCATED"
  | "OVERSIZED"
  | "BAD_MAGIC"
  | "BAD_VERSION"
  | "BAD_FLAGS"
  | "UNKNOWN_KIND"
  | "BAD_ID"
  | "BAD_BODY"
  | "BAD_MODEL_TIME"
  | "TRAILING_BYTES";

/**
 * An error raised by a handler on another component and carried back over RPC.
 *
 * @example
 * ```ts
 * import { RemoteError } from "./errors.ts";
 * const err = new RemoteError("m0", "ENOMEM", "pool exhausted");
 * console.assert(err.remote === "m0" && err.code === "ENOMEM");
 * ```
 */
export class RemoteError extends KernelError {
  /** The component whose handler failed. */
  readonly remote: ComponentId;
  /** Creates an error that `remote` reported with `code`. */
  constructor(remote: ComponentId, code: string, message: string) {
    super(code, `${remote}: ${message}`);
    this.name = "RemoteError";
    this.remote = remote;
  }
}

/**
 * A call that got no reply within its timeout.
 *
 * @example
 * ```ts
 * import { RpcTimeoutError } from "./errors.ts";
 * console.assert(new RpcTimeoutError("m0", "P2M_PAGE_FETCH", 10).code === "ETIMEDOUT");
 * ```
 */
export class RpcTimeoutError extends KernelError {
  /** The component that did not answer. */
  readonly remote: ComponentId;
  /** Creates a timeout error for a call of `kind` to `remote`. */
  constructor(remote: ComponentId, kind: string, timeoutMs: number) {
    super("ETIMEDOUT", `${kind} to ${remote} got no reply within ${timeoutMs} ms`);
    this.name = "RpcTimeoutError";
    this.remote = remote;
  }
}

/**
 * A call cancelled by its `AbortSignal` before a reply arrived.
 *
 * @example
 * ```ts
 * import { RpcCancelledError } from "./errors.ts";
 * console.assert(new RpcCancelledError("m0", "P2M_BRK").code === "ECANCELED");
 * ```
 */
export class RpcCancelledError extends KernelError {
  /** The component the call was addressed to. */
  readonly remote: ComponentId;
  /** Creates a cancellation error for a call of `kind` to `remote`. */
  constructor(remote: ComponentId, kind: string, options?: ErrorOptions) {
    super("ECANCELED", `${kind} to ${remote} was cancelled`, options);
    this.name = "RpcCancelledError";
    this.remote = remote;
  }
}

/**
 * A destination the transport cannot reach: unknown id, closed, or gone.
 *
 * @example
 * ```ts
 * import { UnreachableError } from "./errors.ts";
 * console.assert(new UnreachableError("x9", "no such component").code === "EHOSTUNREACH");
 * ```
 */
export class UnreachableError extends KernelError {
  /** The component that could not be reached. */
  readonly remote: ComponentId;
  /** Creates an error saying why `remote` cannot be reached. */
  constructor(remote: ComponentId, why: string) {
    super("EHOSTUNREACH", `cannot reach ${remote}: ${why}`);
    this.name = "UnreachableError";
    this.remote = remote;
  }
}
