/**
 * Maps a client's path into a storage component's root, refusing anything that could
 * escape it: absolute paths, `..` segments, NUL bytes, over-long names, and symlinks that
 * resolve outside the root.
 *
 * @module
 */

import { KernelError } from "../../kernel/errors.ts";

/** Longest path a client may name, in characters. */
export const MAX_PATH_LENGTH = 1024;
/** Longest single path segment (a file name), in UTF-8 bytes, as Linux's NAME_MAX. */
export const MAX_NAME_BYTES = 255;

const utf8 = new TextEncoder();

/**
 * Checks `path` lexically and returns its segments. Throws `KernelError` with `EINVAL`
 * (bad form), `EACCES` (escape attempt) or `ENAMETOOLONG`.
 *
 * @example
 * ```ts
 * import { pathSegments } from "./safe_path.ts";
 * console.assert(pathSegments("data/a.txt").join("|") === "data|a.txt");
 * ```
 */
export function pathSegments(path: string): string[] {
  if (typeof path !== "string" || path.length === 0) {
    throw new KernelError("EINVAL", "path is empty");
  }
  if (path.length > MAX_PATH_LENGTH) {
    throw new KernelError("ENAMETOOLONG", `path is over ${MAX_PATH_LENGTH} characters`);
  }
  if (path.includes("\0")) throw new KernelError("EINVAL", "path contains a NUL byte");
  if (path.includes("\\")) throw new KernelError("EINVAL", "path contains a backslash");
  if (path.startsWith("/")) {
    throw new KernelError("EACCES", `absolute path "${path}" is refused: paths are relative`);
  }
  const segments = path.split("/").filter((s) => s !== "" && s !== ".");
  if (segments.length === 0) throw new KernelError("EINVAL", `path "${path}" names the root`);
  for (const s of segments) {
    if (s === "..") throw new KernelError("EACCES", `path "${path}" climbs out with ".."`);
    if (utf8.encode(s).length > MAX_NAME_BYTES) {
      throw new KernelError("ENAMETOOLONG", `name "${s.slice(0, 32)}..." is over 255 bytes`);
    }
  }
  return segments;
}

/**
 * Resolves `path` inside `root` (an absolute, already real path) and checks that the
 * deepest existing ancestor does not resolve, through symlinks, outside the root.
 * Returns the host path to use.
 *
 * @example
 * ```ts ignore
 * const host = await resolveInRoot("/srv/legoemu", "data/a.txt");
 * ```
 */
export async function resolveInRoot(root: string, path: string): Promise<string> {
  const segments = pathSegments(path);
  const host = `${root}/${segments.join("/")}`;
  // Walk up to the deepest part that exists and make sure it really lives in the root.
  for (let n = segments.length; n >= 0; n--) {
    const candidate = n === 0 ? root : `${root}/${segments.slice(0, n).join("/")}`;
    let real: string;
    try {
      real = await Deno.realPath(candidate);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      // A dangling symlink could point anywhere; creating through it would escape.
      if (await isSymlink(candidate)) {
        throw new KernelError("EACCES", `path "${path}" goes through a dangling symlink`);
      }
      continue;
    }
    if (real !== root && !real.startsWith(root + "/")) {
      throw new KernelError("EACCES", `path "${path}" resolves outside the storage root`);
    }
    break;
  }
  return host;
}

async function isSymlink(hostPath: string): Promise<boolean> {
  try {
    return (await Deno.lstat(hostPath)).isSymlink;
  } catch {
    return false;
  }
}
