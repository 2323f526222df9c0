import type { Context } from "koa";
import { readAuthenticatedForm } from "../client-auth.js";
import { OAuthError } from "../errors.js";
import { digest } from "../secrets.js";
import type { Services } from "../services.js";
import type { Client } from "../storage/types.js";
import { readOwnAccessToken } from "../tokens/verify.js";

/**
 * POST /revoke (RFC 7009). The client authenticates (public clients name themselves, §2.1); it may revoke only
 * tokens issued to it. A refresh token revokes its whole family and the access tokens issued with it (§2.1, RFC 9700
 * §4.14.2); an access token's jti is recorded until its expiry so introspection answers inactive. Unknown, invalid or
 * already revoked tokens answer 200 (§2.2), and so does a token issued to another client: to the caller that is an
 * invalid token, so it is left alone, and the same answer keeps /revoke from telling which tokens exist. Each revoked
 * access token becomes a `token` entry of the revocation feed in the same transaction (GET /revocations,
 * docs/revocation-feed.md), so the gateways that poll it refuse the token within their poll interval.
 */
export function revokeEndpoint(services: Services) {
  return async function revoke(ctx: Context): Promise<void> {
    const { form, client } = await readAuthenticatedForm(ctx, services);
    const token = form.get("token");
    if (token === undefined) throw new OAuthError("invalid_request", "missing token");
    const now = services.clock.now();
    // §2.1: the hint only orders the lookups; an unknown hint is ignored.
    if (form.get("token_type_hint") === "access_token") {
      if (!(await revokeAccess(token, client, services, now))) await revokeRefresh(token, client, services, now);
    } else if (!(await revokeRefresh(token, client, services, now))) {
      await revokeAccess(token, client, services, now);
    }
    ctx.status = 200;
    ctx.body = "";
  };
}

/** §2.1: the server verifies that the token was issued to the requesting client; one that was not is left alone. */
function ignoreForeign(client: Client, services: Services): true {
  services.logger.info({ client_id: client.clientId }, "revocation of a token issued to another client ignored");
  return true;
}

/** Returns whether `token` is a refresh token (the caller's or not), so the access-token lookup can be skipped. */
async function revokeRefresh(token: string, client: Client, services: Services, now: number): Promise<boolean> {
  const record = await services.storage.refreshTokens.find(digest(token));
  if (!record) return false;
  if (record.clientId !== client.clientId) return ignoreForeign(client, services);
  const revoked = await services.storage.revocations.revokeFamily(record.familyId, now);
  services.logger.info(
    { client_id: client.clientId, family_id: record.familyId, revoked },
    "refresh token family revoked",
  );
  return true;
}

/** Returns whether `token` is one of this server's access tokens (the caller's or not). */
async function revokeAccess(token: string, client: Client, services: Services, now: number): Promise<boolean> {
  const claims = await readOwnAccessToken(token, services);
  if (!claims) return false;
  if (claims.clientId !== client.clientId) return ignoreForeign(client, services);
  if (claims.exp * 1000 > now) {
    await services.storage.revocations.revokeAccessToken(claims.jti, claims.exp * 1000, now);
    services.logger.info({ client_id: client.clientId, jti: claims.jti }, "access token revoked");
  }
  return true;
}
