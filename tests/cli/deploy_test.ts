import assert from "node:assert/strict";
import { parse, parseAllDocuments } from "yaml";
import { checkCommandLine, createStockRegistry, loadClusterConfig, runCli } from "../../mod.ts";

const root = new URL("../../", import.meta.url);
const path = (relative: string) => decodeURIComponent(new URL(relative, root).pathname);

async function deploy(format: string, config: string, dir: string): Promise<string[]> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(["deploy", path(config), "--format", format, "--out", dir], {
    registry: createStockRegistry(),
    demo: { config: "", workload: "" },
    out: (line) => out.push(line),
    err: (line) => err.push(line),
  });
  assert.equal(code, 0, err.join("\n"));
  return out;
}

/** Checks a container's command line: `deno run -A mod.ts <legoemu args>` the CLI accepts. */
function checkCommand(command: string[], id: string): void {
  assert.deepEqual(command.slice(0, 3), ["run", "-A", "mod.ts"], `${id}: ${command}`);
  assert.equal(checkCommandLine(command.slice(3)), undefined, `${id}: ${command.join(" ")}`);
  assert.equal(command[3], "component");
  assert.equal(command[command.indexOf("--id") + 1], id);
}

/** The container's view of the config is a valid config naming every component by service. */
async function checkConfig(dir: string, ids: string[]): Promise<void> {
  const config = await loadClusterConfig(`${dir}/cluster.json`, createStockRegistry());
  assert.deepEqual(config.components.map((c) => c.id).sort(), [...ids].sort());
  for (const c of config.components) assert.match(c.address!, new RegExp(`^${c.id}:\\d+$`));
  assert.equal(config.transport.plugin, "tcp");
}

Deno.test("deploy --format compose writes a service per component whose commands the CLI accepts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "legoemu-deploy-" });
  try {
    await deploy("compose", "examples/clusters/2p2m1s.tcp.json", dir);
    const compose = parse(await Deno.readTextFile(`${dir}/compose.yaml`));
    const ids = ["gm", "p0", "p1", "m0", "m1", "s0"];
    assert.deepEqual(Object.keys(compose.services).sort(), [...ids].sort());
    for (const id of ids) {
      const service = compose.services[id];
      assert.equal(service.image, "legoemu:latest");
      checkCommand(service.command, id);
      if (id !== "gm") assert.deepEqual(service.depends_on, ["gm"]);
    }
    await checkConfig(dir, ids);
    const secret = await Deno.stat(`${dir}/cluster.secret`);
    assert.equal(secret.mode! & 0o077, 0, "the secret is readable by others");
    assert.match(await Deno.readTextFile(`${dir}/cluster.secret`), /^[0-9a-f]{64}\n$/);
    assert.match(await Deno.readTextFile(`${dir}/Dockerfile`), /FROM denoland\/deno:2\.9\.6/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deploy --format kubernetes writes a Deployment and Service per component, the secret and the control port", async () => {
  const dir = await Deno.makeTempDir({ prefix: "legoemu-deploy-" });
  try {
    const config = JSON.parse(await Deno.readTextFile(path("examples/clusters/1p1m1s.tcp.json")));
    config.components[0].options = { control: { port: 7080 } };
    await Deno.writeTextFile(`${dir}/in.json`, JSON.stringify(config));
    const out: string[] = [];
    const code = await runCli(
      ["deploy", `${dir}/in.json`, "--format", "kubernetes", "--out", `${dir}/k8s`],
      {
        registry: createStockRegistry(),
        demo: { config: "", workload: "" },
        out: (l) => out.push(l),
        err: (l) => out.push(l),
      },
    );
    assert.equal(code, 0, out.join("\n"));
    const docs = parseAllDocuments(await Deno.readTextFile(`${dir}/k8s/kubernetes.yaml`))
      .map((d) => d.toJS());
    const of = (kind: string) => docs.filter((d) => d.kind === kind);
    const ids = ["gm", "p0", "m0", "s0"];
    assert.equal(of("Secret").length, 1);
    assert.match(of("Secret")[0].stringData["cluster.secret"], /^[0-9a-f]{64}\n$/);
    assert.equal(of("ConfigMap").length, 1);
    assert.deepEqual(of("Deployment").map((d) => d.metadata.name).sort(), [...ids].sort());
    assert.deepEqual(of("Service").map((d) => d.metadata.name).sort(), [...ids].sort());
    for (const d of of("Deployment")) {
      const [container] = d.spec.template.spec.containers;
      assert.deepEqual(container.command, ["deno"]);
      checkCommand(container.args, d.metadata.name);
    }
    const gm = of("Service").find((s) => s.metadata.name === "gm");
    assert.deepEqual(gm.spec.ports.map((p: { port: number }) => p.port), [7000, 7080]);
    // The container's config: the control plane on all interfaces, with a token file.
    await Deno.writeTextFile(`${dir}/k8s/cluster.json`, of("ConfigMap")[0].data["cluster.json"]);
    await checkConfig(`${dir}/k8s`, ids);
    const manager = JSON.parse(of("ConfigMap")[0].data["cluster.json"]).components[0];
    assert.deepEqual(manager.options.control, {
      port: 7080,
      hostname: "0.0.0.0",
      tokenFile: "/run/legoemu/control.token",
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deploy refuses the in-memory transport and bad flags with one line", async () => {
  for (
    const [args, pattern] of [
      [[
        "deploy",
        path("examples/clusters/1p1m1s.memory.json"),
        "--format",
        "compose",
        "--out",
        "/tmp/x",
      ], /in-memory transport/],
      [
        [
          "deploy",
          path("examples/clusters/1p1m1s.tcp.json"),
          "--format",
          "helm",
          "--out",
          "/tmp/x",
        ],
        /--format must be compose or kubernetes/,
      ],
      [["deploy", path("examples/clusters/1p1m1s.tcp.json"), "--format", "compose"], /needs --out/],
    ] as [string[], RegExp][]
  ) {
    const err: string[] = [];
    const code = await runCli(args, {
      registry: createStockRegistry(),
      demo: { config: "", workload: "" },
      out: () => {},
      err: (l) => err.push(l),
    });
    assert.equal(code, 2, args.join(" "));
    assert.match(err.join("\n"), pattern);
  }
});
