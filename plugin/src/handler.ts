// The access-phase handler: one read of the request, one verdict, one place that responds.
// Every PDK call is a round trip to Kong over the plugin-server socket: an allowed request costs
// get_headers + set_headers (+ HandleEvent) = 3, a refused one get_headers + exit = 2. Telling
// Kong who called costs calls only when configured: kong.client.authenticate per allowed request
// (authenticate_credential, consumer_claim, anonymous), kong.client.load_consumer per cache miss
// (consumer_claim, anonymous), kong.client.get_credential per request (anonymous). Nothing is
// logged through kong.log (each call would be one more round trip), and nothing per request is
// kept on the instance: one instance serves all concurrent requests of its worker.

import { resolveConfig } from "./config.js";
import {
  authenticate,
  authenticateCached,
  routeOptions,
  type AuthenticationDeps,
  type RouteOptions,
} from "./core/authenticate.js";
import { INTERNAL_ERROR_RESPONSE, refusalResponse, unavailableResponse, type ErrorResponse } from "./core/challenge.js";
import { sharedConsumerCache, type ConsumerCache } from "./core/consumer-cache.js";
import {
  CONSUMER_HEADERS,
  isConsumerHeader,
  KONG_CONSUMER_HEADERS,
  mayBeConsumerFamily,
} from "./core/consumer-headers.js";
import { sharedJwksCache } from "./core/jwks-cache.js";
import {
  anonymousLookup,
  asConsumer,
  claimValue,
  consumerLookup,
  isAuthenticated,
  matchingConsumer,
  noConsumer,
  unidentifiedClaim,
  type ConsumerBy,
  type ConsumerLookup,
  type KongConsumer,
  type KongCredential,
} from "./core/kong-identity.js";
import { RevocationFeeds } from "./core/revocation-feed.js";
import { pluginStats, type VerdictCounts } from "./core/stats.js";
import { sharedTokenCache } from "./core/token-cache.js";
import { refuse, type AccessTokenClaims, type Refusal, type Unavailable } from "./core/verdict.js";
import { foldHeaderName, NONCE_HEADER, VERDICT_HEADER } from "./guard/index.js";
import type { PluginConfig } from "./schema.js";

/** The part of Kong's PDK this plugin calls (kong-pdk maps camelCase to Kong's snake_case). */
export interface KongPdk {
  readonly request: {
    getHeaders(maxHeaders?: number): Promise<unknown>;
    getMethod(): Promise<unknown>;
  };
  readonly service: {
    readonly request: {
      setHeaders(headers: Record<string, string | string[]>): Promise<unknown>;
    };
  };
  readonly response: {
    exit(status: number, body?: string, headers?: Record<string, string>): Promise<unknown>;
  };
  readonly client: {
    getCredential(): Promise<unknown>;
    loadConsumer(id: string, byUsername: boolean): Promise<unknown>;
    authenticate(
      consumer: Readonly<Record<string, unknown>> | null,
      credential: KongCredential | null,
    ): Promise<unknown>;
  };
}

/** What the handler needs beyond the core's caches: the process-wide consumer lookups and verdict counts. */
export interface HandlerDeps extends AuthenticationDeps {
  readonly consumers?: ConsumerCache;
  readonly verdicts?: VerdictCounts;
}

/** Well above Kong's default of 100, so a request padded with headers is not misread. */
export const MAX_HEADERS = 1000;
const TOO_MANY_HEADERS_RESPONSE = (realm: string): ErrorResponse =>
  refusalResponse(refuse(400, "malformed_header", "the request has too many headers", "invalid_request"), realm);
/** Seconds a client is told to wait when the key server could not be reached. */
const RETRY_AFTER_SECONDS = 5;

/** The process-wide revocation feed pollers; a withdrawn signing key leaves the shared key sets at once. */
export const sharedRevocationFeeds = new RevocationFeeds({
  onKeysRevoked: (issuer, kids) => sharedJwksCache.revokeKeys(issuer, kids),
});

