/**
 * `fn` over every item, at most `limit` at a time, results in the items' order. After one call fails no
 * new call starts (those running finish), and the first failure is thrown: a batch that has failed does
 * not go on writing behind its caller's back.
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (next < items.length && !failed) {
      const i = next++;
      try {
        out[i] = await fn(items[i]);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  const settled = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, worker));
  for (const s of settled) if (s.status === "rejected") throw s.reason;
  return out;
}
