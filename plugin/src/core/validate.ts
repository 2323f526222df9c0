// The pure validation core: RFC 9068 §4 access-token validation with the RFC 8725 rules, in the
// order of its numbered steps below — JWS (not JWE, not nested), `typ`, `alg` in the
// allow-list, `kid` in the configured key set only, signature, `iss`, `aud`, `exp`, `nbf`/`iat`,
// then scopes. No Kong, no I/O, no clock of its own; it never throws on any input.
//
// It is split in two so that the verified-token cache can skip only the expensive half:
// `verifyToken` (structure, header, key, signature: depends on the token and the key set) and
// `prepareClaims` + `checkPreparedClaims` (issuer, audience, time, scopes: depends on the route's
// configuration and now; only the time checks are repeated for a cached token).

import type { Algorithm } from "./algorithms.js";
import { MAX_TOKEN_LENGTH } from "./bearer.js";
import type { VerificationKey } from "./jwks.js";
import { decodeBase64Url, decodeJsonObject, verifySignature } from "./jws-verify.js";
import { invalidToken, refuse, type AccessTokenClaims, type Refusal, type Verdict } from "./verdict.js";

/** What a route requires of a token (the plugin configuration, in the core's terms). */
export interface ValidationOptions {
  readonly issuer: string;
  readonly audience: readonly string[];
  readonly algorithms: readonly Algorithm[];
  readonly leewaySeconds: number;
  readonly scopesRequired: readonly string[];
  readonly scopeMatch: ScopeMatch;
}

/** `all`: the token carries every required scope; `any`: at least one of them. */
export type ScopeMatch = "all" | "any";

/** The configured key set, looked up by `kid` only. */
export interface KeyLookup {
  get(kid: string): VerificationKey | undefined;
}

/** A token whose signature verified: its header essentials, the decoded claims and the key used. */
export interface VerifiedToken {
  readonly ok: true;
  readonly alg: Algorithm;
  readonly kid: string;
  readonly key: VerificationKey;
  readonly claims: Readonly<Record<string, unknown>>;
}

/** RFC 9068 §4 with RFC 7515 §4.1.9 (media types compare case-insensitively). */
const ACCEPTED_TYP = new Set(["at+jwt", "application/at+jwt"]);
/** RFC 8725 §3.10 / RFC 9068 §4: keys come from the configured JWKS, never from the token. */
const EMBEDDED_KEY_PARAMETERS = ["jku", "x5u", "jwk", "x5c"];

/**
 * Decoded JOSE headers by their encoded text. An issuer's tokens share a handful of headers (one
 * per signing key), so this memo of a pure function spares a base64url decode and a JSON.parse per
 * token. Bounded: emptied when full, so random headers cannot grow it.
 */
const HEADER_MEMO_LIMIT = 64;
const headerMemo = new Map<string, Readonly<Record<string, unknown>>>();

function decodeHeader(segment: string): Readonly<Record<string, unknown>> | undefined {
  const known = headerMemo.get(segment);
  if (known !== undefined) return known;
  const header = decodeJsonObject(segment);
  if (header === undefined) return undefined;
  if (headerMemo.size >= HEADER_MEMO_LIMIT) headerMemo.clear();
  headerMemo.set(segment, Object.freeze(header));
  return header;
}

