// The seed story end to end over real HTTP: Canon Printing (oauth4webapi) sends alice to the
// authorization server, she signs in and allows access to her photos, Canon exchanges the code,
// refreshes, and a replayed refresh token revokes the family (RFC 6749 §4.1, RFC 7636, RFC 9207,
// RFC 9700 §4.14.2).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createRemoteJWKSet, jwtVerify } from "jose";
import * as oauth from "oauth4webapi";
import { basic, form, insecure, post, present, storageEngines } from "../helpers.ts";
import { assertPageHeaders, BrowserClient, onlyForm, withFields } from "../browser-client.ts";
import {
  authorizationRequest,
  CANON_CALLBACK,
  loginThrough,
  PHOTOS_RESOURCE,
  startFlowServer,
  type FlowServer,
} from "../code-flow.ts";

const engines = await storageEngines();

for (const engine of engines) {
  describe(`authorization code flow on ${engine.name}: Canon Printing reads alice's Flickr photos`, () => {
    let server: FlowServer;
    before(async () => {
      server = await startFlowServer(await engine.freshDatabase());
    });
    after(() => server.close());

    const client = () => ({ client_id: server.canon.clientId });
    const auth = () => oauth.ClientSecretBasic(server.canon.clientSecret);
    const introspect = async (token: string) =>
      (
        await post(`${server.url}/introspect`, form({ token }), {
          authorization: basic(server.canon.clientId, server.canon.clientSecret),
        })
      ).body;

    it("publishes the code flow in its metadata (RFC 8414, RFC 9207)", () => {
      const as = server.discovered;
      assert.equal(as.authorization_endpoint, `${server.issuer}/authorize`);
      assert.deepEqual(as.response_types_supported, ["code"]);
      assert.deepEqual(as.code_challenge_methods_supported, ["S256"]);
      assert.equal(as.authorization_response_iss_parameter_supported, true);
      assert.deepEqual(as.grant_types_supported, ["client_credentials", "authorization_code", "refresh_token"]);
    });

    it("authorize → login → consent → callback → tokens → refresh → rotation → reuse detection → family revoked", async () => {
      const attempt = await authorizationRequest(server);
      const browser = new BrowserClient(server.url);

      // 1. Login page, with the security headers and a session cookie.
      const loginPage = await browser.get(attempt.url.href);
      assert.equal(loginPage.status, 200);
      assertPageHeaders(loginPage.headers);
      assert.match(
        loginPage.headers.get("content-security-policy") ?? "",
        /form-action 'self' http:\/\/localhost:3000;/,
      );
      const cookie = browser.jar.cookies.get("authz_session");
      assert.ok(cookie, "session cookie set");
      assert.match(cookie.raw, /^authz_session=[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+; Path=\/; HttpOnly; SameSite=Lax$/);
      assert.match(loginPage.body, /to continue to <strong>Canon Printing<\/strong>/);

      // 2. Login: 303 back to /authorize, new session id (fixation defence).
      const login = await browser.post(
        "/login",
        withFields(onlyForm(loginPage.body, "/login"), { username: "alice", password: "correct horse battery staple" }),
      );
      assert.equal(login.status, 303);
      assert.notEqual(browser.jar.cookies.get("authz_session")?.value, cookie.value);
      const consentPage = await browser.get(present(login.location, "Location"));

      // 3. Consent page: the seed story's question, scope by description.
      assert.equal(consentPage.status, 200);
      assertPageHeaders(consentPage.headers);
      assert.match(consentPage.body, /<h1>Do you want to allow Canon Printing to access your photos\?<\/h1>/);
      assert.match(consentPage.body, /View your photos and albums/);
      const decision = await browser.post(
        "/consent",
        withFields(onlyForm(consentPage.body, "/consent"), { decision: "allow" }),
      );
      assert.equal(decision.status, 303);
      assert.equal(decision.headers.get("cache-control"), "no-store");

      // 4. Callback with code, state and iss, validated by oauth4webapi (checks iss, RFC 9207).
      const callback = new URL(present(decision.location, "Location"));
      assert.equal(`${callback.origin}${callback.pathname}`, CANON_CALLBACK);
      assert.deepEqual([...callback.searchParams.keys()], ["code", "state", "iss"]);
      assert.equal(callback.searchParams.get("state"), attempt.state);
      assert.equal(callback.searchParams.get("iss"), server.issuer);
      const params = oauth.validateAuthResponse(server.discovered, client(), callback, attempt.state);

      // 5. Token exchange.
      const exchange = await oauth.authorizationCodeGrantRequest(
        server.discovered,
        client(),
        auth(),
        params,
        CANON_CALLBACK,
        attempt.verifier,
        insecure,
      );
      assert.equal(exchange.headers.get("cache-control"), "no-store");
      const tokens = await oauth.processAuthorizationCodeResponse(server.discovered, client(), exchange);
      assert.equal(tokens.token_type, "bearer");
      assert.equal(tokens.expires_in, 600);
      assert.equal(tokens.scope, "photos");
      assert.match(tokens.refresh_token ?? "", /^[A-Za-z0-9_-]{43}$/);

      // The access token is an RFC 9068 JWT for the photos API, about alice.
      const jwks = createRemoteJWKSet(new URL(`${server.url}/jwks.json`));
      const verified = await jwtVerify(tokens.access_token, jwks, {
        issuer: server.issuer,
        audience: PHOTOS_RESOURCE,
        typ: "at+jwt",
        currentDate: server.clock.date,
      });
      const nowSeconds = Math.floor(server.clock.now() / 1000);
      assert.deepEqual(verified.payload, {
        iss: server.issuer,
        sub: server.userId,
        aud: PHOTOS_RESOURCE,
        exp: nowSeconds + 600,
        iat: nowSeconds,
        jti: verified.payload.jti,
        client_id: server.canon.clientId,
        scope: "photos",
      });

      // 6. Refresh: rotation gives a new refresh token; the old one is retired.
      server.clock.advance(60);
      const refreshed = await oauth.processRefreshTokenResponse(
        server.discovered,
        client(),
        await oauth.refreshTokenGrantRequest(
          server.discovered,
          client(),
          auth(),
          present(tokens.refresh_token, "refresh_token"),
          insecure,
        ),
      );
      assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
      assert.equal(refreshed.scope, "photos");
      assert.deepEqual(await introspect(present(tokens.refresh_token, "refresh_token")), { active: false });
      assert.equal(((await introspect(refreshed.access_token)) as { active: boolean }).active, true);

      // 7. Reuse of the rotated token after the grace window: invalid_grant, and the family is revoked.
      server.clock.advance(10);
      const reuse = await post(
        `${server.url}/token`,
        form({ grant_type: "refresh_token", refresh_token: present(tokens.refresh_token, "refresh_token") }),
        {
          authorization: basic(server.canon.clientId, server.canon.clientSecret),
        },
      );
      assert.deepEqual(reuse.body, {
        error: "invalid_grant",
        error_description: "the refresh token is invalid, expired or revoked",
      });
      assert.equal(reuse.status, 400);
      assert.equal(reuse.headers.get("cache-control"), "no-store");
      // The newest refresh token and every access token of the family are now dead.
      const afterReuse = await post(
        `${server.url}/token`,
        form({ grant_type: "refresh_token", refresh_token: present(refreshed.refresh_token, "refresh_token") }),
        {
          authorization: basic(server.canon.clientId, server.canon.clientSecret),
        },
      );
      assert.deepEqual(
        [afterReuse.status, afterReuse.body],
        [400, { error: "invalid_grant", error_description: "the refresh token is invalid, expired or revoked" }],
      );
      assert.deepEqual(await introspect(refreshed.access_token), { active: false });
      assert.deepEqual(await introspect(tokens.access_token), { active: false });
      assert.deepEqual(await introspect(present(refreshed.refresh_token, "refresh_token")), { active: false });
    });

    it("a returning user with consent goes straight back to Canon; only a new scope is asked again", async () => {
      // alice allowed `photos` in the previous test: after signing in (new browser) she is not asked again.
      const browser = new BrowserClient(server.url);
      const signedIn = await loginThrough(browser, await authorizationRequest(server));
      assert.equal(signedIn.status, 303);
      assert.match(
        new URL(present(signedIn.location, "Location")).searchParams.get("code") ?? "",
        /^[A-Za-z0-9_-]{43}$/,
      );
      // Same browser, same scope: no pages at all, a 303 with a code.
      const again = await authorizationRequest(server);
      const direct = await browser.get(again.url.href);
      assert.equal(direct.status, 303);
      const url = new URL(present(direct.location, "Location"));
      assert.equal(url.searchParams.get("state"), again.state);
      assert.equal(url.searchParams.get("iss"), server.issuer);
      assert.match(url.searchParams.get("code") ?? "", /^[A-Za-z0-9_-]{43}$/);
      // A new scope: the consent page asks only about it, showing photos as already allowed.
      const wider = await authorizationRequest(server, { scope: "photos profile" });
      const page = await browser.get(wider.url.href);
      assert.equal(page.status, 200);
      assert.match(page.body, /<h1>Do you want to allow Canon Printing to access your profile\?<\/h1>/);
      assert.match(page.body, /View your photos and albums<span class="badge">already allowed<\/span>/);
      assert.doesNotMatch(page.body, /See your name and profile picture<span class="badge">/);
    });

    it("Deny sends access_denied with state and iss", async () => {
      const attempt = await authorizationRequest(server, { scope: "profile" });
      const browser = new BrowserClient(server.url);
      // alice never allowed `profile`, so a fresh session sees the consent page for it.
      const consentPage = await loginThrough(browser, attempt);
      const deny = await browser.post(
        "/consent",
        withFields(onlyForm(consentPage.body, "/consent"), { decision: "deny" }),
      );
      assert.equal(deny.status, 303);
      const url = new URL(present(deny.location, "Location"));
      assert.deepEqual(Object.fromEntries(url.searchParams), {
        error: "access_denied",
        error_description: "the user denied the request",
        state: attempt.state,
        iss: server.issuer,
      });
      assert.throws(
        () => oauth.validateAuthResponse(server.discovered, client(), url, attempt.state),
        (e: unknown) => e instanceof oauth.AuthorizationResponseError && e.error === "access_denied",
      );
    });
  });
}
