/**
 * The owner side of a PMEM memory component: a {@link PageOwner} whose every change —
 * a page flushed, a persistent write, VMAs set, pages copied, a process gone — is
 * applied, then appended to the component's {@link PmemPool} log, and acknowledged only
 * once the record is durable on the host (`fdatasync`). At start the pool's image and
 * log are replayed into the page table and VMA lists, so after a crash every
 * acknowledged change is back; a change whose record was not yet durable may be lost,
 * but records are checked whole, so none comes back torn.
 *
 * The home's side (see `home.ts`) persists here too: after every address-space call it
 * commits, the home's state of that process — VMAs, program break, vRegion owners — is
 * logged whole as a `HOME` record and acknowledged once durable, and the last state of every
 * process homed here is handed back to the home at start ({@link PersistentOwner.homeStates}).
 *
 * The DRAM frame pool is the working copy the page service reads from; the file is what
 * survives. Frame numbers are not persisted: the allocator's state (which frames are
 * taken) is rebuilt by the replay, which takes a frame for every page it installs.
 *
 * When the log is full, changes stop at a gate, those in flight finish, and a checkpoint
 * writes the whole state as the new image (see `pmem_pool.ts`); a change that found no
 * room is made durable by that image instead of a record.
 *
 * @module
 */

import { PROT_READ, PROT_WRITE } from "../../kernel/abi.ts";
import { KernelError } from "../../kernel/errors.ts";
import type { ComponentId } from "../../kernel/ids.ts";
import { PAGE_SIZE } from "../../kernel/messages.ts";
import { PageOwner, type PageOwnerOptions } from "./page_owner.ts";
import { MAX_RECORD_PAYLOAD, type PmemRecord, RecordKind } from "./pmem_log.ts";
import type { PmemPool, RecoveryReport } from "./pmem_pool.ts";
import type { Vma } from "./vma.ts";

/** The top of the user address space a checkpoint covers (x86-64, 47 bits). */
const ADDRESS_SPACE_END = 2 ** 47;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function jsonRecord(kind: PmemRecord["kind"], pid: number, value: unknown): PmemRecord {
  return { kind, flags: 0, pid, addr: 0, payload: encoder.encode(JSON.stringify(value)) };
}

function writeRecord(pid: number, addr: number, payload: Uint8Array): PmemRecord {
  return { kind: RecordKind.WRITE, flags: 0, pid, addr, payload };
}

/** `HOME` records carrying `json`, split so that each fits a record. */
function homeRecords(pid: number, json: string): PmemRecord[] {
  const bytes = encoder.encode(json);
  const parts = Math.max(1, Math.ceil(bytes.length / MAX_RECORD_PAYLOAD));
  return Array.from({ length: parts }, (_, i) => ({
    kind: RecordKind.HOME,
    flags: 0,
    pid,
    addr: parts - 1 - i,
    payload: bytes.subarray(i * MAX_RECORD_PAYLOAD, (i + 1) * MAX_RECORD_PAYLOAD),
  }));
}

/**
 * A page owner whose state lives in a PMEM file.
 *
 * @example
 * ```ts ignore
 * const { pool, records } = await PmemPool.open("/var/lib/m0.pmem", 64 << 20);
 * const owner = new PersistentOwner({ id: "m0", pool: frames, storage, onFull: "enomem", evictBatch: 16 });
 * await owner.recover(pool, records);
 * await owner.persistWrite(7, 0x10010, new Uint8Array([1, 2, 3])); // durable when it resolves
 * ```
 */
export class PersistentOwner extends PageOwner {
  #pool: PmemPool | undefined;
  #checkpoint: Promise<void> | undefined;
  #active = 0;
  #idle: (() => void)[] = [];
  #replaying = false;
  #writes: Promise<unknown> = Promise.resolve();
  /** The home's last durable state of each process homed here, as JSON. */
  readonly #homes = new Map<number, string>();
  /** `HOME` record parts read so far in a replay, per process. */
  readonly #homeParts = new Map<number, Uint8Array[]>();
  /** How the last start went. */
  report: RecoveryReport | undefined;

