/**
 * legoemu is usable from anywhere: a script in a directory with no `deno.json` imports
 * `mod.ts` by path and runs a cluster with no flags. That holds because the library's
 * source names its npm packages with full `npm:name@version` specifiers; `deno.json` pins
 * the versions, and this test holds every specifier in the tree to those pins.
 *
 * @module
 */
import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);
const rootPath = decodeURIComponent(root.pathname);

/** The npm packages `deno.json` pins: name -> version. */
async function pins(): Promise<Map<string, string>> {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
  const out = new Map<string, string>();
  for (const [name, target] of Object.entries(config.imports as Record<string, string>)) {
    const match = /^npm:((?:@[^/]+\/)?[^@/]+)@([^/]+)$/.exec(target);
    if (match && match[1] === name) out.set(name, match[2]);
  }
  return out;
}

async function* sourceFiles(dir: URL): AsyncGenerator<URL> {
  for await (const entry of Deno.readDir(dir)) {
    if (entry.name === "node_modules" || entry.name.startsWith(".")) continue;
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
    if (entry.isDirectory) yield* sourceFiles(url);
    else if (/\.(ts|md)$/.test(entry.name)) yield url;
  }
}

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*)["']([^"']+)["']/g;

Deno.test("every npm: specifier uses the version deno.json pins; library code has no bare ones", async () => {
  const pinned = await pins();
  assert.ok(pinned.has("zod") && pinned.has("hono"), `deno.json pins ${[...pinned.keys()]}`);
  const problems: string[] = [];
  let seen = 0;
  for await (const file of sourceFiles(root)) {
    const path = file.href.slice(root.href.length);
    const text = await Deno.readTextFile(file);
    // Tests and benchmarks run inside the repository, where deno.json maps bare names.
    const library = !/^(tests|bench)\//.test(path) && path.endsWith(".ts");
    for (const [, specifier] of text.matchAll(SPECIFIER)) {
      const npm = /^npm:((?:@[^/]+\/)?[^@/]+)@([^/]+)/.exec(specifier);
      if (npm) {
        seen++;
        const want = pinned.get(npm[1]);
        if (want === undefined) problems.push(`${path}: ${specifier} is not pinned in deno.json`);
        else if (want !== npm[2]) {
          problems.push(`${path}: ${specifier}: deno.json pins ${npm[1]}@${want}`);
        }
        continue;
      }
      const bare = /^((?:@[^/]+\/)?[^/]+)/.exec(specifier)?.[1];
      if (library && bare && pinned.has(bare)) {
        problems.push(
          `${path}: import "${specifier}" resolves only inside this repository; write ` +
            `"npm:${bare}@${pinned.get(bare)}${specifier.slice(bare.length)}"`,
        );
      }
    }
  }
  assert.ok(seen > 20, `expected many npm: specifiers, saw ${seen}`);
  assert.deepEqual(problems, []);
});

Deno.test("a script in a directory without deno.json imports mod.ts by path and runs a cluster", async () => {
  const dir = await Deno.makeTempDir({ prefix: "legoemu-scratch-" });
  try {
    const script = `import { startCluster } from ${JSON.stringify(`${rootPath}mod.ts`)};
const cluster = await startCluster(${
      JSON.stringify(`${rootPath}examples/clusters/1p1m1s.memory.json`)
    }, { log: () => {} });
const result = await cluster.run(${JSON.stringify(`${rootPath}examples/workloads/demo.ts`)}, ["1"]);
await cluster.stop();
console.log("exit", result.exitCode, "hits", result.stats.hits > 0);
`;
    await Deno.writeTextFile(`${dir}/script.ts`, script);
    const output = await new Deno.Command(Deno.execPath(), {
      // A user's script outside the repo passes the flag the workload sandbox needs.
      args: ["run", "-A", "--unstable-worker-options", "script.ts"],
      cwd: dir,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(output.stdout);
    const err = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, `stdout:\n${out}\nstderr:\n${err}`);
    assert.match(out, /exit 0 hits true/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
