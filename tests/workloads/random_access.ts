import type { Proc } from "../../mod.ts";

/**
 * Random loads and stores of every width and shape (aligned, unaligned, straddling lines,
 * bulk, copy, fill, line callbacks, atomics, msync) over a region, each load checked
 * against a plain reference array. Arguments: `[seed, operations, pages, threads]`.
 * Each thread works its own region; returns the number of mismatches (0 is success).
 */
export function main(proc: Proc): number {
  const [seed, operations, pages, threads] = [0, 1, 2, 3].map((i, k) =>
    Number(proc.args[i] ?? [1, 2000, 8, 1][k])
  );
  const tids = [];
  for (let t = 1; t < threads; t++) {
    tids.push(proc.spawn("worker", { seed: seed * 31 + t, operations, pages }));
  }
  let mismatches = worker(proc, { seed, operations, pages });
  for (const tid of tids) mismatches += proc.join(tid);
  return mismatches;
}

interface Job {
  seed: number;
  operations: number;
  pages: number;
}

/** One thread's share: its own region and reference. */
export function worker(proc: Proc, job: Job): number {
  const length = job.pages * 4096;
  const base = proc.mmap(length);
  const reference = new Uint8Array(length);
  const view = new DataView(reference.buffer);
  let state = job.seed >>> 0 || 1;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  let mismatches = 0;
  const expect = (ok: boolean, what: string) => {
    if (!ok && mismatches++ < 5) proc.log(`mismatch: ${what}`);
  };

  for (let op = 0; op < job.operations; op++) {
    const kind = int(16);
    const at = int(length - 16);
    switch (kind) {
      case 0: {
        const v = int(256);
        proc.storeU8(base + at, v);
        view.setUint8(at, v);
        break;
      }
      case 1: {
        const v = int(65536);
        proc.storeU16(base + at, v);
        view.setUint16(at, v, true);
        break;
      }
      case 2: {
        const v = int(2 ** 32);
        proc.storeU32(base + at, v);
        view.setUint32(at, v, true);
        break;
      }
      case 3: {
        const v = (next() - 0.5) * 1e6;
        proc.storeF64(base + (at & ~7), v);
        view.setFloat64(at & ~7, v, true);
        break;
      }
      case 4: {
        const v = Math.fround((next() - 0.5) * 1e3);
        proc.storeF32(base + at, v);
        view.setFloat32(at, v, true);
        break;
      }
      case 5: {
        const v = BigInt(int(2 ** 32)) << 20n | BigInt(int(2 ** 20));
        proc.storeU64(base + at, v);
        view.setBigUint64(at, v, true);
        break;
      }
      case 6:
        expect(proc.loadU8(base + at) === view.getUint8(at), `u8 @${at}`);
        expect(proc.loadU16(base + at) === view.getUint16(at, true), `u16 @${at}`);
        break;
      case 7:
        expect(proc.loadU32(base + at) === view.getUint32(at, true), `u32 @${at}`);
        expect(proc.loadI32(base + at) === view.getInt32(at, true), `i32 @${at}`);
        break;
      case 8:
        expect(Object.is(proc.loadF32(base + at), view.getFloat32(at, true)), `f32 @${at}`);
        expect(Object.is(proc.loadF64(base + at), view.getFloat64(at, true)), `f64 @${at}`);
        expect(proc.loadU64(base + at) === view.getBigUint64(at, true), `u64 @${at}`);
        break;
      case 9: {
        const n = Math.min(int(3 * 4096), length - at);
        const data = new Uint8Array(n).map(() => int(256));
        proc.store(base + at, data);
        reference.set(data, at);
        break;
      }
      case 10: {
        const n = Math.min(int(3 * 4096), length - at);
        const got = proc.load(base + at, n);
        expect(got.every((b, i) => b === reference[at + i]), `load ${n} @${at}`);
        // A whole line and an empty range as f32s (the one-line fast path of loadInto).
        const line = at - (at % 4096);
        const floats = new Float32Array(int(2) === 0 ? 1024 : 0);
        proc.loadInto(base + line, floats);
        expect(
          floats.every((v, k) => Object.is(v, view.getFloat32(line + 4 * k, true))),
          `loadInto ${floats.length} f32 @${line}`,
        );
        break;
      }
      case 11: {
        const n = int(4096);
        const to = int(length - n);
        proc.copy(base + to, base + at, Math.min(n, length - at));
        reference.copyWithin(to, at, at + Math.min(n, length - at));
        break;
      }
      case 12: {
        const n = Math.min(int(5000), length - at);
        const v = int(256);
        proc.fill(base + at, v, n);
        reference.fill(v, at, at + n);
        break;
      }
      case 13: {
        const count = Math.min(int(2000), (length - (at & ~3)) / 4);
        const start = at & ~3;
        proc.forEachF32(base + start, count, true, (values, index) => {
          for (let k = 0; k < values.length; k++) {
            values[k] = index + k;
            view.setFloat32(start + 4 * (index + k), index + k, true);
          }
        });
        const back = proc.loadF32Array(base + start, count);
        expect(back.every((v, k) => v === k), `forEachF32 ${count} @${start}`);
        break;
      }
      case 14: {
        const a = at & ~3;
        const old = proc.fetchAdd(base + a, 3);
        expect(old === view.getInt32(a, true), `fetchAdd @${a}`);
        view.setInt32(a, old + 3, true);
        const seen = proc.compareExchange(base + a, old + 3, 7);
        expect(seen === old + 3, `compareExchange @${a}`);
        view.setInt32(a, 7, true);
        break;
      }
      default: {
        if (int(8) === 0) proc.msync(base, length);
        let sum = 0;
        let want = 0;
        const n = Math.min(int(9000), length - at);
        proc.forEachLine(base + at, n, false, (bytes, offset) => {
          for (let k = 0; k < bytes.length; k++) {
            sum += bytes[k];
            want += reference[at + offset + k];
          }
        });
        expect(sum === want, `forEachLine ${n} @${at}`);
      }
    }
  }
  const whole = proc.load(base, length);
  expect(whole.every((b, i) => b === reference[i]), "final image");
  return mismatches;
}
