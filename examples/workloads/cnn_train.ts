/**
 * A convolutional network trained with SGD by several threads on CIFAR-shaped data held in
 * emulated memory: the shape of the LegoOS paper's TensorFlow CIFAR-10 experiment.
 *
 * The network (real forward and backward passes, real gradients):
 * `conv 3→8 (3×3, stride 2) → ReLU → max-pool 2 → conv 8→16 (3×3) → ReLU → max-pool 2 →
 * fully connected 256→10 → softmax`, cross-entropy loss.
 *
 * The data: `images` pictures of 32×32×3 f32 (12 KiB each, three whole lines) in 10
 * classes, generated from the seed: each class has a smooth pattern of its own, each
 * picture is its class's pattern plus uniform noise, so there is something to learn. The
 * threads generate it into emulated memory first (each its own slice).
 *
 * Training: data-parallel SGD with periodic averaging (local SGD). Each epoch has `rounds`
 * rounds; in each, `threads` threads (spawned and joined, so model time joins too) take
 * the shared weights, each runs SGD on its own replica over its slice of the round's
 * images (one step per mini-batch of `batch` images; forward and backward image by image,
 * activations stored to and read back from the thread's scratch in emulated memory, as a
 * framework materialises them), and the main thread averages the replicas in a fixed
 * order into the new shared weights. The result does not depend on how the threads
 * interleave, so a seed fixes it. Each thread declares its compute (FLOPs and bytes of
 * every image) through `proc.compute`.
 *
 * The working set (data, labels, weights, gradients, scratch) is `0.9 GB × scale`.
 * The exit code is 0 when the mean loss of the last epoch is below that of the first
 * batch (the network learned), 1 otherwise.
 *
 * Arguments (`key=value`): `scale` (default 1: 0.9 GB), `threads` (4), `seed` (1),
 * `epochs` (2), `batch` (32, per thread), `rounds` (4 per epoch), `lr` (learning rate, 0.01).
 *
 * @module
 */

import type { Proc } from "../../kernel/process_api.ts";

/** The working set at `scale=1`, as in the paper (0.9 GB). */
export const FULL_WORKING_SET_BYTES = 0.9e9;

const PAGE = 4096;
const SIDE = 32;
const CHANNELS = 3;
const PIXELS = SIDE * SIDE * CHANNELS; // 3072 f32 = 12 KiB
const IMAGE_BYTES = PIXELS * 4;
const CLASSES = 10;
const C1 = 8; // conv1 output channels (stride 2: 32 → 16)
const C2 = 16; // conv2 output channels (stride 1: 8 → 8)
const H1 = 16; // conv1 output side
const P1 = 8; // after pool 1
const P2 = 4; // after pool 2
const FEATURES = C2 * P2 * P2; // 256

// Parameter offsets (f32) in one flat vector.
const W1 = 0;
const B1 = W1 + C1 * CHANNELS * 9;
const W2 = B1 + C1;
const B2 = W2 + C2 * C1 * 9;
const WF = B2 + C2;
const BF = WF + CLASSES * FEATURES;
/** Number of trainable parameters. */
export const PARAMETERS = BF + CLASSES;

// Activations of one image kept in scratch (f32): conv1, pool1, conv2, pool2.
const Z1 = 0;
const A1N = C1 * H1 * H1; // 2048
const Q1 = Z1 + A1N;
const Q1N = C1 * P1 * P1; // 512
const Z2 = Q1 + Q1N;
const Z2N = C2 * P1 * P1; // 1024
const Q2 = Z2 + Z2N;
const ACTIVATIONS = Q2 + FEATURES;

/** FLOPs of one image, forward and backward (multiply and add count as two). */
export const FLOPS_PER_IMAGE = 2 * (
  C1 * H1 * H1 * CHANNELS * 9 * 2 + // conv1 forward + weight gradient
  C2 * P1 * P1 * C1 * 9 * 3 + // conv2 forward + weight and input gradients
  CLASSES * FEATURES * 3 // fc forward + weight and input gradients
);
/** Bytes one image's step touches in the cache: the picture, activations out and back. */
export const BYTES_PER_IMAGE = IMAGE_BYTES + 2 * ACTIVATIONS * 4;

