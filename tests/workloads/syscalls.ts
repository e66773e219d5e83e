import type { Proc } from "../../mod.ts";
import {
  MREMAP_MAYMOVE,
  O_APPEND,
  O_CREAT,
  O_RDONLY,
  O_RDWR,
  O_TRUNC,
  O_WRONLY,
  PROT_READ,
  PROT_WRITE,
} from "../../kernel/abi.ts";

/**
 * Exercises the address-space and file system calls (run it with a cache of a few lines,
 * so that data really travels to memory and back) and returns the number of failed
 * checks, logging each.
 */
export function main(proc: Proc): number {
  const failures: string[] = [];
  const check = (ok: boolean, what: string) => {
    if (!ok) failures.push(what);
  };
  const expectError = (run: () => unknown, code: string, what: string) => {
    try {
      run();
      failures.push(`${what}: no error`);
    } catch (e) {
      const got = (e as { code?: string }).code;
      if (got !== code) failures.push(`${what}: ${got} ${(e as Error).message}`);
    }
  };
  const page = 4096;

  // munmap: the range is gone.
  const a = proc.mmap(8 * page);
  proc.storeU32(a, 1);
  proc.munmap(a, 8 * page);
  expectError(() => proc.loadU32(a), "EFAULT", "load after munmap");

  // mremap grows and moves a mapping with its data, cached or written back.
  const b = proc.mmap(4 * page);
  for (let p = 0; p < 4; p++) proc.storeU32(b + p * page, p + 100);
  const filler = proc.mmap(8 * page);
  for (let p = 0; p < 8; p++) proc.loadU32(filler + p * page); // pushes b's lines out
  proc.storeU32(b + 3 * page, 103); // one line cached and dirty again
  const moved = proc.mremap(b, 4 * page, 64 * page, { flags: MREMAP_MAYMOVE });
  for (let p = 0; p < 4; p++) check(proc.loadU32(moved + p * page) === p + 100, `mremap ${p}`);
  check(proc.loadU32(moved + 40 * page) === 0, "mremap: the grown part reads zero");

  // mprotect: writes fault on a read-only page, reads still work.
  proc.mprotect(moved, page, PROT_READ);
  check(proc.loadU32(moved) === 100, "read of a read-only page");
  expectError(() => proc.storeU32(moved, 1), "EFAULT", "write to a read-only page");
  proc.mprotect(moved, page, PROT_READ | PROT_WRITE);
  proc.storeU32(moved, 5);
  check(proc.loadU32(moved) === 5, "write after mprotect back to read-write");

  // msync writes dirty lines back and keeps them cached.
  proc.storeU32(moved + page, 9);
  const before = proc.counters();
  proc.msync(moved, 4 * page);
  const after = proc.counters();
  check(after.dirtyFlushes > before.dirtyFlushes, "msync wrote back");
  check(proc.loadU32(moved + page) === 9, "msync kept the data");

  // brk grows and shrinks the heap.
  const start = proc.brk();
  const top = proc.brk(start + 3 * page + 5);
  check(top === start + 3 * page + 5, `brk returned ${top}`);
  proc.storeU32(start + 3 * page, 77);
  check(proc.loadU32(start + 3 * page) === 77, "heap store");
  proc.brk(start);
  expectError(() => proc.loadU32(start + page), "EFAULT", "load beyond a shrunk break");

  // Files: through the home's buffer cache and the storage component.
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  proc.mkdir("dir");
  let fd = proc.open("dir/f.txt", O_CREAT | O_RDWR | O_TRUNC);
  check(proc.write(fd, enc.encode("hello")) === 5, "write");
  proc.close(fd);
  fd = proc.open("dir/f.txt", O_WRONLY | O_APPEND);
  proc.write(fd, enc.encode(" world"));
  proc.fsync(fd);
  proc.close(fd);
  check(proc.stat("dir/f.txt").size === 11, `stat size ${proc.stat("dir/f.txt").size}`);
  fd = proc.open("dir/f.txt", O_RDONLY);
  check(dec.decode(proc.read(fd, 100)) === "hello world", "read back");
  proc.seek(fd, 6);
  check(dec.decode(proc.read(fd, 5)) === "world", "seek + read");
  proc.close(fd);
  proc.rename("dir/f.txt", "dir/g.txt");
  check(proc.stat("dir/g.txt").size === 11, "renamed");
  proc.unlink("dir/g.txt");
  expectError(() => proc.stat("dir/g.txt"), "ENOENT", "stat after unlink");
  expectError(() => proc.read(99, 1), "EBADF", "read from a bad descriptor");

  // A file larger than one system call's mailbox goes in chunks.
  const big = new Uint8Array(300_000).map((_, i) => i * 7);
  fd = proc.open("big.bin", O_CREAT | O_RDWR | O_TRUNC);
  check(proc.write(fd, big) === big.length, "big write");
  proc.seek(fd, 0);
  const back = proc.read(fd, big.length);
  check(back.length === big.length && back.every((v, i) => v === big[i]), "big read back");
  proc.close(fd);

  for (const failure of failures) proc.log(`failed: ${failure}`);
  return failures.length;
}
