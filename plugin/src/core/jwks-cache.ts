// The key sets of the authorization servers, cached per process and shared by every plugin
// instance (Kong starts one instance per route configuration and worker; they must not each
// fetch). Fetched on first use; fresh for jwks_cache_seconds or the key set response's own
// max-age, whichever is shorter; refreshed in the background before they go stale; one fetch at a
// time per key set (single-flight); at most one fetch per cooldown, whoever asks for it, so a
// token naming an unknown `kid` waits at most one cooldown for a key the key server has just
// published; when the key server is unreachable the last good keys keep working. No timers:
// refreshes ride on requests, so an idle gateway makes no calls.

import { freshnessLifetime } from "./cache-control.js";
import { describeError, discoverEndpoint, getJson, type JsonFetchOptions } from "./fetch-json.js";
import { parseJwks, type KeySet } from "./jwks.js";
import type { KeySetStats } from "./stats.js";

export { metadataUrl } from "./fetch-json.js";

/** Where a route's keys come from, and how long they count as fresh (the plugin configuration). */
export interface JwksSource {
  readonly issuer: string;
  /** null: discovered from the issuer's RFC 8414 metadata. */
  readonly jwksUri: string | null;
  readonly cacheSeconds: number;
  readonly minRefreshSeconds: number;
}

export interface JwksCacheOptions {
  /** Milliseconds since the epoch. */
  readonly now?: () => number;
  readonly fetch?: typeof fetch;
  /** Per HTTP request. */
  readonly timeoutMs?: number;
  /** Largest metadata or key set document accepted. */
  readonly maxBytes?: number;
  /** Told about each failed fetch round (default: one line on stderr, which Kong logs). */
  readonly onError?: (message: string) => void;
}

export interface JwksStats {
  /** Fetch rounds started (each: discovery when needed, then the key set). */
  readonly fetches: number;
  readonly fetchedAt: number | undefined;
  readonly lastError: string | undefined;
  readonly jwksUri: string | undefined;
}

interface Entry {
  readonly source: JwksSource;
  keys: KeySet | undefined;
  /** When the fetch round that brought the keys in use started (ms). */
  fetchedAt: number;
  /** How long the key server said those keys may be used (seconds, cache-control.ts); undefined: no bound. */
  maxAgeSeconds: number | undefined;
  /** When the last fetch round started (ms), successful or not. */
  lastAttemptAt: number;
  inflight: Promise<void> | undefined;
  lastError: string | undefined;
  jwksUri: string | undefined;
  fetches: number;
  /** Fetch rounds that brought keys, and rounds that failed. */
  fetchesOk: number;
  fetchesFailed: number;
  /**
   * A key was withdrawn since the last unknown-kid refetch: the next one may go ahead within the
   * cooldown, once (see revokeKeys).
   */
  unknownKidWaiver: boolean;
  /** Kids the issuer withdrew: a token naming one causes no refetch (its key is gone for good). */
  withdrawn: Set<string>;
}

/** Withdrawn kids remembered per key set. */
const MAX_WITHDRAWN_KIDS = 100;

/** Keys are refreshed once this share of their lifetime has passed, so requests never wait for it. */
const REFRESH_AHEAD = 0.8;

/** The keys of one fetch round, with the freshness lifetime their response announced. */
interface FetchedKeys {
  readonly keys: KeySet;
  readonly maxAgeSeconds: number | undefined;
}

/** The shortest interval between two fetch rounds of a key set for `source` (ms). */
const cooldownMs = (source: JwksSource): number => Math.min(source.minRefreshSeconds, source.cacheSeconds) * 1000;

/**
 * How long the keys of `entry` count as fresh for `source` (ms): jwks_cache_seconds, or the key
 * set response's own lifetime when shorter, so that a cached key set never outlives what the
 * authorization server announced — its key rotation delay is planned against that max-age. A
 * shorter lifetime than the cooldown (no-store, no-cache, max-age=0) counts as one cooldown: what
 * a key server says cannot turn every request into a fetch.
 */