/** Where everything lives in the emulated address space. */
interface Layout {
  images: number;
  data: number;
  labels: number;
  weights: number;
  replicas: number;
  scratch: number;
  stats: number;
  threads: number;
  seed: number;
}

/** One thread's share of a step. */
interface Job extends Layout {
  slot: number;
  first: number;
  count: number;
  batch: number;
  lr: number;
}

const roundUp = (n: number) => Math.ceil(n / PAGE) * PAGE;
const gradBytes = roundUp(PARAMETERS * 4);
const scratchBytes = roundUp(ACTIVATIONS * 4);

/**
 * How many images fit a working set of `bytes` beside the model's own state.
 *
 * @example
 * ```ts
 * import { imagesFor } from "./cnn_train.ts";
 * console.assert(imagesFor(0.9e9, 4) > 70_000);
 * ```
 */
export function imagesFor(bytes: number, threads: number): number {
  const fixed = roundUp(PARAMETERS * 4) + threads * (gradBytes + scratchBytes + PAGE);
  return Math.max(threads, Math.floor((bytes - fixed) / (IMAGE_BYTES + 1)));
}

/** Trains the network; exit code 0 when the loss fell. */
export function main(proc: Proc): number {
  const a = parseWorkloadArgs(proc.args, {
    scale: { default: 1, min: 1e-5, max: 2 },
    threads: { default: 4, min: 1, max: 64, integer: true },
    seed: { default: 1, min: 0, max: 2 ** 32 - 1, integer: true },
    epochs: { default: 2, min: 1, max: 1000, integer: true },
    batch: { default: 32, min: 1, max: 1 << 20, integer: true },
    rounds: { default: 4, min: 1, max: 1 << 20, integer: true },
    lr: { default: 0.01, min: 1e-6, max: 10 },
  });
  const threads = a.threads;
  const images = imagesFor(FULL_WORKING_SET_BYTES * a.scale, threads);
  const layout: Layout = {
    images,
    data: proc.mmap(images * IMAGE_BYTES),
    labels: proc.mmap(roundUp(images)),
    weights: proc.mmap(gradBytes),
    replicas: proc.mmap(threads * gradBytes),
    scratch: proc.mmap(threads * scratchBytes),
    stats: proc.mmap(threads * PAGE),
    threads,
    seed: a.seed,
  };
  proc.log(
    `cnn_train: ${images} images (${((images * IMAGE_BYTES) / 2 ** 20).toFixed(1)} MiB), ` +
      `${PARAMETERS} parameters, ${threads} threads, batch ${a.batch} per thread, ` +
      `${a.rounds} rounds per epoch, ${a.epochs} epochs`,
  );

  // Every thread generates its slice of the data.
  parallel(proc, layout, images, "generate");
  initWeights(proc, layout);

  const rounds = Math.min(a.rounds, Math.floor(images / threads));
  const perRound = Math.floor(images / rounds);
  let firstLoss = NaN;
  let epochLoss = NaN;
  const replica = new Float32Array(PARAMETERS);
  const sum = new Float32Array(PARAMETERS);
  for (let epoch = 0; epoch < a.epochs; epoch++) {
    let lossSum = 0;
    let correct = 0;
    for (let round = 0; round < rounds; round++) {
      parallel(proc, layout, perRound, "train", round * perRound, a.batch, a.lr);
      // Average the threads' replicas in a fixed order: the new shared weights.
      sum.fill(0);
      let firstBatches = 0;
      for (let t = 0; t < threads; t++) {
        proc.loadInto(layout.replicas + t * gradBytes, replica);
        for (let i = 0; i < PARAMETERS; i++) sum[i] += replica[i];
        lossSum += proc.loadF64(layout.stats + t * PAGE);
        correct += proc.loadF64(layout.stats + t * PAGE + 8);
        firstBatches += proc.loadF64(layout.stats + t * PAGE + 16);
      }
      for (let i = 0; i < PARAMETERS; i++) sum[i] /= threads;
      proc.storeF32Array(layout.weights, sum);
      declareWork(proc, {
        flops: PARAMETERS * (threads + 1),
        bytes: PARAMETERS * 4 * (threads + 1),
      });
      if (epoch === 0 && round === 0) firstLoss = firstBatches / threads;
    }
    epochLoss = lossSum / (rounds * perRound);
    proc.log(
      `epoch ${epoch + 1}: mean loss ${epochLoss.toFixed(4)}, accuracy ${
        (100 * correct / (rounds * perRound)).toFixed(1)
      }%`,
    );
  }
  proc.log(`loss: first batch ${firstLoss.toFixed(4)}, last epoch ${epochLoss.toFixed(4)}`);
  return epochLoss < firstLoss ? 0 : 1;
}

