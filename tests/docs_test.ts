/**
 * The docs run as written. A fenced block preceded by an HTML comment
 * `<!-- runnable [cwd=DIR] [file=PATH] -->` is run by this test:
 * - a `sh` block runs with bash (`set -euo pipefail`) in DIR;
 * - a `ts` block with `file=PATH` is saved there (a file the reader is told to write);
 * - any other `ts` block runs with `deno run -A -` in DIR, so its relative imports resolve
 *   from there.
 * DIR and PATH are relative to the repository root, or start with `scratch`: a fresh
 * directory that holds this repository as `legoemu/`, as a reader's scratch directory
 * beside their clone would. Every other shell block's `npx -y deno@2.9.6 task X` must name a
 * task of deno.json and its `... run -A mod.ts <command> ...` lines must pass the CLI's own
 * argument parser.
 *
 * @module
 */
import assert from "node:assert/strict";
import { checkCommandLine } from "../mod.ts";

const root = decodeURIComponent(new URL("../", import.meta.url).pathname).replace(/\/$/, "");

/** A fenced block of a Markdown file. */
interface Block {
  file: string;
  line: number;
  lang: string;
  text: string;
  runnable?: { cwd?: string; file?: string };
}

function blocks(file: string, markdown: string): Block[] {
  const out: Block[] = [];
  const lines = markdown.split("\n");
  let marker: Block["runnable"];
  for (let i = 0; i < lines.length; i++) {
    const comment = /^<!--\s*runnable\b(.*?)-->\s*$/.exec(lines[i]);
    if (comment) {
      marker = Object.fromEntries(
        [...comment[1].matchAll(/(\w+)=(\S+)/g)].map(([, k, v]) => [k, v]),
      );
      continue;
    }
    const fence = /^```(\w*)/.exec(lines[i]);
    if (!fence) {
      if (lines[i].trim() !== "") marker = undefined;
      continue;
    }
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !lines[i].startsWith("```"); i++) body.push(lines[i]);
    out.push({
      file,
      line: start + 1,
      lang: fence[1],
      text: body.join("\n") + "\n",
      runnable: marker,
    });
    marker = undefined;
  }
  return out;
}

async function markdownFiles(): Promise<string[]> {
  const files = ["README.md"];
  for (const dir of ["docs", "examples"]) {
    const walk = async (path: string) => {
      for await (const entry of Deno.readDir(`${root}/${path}`)) {
        const child = `${path}/${entry.name}`;
        if (entry.isDirectory) await walk(child);
        else if (entry.name.endsWith(".md")) files.push(child);
      }
    };
    await walk(dir).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }
  return files;
}

async function allBlocks(): Promise<Block[]> {
  const out: Block[] = [];
  for (const file of await markdownFiles()) {
    out.push(...blocks(file, await Deno.readTextFile(`${root}/${file}`)));
  }
  return out;
}

/** Shell lines of a block with continuation lines joined and comments dropped. */
function commands(text: string): string[] {
  return text.replaceAll(/\\\n\s*/g, "").split("\n")
    .map((l) => l.replace(/\s+#.*$/, "").trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
}

/** Splits a command line into words (plain and quoted words; enough for the docs). */
function words(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]);
}

Deno.test("every deno command in the docs names a real task or passes the CLI's parser", async () => {
  const tasks = Object.keys(JSON.parse(await Deno.readTextFile(`${root}/deno.json`)).tasks);
  const problems: string[] = [];
  let checked = 0;
  for (const block of await allBlocks()) {
    if (!["sh", "bash", "shell", ""].includes(block.lang)) continue;
    for (const line of commands(block.text)) {
      for (const part of line.split(/\s*(?:&&|\|\||;|\|)\s*/)) {
        const w = words(part);
        const at = w.indexOf("deno@2.9.6");
        if (w[0] === "deno") problems.push(`${block.file}:${block.line}: bare deno in "${part}"`);
        if (at < 0) continue;
        checked++;
        const [sub, ...rest] = w.slice(at + 1);
        if (sub === "task") {
          if (!tasks.includes(rest[0])) {
            problems.push(`${block.file}:${block.line}: no task "${rest[0]}" in deno.json`);
          } else if (
            ["cluster", "component", "run", "status", "ps", "top", "demo"].includes(rest[0])
          ) {
            const problem = checkCommandLine([rest[0], ...rest.slice(1)]);
            if (problem) problems.push(`${block.file}:${block.line}: ${part}: ${problem}`);
          }
        } else if (sub === "run") {
          const entry = rest.findIndex((x) => x.endsWith("mod.ts"));
          if (entry >= 0) {
            const problem = checkCommandLine(rest.slice(entry + 1));
            if (problem) problems.push(`${block.file}:${block.line}: ${part}: ${problem}`);
          }
        }
      }
    }
  }
  assert.ok(checked >= 5, `expected to check the docs' commands, checked ${checked}`);
  assert.deepEqual(problems, []);
});

Deno.test("the docs' runnable blocks run as written", async (t) => {
  const runnable = (await allBlocks()).filter((b) => b.runnable);
  assert.ok(runnable.length >= 4, `expected runnable blocks, found ${runnable.length}`);
  const scratch = await Deno.makeTempDir({ prefix: "legoemu-docs-" });
  await Deno.symlink(root, `${scratch}/legoemu`);
  const where = (path: string) =>
    path === "scratch" || path.startsWith("scratch/")
      ? scratch + path.slice("scratch".length)
      : `${root}/${path}`;
  try {
    for (const block of runnable) {
      await t.step(`${block.file}:${block.line} (${block.lang})`, async () => {
        const { cwd = ".", file } = block.runnable!;
        if (file) {
          await Deno.mkdir(where(file).replace(/\/[^/]*$/, ""), { recursive: true });
          await Deno.writeTextFile(where(file), block.text);
          return;
        }
        const isShell = ["sh", "bash"].includes(block.lang);
        assert.ok(isShell || block.lang === "ts", `cannot run a ${block.lang} block`);
        const command = isShell
          ? new Deno.Command("bash", {
            args: ["-c", `set -euo pipefail\n${block.text}`],
            cwd: where(cwd),
            stdout: "piped",
            stderr: "piped",
            stdin: "null",
          })
          : new Deno.Command(Deno.execPath(), {
            args: ["run", "-A", "-"],
            cwd: where(cwd),
            stdout: "piped",
            stderr: "piped",
            stdin: "piped",
          });
        const child = command.spawn();
        if (!isShell) {
          const writer = child.stdin.getWriter();
          await writer.write(new TextEncoder().encode(block.text));
          await writer.close();
        }
        const output = await child.output();
        const text = (b: Uint8Array) => new TextDecoder().decode(b);
        assert.equal(
          output.code,
          0,
          `${block.file}:${block.line} failed:\n${text(output.stdout)}\n${text(output.stderr)}`,
        );
      });
    }
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
});

Deno.test("docs/http-api.md is what the OpenAPI document generates", async () => {
  const { controlOpenApiDocument, HTTP_API_DOC_URL, httpApiMarkdown } = await import(
    "../docs/write_http_api.ts"
  );
  assert.equal(
    await Deno.readTextFile(HTTP_API_DOC_URL),
    httpApiMarkdown(await controlOpenApiDocument()),
    "docs/http-api.md is stale: run `npx -y deno@2.9.6 task docs`",
  );
});
