/**
 * Host file-system errors turned into errno-coded {@link KernelError}s that name the
 * client's path, never the host's (the root's location is the storage component's own
 * business).
 *
 * @module
 */

import { KernelError } from "../../kernel/errors.ts";

const ERRNO_OF_CLASS: [new (...args: never[]) => Error, string][] = [
  [Deno.errors.NotFound, "ENOENT"],
  [Deno.errors.AlreadyExists, "EEXIST"],
  [Deno.errors.PermissionDenied, "EACCES"],
  [Deno.errors.IsADirectory, "EISDIR"],
  [Deno.errors.NotADirectory, "ENOTDIR"],
  [Deno.errors.FilesystemLoop, "ELOOP"],
  [Deno.errors.InvalidData, "EINVAL"],
  [Deno.errors.NotSupported, "ENOTSUP"],
  [Deno.errors.Busy, "EBUSY"],
];

/**
 * A `KernelError` for `error` raised while doing `op` on the client's `path`. A
 * `KernelError` passes through unchanged; a host error keeps its errno name (`ENOENT`,
 * `ENOTEMPTY`, `ENOSPC`, ...) and gets a message without host paths; anything else is
 * `EIO`.
 *
 * @example
 * ```ts
 * import { toStorageError } from "./errno.ts";
 * let error: unknown;
 * try {
 *   Deno.statSync("/definitely/not/here");
 * } catch (e) {
 *   error = e;
 * }
 * const mapped = toStorageError(error, "stat", "data/x");
 * console.assert(mapped.code === "ENOENT" && !mapped.message.includes("/definitely"));
 * ```
 */
export function toStorageError(error: unknown, op: string, path: string): KernelError {
  if (error instanceof KernelError) return error;
  let code = (error as { code?: unknown })?.code;
  if (typeof code !== "string" || !/^E[A-Z0-9]+$/.test(code)) {
    code = ERRNO_OF_CLASS.find(([type]) => error instanceof type)?.[1] ?? "EIO";
  }
  const text = error instanceof Error ? error.message : String(error);
  // Deno's messages read "No such file or directory (os error 2): open '/host/path'".
  const reason = text.replace(/\s*\(os error \d+\).*$/s, "").replace(/:\s*\w+ '.*$/s, "");
  return new KernelError(code as string, `${op} "${path}": ${reason || code}`);
}
