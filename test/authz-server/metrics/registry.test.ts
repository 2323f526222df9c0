// The authorization server's metrics as an operator scrapes them from the listener of its own: what a client, a user
// and an administrator did shows up as exact counts under bounded labels, and nothing that identifies anyone does.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { rotateKey } from "../../../authz-server/src/keys/keyring.ts";
import { signInAtAccountPage } from "../account.ts";
import { BrowserClient, onlyForm, withFields } from "../browser-client.ts";
import {
  authorizationRequest,
  exchangeCallback,
  obtainCallback,
  startFlowServer,
  type FlowServer,
} from "../code-flow.ts";
import { basic, createClient, form, post, present, TestClock } from "../helpers.ts";
import { feedEntries } from "../account.ts";
import { scrape } from "./scrape.ts";

describe("the authorization server's metrics", () => {
  let server: FlowServer;
  before(async () => {
    server = await startFlowServer({
      metrics: { port: 0 },
      // One failed password from an address for the account, and the next attempt from there is throttled.
      interaction: { loginMaxFailuresPerAccountAndAddress: 1 },
    });
  });
  after(() => server.close());

  it("listen on loopback, on a port of their own: the issuer's port has no /metrics", async () => {
    const metricsUrl = present(server.running.metricsUrl, "metricsUrl");
    assert.match(metricsUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(new URL(metricsUrl).port, String(server.running.port));
    const onIssuer = await fetch(`${server.url}/metrics`);
    assert.equal(onIssuer.status, 404);
    assert.deepEqual(await onIssuer.json(), { message: "Not Found" });
    const elsewhere = await fetch(`${metricsUrl}/token`);
    assert.equal(elsewhere.status, 404);
    await elsewhere.body?.cancel();
    const posted = await fetch(`${metricsUrl}/metrics`, { method: "POST" });
    assert.equal(posted.status, 405);
    assert.equal(posted.headers.get("allow"), "GET");
    await posted.body?.cancel();
  });

  it("count tokens issued and refused, sign-ins, consents and revocations exactly, with nothing that names anyone", async () => {
    // A service client: one token, then a request with a wrong secret.
    const service = await createClient(server.storage, { scopes: ["photos"], grantTypes: ["client_credentials"] });
    const issued = await post(`${server.url}/token`, form({ grant_type: "client_credentials" }), {
      authorization: basic(service.clientId, service.clientSecret),
    });
    assert.equal(issued.status, 200);
    const serviceToken = (issued.body as { access_token: string }).access_token;
    const refused = await post(`${server.url}/token`, form({ grant_type: "client_credentials" }), {
      authorization: basic(service.clientId, `${service.clientSecret}x`),
    });
    assert.equal(refused.status, 401);
    assert.equal((refused.body as { error: string }).error, "invalid_client");

    // alice signs in, allows Canon Printing, which exchanges the code: a sign-in, a consent, a token.
    const attempt = await authorizationRequest(server);
    const { browser: laptop, callback } = await obtainCallback(server, attempt);
    const exchanged = await exchangeCallback(server, attempt, callback);
    assert.equal(exchanged.status, 200);
    const canonTokens = exchanged.body as { access_token: string; refresh_token: string };

    // Someone else guesses her password from another browser: a failure, then throttled.
    const stranger = new BrowserClient(server.url);
    assert.equal((await signInAtAccountPage(stranger, "not her password")).status, 400);
    assert.equal((await signInAtAccountPage(stranger, "another guess")).status, 429);

    // She withdraws Canon Printing's access; the service client revokes its token.
    const account = await laptop.get("/consents");
    const withdrawn = await laptop.post(
      "/consents/revoke",
      withFields(onlyForm(account.body, "/consents/revoke"), { client_id: server.canon.clientId }),
    );
    assert.equal(withdrawn.status, 303);
    const revoked = await post(`${server.url}/revoke`, form({ token: serviceToken }), {
      authorization: basic(service.clientId, service.clientSecret),
    });
    assert.equal(revoked.status, 200);

    const metrics = await scrape(server.running.metricsUrl);
    const expected: Record<string, number> = {
      'authz_tokens_issued_total{grant_type="authorization_code"}': 1,
      'authz_tokens_issued_total{grant_type="refresh_token"}': 0,
      'authz_tokens_issued_total{grant_type="client_credentials"}': 1,
      'authz_token_errors_total{error="invalid_client"}': 1,
      'authz_token_errors_total{error="invalid_grant"}': 0,
      'authz_token_errors_total{error="other"}': 0,
      'authz_logins_total{outcome="success"}': 1,
      'authz_logins_total{outcome="failure"}': 1,
      'authz_logins_total{outcome="throttled"}': 1,
      'authz_consents_total{action="granted"}': 1,
      'authz_consents_total{action="withdrawn"}': 1,
      'authz_http_request_duration_seconds_count{endpoint="token",status_class="2xx"}': 2,
      'authz_http_request_duration_seconds_count{endpoint="token",status_class="4xx"}': 1,
      'authz_http_request_duration_seconds_count{endpoint="revoke",status_class="2xx"}': 1,
      'authz_http_request_duration_seconds_count{endpoint="login",status_class="4xx"}': 2,
      'authz_http_request_duration_seconds_count{endpoint="consent",status_class="3xx"}': 1,
      'authz_http_request_duration_seconds_count{endpoint="consents",status_class="3xx"}': 1,
      'authz_db_errors_total{engine="sqlite"}': 0,
      'authz_db_pool_connections{engine="sqlite",state="total"}': 1,
      'authz_db_pool_connections{engine="sqlite",state="waiting"}': 0,
    };
    // The revocation feed's entries, kind by kind, are what this process appended: the withdrawn consent (one entry
    // covering what Canon Printing was issued under it) and the revoked service token.
    const kinds = (await feedEntries(server)).map((entry) => entry.kind);
    assert.deepEqual(kinds.toSorted(), ["token", "user_client"]);
    for (const kind of ["token", "user_client", "user", "client", "key"])
      expected[`authz_revocations_total{kind="${kind}"}`] = kinds.filter((k) => k === kind).length;
    const actual = Object.fromEntries(Object.keys(expected).map((series) => [series, metrics.sample(series)]));
    assert.deepEqual(actual, expected);
    assert.ok((metrics.sample("process_cpu_user_seconds_total") ?? 0) > 0, "process metrics");
    assert.notEqual(metrics.sample("nodejs_eventloop_lag_seconds"), undefined, "event-loop lag");

    // Labels come from fixed lists: no secret, token, user name, user id or client id anywhere in the text.
    for (const identifying of [
      service.clientId,
      service.clientSecret,
      server.canon.clientId,
      server.canon.clientSecret,
      serviceToken,
      canonTokens.access_token,
      canonTokens.refresh_token,
      "alice",
      server.userId,
      "not her password",
    ])
      assert.ok(!metrics.text.includes(identifying), `the scrape text contains ${identifying}`);
  });
});

describe("the signing-key gauges", () => {
  it("follow the key ring on the server's clock: the signing key's age, the next activation, keys by state", async () => {
    const clock = new TestClock();
    const server = await startFlowServer({ clock, metrics: { port: 0 } });
    after(() => server.close());
    const keys = (metrics: Awaited<ReturnType<typeof scrape>>) => ({
      age: metrics.sample("authz_signing_key_age_seconds"),
      next: metrics.sample("authz_signing_key_next_activation_seconds"),
      published: metrics.sample('authz_signing_keys{state="published"}'),
      active: metrics.sample('authz_signing_keys{state="active"}'),
      retiring: metrics.sample('authz_signing_keys{state="retiring"}'),
    });
    // The key generated at the first start signs at once.
    clock.advance(3600);
    assert.deepEqual(keys(await scrape(server.running.metricsUrl)), {
      age: 3600,
      next: undefined,
      published: 0,
      active: 1,
      retiring: 0,
    });

    // `keys rotate` publishes a key that signs in ten minutes.
    await rotateKey(server.storage.keys, "ES256", 600, clock.now());
    await server.running.services.keys.refresh();
    clock.advance(60);
    assert.deepEqual(keys(await scrape(server.running.metricsUrl)), {
      age: 3660,
      next: 540,
      published: 1,
      active: 1,
      retiring: 0,
    });

    // Once it signs, the old key is retiring and the age is the new key's, counted from its creation.
    clock.advance(600);
    assert.deepEqual(keys(await scrape(server.running.metricsUrl)), {
      age: 660,
      next: undefined,
      published: 0,
      active: 1,
      retiring: 1,
    });
  });
});
