/** placeholder */
export function runRpcStudy(_o: unknown): Promise<{ table: string }> {
  return Promise.resolve({ table: "" });
}