const DEFAULT_DEPS: HandlerDeps = {
  jwks: sharedJwksCache,
  tokens: sharedTokenCache,
  now: Date.now,
  revocations: sharedRevocationFeeds,
  consumers: sharedConsumerCache,
  verdicts: pluginStats.verdicts,
};

// What the plugin server's metrics listener reads when scraped (server/metrics.ts).
pluginStats.sources = {
  tokenCache: () => ({ entries: sharedTokenCache.size, hits: sharedTokenCache.hits, misses: sharedTokenCache.misses }),
  consumerCache: () => ({ hits: sharedConsumerCache.hits, misses: sharedConsumerCache.misses }),
  keySets: (nowMs) => sharedJwksCache.keySetStats(nowMs),
  revocationFeeds: (nowMs) => sharedRevocationFeeds.feedStats(nowMs),
};

/** How a route tells Kong who called; undefined when it does not (then it costs no PDK call). */
interface KongIdentity {
  readonly credentialClaim: string;
  readonly consumerClaim: string | null;
  readonly consumerBy: ConsumerBy;
  readonly anonymous: ConsumerLookup | undefined;
  readonly cacheSeconds: number;
  // The refusals, built once: a fixed description per claim.
  readonly unidentifiedCredential: Refusal;
  readonly unidentifiedConsumer: Refusal;
  readonly noConsumer: Refusal;
}

function kongIdentity(config: PluginConfig): KongIdentity | undefined {
  const { authenticate_credential: credential, consumer_claim: consumerClaim, anonymous } = config;
  if (!credential && consumerClaim === null && anonymous === null) return undefined;
  // With `anonymous` a valid token is authenticated too, as Kong's own plugins do in logical OR
  // (kong/plugins/jwt/handler.lua): a later authentication plugin then sees the request as
  // authenticated and leaves it alone instead of making it anonymous.
  return {
    credentialClaim: config.credential_claim,
    consumerClaim,
    consumerBy: config.consumer_by,
    anonymous: anonymous === null ? undefined : anonymousLookup(anonymous),
    cacheSeconds: config.consumer_cache_seconds,
    unidentifiedCredential: unidentifiedClaim(config.credential_claim),
    unidentifiedConsumer: unidentifiedClaim(consumerClaim ?? config.credential_claim),
    noConsumer: noConsumer(consumerClaim ?? config.credential_claim),
  };
}

/** Who Kong was told called: a credential (and its consumer), or the anonymous consumer (no credential). */
interface Caller {
  readonly ok: true;
  readonly consumer: KongConsumer | undefined;
  readonly credential: KongCredential | undefined;
}

/** What the handler needs from Kong's header table, read in one pass (see scanHeaders). */
interface ScannedHeaders {
  /** Header lines, counting each value of a repeated header. */
  lines: number;
  /** The Authorization value(s): one string, or one per line when repeated. */
  authorization: string | string[] | undefined;
  /** The nonce values the guard's pre-function set (exactly one when all is well). */
  nonces: number;
  nonce: string | undefined;
  /** Access-Control-Request-Method is present (a CORS preflight, if the method is OPTIONS). */
  preflight: boolean;
  /** Lower-cased names of client-sent spellings of protected headers and Kong's consumer headers, to remove. */
  spoofed: string[] | undefined;
}

// What a header name means to the handler (bit flags; a name may be several at once).
const IS_AUTHORIZATION = 1;
const IS_NONCE = 2;
const IS_PREFLIGHT = 4;
const IS_SPOOFED = 8;
/** Bound on the per-instance memo of header-name decisions: header names are client-chosen. */
const NAME_MEMO_LIMIT = 512;
const NONCE_NAME = NONCE_HEADER.toLowerCase();

/** String values of a header as Kong gives them (a string, or an array for a repeated header). */
function stringValues(value: unknown): string[] {
  return typeof value === "string"
    ? [value]
    : Array.isArray(value)
      ? value.filter((v): v is string => typeof v === "string")
      : [];
}

function countStrings(values: readonly unknown[]): number {
  let count = 0;
  for (const value of values) if (typeof value === "string") count += 1;
  return count;
}

