/**
 * Typed errors of the RDMA layer: a verb that failed (naming the verb and the errno),
 * a work completion with an error status (naming the opcode and the status), and the
 * host having no usable RDMA (naming the cause and the fix).
 *
 * @module
 */

import { KernelError } from "../../kernel/errors.ts";

const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  5: "EIO",
  6: "ENXIO",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  16: "EBUSY",
  19: "ENODEV",
  22: "EINVAL",
  28: "ENOSPC",
  38: "ENOSYS",
  61: "ENODATA",
  95: "EOPNOTSUPP",
  110: "ETIMEDOUT",
};

/**
 * The symbolic name of errno `n` (e.g. `ENOSYS`), or `errno <n>`.
 *
 * @example
 * ```ts
 * import { errnoName } from "./errors.ts";
 * console.assert(errnoName(38) === "ENOSYS");
 * ```
 */
export function errnoName(n: number): string {
  return ERRNO_NAMES[n] ?? `errno ${n}`;
}

/**
 * A verb returned an error: `ibv_modify_qp failed: EINVAL (22) — ...`.
 *
 * @example
 * ```ts
 * import { VerbsError } from "./errors.ts";
 * const e = new VerbsError("ibv_query_port", 22, "port 9");
 * console.assert(e.verb === "ibv_query_port" && e.code === "EINVAL");
 * ```
 */
export class VerbsError extends KernelError {
  /** The verb that failed, e.g. `ibv_reg_mr`. */
  readonly verb: string;
  /** The errno it reported. */
  readonly errno: number;
  /** Creates the error for `verb` failing with `errno`; `detail` says what was asked. */
  constructor(verb: string, errno: number, detail = "") {
    const name = errnoName(errno);
    super(
      ERRNO_NAMES[errno] ?? "EIO",
      `${verb} failed: ${name} (${errno})${detail ? ` — ${detail}` : ""}`,
    );
    this.name = "VerbsError";
    this.verb = verb;
    this.errno = errno;
  }
}

/**
 * A work request completed with an error status, e.g. an RDMA READ with a bad rkey:
 * `IBV_WR_RDMA_READ completed with IBV_WC_REM_ACCESS_ERR (10)`.
 *
 * @example
 * ```ts
 * import { CompletionError } from "./errors.ts";
 * const e = new CompletionError("IBV_WR_RDMA_READ", 10, "IBV_WC_REM_ACCESS_ERR");
 * console.assert(e.status === "IBV_WC_REM_ACCESS_ERR" && e.code === "EREMOTEIO");
 * ```
 */
export class CompletionError extends KernelError {
  /** The work request's opcode name, e.g. `IBV_WR_RDMA_WRITE_WITH_IMM`. */
  readonly verb: string;
  /** The completion status's name, e.g. `IBV_WC_REM_ACCESS_ERR`. */
  readonly status: string;
  /** Its numeric value. */
  readonly statusCode: number;
  /** Creates the error; `detail` names the peer or region involved. */
  constructor(verb: string, statusCode: number, status: string, detail = "") {
    super(
      "EREMOTEIO",
      `${verb} completed with ${status} (${statusCode})${detail ? ` — ${detail}` : ""}`,
    );
    this.name = "CompletionError";
    this.verb = verb;
    this.status = status;
    this.statusCode = statusCode;
  }
}

/**
 * This host cannot run the RDMA transport: libibverbs is missing, it lists no device,
 * or the configured device or port does not exist. The message names the cause and
 * how to fix it.
 *
 * @example
 * ```ts
 * import { RdmaUnavailableError } from "./errors.ts";
 * const e = new RdmaUnavailableError("no RDMA device", "load a driver");
 * console.assert(e.code === "ENODEV" && e.message.includes("load a driver"));
 * ```
 */
export class RdmaUnavailableError extends KernelError {
  /** What is wrong. */
  readonly reason: string;
  /** How to fix it. */
  readonly fix: string;
  /** Creates the error from its cause and fix. */
  constructor(cause: string, fix: string) {
    super("ENODEV", `RDMA transport unavailable: ${cause}. Fix: ${fix}`);
    this.name = "RdmaUnavailableError";
    this.reason = cause;
    this.fix = fix;
  }
}
