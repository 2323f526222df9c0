// Turns the configuration Kong hands to `new Plugin(config)` into the typed options the handler
// uses. Kong has already validated it against `Schema` and filled the defaults; this re-checks
// the shape anyway, because a wrong value here must refuse requests (fail closed), never let
// them through. It never throws: an invalid configuration becomes an error the handler answers
// with a 500 on every request.

//
// Defaults and bounds are read from the schema's definition (plugin/src/schema.ts), never restated.

import { isAlgorithm, type Algorithm } from "./core/algorithms.js";
import { isConsumerHeader } from "./core/consumer-headers.js";
import { foldHeaderName } from "./guard/index.js";
import { isScopeToken } from "./core/scope.js";
import { DEFAULT_UPSTREAM_HEADERS, schemaField, type PluginConfig, type UpstreamHeaders } from "./schema.js";

/** A usable configuration may come with warnings, logged once when the plugin instance starts. */
export type ConfigResult =
  { ok: true; config: PluginConfig; warnings: readonly string[] } | { ok: false; error: string };

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** Lua's cjson encodes an empty table as `{}`: accept it as the empty array Kong meant. */
function stringArray(value: unknown): string[] | undefined {
  if (isRecord(value) && Object.keys(value).length === 0) return [];
  if (!Array.isArray(value)) return undefined;
  const result: string[] = [];
  for (const element of value) {
    if (typeof element !== "string") return undefined;
    result.push(element);
  }
  return result;
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === "https:" || url.protocol === "http:";
  } catch {
    return false;
  }
}

const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;
/** The schema's claim-name pattern (Lua `^[%w_%-%.:]+$`). */
const CLAIM_NAME = /^[A-Za-z0-9_\-.:]+$/;
/** Lua's `%c` (iscntrl in the C locale): the C0 controls and DEL. */
const isControl = (code: number): boolean => code < 0x20 || code === 0x7f;
/** The schema's realm pattern: no quote, backslash or control character, at least one character. */
function isRealm(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code === 0x22 || code === 0x5c || isControl(code)) return false;
  }
  return value.length > 0;
}

/** A field's value, or its schema default when Kong left it unset. */
const valueOrDefault = (raw: Record<string, unknown>, key: string): unknown => raw[key] ?? schemaField(key).default;

/** An integer field within its schema `between`: the value, or the error's wording. */
function integerField(raw: Record<string, unknown>, key: string): number | string {
  const [min, max] = schemaField(key).between ?? [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER];
  const value = valueOrDefault(raw, key);
  return typeof value === "number" && Number.isInteger(value) && value >= min && value <= max
    ? value
    : `must be an integer between ${String(min)} and ${String(max)}`;
}

/** A number field within its schema `between`: the value, or the error's wording. */
function numberField(raw: Record<string, unknown>, key: string): number | string {
  const [min, max] = schemaField(key).between ?? [0, Number.MAX_VALUE];
  const value = valueOrDefault(raw, key);
  return typeof value === "number" && value >= min && value <= max
    ? value
    : `must be a number between ${String(min)} and ${String(max)}`;
}

/** An optional string field: the value, null when unset, or undefined when it is not a string of 1–`max` characters. */
function optionalString(raw: Record<string, unknown>, key: string): string | null | undefined {
  const value = raw[key] ?? null;
  const max = schemaField(key).len_max ?? Number.MAX_SAFE_INTEGER;
  if (value === null) return null;
  return typeof value === "string" && value.length > 0 && value.length <= max ? value : undefined;
}

/** A claim-name field: the name, or undefined when it breaks the schema's pattern or length. */
function claimName(value: unknown, key: string): string | undefined {
  const max = schemaField(key).len_max ?? Number.MAX_SAFE_INTEGER;
  return typeof value === "string" && value.length <= max && CLAIM_NAME.test(value) ? value : undefined;
}

