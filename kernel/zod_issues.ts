/**
 * The kernel's view of zod: the small shape of a schema it relies on, and the formatting
 * of validation issues into short, path-first lines a person can act on.
 *
 * The kernel names no zod type in its public API: {@link Schema} is structural, so every
 * zod schema fits it (`z.object({...})`, with transforms and defaults), while the
 * documented API of legoemu stays free of a third-party library's types.
 *
 * Both the plugin registry (plugin options) and the cluster config (whole files) report
 * problems as `<path>: <what was expected / found>`, where the path starts from a caller's
 * prefix (`options`, `$`, `$.components[2].options`) and continues in JavaScript syntax
 * (`.key`, `[2]`, `["odd key"]`).
 *
 * @module
 */

/** One problem found by a schema (the fields of a zod issue that the kernel reads). */
export interface SchemaIssue {
  /** Zod's issue code, e.g. `invalid_type`, `unrecognized_keys`, `custom`. */
  readonly code: string;
  /** Where the problem is, relative to the parsed value. */
  readonly path: readonly PropertyKey[];
  /** Zod's message. */
  readonly message: string;
  /** The offending value, when parsed with `{ reportInput: true }`. */
  readonly input?: unknown;
  /** For `unrecognized_keys`: the unknown keys. */
  readonly keys?: readonly string[];
  /** For `invalid_type`: the expected type. */
  readonly expected?: string;
}

/** A failed parse: every issue found (a `ZodError` fits). */
export interface SchemaError {
  /** The issues, in the order the schema found them. */
  readonly issues: readonly SchemaIssue[];
}

/** The result of {@link Schema.safeParse}. */
export type SchemaResult<T> =
  | { readonly success: true; readonly data: T }
  | { readonly success: false; readonly error: SchemaError };

/**
 * A validator whose output is `T`. Every zod schema with output `T` is one.
 *
 * @example
 * ```ts
 * import { z } from "npm:zod@4.6.7";
 * import type { Schema } from "./zod_issues.ts";
 * const ways: Schema<{ ways: number }> = z.object({ ways: z.number().default(64) });
 * const result = ways.safeParse({});
 * console.assert(result.success && result.data.ways === 64);
 * ```
 */
export interface Schema<T> {
  /** Validates `value`, returning the parsed output or the issues found. */
  safeParse(value: unknown, params?: { reportInput?: boolean }): SchemaResult<T>;
}

/** One validation problem: where it is and what is wrong there. */
export interface IssueLine {
  /** Full path of the offending value, e.g. `$.components[0].role`. */
  path: string;
  /** What was expected or found, e.g. `expected number, received string`. */
  message: string;
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/**
 * Appends path segments to `prefix` in JavaScript property syntax.
 *
 * @example
 * ```ts
 * import { formatIssuePath } from "./zod_issues.ts";
 * console.assert(formatIssuePath("$", ["components", 2, "id"]) === "$.components[2].id");
 * console.assert(formatIssuePath("options", ["a b"]) === 'options["a b"]');
 * ```
 */
export function formatIssuePath(prefix: string, path: readonly PropertyKey[]): string {
  let out = prefix;
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else if (typeof key === "symbol") out += `[${String(key)}]`;
    else if (IDENTIFIER.test(key)) out += out === "" ? key : `.${key}`;
    else out += `[${JSON.stringify(key)}]`;
  }
  return out;
}

/** Renders a received value briefly, so a message never dumps a whole document. */
function briefValue(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

/** Zod's English messages start with a generic label that adds nothing after a path. */
function cleanMessage(message: string): string {
  return message.replace(/^Invalid (input|option): /, "");
}

/**
 * Flattens a `ZodError` (any {@link SchemaError}) into one {@link IssueLine} per problem, paths prefixed by
 * `prefix`. An unknown key becomes its own line at the key's path, so typos are named
 * exactly. Parse with `{ reportInput: true }` to get the received value in messages about
 * enums and literals.
 *
 * @example
 * ```ts
 * import { z } from "npm:zod@4.6.7";
 * import { zodIssueLines } from "./zod_issues.ts";
 * const result = z.object({ ways: z.number() }).safeParse({ ways: "8" });
 * const [line] = zodIssueLines(result.error!, "options");
 * console.assert(line.path === "options.ways");
 * console.assert(line.message === "expected number, received string");
 * ```
 */
export function zodIssueLines(error: SchemaError, prefix: string): IssueLine[] {
  const lines: IssueLine[] = [];
  for (const issue of error.issues) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys ?? []) {
        lines.push({
          path: formatIssuePath(prefix, [...issue.path, key]),
          message: `unknown key ${JSON.stringify(key)}`,
        });
      }
      continue;
    }
    let message = cleanMessage(issue.message);
    const missing = "input" in issue
      ? issue.input === undefined
      : issue.code === "invalid_type" && message.endsWith("received undefined");
    if (missing) {
      message = `required, but missing (${message.replace(/, received undefined$/, "")})`;
    } else if (issue.code === "invalid_value" && "input" in issue) {
      message += `, received ${briefValue(issue.input)}`;
    }
    lines.push({ path: formatIssuePath(prefix, issue.path), message });
  }
  return lines;
}

/**
 * Formats a `ZodError` as `prefix.a[2].b: message` lines joined by newlines.
 *
 * @example
 * ```ts
 * import { z } from "npm:zod@4.6.7";
 * import { formatZodIssues } from "./zod_issues.ts";
 * const schema = z.object({ a: z.array(z.object({ b: z.string() })) });
 * const result = schema.safeParse({ a: [{ b: "x" }, { b: "y" }, { b: 3 }] });
 * const text = formatZodIssues(result.error!, "cfg");
 * console.assert(text === "cfg.a[2].b: expected string, received number");
 * ```
 */
export function formatZodIssues(error: SchemaError, prefix: string): string {
  return zodIssueLines(error, prefix).map((line) => `${line.path}: ${line.message}`).join("\n");
}