  /** An owner with nothing yet: {@link PersistentOwner.recover} gives it its file. */
  constructor(options: PageOwnerOptions) {
    super(options);
  }

  /** The PMEM file (once recovered). */
  get #pmem(): PmemPool {
    if (!this.#pool) throw new KernelError("EAGAIN", "the PMEM file is not open yet");
    return this.#pool;
  }

  /**
   * Replays `records` (from {@link PmemPool.open}) into the page table and VMAs. A record
   * that does not apply means the file does not match this component: start is refused.
   */
  async recover(
    pool: PmemPool,
    records: readonly PmemRecord[],
    report?: RecoveryReport,
  ): Promise<void> {
    this.#pool = pool;
    this.#replaying = true;
    try {
      for (const [i, record] of records.entries()) {
        try {
          await this.#apply(record);
        } catch (e) {
          throw new KernelError(
            "EIO",
            `PMEM file "${this.#pmem.path}": record ${i} (kind ${record.kind}, pid ${record.pid}) ` +
              `does not apply: ${(e as Error).message}`,
          );
        }
      }
    } finally {
      this.#replaying = false;
    }
    if (this.#homeParts.size > 0) {
      const pid = [...this.#homeParts.keys()][0];
      this.#homeParts.clear();
      throw new KernelError(
        "EIO",
        `PMEM file "${this.#pmem.path}": the home state of process ${pid} is cut short`,
      );
    }
    this.report = report;
  }

  #setHome(pid: number, json: string): void {
    if (json === "null") this.#homes.delete(pid);
    else this.#homes.set(pid, json);
  }

  /** The home's last durable state of every process homed here (as `persistHome` got it). */
  homeStates(): Map<number, unknown> {
    return new Map([...this.#homes].map(([pid, json]) => [pid, JSON.parse(json)]));
  }

  /**
   * Makes `state` the home's state of process `pid` (`null`: it is homed here no more);
   * resolves once durable.
   */
  persistHome(pid: number, state: unknown): Promise<void> {
    const json = JSON.stringify(state ?? null);
    return this.#mutate(homeRecords(pid, json), () => this.#setHome(pid, json));
  }

  async #apply(record: PmemRecord): Promise<void> {
    switch (record.kind) {
      case RecordKind.WRITE:
        await this.#patch(record.pid, record.addr, record.payload);
        return;
      case RecordKind.VMAS: {
        const v = JSON.parse(decoder.decode(record.payload));
        await super.setVmas(record.pid, v.home, v.start, v.end, v.discard, v.vmas);
        return;
      }
      case RecordKind.EXIT:
        await super.exit(record.pid);
        return;
      case RecordKind.COPY: {
        const v = JSON.parse(decoder.decode(record.payload));
        await super.copyPages(record.pid, v.from, v.toPid, v.to, v.length, v.move);
        return;
      }
      case RecordKind.HOME: {
        const parts = this.#homeParts.get(record.pid) ?? [];
        parts.push(record.payload.slice());
        if (record.addr > 0) {
          this.#homeParts.set(record.pid, parts);
          return;
        }
        this.#homeParts.delete(record.pid);
        const json = decoder.decode(concatBytes(parts));
        JSON.parse(json); // a state that does not parse does not apply
        this.#setHome(record.pid, json);
        return;
      }
      default:
        throw new KernelError("EINVAL", `unknown record kind ${record.kind}`);
    }
  }

  /** Writes `data` at `vaddr` (inside one page) through the page service. */
  async #patch(pid: number, vaddr: number, data: Uint8Array): Promise<void> {
    const offset = vaddr % PAGE_SIZE;
    const pageAddr = vaddr - offset;
    if (offset === 0 && data.length === PAGE_SIZE) {
      await super.flush(pid, pageAddr, data);
      return;
    }
    const page = (await super.fetch(pid, pageAddr)).slice();
    page.set(data, offset);
    await super.flush(pid, pageAddr, page);
  }