/**
 * The protected header names of one configuration, with a memo of what each incoming header name
 * means. Folding a name (lower case, `_` as `-`) allocates; most names are ruled out by their
 * length alone (a name whose lower-case form is ASCII has that form's length: no character
 * lower-cases to fewer or more ASCII characters) or, for the open-ended `X-Consumer-` family, by
 * their first letter; the rest are decided once.
 */
class HeaderNames {
  /** The canonical names set on every allowed request, in the order they are assigned. */
  readonly subject: string;
  readonly clientId: string;
  readonly scope: string;
  readonly hideCredentials: boolean;
  /** The call sets Kong's consumer headers itself (each to a value, or [] to remove it). */
  readonly consumerHeaders: boolean;
  private readonly folded: ReadonlySet<string>;
  private readonly exact: ReadonlySet<string>;
  /** relevantLength[n]: some name of length n may mean something (the rest are ignored at once). */
  private readonly relevantLength: readonly boolean[];
  private readonly memo = new Map<string, number>();

  constructor(config: PluginConfig, consumerHeaders: boolean) {
    const names = config.upstream_headers;
    this.subject = names.subject;
    this.clientId = names.client_id;
    this.scope = names.scope;
    this.hideCredentials = config.hide_credentials;
    this.consumerHeaders = consumerHeaders;
    const canonical = [names.subject, names.client_id, names.scope, VERDICT_HEADER, NONCE_HEADER];
    if (config.hide_credentials) canonical.push("Authorization");
    // Set in the same call: a client's spelling equal up to case is replaced by that entry, and
    // must not be listed for removal beside it (the two would race inside Kong's pairs()).
    if (consumerHeaders) canonical.push(...KONG_CONSUMER_HEADERS);
    this.folded = new Set(canonical.map(foldHeaderName));
    this.exact = new Set(canonical.map((name) => name.toLowerCase()));
    const relevant: boolean[] = [];
    for (const name of [...canonical, ...CONSUMER_HEADERS, "authorization", "access-control-request-method"])
      relevant[name.length] = true;
    this.relevantLength = relevant;
  }

  meaning(name: string): number {
    if (!this.relevantLength[name.length] && !mayBeConsumerFamily(name)) return 0;
    let meaning = this.memo.get(name);
    if (meaning === undefined) {
      const lower = name.toLowerCase();
      meaning =
        (lower === "authorization" ? IS_AUTHORIZATION : 0) |
        (lower === NONCE_NAME ? IS_NONCE : 0) |
        (lower === "access-control-request-method" ? IS_PREFLIGHT : 0) |
        (this.spoofed(lower) ? IS_SPOOFED : 0);
      if (this.memo.size >= NAME_MEMO_LIMIT) this.memo.clear();
      this.memo.set(name, meaning);
    }
    return meaning;
  }

  /**
   * A client-sent header to remove: a spelling of a name this plugin sets, or one of Kong's
   * consumer headers. The canonical names themselves, up to case, are left out: their entry in
   * the same `set_headers` call replaces them.
   */
  private spoofed(lower: string): boolean {
    if (this.exact.has(lower)) return false;
    const folded = foldHeaderName(lower);
    return this.folded.has(folded) || isConsumerHeader(folded);
  }

