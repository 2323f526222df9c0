import { OAuthError } from "../errors.js";
import { RESOURCE_NOT_IN_SCOPES } from "../tokens/audience.js";
import { grantScopes, parseScope } from "../tokens/scope.js";
import { signGrantAccessToken, tokenResponse } from "./issue.js";
import type { Grant } from "./types.js";

/**
 * RFC 6749 §4.4: a confidential client obtains a token for itself. The token's `sub` is the client id
 * (RFC 9068 §2.2); no refresh token is issued (§4.4.3).
 */
export const clientCredentials: Grant = {
  grantType: "client_credentials",
  multiValued: ["resource"],
  async handle({ client, form, services, now }) {
    if (client.secretDigest === null) {
      // §4.4: the client credentials grant MUST only be used by confidential clients.
      throw new OAuthError("unauthorized_client", "a public client cannot use client_credentials");
    }
    const scopes = grantScopes(client, parseScope(form.get("scope")));
    const access = await signGrantAccessToken(services, form, {
      subject: client.clientId,
      clientId: client.clientId,
      grantedScopes: scopes,
      scopes,
      resources: [],
      refusal: RESOURCE_NOT_IN_SCOPES,
      now,
    });
    return tokenResponse(services, "client_credentials", access);
  },
};
