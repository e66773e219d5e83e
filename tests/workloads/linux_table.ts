import type { Proc } from "../../mod.ts";

/**
 * Runs one case of tests/fixtures/linux_mm/cases.json (`args[0]`, as JSON) through the
 * process API — so through the processor's system calls, VMA mirror, p-local tracking and
 * ExCache — and checks every step's result against what Linux did. Throws naming the
 * first step that differs; returns 0 otherwise.
 */

interface Step {
  op: "mmap" | "munmap" | "mprotect" | "mremap" | "brk" | "store" | "load";
  addr: string;
  length?: number;
  prot?: number;
  flags?: number;
  offset?: number;
  newLength?: number;
  newAddr?: string;
  value?: number;
  expect: Record<string, unknown>;
}

/** Where the case window goes (Linux's was wherever its probe found room). */
const WINDOW = 0x200000000;
const WS = 1024 * 1024;

export function main(proc: Proc): number {
  const { name, steps } = JSON.parse(proc.args[0]) as { name: string; steps: Step[] };
  const brk = proc.brk();
  let last = 0;
  const resolve = (word: string): number => {
    if (word === "null") return 0;
    const base = word[0] === "w" ? WINDOW : word[0] === "b" ? brk : word[0] === "l" ? last : NaN;
    return Number.isNaN(base) ? Number(word) : base + Number(word.slice(1));
  };
  const describe = (addr: number): string => {
    const w = addr - WINDOW;
    const b = addr - brk;
    const sign = (n: number) => (n < 0 ? `-${-n}` : `+${n}`);
    if (w >= -2 * WS && w < 3 * WS) return `w${sign(w)}`;
    if (b >= -WS && b < 4 * WS) return `b${sign(b)}`;
    if (addr >= 0x7ffffff00000) return `0x${addr.toString(16)}`;
    return "elsewhere";
  };
  const run = (step: Step): Record<string, unknown> => {
    const addr = resolve(step.addr);
    try {
      switch (step.op) {
        case "mmap":
          last = proc.mmap(step.length!, {
            addr,
            prot: step.prot,
            flags: step.flags,
            offset: step.offset,
          });
          return { ok: true, addr: describe(last) };
        case "munmap":
          proc.munmap(addr, step.length!);
          return { ok: true };
        case "mprotect":
          proc.mprotect(addr, step.length!, step.prot!);
          return { ok: true };
        case "mremap":
          last = proc.mremap(addr, step.length!, step.newLength!, {
            flags: step.flags,
            newAddr: resolve(step.newAddr!),
          });
          return { ok: true, addr: describe(last) };
        case "brk":
          return { ok: true, addr: describe(proc.brk(addr)) };
        case "store":
          proc.storeU8(addr, step.value!);
          return { ok: true };
        case "load":
          return { value: proc.loadU8(addr) };
      }
    } catch (e) {
      const { code, message } = e as { code?: string; message?: string };
      if (step.op === "load" || step.op === "store") {
        if (code === "EFAULT" && /segmentation fault/.test(message ?? "")) {
          return { fault: "SIGSEGV" };
        }
        throw e;
      }
      return { errno: code };
    }
    throw new Error(`unknown step ${step.op}`);
  };
  for (const [i, step] of steps.entries()) {
    const got = JSON.stringify(run(step));
    const want = JSON.stringify(step.expect);
    if (got !== want) {
      throw new Error(`${name}: step ${i} (${step.op} ${step.addr}): got ${got}, Linux: ${want}`);
    }
  }
  return 0;
}
