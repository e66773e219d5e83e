import assert from "node:assert/strict";
import fc from "fast-check";
import { COPY_MAX_BYTES, FrameWriter } from "../../transports/tcp/writer.ts";

/**
 * A sink that writes at most `chunks[i]` bytes per call and settles each write after a
 * microtask or a timer, recording what it was given.
 */
function slowSink(chunks: number[], useTimer: boolean[]) {
  let out = new Uint8Array(1 << 20);
  let length = 0;
  let call = 0;
  return {
    get out() {
      return out.subarray(0, length);
    },
    write(data: Uint8Array): Promise<number> {
      const n = Math.min(data.length, Math.max(1, chunks[call % chunks.length]));
      if (length + n > out.length) {
        const grown = new Uint8Array(Math.max(out.length * 2, length + n));
        grown.set(out.subarray(0, length));
        out = grown;
      }
      // Copy now: the writer may reuse the bytes once the write has resolved.
      out.set(data.subarray(0, n), length);
      length += n;
      const timer = useTimer[call++ % useTimer.length];
      return new Promise((resolve) => {
        if (timer) setTimeout(() => resolve(n), 0);
        else queueMicrotask(() => resolve(n));
      });
    },
  };
}

const frameArb = fc.record({
  size: fc.oneof(
    fc.integer({ min: 1, max: 5000 }),
    fc.integer({ min: COPY_MAX_BYTES - 2, max: COPY_MAX_BYTES + 2 }),
    fc.integer({ min: 100_000, max: 200_000 }),
  ),
  owned: fc.boolean(),
  /** Yield to the writer after queuing this frame. */
  pause: fc.boolean(),
});

Deno.test("FrameWriter writes every queued byte once, in order, whatever the sink does", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(frameArb, { minLength: 1, maxLength: 30 }),
      fc.array(fc.integer({ min: 4096, max: 400_000 }), { minLength: 1, maxLength: 5 }),
      fc.array(fc.boolean(), { minLength: 1, maxLength: 3 }),
      async (frames, chunks, timers) => {
        const sink = slowSink(chunks, timers);
        const writer = new FrameWriter(sink, (error) => {
          throw error;
        });
        const expected: Uint8Array[] = [];
        let seed = 1;
        for (const { size, owned, pause } of frames) {
          const frame = new Uint8Array(size);
          for (let i = 0; i < size; i++) frame[i] = seed = (seed * 31 + 7) & 0xff;
          expected.push(frame.slice());
          writer.queue(frame, owned);
          // A frame the writer does not own may be reused by its sender at once.
          if (!owned) frame.fill(0xee);
          if (pause) await new Promise((resolve) => setTimeout(resolve, 0));
        }
        const total = expected.reduce((sum, frame) => sum + frame.length, 0);
        // Wait while the writer makes progress (a lost byte would stall it for good).
        for (let idle = 0; idle < 50 && sink.out.length < total;) {
          const before = sink.out.length;
          await new Promise((resolve) => setTimeout(resolve, 0));
          idle = sink.out.length === before ? idle + 1 : 0;
        }
        assert.equal(writer.queuedBytes, 0);
        assert.equal(sink.out.length, total);
        let at = 0;
        for (const frame of expected) {
          const got = sink.out.subarray(at, at + frame.length);
          assert.ok(got.every((byte, i) => byte === frame[i]), `frame at byte ${at} differs`);
          at += frame.length;
        }
      },
    ),
    { numRuns: 40, endOnFailure: true },
  );
});

Deno.test("FrameWriter sends a lone frame in one write and frames queued meanwhile in the next", async () => {
  const writes: number[] = [];
  let release: (() => void) | undefined;
  const writer = new FrameWriter({
    write(data) {
      writes.push(data.length);
      return new Promise((resolve) => (release = () => resolve(data.length)));
    },
  }, (error) => {
    throw error;
  });
  writer.queue(new Uint8Array(10), false);
  assert.deepEqual(writes, [10], "the first frame left at once");
  writer.queue(new Uint8Array(20), false);
  writer.queue(new Uint8Array(30), true);
  assert.equal(writer.queuedBytes, 50);
  release!();
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(writes, [10, 50], "the two frames queued during the write shared one");
  release!();
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(writer.queuedBytes, 0);
  assert.equal(writer.writes, 2);
});

Deno.test("FrameWriter reports a failed write once and drops what close() leaves", async () => {
  const errors: Error[] = [];
  const writer = new FrameWriter({
    write: () => Promise.reject(new Error("connection reset")),
  }, (error) => errors.push(error));
  writer.queue(new Uint8Array(8), false);
  writer.queue(new Uint8Array(8), false);
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(errors.length, 1);
  assert.match(errors[0].message, /write failed: connection reset/);
  writer.close();
  writer.queue(new Uint8Array(8), false);
  assert.equal(writer.queuedBytes, 0);
});
