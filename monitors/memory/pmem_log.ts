/**
 * The record format of a PMEM file: every change a PMEM memory component makes to its
 * pages and VMAs is one self-checking record, appended to the file's log before the
 * change is acknowledged; a checkpoint image is the same records, one per page and per
 * process.
 *
 * A record is a 512-byte header sector followed by its payload padded to whole 512-byte
 * sectors. The header holds a CRC-32 of itself and one CRC-32 per payload sector, so a
 * scan can tell the two ways a record goes bad apart:
 * - **torn**: the writer died mid-write (Linux stops a write to a file between pages when
 *   the process gets SIGKILL; power loss stops it between sectors). The header is intact
 *   (one sector is written whole), a prefix of the payload checks, and every sector after
 *   the tear still holds the zeros the log was cleared to. Such a record was never
 *   acknowledged (acknowledgment waits for `fdatasync` after the whole write) and is
 *   dropped.
 * - **damaged**: any other mismatch (a flipped byte in a header, in a payload sector that
 *   is not all zeros, a record out of sequence). The scan throws {@link PmemDamageError}
 *   naming the file offset; the component refuses to start.
 *
 * @module
 */

import { KernelError } from "../../kernel/errors.ts";
import { crc32 } from "../../kernel/crc32.ts";

/** Size of a sector: the unit a record is written, checked and torn in. */
export const SECTOR = 512;

/** Most payload bytes one record carries (one CRC per sector fits in the header). */
export const MAX_RECORD_PAYLOAD = ((SECTOR - 40) / 4) * SECTOR;

const MAGIC = 0x504d454c; // "LEMP" little-endian

/** What a record does, replayed in log order. */
export const RecordKind = {
  /** `payload` becomes the bytes at `addr` of process `pid` (within one page). */
  WRITE: 1,
  /** The VMAs of `pid` in a range (payload: JSON `{ home, start, end, discard, vmas }`). */
  VMAS: 2,
  /** Process `pid` exited: its pages and VMAs are gone. */
  EXIT: 3,
  /** Pages copied or moved inside this owner (payload: JSON of the copy's arguments). */
  COPY: 4,
  /**
   * The home's state of process `pid` (its address space and vRegion owners), JSON, or
   * `null` once it exited. A state longer than one record is split over consecutive
   * records: `addr` counts the records still to come (0 on the last).
   */
  HOME: 5,
} as const;

/** A record kind's number. */
export type RecordKindCode = (typeof RecordKind)[keyof typeof RecordKind];

/** Set on every record of a group but the last: replay applies a group whole or not at all. */
export const FLAG_MORE = 1;

/** One record, as written and as scanned back. */
export interface PmemRecord {
  /** What the record does. */
  kind: RecordKindCode;
  /** {@link FLAG_MORE} or 0. */
  flags: number;
  /** Process id. */
  pid: number;
  /** Virtual address (WRITE), or 0. */
  addr: number;
  /** The payload (at most {@link MAX_RECORD_PAYLOAD} bytes). */
  payload: Uint8Array;
}

/**
 * A PMEM file that must not be used: damaged bytes, a wrong size, an unknown format.
 * `code` is `EIO`; the message names the file and the damage.
 */
export class PmemDamageError extends KernelError {
  /** The file. */
  readonly path: string;
  /** Creates the error for `path`. */
  constructor(path: string, damage: string) {
    super(
      "EIO",
      `PMEM file "${path}" is damaged, refusing to start (nothing was written): ${damage}`,
    );
    this.name = "PmemDamageError";
    this.path = path;
  }
}

/** Bytes a record with `payloadBytes` of payload takes in the file. */
export function recordBytes(payloadBytes: number): number {
  return SECTOR + Math.ceil(payloadBytes / SECTOR) * SECTOR;
}

