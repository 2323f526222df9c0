/**
 * better-sqlite3 answers synchronously. Each SQLite store implements the synchronous form of its interface in
 * types.ts (every `Promise<R>` an `R`, nested stores included); index.ts wraps them into the asynchronous interfaces
 * behind one gate (gate.ts).
 */
export type Synchronous<S> = {
  [K in keyof S]: S[K] extends (...args: infer A) => Promise<infer R> ? (...args: A) => R : Synchronous<S[K]>;
};
