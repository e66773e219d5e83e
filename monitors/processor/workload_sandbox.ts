/**
 * The workload sandbox: what a workload module may be, and what its threads may do.
 *
 * A workload reaches memory, files and threads only through the process API, which the
 * monitor serves by message; the Worker itself needs no host access. So each thread runs
 * with Deno permissions cut to reading its own module (plus `read`, when configured): no
 * writing, network, subprocesses, environment, FFI or system information, and remote
 * imports only from `importHosts`. Before a Worker starts, the module is checked: an
 * allowed URL scheme, and for `file:` a regular file of at most `maxModuleBytes` (a
 * device such as `/dev/zero` would be read without end). `inherit: true` gives threads
 * the processor's own permissions (trusted workloads only).
 *
 * Deno Workers have no per-Worker heap limit; a thread's memory is the ExCache and what
 * it allocates in JavaScript, bounded by the processor's V8 heap (`--v8-flags=
 * --max-old-space-size=N` when starting the component) and by `maxThreads`.
 *
 * @module
 */

import { z } from "npm:zod@4.6.7";
import { KernelError } from "../../kernel/errors.ts";
import type { Schema } from "../../kernel/zod_issues.ts";

/** The sandbox settings of a processor (its `sandbox` option). */
export interface SandboxOptions {
  /** Run threads with the processor's own permissions (default false: sandboxed). */
  inherit: boolean;
  /** URL schemes a workload may be loaded from (default `file`, `data`). */
  schemes: string[];
  /** Extra host paths threads may read (e.g. helper modules a workload imports). */
  read: string[];
  /** Hosts remote modules may be imported from (default none). */
  importHosts: string[];
  /** Largest workload module, in bytes (default 16 MiB). */
  maxModuleBytes: number;
}

const sandboxZod = z.strictObject({
  inherit: z.boolean().default(false),
  schemes: z.array(z.enum(["file", "data", "http", "https"])).min(1).default(["file", "data"]),
  read: z.array(z.string().min(1).max(4096)).max(256).default([]),
  importHosts: z.array(z.string().min(1).max(255)).max(256).default([]),
  maxModuleBytes: z.number().int().min(1).max(2 ** 30).default(16 * 1024 * 1024),
});

/** Validates {@link SandboxOptions}, filling defaults. */
export const SandboxOptionsSchema: Schema<SandboxOptions> = sandboxZod;

/** The sandbox option as a field of the processor's options (defaults when omitted). */
export const sandboxField = sandboxZod.default(sandboxZod.parse({}));

/**
 * The default sandbox: `file:` and `data:` modules up to 16 MiB, threads that may read
 * only their own module.
 *
 * @example
 * ```ts
 * import { defaultSandbox } from "./workload_sandbox.ts";
 * console.assert(defaultSandbox().inherit === false);
 * ```
 */
export function defaultSandbox(): SandboxOptions {
  return sandboxZod.parse({});
}

/** What a Worker is started with: Deno's `deno.permissions`, or `"inherit"`. */
export type ThreadPermissions = "inherit" | Record<string, boolean | string[]>;

/** Shortens a URL for a message (a `data:` URL may hold a whole module). */
export function shortUrl(url: string): string {
  return url.length > 120 ? `${url.slice(0, 100)}…(${url.length} chars)` : url;
}

/**
 * Checks that `url` may be loaded as a workload under `options`. Throws a `KernelError`:
 * `EINVAL` for a refused scheme, a non-regular file or one over the size limit, `ENOENT`
 * when there is no such file.
 *
 * @example
 * ```ts
 * import { checkWorkload, defaultSandbox } from "./workload_sandbox.ts";
 * const options = defaultSandbox();
 * await checkWorkload("file:///dev/zero", options).catch((e) =>
 *   console.assert(/not a regular file/.test(e.message))
 * );
 * ```
 */
export async function checkWorkload(url: string, options: SandboxOptions): Promise<void> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new KernelError("EINVAL", `cannot load workload ${shortUrl(url)}: not a URL or path`);
  }
  const scheme = parsed.protocol.slice(0, -1);
  if (!options.schemes.includes(scheme)) {
    throw new KernelError(
      "EINVAL",
      `cannot load workload ${shortUrl(url)}: scheme "${scheme}" is not allowed (allowed: ${
        options.schemes.join(", ")
      })`,
    );
  }
  if (scheme === "data" && url.length > options.maxModuleBytes) {
    throw new KernelError(
      "EINVAL",
      `cannot load workload ${
        shortUrl(url)
      }: ${url.length} bytes, over the limit of ${options.maxModuleBytes} (maxModuleBytes)`,
    );
  }
  if (scheme !== "file") return;
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(parsed);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new KernelError("ENOENT", `cannot load workload ${shortUrl(url)}: no such file`);
    }
    throw new KernelError(
      "EINVAL",
      `cannot load workload ${shortUrl(url)}: the file cannot be examined`,
    );
  }
  if (!info.isFile) {
    throw new KernelError(
      "EINVAL",
      `cannot load workload ${shortUrl(url)}: not a regular file (a directory or device)`,
    );
  }
  if (info.size > options.maxModuleBytes) {
    throw new KernelError(
      "EINVAL",
      `cannot load workload ${
        shortUrl(url)
      }: ${info.size} bytes, over the limit of ${options.maxModuleBytes} (maxModuleBytes)`,
    );
  }
}

