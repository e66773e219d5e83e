/**
 * The SIGKILL rig of the PMEM tests: a memory component as a real OS process
 * (`legoemu component --role memory ...`), started and killed.
 *
 * @module
 */

const entry = decodeURIComponent(new URL("../../../mod.ts", import.meta.url).pathname);

/** A memory component running in its own OS process. */
export interface MemoryProcess {
  /** The child process. */
  child: Deno.ChildProcess;
  /** What it printed up to its "up" line. */
  startup: string;
  /** Sends SIGKILL (if it still runs) and waits for it to end. */
  kill(): Promise<void>;
}

/** `legoemu component ...` in its own process; resolves once it printed its "up" line. */
export async function spawnMemory(args: string[]): Promise<MemoryProcess> {
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
    if (done) throw new Error(`memory component exited: ${text}\n${await stderr}`);
    text += value;
  }
  const drained = (async () => {
    while (!(await lines.read()).done) { /* keep the pipe flowing */ }
  })();
  return {
    child,
    startup: text,
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
