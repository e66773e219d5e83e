/**
 * The persistent pool of a PMEM memory component: one host file holding a checkpoint
 * image of the component's pages and VMAs and a log of every change since.
 *
 * Layout (offsets in bytes; `I` image capacity, `L` log capacity, from the file size):
 * ```
 * 0        superblock copy 0 (one 512-byte sector)
 * 4096     superblock copy 1
 * 8192     image A   [I]        checkpoint images alternate between A and B
 * 8192+I   image B   [I]
 * 8192+2I  log       [L]        records appended since the active image
 * ```
 *
 * Why a redo log with checkpoints (and not shadow pages): a remote persistent write is
 * often far smaller than a page (16 B in the study), and a log record carries just those
 * bytes, so an acknowledged write costs one sequential append and one `fdatasync`, and
 * writes that arrive together share the `fdatasync` (group commit). Shadow paging would
 * copy and sync a whole page plus its mapping for every write. The log is replayed into
 * the page table at start; a checkpoint (when the log fills, and at a clean stop) writes
 * the whole state to the inactive image, then switches the superblock to it — so a crash
 * at any step leaves the old image and log or the new image, never a mix:
 * 1. write the image, `fdatasync`;
 * 2. write superblock copy 0, `fdatasync`, copy 1, `fdatasync` (the copy with the higher
 *    generation wins; each is one sector, written whole);
 * 3. zero the log, `fdatasync`, and write the superblocks again marking the log cleared
 *    (until then a restart treats the log as empty and clears it).
 *
 * Every record and both superblock copies carry CRC-32s ({@link PmemDamageError} names
 * what does not check). A torn last record (the writer died mid-append) is dropped, as
 * it was never acknowledged; anything else that does not check — or a file of the wrong
 * size — is refused before anything is written to the file.
 *
 * @module
 */

import { KernelError } from "../../kernel/errors.ts";
import {
  encodeRecord,
  PmemDamageError,
  type PmemRecord,
  recordBytes,
  scanRecords,
  type ScanResult,
  SECTOR,
} from "./pmem_log.ts";
import { crc32 } from "../../kernel/crc32.ts";

const SB_MAGIC = "LEGOPMEM";
const SB_VERSION = 1;
const SB_COPY = [0, 4096];
const DATA_START = 8192;

/** Smallest PMEM file (a few pages and a small log). */
export const MIN_PMEM_BYTES = 1 << 20;

/** What a superblock says. */
interface Superblock {
  fileBytes: number;
  generation: number;
  epoch: number;
  image: 0 | 1;
  imageUsed: number;
  imageRecords: number;
  logCleared: boolean;
}

/** The file's areas, from its size. */
export interface PmemLayout {
  /** File size. */
  fileBytes: number;
  /** Capacity of each image. */
  imageBytes: number;
  /** Offset of the log. */
  logOffset: number;
  /** Capacity of the log. */
  logBytes: number;
}

/**
 * The layout of a PMEM file of `fileBytes` (a quarter for the log, between 64 KiB and
 * 64 MiB; the rest split between the two images).
 *
 * @example
 * ```ts
 * import { pmemLayout } from "./pmem_pool.ts";
 * const layout = pmemLayout(64 << 20);
 * console.assert(layout.logBytes === 16 << 20 && layout.logOffset + layout.logBytes <= 64 << 20);
 * ```
 */
export function pmemLayout(fileBytes: number): PmemLayout {
  const sectors = (n: number) => Math.floor(n / SECTOR) * SECTOR;
  const logBytes = sectors(Math.min(64 << 20, Math.max(64 << 10, fileBytes / 4)));
  const imageBytes = sectors((fileBytes - DATA_START - logBytes) / 2);
  return { fileBytes, imageBytes, logOffset: DATA_START + 2 * imageBytes, logBytes };
}

/** How the pool came up. */
export interface RecoveryReport {
  /** True when the file was created now. */
  created: boolean;
  /** Records replayed from the image. */
  imageRecords: number;
  /** Records replayed from the log. */
  logRecords: number;
  /** A torn last record that was dropped (it was never acknowledged). */
  tornAt?: number;
}

/** Counters of the pool's durable writes. */
export interface PmemPoolStats {
  /** Records appended. */
  records: number;
  /** Bytes written to the log. */
  logBytes: number;
  /** `fdatasync` calls for the log (one per group commit). */
  syncs: number;
  /** Wall time spent writing and syncing the log [ns]. */
  syncWallNs: number;
  /** Checkpoints written. */
  checkpoints: number;
  /** Log bytes in use. */
  logUsed: number;
  /** Log capacity. */
  logCapacity: number;
}

