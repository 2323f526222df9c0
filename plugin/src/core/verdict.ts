// The verdict types of the pure core: either the token's claims, or a refusal carrying what
// RFC 6750 §3 puts on the wire (status, error code, description, required scope).

/** RFC 6750 §3.1 error codes; no other code goes on the wire. */
export type BearerErrorCode = "invalid_request" | "invalid_token" | "insufficient_scope";

/**
 * Why a request was refused, stable for tests and for the handler (which refetches the key set
 * on `unknown_kid`). Never sent to the client.
 */
export type RefusalReason =
  | "no_token"
  | "malformed_header"
  | "token_too_large"
  | "not_jws"
  | "jwe"
  | "nested_jwt"
  | "unsupported_header"
  | "bad_typ"
  | "bad_alg"
  | "embedded_key"
  | "no_kid"
  | "unknown_kid"
  | "key_alg_mismatch"
  | "bad_signature"
  | "bad_payload"
  | "bad_iss"
  | "bad_aud"
  | "expired"
  | "not_yet_valid"
  | "issued_in_future"
  | "missing_claim"
  | "insufficient_scope"
  | "revoked"
  // The token is valid but names no credential or consumer Kong can be told of (core/kong-identity.ts).
  | "unidentified_claim"
  | "no_consumer";

export interface Refusal {
  readonly ok: false;
  readonly status: 400 | 401 | 403;
  /** Absent when the request carried no credentials at all (RFC 6750 §3.1). */
  readonly error?: BearerErrorCode;
  /** Human-readable, fixed text (never token content): safe inside the quoted-string of §3. */
  readonly description: string;
  /** For insufficient_scope: the scopes the resource requires, space-separated (§3). */
  readonly scope?: string;
  readonly reason: RefusalReason;
  /** For `unknown_kid`: the kid no key matched (the handler decides from it whether to refetch the key set). */
  readonly kid?: string;
}

/** RFC 9068 §2.2 claims of a verified access token, as the upstream headers need them. */
export interface AccessTokenClaims {
  readonly iss: string;
  readonly sub: string;
  readonly aud: readonly string[];
  readonly exp: number;
  readonly iat: number;
  readonly nbf?: number;
  readonly jti: string;
  readonly client_id: string;
  /** Granted scopes, split from the space-separated `scope` claim (RFC 9068 §2.2.3). */
  readonly scope: readonly string[];
  /** The whole claims set as decoded, for consumers that need more. */
  readonly raw: Readonly<Record<string, unknown>>;
}

/**
 * Authorization cannot be decided right now, which is not the client's fault: the key server was
 * never reached, or the revocation feed is out of date under `revocation_stale_action: refuse`.
 */
export interface Unavailable {
  readonly ok: false;
  readonly status: 503;
  readonly reason: "keys_unavailable" | "revocations_unavailable";
  readonly description: string;
}

export interface Accepted {
  readonly ok: true;
  readonly claims: AccessTokenClaims;
}

export type Verdict = Accepted | Refusal;

export const refuse = (
  status: Refusal["status"],
  reason: RefusalReason,
  description: string,
  error?: BearerErrorCode,
  scope?: string,
): Refusal => ({
  ok: false,
  status,
  reason,
  description,
  ...(error === undefined ? {} : { error }),
  ...(scope === undefined ? {} : { scope }),
});

/** Any failed validation of the token itself: 401 invalid_token (RFC 6750 §3.1). */
export const invalidToken = (reason: RefusalReason, description: string): Refusal =>
  refuse(401, reason, description, "invalid_token");
