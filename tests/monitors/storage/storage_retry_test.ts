// The RPC layer's retry option, which storage clients lean on to ride out a restart.
import assert from "node:assert/strict";
import {
  KernelError,
  RemoteError,
  RpcCancelledError,
  UnreachableError,
} from "../../../kernel/errors.ts";
import { RpcNode } from "../../../kernel/rpc.ts";
import { createMemoryTransport } from "../../../transports/memory.ts";

const ping = { data: new Uint8Array([1, 2, 3]) };

Deno.test("call() with retry resends after EHOSTUNREACH until the callee attaches", async () => {
  const transport = createMemoryTransport();
  const client = new RpcNode(await transport.attach("p0"));
  let server: RpcNode | undefined;
  const attempts: number[] = [];
  try {
    const call = client.call("s0", "SYS_PING", ping, {
      timeoutMs: 500,
      retry: { attempts: 20, backoffMs: 2, maxBackoffMs: 5, onRetry: (_e, n) => attempts.push(n) },
    });
    // The callee shows up after a few failed attempts.
    await new Promise((resolve) => setTimeout(resolve, 15));
    server = new RpcNode(await transport.attach("s0")).handle({
      SYS_PING: ({ data }) => ({ data }),
    });
    const reply = await call;
    assert.deepEqual([...reply.data], [1, 2, 3]);
    assert.ok(attempts.length >= 1, "at least one retry happened");
    assert.deepEqual(attempts, attempts.map((_, i) => i + 2), "attempts are numbered from 2");
    assert.equal(client.stats().retries, attempts.length);
  } finally {
    await client.close();
    await server?.close();
    await transport.close();
  }
});

Deno.test("call() with retry gives up after its attempts with the last error", async () => {
  const transport = createMemoryTransport();
  const client = new RpcNode(await transport.attach("p0"));
  try {
    await assert.rejects(
      client.call("nobody", "SYS_PING", ping, { retry: { attempts: 3, backoffMs: 1 } }),
      UnreachableError,
    );
    assert.equal(client.stats().retries, 2);
  } finally {
    await client.close();
    await transport.close();
  }
});

Deno.test("call() with retry retries a timeout, and a remote code only when listed", async () => {
  const transport = createMemoryTransport();
  let calls = 0;
  const server = new RpcNode(await transport.attach("s0")).handle({
    SYS_PING: ({ data }) => {
      calls++;
      if (calls === 1) throw new KernelError("EAGAIN", "busy, try again");
      if (calls === 2) throw new KernelError("ENOENT", "not retried");
      // Answers after the caller's timeout: its retry (same request id) is not served
      // again, and gets this late reply.
      if (calls === 3) return new Promise((resolve) => setTimeout(() => resolve({ data }), 60));
      return { data };
    },
  });
  const client = new RpcNode(await transport.attach("p0"));
  try {
    const retry = { attempts: 5, backoffMs: 1, on: ["ETIMEDOUT", "EAGAIN"] };
    await assert.rejects(
      client.call("s0", "SYS_PING", ping, { timeoutMs: 20, retry }),
      (e: unknown) => e instanceof RemoteError && e.code === "ENOENT",
    );
    assert.equal(calls, 2, "EAGAIN was retried; ENOENT ended the call");
    const late = await client.call("s0", "SYS_PING", ping, { timeoutMs: 20, retry });
    assert.equal(late.data.length, 3);
    assert.equal(calls, 3, "the timed-out request was retried but served once");
    assert.ok(client.stats().retries >= 2);
    const reply = await client.call("s0", "SYS_PING", ping, { timeoutMs: 200, retry });
    assert.equal(reply.data.length, 3);
  } finally {
    await client.close();
    await server.close();
    await transport.close();
  }
});

Deno.test("call() with retry stops waiting when its signal aborts during the backoff", async () => {
  const transport = createMemoryTransport();
  const client = new RpcNode(await transport.attach("p0"));
  try {
    const controller = new AbortController();
    const call = client.call("nobody", "SYS_PING", ping, {
      signal: controller.signal,
      retry: { attempts: 10, backoffMs: 60_000 },
    });
    await new Promise((resolve) => setTimeout(resolve, 5));
    controller.abort();
    await assert.rejects(call, RpcCancelledError);
  } finally {
    await client.close();
    await transport.close();
  }
});

Deno.test("call() rejects bad retry options with a RangeError naming the field", async () => {
  const transport = createMemoryTransport();
  const client = new RpcNode(await transport.attach("p0"));
  try {
    await assert.rejects(
      client.call("p0", "SYS_PING", ping, { retry: { attempts: 0 } }),
      /retry.attempts must be an integer from 1 to 1000, got 0/,
    );
    await assert.rejects(
      client.call("p0", "SYS_PING", ping, { retry: { attempts: 2, backoffMs: -1 } }),
      /retry.backoffMs/,
    );
    assert.equal(client.stats().callsSent, 0);
  } finally {
    await client.close();
    await transport.close();
  }
});
