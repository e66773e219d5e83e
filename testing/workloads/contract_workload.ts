/**
 * The workload the monitor contract suite runs: one mode per argument list.
 * - `memory <KiB>`: writes a pattern over a fresh mapping of that size, then reads it back
 *   twice (through evictions, when the mapping outgrows the ExCache and DRAM);
 * - `file <name>`: writes 64 KiB to a file, reads them back, unlinks it;
 * - `threads <n>`: n threads each add 1000 to one counter with `fetchAdd`;
 * - `exit <code>`: returns that code; `throw`: throws an error.
 * Exits 0 when what came back is what was written.
 *
 * @module
 */

import { O_CREAT, O_RDWR, O_TRUNC } from "../../kernel/abi.ts";
import type { Proc } from "../../kernel/process_api.ts";

const PAGE = 4096;

/** Runs the mode named by the arguments. */
export function main(proc: Proc): number {
  const [mode, arg = "0"] = proc.args;
  const n = Number(arg);
  if (mode === "memory") {
    const bytes = n * 1024;
    const base = proc.mmap(bytes);
    for (let at = 0; at < bytes; at += 8) proc.storeF64(base + at, at * 0.5 + 1);
    for (let pass = 0; pass < 2; pass++) {
      for (let at = 0; at < bytes; at += 8) {
        if (proc.loadF64(base + at) !== at * 0.5 + 1) {
          proc.log(`memory: bad value at offset ${at} on pass ${pass}`);
          return 1;
        }
      }
    }
    return 0;
  }
  if (mode === "file") {
    const data = new Uint8Array(16 * PAGE).map((_, i) => (i * 7 + 3) & 0xff);
    const path = `contract-${arg}.bin`;
    const fd = proc.open(path, O_CREAT | O_RDWR | O_TRUNC);
    proc.write(fd, data);
    proc.fsync(fd);
    proc.seek(fd, 0);
    const back = proc.read(fd, data.length);
    proc.close(fd);
    const size = proc.stat(path).size;
    proc.unlink(path);
    return size === data.length && back.length === data.length &&
        back.every((b, i) => b === data[i])
      ? 0
      : 1;
  }
  if (mode === "threads") {
    const counter = proc.mmap(PAGE);
    const tids = Array.from({ length: n }, () => proc.spawn("adder", counter));
    for (const tid of tids) proc.join(tid);
    return proc.loadU32(counter) === n * 1000 ? 0 : 1;
  }
  if (mode === "exit") return n;
  if (mode === "throw") throw new Error("contract workload: thrown on purpose");
  proc.log(`unknown mode ${mode}`);
  return 2;
}

/** A thread of `threads` mode: adds 1 to the counter at `addr` 1000 times. */
export function adder(proc: Proc, addr: unknown): number {
  for (let i = 0; i < 1000; i++) proc.fetchAdd(addr as number, 1);
  return 0;
}