  /** Kong's header table (lower-case names; a string, or an array for a repeated header), in one pass. */
  scan(raw: unknown): ScannedHeaders {
    const scanned: ScannedHeaders = {
      lines: 0,
      authorization: undefined,
      nonces: 0,
      nonce: undefined,
      preflight: false,
      spoofed: undefined,
    };
    if (typeof raw !== "object" || raw === null) return scanned;
    const table = raw as Record<string, unknown>;
    for (const name of Object.keys(table)) {
      // Through the plugin server every value is an array (Kong answers get_headers with
      // StepMultiMap); a plain string is accepted too. Read without copying.
      const value = table[name];
      const count = typeof value === "string" ? 1 : Array.isArray(value) ? countStrings(value) : 0;
      scanned.lines += count;
      const meaning = this.meaning(name);
      if (meaning === 0) continue;
      // The one string of a single-line header (extractBearerToken reads ["x"] exactly as "x").
      const single =
        typeof value === "string"
          ? value
          : count === 1 && (value as unknown[]).length === 1
            ? ((value as unknown[])[0] as string)
            : undefined;
      if ((meaning & IS_AUTHORIZATION) !== 0) {
        // Kong gives lower-case names; should two spellings arrive anyway, their values add up.
        const values = single !== undefined && scanned.authorization === undefined ? single : stringValues(value);
        scanned.authorization =
          scanned.authorization === undefined
            ? values
            : [...stringValues(scanned.authorization), ...stringValues(values)];
      }
      if ((meaning & IS_NONCE) !== 0) {
        scanned.nonces += count;
        scanned.nonce ??= single ?? stringValues(value)[0];
      }
      if ((meaning & IS_PREFLIGHT) !== 0) scanned.preflight = true;
      if ((meaning & IS_SPOOFED) !== 0) (scanned.spoofed ??= []).push(name.toLowerCase());
    }
    return scanned;
  }
}

export class AccessHandler {
  private readonly route:
    | {
        ok: true;
        config: PluginConfig;
        options: RouteOptions;
        names: HeaderNames;
        identity: KongIdentity | undefined;
      }
    | { ok: false; error: string };
  private readonly deps: AuthenticationDeps;
  private readonly consumers: ConsumerCache;
  private readonly verdicts: VerdictCounts;

  constructor(rawConfig: unknown, deps: HandlerDeps = DEFAULT_DEPS) {
    const resolved = resolveConfig(rawConfig);
    const identity = resolved.ok ? kongIdentity(resolved.config) : undefined;
    this.route = resolved.ok
      ? {
          ok: true,
          config: resolved.config,
          options: routeOptions(resolved.config, deps.revocations),
          names: new HeaderNames(resolved.config, identity !== undefined),
          identity,
        }
      : resolved;
    this.deps = deps;
    this.consumers = deps.consumers ?? sharedConsumerCache;
    this.verdicts = deps.verdicts ?? pluginStats.verdicts;
    if (!resolved.ok)
      console.error(`[oauth2-jwt] invalid configuration, every request will be refused: ${resolved.error}`);
    else for (const warning of resolved.warnings) console.error(`[oauth2-jwt] ${warning}`);
  }

