import type { OAuthErrorCode } from "../errors.js";

/**
 * An authorization response URL: the registered redirect URI (its own query kept, RFC 6749
 * §3.1.2) plus the response parameters, `state` unchanged and `iss` always (RFC 9207 §2,
 * which defends clients that talk to several servers against mix-up attacks).
 */
export function authorizationResponse(
  issuer: string,
  redirectUri: string,
  state: string | undefined,
  parameters: Record<string, string>,
): string {
  const url = new URL(redirectUri);
  for (const [name, value] of Object.entries(parameters)) url.searchParams.append(name, value);
  if (state !== undefined) url.searchParams.append("state", state);
  url.searchParams.append("iss", issuer);
  return url.href;
}

/** An error response sent to the client's redirect URI (RFC 6749 §4.1.2.1), with `state` and `iss` like any other. */
export function authorizationErrorResponse(
  issuer: string,
  redirectUri: string,
  state: string | undefined,
  error: OAuthErrorCode,
  description: string,
): string {
  return authorizationResponse(issuer, redirectUri, state, { error, error_description: description });
}

/** Origin of the redirect URI, for the pages' CSP form-action (see views/layout.ts). */
export function redirectOrigin(redirectUri: string): string[] {
  try {
    return [new URL(redirectUri).origin];
  } catch {
    return [];
  }
}
