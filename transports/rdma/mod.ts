/**
 * The RDMA transport: legoemu's transport interface over libibverbs, through Deno FFI.
 *
 * - `verbs.ts` binds the verbs (device, port, GID, PD, MR, CQ and completion channel,
 *   RC/UD queue pairs, SRQ, address handles, post and poll through the context's ops
 *   table); `abi.ts` holds every struct offset they use, checked against verbs.h.
 * - `endpoint.ts` is the transport: connectionless mode (UD + one shared receive queue)
 *   or connected mode (RC + WRITE WITH IMMEDIATE into per-sender rings), one-sided
 *   read/write (and atomics) as RDMA READ/WRITE on registered regions.
 * - Each endpoint also attaches to a TCP transport for its control channel, over which
 *   peers exchange queue-pair numbers and ports at first contact (`control.ts`).
 * - With no libibverbs, no RDMA device, or a wrong device/port/GID, creating the
 *   transport fails with {@link RdmaUnavailableError}, which names the cause and the fix.
 *
 * The `loopback/` folder holds a userspace verbs provider that lets the real libibverbs
 * run without a NIC, for the tests (see README.md).
 *
 * @example
 * ```ts ignore
 * import { createRdmaTransport } from "./mod.ts";
 * const transport = await createRdmaTransport({ mode: "connectionless" });
 * const m0 = await transport.attach("m0");
 * const p0 = await transport.attach("p0");
 * await p0.send("m0", frame);
 * await transport.close();
 * ```
 *
 * @module
 */

import { KernelError } from "../../kernel/errors.ts";
import { type ComponentId, componentIdProblem } from "../../kernel/ids.ts";
import type { AttachOptions, Transport } from "../../kernel/transport.ts";
import { createTcpTransport, type TcpTransportOptions } from "../tcp/mod.ts";
import { SharedDevice } from "./device.ts";
import {
  type EndpointSettings,
  openEndpoint,
  type RdmaEndpoint,
  type RdmaMode,
} from "./endpoint.ts";

export type { EndpointSettings, RdmaEndpoint, RdmaMode, ReceiveMemory } from "./endpoint.ts";
export { CompletionError, RdmaUnavailableError, VerbsError } from "./errors.ts";

/** Settings of an RDMA transport; every field has a default. */
export interface RdmaTransportOptions extends Partial<EndpointSettings> {
  /** Device name (default: `LEGOEMU_RDMA_DEVICE`, else the first device listed). */
  device?: string;
  /** Port number (default 1). */
  port?: number;
  /** GID index (default 0). */
  gidIndex?: number;
  /** Default receive queue capacity, in frames (default 4096). */
  receiveQueueFrames?: number;
  /** Options of the TCP transport that carries the control channel. */
  tcp?: TcpTransportOptions;
}

/** An RDMA transport: `attach` returns {@link RdmaEndpoint}s. */
export interface RdmaTransport extends Transport {
  /** The mode every endpoint uses. */
  readonly mode: RdmaMode;
  /** The device in use. */
  readonly deviceName: string;
  /** Attaches `id`; TCP attach options (listen, manager, secret) apply to its control channel. */
  attach(id: ComponentId, options?: AttachOptions): Promise<RdmaEndpoint>;
}

/**
 * The defaults of {@link EndpointSettings}.
 *
 * @example
 * ```ts
 * import { RDMA_DEFAULTS } from "./mod.ts";
 * console.assert(RDMA_DEFAULTS.mode === "connectionless");
 * ```
 */
export const RDMA_DEFAULTS: EndpointSettings = {
  mode: "connectionless",
  windowFrames: 256,
  srqDepth: 1024,
  ringSlots: 64,
  slotBytes: 8192,
  sendBuffers: 256,
  opTimeoutMs: 30_000,
};

/**
 * Opens the device and returns the transport. Throws `RdmaUnavailableError` (no
 * library, no device, unknown device name, port not active) or `VerbsError` (a port or
 * GID index the device lacks), each naming the problem.
 *
 * @example
 * ```ts
 * import { createRdmaTransport, RdmaUnavailableError, VerbsError } from "./mod.ts";
 * try {
 *   const transport = createRdmaTransport({ mode: "connected" });
 *   console.assert(transport.mode === "connected");
 *   await transport.close();
 * } catch (e) {
 *   // A host without an RDMA device (or libibverbs) says so, naming the fix.
 *   console.assert(e instanceof RdmaUnavailableError || e instanceof VerbsError);
 * }
 * ```
 */
export function createRdmaTransport(options: RdmaTransportOptions = {}): RdmaTransport {
  const device = SharedDevice.open(
    options.device ?? (Deno.env.get("LEGOEMU_RDMA_DEVICE") || undefined),
    options.port ?? 1,
    options.gidIndex ?? 0,
  );
  const settings: EndpointSettings = {
    mode: options.mode ?? RDMA_DEFAULTS.mode,
    windowFrames: options.windowFrames ?? RDMA_DEFAULTS.windowFrames,
    srqDepth: options.srqDepth ?? RDMA_DEFAULTS.srqDepth,
    ringSlots: options.ringSlots ?? RDMA_DEFAULTS.ringSlots,
    slotBytes: options.slotBytes ?? RDMA_DEFAULTS.slotBytes,
    sendBuffers: options.sendBuffers ?? RDMA_DEFAULTS.sendBuffers,
    opTimeoutMs: options.opTimeoutMs ?? RDMA_DEFAULTS.opTimeoutMs,
  };
  const tcp = createTcpTransport({ log: () => {}, ...options.tcp });
  const endpoints = new Map<ComponentId, RdmaEndpoint>();
  let closed = false;
  return {
    name: "rdma",
    mode: settings.mode,
    deviceName: device.context.deviceName,
    async attach(id: ComponentId, attachOptions: AttachOptions = {}): Promise<RdmaEndpoint> {
      if (closed) throw new KernelError("ESHUTDOWN", "the RDMA transport is closed");
      const problem = componentIdProblem(id);
      if (problem) throw new KernelError("EINVAL", `bad component id: ${problem}`);
      if (endpoints.has(id)) throw new KernelError("EEXIST", `${id} is already attached`);
      const queueFrames = (attachOptions.receiveQueueFrames as number | undefined) ??
        options.receiveQueueFrames ?? 4096;
      const { receiveQueueFrames: _, ...tcpOptions } = attachOptions;
      const control = await tcp.attach(id, { listen: "127.0.0.1:0", ...tcpOptions });
      try {
        const endpoint = await openEndpoint(id, device, control, settings, queueFrames);
        endpoints.set(id, endpoint);
        const close = endpoint.close.bind(endpoint);
        endpoint.close = async () => {
          await close();
          if (endpoints.get(id) === endpoint) endpoints.delete(id);
        };
        return endpoint;
      } catch (e) {
        await control.close();
        throw e;
      }
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await Promise.all([...endpoints.values()].map((e) => e.close()));
      await tcp.close();
      await device.close();
    },
  };
}
