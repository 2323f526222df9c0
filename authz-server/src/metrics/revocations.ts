/**
 * Revocation-feed entries appended by this process, by kind: process-wide, like the feed's writers (both storage
 * engines append through storage/revocation-feed.ts, whichever server or command opened them). Apart from
 * counters.ts so that the storage layer, which every CLI command loads, does not load the metrics library.
 */

/** The kinds of revocation-feed entries (docs/revocation-feed.md). */
export const revocationKinds = ["token", "user_client", "user", "client", "key"] as const;
export type RevocationKind = (typeof revocationKinds)[number];

const revocationIndex: ReadonlyMap<string, number> = new Map(revocationKinds.map((kind, index) => [kind, index]));

/** Indexed as revocationKinds. */
const revocationsAppended = new Float64Array(revocationKinds.length);

/** Counts one entry appended to the revocation feed (storage/revocation-feed.ts). */
export function countRevocation(kind: RevocationKind): void {
  const index = revocationIndex.get(kind);
  if (index !== undefined) revocationsAppended[index] = (revocationsAppended[index] ?? 0) + 1;
}

/** The entries appended so far by kind, in the order of revocationKinds. */
export const revocationCounts = (): Readonly<Float64Array> => revocationsAppended;
