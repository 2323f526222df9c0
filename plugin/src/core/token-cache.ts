// A bounded LRU of tokens whose signature has been verified, so a client reusing its token costs
// no signature check. It caches only what depends on the token and the key set (the header
// essentials, the decoded claims, the key that verified it and which key set it came from); the
// caller still checks, per configuration and per request, that the key set is the route's, that
// the algorithm is in the route's allow-list, that the key is still published, and every claim
// (issuer, audience, time, scopes). An entry never outlives the token's `exp`.
//
// Keyed by the exact token string, signature included, and by nothing derived from it (not the
// jti, not the header and payload): a verdict stands only for the bytes whose signature was
// checked. A token may have another spelling that verifies too — an ECDSA (r, n − s), which
// RFC 7518 §3.4 does not forbid — and that spelling is verified and cached on its own.

import type { RevocationMemo } from "./revocation-feed.js";
import type { PreparedClaims, VerifiedToken } from "./validate.js";

export interface CachedVerification extends RevocationMemo {
  readonly verified: VerifiedToken;
  /** JwksCache.keyOf of the key set that held the verifying key. */
  readonly source: string;
  /**
   * The time-free claim checks for the last route that presented this token (validate.ts,
   * prepareClaims), kept by the caller; it checks `prepared.options` is its own before use.
   */
  prepared?: PreparedClaims | undefined;
}

interface Entry extends CachedVerification {
  readonly expiresAtMs: number;
  readonly size: number;
  /** The value of `moves` when this entry was last put at the recent end. */
  movedAt: number;
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
  /** Counts insertions and moves to the recent end. */
  private moves = 0;
  private readonly maxEntries: number;
  private readonly maxChars: number;
  /**
   * Requests whose verdict came from a cached verification, and requests whose bearer token was
   * not in the cache and so was checked in full (core/authenticate.ts counts them per request: one
   * request may look its token up twice).
   */
  hits = 0;
  misses = 0;

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
    if (nowMs >= entry.expiresAtMs) {
      this.entries.delete(token);
      this.chars -= entry.size;
      return undefined;
    }
    // Approximate LRU: an entry is moved to the recent end only once fewer than half the entries'
    // worth of insertions and moves separate it from it. A hot token so costs no delete and
    // re-insert per hit; one not moved lately still is. (Should eviction by size reach a hot entry
    // anyway, the cost is one more signature check.)
    if (this.moves - entry.movedAt > this.maxEntries >>> 1) {
      this.entries.delete(token);
      this.entries.set(token, entry);
      entry.movedAt = ++this.moves;
    }
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
    this.entries.set(token, {
      verified: value.verified,
      source: value.source,
      prepared: value.prepared,
      expiresAtMs,
      size: token.length,
      movedAt: ++this.moves,
    });
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
