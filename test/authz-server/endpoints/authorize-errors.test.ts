// Every bad input of the authorization code flow, each with its exact status and body (docs/oauth-rules.md).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as oauth from "oauth4webapi";
import { hashPassword } from "../../../authz-server/src/passwords.ts";
import { digest, generateSecret } from "../../../authz-server/src/secrets.ts";
import { basic, createClient, form, insecure, post, present } from "../helpers.ts";
import { assertPageHeaders, BrowserClient, formsOf, onlyForm, withFields } from "../browser-client.ts";
import {
  allow,
  authorizationRequest,
  CANON_CALLBACK,
  exchangeCallback,
  loginThrough,
  obtainCallback,
  PASSWORD,
  PHOTOS_RESOURCE,
  startFlowServer,
  withFlowServer,
  type FlowServer,
} from "../code-flow.ts";

const INVALID_REFRESH = {
  error: "invalid_grant",
  error_description: "the refresh token is invalid, expired or revoked",
};

describe("authorization code flow: bad input", () => {
  let server: FlowServer;
  before(async () => {
    server = await startFlowServer({ lifetimes: { refreshTokenIdleTtl: 3600, refreshTokenAbsoluteTtl: 7200 } });
  });
  after(() => server.close());

  const canonAuth = () => ({ authorization: basic(server.canon.clientId, server.canon.clientSecret) });
  const token = (values: Record<string, string>, headers = canonAuth()) =>
    post(`${server.url}/token`, form(values), headers);
  const exchange = (code: string, verifier: string, extra: Record<string, string> = {}) =>
    token({ grant_type: "authorization_code", code, redirect_uri: CANON_CALLBACK, code_verifier: verifier, ...extra });
  const introspect = async (value: string) =>
    (await post(`${server.url}/introspect`, form({ token: value }), canonAuth())).body;
  const active = async (value: string) => ((await introspect(value)) as { active: boolean }).active;

  /** A fresh code for alice (consent given once, then remembered). */
  async function freshCode(scope = "photos") {
    const attempt = await authorizationRequest(server, { scope });
    const browser = new BrowserClient(server.url);
    const afterLogin = await loginThrough(browser, attempt);
    const callback =
      afterLogin.status === 303 ? new URL(present(afterLogin.location, "Location")) : await allow(browser, afterLogin);
    return { attempt, browser, code: present(callback.searchParams.get("code"), "code") };
  }

  async function assertNoRedirectPage(url: URL, title: string) {
    const response = await new BrowserClient(server.url).get(url.href);
    assert.equal(response.status, 400);
    assert.equal(response.location, undefined, "never redirects");
    assertPageHeaders(response.headers);
    assert.match(response.body, new RegExp(`<h1>${title}</h1>`));
  }

  async function assertErrorRedirect(url: URL, error: string, description: string, state: string | null) {
    const response = await new BrowserClient(server.url).get(url.href);
    assert.equal(response.status, 303);
    const location = new URL(present(response.location, "Location"));
    assert.equal(`${location.origin}${location.pathname}`, CANON_CALLBACK);
    assert.deepEqual(Object.fromEntries(location.searchParams), {
      error,
      error_description: description,
      ...(state === null ? {} : { state }),
      iss: server.issuer,
    });
  }

  it("unknown client and unregistered redirect URIs (trailing slash, case) get an error page, never a redirect", async () => {
    await assertNoRedirectPage(
      (await authorizationRequest(server, { client_id: "unknown" })).url,
      "Unknown application",
    );
    for (const uri of [
      `${CANON_CALLBACK}/`,
      "http://LOCALHOST:3000/callback",
      "http://localhost:3000/Callback",
      "https://evil.example/callback",
    ]) {
      await assertNoRedirectPage(
        (await authorizationRequest(server, { redirect_uri: uri })).url,
        "Unregistered redirect address",
      );
    }
  });

  it("missing or plain PKCE, implicit grant and foreign scopes go back to the client with error, state and iss", async () => {
    const missing = await authorizationRequest(server, { code_challenge: null, code_challenge_method: null });
    await assertErrorRedirect(
      missing.url,
      "invalid_request",
      "code_challenge is required (PKCE with S256)",
      missing.state,
    );
    const plain = await authorizationRequest(server, { code_challenge_method: "plain" });
    await assertErrorRedirect(plain.url, "invalid_request", "code_challenge_method must be S256", plain.state);
    const noMethod = await authorizationRequest(server, { code_challenge_method: null });
    await assertErrorRedirect(noMethod.url, "invalid_request", "code_challenge_method must be S256", noMethod.state);
    const implicit = await authorizationRequest(server, { response_type: "token" });
    await assertErrorRedirect(
      implicit.url,
      "unsupported_response_type",
      "only response_type=code is supported",
      implicit.state,
    );
    const scope = await authorizationRequest(server, { scope: "photos admin" });
    await assertErrorRedirect(scope.url, "invalid_scope", "scope not allowed for this client: admin", scope.state);
    const noState = await authorizationRequest(server, { state: null, response_type: "token" });
    await assertErrorRedirect(noState.url, "unsupported_response_type", "only response_type=code is supported", null);
  });

  it("CSRF token missing or wrong on the login and consent forms: 403, nothing happens", async () => {
    const attempt = await authorizationRequest(server);
    const browser = new BrowserClient(server.url);
    const page = await browser.get(attempt.url.href);
    const loginForm = onlyForm(page.body, "/login");
    for (const csrf of [null, "", "forged", `${loginForm.fields.get("csrf_token")}x`]) {
      const fields = withFields(loginForm, { username: "alice", password: PASSWORD });
      if (csrf === null) fields.delete("csrf_token");
      else fields.set("csrf_token", csrf);
      const response = await browser.post("/login", fields);
      assert.equal(response.status, 403);
      assertPageHeaders(response.headers);
      assert.match(response.body, /Your session has expired or this form was not sent from this site/);
    }
    // A token from another browser session is not valid in this one.
    const other = new BrowserClient(server.url);
    const otherForm = onlyForm((await other.get(attempt.url.href)).body, "/login");
    assert.equal(
      (await browser.post("/login", withFields(otherForm, { username: "alice", password: PASSWORD }))).status,
      403,
    );
    // Consent: log in properly, then post the decision with a wrong token.
    const consentPage = await loginThrough(browser, await authorizationRequest(server, { scope: "profile" }));
    const consentForm = withFields(onlyForm(consentPage.body, "/consent"), { decision: "allow", csrf_token: "forged" });
    const refused = await browser.post("/consent", consentForm);
    assert.equal(refused.status, 403);
    assert.equal(refused.location, undefined);
    assert.deepEqual(
      (await server.storage.consents.grantedScopes(server.userId, server.canon.clientId)).includes("profile"),
      false,
    );
  });

  it("a login form that is not a readable UTF-8 urlencoded form gets an error page (415, 413), never a 500", async () => {
    const cases: [string, string, number, string][] = [
      ["application/json", "{}", 415, "Forms must be posted as application/x-www-form-urlencoded."],
      [
        "application/x-www-form-urlencoded; charset=iso-8859-1",
        "username=alice",
        415,
        "Forms must be posted in UTF-8.",
      ],
      ["application/x-www-form-urlencoded", `username=${"a".repeat(17 * 1024)}`, 413, "The form is too large."],
    ];
    for (const [contentType, body, status, message] of cases) {
      const response = await fetch(`${server.url}/login`, {
        method: "POST",
        headers: { "content-type": contentType },
        body,
      });
      const page = await response.text();
      assert.equal(response.status, status, contentType);
      assertPageHeaders(response.headers);
      assert.match(page, /<h1>Cannot sign in<\/h1>/);
      assert.ok(page.includes(message), message);
    }
  });

  it("a resource outside the grant is invalid_target at the token endpoint, for codes and refresh tokens (RFC 8707 §2)", async () => {
    // The user consented to `photos`, whose resource server is the photos API; the issuer is a registered
    // audience too (the default one), but not one this grant is for.
    const { attempt, code } = await freshCode();
    const other = await exchange(code, attempt.verifier, { resource: server.issuer });
    assert.deepEqual(
      [other.status, other.body],
      [400, { error: "invalid_target", error_description: "resource was not part of the authorization request" }],
    );
    const tokens = (await exchange(code, attempt.verifier, { resource: PHOTOS_RESOURCE })).body as {
      refresh_token: string;
    };
    const refreshed = await token({
      grant_type: "refresh_token",
      refresh_token: tokens.refresh_token,
      resource: server.issuer,
    });
    assert.deepEqual(
      [refreshed.status, refreshed.body],
      [400, { error: "invalid_target", error_description: "resource was not part of the original grant" }],
    );
  });

  it("a replayed valid code fails and revokes the tokens of the first exchange", async () => {
    const { attempt, code } = await freshCode();
    const first = await exchange(code, attempt.verifier);
    assert.equal(first.status, 200);
    const tokens = first.body as { access_token: string; refresh_token: string };
    assert.equal(await active(tokens.access_token), true);
    const replay = await exchange(code, attempt.verifier);
    assert.deepEqual(
      [replay.status, replay.body],
      [400, { error: "invalid_grant", error_description: "the authorization code was already used" }],
    );
    assert.equal(await active(tokens.access_token), false);
    assert.equal(await active(tokens.refresh_token), false);
    const refresh = await token({ grant_type: "refresh_token", refresh_token: tokens.refresh_token });
    assert.deepEqual([refresh.status, refresh.body], [400, INVALID_REFRESH]);
  });

  it("two concurrent exchanges of one code: exactly one gets tokens, and they are revoked by the other", async () => {
    const { attempt, code } = await freshCode();
    const answers = await Promise.all([exchange(code, attempt.verifier), exchange(code, attempt.verifier)]);
    assert.deepEqual(answers.map((a) => a.status).sort(), [200, 400]);
    const winner = present(
      answers.find((a) => a.status === 200),
      "a 200 answer",
    ).body as { access_token: string; refresh_token: string };
    const loser = present(
      answers.find((a) => a.status === 400),
      "a 400 answer",
    );
    assert.deepEqual(loser.body, {
      error: "invalid_grant",
      error_description: "the authorization code was already used",
    });
    assert.equal(await active(winner.access_token), false);
    assert.equal(await active(winner.refresh_token), false);
  });

  it("an invalid replay (wrong verifier, another client, wrong redirect URI) revokes nothing", async () => {
    const { attempt, code } = await freshCode();
    const first = await exchange(code, attempt.verifier);
    const tokens = first.body as { access_token: string; refresh_token: string };
    const wrongVerifier = await exchange(code, oauth.generateRandomCodeVerifier());
    assert.deepEqual(
      [wrongVerifier.status, wrongVerifier.body],
      [400, { error: "invalid_grant", error_description: "code_verifier does not match the code_challenge" }],
    );
    const otherRedirect = await exchange(code, attempt.verifier, { redirect_uri: `${CANON_CALLBACK}/` });
    assert.deepEqual(
      [otherRedirect.status, otherRedirect.body],
      [400, { error: "invalid_grant", error_description: "redirect_uri does not match the authorization request" }],
    );
    assert.equal(await active(tokens.access_token), true);
    assert.equal(await active(tokens.refresh_token), true);
  });

  it("wrong or missing PKCE verifier, another client, expired code", async () => {
    const { attempt, code } = await freshCode();
    const missing = await token({ grant_type: "authorization_code", code, redirect_uri: CANON_CALLBACK });
    assert.deepEqual(
      [missing.status, missing.body],
      [400, { error: "invalid_grant", error_description: "code_verifier is required (PKCE)" }],
    );
    const wrong = await exchange(code, oauth.generateRandomCodeVerifier());
    assert.deepEqual(
      [wrong.status, wrong.body],
      [400, { error: "invalid_grant", error_description: "code_verifier does not match the code_challenge" }],
    );
    const malformed = await exchange(code, "short");
    assert.deepEqual(
      [malformed.status, malformed.body],
      [400, { error: "invalid_grant", error_description: "code_verifier does not match the code_challenge" }],
    );
    // Another confidential client presenting Canon's code.
    const otherSecret = generateSecret();
    await server.storage.clients.create({
      clientId: "other-printer",
      name: "Other Printer",
      secretDigest: digest(otherSecret),
      redirectUris: [CANON_CALLBACK],
      grantTypes: ["authorization_code", "refresh_token"],
      scopes: ["photos"],
      tokenEndpointAuthMethod: "client_secret_basic",
      createdAt: server.clock.now(),
    });
    // The failed attempts did not burn the code.
    assert.equal((await exchange(code, attempt.verifier)).status, 200);
    const stolen = await freshCode();
    const byOther = await token(
      {
        grant_type: "authorization_code",
        code: stolen.code,
        redirect_uri: CANON_CALLBACK,
        code_verifier: stolen.attempt.verifier,
      },
      { authorization: basic("other-printer", otherSecret) },
    );
    assert.deepEqual(
      [byOther.status, byOther.body],
      [400, { error: "invalid_grant", error_description: "the authorization code is invalid" }],
    );
    // ...and the failed attempt did not burn the code for its rightful client.
    assert.equal((await exchange(stolen.code, stolen.attempt.verifier)).status, 200);
    // Expired: 60 s by default.
    const late = await freshCode();
    server.clock.advance(61);
    const expired = await exchange(late.code, late.attempt.verifier);
    assert.deepEqual(
      [expired.status, expired.body],
      [400, { error: "invalid_grant", error_description: "the authorization code has expired" }],
    );
  });

  it("refresh: narrowing allowed, widening refused, grace window for concurrent refresh, idle and absolute expiry", async () => {
    const { attempt, code } = await freshCode("photos profile");
    const tokens = (await exchange(code, attempt.verifier)).body as { refresh_token: string; scope: string };
    assert.equal(tokens.scope, "photos profile");
    const narrowed = await token({ grant_type: "refresh_token", refresh_token: tokens.refresh_token, scope: "photos" });
    assert.equal(narrowed.status, 200);
    const n = narrowed.body as { refresh_token: string; scope: string };
    assert.equal(n.scope, "photos");
    // The rotated refresh token keeps the original grant (RFC 6749 §6): profile can come back.
    const back = await token({ grant_type: "refresh_token", refresh_token: n.refresh_token, scope: "photos profile" });
    assert.equal((back.body as { scope: string }).scope, "photos profile");
    const b = back.body as { refresh_token: string };
    const widened = await token({ grant_type: "refresh_token", refresh_token: b.refresh_token, scope: "photos admin" });
    assert.deepEqual(
      [widened.status, widened.body],
      [400, { error: "invalid_scope", error_description: "scope was not originally granted: admin" }],
    );
    // Concurrent refresh within the grace window (2 s): both answered, the family survives.
    const one = await token({ grant_type: "refresh_token", refresh_token: b.refresh_token });
    server.clock.advance(1);
    const two = await token({ grant_type: "refresh_token", refresh_token: b.refresh_token });
    assert.deepEqual([one.status, two.status], [200, 200]);
    const latest = (two.body as { refresh_token: string }).refresh_token;
    assert.equal(await active(latest), true);
    assert.equal(await active((one.body as { refresh_token: string }).refresh_token), true);
    // Idle expiry: one hour unused.
    server.clock.advance(3601);
    assert.deepEqual((await token({ grant_type: "refresh_token", refresh_token: latest })).body, INVALID_REFRESH);
  });

  it("absolute expiry holds however often the token is refreshed", async () => {
    const { attempt, code } = await freshCode();
    let current = ((await exchange(code, attempt.verifier)).body as { refresh_token: string }).refresh_token;
    for (let i = 0; i < 2; i++) {
      server.clock.advance(3000);
      const r = await token({ grant_type: "refresh_token", refresh_token: current });
      assert.equal(r.status, 200);
      current = (r.body as { refresh_token: string }).refresh_token;
    }
    server.clock.advance(1201); // 7201 s after the code exchange
    assert.deepEqual((await token({ grant_type: "refresh_token", refresh_token: current })).body, INVALID_REFRESH);
  });

  it("revoking a refresh token (RFC 7009) revokes its family and the access tokens issued with it", async () => {
    const { attempt, code } = await freshCode();
    const first = (await exchange(code, attempt.verifier)).body as { access_token: string; refresh_token: string };
    const second = (await token({ grant_type: "refresh_token", refresh_token: first.refresh_token })).body as {
      access_token: string;
      refresh_token: string;
    };
    const revoked = await post(`${server.url}/revoke`, form({ token: second.refresh_token }), canonAuth());
    assert.equal(revoked.status, 200);
    for (const t of [first.access_token, second.access_token, second.refresh_token])
      assert.equal(await active(t), false);
  });

  it("a public client uses the code flow with PKCE and no secret", async () => {
    await server.storage.clients.create({
      clientId: "photo-app",
      name: "Photo App",
      secretDigest: null,
      redirectUris: ["http://127.0.0.1:4000/cb"],
      grantTypes: ["authorization_code", "refresh_token"],
      scopes: ["photos"],
      tokenEndpointAuthMethod: "none",
      createdAt: server.clock.now(),
    });
    const attempt = await authorizationRequest(server, {
      client_id: "photo-app",
      redirect_uri: "http://127.0.0.1:51234/cb",
    });
    const browser = new BrowserClient(server.url);
    const consent = await loginThrough(browser, attempt);
    const decision = await browser.post(
      "/consent",
      withFields(onlyForm(consent.body, "/consent"), { decision: "allow" }),
    );
    const callback = new URL(present(decision.location, "Location"));
    assert.equal(callback.origin, "http://127.0.0.1:51234");
    const client = { client_id: "photo-app", token_endpoint_auth_method: "none" };
    const params = oauth.validateAuthResponse(server.discovered, client, callback, attempt.state);
    const tokens = await oauth.processAuthorizationCodeResponse(
      server.discovered,
      client,
      await oauth.authorizationCodeGrantRequest(
        server.discovered,
        client,
        oauth.None(),
        params,
        "http://127.0.0.1:51234/cb",
        attempt.verifier,
        insecure,
      ),
    );
    assert.equal(tokens.scope, "photos");
    // A public client presenting a secret is refused (it cannot keep one).
    const withSecret = await post(
      `${server.url}/token`,
      form({
        grant_type: "refresh_token",
        refresh_token: present(tokens.refresh_token, "refresh_token"),
        client_id: "photo-app",
        client_secret: "x",
      }),
    );
    assert.equal(withSecret.status, 401);
  });

  it("consents page: sign in, see Canon Printing, withdraw it; its refresh tokens stop working", async () => {
    const { attempt, code } = await freshCode();
    const tokens = (await exchange(code, attempt.verifier)).body as { refresh_token: string };
    const browser = new BrowserClient(server.url);
    const loginPage = await browser.get("/consents");
    assert.equal(loginPage.status, 200);
    assert.match(loginPage.body, /to manage the apps connected to your account/);
    const login = await browser.post(
      "/login",
      withFields(onlyForm(loginPage.body, "/login"), { username: "alice", password: PASSWORD }),
    );
    assert.deepEqual([login.status, login.location], [303, `${server.url}/consents`]);
    const list = await browser.get("/consents");
    assertPageHeaders(list.headers);
    assert.match(list.body, /<strong>Canon Printing<\/strong>/);
    // Canon Printing and the Photo App of the previous test: one Withdraw form each.
    const forms = formsOf(list.body).filter((f) => f.action === "/consents/revoke");
    assert.deepEqual(forms.map((f) => f.fields.get("client_id")).sort(), [server.canon.clientId, "photo-app"].sort());
    const withdraw = present(
      forms.find((f) => f.fields.get("client_id") === server.canon.clientId),
      "the withdrawal form of Canon",
    );
    const missingCsrf = new URLSearchParams(withdraw.fields);
    missingCsrf.delete("csrf_token");
    assert.equal((await browser.post("/consents/revoke", missingCsrf)).status, 403);
    const done = await browser.post("/consents/revoke", withdraw.fields);
    assert.equal(done.status, 303);
    const after = await browser.get(present(done.location, "Location"));
    assert.match(after.body, /Access for Canon Printing was withdrawn./);
    assert.doesNotMatch(after.body, /<strong>Canon Printing<\/strong>/);
    assert.match(after.body, /<strong>Photo App<\/strong>/);
    // The notice comes from the query string: a crafted link must not claim a withdrawal that did not happen.
    const spoofed = await browser.get("/consents?withdrawn=photo-app");
    assert.equal(spoofed.status, 200);
    assert.doesNotMatch(spoofed.body, /was withdrawn/);
    assert.deepEqual(
      (await token({ grant_type: "refresh_token", refresh_token: tokens.refresh_token })).body,
      INVALID_REFRESH,
    );
    // Sign out (CSRF-checked): the consents page then asks to sign in.
    const signOut = onlyForm(after.body, "/logout");
    assert.equal((await browser.post("/logout", new URLSearchParams({ csrf_token: "forged" }))).status, 403);
    const out = await browser.post("/logout", signOut.fields);
    assert.deepEqual([out.status, out.location], [303, `${server.url}/consents`]);
    assert.match((await browser.get("/consents")).body, /<h1>Sign in to Flickr<\/h1>/);
    // Asked again next time.
    const again = await loginThrough(new BrowserClient(server.url), await authorizationRequest(server));
    assert.equal(again.status, 200);
    assert.match(again.body, /Do you want to allow Canon Printing to access your photos\?/);
  });
});

