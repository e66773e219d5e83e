/**
 * How a file is named on the wire to a storage component, and the lexical checks every
 * name passes before it gets near the host file system.
 *
 * A wire path is relative and names a file in one **vNode**'s namespace (LegoOS gives
 * each vNode — a user's group of processes — its own flat namespace on storage):
 *
 * ```
 * path    = [ "@" vnode "/" ] name *( "/" name )
 * vnode   = 1-63 of a-z 0-9 . _ -, starting with a letter or digit
 * name    = 1-255 UTF-8 bytes, no "/", no NUL, no "\", not ".."
 * ```
 *
 * `results/run1.csv` is in the default vNode, `@alice/results/run1.csv` in vNode
 * `alice`; `@alice` alone names that vNode's root and `.` the default vNode's root (for
 * `stat` and `readdir`). Empty and `.` segments are ignored. Refused: an empty path, absolute paths, `..`, NUL bytes,
 * backslashes, a bad vNode name, a name over 255 bytes, a path over
 * {@link MAX_PATH_BYTES}. In the default vNode no top-level name may start with `@`
 * (such a path names another vNode).
 *
 * @module
 */

import { KernelError } from "../../kernel/errors.ts";

/** Longest wire path, in UTF-8 bytes. */
export const MAX_PATH_BYTES = 1024;
/** Longest single name (path segment), in UTF-8 bytes, as Linux's NAME_MAX. */
export const MAX_NAME_BYTES = 255;

const VNODE_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const utf8 = new TextEncoder();

/** A wire path after the lexical checks. */
export interface StoragePath {
  /** The vNode, or `undefined` for the default vNode. */
  readonly vnode: string | undefined;
  /** The names below the vNode's root; empty when the path names the root itself. */
  readonly segments: readonly string[];
  /** The path in normal form: `@vnode/a/b`, `a/b`, `@vnode` or `.` (a vNode's root). */
  readonly normal: string;
}

/**
 * Checks `path` lexically and splits it into its vNode and names. Throws a
 * `KernelError`: `EINVAL` (malformed), `EACCES` (an escape attempt: absolute path or
 * `..`) or `ENAMETOOLONG`.
 *
 * @example
 * ```ts
 * import { parseStoragePath } from "./storage_path.ts";
 * const p = parseStoragePath("@alice/results//./run1.csv");
 * console.assert(p.vnode === "alice" && p.segments.join("|") === "results|run1.csv");
 * console.assert(p.normal === "@alice/results/run1.csv");
 * console.assert(parseStoragePath("data.bin").vnode === undefined);
 * ```
 */
export function parseStoragePath(path: string): StoragePath {
  if (typeof path !== "string" || path.length === 0) {
    throw new KernelError("EINVAL", "the path is empty");
  }
  const shown = JSON.stringify(path.length > 64 ? path.slice(0, 64) + "…" : path);
  if (utf8.encode(path).length > MAX_PATH_BYTES) {
    throw new KernelError("ENAMETOOLONG", `path ${shown} is over ${MAX_PATH_BYTES} bytes`);
  }
  if (path.includes("\0")) throw new KernelError("EINVAL", `path ${shown} contains a NUL byte`);
  if (path.includes("\\")) throw new KernelError("EINVAL", `path ${shown} contains a backslash`);
  if (path.startsWith("/")) {
    throw new KernelError(
      "EACCES",
      `absolute path ${shown} is refused: paths are relative to the storage root`,
    );
  }
  const parts = path.split("/").filter((s) => s !== "" && s !== ".");
  let vnode: string | undefined;
  if (parts[0]?.startsWith("@")) {
    vnode = parts.shift()!.slice(1);
    if (!VNODE_PATTERN.test(vnode)) {
      throw new KernelError(
        "EINVAL",
        `path ${shown} names vNode ${JSON.stringify(vnode)}: a vNode name is 1-63 of a-z, ` +
          `0-9, ".", "_" and "-", starting with a letter or digit`,
      );
    }
  }
  for (const name of parts) {
    if (name === "..") {
      throw new KernelError("EACCES", `path ${shown} climbs out with ".."`);
    }
    if (utf8.encode(name).length > MAX_NAME_BYTES) {
      throw new KernelError(
        "ENAMETOOLONG",
        `name "${name.slice(0, 32)}…" in path ${shown} is over ${MAX_NAME_BYTES} bytes`,
      );
    }
  }
  const inside = parts.join("/");
  const normal = vnode === undefined ? inside || "." : inside ? `@${vnode}/${inside}` : `@${vnode}`;
  return { vnode, segments: parts, normal };
}