/** Runs `entry` on `count` items from `first`, split over the threads; waits for all. */
function parallel(
  proc: Proc,
  layout: Layout,
  count: number,
  entry: string,
  first = 0,
  batch = 0,
  lr = 0,
): void {
  const per = Math.ceil(count / layout.threads);
  const tids: number[] = [];
  const jobs: Job[] = [];
  for (let slot = 0; slot < layout.threads; slot++) {
    const from = Math.min(count, slot * per);
    const n = Math.min(count, from + per) - from;
    jobs.push({ ...layout, slot, first: first + from, count: n, batch, lr });
  }
  for (let slot = 1; slot < layout.threads; slot++) tids.push(proc.spawn(entry, jobs[slot]));
  if (entry === "generate") generate(proc, jobs[0]);
  else train(proc, jobs[0]);
  for (const tid of tids) proc.join(tid);
}

/** The smooth pattern of each class, from the seed (host arrays, small). */
function classPatterns(seed: number): Float32Array[] {
  const random = seeded(mixSeed(seed, 0xc1a55));
  const out: Float32Array[] = [];
  for (let c = 0; c < CLASSES; c++) {
    const pattern = new Float32Array(PIXELS);
    for (let ch = 0; ch < CHANNELS; ch++) {
      const waves = Array.from({ length: 3 }, () => ({
        fx: (random() - 0.5) * 0.8,
        fy: (random() - 0.5) * 0.8,
        phase: random() * 2 * Math.PI,
        amp: 0.5 + random() * 0.5,
      }));
      for (let y = 0; y < SIDE; y++) {
        for (let x = 0; x < SIDE; x++) {
          let v = 0;
          for (const w of waves) v += w.amp * Math.sin(w.fx * x + w.fy * y + w.phase);
          pattern[(ch * SIDE + y) * SIDE + x] = v;
        }
      }
    }
    out.push(pattern);
  }
  return out;
}

/** The label of image `i`. */
function labelOf(seed: number, i: number): number {
  return mixSeed(seed, i, 0x1abe1) % CLASSES;
}

/** Thread entry: generates images `[first, first + count)` and their labels. */
export function generate(proc: Proc, job: Job): number {
  const patterns = classPatterns(job.seed);
  const image = new Float32Array(PIXELS);
  for (let i = job.first; i < job.first + job.count; i++) {
    const label = labelOf(job.seed, i);
    const random = seeded(mixSeed(job.seed, i));
    const pattern = patterns[label];
    for (let p = 0; p < PIXELS; p++) image[p] = pattern[p] + 2 * (random() - 0.5);
    proc.storeF32Array(job.data + i * IMAGE_BYTES, image);
    proc.storeU8(job.labels + i, label);
    declareWork(proc, { flops: 4 * PIXELS, bytes: IMAGE_BYTES + 1 });
  }
  return 0;
}

