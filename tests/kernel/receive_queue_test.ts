import assert from "node:assert/strict";
import { QueueClosedError, ReceiveQueue } from "../../kernel/receive_queue.ts";

Deno.test("ReceiveQueue.tryTake() takes in order without waiting, and admits a waiting putter", async () => {
  const queue = new ReceiveQueue<number>(2);
  assert.equal(queue.tryTake(), undefined, "empty");
  await queue.put(1);
  await queue.put(2);
  const third = queue.put(3); // Full: waits for a slot.
  assert.equal(queue.tryTake(), 1);
  await third;
  assert.equal(queue.tryTake(), 2);
  assert.equal(queue.tryTake(), 3);
  assert.equal(queue.tryTake(), undefined);
  queue.close();
  assert.equal(queue.tryTake(), undefined, "closed and drained");
});

Deno.test("ReceiveQueue.put() on a closed queue rejects (it does not throw), tryPut() throws", async () => {
  const queue = new ReceiveQueue<number>(1);
  queue.close();
  let put: Promise<void> | undefined;
  assert.doesNotThrow(() => put = queue.put(1));
  await assert.rejects(put!, QueueClosedError);
  assert.throws(() => queue.tryPut(1), QueueClosedError);
});
