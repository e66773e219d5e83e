/**
 * `legoemu deploy`: deployment files for a cluster config, one container per component.
 *
 * `--format compose` writes `compose.yaml` (a service per component); `--format
 * kubernetes` writes `kubernetes.yaml` (a Deployment and a Service per component, the
 * cluster secret as a Secret, the config as a ConfigMap). Both run the image that
 * `Dockerfile` (written beside them) builds from this repository, and every container runs
 * `deno run -A mod.ts component --config <config> --id <id> ...`, the command line a
 * component takes on one host. In the config they get, each component's address is its
 * service name (`gm:7000`; the TCP transport's `peers` list them all), it listens on all
 * interfaces, and a manager with a control
 * plane binds it to all interfaces with its token in a secret file (a non-loopback control
 * plane needs one). The cluster secret and control token are fresh random values, written
 * into the output with mode 0600.
 *
 * @module
 */

import type { ClusterConfig } from "../kernel/config.ts";

/** Output formats. */
export type DeployFormat = "compose" | "kubernetes";

/** What {@link deploymentFiles} needs. */
export interface DeployOptions {
  /** The config, parsed. */
  config: ClusterConfig;
  /** Output format. */
  format: DeployFormat;
  /** Container image holding this repository (default `legoemu:latest`). */
  image?: string;
  /** Cluster secret (hex); default: fresh random bytes. */
  secret?: string;
  /** Control-plane token; default: fresh random bytes. */
  controlToken?: string;
}

const APP = "/app";
const CONFIG_PATH = "/etc/legoemu/cluster.json";
const SECRET_PATH = "/run/legoemu/cluster.secret";
const TOKEN_PATH = "/run/legoemu/control.token";
const DEFAULT_PORTS = { manager: 7000, processor: 7100, memory: 7200, storage: 7300 };

function randomHex(bytes = 32): string {
  return [...crypto.getRandomValues(new Uint8Array(bytes))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** DNS-1123 name of a component's service (ids may hold characters DNS names cannot). */
export function serviceName(id: string): string {
  const name = id.toLowerCase().replaceAll(/[^a-z0-9-]/g, "-").replace(/^-+|-+$/g, "");
  return /^[a-z]/.test(name) ? name : `c-${name}`;
}

/** The config as the containers see it, and each component's port. */
export function containerConfig(config: ClusterConfig): {
  config: Record<string, unknown>;
  ports: Map<string, number>;
  controlPort?: number;
} {
  const ports = new Map<string, number>();
  let controlPort: number | undefined;
  const components = config.components.map((c, i) => {
    const given = c.address ? Number(c.address.slice(c.address.lastIndexOf(":") + 1)) : 0;
    const port = given > 0 ? given : DEFAULT_PORTS[c.role] + i;
    ports.set(c.id, port);
    const options = { ...c.options };
    if (c.role === "manager" && options.control && typeof options.control === "object") {
      const control = { ...(options.control as Record<string, unknown>) };
      control.hostname = "0.0.0.0";
      control.tokenFile = TOKEN_PATH;
      controlPort = typeof control.port === "number" && control.port > 0 ? control.port : 7080;
      control.port = controlPort;
      options.control = control;
    }
    return {
      id: c.id,
      role: c.role,
      plugin: c.plugin,
      options,
      address: `${serviceName(c.id)}:${port}`,
    };
  });
  // Components announce the address they listen on (0.0.0.0 here); fixed peers, which
  // win over announced ones, give every component the others' service names instead.
  const peers = Object.fromEntries(components.map((c) => [c.id, c.address]));
  return {
    config: {
      name: config.name,
      transport: {
        plugin: config.transport.plugin,
        options: { ...config.transport.options, peers },
      },
      latencyModel: config.latencyModel,
      plugins: config.plugins,
      components,
    },
    ports,
    controlPort,
  };
}

/** The `legoemu` arguments a component's container runs (after `deno run -A mod.ts`). */
export function componentArgs(
  id: string,
  port: number,
  managerId: string,
  managerAddress: string,
  isManager: boolean,
): string[] {
  const args = ["component", "--config", CONFIG_PATH, "--id", id, "--listen", `0.0.0.0:${port}`];
  if (!isManager) args.push("--manager", `${managerId}@${managerAddress}`);
  args.push("--secret-file", SECRET_PATH);
  return args;
}

// ── a small YAML writer: maps, lists and scalars (strings as JSON, which YAML reads) ──

function yaml(value: unknown, indent = 0): string {
  const pad = " ".repeat(indent);
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    return value.map((v) => {
      const inner = yaml(v, indent + 2);
      return isBlock(v) ? `${pad}- ${inner.trimStart()}` : `${pad}- ${inner}`;
    }).join("\n");
  }
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) =>
      v !== undefined
    );
    if (entries.length === 0) return "{}";
    return entries.map(([k, v]) => {
      const key = /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(k) ? k : JSON.stringify(k);
      return isBlock(v)
        ? `${pad}${key}:\n${yaml(v, indent + 2)}`
        : `${pad}${key}: ${yaml(v, indent + 2)}`;
    }).join("\n");
  }
  if (typeof value === "string") return JSON.stringify(value);
  return String(value);
}

function isBlock(v: unknown): boolean {
  return v !== null && typeof v === "object" &&
    (Array.isArray(v) ? v.length > 0 : Object.keys(v as object).length > 0);
}

