import type { Context } from "koa";
import { readAuthenticatedForm } from "../client-auth.js";
import { OAuthError } from "../errors.js";
import { digest } from "../secrets.js";
import type { Services } from "../services.js";
import type { Client } from "../storage/types.js";
import { readOwnAccessToken, type OwnAccessToken } from "../tokens/verify.js";

const inactive = { active: false } as const;

/**
 * POST /introspect (RFC 7662). Callers must authenticate as a confidential client (§2.1, so the endpoint cannot be used
 * to scan for tokens anonymously). A token is described only to the client it was issued to and, for an access token,
 * to a resource server it is addressed to (see mayIntrospect). Tokens of other clients, inactive, expired, revoked,
 * malformed and unknown tokens all answer `{"active": false}` and nothing more (§2.2).
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
        ? ((await introspectRefresh(token, caller, services, now)) ??
          (await introspectAccess(token, caller, services, now)) ??
          inactive)
        : ((await introspectAccess(token, caller, services, now)) ??
          (await introspectRefresh(token, caller, services, now)) ??
          inactive);
  };
}

/**
 * RFC 7662 §2.1 leaves it to the server which protected resources may introspect which tokens. Here: the client the
 * token was issued to, and a client registered as the resource server for one of the token's audiences (RFC 9068 §4:
 * the `aud` names the resources meant to accept it). Anyone else would learn the user (`sub`) and the grant's scopes.
 */
function mayIntrospect(caller: Client, claims: OwnAccessToken): boolean {
  if (claims.clientId === caller.clientId) return true;
  const audiences = typeof claims.aud === "string" ? [claims.aud] : claims.aud;
  return caller.resourceServerFor?.some((resource) => audiences.includes(resource)) ?? false;
}

async function introspectAccess(token: string, caller: Client, services: Services, now: number) {
  const claims = await readOwnAccessToken(token, services);
  if (!claims) return undefined;
  if (!mayIntrospect(caller, claims)) return inactive;
  // RFC 7519 §4.1.4: expired at exp. RFC 7519 §4.1.6: a token issued "in the future", beyond the clock skew the
  // server allows (config.ts), is not active either.
  const nowSeconds = Math.floor(now / 1000);
  if (claims.exp <= nowSeconds || claims.iat > nowSeconds + services.clockSkew) return inactive;
  if (await services.storage.revocations.isAccessTokenRevoked(claims.jti)) return inactive;
  // The revocation feed's entries cover tokens by jti, user, client, user × client up to an instant, or signing key;
  // introspection answers what a gateway following the feed enforces (docs/revocation-feed.md).
  const { jti, sub, clientId, iat, kid } = claims;
  if (await services.storage.revocationFeed.covers({ jti, sub, clientId, iat, kid }, now)) return inactive;
  // Deleting a client or a user withdraws every grant they had (clients/users delete drop their refresh tokens
  // and consents); their access tokens are no longer active either (RFC 7662 §2.2). A client-credentials token's
  // sub is its client id; any other sub is a user id (both are generated ids: the two never coincide).
  const { clients, users } = services.storage;
  if (!(await clients.find(claims.clientId))) return inactive;
  if (claims.sub !== claims.clientId && !(await users.findById(claims.sub))) return inactive;
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

/** A refresh token is only ever presented by its own client: it is active to that client alone. */
async function introspectRefresh(token: string, caller: Client, services: Services, now: number) {
  const record = await services.storage.refreshTokens.find(digest(token));
  if (!record) return undefined;
  if (record.clientId !== caller.clientId) return inactive;
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
