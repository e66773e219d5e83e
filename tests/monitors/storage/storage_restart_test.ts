import assert from "node:assert/strict";
import type { StockManager } from "../../../monitors/manager/mod.ts";
import type { StorageMonitor } from "../../../kernel/monitor.ts";
import { mulberry32 } from "../../../kernel/prng.ts";
import { DEFAULT_RPC_TIMEOUT_MS } from "../../../kernel/rpc.ts";
import { StorageClient } from "../../../monitors/storage/mod.ts";
import { handWired } from "../../hand_wired.ts";

const SEED = 6;
const FILE = "@lab/journal.bin";
const OPS = 240;

Deno.test(`a storage component restarted mid-sequence loses nothing the client wrote (seed ${SEED})`, async () => {
  const wired = await handWired({ timeoutMs: 1000 });
  const root = Deno.makeTempDirSync({ prefix: "legoemu-restart-" });

  /** Boots s0 (again); its node is the newest attached as s0. */
  const start = async () => {
    const monitor = await wired.boot<StorageMonitor>("s0", "storage-monitor", "storage", {
      root,
    });
    return { monitor, rpc: wired.rpc("s0") };
  };
  const manager = await wired.boot<StockManager>("gm", "manager-monitor", "manager", {
    heartbeatMs: 20,
  });
  let s0 = await start();
  const incarnations = [s0.monitor];
  const clientNode = await wired.node("p0", DEFAULT_RPC_TIMEOUT_MS);
  const files = new StorageClient(clientNode, {
    storage: "s0",
    vnode: undefined,
    chunkBytes: 96 * 1024, // chunks over 64 KiB take the server's asynchronous path
    timeoutMs: 150,
    retry: {
      attempts: 60,
      backoffMs: 2,
      maxBackoffMs: 40,
      on: ["ETIMEDOUT", "EHOSTUNREACH", "EAGAIN"],
    },
  });

  /** Stops s0 and starts it again with the same id and root. */
  const restart = async (abrupt: boolean) => {
    if (abrupt) {
      // The endpoint vanishes with requests in flight; their replies are lost.
      await s0.rpc.close();
      await s0.monitor.stop();
    } else {
      // Graceful: new requests get EAGAIN, running ones finish, then the endpoint goes.
      await s0.monitor.stop();
      await s0.rpc.close();
    }
    await new Promise((resolve) => setTimeout(resolve, 30));
    s0 = await start();
    incarnations.push(s0.monitor);
  };

  const random = mulberry32(SEED);
  const model = new Uint8Array(512 * 1024);
  let size = 0;
  const restarts: Promise<void>[] = [];
  let mismatches = 0;
  try {
    await files.writeFile(FILE, new Uint8Array(0), { sync: true });
    for (let op = 0; op < OPS; op++) {
      // Two restarts, started between operations but not awaited: they overlap the next ones.
      if (op === 80) restarts.push(restart(false));
      if (op === 160) restarts.push(restart(true));
      const choice = random();
      if (choice < 0.55) {
        const offset = Math.floor(random() * (model.length - 200_000));
        const length = 1 + Math.floor(random() * (random() < 0.2 ? 200_000 : 6000));
        const data = new Uint8Array(length);
        for (let i = 0; i < length; i++) data[i] = Math.floor(random() * 256);
        await files.write(FILE, offset, data, { sync: random() < 0.3 });
        model.set(data, offset);
        size = Math.max(size, offset + length);
      } else if (choice < 0.95) {
        const offset = Math.floor(random() * model.length);
        const length = 1 + Math.floor(random() * 50_000);
        const got = await files.read(FILE, offset, length);
        const want = model.subarray(offset, Math.min(offset + length, size));
        if (offset >= size) assert.equal(got.length, 0, `op ${op}: read past the end`);
        else if (got.length !== want.length || !got.every((b, i) => b === want[i])) mismatches++;
      } else {
        const length = Math.floor(random() * size);
        await files.truncate(FILE, length);
        model.fill(0, length);
        size = length;
      }
    }
    await Promise.all(restarts);
    assert.equal(mismatches, 0, "every read returned exactly what had been written");
    assert.equal(incarnations.length, 3, "s0 ran three times");
    assert.ok(clientNode.stats().retries > 0, "the client rode out the restarts by retrying");

    // The host file holds exactly what was written, no more, no less.
    const onDisk = Deno.readFileSync(`${root}/@lab/journal.bin`);
    assert.equal(onDisk.length, size);
    assert.ok(onDisk.every((b, i) => b === model[i]), "host file equals the reference model");
    assert.deepEqual(await files.readFile(FILE), model.subarray(0, size));

    // The managers saw s0 join again each time.
    const snapshot = manager.snapshot();
    const rejoins = snapshot.events.filter((e) =>
      e.type === "component.up" && e.component === "s0" && e.data?.rejoined === true
    );
    assert.equal(rejoins.length, 2);
    assert.equal(snapshot.components.find((c) => c.id === "s0")?.state, "up");
  } finally {
    await Promise.allSettled(restarts);
    await wired.close(); // every incarnation of s0, newest first, then the manager
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("a request racing a storage component's start gets EAGAIN or an answer, never UNHANDLED", async () => {
  const wired = await handWired({ timeoutMs: 1000 });
  const root = Deno.makeTempDirSync({ prefix: "legoemu-starting-" });
  Deno.writeTextFileSync(`${root}/f`, "ready");
  try {
    await wired.boot("gm", "manager-monitor", "manager");
    const client = await wired.node("p0", DEFAULT_RPC_TIMEOUT_MS);
    const storage = await wired.create("s0", "storage-monitor", "storage", { root });
    const starting = storage.start();
    const racing = await Promise.all(
      [0, 1, 2].map(() =>
        client.call("s0", "P2S_READ", { path: "f", offset: 0, length: 5 }).then(
          ({ data }) => new TextDecoder().decode(data),
          (e) => (e as { code: string }).code,
        )
      ),
    );
    await starting;
    for (const outcome of racing) assert.ok(outcome === "EAGAIN" || outcome === "ready", outcome);
    const files = new StorageClient(client, { storage: "s0" });
    assert.equal(new TextDecoder().decode(await files.readFile("f")), "ready");
  } finally {
    await wired.close();
    Deno.removeSync(root, { recursive: true });
  }
});
