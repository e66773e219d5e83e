import type { Proc } from "../../mod.ts";

/**
 * File mappings, by `args[0]`, on the file named `args[1]` (3 pages and 100 bytes long):
 * - `shared`: stores through a writable `MAP_SHARED` mapping reach the file on `msync`
 *   and on `munmap` (read back through the file API), never past its end; then stores
 *   through a second shared mapping that stays mapped while the process returns;
 * - `check-exit`: reads what `shared` stored just before it returned;
 * - `private`: stores through a `MAP_PRIVATE` mapping change neither the file nor cause a
 *   write-back at `munmap`;
 * - `private-exit`: leaves dirty lines of a private file mapping at exit (the test checks
 *   that none was written back).
 * Throws naming the first difference; returns 0 otherwise.
 */

const PAGE = 4096;
const SIZE = 3 * PAGE + 100;
const O_RDWR = 0o2;
const O_CREAT = 0o100;
const O_TRUNC = 0o1000;
const MAP_SHARED = 0x01;
const MAP_PRIVATE = 0x02;

function fileBytes(proc: Proc, path: string): Uint8Array {
  const fd = proc.open(path);
  const data = proc.read(fd, 8 * PAGE);
  proc.close(fd);
  return data;
}

function expect(what: string, got: unknown, want: unknown): void {
  if (got !== want) throw new Error(`${what}: got ${got}, want ${want}`);
}

function create(proc: Proc, path: string): void {
  const fd = proc.open(path, O_RDWR | O_CREAT | O_TRUNC);
  proc.write(fd, new Uint8Array(SIZE).fill(1));
  proc.close(fd);
}

export function main(proc: Proc): number {
  const [mode, path] = proc.args;
  switch (mode) {
    case "shared": {
      create(proc, path);
      const map = proc.mmap(4 * PAGE, { path, flags: MAP_SHARED, prot: 3 });
      proc.storeU8(map + 10, 7);
      proc.storeU8(map + 2 * PAGE + 20, 8);
      proc.storeU8(map + 3 * PAGE + 50, 9); // inside the file's last, partial page
      proc.storeU8(map + 3 * PAGE + 200, 10); // past the end of the file
      proc.msync(map, 4 * PAGE);
      let file = fileBytes(proc, path);
      expect("size after msync", file.length, SIZE);
      expect("byte 10 after msync", file[10], 7);
      expect("byte 2p+20 after msync", file[2 * PAGE + 20], 8);
      expect("byte 3p+50 after msync", file[3 * PAGE + 50], 9);
      expect("byte 11 after msync", file[11], 1);
      proc.storeU8(map + PAGE + 30, 11);
      proc.munmap(map, 4 * PAGE);
      file = fileBytes(proc, path);
      expect("byte p+30 after munmap", file[PAGE + 30], 11);
      expect("size after munmap", file.length, SIZE);
      const again = proc.mmap(SIZE, { path, flags: MAP_SHARED, prot: 3 });
      expect("byte 10 mapped again", proc.loadU8(again + 10), 7);
      proc.storeU8(again + 40, 12); // written back at exit
      return 0;
    }
    case "check-exit": {
      const file = fileBytes(proc, path);
      expect("byte 40 after the writer's exit", file[40], 12);
      expect("byte 10 after the writer's exit", file[10], 7);
      return 0;
    }
    case "private": {
      create(proc, path);
      const map = proc.mmap(SIZE, { path, flags: MAP_PRIVATE, prot: 3 });
      for (let i = 0; i < 4; i++) proc.storeU8(map + i * PAGE, 5);
      expect("private store", proc.loadU8(map), 5);
      const before = proc.counters().dirtyFlushes;
      proc.munmap(map, SIZE);
      expect("write-backs at munmap", proc.counters().dirtyFlushes - before, 0);
      expect("file byte 0 after a private store", fileBytes(proc, path)[0], 1);
      return 0;
    }
    case "private-exit": {
      create(proc, path);
      const map = proc.mmap(SIZE, { path, flags: MAP_PRIVATE, prot: 3 });
      for (let i = 0; i < 4; i++) proc.storeU8(map + i * PAGE, 5);
      return 0;
    }
    default:
      throw new Error(`unknown mode ${mode}`);
  }
}
