import { OAuthError } from "../errors.js";
import { issueAccessToken } from "../tokens/access-token.js";
import { checkResources, permittedResources, resolveAudience, RESOURCE_NOT_IN_SCOPES } from "../tokens/audience.js";
import { grantScopes, parseScope } from "../tokens/scope.js";
import type { Grant } from "./types.js";

/**
 * RFC 6749 §4.4: a confidential client obtains a token for itself. The token's `sub` is the client id
 * (RFC 9068 §2.2); no refresh token is issued (§4.4.3).
 */
export const clientCredentials: Grant = {
  grantType: "client_credentials",
  parameters: ["scope", "resource"],
  multiValued: ["resource"],
  async handle({ client, form, services, now }) {
    if (client.secretDigest === null) {
      // §4.4: the client credentials grant MUST only be used by confidential clients.
      throw new OAuthError("unauthorized_client", "a public client cannot use client_credentials");
    }
    const scopes = grantScopes(client, parseScope(form.get("scope")));
    const { scopes: store } = services.storage;
    const permitted = permittedResources([], scopes, store, services.defaultAudience);
    const resources = checkResources(form.getAll("resource"), store, services.defaultAudience, permitted, RESOURCE_NOT_IN_SCOPES);
    const audience = resolveAudience(resources, scopes, store, services.defaultAudience);
    const token = await issueAccessToken(services.keys, {
      issuer: services.issuer,
      subject: client.clientId,
      clientId: client.clientId,
      scopes,
      audience,
      ttl: services.lifetimes.accessTokenTtl,
      now,
    });
    services.logger.info({ client_id: client.clientId, jti: token.jti, grant_type: "client_credentials" }, "token issued");
    return { access_token: token.accessToken, token_type: "Bearer", expires_in: token.expiresIn, scope: token.scope };
  },
};