/**
 * The permissions a thread of workload `url` runs with.
 *
 * @example
 * ```ts
 * import { defaultSandbox, threadPermissions } from "./workload_sandbox.ts";
 * const p = threadPermissions("file:///w/a.ts", defaultSandbox());
 * console.assert(typeof p === "object" && p.write === false && p.net === false);
 * ```
 */
export function threadPermissions(url: string, options: SandboxOptions): ThreadPermissions {
  if (options.inherit) return "inherit";
  const read = [...options.read];
  if (url.startsWith("file:")) read.push(decodeURIComponent(new URL(url).pathname));
  return {
    read: read.length > 0 ? read : false,
    write: false,
    net: false,
    env: false,
    run: false,
    ffi: false,
    sys: false,
    import: options.importHosts.length > 0 ? [...options.importHosts] : false,
  } as Record<string, boolean | string[]>;
}

/**
 * A load failure as one line that never repeats the module's bytes (Deno's parse errors
 * quote the offending source line, which for `/proc/self/environ` is the environment).
 *
 * @example
 * ```ts
 * import { describeLoadError } from "./workload_sandbox.ts";
 * const e = Object.assign(new TypeError("SyntaxError: x\n1 | SECRET=1\n at file:///a:1:7"), {
 *   code: "ERR_MODULE_NOT_FOUND",
 * });
 * console.assert(describeLoadError(e) === "its source is not a valid module (line 1, column 7)");
 * ```
 */
export function describeLoadError(error: unknown): string | undefined {
  const e = error as { name?: unknown; message?: unknown; code?: unknown };
  const message = typeof e?.message === "string" ? e.message : "";
  const firstLine = message.split("\n")[0];
  if (
    e?.name === "NotCapable" || e?.name === "PermissionDenied" ||
    /^Requires \w+ access/.test(firstLine)
  ) {
    const what = /^Requires (\w+) access to ("[^"\n]{0,300}")/.exec(firstLine);
    return what
      ? `the workload sandbox denies ${what[1]} access to ${
        what[2]
      } (see the processor's sandbox option)`
      : "the workload sandbox denies an access it needs (see the processor's sandbox option)";
  }
  if (e?.code !== "ERR_MODULE_NOT_FOUND") return undefined;
  if (/^Module not found/.test(firstLine)) return "module not found";
  if (/^SyntaxError/.test(firstLine) || /could not be parsed/.test(firstLine)) {
    const at = /:(\d+):(\d+)\s*$/.exec(message);
    return `its source is not a valid module${at ? ` (line ${at[1]}, column ${at[2]})` : ""}`;
  }
  if (/^Unsupported scheme/.test(firstLine)) return "its URL scheme cannot be imported";
  return "the module could not be loaded";
}

let workerOptions: boolean | undefined | null = null;

/**
 * Whether this Deno runs with the worker-options API (`--unstable-worker-options`, or
 * `"unstable": ["worker-options"]` in its deno.json). Deno offers no way to ask, and
 * using the API without it exits the whole process, so this reads the command line
 * (`/proc/self/cmdline`) and the config Deno would have found. `undefined` when it cannot
 * tell (no `/proc`): then the Worker is tried as is.
 */
export function workerOptionsEnabled(): boolean | undefined {
  if (workerOptions !== null) return workerOptions;
  let args: string[];
  try {
    args = Deno.readTextFileSync("/proc/self/cmdline").split("\0");
  } catch {
    return workerOptions = undefined;
  }
  if (args.some((a) => a === "--unstable-worker-options" || a === "--unstable")) {
    return workerOptions = true;
  }
  if (args.includes("--no-config")) return workerOptions = false;
  const configs: string[] = [];
  const given = args.findIndex((a) => a === "--config" || a === "-c");
  if (given >= 0 && args[given + 1]) configs.push(args[given + 1]);
  for (const a of args) if (a.startsWith("--config=")) configs.push(a.slice(9));
  const dirs = [Deno.cwd()];
  if (Deno.mainModule.startsWith("file:")) {
    dirs.push(decodeURIComponent(new URL(".", Deno.mainModule).pathname));
  }
  for (let dir of dirs) {
    while (true) {
      configs.push(`${dir}/deno.json`, `${dir}/deno.jsonc`);
      const up = dir.replace(/\/[^/]*\/?$/, "");
      if (up === dir || up === "") break;
      dir = up;
    }
  }
  for (const config of configs) {
    try {
      const text = Deno.readTextFileSync(config);
      if (/"unstable"\s*:\s*\[[^\]]*"worker-options"/.test(text)) return workerOptions = true;
    } catch {
      // Not there: look further up.
    }
  }
  return workerOptions = false;
}

/**
 * Starts a thread's Worker on `module` with `permissions`. Throws a `KernelError`
 * (`EPERM`) naming the fix when Deno runs without the worker-options API a sandbox
 * needs ({@link workerOptionsEnabled}); it never falls back to an unsandboxed thread.
 *
 * @example
 * ```ts ignore
 * const worker = startThreadWorker(url, "pid 1 thread 0", threadPermissions(w, sandbox));
 * ```
 */
export function startThreadWorker(
  module: string,
  name: string,
  permissions: ThreadPermissions,
): Worker {
  if (permissions === "inherit") return new Worker(module, { type: "module", name });
  if (workerOptionsEnabled() === false) {
    throw new KernelError(
      "EPERM",
      'the workload sandbox needs Deno\'s worker options: run deno with --unstable-worker-options (or "unstable": ["worker-options"] in deno.json), or trust workloads with the processor option sandbox.inherit',
    );
  }
  return new Worker(module, { type: "module", name, deno: { permissions } } as WorkerOptions);
}
