/**
 * The RDMA transport's tests over the loopback provider, through the real libibverbs:
 * run by `rdma_loopback_test.ts` in a subprocess whose environment points libibverbs at
 * the provider (it must be set before the library loads). Not a `_test.ts` file, so the
 * main test run does not pick it up without that environment.
 *
 * @module
 */

import assert from "node:assert/strict";
import { encode } from "../../kernel/codec.ts";
import { KernelError, UnreachableError } from "../../kernel/errors.ts";
import { RpcNode } from "../../kernel/rpc.ts";
import { type Cluster, startCluster } from "../../mod.ts";
import { CompletionError, createRdmaTransport, type RdmaMode, VerbsError } from "../../transports/rdma/mod.ts";
import { VERBS } from "../../transports/rdma/abi.ts";
import { PinnedMemory, VerbsContext } from "../../transports/rdma/verbs.ts";
import { runTransportContract } from "./transport_contract.ts";

const MODES: RdmaMode[] = ["connectionless", "connected"];
const small = { srqDepth: 128, sendBuffers: 32, ringSlots: 16 };

for (const mode of MODES) {
  runTransportContract(`rdma ${mode}`, () => createRdmaTransport({ mode, ...small }));
}
