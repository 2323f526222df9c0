import { createHash, timingSafeEqual } from "node:crypto";
import { OAuthError } from "../errors.js";
import type { FormParams } from "../form.js";
import { digest } from "../secrets.js";
import type { Services } from "../services.js";
import type { AuthorizationCode, Client } from "../storage/types.js";
import { signGrantAccessToken, tokenResponse } from "./issue.js";
import { issueRefreshToken } from "../tokens/refresh-token.js";
import type { Grant, TokenResponse } from "./types.js";

/** RFC 7636 §4.1: code-verifier = 43*128unreserved. */
const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;

/** RFC 7636 §4.6: BASE64URL-ENCODE(SHA256(ASCII(code_verifier))) == code_challenge, compared in constant time. */
export function verifyS256(verifier: string, challenge: string): boolean {
  const computed = createHash("sha256").update(verifier, "ascii").digest();
  const expected = Buffer.from(challenge, "base64url");
  return computed.length === expected.length && timingSafeEqual(computed, expected);
}

/**
 * Everything that makes a presented code unusable, checked before anything is changed, so that
 * an invalid replay (another client, a wrong verifier, a wrong redirect URI) revokes nothing
 * (RFC 9700 §4.5.3 asks the grant to be revoked on replay, not on any failed attempt) and only a fully valid second
 * use counts as a replay.
 */
function checkCode(
  code: AuthorizationCode | undefined,
  client: Client,
  params: FormParams,
  now: number,
): AuthorizationCode {
  // One message for every case (RFC 6749 §5.2 invalid_grant): never tell a caller which check failed
  // for a code that might belong to someone else.
  if (!code || code.clientId !== client.clientId)
    throw new OAuthError("invalid_grant", "the authorization code is invalid");
  if (code.expiresAt <= now) throw new OAuthError("invalid_grant", "the authorization code has expired");
  // RFC 6749 §4.1.3: redirect_uri must be identical to the one of the authorization request.
  if (params.get("redirect_uri") !== code.redirectUri) {
    throw new OAuthError("invalid_grant", "redirect_uri does not match the authorization request");
  }
  const verifier = params.get("code_verifier");
  if (verifier === undefined) throw new OAuthError("invalid_grant", "code_verifier is required (PKCE)");
  if (!VERIFIER.test(verifier) || !verifyS256(verifier, code.codeChallenge)) {
    throw new OAuthError("invalid_grant", "code_verifier does not match the code_challenge");
  }
  return code;
}

/**
 * `grant_type=authorization_code` (RFC 6749 §4.1.3). The token endpoint has authenticated the
 * client and checked it is registered for this grant; a public client (`none`) gets here only
 * with PKCE, since every code carries an S256 challenge.
 */
export const authorizationCode: Grant = {
  grantType: "authorization_code",
  multiValued: ["resource"],
  handle: ({ services, client, form, now }) => exchangeCode(services, client, form, now),
};

async function exchangeCode(
  services: Services,
  client: Client,
  params: FormParams,
  now: number,
): Promise<TokenResponse> {
  const presented = params.get("code");
  if (presented === undefined) throw new OAuthError("invalid_request", "code is required");
  const codeDigest = digest(presented);
  const code = checkCode(await services.storage.codes.find(codeDigest), client, params, now);

  const scopes = code.scope.split(" ").filter((s) => s !== "");
  // Signed before the write transaction, which then only consumes the code and records what it produced, atomically:
  // a concurrent replay (from another process on the same database) either loses the race before we commit, or sees
  // our links and revokes them.
  // RFC 8707 §2.2: the token request may name a subset of the resources the grant was for.
  const access = await signGrantAccessToken(services, params, {
    subject: code.userId,
    clientId: client.clientId,
    grantedScopes: scopes,
    scopes,
    resources: code.resources,
    refusal: "resource was not part of the authorization request",
    now,
  });
  const outcome = await services.storage.transaction(async (tx) => {
    if (!(await tx.codes.consume(codeDigest, now))) {
      // A second use of a valid code: someone else may hold it. OAuth 2.1 §4.1.3 / RFC 6749
      // §4.1.2: refuse and revoke every token already issued from it.
      await tx.revocations.revokeCodeGrant(codeDigest, now);
      return { replay: true as const };
    }
    const refresh = client.grantTypes.includes("refresh_token")
      ? await issueRefreshToken(services, tx, {
          familyId: undefined,
          parentDigest: null,
          codeDigest,
          clientId: client.clientId,
          userId: code.userId,
          scope: code.scope,
          resources: code.resources,
          absoluteExpiresAt: now + services.lifetimes.refreshTokenAbsoluteTtl * 1000,
          now,
        })
      : undefined;
    await tx.revocations.linkAccessToken({
      jti: access.jti,
      clientId: client.clientId,
      userId: code.userId,
      familyId: refresh?.familyId ?? null,
      codeDigest,
      expiresAt: access.expiresAt,
    });
    return { replay: false as const, refresh };
  });
  if (outcome.replay) {
    services.logger.warn(
      { client_id: client.clientId, grant_type: "authorization_code" },
      "authorization code replayed; its grant revoked",
    );
    throw new OAuthError("invalid_grant", "the authorization code was already used");
  }
  return tokenResponse(services, "authorization_code", access, outcome.refresh?.token);
}
