import type { FormParams } from "../form.js";
import type { Services } from "../services.js";
import { issueAccessToken, type IssuedToken } from "../tokens/access-token.js";
import { checkResources, permittedResources, resolveAudience } from "../tokens/audience.js";
import type { TokenResponse } from "./types.js";

/** What a grant hands over to have its access token made. */
export interface GrantedAccess {
  /** The user, or for client credentials the client itself (RFC 9068 §2.2). */
  subject: string;
  clientId: string;
  /** Every scope the grant holds (as consented to, or as allowed to the client). */
  grantedScopes: readonly string[];
  /** This token's scopes: grantedScopes or a subset of them (RFC 6749 §6). */
  scopes: string[];
  /** Resources named when the grant was made (RFC 8707 §2, at the authorization endpoint); often none. */
  resources: readonly string[];
  /** invalid_target description for a `resource` parameter the grant does not cover. */
  refusal: string;
  now: number;
}

/**
 * The access token of a token request: `aud` from its `resource` parameters, which must lie within the grant
 * (RFC 8707 §2.2, see permittedResources), else from the grant's resources or scopes; then signed with the
 * server's issuer and access-token lifetime (RFC 9068 §2.2).
 */
export async function signGrantAccessToken(
  services: Services,
  form: FormParams,
  grant: GrantedAccess,
): Promise<IssuedToken> {
  const store = await services.storage.scopes.catalog(grant.grantedScopes);
  const permitted = permittedResources(grant.resources, grant.grantedScopes, store, services.defaultAudience);
  const requested = checkResources(form.getAll("resource"), store, services.defaultAudience, permitted, grant.refusal);
  const audience = resolveAudience(
    requested.length > 0 ? requested : grant.resources,
    grant.scopes,
    store,
    services.defaultAudience,
  );
  return issueAccessToken(services.keys, {
    issuer: services.issuer,
    subject: grant.subject,
    clientId: grant.clientId,
    scopes: grant.scopes,
    audience,
    ttl: services.lifetimes.accessTokenTtl,
    now: grant.now,
  });
}

/** The RFC 6749 §5.1 response; logs the issue by client, jti and grant type (never a token). */
export function tokenResponse(
  services: Services,
  grantType: string,
  access: IssuedToken,
  refreshToken?: string,
): TokenResponse {
  services.logger.info({ client_id: access.clientId, jti: access.jti, grant_type: grantType }, "token issued");
  return {
    access_token: access.accessToken,
    token_type: "Bearer",
    expires_in: access.expiresIn,
    scope: access.scope,
    ...(refreshToken === undefined ? {} : { refresh_token: refreshToken }),
  };
}