/** Main thread: initialises the weights (scaled uniform, from the seed). */
function initWeights(proc: Proc, layout: Layout): void {
  const random = seeded(mixSeed(layout.seed, 0x3e1675));
  const w = new Float32Array(PARAMETERS);
  const fill = (from: number, n: number, fanIn: number) => {
    const bound = Math.sqrt(6 / fanIn);
    for (let i = from; i < from + n; i++) w[i] = (random() * 2 - 1) * bound;
  };
  fill(W1, B1 - W1, CHANNELS * 9);
  fill(W2, B2 - W2, C1 * 9);
  fill(WF, BF - WF, FEATURES);
  proc.storeF32Array(layout.weights, w);
}

/**
 * Thread entry: SGD on the thread's own replica of the weights over images
 * `[first, first + count)`, one step per mini-batch of `batch` images; the replica lives
 * in the thread's buffer in emulated memory. Stores the loss sum, the hits and the mean
 * loss of its first mini-batch in its stats.
 */
export function train(proc: Proc, job: Job): number {
  const w = proc.loadF32Array(job.weights, PARAMETERS);
  const g = new Float32Array(PARAMETERS);
  const scratch = job.scratch + job.slot * scratchBytes;
  const x = new Float32Array(PIXELS);
  const act = new Float32Array(ACTIVATIONS);
  const idx1 = new Int32Array(Q1N);
  const idx2 = new Int32Array(FEATURES);
  const probs = new Float64Array(CLASSES);
  const dq2 = new Float32Array(FEATURES);
  const dz2 = new Float32Array(Z2N);
  const dq1 = new Float32Array(Q1N);
  const dz1 = new Float32Array(A1N);
  const xPad = new Float32Array(CHANNELS * (SIDE + 2) ** 2);
  const q1Pad = new Float32Array(C1 * (P1 + 2) ** 2);
  const dq1Pad = new Float32Array(C1 * (P1 + 2) ** 2);
  const sums = new Float64Array(H1 * H1);
  const nzAt = new Int32Array(H1 * H1);
  const nzD = new Float64Array(H1 * H1);
  const replica = job.replicas + job.slot * gradBytes;
  let lossSum = 0;
  let correct = 0;
  let firstBatchLoss = NaN;
  let inBatch = 0;
  const step = () => {
    const rate = job.lr / inBatch;
    for (let k = 0; k < PARAMETERS; k++) w[k] -= rate * g[k];
    g.fill(0);
    proc.storeF32Array(replica, w);
    declareWork(proc, { flops: 2 * PARAMETERS, bytes: 12 * PARAMETERS });
    if (Number.isNaN(firstBatchLoss)) firstBatchLoss = lossSum / inBatch;
    inBatch = 0;
  };
  for (let i = job.first; i < job.first + job.count; i++) {
    proc.forEachF32(job.data + i * IMAGE_BYTES, PIXELS, false, (values, at) => x.set(values, at));
    const label = proc.loadU8(job.labels + i);

    // Forward.
    const z1 = act.subarray(Z1, Z1 + A1N);
    const q1 = act.subarray(Q1, Q1 + Q1N);
    const z2 = act.subarray(Z2, Z2 + Z2N);
    const q2 = act.subarray(Q2, Q2 + FEATURES);
    padInto(x, CHANNELS, SIDE, xPad);
    convForward(xPad, CHANNELS, SIDE, w, W1, B1, C1, 2, z1, H1, sums);
    relu(z1);
    maxPool(z1, C1, H1, q1, idx1);
    padInto(q1, C1, P1, q1Pad);
    convForward(q1Pad, C1, P1, w, W2, B2, C2, 1, z2, P1, sums);
    relu(z2);
    maxPool(z2, C2, P1, q2, idx2);
    let top = 0;
    for (let k = 0; k < CLASSES; k++) {
      let s = w[BF + k];
      const row = WF + k * FEATURES;
      for (let j = 0; j < FEATURES; j++) s += w[row + j] * q2[j];
      probs[k] = s;
      if (s > probs[top]) top = k;
    }
    const max = probs[top];
    let z = 0;
    for (let k = 0; k < CLASSES; k++) z += probs[k] = Math.exp(probs[k] - max);
    for (let k = 0; k < CLASSES; k++) probs[k] /= z;
    lossSum += -Math.log(Math.max(probs[label], 1e-30));
    if (top === label) correct++;
    // The activations go out to memory and come back for the backward pass.
    proc.storeF32Array(scratch, act);
    proc.loadInto(scratch, act);

    // Backward.
    dq2.fill(0);
    for (let k = 0; k < CLASSES; k++) {
      const d = probs[k] - (k === label ? 1 : 0);
      g[BF + k] += d;
      const row = WF + k * FEATURES;
      for (let j = 0; j < FEATURES; j++) {
        g[row + j] += d * q2[j];
        dq2[j] += d * w[row + j];
      }
    }
    dz2.fill(0);
    for (let j = 0; j < FEATURES; j++) dz2[idx2[j]] = dq2[j];
    for (let j = 0; j < Z2N; j++) if (z2[j] <= 0) dz2[j] = 0;
    dq1Pad.fill(0);
    convBackward(q1Pad, C1, P1, w, W2, B2, g, C2, 1, dz2, P1, dq1Pad, nzAt, nzD);
    for (let c = 0; c < C1; c++) {
      for (let y = 0; y < P1; y++) {
        const from = (c * (P1 + 2) + y + 1) * (P1 + 2) + 1;
        dq1.set(dq1Pad.subarray(from, from + P1), (c * P1 + y) * P1);
      }
    }
    dz1.fill(0);
    for (let j = 0; j < Q1N; j++) dz1[idx1[j]] += dq1[j];
    for (let j = 0; j < A1N; j++) if (z1[j] <= 0) dz1[j] = 0;
    convBackward(xPad, CHANNELS, SIDE, w, W1, B1, g, C1, 2, dz1, H1, null, nzAt, nzD);
    declareWork(proc, { flops: FLOPS_PER_IMAGE, bytes: BYTES_PER_IMAGE });
    if (++inBatch === job.batch) step();
  }
  if (inBatch > 0) step();
  proc.storeF32Array(replica, w);
  proc.storeF64(job.stats + job.slot * PAGE, lossSum);
  proc.storeF64(job.stats + job.slot * PAGE + 8, correct);
  proc.storeF64(job.stats + job.slot * PAGE + 16, firstBatchLoss);
  return 0;
}

