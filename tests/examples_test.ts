/**
 * Smoke tests of the examples that examples/README.md cannot run as written in a shared
 * test run: the TCP clusters, one OS process per component, whose fixed ports another run
 * may hold. Each runs the README's command on a copy of the config whose addresses use
 * free ports. (The other examples are run as written by tests/docs_test.ts.)
 *
 * @module
 */
import assert from "node:assert/strict";

const root = decodeURIComponent(new URL("../", import.meta.url).pathname);

for (const name of ["1p1m1s.tcp.json", "2p2m1s.tcp.json"]) {
  Deno.test(`examples/clusters/${name} runs the demo, one OS process per component`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "legoemu-example-" });
    try {
      const config = JSON.parse(await Deno.readTextFile(`${root}examples/clusters/${name}`));
      delete config.$schema;
      for (const c of config.components) c.address = "127.0.0.1:0";
      await Deno.writeTextFile(`${dir}/${name}`, JSON.stringify(config));
      const output = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          `${root}mod.ts`,
          "cluster",
          `${dir}/${name}`,
          "--run",
          `${root}examples/workloads/demo.ts`,
          "--",
          "2",
        ],
        cwd: root,
        stdout: "piped",
        stderr: "piped",
        stdin: "null",
      }).output();
      const out = new TextDecoder().decode(output.stdout);
      const err = new TextDecoder().decode(output.stderr);
      assert.equal(output.code, 0, `${out}\n${err}`);
      assert.match(out, /one process per component/);
      assert.match(out, /exit code\s+0/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}
