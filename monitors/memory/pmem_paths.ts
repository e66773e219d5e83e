/**
 * The four persistent-write access paths, their model costs and their client: defined in
 * `kernel/pmem_paths.ts` (the processor's process API uses them too) and re-exported here
 * beside the server side (`pmem_service.ts`).
 *
 * @module
 */

export * from "../../kernel/pmem_paths.ts";