  /**
   * Applies a change, then makes it durable: by a log record, or — when the log is full
   * or a checkpoint is under way — by the checkpoint image. Resolves when durable.
   */
  async #mutate<T>(records: PmemRecord[], apply: () => T | Promise<T>): Promise<T> {
    if (this.#replaying) return await apply();
    while (this.#checkpoint) await this.#checkpoint.catch(() => {});
    this.#active++;
    let result: T;
    try {
      result = await apply();
    } catch (e) {
      this.#leave();
      throw e;
    }
    const sizes = records.map((r) => r.payload.length);
    if (this.#checkpoint === undefined && this.#pmem.fits(sizes)) {
      const durable = this.#pmem.append(records);
      this.#leave();
      await durable;
      return result;
    }
    this.#leave();
    await this.#requestCheckpoint();
    return result;
  }

  #leave(): void {
    if (--this.#active === 0) {
      for (const wake of this.#idle.splice(0)) wake();
    }
  }

  #requestCheckpoint(): Promise<void> {
    this.#checkpoint ??= (async () => {
      while (this.#active > 0) await new Promise<void>((resolve) => this.#idle.push(resolve));
      await this.#pmem.checkpoint(await this.#snapshot());
    })().finally(() => {
      this.#checkpoint = undefined;
    });
    return this.#checkpoint;
  }

  /** The whole state as records: the home's processes, then each owned process's VMAs and pages. */
  async #snapshot(): Promise<PmemRecord[]> {
    const records: PmemRecord[] = [];
    for (const [pid, json] of this.#homes) records.push(...homeRecords(pid, json));
    const homes = new Map<number, ComponentId>();
    for (const v of this.ownedVregions()) homes.set(v.pid, v.home);
    for (const [pid, home] of homes) {
      const vmas = this.vmasOf(pid);
      const all = { home, start: 0, end: ADDRESS_SPACE_END };
      // Pages are replayed as writes, which a read-only VMA would refuse: the image maps
      // every VMA writable for them, then sets the real protections (dropping nothing).
      records.push(jsonRecord(RecordKind.VMAS, pid, {
        ...all,
        discard: true,
        vmas: vmas.map((v) => ({ ...v, prot: v.prot | PROT_READ | PROT_WRITE })),
      }));
      for (let at = 0; at < ADDRESS_SPACE_END;) {
        const { addrs, data, next } = await this.readPages(pid, at, ADDRESS_SPACE_END, 256);
        addrs.forEach((addr, i) =>
          records.push(writeRecord(pid, addr, data.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE)))
        );
        at = next;
      }
      if (vmas.some((v) => (v.prot & PROT_WRITE) === 0 || (v.prot & PROT_READ) === 0)) {
        records.push(jsonRecord(RecordKind.VMAS, pid, { ...all, discard: false, vmas }));
      }
    }
    return records;
  }

  /** Writes the state as a checkpoint image (e.g. at a clean stop), emptying the log. */
  checkpointNow(): Promise<void> {
    return this.#requestCheckpoint();
  }

  // ---- the page service and the home's requests, made durable ----

  /** Never: every flush is logged, durably, before it is acknowledged (see `flush`). */
  override flushNow(): boolean {
    return false;
  }

  /** A page flush, acknowledged once durable. */
  override flush(pid: number, vaddr: number, page: Uint8Array): Promise<void> {
    const copy = page.slice(); // the request's bytes may not outlive this call
    return this.#mutate([writeRecord(pid, vaddr, copy)], () => super.flush(pid, vaddr, copy));
  }

  /** A flush and a fetch; the fetched page is returned once the flush is durable. */
  override flushFetch(
    pid: number,
    flushVaddr: number,
    page: Uint8Array,
    fetchVaddr: number,
  ): Promise<Uint8Array> {
    const copy = page.slice();
    return this.#mutate([writeRecord(pid, flushVaddr, copy)], async () => {
      const fetched = super.flushFetch(pid, flushVaddr, copy, fetchVaddr);
      // A view of a frame: copy it, as later changes may land before the reply is sent.
      return fetched instanceof Uint8Array ? fetched.slice() : (await fetched).slice();
    });
  }

  /**
   * A persistent write of `data` (at most one page, not crossing a page boundary) at
   * `vaddr` of `pid`: the server-side half of every persistent-write path. Resolves once
   * durable; rejects as a flush would (`EFAULT` outside a writable VMA).
   */
  persistWrite(pid: number, vaddr: number, data: Uint8Array): Promise<void> {
    if (!Number.isSafeInteger(vaddr) || vaddr < 0) {
      return Promise.reject(new KernelError("EINVAL", `bad address ${vaddr}`));
    }
    if (data.length === 0 || (vaddr % PAGE_SIZE) + data.length > PAGE_SIZE) {
      return Promise.reject(
        new KernelError(
          "EINVAL",
          `a persistent write of ${data.length} bytes at 0x${vaddr.toString(16)} must be 1 to ` +
            `${PAGE_SIZE} bytes inside one page`,
        ),
      );
    }
    const copy = data.slice();
    // File-backed pages are logged whole, so replay never needs the file.
    const vma = this.vmasOf(pid).find((v) => v.start <= vaddr && vaddr < v.end);
    const whole = vma !== undefined && vma.path !== "";
    const pageAddr = vaddr - (vaddr % PAGE_SIZE);
    const records = [writeRecord(pid, vaddr, copy)];
    // Persistent writes are applied one after another (each reads the page the last one
    // wrote), but wait for durability together, so concurrent writes share an fdatasync.
    let applied!: () => void;
    const done = new Promise<void>((resolve) => applied = resolve);
    const run = this.#writes.then(() =>
      this.#mutate(records, async () => {
        try {
          await this.#patch(pid, vaddr, copy);
          if (whole) {
            records[0] = writeRecord(pid, pageAddr, (await super.fetch(pid, pageAddr)).slice());
          }
        } finally {
          applied();
        }
      })
    );
    this.#writes = done;
    return run;
  }

  /** `M2M_VMA_SET`, acknowledged once durable. */
  override setVmas(
    pid: number,
    home: ComponentId,
    start: number,
    end: number,
    discard: boolean,
    vmas: readonly Vma[],
  ): Promise<number> {
    const record = jsonRecord(RecordKind.VMAS, pid, { home, start, end, discard, vmas });
    return this.#mutate([record], () => super.setVmas(pid, home, start, end, discard, vmas));
  }

  /** `M2M_PAGES_WRITE`, acknowledged once durable (one group: all pages or none). */
  override writePages(pid: number, addrs: readonly number[], data: Uint8Array): Promise<void> {
    const copy = data.slice();
    const records = addrs.map((addr, i) =>
      writeRecord(pid, addr, copy.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE))
    );
    return this.#mutate(records, () => super.writePages(pid, addrs, copy));
  }

  /** `M2M_PAGES_COPY`, acknowledged once durable. */
  override copyPages(
    pid: number,
    from: number,
    toPid: number,
    to: number,
    length: number,
    move: boolean,
  ): Promise<number> {
    const record = jsonRecord(RecordKind.COPY, pid, { from, toPid, to, length, move });
    return this.#mutate([record], () => super.copyPages(pid, from, toPid, to, length, move));
  }

  /** `M2M_PROCESS_EXIT`, acknowledged once durable. */
  override exit(pid: number): Promise<number> {
    const record: PmemRecord = {
      kind: RecordKind.EXIT,
      flags: 0,
      pid,
      addr: 0,
      payload: new Uint8Array(0),
    };
    return this.#mutate([record], () => super.exit(pid));
  }
}

function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
