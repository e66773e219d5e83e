import assert from "node:assert/strict";
import { O_CREAT, O_RDWR } from "../../../kernel/abi.ts";
import { RemoteError } from "../../../kernel/errors.ts";
import type { MessageKind, RequestOf } from "../../../kernel/messages.ts";
import type { StockStorageMonitor } from "../../../monitors/storage/mod.ts";
import { handWired } from "../../hand_wired.ts";

/**
 * A jail directory holding the storage root and, beside it, an "outside" directory with a
 * secret; symlinks planted in the root point outside, into another vNode, or nowhere.
 */
function plantJail() {
  const base = Deno.realPathSync(Deno.makeTempDirSync({ prefix: "legoemu-jail-" }));
  const root = `${base}/root`;
  const outside = `${base}/outside`;
  Deno.mkdirSync(`${outside}/sub`, { recursive: true });
  Deno.writeTextFileSync(`${outside}/secret`, "top secret");
  Deno.writeTextFileSync(`${outside}/sub/inner`, "inner secret");
  Deno.mkdirSync(`${root}/a`, { recursive: true });
  Deno.mkdirSync(`${root}/@bob`);
  Deno.mkdirSync(`${root}/@alice`);
  Deno.writeTextFileSync(`${root}/@bob/notes.txt`, "bob's notes");
  Deno.writeTextFileSync(`${root}/mine.txt`, "mine");
  Deno.symlinkSync(outside, `${root}/out`); // a symlinked directory
  Deno.symlinkSync(outside, `${root}/a/b`); // ... in the middle of a path
  Deno.symlinkSync(`${outside}/secret`, `${root}/leaf`); // a symlink as the last name
  Deno.symlinkSync(`${outside}/not-yet`, `${root}/dangle`); // dangling, to a file
  Deno.symlinkSync(`${outside}/no-dir`, `${root}/ddir`); // dangling, to a directory
  Deno.symlinkSync("@bob", `${root}/tob`); // relative, into another vNode
  Deno.symlinkSync("../@bob", `${root}/@alice/tob`); // from one vNode into another
  Deno.symlinkSync("../../../..", `${root}/@alice/up`); // from a vNode up past the root
  Deno.symlinkSync("loop", `${root}/loop`); // a loop
  return { base, root, outside };
}

/** Every file and directory under `dir`: type, size, content and mtime. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (path: string) => {
    for (const entry of Deno.readDirSync(path)) {
      const full = `${path}/${entry.name}`;
      const info = Deno.lstatSync(full);
      if (info.isSymlink) {
        out[full] = `link -> ${Deno.readLinkSync(full)}`;
      } else if (info.isDirectory) {
        out[full] = `dir ${info.mtime?.getTime()}`;
        walk(full);
      } else {
        out[full] = `file ${info.size} ${info.mtime?.getTime()} ${Deno.readTextFileSync(full)}`;
      }
    }
  };
  walk(dir);
  return out;
}

async function rig(root: string) {
  const wired = await handWired({ timeoutMs: 2000 });
  await wired.boot("gm", "manager-monitor", "manager");
  const storage = await wired.boot<StockStorageMonitor>("s0", "storage-monitor", "storage", {
    root,
  });
  const client = await wired.node("p0");
  return { client, storage, close: () => wired.close() };
}

type Attempt = { [K in MessageKind]: [K, RequestOf<K>] }[MessageKind];

const data = new TextEncoder().encode("pwned");
const read = (path: string): Attempt => ["P2S_READ", { path, offset: 0, length: 64 }];
const write = (path: string): Attempt => ["P2S_WRITE", { path, offset: 0, data, sync: false }];
const create = (
  path: string,
): Attempt => ["P2S_OPEN", { path, flags: O_CREAT | O_RDWR, mode: 0o644 }];

/** Each attempt, the error code it must get, and why. */
const ATTEMPTS: [string, Attempt, string][] = [
  ["'..' at the start", read("../outside/secret"), "EACCES"],
  ["'..' in the middle", read("a/../../outside/secret"), "EACCES"],
  ["'..' that stays inside", read("a/../mine.txt"), "EACCES"],
  ["'..' after a vNode", read("@alice/../@bob/notes.txt"), "EACCES"],
  ["'..' as a vNode name", read("@../outside/secret"), "EINVAL"],
  ["'.' as a vNode name", read("@./mine.txt"), "EINVAL"],
  ["an absolute path", read("/etc/passwd"), "EACCES"],
  ["an absolute write", write("/tmp/legoemu-pwned"), "EACCES"],
  ["a double-slash absolute path", read("//etc/passwd"), "EACCES"],
  ["a NUL byte", read("mine.txt\u0000/../../outside/secret"), "EINVAL"],
  ["a backslash", read("..\\outside\\secret"), "EINVAL"],
  ["an over-long name", create("n".repeat(256)), "ENAMETOOLONG"],
  ["an over-long path", create("d/".repeat(520) + "f"), "ENAMETOOLONG"],
  ["read through a symlinked directory", read("out/secret"), "EACCES"],
  ["read through a symlinked directory in the middle", read("a/b/secret"), "EACCES"],
  ["read deeper through it", read("a/b/sub/inner"), "EACCES"],
  ["write through a symlinked directory", write("out/secret"), "EACCES"],
  ["create through a symlinked directory", create("out/new.txt"), "EACCES"],
  [
    "mkdir through a symlinked directory",
    ["P2S_MKDIR", { path: "out/newdir", mode: 0o755 }],
    "EACCES",
  ],
  ["rmdir through a symlinked directory", ["P2S_RMDIR", { path: "out/sub" }], "EACCES"],
  ["unlink through a symlinked directory", ["P2S_UNLINK", { path: "out/secret" }], "EACCES"],
  [
    "truncate through a symlinked directory",
    ["P2S_TRUNCATE", { path: "a/b/secret", length: 0 }],
    "EACCES",
  ],
  ["stat through a symlinked directory", ["P2S_STAT", { path: "out/secret" }], "EACCES"],
  ["readdir of a symlinked directory", ["P2S_READDIR", { path: "out" }], "EACCES"],
  ["fsync through a symlinked directory", ["P2S_FSYNC", { path: "out/secret" }], "EACCES"],
  ["rename a file out", ["P2S_RENAME", { from: "out/secret", to: "stolen.txt" }], "EACCES"],
  ["rename a file in", ["P2S_RENAME", { from: "mine.txt", to: "out/planted.txt" }], "EACCES"],
  ["read a symlink to an outside file", read("leaf"), "EACCES"],
  ["write a symlink to an outside file", write("leaf"), "EACCES"],
  [
    "truncate a symlink to an outside file",
    ["P2S_TRUNCATE", { path: "leaf", length: 0 }],
    "EACCES",
  ],
  ["unlink a symlink to an outside file", ["P2S_UNLINK", { path: "leaf" }], "EACCES"],
  ["write through a dangling symlink", write("dangle"), "EACCES"],
  ["create through a dangling symlink", create("dangle"), "EACCES"],
  ["write below a dangling directory symlink", write("ddir/x"), "EACCES"],
  [
    "mkdir below a dangling directory symlink",
    ["P2S_MKDIR", { path: "ddir/x", mode: 0o755 }],
    "EACCES",
  ],
  ["mkdir at a dangling directory symlink", ["P2S_MKDIR", { path: "ddir", mode: 0o755 }], "EACCES"],
  ["read another vNode through a symlink", read("tob/notes.txt"), "EACCES"],
  ["write another vNode through a symlink", write("tob/planted.txt"), "EACCES"],
  ["cross from one vNode to another", read("@alice/tob/notes.txt"), "EACCES"],
  ["climb from a vNode past the root", read("@alice/up/outside/secret"), "EACCES"],
  ["a symlink loop", read("loop/x"), "ELOOP"],
];