/** The fields that tell Kong who called (consumers, credentials, anonymous), or the error. */
function kongIdentityFields(
  raw: Record<string, unknown>,
  upstreamHeaders: UpstreamHeaders,
):
  | Pick<
      PluginConfig,
      | "authenticate_credential"
      | "credential_claim"
      | "consumer_claim"
      | "consumer_by"
      | "anonymous"
      | "consumer_cache_seconds"
    >
  | { key: string; why: string } {
  const authenticateCredential = valueOrDefault(raw, "authenticate_credential");
  if (typeof authenticateCredential !== "boolean") return { key: "authenticate_credential", why: "must be a boolean" };
  const credentialClaim = claimName(valueOrDefault(raw, "credential_claim"), "credential_claim");
  if (credentialClaim === undefined) return { key: "credential_claim", why: "must be a claim name" };
  const consumerClaimRaw = raw.consumer_claim ?? null;
  const consumerClaim = consumerClaimRaw === null ? null : claimName(consumerClaimRaw, "consumer_claim");
  if (consumerClaim === undefined) return { key: "consumer_claim", why: "must be a claim name or unset" };
  const consumerBy = valueOrDefault(raw, "consumer_by");
  if (consumerBy !== "username" && consumerBy !== "id")
    return { key: "consumer_by", why: "must be `username` or `id`" };
  const anonymous = optionalString(raw, "anonymous");
  if (anonymous === undefined) return { key: "anonymous", why: "must be a non-empty string or unset" };
  const cacheSeconds = integerField(raw, "consumer_cache_seconds");
  if (typeof cacheSeconds === "string") return { key: "consumer_cache_seconds", why: cacheSeconds };
  // The plugin then sets Kong's consumer headers itself, in the same set_headers call: an
  // identity header of the same name would race with them inside Kong.
  if (authenticateCredential || consumerClaim !== null || anonymous !== null) {
    for (const key of ["subject", "scope", "client_id"] as const) {
      if (isConsumerHeader(foldHeaderName(upstreamHeaders[key])))
        return {
          key: `upstream_headers.${key}`,
          why: "must not be one of Kong's consumer headers when the plugin tells Kong who called",
        };
    }
  }
  return {
    authenticate_credential: authenticateCredential,
    credential_claim: credentialClaim,
    consumer_claim: consumerClaim,
    consumer_by: consumerBy,
    anonymous,
    consumer_cache_seconds: cacheSeconds,
  };
}

/**
 * The reference a referenceable field held when Kong could not resolve it: Kong then hands the
 * plugin "" and keeps the reference under `$refs` (kong/db/schema/init.lua, resolve_reference).
 */
function unresolvedReference(raw: Record<string, unknown>, key: string): string | undefined {
  const references = raw["$refs"];
  if (raw[key] !== "" || !isRecord(references)) return undefined;
  const reference = references[key];
  return typeof reference === "string" ? reference : undefined;
}

