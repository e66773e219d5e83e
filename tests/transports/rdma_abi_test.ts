/**
 * The ABI check: every struct size, field offset and enum value the RDMA FFI layer uses
 * (`transports/rdma/abi.ts`) is compared with what gcc says about the installed
 * `<infiniband/verbs.h>`. Skips without gcc or libibverbs-dev (fails under LEGOEMU_CI=1).
 *
 * @module
 */

import assert from "node:assert/strict";
import { LAYOUT, UNIONS, VERBS } from "../../transports/rdma/abi.ts";

const HEADER = "/usr/include/infiniband/verbs.h";

async function gccPresent(): Promise<boolean> {
  try {
    return (await new Deno.Command("gcc", { args: ["--version"], stdout: "null", stderr: "null" })
      .output()).success;
  } catch {
    return false;
  }
}

const missing = [
  ...(await gccPresent()) ? [] : ["gcc"],
  ...(await Deno.stat(HEADER).then(() => true, () => false)) ? [] : ["libibverbs-dev"],
];
const inCi = Deno.env.get("LEGOEMU_CI") === "1";
if (missing.length && !inCi) {
  console.warn(
    `rdma ABI check skipped: needs ${missing.join(", ")} (apt-get install ${missing.join(" ")})`,
  );
}

/** A C program printing `<struct> <field> <offset>` lines and `const <name> <value>` lines. */
function abiProgram(): string {
  const lines = [
    "#include <stdio.h>",
    "#include <stddef.h>",
    "#include <infiniband/verbs.h>",
    "int main(void) {",
  ];
  for (const [name, layout] of Object.entries(LAYOUT)) {
    const type = `${UNIONS.includes(name) ? "union" : "struct"} ${name}`;
    lines.push(`  printf("${name} sizeof %zu\\n", sizeof(${type}));`);
    for (const field of Object.keys(layout.fields)) {
      lines.push(`  printf("${name} ${field} %zu\\n", offsetof(${type}, ${field}));`);
    }
  }
  for (const name of Object.keys(VERBS)) {
    lines.push(`  printf("const ${name} %lld\\n", (long long)${name});`);
  }
  lines.push("  return 0;", "}");
  return lines.join("\n");
}

Deno.test({
  name: "rdma ABI: every offset, size and constant the FFI uses matches the installed verbs.h",
  ignore: missing.length > 0 && !inCi,
  async fn() {
    assert.deepEqual(missing, [], `the ABI check needs ${missing.join(", ")}`);
    const dir = await Deno.makeTempDir({ prefix: "legoemu-rdma-abi-" });
    try {
      await Deno.writeTextFile(`${dir}/abi.c`, abiProgram());
      const built = await new Deno.Command("gcc", {
        args: ["-o", `${dir}/abi`, `${dir}/abi.c`],
        stderr: "piped",
      }).output();
      assert.ok(built.success, new TextDecoder().decode(built.stderr));
      const run = await new Deno.Command(`${dir}/abi`, { stdout: "piped" }).output();
      assert.ok(run.success);
      const actual = new Map<string, number>();
      for (const line of new TextDecoder().decode(run.stdout).trim().split("\n")) {
        const [a, b, value] = line.split(" ");
        actual.set(`${a} ${b}`, Number(value));
      }
      const expected = new Map<string, number>();
      for (const [name, layout] of Object.entries(LAYOUT)) {
        expected.set(`${name} sizeof`, layout.size);
        for (const [field, offset] of Object.entries(layout.fields)) {
          expected.set(`${name} ${field}`, offset);
        }
      }
      for (const [name, value] of Object.entries(VERBS)) expected.set(`const ${name}`, value);
      const wrong = [...expected].filter(([key, value]) => actual.get(key) !== value)
        .map(([key, value]) => `${key}: abi.ts says ${value}, verbs.h says ${actual.get(key)}`);
      assert.deepEqual(wrong, []);
      assert.ok(expected.size > 200, `checked ${expected.size} entries`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