describe("sessions of deleted users", () => {
  it("a user deleted while signed in is signed out at the next request", () =>
    withFlowServer({}, async (server) => {
      await server.storage.users.create({
        id: "u-bob",
        username: "bob",
        passwordHash: await hashPassword("bob's long password"),
        createdAt: server.clock.now(),
      });
      const browser = new BrowserClient(server.url);
      const attempt = await authorizationRequest(server);
      const loginPage = await browser.get(attempt.url.href);
      const login = await browser.post(
        "/login",
        withFields(onlyForm(loginPage.body, "/login"), { username: "bob", password: "bob's long password" }),
      );
      assert.equal(login.status, 303);
      assert.match((await browser.get(present(login.location, "Location"))).body, /Signed in as <strong>bob<\/strong>/);
      const callback = await allow(browser, await browser.get(present(login.location, "Location")));
      const tokens = (await exchangeCallback(server, attempt, callback)).body as {
        access_token: string;
        refresh_token: string;
      };
      const introspect = async (value: string) =>
        (
          await post(`${server.url}/introspect`, form({ token: value }), {
            authorization: basic(server.canon.clientId, server.canon.clientSecret),
          })
        ).body;
      assert.equal(((await introspect(tokens.access_token)) as { active: boolean }).active, true);
      assert.equal(await server.storage.users.delete("bob", server.clock.now()), true);
      const after = await browser.get(present(login.location, "Location"));
      assert.equal(after.status, 200);
      assert.match(after.body, /<h1>Sign in to Flickr<\/h1>/);
      // Deleting the user withdrew everything issued to them: the access token is no longer active either.
      assert.deepEqual(await introspect(tokens.access_token), { active: false });
      assert.deepEqual(await introspect(tokens.refresh_token), { active: false });
    }));
});

