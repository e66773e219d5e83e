/**
 * The workloads the experiment knows: where each lives, its arguments for a scale, its
 * working set, the paper's cache sizes and table, and how many threads a run starts (for
 * the progress bar).
 *
 * @module
 */

import {
  FULL_WORKING_SET_BYTES as CNN_BYTES,
  imagesFor,
} from "../../examples/workloads/cnn_train.ts";
import { FULL_WORKING_SET_BYTES as WORDCOUNT_BYTES } from "../../examples/workloads/wordcount.ts";
import { FULL_RECORDS } from "../../examples/workloads/kv_zipf.ts";
import { PAPER_CNN, PAPER_WORDCOUNT, type PaperTable } from "./paper.ts";

/** What the experiment needs to know about a workload. */
export interface ExperimentWorkload {
  /** Its name on the command line. */
  name: string;
  /** The module (URL). */
  url: string;
  /** The working set at scale 1 [bytes]. */
  fullWorkingSetBytes: number;
  /** The paper's cache sizes at scale 1 [MiB]. */
  paperSizesMiB: number[];
  /** The paper's slowdowns, when it has them. */
  paper?: PaperTable;
  /** Workload arguments for a run. */
  args(scale: number, threads: number, seed: number): string[];
  /** Threads a run starts in all, for progress. */
  threadsStarted(scale: number, threads: number): number;
}

const here = (path: string) => new URL(`../../examples/workloads/${path}`, import.meta.url).href;
const CNN_EPOCHS = 2;
const CNN_ROUNDS = 4;

/** The experiment's workloads by name. */
export const WORKLOADS: Record<string, ExperimentWorkload> = {
  cnn: {
    name: "cnn",
    url: here("cnn_train.ts"),
    fullWorkingSetBytes: CNN_BYTES,
    paperSizesMiB: [128, 256, 512],
    paper: PAPER_CNN,
    args: (scale, threads, seed) => [
      `scale=${scale}`,
      `threads=${threads}`,
      `seed=${seed}`,
      `epochs=${CNN_EPOCHS}`,
      `rounds=${CNN_ROUNDS}`,
    ],
    threadsStarted: (scale, threads) => {
      const images = imagesFor(CNN_BYTES * scale, threads);
      const rounds = Math.min(CNN_ROUNDS, Math.floor(images / threads));
      return 1 + (threads - 1) * (1 + CNN_EPOCHS * rounds);
    },
  },
  wordcount: {
    name: "wordcount",
    url: here("wordcount.ts"),
    fullWorkingSetBytes: WORDCOUNT_BYTES,
    paperSizesMiB: [256, 512, 1024],
    paper: PAPER_WORDCOUNT,
    args: (scale, threads, seed) => [`scale=${scale}`, `threads=${threads}`, `seed=${seed}`],
    threadsStarted: (_scale, threads) => 1 + 2 * (threads - 1),
  },
  kv: {
    name: "kv",
    url: here("kv_zipf.ts"),
    fullWorkingSetBytes: FULL_RECORDS * (1024 + 32),
    paperSizesMiB: [128, 256, 512],
    args: (scale, threads, seed) => [`scale=${scale}`, `threads=${threads}`, `seed=${seed}`],
    threadsStarted: (_scale, threads) => 1 + 2 * (threads - 1),
  },
};