interface Pending {
  bytes: Uint8Array;
  resolve: () => void;
  reject: (e: unknown) => void;
}

function encodeSuperblock(sb: Superblock): Uint8Array {
  const out = new Uint8Array(SECTOR);
  const view = new DataView(out.buffer);
  out.set(new TextEncoder().encode(SB_MAGIC));
  view.setUint32(12, SB_VERSION, true);
  view.setFloat64(16, sb.fileBytes, true);
  view.setFloat64(24, sb.generation, true);
  view.setUint32(32, sb.epoch, true);
  view.setUint32(36, sb.image, true);
  view.setFloat64(40, sb.imageUsed, true);
  view.setUint32(48, sb.imageRecords, true);
  view.setUint32(52, sb.logCleared ? 1 : 0, true);
  view.setUint32(8, crc32(out.subarray(12)), true);
  return out;
}

function decodeSuperblock(path: string, bytes: Uint8Array, copy: number): Superblock {
  const view = new DataView(bytes.buffer, bytes.byteOffset, SECTOR);
  const where = `superblock copy ${copy} (offset ${SB_COPY[copy]})`;
  if (new TextDecoder().decode(bytes.subarray(0, 8)) !== SB_MAGIC) {
    throw new PmemDamageError(path, `${where}: not a legoemu PMEM file (bad magic)`);
  }
  if (view.getUint32(8, true) !== crc32(bytes.subarray(12, SECTOR))) {
    throw new PmemDamageError(path, `${where}: checksum mismatch`);
  }
  const version = view.getUint32(12, true);
  if (version !== SB_VERSION) {
    throw new PmemDamageError(
      path,
      `${where}: format version ${version}, this build reads ${SB_VERSION}`,
    );
  }
  const image = view.getUint32(36, true);
  return {
    fileBytes: view.getFloat64(16, true),
    generation: view.getFloat64(24, true),
    epoch: view.getUint32(32, true),
    image: image === 1 ? 1 : 0,
    imageUsed: view.getFloat64(40, true),
    imageRecords: view.getUint32(48, true),
    logCleared: view.getUint32(52, true) === 1,
  };
}

/**
 * A PMEM file, opened: appends durable records and writes checkpoints.
 *
 * @example
 * ```ts
 * import { PmemPool } from "./pmem_pool.ts";
 * import { RecordKind } from "./pmem_log.ts";
 * const path = await Deno.makeTempFile({ suffix: ".pmem" });
 * await Deno.remove(path);
 * const first = await PmemPool.open(path, 1 << 20);
 * await first.pool.append([{ kind: RecordKind.EXIT, flags: 0, pid: 9, addr: 0, payload: new Uint8Array(0) }]);
 * first.pool.close();
 * const again = await PmemPool.open(path, 1 << 20);
 * console.assert(again.records.length === 1 && again.records[0].pid === 9);
 * again.pool.close();
 * await Deno.remove(path);
 * ```
 */
export class PmemPool {
  /** The file's path. */
  readonly path: string;
  /** The file's areas. */
  readonly layout: PmemLayout;
  readonly #file: Deno.FsFile;
  #sb: Superblock;
  #logEnd: number;
  #reserved: number;
  #seq: number;
  #pending: Pending[] = [];
  #flushing: Promise<void> | undefined;
  #closed = false;
  readonly #stats = { records: 0, logBytes: 0, syncs: 0, syncWallNs: 0, checkpoints: 0 };

  private constructor(
    path: string,
    file: Deno.FsFile,
    sb: Superblock,
    logEnd: number,
    seq: number,
  ) {
    this.path = path;
    this.#file = file;
    this.#sb = sb;
    this.layout = pmemLayout(sb.fileBytes);
    this.#logEnd = logEnd;
    this.#reserved = logEnd;
    this.#seq = seq;
  }

