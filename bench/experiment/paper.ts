/**
 * The LegoOS paper's end-to-end slowdowns (OSDI'18, §6; the table in the project's design
 * notes): what the experiment compares its own results with. Nothing in the emulator is
 * fitted to these numbers; they are printed beside legoemu's.
 *
 * @module
 */

/** The systems the experiment compares, in the paper's order. */
export const SYSTEMS = ["legoos", "linux-ssd", "linux-ramdisk", "linux-infiniswap"] as const;

/** One of {@link SYSTEMS}. */
export type SystemName = typeof SYSTEMS[number];

/** The reference every slowdown divides by: Linux with all memory local. */
export const REFERENCE = "linux-local";

/** Slowdown vs Linux all-local, by system and cache (local memory) size in MiB. */
export type PaperTable = Record<SystemName, Record<number, number>>;

/** TensorFlow CIFAR-10 training, 0.9 GB working set, 4 threads. */
export const PAPER_CNN: PaperTable = {
  "legoos": { 128: 2.13, 256: 1.68, 512: 1.41 },
  "linux-ssd": { 128: 5.52, 256: 2.50, 512: 1.37 },
  "linux-ramdisk": { 128: 4.48, 256: 2.16, 512: 1.27 },
  "linux-infiniswap": { 128: 2.91, 256: 2.55, 512: 1.23 },
};

/** Phoenix word count, 2 GB working set. */
export const PAPER_WORDCOUNT: PaperTable = {
  "legoos": { 256: 1.74, 512: 1.34, 1024: 1.17 },
  "linux-ssd": { 256: 5.60, 512: 2.38, 1024: 1.21 },
  "linux-ramdisk": { 256: 1.47, 512: 1.21, 1024: 1.09 },
  "linux-infiniswap": { 256: 4.50, 512: 2.50, 1024: 1.87 },
};
