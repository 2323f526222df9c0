// A bounded LRU of tokens whose signature has been verified, so a client reusing its token costs
// no signature check. It caches only what depends on the token and the key set (the header
// essentials, the decoded claims, the key that verified it and which key set it came from); the
// caller still checks, per configuration and per request, that the key set is the route's, that
// the algorithm is in the route's allow-list, that the key is still published, and every claim
// (issuer, audience, time, scopes). An entry never outlives the token's `exp`.

import type { VerifiedToken } from "./validate.js";

export interface CachedVerification {
  readonly verified: VerifiedToken;
  /** JwksCache.keyOf of the key set that held the verifying key. */
  readonly source: string;
}

interface Entry extends CachedVerification {
  readonly expiresAtMs: number;
  readonly size: number;
}

export interface TokenCacheOptions {
  readonly maxEntries?: number;
  /** Bound on the summed length of the cached token strings (the keys dominate memory). */
  readonly maxChars?: number;
}

export class TokenCache {
  // A Map iterates in insertion order: re-inserting on use keeps the least recently used first.
  private readonly entries = new Map<string, Entry>();
  private chars = 0;
  private readonly maxEntries: number;
  private readonly maxChars: number;

  constructor(options: TokenCacheOptions = {}) {
    this.maxEntries = options.maxEntries ?? 10_000;
    this.maxChars = options.maxChars ?? 8 * 1024 * 1024;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The cached verification of `token`, if any and if the token has not expired by `nowMs`. */
  get(token: string, nowMs: number): CachedVerification | undefined {
    const entry = this.entries.get(token);
    if (entry === undefined) return undefined;
    this.entries.delete(token);
    if (nowMs >= entry.expiresAtMs) {
      this.chars -= entry.size;
      return undefined;
    }
    this.entries.set(token, entry);
    return entry;
  }

  /** Remembers a verified token until its `exp` (tokens without a usable exp are not cached). */
  set(token: string, value: CachedVerification, nowMs: number): void {
    const exp = value.verified.claims.exp;
    if (typeof exp !== "number" || !Number.isFinite(exp)) return;
    const expiresAtMs = exp * 1000;
    if (expiresAtMs <= nowMs || token.length > this.maxChars) return;
    const previous = this.entries.get(token);
    if (previous !== undefined) {
      this.entries.delete(token);
      this.chars -= previous.size;
    }
    this.entries.set(token, { ...value, expiresAtMs, size: token.length });
    this.chars += token.length;
    for (const [oldest, entry] of this.entries) {
      if (this.entries.size <= this.maxEntries && this.chars <= this.maxChars) break;
      this.entries.delete(oldest);
      this.chars -= entry.size;
    }
  }
}

/** The process-wide cache every plugin instance shares (entries are checked per configuration). */
export const sharedTokenCache = new TokenCache();
