// The core's validation steps composed without the caches, as plugin/src/core/authenticate.ts
// composes them with the caches: bearer extraction (RFC 6750 §2.1), then `verifyToken`, then the
// claim checks. The validation tests and the verification benchmark specify the core through it.
import { extractBearerToken } from "../../../plugin/src/core/bearer.ts";
import {
  checkPreparedClaims,
  prepareClaims,
  verifyToken,
  type KeyLookup,
  type ValidationOptions,
} from "../../../plugin/src/core/validate.ts";
import type { Verdict } from "../../../plugin/src/core/verdict.ts";

/** The whole check of a token string; `now` in seconds since the epoch. */
export function validateAccessToken(token: string, options: ValidationOptions, keys: KeyLookup, now: number): Verdict {
  const verified = verifyToken(token, options.algorithms, keys);
  return verified.ok ? checkPreparedClaims(prepareClaims(verified.claims, options), verified.claims, now) : verified;
}

/** From the Authorization header value(s) to a verdict: bearer extraction, then `validateAccessToken`. */
export function validateAuthorization(
  authorization: string | readonly string[] | undefined,
  options: ValidationOptions,
  keys: KeyLookup,
  now: number,
): Verdict {
  const bearer = extractBearerToken(authorization);
  return bearer.ok ? validateAccessToken(bearer.token, options, keys, now) : bearer;
}
