import type { Context } from "koa";
import { readAuthenticatedForm } from "../client-auth.js";
import { OAuthError } from "../errors.js";
import { digest } from "../secrets.js";
import type { Services } from "../services.js";
import { readOwnAccessToken } from "../tokens/verify.js";

const inactive = { active: false } as const;

/**
 * POST /introspect (RFC 7662). Callers must authenticate as a confidential client (§2.1, requirement 19, so the
 * endpoint cannot be used to scan for tokens anonymously). Inactive, expired, revoked, malformed and unknown tokens all
 * answer `{"active": false}` and nothing more (§2.2).
 */
export function introspectEndpoint(services: Services) {
  return async function introspect(ctx: Context): Promise<void> {
    const { form, client: caller } = await readAuthenticatedForm(ctx, services);
    if (caller.secretDigest === null) throw new OAuthError("invalid_client", "client authentication failed");
    const token = form.get("token");
    if (token === undefined) throw new OAuthError("invalid_request", "missing token");
    const now = services.clock.now();
    const hint = form.get("token_type_hint");
    ctx.body =
      hint === "refresh_token"
        ? (introspectRefresh(token, services, now) ?? (await introspectAccess(token, services, now)) ?? inactive)
        : ((await introspectAccess(token, services, now)) ?? introspectRefresh(token, services, now) ?? inactive);
  };
}

async function introspectAccess(token: string, services: Services, now: number) {
  const claims = await readOwnAccessToken(token, services);
  if (!claims) return undefined;
  // RFC 7519 §4.1.4: expired at exp; tokens "from the future" (iat ahead of our clock) are not active either.
  const nowSeconds = Math.floor(now / 1000);
  if (claims.exp <= nowSeconds || claims.iat > nowSeconds + 60) return inactive;
  if (services.storage.revocations.isAccessTokenRevoked(claims.jti)) return inactive;
  // Deleting a client or a user withdraws every grant they had (clients/users delete drop their refresh tokens
  // and consents); their access tokens are no longer active either (RFC 7662 §2.2). A client-credentials token's
  // sub is its client id; any other sub is a user id (requirement 11: the two can never coincide).
  const { clients, users } = services.storage;
  if (!clients.find(claims.clientId)) return inactive;
  if (claims.sub !== claims.clientId && !users.findById(claims.sub)) return inactive;
  return {
    active: true,
    scope: claims.scope,
    client_id: claims.clientId,
    sub: claims.sub,
    aud: claims.aud,
    iss: services.issuer,
    exp: claims.exp,
    iat: claims.iat,
    jti: claims.jti,
    token_type: "Bearer",
  };
}

function introspectRefresh(token: string, services: Services, now: number) {
  const record = services.storage.refreshTokens.find(digest(token));
  if (!record) return undefined;
  if (record.revokedAt !== null || record.rotatedAt !== null) return inactive;
  const expiresAt = Math.min(record.idleExpiresAt, record.absoluteExpiresAt);
  if (expiresAt <= now) return inactive;
  return {
    active: true,
    scope: record.scope,
    client_id: record.clientId,
    sub: record.userId,
    iss: services.issuer,
    exp: Math.floor(expiresAt / 1000),
    iat: Math.floor(record.createdAt / 1000),
  };
}
