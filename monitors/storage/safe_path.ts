/**
 * Maps a checked wire path ({@link StoragePath}) to a host path inside the storage root,
 * refusing any path that would leave its vNode's directory through a symlink.
 *
 * Host layout: the default vNode's files live directly in the root; vNode `v`'s files
 * live in `<root>/@v/`. A path is accepted only when the deepest part of it that exists
 * resolves (symlinks followed, `realpath`) inside its own vNode's directory — for the
 * default vNode, inside the root but not under a `@…` vNode directory. A dangling
 * symlink anywhere on the path is refused outright: what it points at could be created
 * later, outside the root. So a symlinked directory in the middle of a path, a symlink
 * as the last name, a symlink loop and a symlink into another vNode are all refused.
 *
 * What this cannot stop: another host process swapping a directory for a symlink
 * between the check and the use (the service itself never creates symlinks). Keep the
 * root private to the storage component.
 *
 * @module
 */

import { KernelError } from "../../kernel/errors.ts";
import type { StoragePath } from "./storage_path.ts";

/** A wire path resolved to the host. */
export interface HostPath {
  /** The host path to operate on. */
  readonly host: string;
  /** The host directory of the path's vNode. */
  readonly vnodeRoot: string;
  /** Whether the path names the vNode's root itself. */
  readonly isVnodeRoot: boolean;
}

/**
 * The host directory of `vnode` under `root` (`root` itself for the default vNode).
 *
 * @example
 * ```ts
 * import { vnodeDirectory } from "./safe_path.ts";
 * console.assert(vnodeDirectory("/srv/s0", "alice") === "/srv/s0/@alice");
 * console.assert(vnodeDirectory("/srv/s0", undefined) === "/srv/s0");
 * ```
 */
export function vnodeDirectory(root: string, vnode: string | undefined): string {
  return vnode === undefined ? root : `${root}/@${vnode}`;
}

/**
 * Resolves `path` under `root` (an absolute path with no symlinks, as `realPath` gives)
 * and checks it stays in its vNode. Throws `KernelError` `EACCES` for an escape,
 * `ELOOP` for a symlink loop, `ENOTDIR` when a name on the way is a file.
 *
 * @example
 * ```ts
 * import { parseStoragePath } from "./storage_path.ts";
 * import { resolveHostPath } from "./safe_path.ts";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * const { host } = resolveHostPath(root, parseStoragePath("@bob/notes.txt"));
 * console.assert(host === `${root}/@bob/notes.txt`);
 * Deno.removeSync(root, { recursive: true });
 * ```
 */
export function resolveHostPath(root: string, path: StoragePath): HostPath {
  const vnodeRoot = vnodeDirectory(root, path.vnode);
  const host = path.segments.length ? `${vnodeRoot}/${path.segments.join("/")}` : vnodeRoot;
  const inside = path.vnode === undefined
    ? (real: string) =>
      real === root || (real.startsWith(root + "/") && real[root.length + 1] !== "@")
    : (real: string) => real === vnodeRoot || real.startsWith(vnodeRoot + "/");
  // Walk up to the deepest part that exists and check where it really is.
  const names = [...path.segments];
  for (let n = names.length; n >= 0; n--) {
    const candidate = n === names.length
      ? host
      : n === 0
      ? vnodeRoot
      : `${vnodeRoot}/${names.slice(0, n).join("/")}`;
    let real: string;
    try {
      real = Deno.realPathSync(candidate);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        if (isSymlink(candidate)) {
          throw new KernelError(
            "EACCES",
            `path "${path.normal}" goes through a dangling symlink; refused`,
          );
        }
        continue;
      }
      if (e instanceof Deno.errors.FilesystemLoop) {
        throw new KernelError("ELOOP", `path "${path.normal}" goes through a symlink loop`);
      }
      if (e instanceof Deno.errors.NotADirectory) {
        throw new KernelError("ENOTDIR", `a name on path "${path.normal}" is not a directory`);
      }
      throw e;
    }
    if (!inside(real)) {
      throw new KernelError(
        "EACCES",
        `path "${path.normal}" resolves, through a symlink, outside its vNode's directory; refused`,
      );
    }
    break;
  }
  return { host, vnodeRoot, isVnodeRoot: path.segments.length === 0 };
}

function isSymlink(hostPath: string): boolean {
  try {
    return Deno.lstatSync(hostPath).isSymlink;
  } catch {
    return false;
  }
}
