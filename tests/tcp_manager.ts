/**
 * The rig of the tests that kill real component processes (failure, PMEM crash and home
 * recovery, replication over TCP): a global manager in this process on the TCP transport at
 * an ephemeral port, booted the way `legoemu component --role manager` boots it, and the
 * other components as OS processes of their own around it.
 *
 * @module
 */
import { type RunningComponent, startComponentProcess } from "../kernel/component_process.ts";
import type { PluginRegistry } from "../kernel/plugins.ts";

/**
 * Starts manager `gm` of cluster `cluster`, proving `secretFile` to its peers; `options`
 * are the manager's (e.g. a short `heartbeatMs` for failure tests); with `seed`, it hosts
 * the cluster's model-time scheduler (deterministic mode).
 */
export function startTcpManager(
  cluster: string,
  registry: PluginRegistry,
  secretFile: string,
  log: (id: string, line: string) => void,
  options: Record<string, unknown> = {},
  seed?: number,
): Promise<RunningComponent> {
  return startComponentProcess(
    {
      cluster,
      component: {
        id: "gm",
        role: "manager",
        kind: "manager-monitor",
        plugin: "manager",
        options: registry.parseOptions("manager-monitor", "manager", options, "options"),
      },
      transport: { kind: "transport", plugin: "tcp", options: { pingIntervalMs: 0 } },
      latencyModel: { kind: "latency-model", plugin: "legoos-ib", options: {} },
      manager: { id: "gm" },
      listen: "127.0.0.1:0",
      secretFile,
      ...(seed === undefined ? {} : { seed }),
    },
    registry,
    log,
  );
}

const entry = decodeURIComponent(new URL("../mod.ts", import.meta.url).pathname);

/** A component running in its own OS process (`legoemu component ...`). */
export interface ComponentProcess {
  /** The child process. */
  child: Deno.ChildProcess;
  /** What it printed up to its "up" line. */
  startup: string;
  /** The address it listens on, from its "up" line. */
  address: string;
  /** Its standard error, once it has exited. */
  stderr(): Promise<string>;
  /** Sends SIGKILL (if it still runs) and waits for it to end. */
  kill(): Promise<void>;
}

/**
 * The `legoemu component` flags of component `id` with `role` that joins the TCP manager
 * `gm` (from {@link startTcpManager}) with `secretFile`, listens on an ephemeral port and
 * takes `options`.
 */
export function componentArgs(
  id: string,
  role: string,
  gm: RunningComponent,
  secretFile: string,
  options: unknown = {},
): string[] {
  return [
    ...["--role", role, "--id", id, "--manager", `gm@${gm.addresses.tcp}`],
    ...["--secret-file", secretFile, "--listen", "127.0.0.1:0"],
    ...["--options", JSON.stringify(options)],
  ];
}

/** `legoemu component ...args` in its own process; resolves once it printed its "up" line. */
export async function spawnComponent(args: string[]): Promise<ComponentProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", entry, "component", ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/ up on \S+/.test(text)) {
    const { value, done } = await lines.read();
    if (done) throw new Error(`component ${args.join(" ")} exited: ${text}\n${await stderr}`);
    text += value;
  }
  const drained = (async () => {
    while (!(await lines.read()).done) { /* keep the pipe flowing */ }
  })();
  return {
    child,
    startup: text,
    address: text.match(/ up on (\S+?)[,;]/)?.[1] ?? "",
    stderr: async () => {
      await drained;
      return await stderr;
    },
    kill: async () => {
      try {
        child.kill("SIGKILL");
      } catch { /* exited */ }
      await child.status;
      await drained;
      await stderr;
    },
  };
}
