import type { Proc } from "../../mod.ts";

/**
 * A multi-threaded check of the address-space calls against a reference model (driven by
 * tests/stress/address_space_property_stress_test.ts with programs from fast-check).
 *
 * `args[0]` is a JSON program: address-space calls on a 32-page window. Two threads keep
 * loading and storing at random pages of the window (catching the segmentation faults a
 * racing change may cause) while the main thread makes the calls. After each call returns
 * the main thread checks the call's result against the model, then has both threads probe
 * every page (a load, then a store of the loaded byte) and checks that exactly what the
 * model allows succeeded. A thread that dies ends the process with its error.
 */

/** One address-space call, on window pages. */
export type Op =
  | { op: "mmap"; page: number; pages: number; prot: number }
  | { op: "munmap"; page: number; pages: number }
  | { op: "mprotect"; page: number; pages: number; prot: number }
  | { op: "mremap"; page: number; pages: number; to: number };

/** Pages in the window. */
export const WINDOW_PAGES = 32;
const THREADS = 2;
const PAGE = 4096;
const WINDOW = 0x300000000;
const MAP_FIXED_ANON = 0x32; // MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS
const MREMAP_MAYMOVE_FIXED = 3;
/** Probe outcome of a page: 0 load and store worked, 1 load faulted, 2 only the store faulted. */
const READ_FAULT = 1;
const WRITE_FAULT = 2;

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function isFault(e: unknown): boolean {
  return (e as { code?: string }).code === "EFAULT";
}

/** The model's answer to `op` (an errno or "ok"), updating `prot` (-1: unmapped). */
function apply(prot: number[], op: Op): string {
  const range = [...Array(op.pages).keys()].map((i) => op.page + i);
  switch (op.op) {
    case "mmap":
      for (const p of range) prot[p] = op.prot;
      return "ok";
    case "munmap":
      for (const p of range) prot[p] = -1;
      return "ok";
    case "mprotect": {
      // Linux changes the mapped pages up to the first hole, then fails with ENOMEM.
      for (const p of range) {
        if (prot[p] < 0) return "ENOMEM";
        prot[p] = op.prot;
      }
      return "ok";
    }
    case "mremap": {
      if (op.to < op.page + op.pages && op.page < op.to + op.pages) return "EINVAL";
      // One mapping must cover the whole old range (adjacent equal ones are merged).
      const first = prot[op.page];
      if (first < 0 || range.some((p) => prot[p] !== first)) return "EFAULT";
      for (const p of range) prot[p] = -1;
      for (let i = 0; i < op.pages; i++) prot[op.to + i] = first;
      return "ok";
    }
  }
}

export function main(proc: Proc): number {
  const ops = JSON.parse(proc.args[0]) as Op[];
  // Control page: [0] epoch, [4] stop, [64 + 8t] thread t's last probed epoch; then per
  // thread a byte per window page with its probe outcome.
  const control = proc.mmap(PAGE);
  const threads = [...Array(THREADS).keys()].map((t) =>
    proc.spawn("toucher", { control, t, seed: t * 7919 + ops.length })
  );
  const prot: number[] = Array(WINDOW_PAGES).fill(-1);
  let epoch = 0;
  try {
    for (const [i, op] of ops.entries()) {
      const want = apply(prot, op);
      let got = "ok";
      try {
        const addr = WINDOW + op.page * PAGE;
        const bytes = op.pages * PAGE;
        if (op.op === "mmap") {
          const at = proc.mmap(bytes, { addr, prot: op.prot, flags: MAP_FIXED_ANON });
          if (at !== addr) got = `moved to 0x${at.toString(16)}`;
        } else if (op.op === "munmap") proc.munmap(addr, bytes);
        else if (op.op === "mprotect") proc.mprotect(addr, bytes, op.prot);
        else {
          proc.mremap(addr, bytes, bytes, {
            flags: MREMAP_MAYMOVE_FIXED,
            newAddr: WINDOW + op.to * PAGE,
          });
        }
      } catch (e) {
        got = (e as { code?: string }).code ?? String(e);
      }
      if (got !== want) {
        throw new Error(`call ${i} ${JSON.stringify(op)}: got ${got}, model ${want}`);
      }
      // Every thread probes every page now that the call has returned.
      proc.storeU32(control, ++epoch);
      for (let t = 0; t < THREADS; t++) {
        while (proc.loadU32(control + 64 + 8 * t) !== epoch) sleep(0.2);
      }
      for (let t = 0; t < THREADS; t++) {
        for (let p = 0; p < WINDOW_PAGES; p++) {
          const outcome = proc.loadU8(control + 1024 + t * WINDOW_PAGES + p);
          const allowed = prot[p] < 0 || prot[p] === 0
            ? READ_FAULT
            : (prot[p] & 2) === 0
            ? WRITE_FAULT
            : 0;
          if (outcome !== allowed) {
            throw new Error(
              `after call ${i} ${JSON.stringify(op)}: thread ${
                t + 1
              } page ${p} probe ${outcome}, ` +
                `model ${allowed} (prot ${prot[p]})`,
            );
          }
        }
      }
    }
  } finally {
    proc.storeU32(control + 4, 1);
  }
  for (const tid of threads) proc.join(tid);
  return 0;
}

/** Loads and stores at random window pages; probes every page at each new epoch. */
export function toucher(proc: Proc, arg: { control: number; t: number; seed: number }): number {
  const { control, t } = arg;
  let x = arg.seed | 1;
  const random = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
  let seen = 0;
  while (proc.loadU32(control + 4) === 0) {
    const epoch = proc.loadU32(control);
    if (epoch !== seen) {
      for (let p = 0; p < WINDOW_PAGES; p++) {
        const addr = WINDOW + p * PAGE + 8 * t;
        let outcome = 0;
        try {
          const value = proc.loadU8(addr);
          try {
            proc.storeU8(addr, value);
          } catch (e) {
            if (!isFault(e)) throw e;
            outcome = WRITE_FAULT;
          }
        } catch (e) {
          if (!isFault(e)) throw e;
          outcome = READ_FAULT;
        }
        proc.storeU8(control + 1024 + t * WINDOW_PAGES + p, outcome);
      }
      proc.storeU32(control + 64 + 8 * t, epoch);
      seen = epoch;
      continue;
    }
    const addr = WINDOW + Math.floor(random() * WINDOW_PAGES) * PAGE + 8 * t;
    try {
      if (random() < 0.5) proc.loadU8(addr);
      else proc.storeU8(addr, 1 + t);
    } catch (e) {
      if (!isFault(e)) throw e; // racing the main thread's calls, a fault is legal
    }
  }
  return 0;
}
