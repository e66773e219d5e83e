/**
 * The backup file of a replica, written to a storage component in the background (`M2S`),
 * never on the path of a flush: every `intervalMs` the records the {@link PageLog} gained
 * since the last round are appended to `@replica/<primary>.log`; after the log was
 * compacted the file is written afresh from the live records.
 *
 * A record on file is a 16-byte header — magic `"LGRB"`, pid (u32), virtual page number
 * (f64) — then the 4 KiB page, little-endian. {@link readBackup} turns a file back into
 * pages: the last record of a page wins.
 *
 * @module
 */

import type { ComponentId } from "../../kernel/ids.ts";
import { PAGE_SIZE } from "../../kernel/messages.ts";
import type { PageLog } from "./replica_log.ts";
import type { StorageLink } from "./storage_link.ts";

/** Bytes of one record's header. */
export const BACKUP_HEADER_BYTES = 16;
const MAGIC = 0x4252474c; // "LGRB" little-endian
/** Records written in one storage request at most (about 1 MiB). */
const RECORDS_PER_WRITE = 255;

/** The backup file of `primary`'s replica. */
export function backupPath(primary: ComponentId): string {
  return `@replica/${primary}.log`;
}

/** Counters of a {@link ReplicaBackup}. */
export interface BackupStats {
  /** The file. */
  path: string;
  /** Records written to it (all rounds). */
  records: number;
  /** Bytes written. */
  bytes: number;
  /** Log records not on file yet. */
  behind: number;
  /** Rounds that failed (retried at the next round). */
  failures: number;
}

/**
 * Copies a page log to storage in the background.
 *
 * @example
 * ```ts ignore
 * const backup = new ReplicaBackup({ primary: "m0", log: store.log, storage, truncate, intervalMs: 1000, report: console.log });
 * backup.start();
 * await backup.round(); // what a timer tick does
 * backup.stop();
 * ```
 */
export class ReplicaBackup {
  readonly #log: PageLog;
  readonly #storage: StorageLink;
  readonly #truncate: (path: string, length: number) => Promise<void>;
  readonly #intervalMs: number;
  readonly #report: (line: string) => void;
  readonly #stats: BackupStats;
  #epoch = -1;
  #written = 0;
  #fileBytes = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<void> | undefined;
  #failing = false;

