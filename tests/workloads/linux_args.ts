import type { Proc } from "../../mod.ts";

/**
 * Address-space arguments Linux takes that a JavaScript number makes awkward: 64-bit
 * lengths (as numbers past 2^53 and as bigints) and `mremap`'s flags, which default to 0.
 * Throws naming the first call whose result differs from Linux's; returns 0 otherwise.
 */

const PAGE = 4096;

function errno(call: () => unknown): string {
  try {
    const value = call();
    return `ok ${String(value)}`;
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
}

function expect(what: string, got: string, want: string): void {
  if (got !== want) throw new Error(`${what}: got ${got}, Linux gives ${want}`);
}

export function main(proc: Proc): number {
  expect("mmap(2^62)", errno(() => proc.mmap(2 ** 62)), "ENOMEM");
  expect("mmap(2n ** 62n)", errno(() => proc.mmap(2n ** 62n)), "ENOMEM");
  expect("mmap(2n ** 64n - 1n)", errno(() => proc.mmap(2n ** 64n - 1n)), "ENOMEM");
  expect("mmap(2^48)", errno(() => proc.mmap(2 ** 48)), "ENOMEM");
  expect("mmap(0n)", errno(() => proc.mmap(0n)), "EINVAL");
  expect("mmap(-1)", errno(() => proc.mmap(-1)), "EINVAL");
  expect("mmap(-1n)", errno(() => proc.mmap(-1n)), "EINVAL");
  expect("mmap(4096.5)", errno(() => proc.mmap(4096.5)), "EINVAL");
  const a = proc.mmap(BigInt(4 * PAGE));
  proc.storeU32(a, 1);
  expect("munmap(a, 2^62)", errno(() => proc.munmap(a, 2 ** 62)), "EINVAL");
  expect("mprotect(a, 2^62)", errno(() => proc.mprotect(a, 2 ** 62, 1)), "ENOMEM");
  expect("msync(a, 4096n)", errno(() => proc.msync(a, 4096n)), "ok undefined");
  // mremap: without MREMAP_MAYMOVE a mapping that cannot grow in place stays put.
  proc.mmap(PAGE, { addr: a + 4 * PAGE, flags: 0x32 }); // MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS
  expect("mremap(a, 4p, 8p)", errno(() => proc.mremap(a, 4 * PAGE, 8 * PAGE)), "ENOMEM");
  expect("mremap(a, 4p, 2p)", errno(() => proc.mremap(a, 4n * 4096n, 2 * PAGE)), `ok ${a}`);
  expect("load after shrink", errno(() => proc.loadU32(a)), "ok 1");
  const moved = proc.mremap(a, 2 * PAGE, 8 * PAGE, { flags: 1 }); // MREMAP_MAYMOVE
  expect("moved data", errno(() => proc.loadU32(moved)), "ok 1");
  return 0;
}
