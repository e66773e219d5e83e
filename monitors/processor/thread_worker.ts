/**
 * The entry module of every emulated thread's Worker.
 *
 * The processor monitor starts a Worker on this module and posts it a `ThreadInit`. The
 * thread builds its {@link WorkerProc}, imports the workload, runs the entry function
 * (`main` for the first thread) and reports how it ended: its return value, an
 * `exit(code)` for the whole process, or the error that escaped it. A thread that returned
 * leaves its Worker ready for another `ThreadInit`: the monitor runs a later thread of the
 * same process on it (a thread pool), so spawning does not start and compile a new isolate. Errors that escape
 * asynchronously (an unhandled rejection) are reported the same way; nothing a workload
 * does can take the monitor down.
 *
 * @example
 * ```ts ignore
 * const worker = new Worker(new URL("./thread_worker.ts", import.meta.url), { type: "module" });
 * worker.postMessage(init); // a ThreadInit
 * ```
 *
 * @module
 */

import { KernelError } from "../../kernel/errors.ts";
import type { ThreadInit, ThreadMessage } from "./layout.ts";
import { ExitRequest, WorkerProc } from "./worker_proc.ts";
import { describeLoadError, shortUrl } from "./workload_sandbox.ts";
// Loaded here with the processor's permissions, so a sandboxed workload that imports
// the ABI constants finds the module already in its graph (no host read needed).
import "../../kernel/abi.ts";

interface WorkerScope {
  onmessage: ((event: MessageEvent<ThreadInit>) => void) | null;
  postMessage(message: ThreadMessage): void;
  addEventListener(
    type: "error" | "unhandledrejection",
    listener: (event: Event & { error?: unknown; reason?: unknown }) => void,
  ): void;
}

const scope = globalThis as unknown as WorkerScope;
let reported = false;
let proc: WorkerProc | undefined;

function report(message: ThreadMessage): void {
  if (reported) return;
  reported = true;
  try {
    proc?.finish();
  } catch {
    // The process is being torn down; the monitor has what it needs.
  }
  scope.postMessage(message);
}

/**
 * One line naming an error: its class, its errno-style code when it has one, its message.
 *
 * @example
 * ```ts
 * import { describeError } from "./thread_worker.ts";
 * console.assert(describeError(new RangeError("bad")) === "RangeError: bad");
 * ```
 */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return `${error.name}${typeof code === "string" ? ` (${code})` : ""}: ${error.message}`;
  }
  return `uncaught value: ${String(error)}`;
}

function ended(error: unknown): void {
  if (error instanceof ExitRequest) report({ type: "exit-process", code: error.code });
  else report({ type: "error", error: describeError(error) });
}

async function run(init: ThreadInit): Promise<void> {
  proc = new WorkerProc(init, (message) => scope.postMessage(message));
  let module: Record<string, unknown>;
  try {
    module = await import(init.workload);
  } catch (e) {
    // Never repeat Deno's message for a load failure: it quotes the module's bytes.
    const reason = describeLoadError(e);
    if (reason === undefined) {
      throw new KernelError(
        "ENOEXEC",
        `workload ${shortUrl(init.workload)} failed while loading: ${describeError(e)}`,
      );
    }
    throw new KernelError("ENOENT", `cannot load workload ${shortUrl(init.workload)}: ${reason}`);
  }
  const entry = module[init.entry];
  if (typeof entry !== "function") {
    throw new KernelError(
      "ENOEXEC",
      init.entry === "main"
        ? `workload ${shortUrl(init.workload)} does not export a main(proc) function`
        : `workload ${
          shortUrl(init.workload)
        } exports no function "${init.entry}" to run as a thread`,
    );
  }
  const value = await entry(proc, init.arg);
  report({ type: "exit", value: Number.isInteger(value) ? value : 0 });
  // The monitor may hand this Worker the next thread of the same process (its isolate,
  // the workload module and the module's compiled code stay warm): take one more start.
  reported = false;
  proc = undefined;
  scope.onmessage = start;
}

function start(event: MessageEvent<ThreadInit>): void {
  scope.onmessage = null;
  run(event.data).catch(ended);
}

// Guard the import: the module is also loaded (for its exports) outside a Worker.
if (typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== "undefined") {
  scope.onmessage = start;
  scope.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    ended(event.reason);
  });
  scope.addEventListener("error", (event) => {
    event.preventDefault();
    ended(event.error);
  });
}
