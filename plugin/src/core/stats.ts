// What the plugin counts for its operator, as plain numbers: the handler adds one to a slot of a
// preallocated array per request (no allocation, no label object), and the plugin server's
// metrics listener (server/metrics.ts) reads them when scraped. Nothing here knows Prometheus.
//
// Every label value comes from a fixed list below or from the operator's configuration (the
// issuer): never from a token, a header or a path, so the number of series stays bounded.

import type { RefusalReason, Unavailable } from "./verdict.js";

/** What became of a request in the access phase. */
export const OUTCOMES = ["allowed", "refused", "unavailable", "error", "anonymous"] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** Every refusal reason of verdict.ts: a record, so that a reason added there fails to compile here. */
const REFUSAL_REASONS: Readonly<Record<RefusalReason, true>> = {
  no_token: true,
  malformed_header: true,
  token_too_large: true,
  not_jws: true,
  jwe: true,
  nested_jwt: true,
  unsupported_header: true,
  bad_typ: true,
  bad_alg: true,
  embedded_key: true,
  no_kid: true,
  unknown_kid: true,
  key_alg_mismatch: true,
  bad_signature: true,
  bad_payload: true,
  bad_iss: true,
  bad_aud: true,
  expired: true,
  not_yet_valid: true,
  issued_in_future: true,
  missing_claim: true,
  insufficient_scope: true,
  revoked: true,
  unidentified_claim: true,
  no_consumer: true,
};
const UNAVAILABLE_REASONS: Readonly<Record<Unavailable["reason"], true>> = {
  keys_unavailable: true,
  revocations_unavailable: true,
};

/**
 * Why: `none` for a verified token; `preflight` for a CORS preflight passed without a token;
 * `earlier_plugin` for a request another authentication plugin had already authenticated; a
 * refusal or unavailability reason of the core (verdict.ts) — for `anonymous`, the reason the
 * request did not count as authenticated; `invalid_configuration` or `exception` for `error` (500).
 */
export type VerdictReason =
  | "none"
  | "preflight"
  | "earlier_plugin"
  | RefusalReason
  | Unavailable["reason"]
  | "invalid_configuration"
  | "exception";

export const VERDICT_REASONS: readonly VerdictReason[] = [
  "none",
  "preflight",
  "earlier_plugin",
  ...(Object.keys(REFUSAL_REASONS) as RefusalReason[]),
  ...(Object.keys(UNAVAILABLE_REASONS) as Unavailable["reason"][]),
  "invalid_configuration",
  "exception",
];

const indexOf = <T extends string>(names: readonly T[]): Readonly<Record<T, number>> =>
  Object.freeze(Object.fromEntries(names.map((name, index) => [name, index])) as Record<T, number>);

const OUTCOME_INDEX = indexOf(OUTCOMES);
const REASON_INDEX = indexOf(VERDICT_REASONS);

/** One counter per outcome and reason, in one preallocated array. */
export class VerdictCounts {
  private readonly counts = new Float64Array(OUTCOMES.length * VERDICT_REASONS.length);

  add(outcome: Outcome, reason: VerdictReason): void {
    this.counts[OUTCOME_INDEX[outcome] * VERDICT_REASONS.length + REASON_INDEX[reason]] += 1;
  }

  get(outcome: Outcome, reason: VerdictReason): number {
    return this.counts[OUTCOME_INDEX[outcome] * VERDICT_REASONS.length + REASON_INDEX[reason]];
  }

  /** Calls `visit` for every pair counted at least once. */
  forEach(visit: (outcome: Outcome, reason: VerdictReason, count: number) => void): void {
    for (let o = 0; o < OUTCOMES.length; o++)
      for (let r = 0; r < VERDICT_REASONS.length; r++) {
        const count = this.counts[o * VERDICT_REASONS.length + r];
        if (count > 0) visit(OUTCOMES[o], VERDICT_REASONS[r], count);
      }
  }
}

/** One cached key set (core/jwks-cache.ts), as a scrape reads it. */
export interface KeySetStats {
  readonly issuer: string;
  readonly fetchesOk: number;
  readonly fetchesFailed: number;
  /** Seconds since the fetch round that brought the keys in use started; undefined: no keys yet. */
  readonly ageSeconds: number | undefined;
  /** How long those keys count as fresh (seconds). */
  readonly maxAgeSeconds: number;
}

/** One revocation feed poller (core/revocation-feed.ts), as a scrape reads it. */
export interface RevocationFeedStats {
  readonly issuer: string;
  readonly entries: number;
  /** Seconds since the start of the last good poll; undefined: none yet. */
  readonly ageSeconds: number | undefined;
  readonly pollsOk: number;
  readonly pollsFailed: number;
}

/** The figures read at scrape time from the process-wide caches the handler uses. */
export interface StatsSources {
  tokenCache(): { readonly entries: number; readonly hits: number; readonly misses: number };
  consumerCache(): { readonly hits: number; readonly misses: number };
  keySets(nowMs: number): readonly KeySetStats[];
  revocationFeeds(nowMs: number): readonly RevocationFeedStats[];
}

export class PluginStats {
  readonly verdicts = new VerdictCounts();
  /** Set by the handler module when it loads; undefined while no plugin of ours is loaded. */
  sources: StatsSources | undefined;
}

/**
 * The one set of counters of this process. The plugin server and the plugin it loads may come
 * from two copies of this package (a plugins directory of its own), each with its own module
 * instances: the counters are found through the global symbol registry, so both see the same.
 */
function processWide(): PluginStats {
  const holder = globalThis as Record<symbol, PluginStats | undefined>;
  return (holder[Symbol.for("oauth2-jwt.plugin-stats")] ??= new PluginStats());
}

export const pluginStats: PluginStats = processWide();
