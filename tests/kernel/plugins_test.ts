import assert from "node:assert/strict";
import { z } from "zod";
import {
  definePlugin,
  PLUGIN_KINDS,
  type PluginDefinition,
  PluginError,
  PluginRegistry,
} from "../../kernel/plugins.ts";
import { formatZodIssues } from "../../kernel/zod_issues.ts";

const waysSchema = z.strictObject({ ways: z.number().int().positive().default(64) });

function policy(name: string, description?: string): PluginDefinition<{ ways: number }, string> {
  return definePlugin({
    kind: "replacement-policy",
    name,
    description,
    configSchema: waysSchema,
    create: (options) => `${name}/${options.ways}`,
  });
}

function registryWithPolicies(): PluginRegistry {
  return new PluginRegistry().register(policy("lru")).register(policy("fifo")).register(
    policy("random"),
  );
}

function catchPluginError(fn: () => unknown): PluginError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof PluginError, `expected a PluginError, got ${err}`);
    return err;
  }
  assert.fail("expected a PluginError");
}

Deno.test("get() of an unknown name lists the available names of that kind", () => {
  const err = catchPluginError(() => registryWithPolicies().get("replacement-policy", "lfu"));
  assert.equal(err.code, "UNKNOWN_PLUGIN");
  assert.equal(err.kind, "replacement-policy");
  assert.equal(err.plugin, "lfu");
  assert.equal(err.name, "PluginError");
  assert.match(String(err), /^PluginError: no replacement-policy plugin named "lfu"/);
  assert.equal(
    err.message,
    'no replacement-policy plugin named "lfu"; available: fifo, lru, random',
  );
  assert.deepEqual(err.available, ["fifo", "lru", "random"]);
});

Deno.test("get() of a kind with no plugins says none are registered", () => {
  const err = catchPluginError(() => registryWithPolicies().get("transport", "tcp"));
  assert.match(err.message, /no transport plugin named "tcp"; available: \(none registered\)/);
});

Deno.test("register() rejects a duplicate (kind, name), naming both", () => {
  const registry = new PluginRegistry().register(policy("lru", "stock LRU"));
  const err = catchPluginError(() => registry.register(policy("lru", "my LRU")));
  assert.equal(err.code, "DUPLICATE_PLUGIN");
  assert.match(err.message, /replacement-policy plugin "lru"/);
  assert.match(err.message, /stock LRU/);
  assert.match(err.message, /my LRU/);
  // The same name under another kind is a different plugin.
  registry.register(definePlugin({
    kind: "vregion-placement",
    name: "lru",
    configSchema: z.object({}),
    create: () => null,
  }));
  assert.ok(registry.has("vregion-placement", "lru"));
});

Deno.test("parseOptions() fills defaults and names the path of a bad field", () => {
  const registry = registryWithPolicies();
  assert.deepEqual(registry.parseOptions("replacement-policy", "lru", undefined), { ways: 64 });
  const err = catchPluginError(() =>
    registry.parseOptions("replacement-policy", "lru", { ways: "8" })
  );
  assert.equal(err.code, "BAD_PLUGIN_OPTIONS");
  assert.equal(err.path, "options.ways");
  assert.equal(err.message, "options.ways: expected number, received string");
  const where = catchPluginError(() =>
    registry.parseOptions("replacement-policy", "lru", { ways: 8, wyas: 2 }, "$.p0.options")
  );
  assert.equal(where.message, '$.p0.options.wyas: unknown key "wyas"');
});

Deno.test("create() validates options before calling create", async () => {
  let calls = 0;
  const registry = new PluginRegistry().register(definePlugin({
    kind: "replacement-policy",
    name: "counting",
    configSchema: waysSchema,
    create: (options: { ways: number }, context: { id: string }) => {
      calls++;
      return `${context.id}:${options.ways}`;
    },
  }));
  await assert.rejects(
    registry.create("replacement-policy", "counting", { ways: -1 }, { id: "p0" }),
    (err: unknown) => err instanceof PluginError && err.code === "BAD_PLUGIN_OPTIONS",
  );
  assert.equal(calls, 0);
  assert.equal(
    await registry.create<string>("replacement-policy", "counting", {}, { id: "p0" }),
    "p0:64",
  );
  assert.equal(calls, 1);
});

Deno.test("definePlugin() rejects bad names and kinds, and freezes the result", () => {
  for (const name of ["", "LRU", "1lru", "lru_policy", "a".repeat(49), "lru "]) {
    const err = catchPluginError(() => policy(name));
    assert.equal(err.code, "BAD_PLUGIN", name);
  }
  const badKind = catchPluginError(() =>
    definePlugin({
      kind: "gpu" as never,
      name: "x",
      configSchema: z.object({}),
      create: () => null,
    })
  );
  assert.equal(badKind.code, "BAD_PLUGIN");
  assert.match(badKind.message, /unknown kind "gpu"/);
  const noSchema = catchPluginError(() =>
    definePlugin({ kind: "transport", name: "x", configSchema: {} as never, create: () => null })
  );
  assert.match(noSchema.message, /configSchema/);
  assert.ok(Object.isFrozen(policy("a".repeat(48))));
});

Deno.test("list() orders by kind then name and carries descriptions", () => {
  const registry = registryWithPolicies().register(definePlugin({
    kind: "transport",
    name: "memory",
    description: "in-process",
    configSchema: z.object({}),
    create: () => null,
  }));
  assert.deepEqual(registry.list().map((p) => `${p.kind}/${p.name}`), [
    "transport/memory",
    "replacement-policy/fifo",
    "replacement-policy/lru",
    "replacement-policy/random",
  ]);
  assert.deepEqual(registry.list("transport"), [
    { kind: "transport", name: "memory", description: "in-process" },
  ]);
  assert.equal(PLUGIN_KINDS.length, 11);
});

Deno.test("formatZodIssues() prints one prefixed path per problem", () => {
  const schema = z.object({ a: z.array(z.object({ b: z.string() })), "odd key": z.number() });
  const result = schema.safeParse({ a: [{ b: "x" }, { b: 1 }], "odd key": "y" });
  assert.ok(!result.success);
  assert.equal(
    formatZodIssues(result.error, "cfg"),
    'cfg.a[1].b: expected string, received number\ncfg["odd key"]: expected number, received string',
  );
});
