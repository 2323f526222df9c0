// From the Authorization header to a verdict, with the caches: the verified-token cache first,
// then the shared key set (fetched on first use, refetched once per cooldown for an unknown kid);
// a token that passes is then looked up in its issuer's revocation set when the route has a feed.
// The only asynchronous part of the core; it still touches no Kong.

import type { Algorithm } from "./algorithms.js";
import { extractBearerToken } from "./bearer.js";
import { JwksCache, type JwksSource } from "./jwks-cache.js";
import { RouteRevocations, type RevocationFeeds, type RevocationMemo } from "./revocation-feed.js";
import type { TokenCache } from "./token-cache.js";
import {
  checkPreparedClaims,
  prepareClaims,
  verifyToken,
  type ScopeMatch,
  type ValidationOptions,
} from "./validate.js";
import type { Unavailable, Verdict } from "./verdict.js";

/** What a route checks, derived once per plugin instance from its configuration. */
export interface RouteOptions {
  readonly validation: ValidationOptions;
  readonly source: JwksSource;
  readonly sourceKey: string;
  /** The issuer's revocation set and this route's policy; undefined when the feed is off. */
  readonly revocations: RouteRevocations | undefined;
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
  /** The revocation feed is on when `revocation_client_id` is set. */
  readonly revocation_feed_url?: string | null;
  readonly revocation_client_id?: string | null;
  readonly revocation_client_secret?: string | null;
  readonly revocation_poll_seconds?: number;
  readonly revocation_max_stale_seconds?: number;
  readonly revocation_stale_action?: "accept" | "refuse";
}

/** The route's revocations: the shared poller of its feed (started now if idle) and its policy. */
function routeRevocations(config: RouteConfig, feeds: RevocationFeeds | undefined): RouteRevocations | undefined {
  const clientId = config.revocation_client_id;
  if (feeds === undefined || clientId === undefined || clientId === null) return undefined;
  const source = {
    issuer: config.issuer,
    feedUrl: config.revocation_feed_url ?? null,
    clientId,
    clientSecret: config.revocation_client_secret ?? "",
    pollSeconds: config.revocation_poll_seconds ?? 2,
  };
  return new RouteRevocations(feeds, source, {
    maxStaleSeconds: config.revocation_max_stale_seconds ?? 30,
    staleAction: config.revocation_stale_action ?? "accept",
  });
}

/**
 * A route's options, built once per plugin instance. With `feeds`, a configuration naming a
 * revocation client starts (or joins) the process-wide poller of its feed.
 */
export function routeOptions(config: RouteConfig, feeds?: RevocationFeeds): RouteOptions {
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
    revocations: routeRevocations(config, feeds),
  };
}

export interface AuthenticationDeps {
  readonly jwks: JwksCache;
  readonly tokens: TokenCache;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
  /** The process-wide revocation feed pollers; routes naming a feed need them. */
  readonly revocations?: RevocationFeeds;
}

const KEYS_UNAVAILABLE: Unavailable = {
  ok: false,
  status: 503,
  reason: "keys_unavailable",
  description: "the token signing keys are unavailable",
};

/** The exact prefix of a credential the synchronous fast path reads (RFC 6750 §2.1). */
const BEARER_PREFIX = "Bearer ";

/**
 * The verdict for a token verified before, without waiting: undefined when the token is not in
 * the cache or its cached verification cannot stand (then `authenticate` decides). A cached token
 * passed extractBearerToken once, so `Bearer <token>` with that very token is a well-formed
 * credential; any other spelling of the header is left to `authenticate`. Every hit still checks
 * that the verification came from this route's key set, with an algorithm this route allows, by a
 * key still published under its kid (the key set as last fetched; a stale one starts a background
 * refresh), then iss, aud, exp/nbf/iat with leeway, required claims and scopes against this route,
 * then the issuer's revocation set. While the first poll of the feed after a start is under way,
 * the verdict is left to `authenticate`, which waits for it.
 */
export function authenticateCached(
  authorization: string | readonly string[] | undefined,
  route: RouteOptions,
  deps: AuthenticationDeps,
): Verdict | Unavailable | undefined {
  if (typeof authorization !== "string" || !authorization.startsWith(BEARER_PREFIX)) return undefined;
  if (route.revocations?.starting !== undefined) return undefined;
  return cachedVerdict(authorization.slice(BEARER_PREFIX.length), route, deps, deps.now());
}

/** A verified token's verdict from the cache, or undefined when its cached verification cannot stand. */
function cachedVerdict(
  token: string,
  route: RouteOptions,
  deps: AuthenticationDeps,
  nowMs: number,
): Verdict | Unavailable | undefined {
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
  const verdict = revocationVerdict(
    checkPreparedClaims(prepared, verified.claims, nowMs / 1000),
    verified.kid,
    route,
    nowMs,
    cached,
  );
  deps.tokens.hits += 1;
  return verdict;
}

/**
 * A token that passed every other check, looked up in the revocation set (when the route has a
 * feed). A cached token remembers its last clean lookup in its cache entry (`memo`).
 */
function revocationVerdict(
  verdict: Verdict,
  kid: string,
  route: RouteOptions,
  nowMs: number,
  memo?: RevocationMemo,
): Verdict | Unavailable {
  if (!verdict.ok || route.revocations === undefined) return verdict;
  const { jti, sub, client_id: clientId, iat } = verdict.claims;
  return route.revocations.check(jti, sub, clientId, iat, kid, nowMs, memo) ?? verdict;
}

export async function authenticate(
  authorization: string | readonly string[] | undefined,
  route: RouteOptions,
  deps: AuthenticationDeps,
): Promise<Verdict | Unavailable> {
  const bearer = extractBearerToken(authorization);
  if (!bearer.ok) return bearer;
  const token = bearer.token;
  const { validation, source } = route;
  // The first poll of the feed after a start (bounded by one request timeout): the set is then
  // as fresh as it will be, and under `refuse` a request arriving at start is not refused for
  // want of a poll already under way.
  const starting = route.revocations?.starting;
  if (starting !== undefined) await starting;
  const nowMs = deps.now();

  // A token verified before: skip the signature, but only if it was verified against this route's
  // key set, with an algorithm this route allows, by a key still published under its kid.
  const cached = cachedVerdict(token, route, deps, nowMs);
  if (cached !== undefined) return cached;
  deps.tokens.misses += 1;

  const keys = await deps.jwks.getKeys(source);
  if (keys === undefined) {
    // Without keys, a token that is malformed anyway still gets its 401; only a well-formed one waits.
    const structural = verifyToken(token, validation.algorithms, new Map());
    if (!structural.ok && structural.reason !== "unknown_kid") return structural;
    return KEYS_UNAVAILABLE;
  }
  let verified = verifyToken(token, validation.algorithms, keys.keys);
  if (!verified.ok && verified.reason === "unknown_kid") {
    // Perhaps the authorization server rotated its keys and the cached key set predates the new one.
    const refreshed = await deps.jwks.refreshForUnknownKid(source, verified.kid);
    if (refreshed !== undefined && refreshed !== keys)
      verified = verifyToken(token, validation.algorithms, refreshed.keys);
  }
  if (!verified.ok) return verified;
  const prepared = prepareClaims(verified.claims, validation);
  deps.tokens.set(token, { verified, source: route.sourceKey, prepared }, nowMs);
  return revocationVerdict(checkPreparedClaims(prepared, verified.claims, nowMs / 1000), verified.kid, route, nowMs);
}