function lifetimeMs(source: JwksSource, entry: Entry): number {
  const announced = Math.min(source.cacheSeconds * 1000, (entry.maxAgeSeconds ?? Number.POSITIVE_INFINITY) * 1000);
  return Math.max(announced, cooldownMs(source));
}

export class JwksCache {
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;
  private readonly http: JsonFetchOptions;
  private readonly onError: (message: string) => void;

  constructor(options: JwksCacheOptions = {}) {
    this.now = options.now ?? Date.now;
    this.http = {
      fetch: options.fetch ?? ((input, init) => fetch(input, init)),
      timeoutMs: options.timeoutMs ?? 5000,
      maxBytes: options.maxBytes ?? 512 * 1024,
    };
    this.onError = options.onError ?? ((message) => console.error(`[oauth2-jwt] key set fetch failed: ${message}`));
  }

  /** The cache key: one entry per key set URL, or per issuer whose metadata names it. */
  static keyOf(source: JwksSource): string {
    return source.jwksUri ?? `discover:${source.issuer}`;
  }

  /**
   * The keys at hand, without waiting; starts a background refresh when they near staleness.
   * Stale keys are still returned (the key server may be down; issued tokens stay verifiable).
   */
  cachedKeys(source: JwksSource, key: string = JwksCache.keyOf(source)): KeySet | undefined {
    const entry = this.entries.get(key);
    if (entry?.keys === undefined) return undefined;
    const now = this.now();
    const dueAt = entry.fetchedAt + lifetimeMs(source, entry) * REFRESH_AHEAD;
    // While the key server is down, retry at most once per cooldown rather than on every request.
    const retryAllowed = now - entry.lastAttemptAt >= cooldownMs(source);
    if (now >= dueAt && entry.inflight === undefined && retryAllowed) void this.startFetch(source, entry);
    return entry.keys;
  }

  /** The keys, fetching them on first use; undefined when none could ever be fetched. */
  async getKeys(source: JwksSource): Promise<KeySet | undefined> {
    const cached = this.cachedKeys(source);
    if (cached !== undefined) return cached;
    const entry = this.entryFor(source);
    if (entry.inflight === undefined) {
      // Never fetched successfully: after a failure, wait for the cooldown before trying again,
      // so that requests arriving while the key server is down do not each cause a fetch.
      if (this.now() - entry.lastAttemptAt < source.minRefreshSeconds * 1000) return undefined;
      void this.startFetch(source, entry);
    }
    await entry.inflight;
    return entry.keys;
  }

  /**
   * A token named a `kid` we do not have: maybe the key server rotated. Refetch unless a fetch
   * round started less than `minRefreshSeconds` ago, whoever started it (a flood of random kids
   * must not become a flood of fetches); join a fetch already under way. So a key published at T
   * is fetched by T + one cooldown however many random kids came first: the round that follows
   * the last one before T is allowed by then, and the first request after it starts or joins it.
   */
  async refreshForUnknownKid(source: JwksSource, kid?: string): Promise<KeySet | undefined> {
    const entry = this.entryFor(source);
    if (kid !== undefined && entry.withdrawn.has(kid)) return entry.keys;
    const cooledDown = this.now() - entry.lastAttemptAt >= source.minRefreshSeconds * 1000;
    if (entry.inflight === undefined && (cooledDown || entry.unknownKidWaiver)) {
      entry.unknownKidWaiver = false;
      void this.startFetch(source, entry);
    }
    if (entry.inflight !== undefined) await entry.inflight;
    return entry.keys;
  }