  async access(kong: KongPdk): Promise<void> {
    try {
      if (!this.route.ok) {
        await this.respond(kong, INTERNAL_ERROR_RESPONSE);
        this.verdicts.add("error", "invalid_configuration");
        return;
      }
      const { config, options, names, identity } = this.route;
      const headers = names.scan(await kong.request.getHeaders(MAX_HEADERS));
      // Past the maximum, nginx returns only the first MAX_HEADERS lines: a spoofed identity
      // header could hide beyond them and escape the stripping below. Refuse such a request.
      if (headers.lines >= MAX_HEADERS) {
        await this.respond(kong, TOO_MANY_HEADERS_RESPONSE(config.realm));
        this.verdicts.add("refused", "malformed_header");
        return;
      }

      // A CORS preflight may pass without a token when configured, as in Kong's own auth plugins.
      // Only a request carrying Access-Control-Request-Method pays the extra round trip for the method.
      if (!config.run_on_preflight && headers.preflight) {
        const method = await kong.request.getMethod();
        if (method === "OPTIONS") {
          await kong.service.request.setHeaders(upstreamHeaders(headers, names, undefined));
          this.verdicts.add("allowed", "preflight");
          return;
        }
      }

      // Logical OR, as Kong's own authentication plugins with `anonymous`: a request an earlier
      // plugin authenticated is left to it (kong/plugins/jwt/handler.lua).
      if (identity?.anonymous !== undefined && isAuthenticated(await kong.client.getCredential())) {
        await kong.service.request.setHeaders(verdictHeaders(headers));
        this.verdicts.add("allowed", "earlier_plugin");
        return;
      }

      // A repeated token is decided without waiting (no promise on that path); otherwise the key
      // set may have to be fetched.
      const verdict =
        authenticateCached(headers.authorization, options, this.deps) ??
        (await authenticate(headers.authorization, options, this.deps));
      let refusal: Refusal | Unavailable;
      if (verdict.ok) {
        const caller = identity === undefined ? undefined : await this.identify(kong, verdict.claims, identity);
        if (caller === undefined || caller.ok) {
          if (caller !== undefined)
            await kong.client.authenticate(caller.consumer?.entity ?? null, caller.credential ?? null);
          await kong.service.request.setHeaders(upstreamHeaders(headers, names, verdict.claims, caller));
          this.verdicts.add("allowed", "none");
          return;
        }
        refusal = caller;
      } else refusal = verdict;
      // No token, or one refused 400/401, proceeds as the anonymous consumer; a token lacking the
      // route's scope (403) or a verdict that cannot be reached (503) does not.
      if (identity?.anonymous !== undefined && refusal.status !== 403 && refusal.status !== 503) {
        await this.passAnonymous(kong, headers, names, identity, identity.anonymous);
        this.verdicts.add("anonymous", refusal.reason);
        return;
      }
      await this.respond(
        kong,
        refusal.status === 503
          ? unavailableResponse(refusal, RETRY_AFTER_SECONDS)
          : refusalResponse(refusal, config.realm),
      );
      this.verdicts.add(refusal.status === 503 ? "unavailable" : "refused", refusal.reason);
    } catch (error) {
      // Kong would proxy the request if this threw (fail-open): refuse instead.
      console.error(
        `[oauth2-jwt] unexpected error, request refused: ${error instanceof Error ? error.message : String(error)}`,
      );
      this.verdicts.add("error", "exception");
      return this.respond(kong, INTERNAL_ERROR_RESPONSE);
    }
  }

  /**
   * The credential and consumer a valid token names (kong.client.load_consumer on a cache miss),
   * or the 401 invalid_token when it names none.
   */
  private async identify(kong: KongPdk, claims: AccessTokenClaims, identity: KongIdentity): Promise<Caller | Refusal> {
    const id = claimValue(claims.raw, identity.credentialClaim);
    if (id === undefined) return identity.unidentifiedCredential;
    if (identity.consumerClaim === null) return { ok: true, consumer: undefined, credential: { id } };
    const name = claimValue(claims.raw, identity.consumerClaim);
    if (name === undefined) return identity.unidentifiedConsumer;
    const lookup = consumerLookup(name, identity.consumerBy);
    const consumer =
      lookup === undefined ? undefined : matchingConsumer(await this.loadConsumer(kong, lookup, identity), lookup);
    if (consumer === undefined) return identity.noConsumer;
    return { ok: true, consumer, credential: { id, consumer_id: consumer.id } };
  }

  /** As Kong's own plugins: the anonymous consumer must exist, else the route is misconfigured (500). */
  private async passAnonymous(
    kong: KongPdk,
    headers: ScannedHeaders,
    names: HeaderNames,
    identity: KongIdentity,
    lookup: ConsumerLookup,
  ): Promise<void> {
    const consumer = await this.loadConsumer(kong, lookup, identity);
    if (consumer === undefined) throw new Error(`the anonymous consumer ${JSON.stringify(lookup.id)} was not found`);
    await kong.client.authenticate(consumer.entity, null);
    const caller: Caller = { ok: true, consumer, credential: undefined };
    await kong.service.request.setHeaders(upstreamHeaders(headers, names, undefined, caller));
  }

  /** Kong's answer to a lookup, from the process-wide cache or one load_consumer call. */
  private async loadConsumer(
    kong: KongPdk,
    lookup: ConsumerLookup,
    identity: KongIdentity,
  ): Promise<KongConsumer | undefined> {
    const cached = this.consumers.get(lookup.key, this.deps.now());
    if (cached !== undefined) return cached.consumer;
    // A rejected call (Kong answered an error) propagates: the request is refused 500, never passed.
    const consumer = asConsumer(await kong.client.loadConsumer(lookup.id, lookup.byUsername));
    this.consumers.set(lookup.key, consumer, identity.cacheSeconds, this.deps.now());
    return consumer;
  }