/** Structure, header, key selection and signature of a compact JWS access token. */
export function verifyToken(token: string, algorithms: readonly Algorithm[], keys: KeyLookup): VerifiedToken | Refusal {
  if (token.length > MAX_TOKEN_LENGTH) return invalidToken("token_too_large", "the access token is too large");

  // 1. A JWS in compact serialization: three parts. Five parts is a JWE (RFC 7516 §7.1), not accepted.
  const firstDot = token.indexOf(".");
  const secondDot = firstDot === -1 ? -1 : token.indexOf(".", firstDot + 1);
  const thirdDot = secondDot === -1 ? -1 : token.indexOf(".", secondDot + 1);
  if (thirdDot !== -1) {
    const fourthDot = token.indexOf(".", thirdDot + 1);
    const isJwe = fourthDot !== -1 && token.indexOf(".", fourthDot + 1) === -1;
    return isJwe
      ? invalidToken("jwe", "encrypted tokens (JWE) are not accepted")
      : invalidToken("not_jws", "the access token is not a signed JWT");
  }
  if (secondDot === -1) return invalidToken("not_jws", "the access token is not a signed JWT");
  const header = decodeHeader(token.slice(0, firstDot));
  if (header === undefined) return invalidToken("not_jws", "the access token header is not base64url-encoded JSON");
  if (header.enc !== undefined) return invalidToken("jwe", "encrypted tokens (JWE) are not accepted");
  const cty = header.cty;
  if (cty !== undefined) {
    // RFC 7519 §5.2: cty "JWT" marks a nested JWT; RFC 9068 tokens are never nested.
    if (typeof cty === "string" && ["jwt", "application/jwt"].includes(cty.toLowerCase())) {
      return invalidToken("nested_jwt", "nested tokens are not accepted");
    }
    return invalidToken("unsupported_header", "the access token header has an unexpected cty");
  }
  // RFC 7515 §4.1.11: a `crit` extension we do not understand must be rejected, and we support none;
  // RFC 7797 `b64` changes what is signed; `zip` belongs to JWE only (RFC 7516 §4.1.3).
  if (header.crit !== undefined || header.b64 !== undefined || header.zip !== undefined) {
    return invalidToken("unsupported_header", "the access token header uses an unsupported extension");
  }

  // 2. typ (RFC 9068 §4; RFC 8725 §3.11 explicit typing keeps other JWTs from passing as access tokens).
  const typ = header.typ;
  if (typeof typ !== "string" || !ACCEPTED_TYP.has(typ.toLowerCase())) {
    return invalidToken("bad_typ", "the token is not a JWT access token (typ must be at+jwt)");
  }

  // 3. alg from the allow-list only (RFC 8725 §3.1): never `none`, never HMAC (absent from the list type).
  const alg = header.alg;
  if (typeof alg !== "string" || !(algorithms as readonly string[]).includes(alg)) {
    return invalidToken("bad_alg", "the token's signing algorithm is not accepted");
  }
  const algorithm = alg as Algorithm;

  // 4. The key: by kid, in the configured key set only; and pinned to this very alg (RFC 8725 §3.1).
  if (EMBEDDED_KEY_PARAMETERS.some((name) => header[name] !== undefined)) {
    return invalidToken("embedded_key", "tokens naming their own key (jku, x5u, jwk, x5c) are not accepted");
  }
  const kid = header.kid;
  if (typeof kid !== "string" || kid.length === 0) return invalidToken("no_kid", "the token header has no kid");
  const key = keys.get(kid);
  if (key === undefined) return { ...invalidToken("unknown_kid", "the token was signed with an unknown key"), kid };
  if (!key.algorithms.has(algorithm)) {
    return invalidToken("key_alg_mismatch", "the token's algorithm does not match its key");
  }

  // 5. Signature over the encoded header and payload (RFC 7515 §5.2).
  const signature = decodeBase64Url(token.slice(secondDot + 1));
  if (signature === undefined || signature.length === 0)
    return invalidToken("bad_signature", "the token signature is invalid");
  if (!verifySignature(algorithm, key.keyObject, token.slice(0, secondDot), signature)) {
    return invalidToken("bad_signature", "the token signature is invalid");
  }

  const claims = decodeJsonObject(token.slice(firstDot + 1, secondDot));
  if (claims === undefined) return invalidToken("bad_payload", "the token payload is not a JSON object");
  return { ok: true, alg: algorithm, kid, key, claims };
}

const isNumericDate = (value: unknown): value is number => typeof value === "number" && Number.isFinite(value);

/**
 * The checks of a token's claims against one route that do not depend on the time, done once per
 * token and route: `before` is the outcome of the checks that precede the time checks in the
 * validation order (iss, aud), `after` the outcome of those that follow them (required claims, scopes). The
 * verified-token cache keeps it next to the token, so a repeated token costs only the time checks
 * (`checkPreparedClaims`). Keyed by the identity of `options`: a route's options are built once per
 * plugin instance and never change.
 */
export interface PreparedClaims {
  readonly options: ValidationOptions;
  readonly before: Refusal | undefined;
  readonly after: Verdict;
}