  /**
   * The issuer withdrew these signing keys (a `key` entry of its revocation feed): they leave every
   * key set of that issuer at once, and each such set is refetched at once, cooldown or not, so
   * the replacement key the authorization server activates with the withdrawal is known before
   * its first token arrives. That refetch may come before the key server publishes the replacement
   * (a server re-reads its keys on its own poll), so it does not hold back the next unknown-kid
   * refetch: one may follow within the cooldown. (Tokens signed by a withdrawn key are refused by
   * the revocation set whatever a key server still publishes.)
   */
  revokeKeys(issuer: string, kids: readonly string[]): void {
    for (const entry of this.entries.values()) {
      if (entry.source.issuer !== issuer || entry.keys === undefined) continue;
      const current = entry.keys.keys;
      if (!kids.some((kid) => current.has(kid))) continue;
      const kept = new Map([...current].filter(([kid]) => !kids.includes(kid)));
      entry.keys = { keys: kept, skipped: entry.keys.skipped };
      entry.unknownKidWaiver = true;
      // Bounded: withdrawals are rare, and a kid forgotten here only costs a refetch within the cooldown rules.
      if (entry.withdrawn.size >= MAX_WITHDRAWN_KIDS) entry.withdrawn.clear();
      for (const kid of kids) entry.withdrawn.add(kid);
      if (entry.inflight === undefined) void this.startFetch(entry.source, entry);
    }
  }

  stats(source: JwksSource): JwksStats {
    const entry = this.entries.get(JwksCache.keyOf(source));
    return {
      fetches: entry?.fetches ?? 0,
      fetchedAt: entry?.keys === undefined ? undefined : entry.fetchedAt,
      lastError: entry?.lastError,
      jwksUri: entry?.jwksUri,
    };
  }

  /** Every key set ever asked for, for the metrics: fetch rounds, age and freshness lifetime. */
  keySetStats(nowMs: number): KeySetStats[] {
    return [...this.entries.values()].map((entry) => ({
      issuer: entry.source.issuer,
      fetchesOk: entry.fetchesOk,
      fetchesFailed: entry.fetchesFailed,
      ageSeconds: entry.keys === undefined ? undefined : (nowMs - entry.fetchedAt) / 1000,
      maxAgeSeconds: lifetimeMs(entry.source, entry) / 1000,
    }));
  }

  private entryFor(source: JwksSource): Entry {
    const key = JwksCache.keyOf(source);
    let entry = this.entries.get(key);
    if (entry === undefined) {
      entry = {
        source,
        keys: undefined,
        fetchedAt: 0,
        maxAgeSeconds: undefined,
        lastAttemptAt: Number.NEGATIVE_INFINITY,
        inflight: undefined,
        lastError: undefined,
        jwksUri: source.jwksUri ?? undefined,
        fetches: 0,
        fetchesOk: 0,
        fetchesFailed: 0,
        unknownKidWaiver: false,
        withdrawn: new Set(),
      };
      this.entries.set(key, entry);
    }
    return entry;
  }

  /** Starts one fetch round; the promise never rejects (failures land in `lastError`). */
  private startFetch(source: JwksSource, entry: Entry): Promise<void> {
    const startedAt = this.now();
    entry.lastAttemptAt = startedAt;
    entry.fetches += 1;
    entry.inflight = this.fetchRound(source, entry)
      .then(
        (fetched) => {
          entry.keys = fetched.keys;
          // Freshness counts from the request, not the response (RFC 9111 §4.2.3, response_delay).
          entry.fetchedAt = startedAt;
          entry.maxAgeSeconds = fetched.maxAgeSeconds;
          entry.lastError = undefined;
          entry.fetchesOk += 1;
        },
        (error: unknown) => {
          // Keep the last good keys: tokens they verify stay valid while the key server is down.
          entry.lastError = describeError(error);
          entry.fetchesFailed += 1;
          this.onError(entry.lastError);
        },
      )
      .finally(() => {
        entry.inflight = undefined;
      });
    return entry.inflight;
  }

  private async fetchRound(source: JwksSource, entry: Entry): Promise<FetchedKeys> {
    const jwksUri = source.jwksUri ?? (await discoverEndpoint(source.issuer, "jwks_uri", this.http));
    entry.jwksUri = jwksUri;
    const { document, headers } = await getJson(jwksUri, this.http);
    const parsed = parseJwks(document, entry.keys);
    if ("error" in parsed) throw new Error(`${jwksUri}: ${parsed.error}`);
    if (parsed.keys.size === 0) throw new Error(`${jwksUri}: no usable key (${parsed.skipped.join("; ")})`);
    return { keys: parsed, maxAgeSeconds: freshnessLifetime(headers) };
  }
}

/** The process-wide cache every plugin instance shares. */
export const sharedJwksCache = new JwksCache();
