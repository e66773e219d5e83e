import assert from "node:assert/strict";
import { O_CREAT, O_EXCL, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY } from "../../../kernel/abi.ts";
import { RemoteError } from "../../../kernel/errors.ts";
import type { StockManager } from "../../../monitors/manager/mod.ts";
import {
  parseStoragePath,
  type StockStorageMonitor,
  StorageClient,
} from "../../../monitors/storage/mod.ts";
import { handWired } from "../../hand_wired.ts";

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

/** A manager, storage components and a client node, wired by hand on the memory transport. */
async function rig(storage: Record<string, Record<string, unknown>> = { s0: {} }) {
  const wired = await handWired({ timeoutMs: 2000 });
  await wired.boot("gm", "manager-monitor", "manager", { heartbeatMs: 50 });
  for (const [id, options] of Object.entries(storage)) {
    await wired.boot(id, "storage-monitor", "storage", options);
  }
  const client = await wired.node("p0");
  return {
    client,
    manager: wired.monitor<StockManager>("gm"),
    storage: (id = "s0") => wired.monitor<StockStorageMonitor>(id),
    files: new StorageClient(client, { storage: "s0", chunkBytes: 64 * 1024 }),
    close: () => wired.close(),
  };
}

async function rejectsWith(promise: Promise<unknown>, code: string, pattern?: RegExp) {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof RemoteError, `expected a RemoteError, got ${e}`);
    assert.equal(e.code, code, e.message);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

Deno.test("parseStoragePath() splits the vNode prefix and normalises the names", () => {
  assert.deepEqual(parseStoragePath("a//./b.txt"), {
    vnode: undefined,
    segments: ["a", "b.txt"],
    normal: "a/b.txt",
  });
  assert.deepEqual(parseStoragePath("@team-1/x"), {
    vnode: "team-1",
    segments: ["x"],
    normal: "@team-1/x",
  });
  assert.equal(parseStoragePath("@team-1").normal, "@team-1");
  assert.equal(parseStoragePath(".").normal, ".");
  assert.throws(() => parseStoragePath("@Bad/x"), /vNode name/);
  assert.throws(() => parseStoragePath("@/x"), /vNode name/);
  assert.throws(() => parseStoragePath(""), /empty/);
});

Deno.test("the storage component serves every operation over a real host directory", async () => {
  const r = await rig();
  const { files } = r;
  const root = r.storage().root;
  try {
    await files.mkdir("dir");
    await files.create("dir/a.txt");
    assert.equal(await files.write("dir/a.txt", 0, text("hello world")), 11);
    assert.equal(str(await files.read("dir/a.txt", 6, 5)), "world");
    assert.equal(str(await files.read("dir/a.txt", 6, 100)), "world", "a short read at EOF");
    assert.equal((await files.read("dir/a.txt", 500, 10)).length, 0, "a read past EOF is empty");
    assert.equal(Deno.readTextFileSync(`${root}/dir/a.txt`), "hello world");

    const stat = await files.stat("dir/a.txt");
    assert.equal(stat.size, 11);
    assert.equal(stat.isDirectory, false);
    assert.ok(stat.mtimeMs > 0);
    assert.equal((await files.stat("dir")).isDirectory, true);

    await files.truncate("dir/a.txt", 5);
    assert.equal(str(await files.readFile("dir/a.txt")), "hello");
    await files.truncate("dir/a.txt", 8);
    assert.deepEqual([...await files.readFile("dir/a.txt")].slice(5), [0, 0, 0]);

    assert.equal(await files.open("dir/a.txt", O_RDWR | O_TRUNC), 0);
    await files.write("dir/a.txt", 0, text("v2"), { sync: true });
    await files.fsync("dir/a.txt");

    await files.rename("dir/a.txt", "dir/b.txt");
    assert.deepEqual(await files.readdir("dir"), ["b.txt"]);
    await files.write("dir/c.txt", 3, text("x"));
    assert.deepEqual([...await files.readFile("dir/c.txt")], [0, 0, 0, 120], "write creates");
    assert.deepEqual(await files.readdir("dir"), ["b.txt", "c.txt"]);
    await files.unlink("dir/c.txt");
    await rejectsWith(files.rmdir("dir"), "ENOTEMPTY", /rmdir "dir"/);
    await files.unlink("dir/b.txt");
    await files.rmdir("dir");
    assert.deepEqual(await files.readdir("."), []);
    assert.deepEqual([...Deno.readDirSync(root)], []);

    const counts = r.storage().stats() as Record<string, number>;
    assert.ok(counts.reads >= 4 && counts.writes >= 3 && counts.syncs >= 2);
  } finally {
    await r.close();
  }
});

