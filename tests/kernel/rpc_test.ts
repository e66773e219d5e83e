import assert from "node:assert/strict";
import { decode, encode, HEADER_SIZE } from "../../kernel/codec.ts";
import {
  KernelError,
  RemoteError,
  RpcCancelledError,
  RpcTimeoutError,
  UnreachableError,
} from "../../kernel/errors.ts";
import { FLAG_ERROR, FLAG_REPLY, PAGE_SIZE, type ReplyOf } from "../../kernel/messages.ts";
import { mulberry32 } from "../../kernel/prng.ts";
import { type ModelCall, RpcNode, type RpcNodeOptions } from "../../kernel/rpc.ts";
import { currentSpan } from "../../kernel/model_time.ts";
import type { Transport } from "../../kernel/transport.ts";
import { createMemoryTransport } from "../../transports/memory.ts";

/** A memory transport with a memory component `m0` and a processor `p0`, closed after. */
async function withCluster(
  body: (c: { transport: Transport; m0: RpcNode; p0: RpcNode }) => Promise<void>,
  options: RpcNodeOptions = {},
): Promise<void> {
  const transport = createMemoryTransport();
  const m0 = new RpcNode(await transport.attach("m0"), options);
  const p0 = new RpcNode(await transport.attach("p0"), options);
  try {
    await body({ transport, m0, p0 });
  } finally {
    await p0.close();
    await m0.close();
    await transport.close();
  }
}

