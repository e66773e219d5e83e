/**
 * The secondary's record of a primary's pages: an append-only log of page writes with an
 * index to each page's latest record, bounded by compaction.
 *
 * Every write appends a record (pid, virtual page, 4 KiB of data) at the tail; nothing
 * already written is changed. The index maps (pid, page) to the newest record of that
 * page, so superseded and dropped pages become garbage in place. When the garbage
 * outgrows the live pages (and a floor of {@link COMPACT_FLOOR} records), the log is
 * rewritten with only the live records, oldest first, and its `epoch` goes up: the log
 * never holds more than about twice the primary's pages plus the floor.
 *
 * Records live in fixed-size segments, so appending never copies what is already there.
 *
 * @module
 */

import { PAGE_SIZE } from "../../kernel/messages.ts";

/** Records per segment (1 MiB of page data). */
const SEGMENT_RECORDS = 256;
/** Garbage records tolerated whatever the live count, before compaction. */
export const COMPACT_FLOOR = 256;

/** One live page of the log. */
export interface LoggedPage {
  /** Process id. */
  pid: number;
  /** Virtual page number. */
  vpn: number;
  /** The page's bytes (a view into the log: copy before keeping). */
  page: Uint8Array;
}

/** Counters of a {@link PageLog}. */
export interface PageLogStats {
  /** Records in the log (live and garbage). */
  records: number;
  /** Pages whose newest record is live. */
  livePages: number;
  /** Records ever appended. */
  appended: number;
  /** Compactions done. */
  compactions: number;
  /** Bytes of page data the log holds. */
  bytes: number;
}

/**
 * An append-only page log with compaction.
 *
 * @example
 * ```ts
 * import { PageLog } from "./replica_log.ts";
 * const log = new PageLog();
 * log.append(1, 16, new Uint8Array(4096).fill(7));
 * log.append(1, 16, new Uint8Array(4096).fill(9)); // supersedes the first record
 * console.assert(log.get(1, 16)?.[0] === 9 && log.stats().records === 2 && log.stats().livePages === 1);
 * log.drop(1, 16);
 * console.assert(log.get(1, 16) === undefined);
 * ```
 */
export class PageLog {
  /** Bumped by each compaction: record numbers from before it mean nothing after. */
  epoch = 0;
  #segments: Uint8Array[] = [];
  #pids: number[] = [];
  #vpns: number[] = [];
  #records = 0;
  /** pid → vpn → newest record number. */
  #index = new Map<number, Map<number, number>>();
  #live = 0;
  #appended = 0;
  #compactions = 0;

  /** Number of records (live and garbage); the next record's number. */
  get records(): number {
    return this.#records;
  }

  /** Counters. */
  stats(): PageLogStats {
    return {
      records: this.#records,
      livePages: this.#live,
      appended: this.#appended,
      compactions: this.#compactions,
      bytes: this.#records * PAGE_SIZE,
    };
  }

  /** Appends `page` (exactly {@link PAGE_SIZE} bytes) as the newest content of `vpn` of `pid`. */
  append(pid: number, vpn: number, page: Uint8Array): void {
    if (page.length !== PAGE_SIZE) {
      throw new RangeError(`a logged page is ${PAGE_SIZE} bytes, got ${page.length}`);
    }
    this.#appendRecord(pid, vpn, page);
    this.#appended++;
    this.#maybeCompact();
  }

  /** The newest content of `vpn` of `pid` (a view), or undefined. */
  get(pid: number, vpn: number): Uint8Array | undefined {
    const record = this.#index.get(pid)?.get(vpn);
    return record === undefined ? undefined : this.#page(record);
  }

  /** Forgets `vpn` of `pid` (its records become garbage). */
  drop(pid: number, vpn: number): void {
    const pages = this.#index.get(pid);
    if (pages?.delete(vpn)) {
      this.#live--;
      if (pages.size === 0) this.#index.delete(pid);
    }
  }

  /** The live page numbers of `pid` in `[first, last)`, ascending. */
  vpnsOf(pid: number, first = 0, last = Infinity): number[] {
    const pages = this.#index.get(pid);
    if (!pages) return [];
    const out: number[] = [];
    for (const vpn of pages.keys()) if (vpn >= first && vpn < last) out.push(vpn);
    return out.sort((a, b) => a - b);
  }

  /** Forgets every page of `pid`; returns how many. */
  dropProcess(pid: number): number {
    const n = this.#index.get(pid)?.size ?? 0;
    this.#index.delete(pid);
    this.#live -= n;
    return n;
  }

  /** The processes with live pages. */
  pids(): number[] {
    return [...this.#index.keys()];
  }

  /** The records from number `from` on, live or not, oldest first (for the backup). */
  *recordsFrom(from: number): Generator<LoggedPage> {
    for (let r = from; r < this.#records; r++) {
      yield { pid: this.#pids[r], vpn: this.#vpns[r], page: this.#page(r) };
    }
  }

  /** Rewrites the log with only its live records, oldest first. */
  compact(): void {
    const live = [...this.#index.values()].flatMap((pages) => [...pages.values()])
      .sort((a, b) => a - b);
    const segments = this.#segments;
    const pids = this.#pids;
    const vpns = this.#vpns;
    const page = (r: number) =>
      segments[Math.floor(r / SEGMENT_RECORDS)].subarray(
        (r % SEGMENT_RECORDS) * PAGE_SIZE,
        (r % SEGMENT_RECORDS + 1) * PAGE_SIZE,
      );
    this.#segments = [];
    this.#pids = [];
    this.#vpns = [];
    this.#records = 0;
    this.#index = new Map();
    this.#live = 0;
    for (const r of live) this.#appendRecord(pids[r], vpns[r], page(r));
    this.epoch++;
    this.#compactions++;
  }

  #appendRecord(pid: number, vpn: number, page: Uint8Array): void {
    const r = this.#records++;
    const segment = Math.floor(r / SEGMENT_RECORDS);
    if (segment === this.#segments.length) {
      this.#segments.push(new Uint8Array(SEGMENT_RECORDS * PAGE_SIZE));
    }
    this.#segments[segment].set(page, (r % SEGMENT_RECORDS) * PAGE_SIZE);
    this.#pids[r] = pid;
    this.#vpns[r] = vpn;
    let pages = this.#index.get(pid);
    if (!pages) this.#index.set(pid, pages = new Map());
    if (!pages.has(vpn)) this.#live++;
    pages.set(vpn, r);
  }

  #page(r: number): Uint8Array {
    const at = (r % SEGMENT_RECORDS) * PAGE_SIZE;
    return this.#segments[Math.floor(r / SEGMENT_RECORDS)].subarray(at, at + PAGE_SIZE);
  }

  #maybeCompact(): void {
    if (this.#records - this.#live > Math.max(this.#live, COMPACT_FLOOR)) this.compact();
  }
}
