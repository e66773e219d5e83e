import type { Proc } from "../../mod.ts";

/**
 * Calls the process API with bad arguments and checks each fails with the right code
 * (and the process goes on). Returns the number of wrong outcomes, logging each.
 */
export function main(proc: Proc): number {
  const wrong: string[] = [];
  const expectError = (run: () => unknown, code: string, what: string) => {
    try {
      run();
      wrong.push(`${what}: no error`);
    } catch (e) {
      const got = (e as { code?: string }).code;
      if (got !== code) wrong.push(`${what}: ${got} ${(e as Error).message}`);
    }
  };
  const addr = proc.mmap(4096);
  // deno-lint-ignore no-explicit-any
  const loose = proc as any;
  expectError(() => proc.mmap(-1), "EINVAL", "negative mmap length");
  expectError(() => loose.mmap("big"), "EINVAL", "mmap length of the wrong type");
  expectError(() => proc.munmap(addr + 3, 4096), "EINVAL", "unaligned munmap");
  expectError(() => proc.loadU32(NaN), "EINVAL", "NaN address");
  expectError(() => proc.loadU32(-4), "EFAULT", "negative address");
  expectError(() => proc.loadF64(2 ** 50), "EFAULT", "address beyond 47 bits");
  expectError(() => proc.load(addr, -1), "EINVAL", "negative length");
  expectError(() => proc.fill(addr, 300, 4), "EINVAL", "fill value out of range");
  expectError(() => loose.storeU64(addr, 1), "EINVAL", "u64 store of a number");
  expectError(() => proc.fetchAdd(addr + 1, 1), "EINVAL", "unaligned fetchAdd");
  expectError(() => proc.spawn("not an export!"), "EINVAL", "bad thread entry");
  expectError(() => proc.join(99), "ESRCH", "join of no thread");
  expectError(() => proc.join(0), "EDEADLK", "join of itself");
  expectError(() => proc.read(1234, 1), "EBADF", "bad descriptor");
  expectError(() => proc.compute({ flops: -5 }), "EINVAL", "negative compute work");
  expectError(() => loose.open(""), "EINVAL", "empty path");
  expectError(
    () => proc.forEachLine(addr, 8, false, () => proc.loadU32(addr + 4096)),
    "EINVAL",
    "calling proc from a line callback",
  );
  proc.storeU32(addr, 5); // still works after all that
  if (proc.loadU32(addr) !== 5) wrong.push("memory after bad calls");
  for (const w of wrong) proc.log(`wrong: ${w}`);
  return wrong.length;
}