  /**
   * Opens the PMEM file at `path` of `bytes` bytes, creating it if it does not exist, and
   * returns the records to replay (image first, then log). Throws
   * {@link PmemDamageError} — and writes nothing — if the file is damaged, has another
   * size or is not a PMEM file.
   */
  static async open(
    path: string,
    bytes: number,
  ): Promise<{ pool: PmemPool; records: PmemRecord[]; report: RecoveryReport }> {
    if (!Number.isSafeInteger(bytes) || bytes < MIN_PMEM_BYTES) {
      throw new KernelError(
        "EINVAL",
        `pmem.bytes must be an integer >= ${MIN_PMEM_BYTES}, got ${bytes}`,
      );
    }
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true, write: true, createNew: true });
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) {
        throw new KernelError("EIO", `cannot create PMEM file "${path}": ${(e as Error).message}`);
      }
      return await PmemPool.#recover(path, bytes);
    }
    try {
      await file.truncate(bytes);
      const sb: Superblock = {
        fileBytes: bytes,
        generation: 1,
        epoch: 1,
        image: 0,
        imageUsed: 0,
        imageRecords: 0,
        logCleared: true,
      };
      const pool = new PmemPool(path, file, sb, 0, 0);
      await pool.#writeSuperblocks(sb);
      return { pool, records: [], report: { created: true, imageRecords: 0, logRecords: 0 } };
    } catch (e) {
      file.close();
      throw e;
    }
  }

  static async #recover(
    path: string,
    bytes: number,
  ): Promise<{ pool: PmemPool; records: PmemRecord[]; report: RecoveryReport }> {
    const file = await Deno.open(path, { read: true, write: true });
    try {
      const size = (await file.stat()).size;
      if (size < DATA_START) {
        throw new PmemDamageError(path, `truncated to ${size} bytes (no room for the superblocks)`);
      }
      const head = await readAt(file, 0, DATA_START);
      const copies = [0, 1].map((i) => decodeSuperblock(path, head.subarray(SB_COPY[i]), i));
      const sb = copies[0].generation >= copies[1].generation ? copies[0] : copies[1];
      if (size !== sb.fileBytes) {
        throw new PmemDamageError(
          path,
          `${
            size < sb.fileBytes ? "truncated" : "grown"
          }: it has ${size} bytes, its superblock says ${sb.fileBytes}`,
        );
      }
      if (bytes !== sb.fileBytes) {
        throw new PmemDamageError(
          path,
          `it holds ${sb.fileBytes} bytes but options.pmem.bytes is ${bytes} (resizing is not supported)`,
        );
      }
      const layout = pmemLayout(sb.fileBytes);
      if (sb.imageUsed > layout.imageBytes || sb.imageUsed % SECTOR !== 0) {
        throw new PmemDamageError(path, `superblock: image of ${sb.imageUsed} bytes does not fit`);
      }
      const imageAt = DATA_START + sb.image * layout.imageBytes;
      const image = scanRecords(await readAt(file, imageAt, sb.imageUsed), {
        file: path,
        base: imageAt,
        epoch: sb.epoch,
        firstSeq: 0,
        records: sb.imageRecords,
      });
      let log: ScanResult = { records: [], end: 0, nextSeq: 0, stale: true, dropped: false };
      if (sb.logCleared) {
        log = scanRecords(await readAt(file, layout.logOffset, layout.logBytes), {
          file: path,
          base: layout.logOffset,
          epoch: sb.epoch,
          firstSeq: 0,
        });
      }
      const pool = new PmemPool(path, file, sb, log.end, log.nextSeq);
      // What follows the last good record is dropped: a torn or stale tail, an unfinished
      // group, or a log a checkpoint had not finished clearing.
      if (!sb.logCleared) await pool.#clearLog();
      else if (log.dropped || log.stale) {
        await pool.#zero(layout.logOffset + log.end, layout.logBytes - log.end);
        await file.syncData();
      }
      return {
        pool,
        records: [...image.records, ...log.records],
        report: {
          created: false,
          imageRecords: image.records.length,
          logRecords: log.records.length,
          tornAt: log.torn ? layout.logOffset + log.torn.offset : undefined,
        },
      };
    } catch (e) {
      file.close();
      throw e;
    }
  }

  /** True when records of these payload sizes fit in the log now. */
  fits(payloadSizes: readonly number[]): boolean {
    let need = 0;
    for (const n of payloadSizes) need += recordBytes(n);
    return this.#reserved + need <= this.layout.logBytes;
  }

  /** True when records of these payload sizes fit in an empty log. */
  everFits(payloadSizes: readonly number[]): boolean {
    let need = 0;
    for (const n of payloadSizes) need += recordBytes(n);
    return need <= this.layout.logBytes;
  }

  /**
   * Appends `records` as one group (replayed whole or not at all) and resolves once they
   * are durable (written and `fdatasync`ed). Appends that arrive while a sync runs share
   * the next one. Rejects with `ENOSPC` when the log is full (checkpoint first).
   */
  append(records: readonly PmemRecord[]): Promise<void> {
    if (this.#closed) {
      return Promise.reject(new KernelError("EIO", `PMEM file "${this.path}" is closed`));
    }
    if (!this.fits(records.map((r) => r.payload.length))) {
      return Promise.reject(
        new KernelError("ENOSPC", `the log of PMEM file "${this.path}" is full`),
      );
    }
    const parts = records.map((r, i) =>
      encodeRecord({ ...r, flags: i < records.length - 1 ? 1 : 0 }, this.#sb.epoch, this.#seq++)
    );
    const bytes = parts.length === 1 ? parts[0] : concat(parts);
    this.#reserved += bytes.length;
    this.#stats.records += records.length;
    return new Promise((resolve, reject) => {
      this.#pending.push({ bytes, resolve, reject });
      this.#flushing ??= this.#flushLoop();
    });
  }

  async #flushLoop(): Promise<void> {
    while (this.#pending.length > 0) {
      const batch = this.#pending;
      this.#pending = [];
      const bytes = batch.length === 1 ? batch[0].bytes : concat(batch.map((p) => p.bytes));
      const t0 = performance.now();
      try {
        await writeAt(this.#file, this.layout.logOffset + this.#logEnd, bytes);
        await this.#file.syncData();
        this.#logEnd += bytes.length;
        this.#stats.syncs++;
        this.#stats.logBytes += bytes.length;
        this.#stats.syncWallNs += (performance.now() - t0) * 1e6;
        for (const p of batch) p.resolve();
      } catch (e) {
        const error = new KernelError("EIO", `PMEM file "${this.path}": ${(e as Error).message}`);
        for (const p of batch) p.reject(error);
        for (const p of this.#pending) p.reject(error);
        this.#pending = [];
        this.#closed = true; // the log's tail is unknown now: take no more writes
      }
    }
    this.#flushing = undefined;
  }

  /** Resolves when every append so far is durable (or failed). */
  async drain(): Promise<void> {
    while (this.#flushing) await this.#flushing;
  }

  /**
   * Writes `records` (the whole state, in replay order) as the new image and empties the
   * log. The caller must make no change meanwhile and must have drained.
   */
  async checkpoint(records: readonly PmemRecord[]): Promise<void> {
    await this.drain();
    const sb = this.#sb;
    const epoch = sb.epoch + 1;
    const image: 0 | 1 = sb.image === 0 ? 1 : 0;
    const parts = records.map((r, i) => encodeRecord({ ...r, flags: 0 }, epoch, i));
    const bytes = concat(parts);
    if (bytes.length > this.layout.imageBytes) {
      throw new KernelError(
        "ENOSPC",
        `PMEM file "${this.path}": the state (${bytes.length} bytes) outgrew an image (${this.layout.imageBytes} bytes)`,
      );
    }
    await writeAt(this.#file, DATA_START + image * this.layout.imageBytes, bytes);
    await this.#file.syncData();
    const next: Superblock = {
      ...sb,
      generation: sb.generation + 1,
      epoch,
      image,
      imageUsed: bytes.length,
      imageRecords: parts.length,
      logCleared: false,
    };
    await this.#writeSuperblocks(next);
    await this.#clearLog();
    this.#stats.checkpoints++;
  }

  async #clearLog(): Promise<void> {
    await this.#zero(this.layout.logOffset, this.layout.logBytes);
    await this.#file.syncData();
    const sb = { ...this.#sb, generation: this.#sb.generation + 1, logCleared: true };
    await this.#writeSuperblocks(sb);
    this.#logEnd = 0;
    this.#reserved = 0;
    this.#seq = 0;
  }

  async #zero(at: number, length: number): Promise<void> {
    const zeros = new Uint8Array(Math.min(length, 1 << 20));
    for (let done = 0; done < length; done += zeros.length) {
      await writeAt(
        this.#file,
        at + done,
        zeros.subarray(0, Math.min(zeros.length, length - done)),
      );
    }
  }

  async #writeSuperblocks(sb: Superblock): Promise<void> {
    const bytes = encodeSuperblock(sb);
    for (const at of SB_COPY) {
      await writeAt(this.#file, at, bytes);
      await this.#file.syncData();
    }
    this.#sb = sb;
  }

  /** Counters of durable writes. */
  stats(): PmemPoolStats {
    return { ...this.#stats, logUsed: this.#reserved, logCapacity: this.layout.logBytes };
  }

  /** Closes the file (appends not yet durable are lost, as in a crash). Idempotent. */
  close(): void {
    this.#closed = true;
    try {
      this.#file.close();
    } catch { /* closed */ }
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

async function writeAt(file: Deno.FsFile, at: number, bytes: Uint8Array): Promise<void> {
  await file.seek(at, Deno.SeekMode.Start);
  for (let done = 0; done < bytes.length;) done += await file.write(bytes.subarray(done));
}

async function readAt(file: Deno.FsFile, at: number, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  await file.seek(at, Deno.SeekMode.Start);
  for (let done = 0; done < length;) {
    const n = await file.read(out.subarray(done));
    if (n === null) throw new KernelError("EIO", `unexpected end of file at ${at + done}`);
    done += n;
  }
  return out;
}