/**
 * Encodes `record` with sequence number `seq` of log epoch `epoch` into fresh bytes.
 *
 * @example
 * ```ts
 * import { encodeRecord, RecordKind, scanRecords } from "./pmem_log.ts";
 * const payload = new Uint8Array([1, 2, 3]);
 * const bytes = encodeRecord({ kind: RecordKind.WRITE, flags: 0, pid: 7, addr: 0x1000, payload }, 1, 0);
 * const scan = scanRecords(bytes, { file: "x.pmem", base: 0, epoch: 1, firstSeq: 0 });
 * console.assert(scan.records.length === 1 && scan.records[0].payload[2] === 3);
 * ```
 */
export function encodeRecord(record: PmemRecord, epoch: number, seq: number): Uint8Array {
  const length = record.payload.length;
  if (length > MAX_RECORD_PAYLOAD) {
    throw new KernelError("E2BIG", `a PMEM record holds at most ${MAX_RECORD_PAYLOAD} bytes`);
  }
  const out = new Uint8Array(recordBytes(length));
  const view = new DataView(out.buffer);
  const chunks = Math.ceil(length / SECTOR);
  out.set(record.payload, SECTOR);
  view.setUint32(0, MAGIC, true);
  view.setUint32(8, epoch, true);
  view.setUint8(12, record.kind);
  view.setUint8(13, record.flags);
  view.setUint16(14, chunks, true);
  view.setFloat64(16, seq, true);
  view.setUint32(24, record.pid, true);
  view.setUint32(28, length, true);
  view.setFloat64(32, record.addr, true);
  for (let i = 0; i < chunks; i++) {
    const at = SECTOR + i * SECTOR;
    view.setUint32(40 + 4 * i, crc32(out.subarray(at, at + SECTOR)), true);
  }
  view.setUint32(4, crc32(out.subarray(8, SECTOR)), true);
  return out;
}

/** Where a scan runs and what it expects. */
export interface ScanOptions {
  /** The file, for messages. */
  file: string;
  /** File offset of `bytes[0]`, for messages. */
  base: number;
  /** The epoch records must carry; a valid header of another epoch ends the log. */
  epoch: number;
  /** The sequence number of the first record. */
  firstSeq: number;
  /** Strict (an image): the region must hold exactly `records` records, nothing torn. */
  records?: number;
}

/** What a scan found. */
export interface ScanResult {
  /** Every complete record, in order (a group cut short by a tear is left out). */
  records: PmemRecord[];
  /** Byte offset (in the scanned bytes) where the next record goes. */
  end: number;
  /** The next sequence number. */
  nextSeq: number;
  /** Set when the last record was torn (dropped: never acknowledged). */
  torn?: { offset: number; seq: number };
  /** Set when the log ended at a record of an older epoch (left from before a checkpoint). */
  stale: boolean;
  /** Set when records after `end` were dropped (torn, or a group cut short). */
  dropped: boolean;
}

function allZero(bytes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (bytes[i] !== 0) return false;
  return true;
}

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/**
 * Reads records from `bytes` (a log or an image), checking every checksum. Throws
 * {@link PmemDamageError} on damage; a torn last record is reported and dropped.
 *
 * @example
 * ```ts
 * import { encodeRecord, RecordKind, scanRecords } from "./pmem_log.ts";
 * const log = new Uint8Array(8192);
 * log.set(encodeRecord({ kind: RecordKind.EXIT, flags: 0, pid: 3, addr: 0, payload: new Uint8Array(0) }, 5, 0));
 * const scan = scanRecords(log, { file: "x.pmem", base: 0, epoch: 5, firstSeq: 0 });
 * console.assert(scan.records[0].pid === 3 && scan.end === 512 && !scan.torn);
 * ```
 */
