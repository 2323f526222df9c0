/**
 * Canon Printing as an OAuth 2.0 client, with oauth4webapi: authorization code flow with PKCE S256
 * (RFC 7636, required by OAuth 2.1 and RFC 9700 §2.1.1), `state`, and the `iss` authorization
 * response parameter checked (RFC 9207).
 *
 * Two addresses for one authorization server: browsers are sent to the public issuer
 * (`http://localhost:9000`), while Canon's own back-channel requests (metadata, token endpoint)
 * may have to go elsewhere — inside Docker the container reaches the server at `http://authz:9000`.
 * The metadata and tokens keep the public issuer; only the transport is redirected.
 */
import * as oauth from "oauth4webapi";

export interface OAuthClientOptions {
  issuer: string;
  /** Where Canon's server reaches the authorization server; defaults to the issuer. */
  internalUrl?: string;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
}

export class CanonOAuthClient {
  private metadata: Promise<oauth.AuthorizationServer> | undefined;
  private readonly client: oauth.Client;
  private readonly auth: oauth.ClientAuth;
  private readonly issuer: URL;
  private readonly transport: typeof fetch;

  constructor(private readonly options: OAuthClientOptions) {
    this.issuer = new URL(options.issuer);
    this.client = { client_id: options.clientId };
    this.auth = oauth.ClientSecretBasic(options.clientSecret);
    const publicOrigin = this.issuer.origin;
    const internalOrigin = new URL(options.internalUrl ?? options.issuer).origin;
    this.transport = (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      if (url.origin === publicOrigin && internalOrigin !== publicOrigin) {
        const target = new URL(url.pathname + url.search, internalOrigin);
        return fetch(target, init);
      }
      return fetch(url, init);
    };
  }

  /* eslint-disable @typescript-eslint/no-deprecated -- oauth4webapi deprecates the option only so that it stands out; the demo's issuer is plain http on localhost */
  private requestOptions(): { [oauth.customFetch]: typeof fetch; [oauth.allowInsecureRequests]: boolean } {
    // The demo runs on http://localhost; a production client keeps oauth4webapi's HTTPS check.
    return { [oauth.customFetch]: this.transport, [oauth.allowInsecureRequests]: this.issuer.protocol === "http:" };
  }
  /* eslint-enable @typescript-eslint/no-deprecated */

  /** RFC 8414 metadata, fetched once (and again after a failure: the server may start after Canon). */
  server(): Promise<oauth.AuthorizationServer> {
    if (this.metadata === undefined) {
      const pending = (async () => {
        const response = await oauth.discoveryRequest(this.issuer, { algorithm: "oauth2", ...this.requestOptions() });
        return oauth.processDiscoveryResponse(this.issuer, response);
      })();
      pending.catch(() => {
        if (this.metadata === pending) this.metadata = undefined;
      });
      this.metadata = pending;
    }
    return this.metadata;
  }

  async authorizationUrl(scope: string): Promise<{ url: URL; state: string; codeVerifier: string }> {
    const as = await this.server();
    if (as.authorization_endpoint === undefined)
      throw new Error("the authorization server publishes no authorization_endpoint");
    const codeVerifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const url = new URL(as.authorization_endpoint);
    url.searchParams.set("response_type", "code");
    url.searchParams.set("client_id", this.options.clientId);
    url.searchParams.set("redirect_uri", this.options.redirectUri);
    url.searchParams.set("scope", scope);
    url.searchParams.set("state", state);
    url.searchParams.set("code_challenge", await oauth.calculatePKCECodeChallenge(codeVerifier));
    url.searchParams.set("code_challenge_method", "S256");
    return { url, state, codeVerifier };
  }

  /**
   * Validates the authorization response (state, and `iss` per RFC 9207 §2.4 — checked here
   * explicitly as well, so a server whose metadata forgot the flag cannot skip it) and exchanges
   * the code. Throws oauth4webapi's errors; `AuthorizationResponseError` carries e.g. `access_denied`.
   */
  async exchange(callback: URL, expectedState: string, codeVerifier: string): Promise<oauth.TokenEndpointResponse> {
    const as = await this.server();
    if (callback.searchParams.get("iss") !== as.issuer) {
      throw new oauth.OperationProcessingError(
        "the authorization response's iss does not name our authorization server (RFC 9207)",
        {
          code: oauth.INVALID_RESPONSE,
        },
      );
    }
    const params = oauth.validateAuthResponse(as, this.client, callback.searchParams, expectedState);
    const response = await oauth.authorizationCodeGrantRequest(
      as,
      this.client,
      this.auth,
      params,
      this.options.redirectUri,
      codeVerifier,
      this.requestOptions(),
    );
    return oauth.processAuthorizationCodeResponse(as, this.client, response);
  }

  async refresh(refreshToken: string): Promise<oauth.TokenEndpointResponse> {
    const as = await this.server();
    const response = await oauth.refreshTokenGrantRequest(
      as,
      this.client,
      this.auth,
      refreshToken,
      this.requestOptions(),
    );
    return oauth.processRefreshTokenResponse(as, this.client, response);
  }
}
