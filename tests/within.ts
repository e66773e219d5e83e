/**
 * A deadline for tests that must not hang: a hang becomes a failure that names what was
 * pending.
 *
 * @module
 */

/**
 * Resolves as `promise` does, or rejects with a clear message if it takes longer than
 * `ms` (a hang, not an error).
 *
 * @example
 * ```ts
 * import { within } from "./within.ts";
 * console.assert((await within(Promise.resolve(1), 1000, "a resolved promise")) === 1);
 * ```
 */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} still pending after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
