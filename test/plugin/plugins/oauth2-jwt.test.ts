// The plugin through the real plugin server process (plugin/bin/oauth2-jwt-pluginserver.js, which
// loads plugin/dist/plugins/oauth2-jwt.js as Kong's server would), driven over Kong's
// MessagePack-RPC socket by the wire harness. Needs `npx tsc -b plugin kong-standin` first.
// What it must show: identity headers and spoofed ones, each rejection class with its exact
// status, WWW-Authenticate and body, round trips, key rotation, key server down, random-kid flood,
// a token refused once a revocation feed lists it.
import assert from "node:assert/strict";
import { createPublicKey, type JsonWebKey } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import {
  PluginConfigError,
  spawnPluginServer,
  validatePluginConfig,
  type AccessResult,
  type PluginServerProcess,
} from "../../../kong-standin/src/wire/index.ts";
import { FeedServer } from "../helpers/feed-server.ts";
import { JwksServer } from "../helpers/jwks-server.ts";
import { SCHEMA_DEFAULTS } from "../helpers/schema.ts";
import {
  AUDIENCE,
  b64url,
  defaultClaims,
  generateTestKey,
  hmacWithPublicKey,
  ISSUER,
  rawToken,
  signAccessToken,
  type TestKey,
} from "../helpers/tokens.ts";

const LONG = process.env.TEST_LONG === "1";
const nowSeconds = (): number => Math.floor(Date.now() / 1000);

let server: PluginServerProcess;
let es: TestKey, rs: TestKey, ed: TestKey;
const keyServers: JwksServer[] = [];

async function keyServer(keys: TestKey[]): Promise<JwksServer> {
  const started = await new JwksServer(keys.map((k) => k.jwk)).start();
  keyServers.push(started);
  return started;
}

/** Each test gets its own key server (and so its own entry in the plugin's process-wide JWKS cache). */
async function instanceFor(jwks: JwksServer, config: Record<string, unknown> = {}) {
  return server.startInstance("oauth2-jwt", {
    issuer: ISSUER,
    jwks_uri: jwks.jwksUri,
    audience: [AUDIENCE],
    scopes_required: ["photos"],
    ...config,
  });
}

const sign = (key: TestKey, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}) =>
  signAccessToken(key, claims, header, nowSeconds());

const request = (headers: Record<string, string | string[]>) => ({ method: "GET", path: "/flickr/photos", headers });

before(async () => {
  [es, rs, ed] = await Promise.all([
    generateTestKey("ES256", "es"),
    generateTestKey("RS256", "rs"),
    generateTestKey("EdDSA", "ed"),
  ]);
  server = await spawnPluginServer();
});
after(async () => {
  await server.close();
  await Promise.all(keyServers.map((s) => s.stop()));
});

function assertProceeds(result: AccessResult): asserts result is Extract<AccessResult, { outcome: "proceed" }> {
  assert.equal(result.outcome, "proceed", JSON.stringify(result));
}

