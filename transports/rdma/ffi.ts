/**
 * Loading libibverbs (and the two libc calls the layer needs) with `Deno.dlopen`.
 *
 * Only exported functions are bound here. The data-path verbs (`ibv_post_send`,
 * `ibv_post_recv`, `ibv_post_srq_recv`, `ibv_poll_cq`, `ibv_req_notify_cq`) are
 * `static inline` in verbs.h: they call through the function pointers in the
 * context's ops table, which `verbs.ts` reads at the offsets of `abi.ts`.
 *
 * @example
 * ```ts ignore
 * import { loadVerbs } from "./ffi.ts";
 * const { ibv } = loadVerbs();
 * ```
 *
 * @module
 */

import { RdmaUnavailableError } from "./errors.ts";

const IBV_SYMBOLS = {
  ibv_get_device_list: { parameters: ["buffer"], result: "pointer" },
  ibv_free_device_list: { parameters: ["pointer"], result: "void" },
  ibv_get_device_name: { parameters: ["pointer"], result: "pointer" },
  ibv_open_device: { parameters: ["pointer"], result: "pointer" },
  ibv_close_device: { parameters: ["pointer"], result: "i32" },
  ibv_query_device: { parameters: ["pointer", "buffer"], result: "i32" },
  ibv_query_port: { parameters: ["pointer", "u8", "buffer"], result: "i32" },
  ibv_query_gid: { parameters: ["pointer", "u8", "i32", "buffer"], result: "i32" },
  ibv_alloc_pd: { parameters: ["pointer"], result: "pointer" },
  ibv_dealloc_pd: { parameters: ["pointer"], result: "i32" },
  ibv_reg_mr_iova2: {
    parameters: ["pointer", "pointer", "usize", "u64", "u32"],
    result: "pointer",
  },
  ibv_dereg_mr: { parameters: ["pointer"], result: "i32" },
  ibv_create_comp_channel: { parameters: ["pointer"], result: "pointer" },
  ibv_destroy_comp_channel: { parameters: ["pointer"], result: "i32" },
  ibv_create_cq: {
    parameters: ["pointer", "i32", "pointer", "pointer", "i32"],
    result: "pointer",
  },
  ibv_destroy_cq: { parameters: ["pointer"], result: "i32" },
  // Blocks until the completion channel has an event: run on a worker thread.
  ibv_get_cq_event: {
    parameters: ["pointer", "buffer", "buffer"],
    result: "i32",
    nonblocking: true,
  },
  ibv_ack_cq_events: { parameters: ["pointer", "u32"], result: "void" },
  ibv_create_qp: { parameters: ["pointer", "buffer"], result: "pointer" },
  ibv_modify_qp: { parameters: ["pointer", "buffer", "i32"], result: "i32" },
  ibv_destroy_qp: { parameters: ["pointer"], result: "i32" },
  ibv_create_srq: { parameters: ["pointer", "buffer"], result: "pointer" },
  ibv_destroy_srq: { parameters: ["pointer"], result: "i32" },
  ibv_create_ah: { parameters: ["pointer", "buffer"], result: "pointer" },
  ibv_destroy_ah: { parameters: ["pointer"], result: "i32" },
} as const;

const LIBC_SYMBOLS = {
  __errno_location: { parameters: [], result: "pointer" },
  aligned_alloc: { parameters: ["usize", "usize"], result: "pointer" },
  free: { parameters: ["pointer"], result: "void" },
} as const;

/** The bound libibverbs functions. */
export type IbvLibrary = Deno.DynamicLibrary<typeof IBV_SYMBOLS>["symbols"];
/** The bound libc functions. */
export type LibcLibrary = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];

/** Both libraries, loaded once per process. */
export interface VerbsLibraries {
  /** libibverbs.so.1. */
  readonly ibv: IbvLibrary;
  /** libc.so.6. */
  readonly libc: LibcLibrary;
}

let loaded: VerbsLibraries | undefined;

/** The soname opened: Debian's `libibverbs1`, rdma-core's `libibverbs`. */
export const LIBIBVERBS = "libibverbs.so.1";

/**
 * Opens libibverbs (once per process). Throws {@link RdmaUnavailableError} naming the
 * package to install when the library is missing, and one naming `--allow-ffi` when
 * FFI is not permitted.
 */
export function loadVerbs(): VerbsLibraries {
  if (loaded) return loaded;
  let ibv: IbvLibrary;
  let libc: LibcLibrary;
  try {
    ibv = Deno.dlopen(LIBIBVERBS, IBV_SYMBOLS).symbols;
    libc = Deno.dlopen("libc.so.6", LIBC_SYMBOLS).symbols;
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
      throw new RdmaUnavailableError(
        "Deno may not load native libraries",
        "run with --allow-ffi (or -A), or choose the tcp transport",
      );
    }
    throw new RdmaUnavailableError(
      `${LIBIBVERBS} could not be loaded (${(e as Error).message.split("\n")[0]})`,
      "install rdma-core's verbs library (Debian/Ubuntu: apt-get install libibverbs1 " +
        "ibverbs-providers; Fedora: dnf install libibverbs), or choose the tcp transport",
    );
  }
  loaded = { ibv, libc };
  return loaded;
}

/** The calling thread's errno (read right after a verb that returned NULL or -1). */
export function lastErrno(libc: LibcLibrary): number {
  const p = libc.__errno_location();
  return p ? new Deno.UnsafePointerView(p).getInt32(0) : 0;
}
