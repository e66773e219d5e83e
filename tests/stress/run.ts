/**
 * `deno task stress`: runs every stress test in this folder (one per defect of issue 17)
 * for many iterations (`--iterations`, default 200), with a progress line per tenth of
 * each test and a summary at the end. Exits non-zero if any test failed.
 *
 * @module
 */

import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: { iterations: { type: "string", default: "200" }, filter: { type: "string" } },
});
const iterations = Number(values.iterations);
if (!Number.isSafeInteger(iterations) || iterations < 1) {
  console.error(`--iterations must be a positive integer, got ${values.iterations}`);
  Deno.exit(2);
}
const folder = new URL(".", import.meta.url).pathname;
const started = performance.now();
console.error(`[stress] ${iterations} iterations of each test in ${folder}`);
const child = new Deno.Command(Deno.execPath(), {
  args: ["test", "-A", ...(values.filter ? ["--filter", values.filter] : []), folder],
  env: { LEGOEMU_STRESS_ITERATIONS: String(iterations), LEGOEMU_STRESS_PROGRESS: "1" },
  stdout: "piped",
  stderr: "inherit",
}).spawn();
const lines: string[] = [];
let pending = "";
const decoder = new TextDecoder();
for await (const chunk of child.stdout) {
  const text = decoder.decode(chunk, { stream: true });
  await Deno.stdout.write(chunk);
  pending += text;
  const parts = pending.split("\n");
  pending = parts.pop()!;
  lines.push(...parts);
}
const status = await child.status;
// deno test prints "name ... ok (time)" or "name ... FAILED (time)" per test.
// deno-lint-ignore no-control-regex
const plain = lines.map((line) => line.replace(/\x1b\[[0-9;]*m/g, ""));
const results = plain.filter((line) => / \.\.\. (ok|FAILED)/.test(line));
const passed = results.filter((line) => / \.\.\. ok/.test(line)).length;
const seconds = ((performance.now() - started) / 1000).toFixed(0);
console.log(`\n── stress summary: ${iterations} iterations each, ${seconds} s ──`);
for (const line of results) console.log(`  ${line.replace(/\s+\([^()]*\)$/, "")}`);
console.log(`${passed} of ${results.length} tests passed all ${iterations} iterations`);
Deno.exit(status.success && passed === results.length && results.length > 0 ? 0 : 1);