Deno.test("open() honours O_CREAT, O_EXCL and O_TRUNC and refuses to write a directory", async () => {
  const r = await rig();
  const { files } = r;
  try {
    await rejectsWith(files.open("nope.txt", O_RDONLY), "ENOENT", /open "nope.txt"/);
    assert.equal(await files.open("f.txt", O_CREAT | O_WRONLY), 0);
    await files.write("f.txt", 0, text("abc"));
    assert.equal(await files.open("f.txt", O_CREAT | O_RDWR), 3, "O_CREAT keeps an existing file");
    await rejectsWith(files.open("f.txt", O_CREAT | O_EXCL | O_RDWR), "EEXIST");
    assert.equal(await files.open("f.txt", O_RDWR | O_TRUNC), 0);
    await files.mkdir("d");
    assert.equal(typeof await files.open("d", O_RDONLY), "number", "a directory opens read-only");
    await rejectsWith(files.open("d", O_RDWR), "EISDIR");
    await rejectsWith(files.write("d", 0, text("x")), "EISDIR");
    await rejectsWith(files.unlink("d"), "EISDIR", /use rmdir/);
    await rejectsWith(files.rmdir("f.txt"), "ENOTDIR");
    await rejectsWith(files.mkdir("missing/sub"), "ENOENT");
    await rejectsWith(files.mkdir("d"), "EEXIST");
    await rejectsWith(files.stat("f.txt/child"), "ENOTDIR");
  } finally {
    await r.close();
  }
});

Deno.test("error messages name the client's path, never the host root", async () => {
  const r = await rig();
  try {
    const root = r.storage().root;
    const error = await r.files.stat("missing/file").catch((e) => e as RemoteError);
    assert.ok(error instanceof RemoteError);
    assert.equal(error.code, "ENOENT");
    assert.match(error.message, /missing\/file/);
    assert.ok(!error.message.includes(root), error.message);
  } finally {
    await r.close();
  }
});

Deno.test("each vNode has its own namespace, in its own directory under the root", async () => {
  const r = await rig();
  const alice = new StorageClient(r.client, { storage: "s0", vnode: "alice" });
  const bob = new StorageClient(r.client, { storage: "s0", vnode: "bob" });
  const root = r.storage().root;
  try {
    assert.deepEqual(await alice.readdir("."), [], "a vNode that stored nothing is empty");
    assert.equal((await alice.stat(".")).isDirectory, true);
    await alice.writeFile("notes.txt", text("alice's"));
    await bob.writeFile("notes.txt", text("bob's"));
    await r.files.writeFile("notes.txt", text("default"));
    assert.equal(str(await alice.readFile("notes.txt")), "alice's");
    assert.equal(str(await bob.readFile("notes.txt")), "bob's");
    assert.equal(str(await r.files.readFile("notes.txt")), "default");
    assert.equal(Deno.readTextFileSync(`${root}/@alice/notes.txt`), "alice's");
    // The default vNode does not list the other vNodes' directories.
    assert.deepEqual(await r.files.readdir("."), ["notes.txt"]);
    await rejectsWith(
      r.client.call("s0", "P2S_RENAME", { from: "@alice/notes.txt", to: "@bob/stolen.txt" }),
      "EXDEV",
    );
    await rejectsWith(r.client.call("s0", "P2S_UNLINK", { path: "@alice" }), "EINVAL", /root/);
  } finally {
    await r.close();
  }
});

Deno.test("large reads and writes travel in bounded chunks; an oversized request is refused", async () => {
  const r = await rig({ s0: { maxIoBytes: 64 * 1024 } });
  try {
    const big = new Uint8Array(1024 * 1024 + 123);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 0xff;
    const before = r.storage().stats() as Record<string, number>;
    await r.files.writeFile("big.bin", big, { sync: true });
    const back = await r.files.readFile("big.bin");
    assert.equal(back.length, big.length);
    assert.ok(back.every((b, i) => b === big[i]), "the bytes read equal the bytes written");
    const after = r.storage().stats() as Record<string, number>;
    // 1 MiB + 123 bytes in 64 KiB chunks: 17 requests each way.
    assert.equal(after.writes - before.writes, 17);
    assert.equal(after.reads - before.reads, 17);
    assert.equal(after.syncs - before.syncs, 1, "one fdatasync covers the whole file");

    await rejectsWith(
      r.client.call("s0", "P2S_READ", { path: "big.bin", offset: 0, length: 65 * 1024 }),
      "EMSGSIZE",
      /limit of 65536 bytes per request/,
    );
    await rejectsWith(
      r.client.call("s0", "P2S_WRITE", {
        path: "big.bin",
        offset: 0,
        data: new Uint8Array(65 * 1024),
        sync: false,
      }),
      "EMSGSIZE",
    );
    // A window of chunks past the end stops at the end of the file.
    assert.equal((await r.files.read("big.bin", big.length - 10, 200_000)).length, 10);
  } finally {
    await r.close();
  }
});