  /** The one place that responds. Kong ends the request on exit and never answers it. */
  private respond(kong: KongPdk, response: ErrorResponse): Promise<void> {
    return kong.response.exit(response.status, response.body, { ...response.headers }).then(() => undefined);
  }
}

/**
 * Sets an own property even for the name `__proto__`, where plain assignment would set the
 * object's prototype instead, silently dropping that header from the call (and a client's copy of it).
 */
function put(target: Record<string, string | string[]>, name: string, value: string | string[]): void {
  if (name === "__proto__")
    Object.defineProperty(target, name, { value, enumerable: true, writable: true, configurable: true });
  else target[name] = value;
}

/**
 * The single `set_headers` argument for a request that goes upstream: identity headers from the
 * claims (none for a passed preflight), the guard's verdict echoing its nonce, and `[]` — which
 * removes a header through Kong's PDK, where "" would not — for the nonce header, every
 * client-sent spelling of a protected header (`_` for `-`, any case: nginx runs with
 * underscores_in_headers on), every client-sent consumer header of Kong's (core/consumer-headers.ts),
 * and Authorization when hide_credentials is set.
 */
function upstreamHeaders(
  headers: ScannedHeaders,
  names: HeaderNames,
  claims: AccessTokenClaims | undefined,
  caller?: Caller,
): Record<string, string | string[]> {
  const result: Record<string, string | string[]> = {};
  // A spoofed spelling differs from every canonical name even up to case, so no entry below overwrites it.
  if (headers.spoofed !== undefined) for (const name of headers.spoofed) put(result, name, []);
  put(result, names.subject, claims?.sub ?? []);
  put(result, names.clientId, claims?.client_id ?? []);
  // An empty scope list removes the header: Kong would turn "" into a single space.
  put(result, names.scope, claims !== undefined && claims.scope.length > 0 ? claims.scope.join(" ") : []);
  // Exactly one nonce, as the pre-function sets it; anything else gets no verdict (the guard refuses).
  put(result, VERDICT_HEADER, headers.nonces === 1 && headers.nonce !== undefined ? headers.nonce : []);
  put(result, NONCE_HEADER, []);
  if (names.hideCredentials) put(result, "Authorization", []);
  // Kong's consumer headers as its own authentication plugins set them (jwt/handler.lua
  // `set_consumer`): each consumer field, or [] when there is none.
  if (names.consumerHeaders) {
    const consumer = caller?.consumer;
    put(result, "X-Consumer-ID", consumer?.id ?? []);
    put(result, "X-Consumer-Custom-ID", consumer?.customId ?? []);
    put(result, "X-Consumer-Username", consumer?.username ?? []);
    put(result, "X-Credential-Identifier", caller?.credential?.id ?? []);
    // As set_consumer: a consumer without a credential is the anonymous one.
    put(result, "X-Anonymous-Consumer", caller !== undefined && caller.credential === undefined ? "true" : []);
  }
  return result;
}

const VERDICT_FOLDED = foldHeaderName(VERDICT_HEADER);
const NONCE_FOLDED = foldHeaderName(NONCE_HEADER);

/**
 * The `set_headers` argument for a request an earlier plugin authenticated: only the guard's
 * verdict and nonce (and client-sent spellings of them); identity and consumer headers are that
 * plugin's.
 */
function verdictHeaders(headers: ScannedHeaders): Record<string, string | string[]> {
  const result: Record<string, string | string[]> = {};
  for (const name of headers.spoofed ?? []) {
    const folded = foldHeaderName(name);
    if (folded === VERDICT_FOLDED || folded === NONCE_FOLDED) put(result, name, []);
  }
  put(result, VERDICT_HEADER, headers.nonces === 1 && headers.nonce !== undefined ? headers.nonce : []);
  put(result, NONCE_HEADER, []);
  return result;
}
