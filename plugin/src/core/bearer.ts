// Reads the bearer token from the Authorization header only (RFC 6750 §2.1; RFC 9700 §2.2.2 and
// RFC 6750 §5.3 discourage the query string and the body, and reading a body costs Kong a round trip).

import { refuse, type Refusal } from "./verdict.js";

/** Tokens longer than this are refused before any decoding (our own tokens are well under 2 KB). */
export const MAX_TOKEN_LENGTH = 8192;

/** RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token; b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=". */
const BEARER = /^([A-Za-z]+) +([A-Za-z0-9\-._~+/]+=*)$/;

export type BearerResult = { ok: true; token: string } | Refusal;

/** Header value(s) as Kong's `get_headers` returns them: one string, or one per repeated header. */
export function extractBearerToken(authorization: string | readonly string[] | undefined): BearerResult {
  if (authorization === undefined || (typeof authorization !== "string" && authorization.length === 0)) {
    // RFC 6750 §3.1: no authentication information, so no error code in the challenge.
    return refuse(401, "no_token", "a bearer token is required");
  }
  if (typeof authorization !== "string") {
    if (authorization.length > 1) {
      return refuse(400, "malformed_header", "more than one Authorization header", "invalid_request");
    }
    return extractBearerToken(authorization[0]);
  }
  const value = authorization.trim();
  if (value.length === 0)
    return refuse(400, "malformed_header", "the Authorization header is empty", "invalid_request");
  // Checked before the pattern so that a huge header costs one comparison, not a regex scan.
  if (value.length > MAX_TOKEN_LENGTH + 64) {
    return refuse(401, "token_too_large", "the access token is too large", "invalid_token");
  }
  const match = BEARER.exec(value);
  // The auth-scheme is case-insensitive (RFC 9110 §11.1).
  if (match === null || match[1].toLowerCase() !== "bearer") {
    const scheme = value.split(" ", 1)[0].toLowerCase();
    const why =
      scheme !== "bearer"
        ? "the Authorization header does not use the Bearer scheme"
        : value.length === scheme.length
          ? "the Authorization header carries no token"
          : "the Authorization header is not `Bearer <token>`";
    return refuse(400, "malformed_header", why, "invalid_request");
  }
  const token = match[2];
  if (token.length > MAX_TOKEN_LENGTH)
    return refuse(401, "token_too_large", "the access token is too large", "invalid_token");
  return { ok: true, token };
}
