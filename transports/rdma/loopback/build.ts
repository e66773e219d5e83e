/**
 * Builds the loopback verbs provider and its LD_PRELOAD shim (C, in this folder) with
 * gcc into a temporary directory, writes the fake sysfs tree that makes libibverbs list
 * one device, `legoloop0`, and returns the environment under which a process's
 * libibverbs uses them. A process must start with that environment (libibverbs reads
 * it when first loaded), so tests and benchmarks run the RDMA code in a subprocess.
 *
 * @example
 * ```ts ignore
 * import { buildLoopback } from "./build.ts";
 * const loopback = await buildLoopback();
 * const child = new Deno.Command(Deno.execPath(), { args: ["run", "-A", "x.ts"], env: loopback.env });
 * await loopback.remove();
 * ```
 *
 * @module
 */

/** A built loopback provider. */
export interface Loopback {
  /** The temporary directory holding the libraries and the sysfs tree. */
  readonly dir: string;
  /** Environment for a process whose libibverbs should see the loopback device. */
  readonly env: Record<string, string>;
  /** Deletes the directory. */
  remove(): Promise<void>;
}

/** Why the loopback cannot be built here: what to install, or undefined when it can. */
export async function loopbackMissing(): Promise<string | undefined> {
  const missing: string[] = [];
  if (!(await runs("gcc", ["--version"]))) missing.push("gcc");
  if (!(await exists("/usr/include/infiniband/verbs.h"))) missing.push("libibverbs-dev");
  if (!libibverbsPresent()) missing.push("libibverbs1");
  return missing.length
    ? `needs ${missing.join(", ")} (Debian/Ubuntu: apt-get install ${missing.join(" ")})`
    : undefined;
}

const HERE = new URL(".", import.meta.url);

/** Compiles provider.c and shim.c and writes the sysfs tree. */
export async function buildLoopback(): Promise<Loopback> {
  const dir = await Deno.makeTempDir({ prefix: "legoemu-rdma-loopback-" });
  try {
    // rdma-core appends "-rdmav34.so" to a provider path given in RDMAV_DRIVERS.
    await gcc([
      "-O2",
      "-shared",
      "-fPIC",
      "-o",
      `${dir}/liblegoloop-rdmav34.so`,
      new URL("provider.c", HERE).pathname,
      "-libverbs",
    ]);
    await gcc([
      "-O2",
      "-shared",
      "-fPIC",
      "-o",
      `${dir}/shim.so`,
      new URL("shim.c", HERE).pathname,
      "-ldl",
    ]);
    const sys = `${dir}/sys`;
    const put = async (path: string, text: string) => {
      await Deno.mkdir(`${sys}/${path.slice(0, path.lastIndexOf("/"))}`, { recursive: true });
      await Deno.writeTextFile(`${sys}/${path}`, `${text}\n`);
    };
    // What the kernel's uverbs class would show for one device (ABI 6, the only one
    // libibverbs 44 accepts); "dev" names /dev/null's numbers, which the shim opens.
    await put("class/infiniband_verbs/abi_version", "6");
    await put("class/infiniband_verbs/uverbs0/ibdev", "legoloop0");
    await put("class/infiniband_verbs/uverbs0/dev", "1:3");
    await put("class/infiniband_verbs/uverbs0/abi_version", "6");
    await put("class/infiniband/legoloop0/node_type", "1: CA");
    await put("class/infiniband/legoloop0/node_guid", "0000:0000:0000:0001");
    await put(
      "class/infiniband/legoloop0/ports/1/gids/0",
      "fe80:0000:0000:0000:0000:0000:0000:0001",
    );
    return {
      dir,
      env: {
        SYSFS_PATH: sys,
        RDMAV_DRIVERS: `${dir}/liblegoloop`,
        LD_PRELOAD: `${dir}/shim.so`,
      },
      remove: () => Deno.remove(dir, { recursive: true }).catch(() => {}),
    };
  } catch (e) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw e;
  }
}

async function gcc(args: string[]): Promise<void> {
  const out = await new Deno.Command("gcc", { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`gcc ${args.join(" ")} failed:\n${new TextDecoder().decode(out.stderr)}`);
  }
}

async function runs(cmd: string, args: string[]): Promise<boolean> {
  try {
    return (await new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).output()).success;
  } catch {
    return false;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

function libibverbsPresent(): boolean {
  try {
    Deno.dlopen("libibverbs.so.1", {}).close();
    return true;
  } catch {
    return false;
  }
}
