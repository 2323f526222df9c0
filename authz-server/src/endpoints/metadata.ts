import type { Context } from "koa";
import { defaults } from "../config.js";
import type { Grant } from "../grants/types.js";
import type { Services } from "../services.js";

/**
 * GET /.well-known/oauth-authorization-server (RFC 8414 §2, §3): what exists and nothing that does not.
 * Authorization-endpoint fields appear only once the authorization_code grant is registered.
 */
export function metadataEndpoint(services: Services, grants: ReadonlyMap<string, Grant>) {
  return async function metadata(ctx: Context): Promise<void> {
    const scopes = await services.storage.scopes.list();
    const base = services.issuer.replace(/\/$/, "");
    const grantTypes = [...grants.keys()];
    const hasCodeFlow = grants.has("authorization_code");
    const confidential = ["client_secret_basic", "client_secret_post"];
    ctx.set("Cache-Control", `public, max-age=${defaults.metadataMaxAge}`);
    ctx.body = {
      issuer: services.issuer,
      ...(hasCodeFlow ? { authorization_endpoint: `${base}/authorize` } : {}),
      token_endpoint: `${base}/token`,
      jwks_uri: `${base}/jwks.json`,
      scopes_supported: scopes.map((s) => s.name),
      // RFC 8414 §2: REQUIRED. Only `code` (no implicit grant, RFC 9700 §2.1.2); empty while there is no authorization endpoint.
      response_types_supported: hasCodeFlow ? ["code"] : [],
      ...(hasCodeFlow ? { response_modes_supported: ["query"] } : {}),
      grant_types_supported: grantTypes,
      // `none` is for public clients, which can only use the code flow with PKCE.
      token_endpoint_auth_methods_supported: hasCodeFlow ? [...confidential, "none"] : confidential,
      revocation_endpoint: `${base}/revoke`,
      revocation_endpoint_auth_methods_supported: hasCodeFlow ? [...confidential, "none"] : confidential,
      introspection_endpoint: `${base}/introspect`,
      introspection_endpoint_auth_methods_supported: confidential,
      // Not registered in RFC 8414 §7.1: this server's revocation feed, which its gateways poll (docs/revocation-feed.md).
      revocation_feed_endpoint: `${base}/revocations`,
      ...(hasCodeFlow
        ? { code_challenge_methods_supported: ["S256"], authorization_response_iss_parameter_supported: true }
        : {}),
    };
  };
}