  /**
   * A backup of `primary`'s `log` through `storage`, a round every `intervalMs` (0: only
   * when {@link ReplicaBackup.round} is called); `truncate` cuts the file after a rewrite;
   * `report` logs a line.
   */
  constructor(options: {
    primary: ComponentId;
    log: PageLog;
    storage: StorageLink;
    truncate: (path: string, length: number) => Promise<void>;
    intervalMs: number;
    report: (line: string) => void;
  }) {
    this.#log = options.log;
    this.#storage = options.storage;
    this.#truncate = options.truncate;
    this.#intervalMs = options.intervalMs;
    this.#report = options.report;
    this.#stats = {
      path: backupPath(options.primary),
      records: 0,
      bytes: 0,
      behind: 0,
      failures: 0,
    };
  }

  /** Counters. */
  stats(): BackupStats {
    const behind = this.#epoch === this.#log.epoch
      ? this.#log.records - this.#written
      : this.#log.records;
    return { ...this.#stats, behind };
  }

  /** Runs a round every interval until {@link ReplicaBackup.stop}. */
  start(): void {
    if (this.#timer !== undefined || this.#intervalMs <= 0) return;
    const tick = () => {
      this.#timer = setTimeout(async () => {
        await this.round();
        if (this.#timer !== undefined) tick();
      }, this.#intervalMs);
      Deno.unrefTimer(this.#timer);
    };
    tick();
  }

  /** Stops the rounds (a round under way finishes). */
  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Writes what the log gained since the last round; one round at a time. */
  round(): Promise<void> {
    this.#running ??= this.#round().finally(() => this.#running = undefined);
    return this.#running;
  }

  async #round(): Promise<void> {
    const log = this.#log;
    const epoch = log.epoch;
    const fresh = epoch !== this.#epoch;
    const from = fresh ? 0 : this.#written;
    const upTo = log.records;
    if (!fresh && from === upTo) return;
    if (fresh && upTo === 0 && this.#stats.records === 0) {
      // Nothing logged and no file yet: nothing to write.
      [this.#epoch, this.#written] = [epoch, 0];
      return;
    }
    try {
      let offset = fresh ? 0 : this.#fileBytes;
      let batch: Uint8Array[] = [];
      const flushBatch = async () => {
        if (batch.length === 0) return;
        const bytes = new Uint8Array(batch.length * (BACKUP_HEADER_BYTES + PAGE_SIZE));
        batch.forEach((r, i) => bytes.set(r, i * (BACKUP_HEADER_BYTES + PAGE_SIZE)));
        await this.#storage.write(this.#stats.path, offset, bytes, false);
        offset += bytes.length;
        this.#stats.records += batch.length;
        this.#stats.bytes += bytes.length;
        batch = [];
      };
      if (fresh) {
        // A compaction renumbered the log: start the file again (a shorter file's tail is
        // cut below, once the new content is written).
        this.#fileBytes = 0;
      }
      let n = 0;
      for (const record of log.recordsFrom(from)) {
        if (log.epoch !== epoch) return; // compacted meanwhile: the next round starts afresh
        if (n++ >= upTo - from) break;
        batch.push(encodeRecord(record.pid, record.vpn, record.page));
        if (batch.length === RECORDS_PER_WRITE) await flushBatch();
      }
      await flushBatch();
      if (log.epoch !== epoch) return;
      if (fresh) await this.#truncate(this.#stats.path, offset);
      this.#epoch = epoch;
      this.#written = upTo;
      this.#fileBytes = offset;
      if (this.#failing) this.#report(`replica backup ${this.#stats.path}: writing again`);
      this.#failing = false;
    } catch (e) {
      this.#stats.failures++;
      if (!this.#failing) {
        this.#report(
          `replica backup ${this.#stats.path} failed, retried next round: ${(e as Error).message}`,
        );
      }
      this.#failing = true;
      this.#epoch = -1; // rewrite from scratch: what reached the file is unknown
    }
  }
}

function encodeRecord(pid: number, vpn: number, page: Uint8Array): Uint8Array {
  const out = new Uint8Array(BACKUP_HEADER_BYTES + PAGE_SIZE);
  const view = new DataView(out.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, pid, true);
  view.setFloat64(8, vpn, true);
  out.set(page, BACKUP_HEADER_BYTES);
  return out;
}

/**
 * The pages a backup file holds (the last record of each page wins), keyed `pid:vpn`.
 * Stops at the first record that is cut short or lacks the magic number (a file being
 * rewritten may end in older bytes), and says how many bytes it read.
 *
 * @example
 * ```ts
 * import { readBackup } from "./replica_backup.ts";
 * const { pages, bytesRead } = readBackup(new Uint8Array(0));
 * console.assert(pages.size === 0 && bytesRead === 0);
 * ```
 */
export function readBackup(bytes: Uint8Array): {
  pages: Map<string, Uint8Array>;
  bytesRead: number;
} {
  const pages = new Map<string, Uint8Array>();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (at + BACKUP_HEADER_BYTES + PAGE_SIZE <= bytes.length) {
    if (view.getUint32(at, true) !== MAGIC) break;
    const pid = view.getUint32(at + 4, true);
    const vpn = view.getFloat64(at + 8, true);
    pages.set(
      `${pid}:${vpn}`,
      bytes.subarray(at + BACKUP_HEADER_BYTES, at + BACKUP_HEADER_BYTES + PAGE_SIZE),
    );
    at += BACKUP_HEADER_BYTES + PAGE_SIZE;
  }
  return { pages, bytesRead: at };
}