/**
 * Copies `inp` (cin planes of side²) into the interior of `pad` (cin planes of
 * (side + 2)², whose border stays zero): the convolutions then read every 3×3 window
 * without bounds checks. A zero tap adds exactly nothing, so the results are the same as
 * skipping it.
 */
function padInto(inp: Float32Array, cin: number, side: number, pad: Float32Array): void {
  const ps = side + 2;
  for (let ci = 0; ci < cin; ci++) {
    for (let y = 0; y < side; y++) {
      const from = (ci * side + y) * side;
      pad.set(inp.subarray(from, from + side), (ci * ps + y + 1) * ps + 1);
    }
  }
}

/**
 * 3×3 convolution, padding 1: `pad` (cin planes of (side + 2)², see {@link padInto}) →
 * `out` (cout × outSide²). Each output is its bias plus, channel by channel, the nine taps
 * in row order, summed in f64 (`acc` holds the outSide² running sums): the same additions
 * in the same order as the plain loop, so the same result to the bit, while the loop over
 * input channels outside the positions keeps a channel's nine weights in registers.
 */
function convForward(
  pad: Float32Array,
  cin: number,
  side: number,
  w: Float32Array,
  wAt: number,
  bAt: number,
  cout: number,
  stride: number,
  out: Float32Array,
  outSide: number,
  acc: Float64Array,
): void {
  const ps = side + 2;
  const n = outSide * outSide;
  for (let co = 0; co < cout; co++) {
    acc.fill(w[bAt + co], 0, n);
    for (let ci = 0; ci < cin; ci++) {
      const k = wAt + (co * cin + ci) * 9;
      const w0 = w[k], w1 = w[k + 1], w2 = w[k + 2];
      const w3 = w[k + 3], w4 = w[k + 4], w5 = w[k + 5];
      const w6 = w[k + 6], w7 = w[k + 7], w8 = w[k + 8];
      let j = 0;
      for (let oy = 0; oy < outSide; oy++) {
        let p = (ci * ps + oy * stride) * ps;
        for (let ox = 0; ox < outSide; ox++, j++, p += stride) {
          const q = p + ps;
          const r = q + ps;
          acc[j] = acc[j] + w0 * pad[p] + w1 * pad[p + 1] + w2 * pad[p + 2] +
            w3 * pad[q] + w4 * pad[q + 1] + w5 * pad[q + 2] +
            w6 * pad[r] + w7 * pad[r + 1] + w8 * pad[r + 2];
        }
      }
    }
    out.set(acc.subarray(0, n), co * n);
  }
}