describe("oauth2-jwt through the real plugin server", () => {
  it("passes a valid token with the identity headers set and every spoofed spelling removed, in 3 round trips", async () => {
    const jwks = await keyServer([es, rs]);
    const instance = await instanceFor(jwks);
    const token = await sign(es, { sub: "alice", client_id: "canon-printing", scope: "photos openid" });
    const result = await instance.access(
      request({
        Authorization: `Bearer ${token}`,
        Host: "localhost:8000",
        "X-OAuth2-JWT-Nonce": "3f2a9c0e4b7d4e1a9c2b5d6e7f809112",
        "X-Authenticated-Userid": "mallory",
        X_Authenticated_Userid: "mallory",
        "x-authenticated-client_id": "evil-client",
        X_AUTHENTICATED_SCOPE: "admin",
        "X-OAuth2-JWT-Verdict": "forged",
        x_oauth2_jwt_verdict: "forged",
      }),
    );
    assertProceeds(result);
    assert.deepEqual(result.upstreamHeaders, {
      authorization: [`Bearer ${token}`],
      host: ["localhost:8000"],
      "x-authenticated-userid": ["alice"],
      "x-authenticated-client-id": ["canon-printing"],
      "x-authenticated-scope": ["photos openid"],
      "x-oauth2-jwt-verdict": ["3f2a9c0e4b7d4e1a9c2b5d6e7f809112"],
    });
    assert.equal(result.roundTrips, 3);
    assert.deepEqual(result.logs, []);
  });

  it("removes every client-sent consumer header of Kong's (X-Consumer-*, X-Credential-Identifier, X-Anonymous-Consumer), in every spelling", async () => {
    const instance = await instanceFor(await keyServer([es]));
    const token = await sign(es, { sub: "alice", client_id: "canon-printing", scope: "photos" });
    const result = await instance.access(
      request({
        Authorization: `Bearer ${token}`,
        "X-Consumer-ID": "0f6ad3b2-5a57-4b8e-9d33-1c2e3f405162",
        X_Consumer_Username: "admin",
        "x-consumer_custom_id": "root",
        "X-Consumer-Groups": "admins",
        "X-CREDENTIAL-IDENTIFIER": "admin-key",
        x_anonymous_consumer: "false",
        "X-Consumer": "not one of them",
      }),
    );
    assertProceeds(result);
    assert.deepEqual(result.upstreamHeaders, {
      authorization: [`Bearer ${token}`],
      "x-consumer": ["not one of them"],
      "x-authenticated-userid": ["alice"],
      "x-authenticated-client-id": ["canon-printing"],
      "x-authenticated-scope": ["photos"],
    });
    assert.equal(result.roundTrips, 3);
  });

  it("refuses a request with more headers than Kong reads, where a spoofed one could hide", async () => {
    const instance = await instanceFor(await keyServer([es]));
    const headers: Record<string, string> = { authorization: `Bearer ${await sign(es)}` };
    for (let i = 0; i < 1200; i += 1) headers[`x-pad-${i}`] = "x";
    headers.X_Authenticated_Userid = "admin";
    const result = await instance.access(request(headers));
    assert.deepEqual(result.outcome === "exit" && [result.status, result.body, result.roundTrips], [
      400,
      { error: "invalid_request", error_description: "the request has too many headers" },
      2,
    ]);
  });

  it("has its configuration enforced by the schema it dumps, defaults filled as Kong fills them", async () => {
    const dumped = server.plugins.find((plugin) => plugin.Name === "oauth2-jwt");
    assert.ok(dumped);
    assert.deepEqual([dumped.Version, dumped.Priority, dumped.Phases], ["0.1.0", 1450, ["access"]]);
    const filled = validatePluginConfig(dumped, { issuer: ISSUER, audience: [AUDIENCE] }) as Record<string, unknown>;
    assert.deepEqual(
      Object.fromEntries(
        Object.entries(filled).filter(
          ([name]) => !name.startsWith("__") && !["route_id", "service_id", "consumer_id"].includes(name),
        ),
      ),
      {
        ...SCHEMA_DEFAULTS,
        issuer: ISSUER,
        audience: [AUDIENCE],
      },
    );
    const invalid: Record<string, unknown>[] = [
      {},
      { issuer: ISSUER },
      { issuer: ISSUER, audience: [] },
      { issuer: ISSUER, audience: [AUDIENCE], algorithms: ["HS256"] },
      { issuer: ISSUER, audience: [AUDIENCE], algorithms: ["none"] },
      { issuer: ISSUER, audience: [AUDIENCE], scope_match: "most" },
      { issuer: ISSUER, audience: [AUDIENCE], leeway_seconds: 3600 },
    ];
    for (const config of invalid) {
      await assert.rejects(server.startInstance("oauth2-jwt", config), PluginConfigError, JSON.stringify(config));
    }
    // `match` rules are Lua patterns the harness does not run (Kong does): should such a config
    // get through anyway, the plugin refuses every request rather than guess.
    const jwks = await keyServer([es]);
    for (const config of [{ issuer: "ftp://x" }, { scopes_required: ["two words"] }, { realm: 'say "hi"' }]) {
      const instance = await instanceFor(jwks, config);
      const result = await instance.access(request({ authorization: `Bearer ${await sign(es)}` }));
      assert.deepEqual(
        result.outcome === "exit" && [result.status, result.body, result.roundTrips],
        [500, { message: "An unexpected error occurred" }, 1],
        JSON.stringify(config),
      );
    }
  });

  it("refuses a token once the revocation feed lists it, within a poll interval, and keeps passing the others", async () => {
    const jwks = await keyServer([es]);
    const feed = await new FeedServer({ clientId: "gateway", clientSecret: "s3cret", pageSize: 1000 }).start();
    try {
      const instance = await instanceFor(jwks, {
        revocation_feed_url: feed.feedUrl,
        revocation_client_id: "gateway",
        revocation_client_secret: "s3cret",
        revocation_poll_seconds: 0.1,
      });
      const [token, other] = await Promise.all([sign(es, { jti: "to-revoke" }), sign(es, { jti: "kept" })]);
      assertProceeds(await instance.access(request({ authorization: `Bearer ${token}` })));
      assertProceeds(await instance.access(request({ authorization: `Bearer ${token}` })));
      feed.append({ kind: "token", jti: "to-revoke", exp: nowSeconds() + 600, drop_after: nowSeconds() + 900 });
      const appended = Date.now();
      let result = await instance.access(request({ authorization: `Bearer ${token}` }));
      while (result.outcome === "proceed" && Date.now() - appended < 5000) {
        await sleep(20);
        result = await instance.access(request({ authorization: `Bearer ${token}` }));
      }
      assert.ok(Date.now() - appended < 1000, `refused ${Date.now() - appended} ms after the revocation`);
      assert.deepEqual(result.outcome === "exit" && [result.status, result.body, result.headers["www-authenticate"]], [
        401,
        { error: "invalid_token", error_description: "the token has been revoked" },
        ['Bearer realm="api", error="invalid_token", error_description="the token has been revoked"'],
      ]);
      assertProceeds(await instance.access(request({ authorization: `Bearer ${other}` })));
      assert.ok(
        feed.requests.some((url) => url.includes("after=")),
        "polled with the cursor",
      );
    } finally {
      await feed.stop();
    }
  });

  it("refuses every token of a signing key the feed withdraws, and refetches the key set at once", async () => {
    const jwks = await keyServer([es, rs]);
    const feed = await new FeedServer({ clientId: "gateway", clientSecret: "s3cret", pageSize: 1000 }).start();
    try {
      const instance = await instanceFor(jwks, {
        revocation_feed_url: feed.feedUrl,
        revocation_client_id: "gateway",
        revocation_client_secret: "s3cret",
        revocation_poll_seconds: 0.1,
      });
      const [withdrawn, kept] = await Promise.all([sign(es), sign(rs)]);
      assertProceeds(await instance.access(request({ authorization: `Bearer ${withdrawn}` })));
      assert.equal(jwks.count(), 1);
      jwks.keys = [rs.jwk];
      feed.append({ kind: "key", kid: "es", drop_after: nowSeconds() + 900 });
      const appended = Date.now();
      let result = await instance.access(request({ authorization: `Bearer ${withdrawn}` }));
      while (result.outcome === "proceed" && Date.now() - appended < 5000) {
        await sleep(20);
        result = await instance.access(request({ authorization: `Bearer ${withdrawn}` }));
      }
      assert.deepEqual(result.outcome === "exit" && [result.status, (result.body as { error?: unknown }).error], [
        401,
        "invalid_token",
      ]);
      // The refetch starts with the withdrawal; the refusal may come before its request reaches the key server.
      for (const started = Date.now(); jwks.count() < 2 && Date.now() - started < 2000;) await sleep(10);
      assert.equal(jwks.count(), 2, "refetched at once, within jwks_min_refresh_seconds of the first fetch");
      assertProceeds(await instance.access(request({ authorization: `Bearer ${kept}` })));
    } finally {
      await feed.stop();
    }
  });

  it("keeps concurrent requests apart: each gets its own verdict, identity and nonce", async () => {
    const instance = await instanceFor(await keyServer([es]));
    const requests = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => ({
        i,
        nonce: `nonce-${i}`,
        token:
          i % 3 === 2 ? await sign(es, { sub: `user-${i}`, aud: "elsewhere" }) : await sign(es, { sub: `user-${i}` }),
      })),
    );
    const results = await Promise.all(
      requests.map(({ token, nonce }) =>
        instance.access(request({ authorization: `Bearer ${token}`, "x-oauth2-jwt-nonce": nonce })),
      ),
    );
    results.forEach((result, i) => {
      if (i % 3 === 2) {
        assert.equal(result.outcome === "exit" && result.status, 401, `request ${i}`);
      } else {
        assertProceeds(result);
        assert.deepEqual(
          [result.upstreamHeaders["x-authenticated-userid"], result.upstreamHeaders["x-oauth2-jwt-verdict"]],
          [[`user-${i}`], [`nonce-${i}`]],
        );
      }
    });
  });

  it("strips Authorization with hide_credentials and uses the configured header names", async () => {
    const instance = await instanceFor(await keyServer([es]), {
      hide_credentials: true,
      upstream_headers: { subject: "X-User", scope: "X-Scopes", client_id: "X-Client" },
    });
    const result = await instance.access(
      request({ authorization: `Bearer ${await sign(es)}`, x_user: "mallory", "X-Authenticated-Userid": "kept" }),
    );
    assertProceeds(result);
    assert.deepEqual(result.upstreamHeaders, {
      "x-authenticated-userid": ["kept"],
      "x-user": ["alice"],
      "x-client": ["canon-printing"],
      "x-scopes": ["photos openid"],
    });
  });

  it("removes a client's __proto__ spelling of a configured identity header, end to end", async () => {
    const instance = await instanceFor(await keyServer([es]), {
      upstream_headers: { subject: "--proto--", scope: "X-Scope", client_id: "X-Client" },
    });
    // An own key named __proto__, as a header name arrives from Kong.
    const headers = JSON.parse('{"__proto__":"mallory","x-oauth2-jwt-nonce":"p"}') as Record<string, string>;
    headers.authorization = `Bearer ${await sign(es)}`;
    const result = await instance.access(request(headers));
    assertProceeds(result);
    assert.deepEqual(result.upstreamHeaders, {
      authorization: [headers.authorization],
      "--proto--": ["alice"],
      "x-client": ["canon-printing"],
      "x-scope": ["photos openid"],
      "x-oauth2-jwt-verdict": ["p"],
    });
  });

  describe("refuses each rejection class with the exact status, WWW-Authenticate and body, in 2 round trips", () => {
    const challenge = (error: string, description: string) =>
      `Bearer realm="api", error="${error}", error_description="${description}"`;
    const invalidToken = (description: string) => ({
      status: 401,
      headers: { "www-authenticate": [challenge("invalid_token", description)], "content-type": ["application/json"] },
      body: { error: "invalid_token", error_description: description },
    });
    const invalidRequest = (description: string) => ({
      status: 400,
      headers: {
        "www-authenticate": [challenge("invalid_request", description)],
        "content-type": ["application/json"],
      },
      body: { error: "invalid_request", error_description: description },
    });

    it("for every hostile token", async () => {
      const jwks = await keyServer([es, rs, ed]);
      const instance = await instanceFor(jwks);
      const now = nowSeconds();
      const rsPem = createPublicKey({ key: rs.jwk as JsonWebKey, format: "jwk" }).export({
        type: "spki",
        format: "pem",
      }) as string;
      const valid = await sign(es);
      const [h, p, s] = valid.split(".") as [string, string, string];
      const flipped = Buffer.from(s, "base64url");
      flipped[10] ^= 0x40;
      const cases: [string, Record<string, string | string[]>, ReturnType<typeof invalidToken>][] = [
        [
          "no token",
          {},
          {
            status: 401,
            headers: { "www-authenticate": ['Bearer realm="api"'], "content-type": ["application/json"] },
            body: { error_description: "a bearer token is required" } as never,
          },
        ],
        [
          "wrong scheme",
          { authorization: "Basic YWxpY2U6c2VjcmV0" },
          invalidRequest("the Authorization header does not use the Bearer scheme"),
        ],
        ["empty token", { authorization: "Bearer " }, invalidRequest("the Authorization header carries no token")],
        [
          "extra parts",
          { authorization: `Bearer ${valid} extra` },
          invalidRequest("the Authorization header is not `Bearer <token>`"),
        ],
        [
          "two Authorization headers",
          { authorization: [`Bearer ${valid}`, `Bearer ${valid}`] },
          invalidRequest("more than one Authorization header"),
        ],
        [
          "expired",
          { authorization: `Bearer ${await sign(es, { iat: now - 700, exp: now - 60 })}` },
          invalidToken("the token has expired"),
        ],
        [
          "not yet valid",
          { authorization: `Bearer ${await sign(es, { nbf: now + 120 })}` },
          invalidToken("the token is not valid yet"),
        ],
        [
          "issued in the future",
          { authorization: `Bearer ${await sign(es, { iat: now + 120 })}` },
          invalidToken("the token was issued in the future"),
        ],
        [
          "wrong issuer",
          { authorization: `Bearer ${await sign(es, { iss: "http://127.0.0.1:9999" })}` },
          invalidToken("the token was issued by another issuer"),
        ],
        [
          "wrong audience",
          { authorization: `Bearer ${await sign(es, { aud: "http://localhost:8000/other-api" })}` },
          invalidToken("the token is not meant for this API"),
        ],
        [
          "typ JWT",
          { authorization: `Bearer ${await sign(es, {}, { typ: "JWT" })}` },
          invalidToken("the token is not a JWT access token (typ must be at+jwt)"),
        ],
        [
          "typ missing",
          { authorization: `Bearer ${await sign(es, {}, { typ: undefined })}` },
          invalidToken("the token is not a JWT access token (typ must be at+jwt)"),
        ],
        [
          "alg none",
          { authorization: `Bearer ${rawToken({ alg: "none", typ: "at+jwt", kid: "es" }, defaultClaims(now))}` },
          invalidToken("the token's signing algorithm is not accepted"),
        ],
        [
          "HS256 keyed with the RSA public key",
          {
            authorization: `Bearer ${rawToken({ alg: "HS256", typ: "at+jwt", kid: "rs" }, defaultClaims(now), hmacWithPublicKey(rsPem))}`,
          },
          invalidToken("the token's signing algorithm is not accepted"),
        ],
        [
          "unknown kid",
          { authorization: `Bearer ${await sign(es, {}, { kid: "not-published" })}` },
          invalidToken("the token was signed with an unknown key"),
        ],
        [
          "kid of a key of another type",
          { authorization: `Bearer ${await sign(es, {}, { kid: "rs" })}` },
          invalidToken("the token's algorithm does not match its key"),
        ],
        [
          "jku header",
          { authorization: `Bearer ${await sign(es, {}, { jku: "http://evil.example/jwks.json" })}` },
          invalidToken("tokens naming their own key (jku, x5u, jwk, x5c) are not accepted"),
        ],
        [
          "x5u header",
          { authorization: `Bearer ${await sign(es, {}, { x5u: "http://evil.example/cert.pem" })}` },
          invalidToken("tokens naming their own key (jku, x5u, jwk, x5c) are not accepted"),
        ],
        [
          "tampered payload",
          {
            authorization: `Bearer ${h}.${b64url(JSON.stringify({ ...JSON.parse(Buffer.from(p, "base64url").toString()), sub: "admin" }))}.${s}`,
          },
          invalidToken("the token signature is invalid"),
        ],
        [
          "tampered signature",
          { authorization: `Bearer ${h}.${p}.${b64url(flipped)}` },
          invalidToken("the token signature is invalid"),
        ],
        [
          "JWE-shaped",
          { authorization: "Bearer eyJhbGciOiJSU0EtT0FFUC0yNTYiLCJlbmMiOiJBMjU2R0NNIn0.aaaa.bbbb.cccc.dddd" },
          invalidToken("encrypted tokens (JWE) are not accepted"),
        ],
        ["garbage", { authorization: "Bearer bm90IGEgdG9rZW4" }, invalidToken("the access token is not a signed JWT")],
        [
          "16 KB token",
          { authorization: `Bearer ${"A".repeat(16 * 1024)}` },
          invalidToken("the access token is too large"),
        ],
      ];
      for (const [name, headers, expected] of cases) {
        const result = await instance.access(request({ ...headers, "X-OAuth2-JWT-Nonce": "n" }));
        assert.deepEqual(
          result.outcome === "exit"
            ? {
                outcome: result.outcome,
                status: result.status,
                headers: result.headers,
                body: result.body,
                roundTrips: result.roundTrips,
              }
            : result,
          { outcome: "exit", ...expected, roundTrips: 2 },
          name,
        );
      }
      assert.equal(jwks.count(), 1, "one fetch on first use; the unknown kid came within the cooldown");
    });

    it("for a missing scope (403 with scope=), with all versus any", async () => {
      const jwks = await keyServer([es]);
      const token = await sign(es, { scope: "photos openid" });
      const all = await instanceFor(jwks, { scopes_required: ["photos", "print"] });
      const refused = await all.access(request({ authorization: `Bearer ${token}` }));
      const description = "the token lacks a scope this resource requires";
      assert.deepEqual(
        refused.outcome === "exit" && [refused.status, refused.headers, refused.body, refused.roundTrips],
        [
          403,
          {
            "www-authenticate": [
              `Bearer realm="api", error="insufficient_scope", error_description="${description}", scope="photos print"`,
            ],
            "content-type": ["application/json"],
          },
          { error: "insufficient_scope", error_description: description, scope: "photos print" },
          2,
        ],
      );
      const any = await instanceFor(jwks, { scopes_required: ["photos", "print"], scope_match: "any" });
      const allowed = await any.access(request({ authorization: `Bearer ${token}` }));
      assertProceeds(allowed);
      assert.deepEqual(allowed.upstreamHeaders["x-authenticated-scope"], ["photos openid"]);
      const none = await any.access(request({ authorization: `Bearer ${await sign(es, { scope: "openid" })}` }));
      assert.equal(none.outcome === "exit" && none.status, 403);
    });
  });

  it("lets a CORS preflight through without a token only when run_on_preflight is false", async () => {
    const jwks = await keyServer([es]);
    const preflight = {
      method: "OPTIONS",
      path: "/flickr/photos",
      headers: { "Access-Control-Request-Method": "GET", Origin: "http://localhost:3000", "X-OAuth2-JWT-Nonce": "pf" },
    };
    const passed = await (await instanceFor(jwks, { run_on_preflight: false })).access(preflight);
    assertProceeds(passed);
    assert.deepEqual(passed.upstreamHeaders, {
      "access-control-request-method": ["GET"],
      origin: ["http://localhost:3000"],
      "x-oauth2-jwt-verdict": ["pf"],
    });
    assert.equal(passed.roundTrips, 4);
    const checked = await (await instanceFor(jwks)).access(preflight);
    assert.equal(checked.outcome === "exit" && checked.status, 401);
    assert.equal(checked.roundTrips, 2);
  });

  it("survives key rotation at the key server with no request refused", async () => {
    const [oldKey, newKey] = await Promise.all([
      generateTestKey("ES256", "2026-old"),
      generateTestKey("ES256", "2026-new"),
    ]);
    const jwks = await keyServer([oldKey]);
    const instance = await instanceFor(jwks, { jwks_cache_seconds: 2, jwks_min_refresh_seconds: 1 });
    const outcomes: string[] = [];
    const started = Date.now();
    let phase = "old";
    // As the sidecar rotates: publish the new key, keep signing with the
    // old one for a cache lifetime, then sign with the new one; keep the old one published.
    while (Date.now() - started < 4500) {
      const elapsed = Date.now() - started;
      if (phase === "old" && elapsed > 1000) {
        jwks.keys = [oldKey.jwk, newKey.jwk];
        phase = "published";
      }
      if (phase === "published" && elapsed > 3200) phase = "new";
      const signer = phase === "new" ? newKey : oldKey;
      const results = await Promise.all(
        Array.from(
          { length: 8 },
          async () => (await instance.access(request({ authorization: `Bearer ${await sign(signer)}` }))).outcome,
        ),
      );
      outcomes.push(...results.map((o) => `${phase}:${o}`));
      await sleep(50);
    }
    assert.deepEqual(
      outcomes.filter((o) => !o.endsWith(":proceed")),
      [],
    );
    assert.ok(outcomes.filter((o) => o.startsWith("new:")).length >= 8);
    assert.ok(jwks.count() >= 2 && jwks.count() <= 6, `key set fetches: ${jwks.count()}`);
  });

  it("follows the key set's max-age: a withdrawn key is refused once it has passed, though jwks_cache_seconds is 300", async () => {
    const [kept, withdrawn] = await Promise.all([
      generateTestKey("ES256", "kept"),
      generateTestKey("ES256", "withdrawn"),
    ]);
    const jwks = await keyServer([kept, withdrawn]);
    jwks.jwksHeaders = { "cache-control": "public, max-age=1" };
    const instance = await instanceFor(jwks, { jwks_cache_seconds: 300, jwks_min_refresh_seconds: 1 });
    assertProceeds(await instance.access(request({ authorization: `Bearer ${await sign(withdrawn)}` })));
    jwks.keys = [kept.jwk];
    await sleep(1100);
    // Past the max-age, a request starts the refresh and is answered from the keys at hand; the
    // refresh lands within a few milliseconds.
    let refused: AccessResult | undefined;
    for (let attempt = 0; attempt < 40 && refused === undefined; attempt += 1) {
      const result = await instance.access(request({ authorization: `Bearer ${await sign(withdrawn)}` }));
      if (result.outcome === "exit") refused = result;
      else await sleep(25);
    }
    const description = "the token was signed with an unknown key";
    assert.deepEqual(
      refused?.outcome === "exit" ? { status: refused.status, headers: refused.headers, body: refused.body } : refused,
      {
        status: 401,
        headers: {
          "www-authenticate": [`Bearer realm="api", error="invalid_token", error_description="${description}"`],
          "content-type": ["application/json"],
        },
        body: { error: "invalid_token", error_description: description },
      },
    );
    assertProceeds(await instance.access(request({ authorization: `Bearer ${await sign(kept)}` })));
    assert.equal(jwks.count(), 2);
  });

  it("even an unannounced new kid is accepted through one refetch", async () => {
    const newKey = await generateTestKey("EdDSA", "surprise");
    const jwks = await keyServer([es]);
    const instance = await instanceFor(jwks, { jwks_min_refresh_seconds: 1 });
    assertProceeds(await instance.access(request({ authorization: `Bearer ${await sign(es)}` })));
    await sleep(1100);
    jwks.keys = [es.jwk, newKey.jwk];
    assertProceeds(await instance.access(request({ authorization: `Bearer ${await sign(newKey)}` })));
    assert.equal(jwks.count(), 2);
  });

  it(`keeps accepting valid tokens while the key server is stopped (${LONG ? "a minute" : "3 s, past a 1 s cache lifetime; TEST_LONG=1 for a minute"})`, async () => {
    const jwks = await keyServer([es]);
    const instance = await instanceFor(jwks, { jwks_cache_seconds: 1, jwks_min_refresh_seconds: 1 });
    assertProceeds(await instance.access(request({ authorization: `Bearer ${await sign(es)}` })));
    await jwks.stop();
    const started = Date.now();
    const duration = LONG ? 60_000 : 3000;
    let accepted = 0;
    while (Date.now() - started < duration) {
      // A fresh token each time, so the verified-token cache cannot hide a missing key.
      const results = await Promise.all(
        Array.from({ length: 4 }, async () => instance.access(request({ authorization: `Bearer ${await sign(es)}` }))),
      );
      for (const result of results) assertProceeds(result);
      accepted += results.length;
      await sleep(LONG ? 500 : 100);
    }
    assert.ok(accepted >= 40);
    const refused = await instance.access(request({ authorization: `Bearer ${await sign(es, { aud: "elsewhere" })}` }));
    assert.equal(refused.outcome === "exit" && refused.status, 401, "still validating, not just passing");
  });

  it("turns 1,000 requests with random kids into at most one key set fetch per cooldown", async () => {
    const jwks = await keyServer([es]);
    const cooldown = 2;
    const instance = await instanceFor(jwks, { jwks_min_refresh_seconds: cooldown });
    assertProceeds(await instance.access(request({ authorization: `Bearer ${await sign(es)}` })));
    assert.equal(jwks.count(), 1);
    const tokens = await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        sign(es, {}, { kid: `random-${i}-${Math.random().toString(36).slice(2)}` }),
      ),
    );
    await sleep(cooldown * 1000 + 100); // so that the first random kid may cause a refetch
    const started = Date.now();
    const statuses: number[] = [];
    for (let batch = 0; batch < 1000; batch += 50) {
      const results = await Promise.all(
        tokens.slice(batch, batch + 50).map((t) => instance.access(request({ authorization: `Bearer ${t}` }))),
      );
      statuses.push(...results.map((r) => (r.outcome === "exit" ? r.status : 0)));
    }
    const elapsedSeconds = (Date.now() - started) / 1000;
    assert.deepEqual(new Set(statuses), new Set([401]));
    const allowed = 1 + Math.floor(elapsedSeconds / cooldown);
    assert.ok(jwks.count() - 1 <= allowed, `${jwks.count() - 1} fetches in ${elapsedSeconds.toFixed(1)} s`);
    assert.ok(jwks.count() >= 2, "the first unknown kid did cause a refetch");
  });
});
