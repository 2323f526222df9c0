// Timing helpers. The machine is shared and noisy, so candidates are measured in interleaved
// rounds (A B C, B C A, …) and compared by their median, and every loop is bounded in count.

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Percentile (0–100) of an ascending array, nearest-rank. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

/** Collects garbage when the process runs with --expose-gc, so a collection does not land inside a timed batch. */
export function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) gc();
}

export interface Candidate {
  name: string;
  /** Runs one batch for the given round and returns how many operations it performed. */
  batch: (round: number) => number | Promise<number>;
}

/**
 * Runs every candidate once per round in rotating order; returns the median ns per operation of
 * each. Round 0 is a warm-up (JIT, caches of the crypto library) and is not counted, so callers
 * must provide data for `rounds + 1` rounds.
 *
 * The cost is the process's CPU time (user + system, all threads: WebCrypto's work on libuv's
 * pool counts too), not wall time: on a shared machine a batch may be descheduled for
 * milliseconds, which is not the candidate's cost. Candidates run one operation at a time.
 */
export async function compareInterleaved(candidates: Candidate[], rounds: number): Promise<Map<string, number>> {
  const samples = new Map<string, number[]>(candidates.map((c) => [c.name, []]));
  for (let round = 0; round <= rounds; round++) {
    for (let k = 0; k < candidates.length; k++) {
      const candidate = candidates[(round + k) % candidates.length];
      collectGarbage();
      const start = process.cpuUsage();
      const ops = await candidate.batch(round);
      const used = process.cpuUsage(start);
      if (round > 0) samples.get(candidate.name)?.push(((used.user + used.system) * 1000) / ops);
    }
  }
  return new Map([...samples].map(([name, xs]) => [name, median(xs)]));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
