/**
 * The contract every transport (memory, TCP, RDMA) must pass.
 *
 * A transport's test file calls {@link runTransportContract} with a factory; the suite
 * registers one `Deno.test` per rule of `kernel/transport.ts`. Frames are real encoded
 * messages, so stream transports that frame by header work unchanged.
 *
 * @module
 */

import assert from "node:assert/strict";
import { encode } from "../kernel/codec.ts";
import { KernelError, UnreachableError } from "../kernel/errors.ts";
import type { ComponentId } from "../kernel/ids.ts";
import type { AttachOptions, Transport, TransportEndpoint } from "../kernel/transport.ts";

/** Extra settings a transport may need to run the contract. */
export interface TransportContractOptions {
  /** Options for attaching `id` (e.g. a listen address); merged under the suite's own. */
  attachOptions?: (id: ComponentId) => AttachOptions;
}

/**
 * Registers the transport contract tests for transport `name`.
 *
 * @example
 * ```ts ignore
 * import { runTransportContract } from "./transport_contract.ts";
 * import { createMemoryTransport } from "../transports/memory.ts";
 * runTransportContract("memory", () => createMemoryTransport());
 * ```
 */
export function runTransportContract(
  name: string,
  newTransport: () => Transport | Promise<Transport>,
  options: TransportContractOptions = {},
): void {
  /** Runs `body` with a fresh transport that is always closed afterwards. */
  const withTransport = (
    body: (t: Transport, attach: Attach) => Promise<void>,
  ) =>
  async () => {
    const transport = await newTransport();
    const attach: Attach = (id, extra = {}) =>
      transport.attach(id, { ...options.attachOptions?.(id), ...extra });
    try {
      await body(transport, attach);
    } finally {
      await transport.close();
    }
  };
  const test = (title: string, body: (t: Transport, attach: Attach) => Promise<void>) =>
    Deno.test(`${name} transport: ${title}`, withTransport(body));

  test("send() delivers a frame to the destination's receive queue", async (_t, attach) => {
    const a = await attach("a");
    const b = await attach("b");
    assert.equal(a.id, "a");
    const frame = ping("a", "b", 1, [1, 2, 3]);
    const copy = frame.slice();
    await a.send("b", frame);
    const received = await b.receiveQueue.take();
    assert.ok(received);
    assert.equal(received.from, "a");
    assert.deepEqual(received.bytes, copy);
    // And back the other way.
    await b.send("a", ping("b", "a", 2, [4]));
    assert.equal((await a.receiveQueue.take())?.from, "b");
  });

  test(
    "frames from several peers land in one receive queue with their senders",
    async (_t, attach) => {
      const server = await attach("srv");
      const clients = await Promise.all(["c0", "c1", "c2"].map((id) => attach(id)));
      await Promise.all(
        clients.flatMap((c, i) => [0, 1].map((n) => c.send("srv", ping(c.id, "srv", n, [i, n])))),
      );
      const seen: string[] = [];
      for (let i = 0; i < 6; i++) {
        const frame = await server.receiveQueue.take();
        assert.ok(frame);
        const [who, n] = frame.bytes.subarray(-2);
        assert.equal(frame.from, clients[who].id, "the sender matches the frame's payload");
        seen.push(`${frame.from}:${n}`);
      }
      assert.deepEqual(seen.sort(), ["c0:0", "c0:1", "c1:0", "c1:1", "c2:0", "c2:1"]);
    },
  );

  test("send() to an unknown id rejects with UnreachableError", async (_t, attach) => {
    const a = await attach("a");
    await assert.rejects(a.send("nobody", ping("a", "nobody", 1, [])), (e) => {
      assert.ok(e instanceof UnreachableError);
      assert.equal(e.remote, "nobody");
      return true;
    });
  });

  test("attach() rejects a duplicate id", async (_t, attach) => {
    await attach("a");
    await assert.rejects(attach("a"), (e) => e instanceof KernelError && e.code === "EEXIST");
  });

  test("attach() rejects an invalid id", async (_t, attach) => {
    await assert.rejects(attach("Not An Id"), KernelError);
  });

  test("a closed endpoint yields undefined from take() and refuses traffic", async (_t, attach) => {
    const a = await attach("a");
    const b = await attach("b");
    const waiting = b.receiveQueue.take();
    await b.close();
    await b.close(); // Idempotent.
    assert.equal(await waiting, undefined);
    assert.equal(await b.receiveQueue.take(), undefined);
    await assert.rejects(a.send("b", ping("a", "b", 1, [])), UnreachableError);
    await assert.rejects(
      b.send("a", ping("b", "a", 1, [])),
      (e) => e instanceof KernelError && e.code === "ESHUTDOWN",
    );
  });

  test("send() waits while the destination's receive queue is full", async (_t, attach) => {
    const a = await attach("a");
    const b = await attach("b", { receiveQueueFrames: 1 });
    await a.send("b", ping("a", "b", 1, [1]));
    let accepted = false;
    const second = a.send("b", ping("a", "b", 2, [2])).then(() => void (accepted = true));
    for (let i = 0; i < 5; i++) await nextMacrotask();
    assert.equal(accepted, false, "the second send must wait for queue space");
    assert.deepEqual((await b.receiveQueue.take())?.bytes.at(-1), 1);
    await second;
    assert.equal(accepted, true);
    assert.deepEqual((await b.receiveQueue.take())?.bytes.at(-1), 2);
  });

  test("write() then read() round-trips through a registered region", async (_t, attach) => {
    const a = await attach("a");
    const b = await attach("b");
    const memory = new Uint8Array(4096);
    const region = b.registerRegion(memory, { remoteRead: true, remoteWrite: true });
    assert.equal(region.length, 4096);
    assert.ok(Number.isInteger(region.key) && region.key > 0);
    await a.write("b", region.key, 100, new Uint8Array([9, 8, 7]));
    assert.deepEqual([...memory.subarray(100, 103)], [9, 8, 7]);
    memory[4095] = 42;
    const data = await a.read("b", region.key, 4094, 2);
    assert.deepEqual([...data], [0, 42]);
    data[1] = 0;
    assert.equal(memory[4095], 42, "read() returns a copy");
    assert.equal((await a.read("b", region.key, 4096, 0)).length, 0);
  });

  test("registered regions get distinct keys", async (_t, attach) => {
    const b = await attach("b");
    const access = { remoteRead: true, remoteWrite: false };
    const r1 = b.registerRegion(new Uint8Array(8), access);
    const r2 = b.registerRegion(new Uint8Array(8), access);
    assert.notEqual(r1.key, r2.key);
  });

  test("one-sided access outside a region fails with EFAULT", async (_t, attach) => {
    const a = await attach("a");
    const b = await attach("b");
    const region = b.registerRegion(new Uint8Array(64), { remoteRead: true, remoteWrite: true });
    const efault = (e: unknown) => {
      assert.ok(e instanceof KernelError);
      assert.equal(e.code, "EFAULT");
      assert.match(e.message, /64/, "names the region size");
      return true;
    };
    await assert.rejects(a.read("b", region.key, 60, 5), efault);
    await assert.rejects(a.read("b", region.key, -1, 1), efault);
    await assert.rejects(a.read("b", region.key, 0.5, 1), efault);
    await assert.rejects(a.read("b", region.key, 0, 65), efault);
    await assert.rejects(a.write("b", region.key, 63, new Uint8Array(2)), efault);
    await assert.rejects(a.write("b", region.key, 65, new Uint8Array(0)), efault);
  });

  test("one-sided access respects the region's access flags (EACCES)", async (_t, attach) => {
    const a = await attach("a");
    const b = await attach("b");
    const memory = new Uint8Array(16);
    const readOnly = b.registerRegion(memory, { remoteRead: true, remoteWrite: false });
    const writeOnly = b.registerRegion(memory, { remoteRead: false, remoteWrite: true });
    const eacces = (e: unknown) => e instanceof KernelError && e.code === "EACCES";
    await assert.rejects(a.write("b", readOnly.key, 0, new Uint8Array([1])), eacces);
    await assert.rejects(a.read("b", writeOnly.key, 0, 1), eacces);
    assert.equal(memory[0], 0);
    await a.write("b", writeOnly.key, 0, new Uint8Array([5]));
    assert.deepEqual([...(await a.read("b", readOnly.key, 0, 1))], [5]);
  });

  test("one-sided access to an unknown or deregistered key fails", async (_t, attach) => {
    const a = await attach("a");
    const b = await attach("b");
    const region = b.registerRegion(new Uint8Array(16), { remoteRead: true, remoteWrite: true });
    await a.read("b", region.key, 0, 1);
    b.deregisterRegion(region);
    const einval = (e: unknown) => e instanceof KernelError && e.code === "EINVAL";
    await assert.rejects(a.read("b", region.key, 0, 1), einval);
    await assert.rejects(a.write("b", region.key, 0, new Uint8Array(1)), einval);
    await assert.rejects(a.read("b", 987_654, 0, 1), einval);
  });

  test(
    "one-sided access to an unknown component rejects with UnreachableError",
    async (_t, attach) => {
      const a = await attach("a");
      await assert.rejects(a.read("ghost", 1, 0, 1), UnreachableError);
      await assert.rejects(a.write("ghost", 1, 0, new Uint8Array(1)), UnreachableError);
    },
  );

  test("one-sided access puts nothing in the target's receive queue", async (_t, attach) => {
    const a = await attach("a");
    const b = await attach("b");
    const region = b.registerRegion(new Uint8Array(32), { remoteRead: true, remoteWrite: true });
    await a.write("b", region.key, 0, new Uint8Array([1, 2]));
    await a.read("b", region.key, 0, 2);
    for (let i = 0; i < 3; i++) await nextMacrotask();
    assert.equal(b.receiveQueue.length, 0);
    // The queue still works, and the first frame in it is the one sent next.
    await a.send("b", ping("a", "b", 7, [7]));
    assert.equal((await b.receiveQueue.take())?.bytes.at(-1), 7);
  });

  test("close() of the transport closes every endpoint", async (transport, attach) => {
    const a = await attach("a");
    const b = await attach("b");
    await transport.close();
    await transport.close(); // Idempotent.
    assert.equal(await a.receiveQueue.take(), undefined);
    assert.equal(await b.receiveQueue.take(), undefined);
  });
}

type Attach = (id: ComponentId, extra?: AttachOptions) => Promise<TransportEndpoint>;

/** A SYS_PING request frame whose payload ends with `data`. */
function ping(src: ComponentId, dst: ComponentId, requestId: number, data: number[]): Uint8Array {
  return encode({
    kind: "SYS_PING",
    requestId,
    src,
    dst,
    flags: 0,
    body: { data: new Uint8Array(data) },
  });
}

function nextMacrotask(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
