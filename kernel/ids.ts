/**
 * Component ids and roles.
 *
 * Every component in a cluster has a cluster-unique id (`p0`, `m1`, `s0`, `gm`) and one
 * role. Ids travel in every message header, so they are short ASCII names.
 *
 * @module
 */

/** The four kinds of component in a split-kernel cluster. */
export type Role = "processor" | "memory" | "storage" | "manager";

/** Every role, in a stable order. */
export const ROLES: readonly Role[] = ["processor", "memory", "storage", "manager"];

/** A cluster-unique component id such as `p0`, `m1`, `s0` or `gm`. */
export type ComponentId = string;

/** Longest id in bytes: ids are stored NUL-padded in a fixed 16-byte header field. */
export const MAX_COMPONENT_ID_BYTES = 16;

const ID_PATTERN = /^[a-z][a-z0-9_-]{0,15}$/;

/**
 * Why `id` is not a valid component id, or `undefined` when it is.
 *
 * @example
 * ```ts
 * import { componentIdProblem } from "./ids.ts";
 * console.assert(componentIdProblem("p0") === undefined);
 * console.assert(componentIdProblem("P 0") !== undefined);
 * ```
 */
export function componentIdProblem(id: unknown): string | undefined {
  if (typeof id !== "string") return `component id must be a string, got ${typeof id}`;
  if (id.length === 0) return "component id is empty";
  if (id.length > MAX_COMPONENT_ID_BYTES) {
    return `component id "${id}" is longer than ${MAX_COMPONENT_ID_BYTES} characters`;
  }
  if (!ID_PATTERN.test(id)) {
    return `component id "${id}" must start with a lowercase letter and use only a-z, 0-9, "_" and "-"`;
  }
  return undefined;
}

/**
 * Returns `id` when it is a valid component id, throws a `TypeError` naming the problem
 * otherwise.
 *
 * @example
 * ```ts
 * import { assertComponentId } from "./ids.ts";
 * const id = assertComponentId("m1");
 * console.assert(id === "m1");
 * ```
 */
export function assertComponentId(id: unknown): ComponentId {
  const problem = componentIdProblem(id);
  if (problem) throw new TypeError(problem);
  return id as ComponentId;
}

/**
 * Whether `value` names one of the four roles.
 *
 * @example
 * ```ts
 * import { isRole } from "./ids.ts";
 * console.assert(isRole("memory") && !isRole("gpu"));
 * ```
 */
export function isRole(value: unknown): value is Role {
  return typeof value === "string" && (ROLES as readonly string[]).includes(value);
}