export function scanRecords(bytes: Uint8Array, options: ScanOptions): ScanResult {
  const { file, base } = options;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const records: PmemRecord[] = [];
  let group: PmemRecord[] = [];
  let groupAt = 0;
  let groupSeq = options.firstSeq;
  let seq = options.firstSeq;
  let at = 0;
  let stale = false;
  let torn: ScanResult["torn"];
  const damaged = (what: string): never => {
    throw new PmemDamageError(file, what);
  };
  while (at + SECTOR <= bytes.length) {
    if (options.records !== undefined && seq - options.firstSeq === options.records) break;
    const magic = view.getUint32(at, true);
    if (magic === 0 && allZero(bytes, at, at + SECTOR)) break;
    if (
      magic !== MAGIC || view.getUint32(at + 4, true) !== crc32(bytes.subarray(at + 8, at + SECTOR))
    ) {
      damaged(`record header at offset ${hex(base + at)}: checksum mismatch`);
    }
    if (view.getUint32(at + 8, true) !== options.epoch) {
      if (options.records !== undefined) damaged(`record at offset ${hex(base + at)}: wrong epoch`);
      stale = true;
      break;
    }
    const recordSeq = view.getFloat64(at + 16, true);
    if (recordSeq !== seq) {
      damaged(`record at offset ${hex(base + at)}: sequence ${recordSeq}, expected ${seq}`);
    }
    const length = view.getUint32(at + 28, true);
    const chunks = view.getUint16(at + 14, true);
    if (length > MAX_RECORD_PAYLOAD || chunks !== Math.ceil(length / SECTOR)) {
      damaged(`record at offset ${hex(base + at)}: impossible length ${length}`);
    }
    const size = recordBytes(length);
    // The first payload sector that does not check, if any.
    let bad = -1;
    for (let i = 0; i < chunks; i++) {
      const from = at + SECTOR + i * SECTOR;
      const sector = bytes.subarray(from, Math.min(from + SECTOR, bytes.length));
      const padded = sector.length === SECTOR ? sector : (() => {
        const p = new Uint8Array(SECTOR);
        p.set(sector);
        return p;
      })();
      if (crc32(padded) !== view.getUint32(at + 40 + 4 * i, true)) {
        bad = i;
        break;
      }
    }
    if (bad >= 0) {
      const tearAt = at + SECTOR + bad * SECTOR;
      const isTorn = options.records === undefined &&
        allZero(bytes, tearAt, Math.min(bytes.length, at + size)) &&
        allZero(bytes, Math.min(bytes.length, at + size), bytes.length);
      if (!isTorn) {
        damaged(
          `record ${seq} at offset ${hex(base + at)}: payload checksum mismatch in bytes ` +
            `${hex(base + tearAt)}-${hex(base + tearAt + SECTOR)}`,
        );
      }
      torn = { offset: at, seq };
      break;
    }
    if (at + size > bytes.length) damaged(`record at offset ${hex(base + at)} runs past the end`);
    const record: PmemRecord = {
      kind: view.getUint8(at + 12) as RecordKindCode,
      flags: view.getUint8(at + 13),
      pid: view.getUint32(at + 24, true),
      addr: view.getFloat64(at + 32, true),
      payload: bytes.slice(at + SECTOR, at + SECTOR + length),
    };
    if (group.length === 0) {
      groupAt = at;
      groupSeq = seq;
    }
    group.push(record);
    if (!(record.flags & FLAG_MORE)) {
      records.push(...group);
      group = [];
    }
    seq++;
    at += size;
  }
  if (options.records !== undefined && seq - options.firstSeq !== options.records) {
    damaged(
      `image at offset ${hex(base)} holds ${
        seq - options.firstSeq
      } records, expected ${options.records}`,
    );
  }
  if (!torn && !stale && options.records === undefined && !allZero(bytes, at, bytes.length)) {
    damaged(`unexpected bytes after the end of the log (offset ${hex(base + at)})`);
  }
  // A group cut short (by a tear or the log's end) was never acknowledged: drop it, and
  // the next record goes where it began.
  if (group.length > 0) {
    return { records, end: groupAt, nextSeq: groupSeq, torn, stale, dropped: true };
  }
  const end = torn ? torn.offset : at;
  return { records, end, nextSeq: torn ? torn.seq : seq, torn, stale, dropped: torn !== undefined };
}
