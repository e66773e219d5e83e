// The transport contract moved to testing/ (exported for plugin authors); kept here for
// the transports' test files.
export * from "../../testing/transport_contract.ts";
