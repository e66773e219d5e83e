/**
 * RDMA-specialised RPC and the NIC's rates, for the persistent-write access paths and the
 * connected-versus-connectionless RPC study (`deno task study`): a connectionless RPC's
 * round trip, the server CPU one RPC costs, the NIC's message rate, and the DDIO switch
 * that decides whether a one-sided READ can flush a one-sided WRITE to persistent memory.
 *
 * Sources (also in `SOURCES.md`, with how the constants combine):
 * - **R2** `erpc-io/eRPC` `README.md`: 2.3 µs round trip (UDP over Ethernet), about 10 M
 *   small RPC/s per core, 60–80 M RPC/s per NIC, 75 Gbps with one core.
 * - **N3** `anujkaliaiitd/pmem-bench` `rdma/rdma-write-flush-lat/README.md`: a remote
 *   persistent 16 B write, WRITE 1.3 µs; WRITE + READ flush with DDIO off 2.6 µs p50,
 *   2.9 µs p99 (developer note; the SoCC'20 paper's figures are UNCONFIRMED).
 * - **N4** grayxu.cn, summary of the ATC'21 study of RDMA with persistent memory: with DDIO
 *   on, NIC writes land in the last-level cache, so a READ alone does not persist them.
 *
 * @module
 */

import { z } from "npm:zod@4.6.7";
import type { LatencyConstant } from "../../kernel/latency.ts";
import type { ConstantSpec } from "./_devices.ts";

/** The RDMA-RPC constants, as a model's options carry them. */
export interface RdmaRpcConstants {
  /** Round trip of a small connectionless RPC over a shared receive queue [ns]. */
  connectionlessRpcNs: number;
  /** Server CPU one small RPC costs (receive, dispatch, reply) [ns]. */
  rpcServerCpuNs: number;
  /** NIC time per message or one-sided operation (the inverse of its message rate) [ns]. */
  nicOpNs: number;
}

/** Names of the RDMA-RPC constants. */
export type RdmaRpcConstantName = keyof RdmaRpcConstants;

/**
 * RDMA-RPC constants: defaults, units and sources.
 *
 * @example
 * ```ts
 * import { RDMA_RPC_CONSTANTS } from "./_rdma_rpc.ts";
 * console.assert(RDMA_RPC_CONSTANTS.connectionlessRpcNs.value === 2300);
 * ```
 */
export const RDMA_RPC_CONSTANTS: Readonly<Record<RdmaRpcConstantName, ConstantSpec>> = {
  // R2: eRPC's round trip; measured over Ethernet (UDP), not the 40 Gbps IB of A2/R1.
  connectionlessRpcNs: {
    value: 2300,
    unit: "ns",
    source: "R2: eRPC round trip, 2.3 us (UDP over Ethernet: another fabric than A2/R1)",
    doc: "round trip of a small connectionless RPC over a shared receive queue",
  },
  // R2 derived: eRPC serves about 10 M small RPC/s on one core.
  rpcServerCpuNs: {
    value: 1e9 / 10e6,
    unit: "ns",
    source: "R2 derived: 1e9 / 10 M small RPC/s per core (eRPC)",
    doc: "server CPU one small RPC costs",
  },
  // R2 derived: 60-80 M RPC/s per NIC, the lower end; one-sided verbs are assumed to share
  // that message rate (UNCONFIRMED for a ConnectX-3).
  nicOpNs: {
    value: 1e9 / 60e6,
    unit: "ns",
    source:
      "R2 derived: 1e9 / 60 M msg/s per NIC (eRPC, lower end; UNCONFIRMED for one-sided verbs)",
    doc: "NIC time per message or one-sided operation",
  },
};

/** The DDIO option: on (Intel's default) NIC writes land in the last-level cache. */
export const ddioField: z.ZodDefault<z.ZodBoolean> = z.boolean().default(true).describe(
  "DDIO: NIC writes land in the CPU's last-level cache (Intel's default), so a one-sided " +
    "READ does not make a one-sided WRITE persistent (N3, N4); false: they go to memory",
);

/**
 * Describes the DDIO switch for reports (1 on, 0 off).
 *
 * @example
 * ```ts
 * import { describeDdio } from "./_rdma_rpc.ts";
 * console.assert(describeDdio(false).ddio.value === 0);
 * ```
 */
export function describeDdio(ddio: boolean): Record<string, LatencyConstant> {
  return {
    ddio: {
      value: ddio ? 1 : 0,
      unit: "switch",
      source: ddio
        ? "N4: DDIO on, Intel's default (NIC writes land in the LLC)"
        : "options.ddio (N3 measured its READ flush with DDIO off)",
    },
  };
}
