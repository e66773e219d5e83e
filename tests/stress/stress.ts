/**
 * Repetition for the stress tests: each runs its race `stressIterations()` times (a few in
 * the default suite; `deno task stress` sets `LEGOEMU_STRESS_ITERATIONS`, 200 by default)
 * and stops at the first failing iteration, naming it.
 *
 * @module
 */

/** Iterations each stress test runs: `LEGOEMU_STRESS_ITERATIONS`, else 3. */
export function stressIterations(): number {
  const raw = Deno.env.get("LEGOEMU_STRESS_ITERATIONS");
  if (raw === undefined || raw === "") return 3;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new Error(`LEGOEMU_STRESS_ITERATIONS must be a positive integer, got ${raw}`);
  }
  return n;
}

/**
 * Runs `body(i)` for every iteration; a failure is rethrown with its iteration. With
 * `LEGOEMU_STRESS_PROGRESS=1` (set by `deno task stress`) prints one line per tenth.
 */
export async function repeat(name: string, body: (i: number) => Promise<void>): Promise<void> {
  const n = stressIterations();
  const progress = Deno.env.get("LEGOEMU_STRESS_PROGRESS") === "1";
  const step = Math.max(1, Math.floor(n / 10));
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    try {
      await body(i);
    } catch (e) {
      const error = e as Error;
      error.message = `${name}: iteration ${i + 1} of ${n} failed: ${error.message}`;
      throw error;
    }
    if (progress && ((i + 1) % step === 0 || i + 1 === n)) {
      const s = ((performance.now() - started) / 1000).toFixed(1);
      console.error(`[stress] ${name}: ${i + 1}/${n} passed (${s} s)`);
    }
  }
}
