// From the Authorization header to a verdict, with the caches: the verified-token cache first,
// then the shared key set (fetched on first use, refetched once per cooldown for an unknown kid).
// The only asynchronous part of the core; it still touches no Kong.

import type { Algorithm } from "./algorithms.js";
import { extractBearerToken } from "./bearer.js";
import { JwksCache, type JwksSource } from "./jwks-cache.js";
import type { TokenCache } from "./token-cache.js";
import {
  checkPreparedClaims,
  prepareClaims,
  verifyToken,
  type ScopeMatch,
  type ValidationOptions,
} from "./validate.js";
import type { Verdict } from "./verdict.js";

/** What a route checks, derived once per plugin instance from its configuration. */
export interface RouteOptions {
  readonly validation: ValidationOptions;
  readonly source: JwksSource;
  readonly sourceKey: string;
}

/**
 * The part of the plugin's configuration the core reads, in the configuration's own names
 * (Kong's schema, plugin/src/schema.ts, declares these fields and more).
 */
export interface RouteConfig {
  readonly issuer: string;
  readonly jwks_uri?: string | null;
  readonly audience: readonly string[];
  readonly scopes_required: readonly string[];
  readonly scope_match: ScopeMatch;
  readonly algorithms: readonly Algorithm[];
  readonly leeway_seconds: number;
  readonly jwks_cache_seconds: number;
  readonly jwks_min_refresh_seconds: number;
}

export function routeOptions(config: RouteConfig): RouteOptions {
  const source: JwksSource = {
    issuer: config.issuer,
    jwksUri: config.jwks_uri ?? null,
    cacheSeconds: config.jwks_cache_seconds,
    minRefreshSeconds: config.jwks_min_refresh_seconds,
  };
  return {
    validation: {
      issuer: config.issuer,
      audience: config.audience,
      algorithms: config.algorithms,
      leewaySeconds: config.leeway_seconds,
      scopesRequired: config.scopes_required,
      scopeMatch: config.scope_match,
    },
    source,
    sourceKey: JwksCache.keyOf(source),
  };
}

export interface AuthenticationDeps {
  readonly jwks: JwksCache;
  readonly tokens: TokenCache;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
}

/** The key server could not be reached and no keys were ever fetched: not the client's fault. */
export interface KeysUnavailable {
  readonly ok: false;
  readonly status: 503;
  readonly reason: "keys_unavailable";
  readonly description: string;
}

/** The exact prefix of a credential the synchronous fast path reads (RFC 6750 §2.1). */
const BEARER_PREFIX = "Bearer ";

/**
 * The verdict for a token verified before, without waiting: undefined when the token is not in
 * the cache or its cached verification cannot stand (then `authenticate` decides). A cached token
 * passed extractBearerToken once, so `Bearer <token>` with that very token is a well-formed
 * credential; any other spelling of the header is left to `authenticate`. Every hit still checks
 * that the verification came from this route's key set, with an algorithm this route allows, by a
 * key still published under its kid (the key set as last fetched; a stale one starts a background
 * refresh), then iss, aud, exp/nbf/iat with leeway, required claims and scopes against this route.
 */
export function authenticateCached(
  authorization: string | readonly string[] | undefined,
  route: RouteOptions,
  deps: AuthenticationDeps,
): Verdict | undefined {
  if (typeof authorization !== "string" || !authorization.startsWith(BEARER_PREFIX)) return undefined;
  return cachedVerdict(authorization.slice(BEARER_PREFIX.length), route, deps, deps.now());
}

/** A verified token's verdict from the cache, or undefined when its cached verification cannot stand. */
function cachedVerdict(
  token: string,
  route: RouteOptions,
  deps: AuthenticationDeps,
  nowMs: number,
): Verdict | undefined {
  const cached = deps.tokens.get(token, nowMs);
  if (cached === undefined || cached.source !== route.sourceKey) return undefined;
  const { verified } = cached;
  const { validation } = route;
  if (!validation.algorithms.includes(verified.alg)) return undefined;
  const keys = deps.jwks.cachedKeys(route.source, route.sourceKey);
  if (keys === undefined || keys.keys.get(verified.kid) !== verified.key) return undefined;
  let prepared = cached.prepared;
  if (prepared === undefined || prepared.options !== validation)
    cached.prepared = prepared = prepareClaims(verified.claims, validation);
  return checkPreparedClaims(prepared, verified.claims, nowMs / 1000);
}

export async function authenticate(
  authorization: string | readonly string[] | undefined,
  route: RouteOptions,
  deps: AuthenticationDeps,
): Promise<Verdict | KeysUnavailable> {
  const bearer = extractBearerToken(authorization);
  if (!bearer.ok) return bearer;
  const token = bearer.token;
  const { validation, source } = route;
  const nowMs = deps.now();

  // A token verified before: skip the signature, but only if it was verified against this route's
  // key set, with an algorithm this route allows, by a key still published under its kid.
  const cached = cachedVerdict(token, route, deps, nowMs);
  if (cached !== undefined) return cached;

  const keys = await deps.jwks.getKeys(source);
  if (keys === undefined) {
    // Without keys, a token that is malformed anyway still gets its 401; only a well-formed one waits.
    const structural = verifyToken(token, validation.algorithms, new Map());
    if (!structural.ok && structural.reason !== "unknown_kid") return structural;
    return {
      ok: false,
      status: 503,
      reason: "keys_unavailable",
      description: "the token signing keys are unavailable",
    };
  }
  let verified = verifyToken(token, validation.algorithms, keys.keys);
  if (!verified.ok && verified.reason === "unknown_kid") {
    // Perhaps the authorization server rotated its keys and the cached key set predates the new one.
    const refreshed = await deps.jwks.refreshForUnknownKid(source);
    if (refreshed !== undefined && refreshed !== keys)
      verified = verifyToken(token, validation.algorithms, refreshed.keys);
  }
  if (!verified.ok) return verified;
  const prepared = prepareClaims(verified.claims, validation);
  deps.tokens.set(token, { verified, source: route.sourceKey, prepared }, nowMs);
  return checkPreparedClaims(prepared, verified.claims, nowMs / 1000);
}
