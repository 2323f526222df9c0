// The access-phase handler: one read of the request, one verdict, one place that responds.
// Every PDK call is a round trip to Kong (protocol doc, "Cost"): an allowed request costs
// get_headers + set_headers (+ HandleEvent) = 3, a refused one get_headers + exit = 2. Nothing is
// logged through kong.log (each call would be one more round trip), and nothing per request is
// kept on the instance: one instance serves all concurrent requests of its worker.

import { resolveConfig } from "./config.js";
import { authenticate, routeOptions, type AuthenticationDeps, type RouteOptions } from "./core/authenticate.js";
import { INTERNAL_ERROR_RESPONSE, refusalResponse, unavailableResponse, type ErrorResponse } from "./core/challenge.js";
import { sharedJwksCache } from "./core/jwks-cache.js";
import { sharedTokenCache } from "./core/token-cache.js";
import { refuse, type AccessTokenClaims } from "./core/verdict.js";
import { foldHeaderName, NONCE_HEADER, VERDICT_HEADER } from "./guard.js";
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
}

/** Well above Kong's default of 100, so a request padded with headers is not misread. */
export const MAX_HEADERS = 1000;
const TOO_MANY_HEADERS_RESPONSE = (realm: string): ErrorResponse =>
  refusalResponse(refuse(400, "malformed_header", "the request has too many headers", "invalid_request"), realm);
/** Seconds a client is told to wait when the key server could not be reached. */
const RETRY_AFTER_SECONDS = 5;

const DEFAULT_DEPS: AuthenticationDeps = { jwks: sharedJwksCache, tokens: sharedTokenCache, now: Date.now };

type RequestHeaders = ReadonlyMap<string, readonly string[]>;

/** Kong's header table (lower-case names; a string, or an array for a repeated header). */
function readHeaders(raw: unknown): RequestHeaders {
  const headers = new Map<string, string[]>();
  if (typeof raw !== "object" || raw === null) return headers;
  for (const [name, value] of Object.entries(raw)) {
    const values = typeof value === "string" ? [value] : Array.isArray(value) ? value.filter((v) => typeof v === "string") : [];
    const key = name.toLowerCase();
    headers.set(key, [...(headers.get(key) ?? []), ...values]);
  }
  return headers;
}

export class AccessHandler {
  private readonly route: { ok: true; config: PluginConfig; options: RouteOptions } | { ok: false; error: string };
  private readonly deps: AuthenticationDeps;

  constructor(rawConfig: unknown, deps: AuthenticationDeps = DEFAULT_DEPS) {
    const resolved = resolveConfig(rawConfig);
    this.route = resolved.ok ? { ok: true, config: resolved.config, options: routeOptions(resolved.config) } : resolved;
    this.deps = deps;
    if (!resolved.ok) console.error(`[oauth2-jwt] invalid configuration, every request will be refused: ${resolved.error}`);
  }

  async access(kong: KongPdk): Promise<void> {
    try {
      if (!this.route.ok) return await this.respond(kong, INTERNAL_ERROR_RESPONSE);
      const { config, options } = this.route;
      const headers = readHeaders(await kong.request.getHeaders(MAX_HEADERS));
      // Past the maximum, nginx returns only the first MAX_HEADERS lines: a spoofed identity
      // header could hide beyond them and escape the stripping below. Refuse such a request.
      let lines = 0;
      for (const values of headers.values()) lines += values.length;
      if (lines >= MAX_HEADERS) return await this.respond(kong, TOO_MANY_HEADERS_RESPONSE(config.realm));

      // A CORS preflight may pass without a token when configured (requirements item 26). Only a
      // request carrying Access-Control-Request-Method pays the extra round trip for the method.
      if (!config.run_on_preflight && headers.has("access-control-request-method")) {
        const method = await kong.request.getMethod();
        if (method === "OPTIONS") {
          await kong.service.request.setHeaders(upstreamHeaders(headers, config, undefined));
          return;
        }
      }

      const verdict = await authenticate(headers.get("authorization"), options, this.deps);
      if (!verdict.ok) {
        return await this.respond(
          kong,
          verdict.status === 503 ? unavailableResponse(verdict, RETRY_AFTER_SECONDS) : refusalResponse(verdict, config.realm),
        );
      }
      await kong.service.request.setHeaders(upstreamHeaders(headers, config, verdict.claims));
    } catch (error) {
      // Kong would proxy the request if this threw (fail-open): refuse instead.
      console.error(`[oauth2-jwt] unexpected error, request refused: ${error instanceof Error ? error.message : String(error)}`);
      return this.respond(kong, INTERNAL_ERROR_RESPONSE);
    }
  }

  /** The one place that responds. Kong ends the request on exit and never answers it. */
  private respond(kong: KongPdk, response: ErrorResponse): Promise<void> {
    return kong.response.exit(response.status, response.body, { ...response.headers }).then(() => undefined);
  }
}

/**
 * The single `set_headers` argument for a request that goes upstream: identity headers from the
 * claims (none for a passed preflight), the guard's verdict echoing its nonce, and `[]` — which
 * removes a header through Kong's PDK, where "" would not — for the nonce header, every
 * client-sent spelling of a protected header (`_` for `-`, any case: nginx runs with
 * underscores_in_headers on), and Authorization when hide_credentials is set (requirements item 24).
 */
export function upstreamHeaders(
  headers: RequestHeaders,
  config: PluginConfig,
  claims: AccessTokenClaims | undefined,
): Record<string, string | string[]> {
  const names = config.upstream_headers;
  const values = new Map<string, string | string[]>();
  values.set(names.subject, claims?.sub ?? []);
  values.set(names.client_id, claims?.client_id ?? []);
  // An empty scope list removes the header: Kong would turn "" into a single space.
  values.set(names.scope, claims !== undefined && claims.scope.length > 0 ? claims.scope.join(" ") : []);
  const nonce = headers.get(NONCE_HEADER.toLowerCase());
  // Exactly one nonce, as the pre-function sets it; anything else gets no verdict (the guard refuses).
  values.set(VERDICT_HEADER, nonce?.length === 1 ? nonce[0]! : []);
  values.set(NONCE_HEADER, []);
  if (config.hide_credentials) values.set("Authorization", []);

  const protectedNames = new Set<string>();
  const exactNames = new Set<string>();
  for (const name of values.keys()) {
    protectedNames.add(foldHeaderName(name));
    exactNames.add(name.toLowerCase());
  }
  const result = new Map<string, string | string[]>();
  for (const name of headers.keys()) {
    // Same name up to case: the canonical entry below replaces it. Other spellings go.
    if (protectedNames.has(foldHeaderName(name)) && !exactNames.has(name)) result.set(name, []);
  }
  for (const [name, value] of values) result.set(name, value);
  // Object.fromEntries defines own keys: assigning result["__proto__"] would have set the object's
  // prototype instead, silently dropping that header from the call (and a client's copy of it).
  return Object.fromEntries(result);
}