describe("refresh without a grace window (--refresh-grace 0)", () => {
  it("a rotated token presented again, even in the same millisecond, revokes the family", () =>
    withFlowServer({ lifetimes: { refreshTokenGraceSeconds: 0 } }, async (server) => {
      const auth = { authorization: basic(server.canon.clientId, server.canon.clientSecret) };
      const attempt = await authorizationRequest(server);
      const { callback } = await obtainCallback(server, attempt);
      const first = (await exchangeCallback(server, attempt, callback)).body as { refresh_token: string };
      const refresh = () =>
        post(`${server.url}/token`, form({ grant_type: "refresh_token", refresh_token: first.refresh_token }), auth);
      const rotated = await refresh();
      assert.equal(rotated.status, 200);
      // The clock has not moved: 0 ms after the rotation is outside a grace window of 0 s.
      const reused = await refresh();
      assert.deepEqual([reused.status, reused.body], [400, INVALID_REFRESH]);
      const next = (rotated.body as { refresh_token: string }).refresh_token;
      const introspected = await post(`${server.url}/introspect`, form({ token: next }), auth);
      assert.deepEqual(introspected.body, { active: false });
    }));
});

describe("consent withdrawal for a client without refresh tokens", () => {
  it("revokes the access tokens its code exchanges issued", () =>
    withFlowServer({}, async (server) => {
      // An app allowed only the code grant: its access tokens belong to no refresh-token family.
      const app = await createClient(server.storage, {
        name: "Quick Print",
        scopes: ["photos"],
        grantTypes: ["authorization_code"],
        redirectUris: [CANON_CALLBACK],
      });
      const auth = { authorization: basic(app.clientId, app.clientSecret) };
      const attempt = await authorizationRequest(server, { client_id: app.clientId });
      const { callback } = await obtainCallback(server, attempt);
      const tokens = (await exchangeCallback(server, attempt, callback, app)).body as {
        access_token: string;
        refresh_token?: string;
      };
      assert.equal(tokens.refresh_token, undefined);
      const introspect = async () =>
        (await post(`${server.url}/introspect`, form({ token: tokens.access_token }), auth)).body as {
          active: boolean;
        };
      assert.equal((await introspect()).active, true);
      // Three minutes later (the code itself has expired and may have been purged), alice withdraws her consent.
      server.clock.advance(180);
      await server.storage.purgeExpired(server.clock.now());
      assert.equal(await server.storage.consents.revoke(server.userId, app.clientId, server.clock.now()), true);
      assert.deepEqual(await introspect(), { active: false });
    }));
});

