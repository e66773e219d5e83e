/**
 * The tree's layering rules, checked on every relative import:
 * - `kernel/` (the microkernel core) imports nothing outside `kernel/`;
 * - each monitor (`monitors/<name>/`) imports the core and its own folder only, never
 *   another monitor (monitors talk by message);
 * - transports and optional plugins import the core (and their own folder) only; the one
 *   exception is `plugins/stock.ts`, which assembles the stock plugin set from the
 *   monitors' and transports' plugin entry points;
 * - nothing imports the command line (`cli/`) except `mod.ts`, the CLI entry, and the
 *   command line's own tests.
 *
 * @module
 */
import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);

async function* typescriptFiles(dir: URL): AsyncGenerator<URL> {
  for await (const entry of Deno.readDir(dir)) {
    if (entry.name === "node_modules" || entry.name.startsWith(".")) continue;
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
    if (entry.isDirectory) yield* typescriptFiles(url);
    else if (entry.name.endsWith(".ts")) yield url;
  }
}

// Matches static imports/exports (`from "x"`), side-effect imports and dynamic imports.
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*)["']([^"']+)["']/g;

/** One relative import: the importing file and the imported one, both relative to the root. */
interface Edge {
  from: string;
  to: string;
}

async function relativeImports(dir: string): Promise<Edge[]> {
  const edges: Edge[] = [];
  for await (const file of typescriptFiles(new URL(dir, root))) {
    const text = await Deno.readTextFile(file);
    for (const [, specifier] of text.matchAll(SPECIFIER)) {
      if (!specifier.startsWith(".")) continue; // npm:, node: and bare imports are packages
      edges.push({
        from: file.href.slice(root.href.length),
        to: new URL(specifier, file).href.slice(root.href.length),
      });
    }
  }
  return edges;
}

const show = (edges: Edge[]) => edges.map((e) => `${e.from} imports ${e.to}`);

/** The folder one level below a top-level folder, e.g. `monitors/memory/` for a file in it. */
const monitorOf = (path: string) => path.split("/").slice(0, 2).join("/") + "/";

Deno.test("kernel/ imports nothing from outside kernel/", async () => {
  const edges = await relativeImports("kernel/");
  assert.ok(edges.length > 50, `expected to scan the kernel's imports, saw ${edges.length}`);
  assert.deepEqual(show(edges.filter((e) => !e.to.startsWith("kernel/"))), []);
});

Deno.test("each monitor imports the core and its own folder only", async () => {
  const edges = await relativeImports("monitors/");
  const monitors = new Set(edges.map((e) => monitorOf(e.from)));
  assert.ok(monitors.size >= 4, `expected four monitors, saw ${[...monitors].join(", ")}`);
  const offenders = edges.filter((e) =>
    !e.to.startsWith("kernel/") && !e.to.startsWith(monitorOf(e.from))
  );
  assert.deepEqual(show(offenders), []);
});

Deno.test("transports and plugins import the core and their own folder only", async () => {
  const edges = [...await relativeImports("transports/"), ...await relativeImports("plugins/")];
  const offenders = edges.filter((e) => {
    if (e.to.startsWith("kernel/")) return false;
    const top = e.from.split("/")[0] + "/";
    if (e.from === "plugins/stock.ts") {
      // The stock set takes each monitor and transport through its plugin entry point only.
      return !/^(monitors\/[a-z_]+\/mod\.ts|transports\/([a-z_]+\/)?(mod|plugin|[a-z_]+_plugin)\.ts|plugins\/.*)$/
        .test(e.to);
    }
    return !e.to.startsWith(top);
  });
  assert.deepEqual(show(offenders), []);
});

Deno.test("nothing imports the command line but mod.ts and the command line's tests", async () => {
  const edges: Edge[] = [];
  for (const dir of ["kernel/", "monitors/", "transports/", "plugins/", "examples/", "bench/"]) {
    edges.push(...await relativeImports(dir));
  }
  for await (const file of typescriptFiles(new URL("tests/", root))) {
    const path = file.href.slice(root.href.length);
    if (path.startsWith("tests/cli/")) continue;
    const text = await Deno.readTextFile(file);
    for (const [, specifier] of text.matchAll(SPECIFIER)) {
      if (specifier.startsWith(".")) {
        edges.push({ from: path, to: new URL(specifier, file).href.slice(root.href.length) });
      }
    }
  }
  assert.deepEqual(show(edges.filter((e) => e.to.startsWith("cli/"))), []);
});

Deno.test("kernel/ uses no network imports", async () => {
  for await (const file of typescriptFiles(new URL("kernel/", root))) {
    const text = await Deno.readTextFile(file);
    for (const [, specifier] of text.matchAll(SPECIFIER)) {
      assert.ok(
        !/^(https?|jsr):/.test(specifier),
        `${file.pathname} imports ${specifier}; kernel/ must not fetch code`,
      );
    }
  }
});