/**
 * Gradients of {@link convForward}: weights and bias into `g`, and the input's into
 * `dpad` if given (padded like the input: the caller takes its interior). Most of `dout`
 * is zero (ReLU and pooling pass few gradients on): each output channel first lists its
 * non-zero gradients (`at`: their window's offset in a plane, `d`: the values), then each
 * input channel walks that list with its nine weights and gradients in registers. Every
 * gradient still gets the same additions in the same order as the plain loop (f32 after
 * each, as a store into `g` rounds), so the result is the same to the bit.
 */
function convBackward(
  pad: Float32Array,
  cin: number,
  side: number,
  w: Float32Array,
  wAt: number,
  bAt: number,
  g: Float32Array,
  cout: number,
  stride: number,
  dout: Float32Array,
  outSide: number,
  dpad: Float32Array | null,
  at: Int32Array,
  d: Float64Array,
): void {
  const ps = side + 2;
  const fround = Math.fround;
  for (let co = 0; co < cout; co++) {
    let gb = g[bAt + co];
    let m = 0;
    for (let oy = 0; oy < outSide; oy++) {
      for (let ox = 0; ox < outSide; ox++) {
        const v = dout[(co * outSide + oy) * outSide + ox];
        if (v === 0) continue;
        gb = fround(gb + v);
        at[m] = oy * stride * ps + ox * stride;
        d[m++] = v;
      }
    }
    g[bAt + co] = gb;
    if (m === 0) continue;
    for (let ci = 0; ci < cin; ci++) {
      const k = wAt + (co * cin + ci) * 9;
      const plane = ci * ps * ps;
      let g0 = g[k], g1 = g[k + 1], g2 = g[k + 2];
      let g3 = g[k + 3], g4 = g[k + 4], g5 = g[k + 5];
      let g6 = g[k + 6], g7 = g[k + 7], g8 = g[k + 8];
      for (let e = 0; e < m; e++) {
        const v = d[e];
        const p = plane + at[e];
        const q = p + ps;
        const r = q + ps;
        g0 = fround(g0 + v * pad[p]);
        g1 = fround(g1 + v * pad[p + 1]);
        g2 = fround(g2 + v * pad[p + 2]);
        g3 = fround(g3 + v * pad[q]);
        g4 = fround(g4 + v * pad[q + 1]);
        g5 = fround(g5 + v * pad[q + 2]);
        g6 = fround(g6 + v * pad[r]);
        g7 = fround(g7 + v * pad[r + 1]);
        g8 = fround(g8 + v * pad[r + 2]);
      }
      g[k] = g0;
      g[k + 1] = g1;
      g[k + 2] = g2;
      g[k + 3] = g3;
      g[k + 4] = g4;
      g[k + 5] = g5;
      g[k + 6] = g6;
      g[k + 7] = g7;
      g[k + 8] = g8;
      if (!dpad) continue;
      const w0 = w[k], w1 = w[k + 1], w2 = w[k + 2];
      const w3 = w[k + 3], w4 = w[k + 4], w5 = w[k + 5];
      const w6 = w[k + 6], w7 = w[k + 7], w8 = w[k + 8];
      for (let e = 0; e < m; e++) {
        const v = d[e];
        const p = plane + at[e];
        const q = p + ps;
        const r = q + ps;
        dpad[p] += v * w0;
        dpad[p + 1] += v * w1;
        dpad[p + 2] += v * w2;
        dpad[q] += v * w3;
        dpad[q + 1] += v * w4;
        dpad[q + 2] += v * w5;
        dpad[r] += v * w6;
        dpad[r + 1] += v * w7;
        dpad[r + 2] += v * w8;
      }
    }
  }
}