describe("sessions after a password change", () => {
  it("a session signed in with the old password is signed out at the next request", () =>
    withFlowServer({}, async (server) => {
      const browser = new BrowserClient(server.url);
      const attempt = await authorizationRequest(server);
      const consent = await loginThrough(browser, attempt);
      assert.match(consent.body, /Signed in as <strong>alice<\/strong>/);
      // The password leaked and the operator changed it: the thief's (here: this browser's) session must end.
      assert.equal(
        await server.storage.users.setPasswordHash(
          "alice",
          await hashPassword("a brand new long password"),
          server.clock.now(),
        ),
        true,
      );
      const after = await browser.get(attempt.url.href);
      assert.equal(after.status, 200);
      assert.match(after.body, /<h1>Sign in to Flickr<\/h1>/);
      const decision = await browser.post(
        "/consent",
        withFields(onlyForm(consent.body, "/consent"), { decision: "allow" }),
      );
      assert.equal(decision.status, 200, "no code for the old session");
      assert.match(decision.body, /<h1>Sign in to Flickr<\/h1>/);
    }));
});

describe("secure cookies when the issuer is https", () => {
  it("uses Secure and the __Host- prefix", () =>
    withFlowServer({ issuer: "https://auth.example" }, async (server) => {
      const browser = new BrowserClient(server.url);
      const attempt = await authorizationRequest({
        ...server,
        discovered: { ...server.discovered, authorization_endpoint: `${server.url}/authorize` },
      });
      const page = await browser.get(attempt.url.href);
      assert.equal(page.status, 200);
      assert.match(
        browser.jar.cookies.get("__Host-authz_session")?.raw ?? "",
        /^__Host-authz_session=[^;]+; Path=\/; HttpOnly; SameSite=Lax; Secure$/,
      );
    }));
});
