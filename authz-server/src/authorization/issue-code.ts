import type { Clock } from "../clock.js";
import type { Lifetimes } from "../config.js";
import { digest, generateSecret } from "../secrets.js";
import type { Storage } from "../storage/types.js";
import type { AuthorizationRequest } from "./request.js";
import { authorizationResponse } from "./response.js";

export interface CodeIssuer {
  readonly storage: Pick<Storage, "codes">;
  readonly clock: Clock;
  readonly lifetimes: Pick<Lifetimes, "authorizationCodeTtl">;
  readonly issuer: string;
}

/**
 * Issues an authorization code and returns the authorization response that carries it: 256 random bits, stored only
 * as their SHA-256 digest (a copy of the database yields no usable code), bound to client, redirect URI, PKCE
 * challenge, user, scope and resources, valid for `authorizationCodeTtl` seconds (RFC 6749 §4.1.2: short-lived,
 * single use).
 */
export async function issueCode(deps: CodeIssuer, userId: string, request: AuthorizationRequest): Promise<string> {
  const code = generateSecret();
  const now = deps.clock.now();
  await deps.storage.codes.create({
    codeDigest: digest(code),
    clientId: request.clientId,
    userId,
    redirectUri: request.redirectUri,
    codeChallenge: request.codeChallenge,
    codeChallengeMethod: request.codeChallengeMethod,
    scope: request.scopes.join(" "),
    resources: [...request.resources],
    createdAt: now,
    expiresAt: now + deps.lifetimes.authorizationCodeTtl * 1000,
    consumedAt: null,
  });
  return authorizationResponse(deps.issuer, request.redirectUri, request.state, { code });
}