/** The Dockerfile that builds the image every container runs (context: this repository). */
export const DOCKERFILE = `# Build from the root of the legoemu repository:
#   docker build -t legoemu:latest -f <this file> .
FROM denoland/deno:2.9.6
WORKDIR ${APP}
COPY . .
RUN deno cache mod.ts
ENTRYPOINT ["deno"]
`;

/**
 * The files to write for `options`, by name.
 *
 * @example
 * ```ts
 * import { deploymentFiles } from "./deploy.ts";
 * import { parseClusterConfig } from "../kernel/config.ts";
 * const config = parseClusterConfig({ transport: { plugin: "tcp" }, components: [
 *   { id: "gm", role: "manager" }, { id: "p0", role: "processor" },
 *   { id: "m0", role: "memory" }, { id: "s0", role: "storage" },
 * ] });
 * const files = deploymentFiles({ config, format: "compose" });
 * console.assert(files.has("compose.yaml") && files.has("Dockerfile"));
 * ```
 */
export function deploymentFiles(options: DeployOptions): Map<string, string> {
  const image = options.image ?? "legoemu:latest";
  const secret = options.secret ?? randomHex();
  const token = options.controlToken ?? randomHex();
  const { config, ports, controlPort } = containerConfig(options.config);
  const manager = options.config.components.find((c) => c.role === "manager")!;
  const managerAddress = `${serviceName(manager.id)}:${ports.get(manager.id)}`;
  const configText = JSON.stringify(config, null, 2) + "\n";
  const files = new Map<string, string>([["Dockerfile", DOCKERFILE], ["cluster.json", configText]]);
  const argsOf = (
    id: string,
  ) => [
    "run",
    "-A",
    "mod.ts",
    ...componentArgs(id, ports.get(id)!, manager.id, managerAddress, id === manager.id),
  ];
  // Start order as legoemu cluster uses: the manager, then storage and memory, processors.
  const order = ["manager", "storage", "memory", "processor"];
  const components = [...options.config.components].sort((a, b) =>
    order.indexOf(a.role) - order.indexOf(b.role)
  );

  if (options.format === "compose") {
    files.set("cluster.secret", secret + "\n");
    files.set("control.token", token + "\n");
    const services: Record<string, unknown> = {};
    for (const c of components) {
      const isManager = c.id === manager.id;
      services[serviceName(c.id)] = {
        image,
        command: argsOf(c.id),
        volumes: [
          `./cluster.json:${CONFIG_PATH}:ro`,
          `./cluster.secret:${SECRET_PATH}:ro`,
          ...(isManager && controlPort ? [`./control.token:${TOKEN_PATH}:ro`] : []),
        ],
        ports: isManager && controlPort ? [`${controlPort}:${controlPort}`] : undefined,
        depends_on: isManager ? undefined : [serviceName(manager.id)],
        restart: "on-failure",
      };
    }
    files.set(
      "compose.yaml",
      `# legoemu cluster "${options.config.name}": one container per component.\n` +
        `# Build the image first (see Dockerfile), then: docker compose up\n` +
        yaml({ name: serviceName(options.config.name), services }) + "\n",
    );
    return files;
  }

  const labels = (id: string) => ({
    app: "legoemu",
    cluster: serviceName(options.config.name),
    component: serviceName(id),
  });
  const docs: unknown[] = [
    {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "legoemu-secrets", labels: { app: "legoemu" } },
      type: "Opaque",
      stringData: { "cluster.secret": secret + "\n", "control.token": token + "\n" },
    },
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "legoemu-config", labels: { app: "legoemu" } },
      data: { "cluster.json": configText },
    },
  ];
  for (const c of components) {
    const name = serviceName(c.id);
    const isManager = c.id === manager.id;
    const containerPorts = [{ name: "tcp", containerPort: ports.get(c.id) }];
    if (isManager && controlPort) {
      containerPorts.push({ name: "control", containerPort: controlPort });
    }
    docs.push({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name, labels: labels(c.id) },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels(c.id) },
        template: {
          metadata: { labels: labels(c.id) },
          spec: {
            containers: [{
              name,
              image,
              command: ["deno"],
              args: argsOf(c.id),
              ports: containerPorts,
              volumeMounts: [
                { name: "config", mountPath: "/etc/legoemu", readOnly: true },
                { name: "secrets", mountPath: "/run/legoemu", readOnly: true },
              ],
            }],
            volumes: [
              { name: "config", configMap: { name: "legoemu-config" } },
              { name: "secrets", secret: { secretName: "legoemu-secrets", defaultMode: 0o400 } },
            ],
          },
        },
      },
    });
    docs.push({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name, labels: labels(c.id) },
      spec: {
        selector: labels(c.id),
        ports: containerPorts.map((p) => ({
          name: p.name,
          port: p.containerPort,
          targetPort: p.containerPort,
        })),
      },
    });
  }
  files.set(
    "kubernetes.yaml",
    `# legoemu cluster "${options.config.name}": kubectl apply -f kubernetes.yaml\n` +
      docs.map((d) => yaml(d)).join("\n---\n") + "\n",
  );
  return files;
}

/** Writes `files` into `dir` (secrets with mode 0600); returns the paths written. */
export async function writeDeployment(dir: string, files: Map<string, string>): Promise<string[]> {
  await Deno.mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const [name, text] of files) {
    const path = `${dir}/${name}`;
    const secret = name.endsWith(".secret") || name.endsWith(".token") ||
      name === "kubernetes.yaml";
    await Deno.writeTextFile(path, text, secret ? { mode: 0o600 } : {});
    written.push(path);
  }
  return written;
}
