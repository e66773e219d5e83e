/**
 * The demo workload: maps memory larger than the processor's cache, fills every page
 * with a pattern, reads it all back (so lines are evicted, written back and fetched
 * again from the memory component), sums a small hot array several times (served by
 * cache hits), then writes a file and reads it back.
 *
 * Arguments: `[megabytes]` of memory to touch (default 4).
 *
 * @module
 */

import { O_CREAT, O_RDWR, O_TRUNC, type Proc } from "../../mod.ts";

const PAGE = 4096;

/** Runs the demo; returns 0 when everything read back matches what was written. */
export async function main(proc: Proc): Promise<number> {
  const megabytes = Number(proc.args[0] ?? "4");
  if (!Number.isInteger(megabytes) || megabytes < 1 || megabytes > 1024) {
    throw new RangeError(`megabytes must be an integer in 1..1024, got "${proc.args[0]}"`);
  }
  const length = megabytes * 1024 * 1024;
  const base = await proc.mmap(length);
  const page = new Uint8Array(PAGE);
  const words = new Uint32Array(page.buffer);
  for (let at = 0; at < length; at += PAGE) {
    words.fill((at / PAGE) * 2654435761 >>> 0);
    await proc.store(base + at, page);
  }
  await proc.storeF64(base + 8, Math.PI);
  let bad = 0;
  for (let at = 0; at < length; at += PAGE) {
    const want = (at / PAGE) * 2654435761 >>> 0;
    const got = await proc.loadU32(base + at + PAGE - 4);
    if (got !== want) bad++;
  }
  if ((await proc.loadF64(base + 8)) !== Math.PI) bad++;

  // A hot 64 KiB array of f64, read four times: after the first pass, all hits.
  const hot = await proc.mmap(64 * 1024);
  const count = (64 * 1024) / 8;
  for (let i = 0; i < count; i++) await proc.storeF64(hot + 8 * i, i);
  for (let pass = 0; pass < 4; pass++) {
    let sum = 0;
    for (let i = 0; i < count; i++) sum += await proc.loadF64(hot + 8 * i);
    if (sum !== (count * (count - 1)) / 2) bad++;
  }

  const text = new TextEncoder().encode(`legoemu demo: ${megabytes} MiB touched\n`);
  const fd = await proc.open("demo.txt", O_CREAT | O_RDWR | O_TRUNC);
  await proc.write(fd, text);
  proc.seek(fd, 0);
  const back = await proc.read(fd, text.length + 100);
  await proc.close(fd);
  if (new TextDecoder().decode(back) !== new TextDecoder().decode(text)) bad++;
  await proc.munmap(base, length);
  proc.log(`${length / PAGE} pages written and verified, file round trip ok: ${bad === 0}`);
  return bad === 0 ? 0 : 1;
}