function relu(v: Float32Array): void {
  for (let i = 0; i < v.length; i++) if (v[i] < 0) v[i] = 0;
}

/** 2×2 max pooling of `channels` planes of `side²`; `idx` records each winner's index. */
function maxPool(
  inp: Float32Array,
  channels: number,
  side: number,
  out: Float32Array,
  idx: Int32Array,
): void {
  const half = side >> 1;
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < half; y++) {
      for (let x = 0; x < half; x++) {
        const base = (c * side + 2 * y) * side + 2 * x;
        let best = base;
        if (inp[base + 1] > inp[best]) best = base + 1;
        if (inp[base + side] > inp[best]) best = base + side;
        if (inp[base + side + 1] > inp[best]) best = base + side + 1;
        const o = (c * half + y) * half + x;
        out[o] = inp[best];
        idx[o] = best;
      }
    }
  }
}

// ── helpers, inlined because a sandboxed thread may read only its own module ──

/** How one numeric argument is checked. */
interface NumberArg {
  /** Value when the argument is absent. */
  default: number;
  /** Smallest allowed value. */
  min: number;
  /** Largest allowed value. */
  max: number;
  /** Whether only integers are allowed. */
  integer?: boolean;
}

/**
 * Parses `args` (each `key=value`) against `spec`; throws a `RangeError` naming the
 * argument for an unknown key, a malformed pair, a non-number or a value out of range.
 */
function parseWorkloadArgs<K extends string>(
  args: readonly string[],
  spec: Record<K, NumberArg>,
): Record<K, number> {
  const out = {} as Record<K, number>;
  for (const key of Object.keys(spec) as K[]) out[key] = spec[key].default;
  const known = Object.keys(spec).join(", ");
  for (const arg of args) {
    const eq = arg.indexOf("=");
    if (eq <= 0) throw new RangeError(`argument "${arg}" is not key=value (keys: ${known})`);
    const key = arg.slice(0, eq) as K;
    if (!Object.hasOwn(spec, key)) {
      throw new RangeError(`unknown argument "${key}" (keys: ${known})`);
    }
    const text = arg.slice(eq + 1);
    const value = Number(text);
    const { min, max, integer } = spec[key];
    if (text.trim() === "" || !Number.isFinite(value)) {
      throw new RangeError(`argument ${key} must be a number, got "${text}"`);
    }
    if ((integer && !Number.isInteger(value)) || value < min || value > max) {
      throw new RangeError(
        `argument ${key} must be ${
          integer ? "an integer" : "a number"
        } in ${min}..${max}, got ${text}`,
      );
    }
    out[key] = value;
  }
  return out;
}

/**
 * A seeded 32-bit generator (mulberry32) yielding numbers in [0, 1): the workloads' only
 * source of randomness, so one seed fixes their data and choices.
 */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Mixes integers into one 32-bit seed (so thread t of seed s gets its own stream). */
function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

/** Declares work to the model clock: the emulated CPU's roofline turns it into time. */
function declareWork(proc: Proc, work: { flops: number; bytes: number }): void {
  proc.compute(work);
}