/** Validates and completes a raw configuration object. */
export function resolveConfig(raw: unknown): ConfigResult {
  if (!isRecord(raw)) return { ok: false, error: "configuration is not an object" };
  const fail = (key: string, why: string): ConfigResult => ({ ok: false, error: `config.${key} ${why}` });

  const issuer = raw.issuer;
  if (typeof issuer !== "string" || !isHttpUrl(issuer)) return fail("issuer", "must be an http(s) URL");

  const jwksUri = raw.jwks_uri ?? null;
  if (jwksUri !== null && (typeof jwksUri !== "string" || !isHttpUrl(jwksUri))) {
    return fail("jwks_uri", "must be an http(s) URL or unset");
  }

  const audience = stringArray(raw.audience);
  if (audience === undefined || audience.length === 0 || audience.some((a) => a.length === 0)) {
    return fail("audience", "must be a non-empty list of non-empty strings");
  }

  const scopesRequired = stringArray(valueOrDefault(raw, "scopes_required"));
  if (scopesRequired === undefined || !scopesRequired.every(isScopeToken)) {
    return fail("scopes_required", "must be a list of RFC 6749 §3.3 scope tokens");
  }

  const scopeMatch = valueOrDefault(raw, "scope_match");
  if (scopeMatch !== "all" && scopeMatch !== "any") return fail("scope_match", "must be `all` or `any`");

  const algorithmNames = stringArray(valueOrDefault(raw, "algorithms"));
  if (algorithmNames === undefined || algorithmNames.length === 0) {
    return fail("algorithms", "must be a non-empty list");
  }
  const algorithms: Algorithm[] = [];
  for (const name of algorithmNames) {
    if (!isAlgorithm(name)) return fail("algorithms", `holds an unsupported algorithm: ${name}`);
    algorithms.push(name);
  }

  const leeway = integerField(raw, "leeway_seconds");
  if (typeof leeway === "string") return fail("leeway_seconds", leeway);
  const cacheSeconds = integerField(raw, "jwks_cache_seconds");
  if (typeof cacheSeconds === "string") return fail("jwks_cache_seconds", cacheSeconds);
  const minRefresh = integerField(raw, "jwks_min_refresh_seconds");
  if (typeof minRefresh === "string") return fail("jwks_min_refresh_seconds", minRefresh);

  const headersRaw = valueOrDefault(raw, "upstream_headers");
  if (!isRecord(headersRaw)) return fail("upstream_headers", "must be a record");
  const upstreamHeaders: UpstreamHeaders = { ...DEFAULT_UPSTREAM_HEADERS };
  for (const key of ["subject", "scope", "client_id"] as const) {
    const value = headersRaw[key] ?? DEFAULT_UPSTREAM_HEADERS[key];
    if (typeof value !== "string" || !HEADER_NAME.test(value)) {
      return fail(`upstream_headers.${key}`, "must be an HTTP header name");
    }
    upstreamHeaders[key] = value;
  }

  const hideCredentials = valueOrDefault(raw, "hide_credentials");
  if (typeof hideCredentials !== "boolean") return fail("hide_credentials", "must be a boolean");
  const runOnPreflight = valueOrDefault(raw, "run_on_preflight");
  if (typeof runOnPreflight !== "boolean") return fail("run_on_preflight", "must be a boolean");

  const realm = valueOrDefault(raw, "realm");
  if (typeof realm !== "string" || !isRealm(realm)) {
    return fail("realm", "must be a non-empty string without quotes, backslashes or control characters");
  }

  const revocationFeedUrl = raw.revocation_feed_url ?? null;
  if (revocationFeedUrl !== null && (typeof revocationFeedUrl !== "string" || !isHttpUrl(revocationFeedUrl))) {
    return fail("revocation_feed_url", "must be an http(s) URL or unset");
  }
  const staleAction = valueOrDefault(raw, "revocation_stale_action");
  if (staleAction !== "accept" && staleAction !== "refuse") {
    return fail("revocation_stale_action", "must be `accept` or `refuse`");
  }
  const warnings: string[] = [];
  let revocationClientId = optionalString(raw, "revocation_client_id");
  let revocationClientSecret = optionalString(raw, "revocation_client_secret");
  for (const key of ["revocation_client_id", "revocation_client_secret"] as const) {
    const reference = unresolvedReference(raw, key);
    if (reference === undefined) continue;
    // The feed's credential is out of reach, as an unreachable feed is: `accept` lets tokens through
    // unchecked against revocations, `refuse` refuses them (here: every request, 500).
    if (staleAction === "refuse")
      return fail(key, `holds the vault reference ${reference}, which Kong could not resolve`);
    warnings.push(
      `the revocation feed is off: Kong could not resolve the vault reference ${reference} of ${key} ` +
        "(revocation_stale_action accept: tokens are accepted as when the feed is unreachable)",
    );
    revocationClientId = null;
    revocationClientSecret = null;
  }
  if (revocationClientId === undefined) return fail("revocation_client_id", "must be a non-empty string or unset");
  if (revocationClientSecret === undefined || (revocationClientId !== null && revocationClientSecret === null)) {
    return fail("revocation_client_secret", "must be a non-empty string when revocation_client_id is set");
  }
  const pollSeconds = numberField(raw, "revocation_poll_seconds");
  if (typeof pollSeconds === "string") return fail("revocation_poll_seconds", pollSeconds);
  const maxStaleSeconds = numberField(raw, "revocation_max_stale_seconds");
  if (typeof maxStaleSeconds === "string") return fail("revocation_max_stale_seconds", maxStaleSeconds);
  // Staler than one interval between polls, the set would be out of date between every two polls.
  if (maxStaleSeconds < pollSeconds)
    return fail("revocation_max_stale_seconds", "must be at least revocation_poll_seconds");
  const identity = kongIdentityFields(raw, upstreamHeaders);
  if ("why" in identity) return fail(identity.key, identity.why);

  return {
    ok: true,
    warnings,
    config: {
      issuer,
      jwks_uri: jwksUri,
      audience,
      scopes_required: scopesRequired,
      scope_match: scopeMatch,
      algorithms,
      leeway_seconds: leeway,
      upstream_headers: upstreamHeaders,
      hide_credentials: hideCredentials,
      run_on_preflight: runOnPreflight,
      realm,
      jwks_cache_seconds: cacheSeconds,
      jwks_min_refresh_seconds: minRefresh,
      revocation_feed_url: revocationFeedUrl,
      revocation_client_id: revocationClientId,
      revocation_client_secret: revocationClientSecret,
      revocation_poll_seconds: pollSeconds,
      revocation_max_stale_seconds: maxStaleSeconds,
      revocation_stale_action: staleAction,
      ...identity,
    },
  };
}
