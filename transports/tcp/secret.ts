/**
 * Reading the cluster secret from a file: the bytes of the file, without trailing
 * whitespace (so `openssl rand -hex 32 > cluster.secret` works as is).
 *
 * @module
 */

import { KernelError } from "../../kernel/errors.ts";
import { MIN_SECRET_BYTES } from "./handshake.ts";

/** A secret read from a file, with a warning when the file is readable by others. */
export interface SecretFile {
  /** The secret bytes. */
  secret: Uint8Array;
  /** Set when the file's permissions let other users read it. */
  warning?: string;
}

/**
 * Reads a secret file. Throws a `KernelError` naming the file: `ENOENT` when it cannot
 * be read, `EINVAL` when it holds fewer than 16 bytes.
 *
 * @example
 * ```ts
 * import { readSecretFile } from "./secret.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "0123456789abcdef0123456789abcdef\n");
 * const { secret } = await readSecretFile(path);
 * console.assert(secret.length === 32);
 * await Deno.remove(path);
 * ```
 */
export async function readSecretFile(path: string): Promise<SecretFile> {
  let bytes: Uint8Array;
  let mode: number | null = null;
  try {
    bytes = await Deno.readFile(path);
    mode = (await Deno.stat(path)).mode;
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound ? "file not found" : (e as Error).message;
    throw new KernelError("ENOENT", `cannot read the cluster secret file ${path}: ${why}`, {
      cause: e,
    });
  }
  let end = bytes.length;
  while (
    end > 0 &&
    (bytes[end - 1] === 0x0a || bytes[end - 1] === 0x0d || bytes[end - 1] === 0x20 ||
      bytes[end - 1] === 0x09)
  ) end--;
  if (end < MIN_SECRET_BYTES) {
    throw new KernelError(
      "EINVAL",
      `the cluster secret file ${path} holds ${end} bytes; it needs at least ${MIN_SECRET_BYTES}`,
    );
  }
  const result: SecretFile = { secret: bytes.slice(0, end) };
  if (mode !== null && (mode & 0o077) !== 0) {
    result.warning = `the cluster secret file ${path} is readable by other users (mode ${
      (mode & 0o777).toString(8)
    }); chmod 600 it`;
  }
  return result;
}
