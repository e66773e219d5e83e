import assert from "node:assert/strict";
import { startCluster } from "../../../mod.ts";

Deno.test({
  name: "a generated control-plane token file is removed when the manager stops",
  // With LEGOEMU_TOKEN set the manager generates no token (and writes no file).
  ignore: Deno.env.has("LEGOEMU_TOKEN"),
  async fn() {
    const lines: string[] = [];
    const cluster = await startCluster({
      components: [
        { id: "gm", role: "manager", options: { control: { port: 0 } } },
        { id: "p0", role: "processor" },
        { id: "m0", role: "memory" },
        { id: "s0", role: "storage" },
      ],
    }, { log: (_id, line) => lines.push(line) });
    const announced = lines.map((l) => /token in (\S+)\)/.exec(l)?.[1]).find((f) => f);
    try {
      assert.ok(announced, `no token file announced in:\n${lines.join("\n")}`);
      assert.match(await Deno.readTextFile(announced), /\S{16,}/);
    } finally {
      await cluster.stop();
    }
    await assert.rejects(Deno.stat(announced!), Deno.errors.NotFound);
  },
});