Deno.test("limits on sizes are enforced with clear errors", async () => {
  const r = await rig({ s0: { maxFileBytes: 1 << 20 } });
  try {
    await rejectsWith(
      r.client.call("s0", "P2S_WRITE", {
        path: "f",
        offset: (1 << 20) - 1,
        data: new Uint8Array(2),
        sync: false,
      }),
      "EFBIG",
      /larger than 1048576 bytes/,
    );
    await rejectsWith(r.client.call("s0", "P2S_TRUNCATE", { path: "f", length: 2 << 20 }), "EFBIG");
    await rejectsWith(
      r.client.call("s0", "P2S_STAT", { path: "x".repeat(256) }),
      "ENAMETOOLONG",
      /over 255 bytes/,
    );
    await rejectsWith(
      r.client.call("s0", "P2S_STAT", { path: "a/".repeat(600) }),
      "ENAMETOOLONG",
      /over 1024 bytes/,
    );
  } finally {
    await r.close();
  }
});

Deno.test("the manager's file map follows creates, renames and removals on storage", async () => {
  const r = await rig({ s0: {}, s1: {} });
  const placed = new StorageClient(r.client, { manager: "gm" });
  try {
    await placed.writeFile("a.txt", text("a"));
    await placed.writeFile("b.txt", text("b"));
    // fewest-files spreads the two files over the two storage components.
    const where = Object.fromEntries(r.manager.snapshot().files.map((f) => [f.path, f.storage]));
    assert.deepEqual(Object.values(where).sort(), ["s0", "s1"]);
    // A file created directly on s1 (not placed) is reported by s1 itself.
    const s1 = new StorageClient(r.client, { storage: "s1" });
    await s1.mkdir("d");
    await s1.writeFile("d/x.bin", text("x"));
    await s1.rename("d", "e");
    await waitFor(() => r.manager.snapshot().files.some((f) => f.path === "e/x.bin"));
    await s1.unlink("e/x.bin");
    await placed.unlink("a.txt");
    await waitFor(() =>
      r.manager.snapshot().files.every((f) => f.path !== "e/x.bin" && f.path !== "a.txt")
    );
    const files = r.manager.snapshot().files;
    assert.deepEqual(files.map((f) => f.path), ["b.txt"]);
    const counts = r.manager.snapshot().components.filter((c) => c.role === "storage")
      .map((c) => c.assigned.files);
    assert.deepEqual(counts.sort(), [0, 1]);
  } finally {
    await r.close();
  }
});

Deno.test("a stopping storage component refuses new requests with EAGAIN and finishes running ones", async () => {
  const root = Deno.makeTempDirSync({ prefix: "legoemu-stop-" });
  const r = await rig({ s0: { root } });
  try {
    await r.files.writeFile("f", new Uint8Array(8));
    // Over 64 KiB: the write and its fdatasync run asynchronously, so it is in flight.
    const running = r.client.call("s0", "P2S_WRITE", {
      path: "f",
      offset: 0,
      data: new Uint8Array(256 * 1024).fill(9),
      sync: true,
    });
    // Let the request reach the handler.
    await new Promise((resolve) => setTimeout(resolve, 0));
    const stopping = r.storage().stop();
    await rejectsWith(r.client.call("s0", "P2S_STAT", { path: "f" }), "EAGAIN", /stopping/);
    assert.equal((await running).written, 256 * 1024);
    await stopping;
    const onDisk = Deno.readFileSync(`${root}/f`);
    assert.equal(onDisk.length, 256 * 1024, "a configured root is kept");
    assert.ok(onDisk.every((b) => b === 9));
  } finally {
    await r.close();
    Deno.removeSync(root, { recursive: true });
  }
});

async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const start = performance.now();
  while (!condition()) {
    if (performance.now() - start > timeoutMs) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

Deno.test("requests on the same file are served in arrival order, even behind an asynchronous one", async () => {
  const r = await rig();
  try {
    await r.files.writeFile("f", new Uint8Array(256 * 1024));
    const fresh = new Uint8Array(256 * 1024).fill(7);
    // Sent back to back: the write takes the asynchronous path, the read would not.
    const write = r.client.call("s0", "P2S_WRITE", {
      path: "f",
      offset: 0,
      data: fresh,
      sync: false,
    });
    const read = r.client.call("s0", "P2S_READ", { path: "./f", offset: 0, length: 4096 });
    const other = r.client.call("s0", "P2S_STAT", { path: "g" }).catch((e) => e);
    assert.equal((await write).written, fresh.length);
    assert.ok((await read).data.every((b) => b === 7), "the read saw the write before it");
    assert.equal((await other).code, "ENOENT", "other paths do not wait");
  } finally {
    await r.close();
  }
});
