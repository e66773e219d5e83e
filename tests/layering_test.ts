import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);
const kernel = new URL("kernel/", root);

async function* typescriptFiles(dir: URL): AsyncGenerator<URL> {
  for await (const entry of Deno.readDir(dir)) {
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
    if (entry.isDirectory) yield* typescriptFiles(url);
    else if (entry.name.endsWith(".ts")) yield url;
  }
}

// Matches static imports/exports (`from "x"`), side-effect imports and dynamic imports.
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*)["']([^"']+)["']/g;

Deno.test("kernel/ imports nothing from monitors/, transports/, plugins/ or elsewhere in the tree", async () => {
  const offenders: string[] = [];
  let files = 0;
  for await (const file of typescriptFiles(kernel)) {
    files++;
    const text = await Deno.readTextFile(file);
    for (const [, specifier] of text.matchAll(SPECIFIER)) {
      if (!specifier.startsWith(".")) continue; // npm:, node: and bare imports are packages
      const target = new URL(specifier, file);
      if (!target.href.startsWith(kernel.href)) {
        offenders.push(`${file.href.slice(root.href.length)} imports ${specifier}`);
      }
    }
  }
  assert.ok(files > 10, `expected to scan the kernel's files, scanned ${files}`);
  assert.deepEqual(offenders, []);
});

Deno.test("kernel/ uses no network imports", async () => {
  for await (const file of typescriptFiles(kernel)) {
    const text = await Deno.readTextFile(file);
    for (const [, specifier] of text.matchAll(SPECIFIER)) {
      assert.ok(
        !/^(https?|jsr):/.test(specifier),
        `${file.pathname} imports ${specifier}; kernel/ must not fetch code`,
      );
    }
  }
});
