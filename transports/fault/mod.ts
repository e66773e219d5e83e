/**
 * Seeded fault injection around any transport (`fault.ts`) and its plugin (`plugin.ts`).
 *
 * @module
 */

export {
  createFaultTransport,
  type FaultDecision,
  type FaultOptions,
  type FaultStats,
  type FaultTransport,
} from "./fault.ts";
export {
  FaultTransportOptionsSchema,
  faultTransportPlugin,
  type FaultTransportPluginOptions,
} from "./plugin.ts";
