/**
 * Contract suites for plugin authors: the tests the stock plugins pass, to run against
 * your own plugin of the same kind. Each `run*Contract` registers `Deno.test`s, so call it
 * at the top level of a test file and run that file with `deno test -A`.
 *
 * Import it by path from anywhere (`../legoemu/testing/mod.ts`) or as the `./testing`
 * export of the package.
 *
 * @example
 * ```ts ignore
 * // my_clock_test.ts
 * import { runReplacementPolicyContract } from "../legoemu/testing/mod.ts";
 * import clock from "./clock.ts";
 * runReplacementPolicyContract(clock);
 * ```
 *
 * @module
 */

export { runPolicyContract as runReplacementPolicyContract } from "./replacement_contract.ts";
export { type PlacementPolicy, runPlacementPolicyContract } from "./placement_contract.ts";
export { runLatencyModelContract } from "./latency_contract.ts";
export { type MonitorContractOptions, runMonitorContract } from "./monitor_contract.ts";
export { runTransportContract, type TransportContractOptions } from "./transport_contract.ts";
