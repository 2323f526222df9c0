// The wire form of a refusal: status, headers and a small JSON body (RFC 6750 §3).

import type { Refusal, Unavailable } from "./verdict.js";

export interface ErrorResponse {
  readonly status: number;
  readonly body: string;
  readonly headers: Readonly<Record<string, string>>;
}

const JSON_TYPE = "application/json";

/**
 * An RFC 9110 §5.6.4 quoted-string. The schema keeps quotes and backslashes out of the realm and
 * the scopes, and the descriptions are fixed texts; escaping anyway makes that a property of this
 * function rather than of every caller (it changes nothing for the texts in use).
 */
const quoted = (value: string): string => `"${value.replace(/["\\]/g, "\\$&")}"`;

/**
 * RFC 6750 §3: `Bearer realm="…"`, plus error, error_description and scope when there is an error
 * code; none of them when the request carried no credentials (§3.1).
 */
export function refusalResponse(refusal: Refusal, realm: string): ErrorResponse {
  const challenge = [`Bearer realm=${quoted(realm)}`];
  const body: Record<string, string> = {};
  if (refusal.error !== undefined) {
    challenge.push(`error=${quoted(refusal.error)}`, `error_description=${quoted(refusal.description)}`);
    body.error = refusal.error;
  }
  body.error_description = refusal.description;
  if (refusal.scope !== undefined) {
    challenge.push(`scope=${quoted(refusal.scope)}`);
    body.scope = refusal.scope;
  }
  return {
    status: refusal.status,
    body: JSON.stringify(body),
    headers: { "WWW-Authenticate": challenge.join(", "), "Content-Type": JSON_TYPE },
  };
}

/** 503 with Retry-After: authorization is unavailable, not refused (RFC 9110 §15.6.4, §10.2.3). */
export function unavailableResponse(unavailable: Unavailable, retryAfterSeconds: number): ErrorResponse {
  return {
    status: unavailable.status,
    body: JSON.stringify({ message: unavailable.description }),
    headers: { "Retry-After": String(retryAfterSeconds), "Content-Type": JSON_TYPE },
  };
}

/** Anything unexpected: refuse (never pass: failing open would proxy the request), saying nothing about why. */
export const INTERNAL_ERROR_RESPONSE: ErrorResponse = {
  status: 500,
  body: JSON.stringify({ message: "An unexpected error occurred" }),
  headers: { "Content-Type": JSON_TYPE },
};
