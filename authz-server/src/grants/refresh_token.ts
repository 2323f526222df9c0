import { OAuthError } from "../errors.js";
import type { FormParams } from "../form.js";
import { digest, generateId, generateSecret } from "../secrets.js";
import type { Services } from "../services.js";
import type { Client, RefreshToken } from "../storage/types.js";
import { parseScope } from "../tokens/scope.js";
import { signGrantAccessToken, tokenResponse } from "./issue.js";
import type { Grant, TokenResponse } from "./types.js";

/** What a new refresh token needs: the stored fields its issuer decides (RFC 9700 §4.14.2: `absoluteExpiresAt`
 *  is the family's, fixed by its first token). */
export type NewRefreshToken = Pick<
  RefreshToken,
  "parentDigest" | "codeDigest" | "clientId" | "userId" | "scope" | "resources" | "absoluteExpiresAt"
> & {
  /** Undefined starts a new family (a code exchange). */
  familyId: string | undefined;
  now: number;
};

/** Creates and stores one refresh token (its digest only, requirement 15); call inside a transaction. */
export function issueRefreshToken(services: Services, spec: NewRefreshToken): { token: string; familyId: string } {
  const token = generateSecret();
  const familyId = spec.familyId ?? generateId();
  services.storage.refreshTokens.create({
    tokenDigest: digest(token),
    familyId,
    parentDigest: spec.parentDigest,
    codeDigest: spec.codeDigest,
    clientId: spec.clientId,
    userId: spec.userId,
    scope: spec.scope,
    resources: spec.resources,
    createdAt: spec.now,
    rotatedAt: null,
    idleExpiresAt: Math.min(spec.now + services.lifetimes.refreshTokenIdleTtl * 1000, spec.absoluteExpiresAt),
    absoluteExpiresAt: spec.absoluteExpiresAt,
    revokedAt: null,
  });
  return { token, familyId };
}

const INVALID = "the refresh token is invalid, expired or revoked";

/**
 * `grant_type=refresh_token` (RFC 6749 §6) with rotation and reuse detection (RFC 9700 §4.14.2):
 * every use returns a new refresh token and retires the presented one. Presenting a retired
 * token again means two parties hold it (the client and a thief, and we cannot tell which is
 * which), so the whole family and the access tokens issued with it are revoked — except within
 * `refreshTokenGraceSeconds` of its rotation, which lets a client that sent two refreshes at
 * once (two tabs, a retry after a lost response) get an answer to both.
 */
export const refreshToken: Grant = {
  grantType: "refresh_token",
  parameters: ["refresh_token", "scope", "resource"],
  multiValued: ["resource"],
  handle: ({ services, client, form, now }) => rotate(services, client, form, now),
};

async function rotate(services: Services, client: Client, params: FormParams, now: number): Promise<TokenResponse> {
  const presented = params.get("refresh_token");
  if (presented === undefined) throw new OAuthError("invalid_request", "refresh_token is required");
  const tokenDigest = digest(presented);
  const token = services.storage.refreshTokens.find(tokenDigest);
  // RFC 6749 §6: the token is bound to the client it was issued to.
  if (!token || token.clientId !== client.clientId) throw new OAuthError("invalid_grant", INVALID);
  if (token.revokedAt !== null || token.idleExpiresAt <= now || token.absoluteExpiresAt <= now) {
    throw new OAuthError("invalid_grant", INVALID);
  }
  const graceMs = services.lifetimes.refreshTokenGraceSeconds * 1000;
  // The grace window is [rotatedAt, rotatedAt + grace): with a grace of 0 no reuse is ever tolerated, not even
  // one in the same millisecond as the rotation (a thief racing the client).
  const outsideGrace = (rotatedAt: number) => now - rotatedAt >= graceMs;
  if (token.rotatedAt !== null && outsideGrace(token.rotatedAt)) {
    const revoked = services.storage.revocations.revokeFamily(token.familyId, now);
    services.logger.warn({ client_id: client.clientId, family_id: token.familyId, revoked }, "refresh token reuse; family revoked");
    throw new OAuthError("invalid_grant", INVALID);
  }

  // RFC 6749 §6: the requested scope must not include any scope not originally granted.
  const original = token.scope.split(" ").filter((s) => s !== "");
  const requested = parseScope(params.get("scope"));
  const scopes = requested === undefined || requested.length === 0 ? original : requested;
  const widened = scopes.filter((s) => !original.includes(s));
  if (widened.length > 0) throw new OAuthError("invalid_scope", `scope was not originally granted: ${widened.join(" ")}`);

  const access = await signGrantAccessToken(services, params, {
    subject: token.userId,
    clientId: client.clientId,
    grantedScopes: original,
    scopes,
    resources: token.resources,
    refusal: "resource was not part of the original grant",
    now,
  });
  // Re-checked inside the transaction: the family may have been revoked, or the token
  // rotated by a concurrent request, while the access token was being signed.
  const outcome = services.storage.transaction(() => {
    const current = services.storage.refreshTokens.find(tokenDigest);
    if (!current || current.revokedAt !== null) return "invalid" as const;
    if (!services.storage.refreshTokens.markRotated(tokenDigest, now)) {
      if (outsideGrace(current.rotatedAt ?? now)) {
        services.storage.revocations.revokeFamily(current.familyId, now);
        return "invalid" as const;
      }
    }
    // RFC 6749 §6: the new refresh token keeps the original scope (only the access token narrows).
    const next = issueRefreshToken(services, {
      familyId: current.familyId,
      parentDigest: tokenDigest,
      codeDigest: current.codeDigest,
      clientId: current.clientId,
      userId: current.userId,
      scope: current.scope,
      resources: current.resources,
      absoluteExpiresAt: current.absoluteExpiresAt,
      now,
    });
    services.storage.revocations.linkAccessToken({
      jti: access.jti,
      clientId: client.clientId,
      userId: current.userId,
      familyId: current.familyId,
      codeDigest: current.codeDigest,
      expiresAt: access.expiresAt,
    });
    return next;
  });
  if (outcome === "invalid") throw new OAuthError("invalid_grant", INVALID);
  return tokenResponse(services, "refresh_token", access, outcome.token);
}
