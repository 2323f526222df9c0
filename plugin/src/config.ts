// Turns the configuration Kong hands to `new Plugin(config)` into the typed options the handler
// uses. Kong has already validated it against `Schema` and filled the defaults; this re-checks
// the shape anyway, because a wrong value here must refuse requests (fail closed), never let
// them through. It never throws: an invalid configuration becomes an error the handler answers
// with a 500 on every request.

import {
  DEFAULT_ALGORITHMS,
  DEFAULT_UPSTREAM_HEADERS,
  SUPPORTED_ALGORITHMS,
  type Algorithm,
  type PluginConfig,
} from "./schema.js";

export type ConfigResult = { ok: true; config: PluginConfig } | { ok: false; error: string };

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

const isAlgorithm = (value: string): value is Algorithm => (SUPPORTED_ALGORITHMS as readonly string[]).includes(value);

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === "https:" || url.protocol === "http:";
  } catch {
    return false;
  }
}

const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
const REALM = /^[^"\\\x00-\x1f\x7f]+$/;

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

  const scopesRequired = stringArray(raw.scopes_required ?? []);
  if (scopesRequired === undefined || !scopesRequired.every((s) => SCOPE_TOKEN.test(s))) {
    return fail("scopes_required", "must be a list of RFC 6749 §3.3 scope tokens");
  }

  const scopeMatch = raw.scope_match ?? "all";
  if (scopeMatch !== "all" && scopeMatch !== "any") return fail("scope_match", "must be `all` or `any`");

  const algorithmNames = stringArray(raw.algorithms ?? [...DEFAULT_ALGORITHMS]);
  if (algorithmNames === undefined || algorithmNames.length === 0) {
    return fail("algorithms", "must be a non-empty list");
  }
  const algorithms: Algorithm[] = [];
  for (const name of algorithmNames) {
    if (!isAlgorithm(name)) return fail("algorithms", `holds an unsupported algorithm: ${name}`);
    algorithms.push(name);
  }

  const integer = (key: string, fallback: number, min: number, max: number): number | undefined => {
    const value = raw[key] ?? fallback;
    return typeof value === "number" && Number.isInteger(value) && value >= min && value <= max ? value : undefined;
  };
  const leeway = integer("leeway_seconds", 30, 0, 300);
  if (leeway === undefined) return fail("leeway_seconds", "must be an integer between 0 and 300");
  const cacheSeconds = integer("jwks_cache_seconds", 300, 1, 86400);
  if (cacheSeconds === undefined) return fail("jwks_cache_seconds", "must be an integer between 1 and 86400");
  const minRefresh = integer("jwks_min_refresh_seconds", 10, 1, 3600);
  if (minRefresh === undefined) return fail("jwks_min_refresh_seconds", "must be an integer between 1 and 3600");

  const headersRaw = raw.upstream_headers ?? {};
  if (!isRecord(headersRaw)) return fail("upstream_headers", "must be a record");
  const upstreamHeaders = { ...DEFAULT_UPSTREAM_HEADERS } as { subject: string; scope: string; client_id: string };
  for (const key of ["subject", "scope", "client_id"] as const) {
    const value = headersRaw[key] ?? DEFAULT_UPSTREAM_HEADERS[key];
    if (typeof value !== "string" || !HEADER_NAME.test(value)) {
      return fail(`upstream_headers.${key}`, "must be an HTTP header name");
    }
    upstreamHeaders[key] = value;
  }

  const boolean = (key: string, fallback: boolean): boolean | undefined => {
    const value = raw[key] ?? fallback;
    return typeof value === "boolean" ? value : undefined;
  };
  const hideCredentials = boolean("hide_credentials", false);
  if (hideCredentials === undefined) return fail("hide_credentials", "must be a boolean");
  const runOnPreflight = boolean("run_on_preflight", true);
  if (runOnPreflight === undefined) return fail("run_on_preflight", "must be a boolean");

  const realm = raw.realm ?? "api";
  if (typeof realm !== "string" || !REALM.test(realm)) {
    return fail("realm", "must be a non-empty string without quotes, backslashes or control characters");
  }

  return {
    ok: true,
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
    },
  };
}