/** A promise with its resolver, to learn when a handler has started. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

Deno.test("RpcNode.call() round-trips a typed page reply", () =>
  withCluster(async ({ m0, p0 }) => {
    m0.handle({
      P2M_PAGE_FETCH: ({ pid, vaddr }, ctx) => {
        assert.equal(ctx.from, "p0");
        assert.equal(ctx.kind, "P2M_PAGE_FETCH");
        assert.ok(ctx.requestId > 0);
        return { page: new Uint8Array(PAGE_SIZE).fill((pid + vaddr / PAGE_SIZE) & 0xff) };
      },
    });
    const reply: ReplyOf<"P2M_PAGE_FETCH"> = await p0.call("m0", "P2M_PAGE_FETCH", {
      pid: 3,
      vaddr: 5 * PAGE_SIZE,
    });
    assert.ok(reply.page instanceof Uint8Array);
    assert.equal(reply.page.length, PAGE_SIZE);
    assert.ok(reply.page.every((b) => b === 8));
    const stats = p0.stats();
    assert.equal(stats.callsSent, 1);
    assert.equal(stats.repliesReceived, 1);
    assert.equal(stats.inFlight, 0);
    assert.ok(stats.bytesReceived > PAGE_SIZE);
    assert.equal(m0.stats().requestsHandled, 1);
  }));

Deno.test("RpcNode.callNow() returns a reply that came back within the send, throws such a remote error, and otherwise gives call()'s promise", () =>
  withCluster(async ({ m0, p0 }) => {
    await Promise.resolve(); // both nodes wait on their empty queues
    m0.handle({
      SYS_PING: ({ data }) => {
        if (data[0] === 1) throw new KernelError("EPERM", "no ones");
        return { data };
      },
      P2M_BRK: async ({ addr }) => ({ addr: await Promise.resolve(addr + 1) }),
    });
    const reply = p0.callNow("m0", "SYS_PING", { data: new Uint8Array([5]) });
    assert.ok(!(reply instanceof Promise), "answered within the send");
    assert.deepEqual(reply.data, new Uint8Array([5]));
    assert.throws(
      () => p0.callNow("m0", "SYS_PING", { data: new Uint8Array([1]) }),
      (e) => e instanceof RemoteError && e.code === "EPERM",
    );
    const later = p0.callNow("m0", "P2M_BRK", { pid: 1, addr: 7 });
    assert.ok(later instanceof Promise, "an asynchronous handler answers later");
    assert.equal((await later).addr, 8);
    assert.equal(p0.stats().inFlight, 0);
  }));

Deno.test("RpcNode.call() keeps 100 concurrent calls apart when replies come out of order", () =>
  withCluster(async ({ m0, p0 }) => {
    const random = mulberry32(42);
    const order: number[] = [];
    m0.handle({
      P2M_BRK: async ({ pid, addr }) => {
        await sleep(Math.floor(random() * 5));
        order.push(pid);
        return { addr: addr * 2 };
      },
    });
    const calls = Array.from(
      { length: 100 },
      (_, i) => p0.call("m0", "P2M_BRK", { pid: i, addr: i + 1000 }),
    );
    assert.equal(p0.stats().inFlight, 100);
    const replies = await Promise.all(calls);
    assert.deepEqual(replies.map((r) => r.addr), calls.map((_, i) => (i + 1000) * 2));
    assert.notDeepEqual(order, [...order].sort((a, b) => a - b), "replies arrived out of order");
    assert.equal(p0.stats().inFlight, 0);
  }));

Deno.test("RpcNode.call() rejects with RpcTimeoutError when no reply arrives", () =>
  withCluster(async ({ m0, p0 }) => {
    m0.handle({ P2M_FORK: () => new Promise(() => {}) });
    await assert.rejects(
      p0.call("m0", "P2M_FORK", { pid: 2, parentPid: 1 }, { timeoutMs: 50 }),
      (e) => {
        assert.ok(e instanceof RpcTimeoutError);
        assert.equal(e.remote, "m0");
        assert.equal(e.code, "ETIMEDOUT");
        assert.match(e.message, /P2M_FORK/);
        return true;
      },
    );
    assert.equal(p0.stats().timeouts, 1);
    assert.equal(p0.stats().inFlight, 0);
  }));

Deno.test("RpcNode.call() uses the node's defaultTimeoutMs", () =>
  withCluster(async ({ m0, p0 }) => {
    m0.handle({ P2M_FORK: () => new Promise(() => {}) });
    await assert.rejects(p0.call("m0", "P2M_FORK", { pid: 2, parentPid: 1 }), RpcTimeoutError);
  }, { defaultTimeoutMs: 20 }));

Deno.test("RpcNode.call() rejects with RemoteError carrying the handler's code", () =>
  withCluster(async ({ m0, p0 }) => {
    m0.handle({
      P2M_MMAP: () => {
        throw new KernelError("ENOMEM", "no frames left");
      },
      P2M_MUNMAP: () => {
        throw new Error("plain failure");
      },
    });
    const body = { pid: 1, addr: 0, length: 4096, prot: 3, flags: 0x22, path: "", offset: 0 };
    await assert.rejects(p0.call("m0", "P2M_MMAP", body), (e) => {
      assert.ok(e instanceof RemoteError);
      assert.equal(e.code, "ENOMEM");
      assert.equal(e.remote, "m0");
      assert.match(e.message, /no frames left/);
      return true;
    });
    await assert.rejects(
      p0.call("m0", "P2M_MUNMAP", { pid: 1, addr: 0, length: 4096 }),
      (e) => e instanceof RemoteError && e.code === "EFAIL" && /plain failure/.test(e.message),
    );
    assert.equal(m0.stats().errorsReturned, 2);
  }));

Deno.test("RpcNode.call() rejects with RemoteError UNHANDLED for a kind without handler", () =>
  withCluster(async ({ p0 }) => {
    await assert.rejects(p0.call("m0", "P2M_EXIT", { pid: 1 }), (e) => {
      assert.ok(e instanceof RemoteError);
      assert.equal(e.code, "UNHANDLED");
      assert.match(e.message, /P2M_EXIT/);
      assert.match(e.message, /m0/);
      return true;
    });
  }));

Deno.test("RpcNode.call() returns EPROTO when the handler's reply cannot be encoded", () =>
  withCluster(async ({ m0, p0 }) => {
    m0.handle({ P2M_PAGE_FETCH: () => ({ page: new Uint8Array(10) }) });
    await assert.rejects(
      p0.call("m0", "P2M_PAGE_FETCH", { pid: 1, vaddr: 0 }),
      (e) => e instanceof RemoteError && e.code === "EPROTO",
    );
  }));

Deno.test("RpcNode.call() clips an oversized error message so it still arrives", () =>
  withCluster(async ({ m0, p0 }) => {
    m0.handle({
      P2M_EXIT: () => {
        throw new KernelError("EIO", "é".repeat(10_000));
      },
    });
    await assert.rejects(
      p0.call("m0", "P2M_EXIT", { pid: 1 }),
      (e) => e instanceof RemoteError && e.code === "EIO" && e.message.endsWith("…"),
    );
  }));

Deno.test("RpcNode.call() rejects with RpcCancelledError when aborted mid-flight", () =>
  withCluster(async ({ m0, p0 }) => {
    const started = deferred();
    m0.handle({
      P2M_FORK: () => {
        started.resolve();
        return new Promise(() => {});
      },
    });
    const controller = new AbortController();
    const call = p0.call("m0", "P2M_FORK", { pid: 2, parentPid: 1 }, {
      signal: controller.signal,
    });
    await started.promise;
    controller.abort(new Error("user gave up"));
    await assert.rejects(call, (e) => {
      assert.ok(e instanceof RpcCancelledError);
      assert.equal(e.remote, "m0");
      assert.equal(e.code, "ECANCELED");
      return true;
    });
    assert.equal(p0.stats().cancelled, 1);
    assert.equal(p0.stats().inFlight, 0);
  }));

Deno.test("RpcNode.call() with an already aborted signal rejects without sending", () =>
  withCluster(async ({ m0, p0 }) => {
    let called = false;
    m0.handle({ P2M_BRK: ({ addr }) => (called = true, { addr }) });
    await assert.rejects(
      p0.call("m0", "P2M_BRK", { pid: 1, addr: 0 }, { signal: AbortSignal.abort() }),
      RpcCancelledError,
    );
    assert.equal(p0.stats().callsSent, 0);
    assert.equal(p0.stats().bytesSent, 0);
    // A later call proves nothing was queued before it.
    assert.deepEqual(await p0.call("m0", "P2M_BRK", { pid: 1, addr: 5 }), { addr: 5 });
    assert.equal(m0.stats().requestsHandled, 1);
    assert.ok(called);
  }));

Deno.test("RpcNode.call() rejects with UnreachableError for an unknown component", () =>
  withCluster(async ({ p0 }) => {
    await assert.rejects(p0.call("m9", "P2M_EXIT", { pid: 1 }), (e) => {
      assert.ok(e instanceof UnreachableError);
      assert.equal(e.remote, "m9");
      return true;
    });
    assert.equal(p0.stats().inFlight, 0);
  }));

Deno.test("RpcNode.call() rejects a body that does not fit its kind with EINVAL", () =>
  withCluster(async ({ p0 }) => {
    await assert.rejects(
      p0.call("m0", "P2M_EXIT", { pid: -1 }),
      (e) => e instanceof KernelError && e.code === "EINVAL",
    );
    assert.equal(p0.stats().inFlight, 0);
  }));

Deno.test("RpcNode survives garbage frames and keeps serving", () =>
  withCluster(async ({ transport, m0, p0 }) => {
    const bad: string[] = [];
    const node = new RpcNode(await transport.attach("m1"), {
      onBadFrame: (error, from) => bad.push(`${from}: ${error.message}`),
    }).handle({ SYS_PING: ({ data }) => ({ data }) });
    try {
      const raw = await transport.attach("x0");
      const random = mulberry32(7);
      const garbage = Array.from(
        { length: 20 },
        (_, i) => Uint8Array.from({ length: i * 7 }, () => Math.floor(random() * 256)),
      );
      for (const bytes of garbage) await raw.send("m1", bytes);
      const reply = await p0.call("m1", "SYS_PING", { data: new Uint8Array([1, 2]) });
      assert.deepEqual([...reply.data], [1, 2]);
      assert.equal(node.stats().badFrames, 20);
      assert.equal(bad.length, 20);
      assert.ok(bad.every((line) => line.startsWith("x0: ")));
      assert.equal(raw.receiveQueue.length, 0, "garbage without a header gets no reply");
      void m0;
    } finally {
      await node.close();
    }
  }));

Deno.test("RpcNode answers a truncated request with a valid header with EBADMSG", () =>
  withCluster(async ({ transport, m0 }) => {
    m0.handle({ P2M_PAGE_FETCH: () => ({ page: new Uint8Array(PAGE_SIZE) }) });
    const raw = await transport.attach("x0");
    const frame = encode({
      kind: "P2M_PAGE_FETCH",
      requestId: 77,
      src: "x0",
      dst: "m0",
      flags: 0,
      body: { pid: 1, vaddr: 4096 },
    });
    await raw.send("m0", frame.subarray(0, frame.length - 3));
    const answer = await raw.receiveQueue.take();
    assert.ok(answer);
    assert.equal(answer.from, "m0");
    const reply = decode(answer.bytes);
    assert.equal(reply.flags, FLAG_REPLY | FLAG_ERROR);
    assert.equal(reply.requestId, 77);
    assert.equal(reply.kind, "P2M_PAGE_FETCH");
    assert.equal(reply.body.code, "EBADMSG");
    assert.match(String(reply.body.message), /P2M_PAGE_FETCH/);
    assert.equal(m0.stats().badFrames, 1);
    assert.equal(m0.stats().requestsHandled, 0);
  }));

Deno.test("RpcNode drops a reply nobody waits for and counts it", () =>
  withCluster(async ({ transport, m0, p0 }) => {
    const raw = await transport.attach("x0");
    await raw.send(
      "m0",
      encode({
        kind: "P2M_EXIT",
        requestId: 999,
        src: "x0",
        dst: "m0",
        flags: FLAG_REPLY,
        body: { pagesFreed: 1 },
      }),
    );
    m0.handle({ P2M_EXIT: () => ({ pagesFreed: 0 }) });
    await p0.call("m0", "P2M_EXIT", { pid: 1 }); // By now m0 has seen the stray reply.
    assert.equal(m0.stats().unmatchedReplies, 1);
    assert.equal(m0.stats().badFrames, 0);
  }));

Deno.test("RpcNode.notify() delivers a one-way request and gets no reply", () =>
  withCluster(async ({ m0, p0 }) => {
    const got = deferred<unknown>();
    m0.handle({
      MGR_HEARTBEAT: ({ load }, ctx) => {
        assert.equal(ctx.requestId, 0);
        got.resolve(load);
        throw new KernelError("EIO", "nobody hears this");
      },
    });
    await p0.notify("m0", "MGR_HEARTBEAT", { load: { threads: 4 } });
    assert.deepEqual(await got.promise, { threads: 4 });
    await p0.notify("m0", "MGR_PLACE_FILE", { path: "/unhandled" });
    // A round trip after the notifications: any reply to them would have arrived first.
    m0.handle({ SYS_PING: ({ data }) => ({ data }) });
    await p0.call("m0", "SYS_PING", { data: new Uint8Array() });
    assert.equal(p0.stats().repliesReceived, 1);
    assert.equal(p0.stats().unmatchedReplies, 0);
    assert.equal(m0.stats().errorsReturned, 0);
    assert.equal(m0.stats().oneWayFailures, 2);
  }));

Deno.test("RpcNode.handle() rejects registering a kind twice", () =>
  withCluster(async ({ m0, p0 }) => {
    m0.handle({ P2M_EXIT: () => ({ pagesFreed: 0 }) });
    assert.throws(
      () => m0.handle({ P2M_EXIT: () => ({ pagesFreed: 1 }) }),
      (e) => e instanceof KernelError && e.code === "EEXIST",
    );
    assert.throws(() => m0.handle({ NOPE: () => ({}) } as never), TypeError);
    // The first handler is still the one that answers.
    assert.deepEqual(await p0.call("m0", "P2M_EXIT", { pid: 1 }), { pagesFreed: 0 });
  }));

Deno.test("RpcNode.close() rejects pending calls with ESHUTDOWN", () =>
  withCluster(async ({ m0, p0 }) => {
    const started = deferred();
    m0.handle({
      P2M_FORK: () => {
        started.resolve();
        return new Promise(() => {});
      },
    });
    const call = p0.call("m0", "P2M_FORK", { pid: 2, parentPid: 1 });
    await started.promise;
    await p0.close();
    await p0.close(); // Idempotent.
    await assert.rejects(call, (e) => e instanceof KernelError && e.code === "ESHUTDOWN");
    assert.equal(p0.stats().inFlight, 0);
    assert.ok(p0.closed);
    await assert.rejects(
      p0.call("m0", "P2M_EXIT", { pid: 1 }),
      (e) => e instanceof KernelError && e.code === "ESHUTDOWN",
    );
  }));

Deno.test("RpcNode shuts down when its endpoint is closed under it", () =>
  withCluster(async ({ transport, m0, p0 }) => {
    m0.handle({ P2M_FORK: () => new Promise(() => {}) });
    const call = p0.call("m0", "P2M_FORK", { pid: 2, parentPid: 1 });
    await transport.close();
    await assert.rejects(call, (e) => e instanceof KernelError && e.code === "ESHUTDOWN");
  }));

Deno.test("RpcNode gives concurrent calls distinct non-zero request ids", () =>
  withCluster(async ({ m0, p0 }) => {
    const ids = new Set<number>();
    const release = deferred();
    m0.handle({
      P2M_BRK: async ({ addr }, ctx) => {
        ids.add(ctx.requestId);
        await release.promise;
        return { addr };
      },
    });
    const calls = Array.from(
      { length: 50 },
      (_, i) => p0.call("m0", "P2M_BRK", { pid: 1, addr: i }),
    );
    while (ids.size < 50) await sleep(0);
    assert.ok(!ids.has(0));
    release.resolve();
    assert.deepEqual((await Promise.all(calls)).map((r) => r.addr), calls.map((_, i) => i));
  }));

Deno.test("RpcNode.call() rejects with EBADMSG when its reply is malformed", () =>
  withCluster(async ({ transport, p0 }) => {
    const raw = await transport.attach("x0");
    const call = p0.call("x0", "P2M_BRK", { pid: 1, addr: 0 });
    const request = await raw.receiveQueue.take();
    assert.ok(request);
    const { requestId } = decode(request.bytes);
    const reply = encode({
      kind: "P2M_BRK",
      requestId,
      src: "x0",
      dst: "p0",
      flags: FLAG_REPLY,
      body: { addr: 1 },
    });
    await raw.send("p0", reply.subarray(0, reply.length - 1));
    await assert.rejects(call, (e) => e instanceof KernelError && e.code === "EBADMSG");
    assert.equal(p0.stats().badFrames, 1);
    assert.equal(p0.stats().inFlight, 0);
  }));

Deno.test("RpcNode hands messages over the memory transport as they are: each side gets its own bytes", () =>
  withCluster(async ({ transport, m0, p0 }) => {
    const served = new Uint8Array(PAGE_SIZE).fill(1);
    let kept: Uint8Array | undefined;
    m0.handle({
      P2M_PAGE_FLUSH: ({ page }) => {
        kept = page;
        return {};
      },
      P2M_PAGE_FETCH: () => ({ page: served }),
    });
    const sent = new Uint8Array(PAGE_SIZE).fill(2);
    await p0.call("m0", "P2M_PAGE_FLUSH", { pid: 1, vaddr: 0, page: sent });
    sent.fill(3); // the caller reuses its buffer: what the handler kept is what was sent
    assert.ok(kept?.every((b) => b === 2));
    const { page } = await p0.call("m0", "P2M_PAGE_FETCH", { pid: 1, vaddr: 0 });
    served.fill(4); // the handler's buffer changes after the reply left
    assert.ok(page.every((b) => b === 1));
    // Counted as the frames they stand for.
    const frame = encode({
      kind: "P2M_PAGE_FETCH",
      requestId: 1,
      src: "p0",
      dst: "m0",
      flags: 0,
      body: { pid: 1, vaddr: 0 },
    });
    assert.equal(p0.stats().bytesSent, HEADER_SIZE + 4 + 8 + PAGE_SIZE + frame.length);
    assert.equal(m0.stats().bytesReceived, p0.stats().bytesSent);
    void transport;
  }));

Deno.test("RpcNode refuses a message over its maxBodyBytes with EBADMSG, as it refuses such a frame", () =>
  withCluster(async ({ m0, p0 }) => {
    m0.handle({ SYS_PING: ({ data }) => ({ data }) });
    await assert.rejects(
      p0.call("m0", "SYS_PING", { data: new Uint8Array(200) }),
      (e) =>
        e instanceof RemoteError && e.code === "EBADMSG" &&
        /over the 100-byte limit/.test(e.message),
    );
    assert.equal(m0.stats().badFrames, 1);
    assert.equal((await p0.call("m0", "SYS_PING", { data: new Uint8Array(10) })).data.length, 10);
  }, { maxBodyBytes: 100 }));

Deno.test("RpcNode answers a retried request from its recent reply, a copy of what it sent", () =>
  withCluster(async ({ m0, p0 }) => {
    let served = 0;
    const page = new Uint8Array(PAGE_SIZE).fill(5);
    m0.handle({
      P2M_PAGE_FETCH: async () => {
        served++;
        await sleep(300); // the first attempt times out meanwhile; its reply comes too late
        return { page };
      },
    });
    const reply = p0.call("m0", "P2M_PAGE_FETCH", { pid: 1, vaddr: 0 }, {
      timeoutMs: 100,
      retry: { attempts: 2, backoffMs: 600, on: ["ETIMEDOUT"] },
    });
    await sleep(400);
    page.fill(6); // after the reply left: the repeat must send what was sent then
    assert.ok((await reply).page.every((b) => b === 5));
    assert.equal(served, 1);
    assert.equal(m0.stats().duplicateRequests, 1);
    assert.equal(p0.stats().unmatchedReplies, 1);
  }));

Deno.test("RpcNode calls an explicitSpan handler outside the request's span; what it charges to ctx.model comes back", () =>
  withCluster(async ({ m0, p0 }) => {
    const seen: { inSpan: boolean; modeled: boolean }[] = [];
    m0.handle({
      P2M_BRK: ({ addr }, ctx) => {
        seen.push({ inSpan: currentSpan() !== undefined, modeled: ctx.modeled });
        if (ctx.modeled) ctx.model.charge(700, "service");
        return { addr };
      },
    }, { explicitSpan: true });
    m0.handle({
      P2M_EXIT: (_, ctx) => {
        seen.push({ inSpan: currentSpan() === ctx.model, modeled: ctx.modeled });
        return { pagesFreed: 0 };
      },
    });
    const model: ModelCall = { atNs: 1_000 };
    await p0.call("m0", "P2M_BRK", { pid: 1, addr: 4096 }, { model });
    assert.equal(model.serviceNs, 700);
    await p0.call("m0", "P2M_BRK", { pid: 1, addr: 4096 });
    await p0.call("m0", "P2M_EXIT", { pid: 1 }, { model: { atNs: 0 } });
    assert.deepEqual(seen, [
      { inSpan: false, modeled: true },
      { inSpan: false, modeled: false },
      { inSpan: true, modeled: true },
    ]);
  }));