export function prepareClaims(claims: Readonly<Record<string, unknown>>, options: ValidationOptions): PreparedClaims {
  // 6. iss: exact string comparison (RFC 9068 §4, RFC 8414 §3.3).
  if (claims.iss !== options.issuer) {
    return { options, before: invalidToken("bad_iss", "the token was issued by another issuer"), after: NOT_CHECKED };
  }

  // 7. aud: a string or an array of strings; one must identify this API (RFC 7519 §4.1.3, RFC 9068 §4).
  const aud = claims.aud;
  const audiences =
    typeof aud === "string" ? [aud] : Array.isArray(aud) && aud.every((a) => typeof a === "string") ? aud : [];
  if (!audiences.some((a) => options.audience.includes(a))) {
    return { options, before: invalidToken("bad_aud", "the token is not meant for this API"), after: NOT_CHECKED };
  }
  return { options, before: undefined, after: checkRequiredClaimsAndScopes(claims, options, audiences) };
}

/** Placeholder `after` of a token refused before the time checks; never returned. */
const NOT_CHECKED: Refusal = invalidToken("bad_payload", "not checked");

/** Issuer, audience, time and scope checks in the validation order, from the prepared time-free part; `now` in seconds. */
export function checkPreparedClaims(
  prepared: PreparedClaims,
  claims: Readonly<Record<string, unknown>>,
  now: number,
): Verdict {
  if (prepared.before !== undefined) return prepared.before;

  // 8. Time, with a small leeway for clock skew (RFC 7519 §4.1.4/§4.1.5, RFC 9068 §4). Checked on
  // every request: the only part of a verdict that changes while a token is cached.
  const leeway = prepared.options.leewaySeconds;
  if (!isNumericDate(claims.exp)) return invalidToken("missing_claim", "the token has no valid exp claim");
  if (now >= claims.exp + leeway) return invalidToken("expired", "the token has expired");
  if (claims.nbf !== undefined && (!isNumericDate(claims.nbf) || claims.nbf > now + leeway)) {
    return invalidToken("not_yet_valid", "the token is not valid yet");
  }
  if (!isNumericDate(claims.iat)) return invalidToken("missing_claim", "the token has no valid iat claim");
  if (claims.iat > now + leeway) return invalidToken("issued_in_future", "the token was issued in the future");
  return prepared.after;
}

function checkRequiredClaimsAndScopes(
  claims: Readonly<Record<string, unknown>>,
  options: ValidationOptions,
  audiences: readonly string[],
): Verdict {
  // RFC 9068 §2.2: sub, client_id and jti are required; scope, when present, is a string.
  const { sub, client_id: clientId, jti, scope } = claims;
  if (typeof sub !== "string" || sub.length === 0) return invalidToken("missing_claim", "the token has no sub claim");
  if (typeof clientId !== "string" || clientId.length === 0) {
    return invalidToken("missing_claim", "the token has no client_id claim");
  }
  if (typeof jti !== "string" || jti.length === 0) return invalidToken("missing_claim", "the token has no jti claim");
  if (scope !== undefined && typeof scope !== "string")
    return invalidToken("bad_payload", "the token's scope claim is not a string");
  const granted = scope === undefined ? [] : scope.split(" ").filter((s) => s.length > 0);

  // 9. Scopes (RFC 6750 §3.1 insufficient_scope names what is required).
  const required = options.scopesRequired;
  if (required.length > 0) {
    const enough =
      options.scopeMatch === "all"
        ? required.every((s) => granted.includes(s))
        : required.some((s) => granted.includes(s));
    if (!enough) {
      return refuse(
        403,
        "insufficient_scope",
        options.scopeMatch === "all"
          ? "the token lacks a scope this resource requires"
          : "the token carries none of the scopes this resource accepts",
        "insufficient_scope",
        required.join(" "),
      );
    }
  }

  // Prepared before the time checks: exp and iat are copied as found, and this result is returned
  // only after checkPreparedClaims has found both numeric.
  const result: AccessTokenClaims = {
    iss: options.issuer,
    sub,
    aud: audiences,
    exp: claims.exp as number,
    iat: claims.iat as number,
    ...(isNumericDate(claims.nbf) ? { nbf: claims.nbf } : {}),
    jti,
    client_id: clientId,
    scope: granted,
    raw: claims,
  };
  return { ok: true, claims: result };
}