Deno.test("every path-escape attempt is refused and nothing outside the root changes", async () => {
  const jail = plantJail();
  const before = tree(jail.base);
  const r = await rig(jail.root);
  try {
    for (const [why, [kind, body], code] of ATTEMPTS) {
      // deno-lint-ignore no-explicit-any
      const outcome = await r.client.call("s0", kind, body as any).then(
        (reply) => ({ reply }),
        (error: unknown) => ({ error }),
      );
      assert.ok("error" in outcome, `${why}: was served (${JSON.stringify(outcome)})`);
      const error = outcome.error as RemoteError;
      assert.ok(error instanceof RemoteError, `${why}: ${error}`);
      assert.equal(error.code, code, `${why}: ${error.message}`);
      assert.ok(!error.message.includes(jail.base), `${why}: leaks a host path: ${error.message}`);
    }
    // The component kept serving, and counted what it refused.
    const stats = r.storage.stats() as Record<string, number>;
    assert.ok(stats.refusedPaths >= ATTEMPTS.filter(([, , c]) => c === "EACCES").length);
    const { data: mine } = await r.client.call("s0", "P2S_READ", {
      path: "mine.txt",
      offset: 0,
      length: 64,
    });
    assert.equal(new TextDecoder().decode(mine), "mine");
  } finally {
    await r.close();
  }
  // Nothing was read into, created, changed or removed: not outside, not inside either.
  assert.deepEqual(tree(jail.base), before);
  assert.equal(Deno.readTextFileSync(`${jail.outside}/secret`), "top secret");
  Deno.removeSync(jail.base, { recursive: true });
});

Deno.test("symlinks that stay inside their vNode are followed", async () => {
  const jail = plantJail();
  Deno.symlinkSync("mine.txt", `${jail.root}/alias.txt`);
  Deno.symlinkSync("a", `${jail.root}/dir-alias`);
  const r = await rig(jail.root);
  try {
    const { data } = await r.client.call("s0", "P2S_READ", {
      path: "alias.txt",
      offset: 0,
      length: 64,
    });
    assert.equal(new TextDecoder().decode(data), "mine");
    await r.client.call("s0", "P2S_WRITE", {
      path: "dir-alias/new.txt",
      offset: 0,
      data,
      sync: false,
    });
    assert.equal(Deno.readTextFileSync(`${jail.root}/a/new.txt`), "mine");
  } finally {
    await r.close();
    Deno.removeSync(jail.base, { recursive: true });
  }
});
