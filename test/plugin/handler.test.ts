// The handler against a recording fake of Kong's PDK: which calls it makes, in which order, with
// which arguments. The same behaviour through the real plugin server is in plugins/oauth2-jwt.test.ts;
// the revocation feed is a real HTTP feed on 127.0.0.1 (helpers/feed-server.ts).
import assert from "node:assert/strict";
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import type { AuthenticationDeps } from "../../plugin/src/core/authenticate.ts";
import { JwksCache } from "../../plugin/src/core/jwks-cache.ts";
import { RevocationFeeds } from "../../plugin/src/core/revocation-feed.ts";
import { TokenCache } from "../../plugin/src/core/token-cache.ts";
import { AccessHandler, type KongPdk } from "../../plugin/src/handler.ts";
import { FeedServer } from "./helpers/feed-server.ts";
import { JwksServer, TestClock } from "./helpers/jwks-server.ts";
import { AUDIENCE, generateTestKey, ISSUER, NOW, signAccessToken, type TestKey } from "./helpers/tokens.ts";

type Call = [string, ...unknown[]];

/** Records each PDK call; `fail` makes the named call reject as a StepError would. */
function fakeKong(headers: Record<string, string | string[]>, options: { method?: string; fail?: string } = {}) {
  const calls: Call[] = [];
  const call = (name: string, args: unknown[], result: unknown) => {
    calls.push([name, ...args]);
    return options.fail === name ? Promise.reject(new Error(`PDK method ${name} failed`)) : Promise.resolve(result);
  };
  const kong: KongPdk = {
    request: {
      getHeaders: (...args) => call("kong.request.get_headers", args, headers),
      getMethod: () => call("kong.request.get_method", [], options.method ?? "GET"),
    },
    service: { request: { setHeaders: (h) => call("kong.service.request.set_headers", [h], null) } },
    response: { exit: (...args) => call("kong.response.exit", args, undefined) },
  };
  return { kong, calls };
}

let key: TestKey;
let server: JwksServer;
let clock: TestClock;
let handler: (config?: Record<string, unknown>) => AccessHandler;
before(async () => {
  key = await generateTestKey("ES256", "k1");
  server = await new JwksServer([key.jwk]).start();
});
after(() => server.stop());
beforeEach(() => {
  clock = new TestClock(NOW * 1000);
  const deps = { jwks: new JwksCache({ now: clock.now, onError: () => {} }), tokens: new TokenCache(), now: clock.now };
  handler = (config = {}) =>
    new AccessHandler(
      { issuer: ISSUER, jwks_uri: server.jwksUri, audience: [AUDIENCE], scopes_required: ["photos"], ...config },
      deps,
    );
});

describe("AccessHandler", () => {
  it("allows a valid token in two PDK calls: read headers, set identity + verdict + strip spoofed spellings", async () => {
    const token = await signAccessToken(key, { sub: "alice", client_id: "canon", scope: "photos openid" });
    const { kong, calls } = fakeKong({
      authorization: `Bearer ${token}`,
      "x-oauth2-jwt-nonce": "n0nce",
      "x-authenticated-userid": "mallory",
      x_authenticated_userid: "mallory",
      "x-authenticated_scope": "admin",
      x_oauth2_jwt_verdict: "forged",
      host: "localhost",
    });
    await handler().access(kong);
    assert.deepEqual(calls, [
      ["kong.request.get_headers", 1000],
      [
        "kong.service.request.set_headers",
        {
          x_authenticated_userid: [],
          "x-authenticated_scope": [],
          x_oauth2_jwt_verdict: [],
          "X-Authenticated-Userid": "alice",
          "X-Authenticated-Client-Id": "canon",
          "X-Authenticated-Scope": "photos openid",
          "X-OAuth2-JWT-Verdict": "n0nce",
          "X-OAuth2-JWT-Nonce": [],
        },
      ],
    ]);
  });

  it("removes every client-sent consumer header of Kong's, in every spelling, in the same set_headers call", async () => {
    const token = await signAccessToken(key, { sub: "alice", client_id: "canon", scope: "photos" });
    const { kong, calls } = fakeKong({
      authorization: `Bearer ${token}`,
      "x-consumer-id": "0f6ad3b2",
      x_consumer_username: "admin",
      "x-consumer_custom_id": "root",
      "x-consumer-groups": "admins",
      "x-credential-identifier": "admin-key",
      x_anonymous_consumer: "false",
      // Near misses stay: not a consumer header, and the length of one.
      "x-consumer": "kept",
      "x-credential-identifiex": "kept",
    });
    await handler().access(kong);
    assert.deepEqual(calls.at(-1), [
      "kong.service.request.set_headers",
      {
        "x-consumer-id": [],
        x_consumer_username: [],
        "x-consumer_custom_id": [],
        "x-consumer-groups": [],
        "x-credential-identifier": [],
        x_anonymous_consumer: [],
        "X-Authenticated-Userid": "alice",
        "X-Authenticated-Client-Id": "canon",
        "X-Authenticated-Scope": "photos",
        "X-OAuth2-JWT-Verdict": [],
        "X-OAuth2-JWT-Nonce": [],
      },
    ]);
  });

  it("leaves a consumer header configured as an identity header to its canonical entry, removing only other spellings", async () => {
    const token = await signAccessToken(key, { sub: "alice", client_id: "canon", scope: "photos" });
    const { kong, calls } = fakeKong({
      authorization: `Bearer ${token}`,
      "x-consumer-username": "mallory",
      x_consumer_username: "mallory",
    });
    await handler({
      upstream_headers: {
        subject: "X-Consumer-Username",
        client_id: "X-Authenticated-Client-Id",
        scope: "X-Authenticated-Scope",
      },
    }).access(kong);
    assert.deepEqual(calls.at(-1), [
      "kong.service.request.set_headers",
      {
        x_consumer_username: [],
        "X-Consumer-Username": "alice",
        "X-Authenticated-Client-Id": "canon",
        "X-Authenticated-Scope": "photos",
        "X-OAuth2-JWT-Verdict": [],
        "X-OAuth2-JWT-Nonce": [],
      },
    ]);
  });

  it("removes and sets a header named __proto__ like any other (an own key, not the object's prototype)", async () => {
    const token = await signAccessToken(key, { sub: "alice", client_id: "canon", scope: "photos" });
    // JSON.parse makes __proto__ an own key, as the plugin server's decoder does for a header name.
    const spoofed = JSON.parse(
      `{"authorization":"Bearer ${token}","x-oauth2-jwt-nonce":"n","__proto__":"mallory"}`,
    ) as Record<string, string>;
    const named = fakeKong(spoofed);
    await handler({ upstream_headers: { subject: "__proto__", scope: "X-Scope", client_id: "X-Client" } }).access(
      named.kong,
    );
    assert.deepEqual(named.calls[1], [
      "kong.service.request.set_headers",
      JSON.parse(
        '{"__proto__":"alice","X-Client":"canon","X-Scope":"photos","X-OAuth2-JWT-Verdict":"n","X-OAuth2-JWT-Nonce":[]}',
      ),
    ]);
    // Configured as --proto--: the client's __proto__ spelling of it must be removed.
    const folded = fakeKong(spoofed);
    await handler({ upstream_headers: { subject: "--proto--", scope: "X-Scope", client_id: "X-Client" } }).access(
      folded.kong,
    );
    assert.deepEqual(folded.calls[1], [
      "kong.service.request.set_headers",
      JSON.parse(
        '{"__proto__":[],"--proto--":"alice","X-Client":"canon","X-Scope":"photos","X-OAuth2-JWT-Verdict":"n","X-OAuth2-JWT-Nonce":[]}',
      ),
    ]);
  });

  it("hides credentials, removes an empty scope header instead of sending a blank, and gives no verdict without exactly one nonce", async () => {
    const token = await signAccessToken(key, { scope: undefined });
    const { kong, calls } = fakeKong({ authorization: `Bearer ${token}`, "x-oauth2-jwt-nonce": ["a", "b"] });
    await handler({ hide_credentials: true, scopes_required: [] }).access(kong);
    assert.deepEqual(calls[1], [
      "kong.service.request.set_headers",
      {
        "X-Authenticated-Userid": "alice",
        "X-Authenticated-Client-Id": "canon-printing",
        "X-Authenticated-Scope": [],
        "X-OAuth2-JWT-Verdict": [],
        "X-OAuth2-JWT-Nonce": [],
        Authorization: [],
      },
    ]);
  });

  it("refuses in two PDK calls: read headers, exit with the RFC 6750 challenge", async () => {
    const { kong, calls } = fakeKong({ "x-oauth2-jwt-nonce": "n" });
    await handler({ realm: "photos" }).access(kong);
    assert.deepEqual(calls, [
      ["kong.request.get_headers", 1000],
      [
        "kong.response.exit",
        401,
        '{"error_description":"a bearer token is required"}',
        { "WWW-Authenticate": 'Bearer realm="photos"', "Content-Type": "application/json" },
      ],
    ]);
    const forbidden = fakeKong({ authorization: `Bearer ${await signAccessToken(key, { scope: "openid" })}` });
    await handler({ scopes_required: ["photos", "print"] }).access(forbidden.kong);
    assert.deepEqual(forbidden.calls[1], [
      "kong.response.exit",
      403,
      '{"error":"insufficient_scope","error_description":"the token lacks a scope this resource requires","scope":"photos print"}',
      {
        "WWW-Authenticate":
          'Bearer realm="api", error="insufficient_scope", error_description="the token lacks a scope this resource requires", scope="photos print"',
        "Content-Type": "application/json",
      },
    ]);
  });

  it("refuses a request whose headers reach the maximum read, since a spoofed header could hide past it", async () => {
    const headers: Record<string, string | string[]> = { authorization: `Bearer ${await signAccessToken(key)}` };
    for (let i = 0; i < 997; i += 1) headers[`x-pad-${i}`] = "x"; // 1 + 997 + 2 = 1,000 lines
    headers["x-many"] = ["a", "b"];
    const { kong, calls } = fakeKong(headers);
    await handler().access(kong);
    assert.deepEqual(calls[1], [
      "kong.response.exit",
      400,
      '{"error":"invalid_request","error_description":"the request has too many headers"}',
      {
        "WWW-Authenticate":
          'Bearer realm="api", error="invalid_request", error_description="the request has too many headers"',
        "Content-Type": "application/json",
      },
    ]);
    delete headers["x-pad-0"];
    const fewer = fakeKong(headers);
    await handler().access(fewer.kong);
    assert.equal(fewer.calls[1][0], "kong.service.request.set_headers");
  });

  it("lets a CORS preflight through without a token only when run_on_preflight is false, reading the method only then", async () => {
    const preflight = {
      "access-control-request-method": "GET",
      origin: "http://canon",
      "x-oauth2-jwt-nonce": "n1",
      x_authenticated_userid: "m",
    };
    const skipped = fakeKong(preflight, { method: "OPTIONS" });
    await handler({ run_on_preflight: false }).access(skipped.kong);
    assert.deepEqual(skipped.calls, [
      ["kong.request.get_headers", 1000],
      ["kong.request.get_method"],
      [
        "kong.service.request.set_headers",
        {
          x_authenticated_userid: [],
          "X-Authenticated-Userid": [],
          "X-Authenticated-Client-Id": [],
          "X-Authenticated-Scope": [],
          "X-OAuth2-JWT-Verdict": "n1",
          "X-OAuth2-JWT-Nonce": [],
        },
      ],
    ]);
    const getWithHeader = fakeKong(preflight, { method: "GET" });
    await handler({ run_on_preflight: false }).access(getWithHeader.kong);
    assert.deepEqual(
      getWithHeader.calls.map((c) => c[0]),
      ["kong.request.get_headers", "kong.request.get_method", "kong.response.exit"],
    );
    const checked = fakeKong(preflight, { method: "OPTIONS" });
    await handler().access(checked.kong);
    assert.deepEqual(
      checked.calls.map((c) => c[0]),
      ["kong.request.get_headers", "kong.response.exit"],
    );
  });

  it("answers 500, never a pass, when a PDK call fails or the configuration is unusable", async () => {
    const internal = [
      "kong.response.exit",
      500,
      '{"message":"An unexpected error occurred"}',
      { "Content-Type": "application/json" },
    ];
    const token = await signAccessToken(key);
    const errors: unknown[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => errors.push(args);
    try {
      for (const fail of ["kong.request.get_headers", "kong.service.request.set_headers"]) {
        const { kong, calls } = fakeKong({ authorization: `Bearer ${token}` }, { fail });
        await handler().access(kong);
        assert.deepEqual(calls.at(-1), internal, fail);
      }
      const { kong, calls } = fakeKong({ authorization: `Bearer ${token}` });
      await handler({ audience: [] }).access(kong);
      assert.deepEqual(calls, [internal]);
      assert.equal(errors.length, 3);
    } finally {
      console.error = original;
    }
  });

  it("answers 503 with Retry-After when the keys were never reachable", async () => {
    server.failWith = 503;
    try {
      const { kong, calls } = fakeKong({ authorization: `Bearer ${await signAccessToken(key)}` });
      await handler().access(kong);
      assert.deepEqual(calls[1], [
        "kong.response.exit",
        503,
        '{"message":"the token signing keys are unavailable"}',
        { "Retry-After": "5", "Content-Type": "application/json" },
      ]);
    } finally {
      server.failWith = undefined;
    }
  });
});

describe("AccessHandler with a repeated (cached) token", () => {
  const expired = [
    "kong.response.exit",
    401,
    '{"error":"invalid_token","error_description":"the token has expired"}',
    {
      "WWW-Authenticate": 'Bearer realm="api", error="invalid_token", error_description="the token has expired"',
      "Content-Type": "application/json",
    },
  ];
  const allowed = (nonce: string) => [
    "kong.service.request.set_headers",
    {
      "X-Authenticated-Userid": "alice",
      "X-Authenticated-Client-Id": "canon-printing",
      "X-Authenticated-Scope": "photos openid",
      "X-OAuth2-JWT-Verdict": nonce,
      "X-OAuth2-JWT-Nonce": [],
    },
  ];

  it("refuses a cached token once its exp (plus the 30 s leeway) passes, and never answers from the cache past exp", async () => {
    const token = await signAccessToken(key, { exp: NOW + 60 });
    const plugin = handler();
    const request = async (nonce: string) => {
      const { kong, calls } = fakeKong({ authorization: `Bearer ${token}`, "x-oauth2-jwt-nonce": nonce });
      await plugin.access(kong);
      return calls.at(-1);
    };
    assert.deepEqual(await request("a"), allowed("a"));
    clock.advance(59); // still cached
    assert.deepEqual(await request("b"), allowed("b"));
    clock.advance(1); // at exp: dropped from the cache, verified again, allowed within the leeway
    assert.deepEqual(await request("c"), allowed("c"));
    clock.advance(30); // exp + leeway
    assert.deepEqual(await request("d"), expired);
  });

  it("checks nbf on every hit: a token refused as not yet valid passes from the cache once its time comes", async () => {
    const token = await signAccessToken(key, { nbf: NOW + 100 });
    const plugin = handler();
    const first = fakeKong({ authorization: `Bearer ${token}`, "x-oauth2-jwt-nonce": "a" });
    await plugin.access(first.kong);
    assert.deepEqual(first.calls.at(-1), [
      "kong.response.exit",
      401,
      '{"error":"invalid_token","error_description":"the token is not valid yet"}',
      {
        "WWW-Authenticate": 'Bearer realm="api", error="invalid_token", error_description="the token is not valid yet"',
        "Content-Type": "application/json",
      },
    ]);
    clock.advance(70); // nbf - leeway
    const later = fakeKong({ authorization: `Bearer ${token}`, "x-oauth2-jwt-nonce": "b" });
    await plugin.access(later.kong);
    assert.deepEqual(later.calls.at(-1), allowed("b"));
  });

  it("stops a cached token once a refreshed key set no longer publishes its key", async () => {
    const token = await signAccessToken(key);
    const plugin = handler({ jwks_cache_seconds: 300, jwks_min_refresh_seconds: 10 });
    const request = async (nonce: string) => {
      const { kong, calls } = fakeKong({ authorization: `Bearer ${token}`, "x-oauth2-jwt-nonce": nonce });
      await plugin.access(kong);
      return calls.at(-1);
    };
    assert.deepEqual(await request("a"), allowed("a"));
    const other = await generateTestKey("ES256", "k2");
    server.keys = [other.jwk];
    try {
      clock.advance(241); // 80 % of the cache lifetime: this hit starts a background refresh
      assert.deepEqual(await request("b"), allowed("b"));
      const fetches = server.count();
      for (let i = 0; i < 200 && server.count() === fetches; i += 1)
        await new Promise((resolve) => setTimeout(resolve, 5));
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.deepEqual(await request("c"), [
        "kong.response.exit",
        401,
        '{"error":"invalid_token","error_description":"the token was signed with an unknown key"}',
        {
          "WWW-Authenticate":
            'Bearer realm="api", error="invalid_token", error_description="the token was signed with an unknown key"',
          "Content-Type": "application/json",
        },
      ]);
    } finally {
      server.keys = [key.jwk];
    }
  });

  it("strips every spoofed spelling on every hit, also after many distinct header names (the bounded name memo)", async () => {
    const token = await signAccessToken(key);
    const plugin = handler();
    for (let round = 0; round < 3; round += 1) {
      const headers: Record<string, string | string[]> = {
        authorization: `Bearer ${token}`,
        "x-oauth2-jwt-nonce": `n${round}`,
        "x-forwarded-prefix": "/flickr", // the nonce header's length, not protected
        X_Authenticated_UserId: "mallory",
        "x-authenticated_client_id": "evil",
        x_oauth2_jwt_verdict: "forged",
        "X-OAUTH2-JWT-NONCE": "second",
      };
      // 600 more names per round, each the length of a protected name: the memo is emptied when full.
      for (let i = 0; i < 600; i += 1) headers[`x-pad-${String(round * 1000 + i).padStart(16, "0")}`] = "x";
      const { kong, calls } = fakeKong(headers);
      await plugin.access(kong);
      assert.deepEqual(
        calls.at(-1),
        [
          "kong.service.request.set_headers",
          {
            x_authenticated_userid: [],
            "x-authenticated_client_id": [],
            x_oauth2_jwt_verdict: [],
            "X-Authenticated-Userid": "alice",
            "X-Authenticated-Client-Id": "canon-printing",
            "X-Authenticated-Scope": "photos openid",
            // Two nonce lines (x-oauth2-jwt-nonce in two cases): no verdict, and the canonical [] removes both.
            "X-OAuth2-JWT-Verdict": [],
            "X-OAuth2-JWT-Nonce": [],
          },
        ],
        `round ${round}`,
      );
    }
  });

  it("decides a differently spelled or repeated Authorization header as before (only `Bearer <token>` takes the cache's fast path)", async () => {
    const token = await signAccessToken(key);
    const plugin = handler();
    const cases: [Record<string, string | string[]>, unknown][] = [
      [{ authorization: `Bearer ${token}`, "x-oauth2-jwt-nonce": "a" }, allowed("a")],
      [{ authorization: `bearer ${token}`, "x-oauth2-jwt-nonce": "b" }, allowed("b")],
      [{ authorization: [`Bearer ${token}`], "x-oauth2-jwt-nonce": "c" }, allowed("c")],
      [
        { authorization: `Bearer ${token}`, Authorization: `Bearer ${token}` },
        [
          "kong.response.exit",
          400,
          '{"error":"invalid_request","error_description":"more than one Authorization header"}',
          {
            "WWW-Authenticate":
              'Bearer realm="api", error="invalid_request", error_description="more than one Authorization header"',
            "Content-Type": "application/json",
          },
        ],
      ],
      // RFC 6750 §2.1 allows more than one space (1*SP), and the value is trimmed.
      [{ authorization: `Bearer  ${token} `, "x-oauth2-jwt-nonce": "d" }, allowed("d")],
      [
        { authorization: `Bearer ${token}!` },
        [
          "kong.response.exit",
          400,
          '{"error":"invalid_request","error_description":"the Authorization header is not `Bearer <token>`"}',
          {
            "WWW-Authenticate":
              'Bearer realm="api", error="invalid_request", error_description="the Authorization header is not `Bearer <token>`"',
            "Content-Type": "application/json",
          },
        ],
      ],
    ];
    for (const [headers, expected] of cases) {
      const { kong, calls } = fakeKong(headers);
      await plugin.access(kong);
      assert.deepEqual(calls.at(-1), expected, JSON.stringify(Object.keys(headers)));
    }
  });
});

describe("AccessHandler with a revocation feed", () => {
  let feedServer: FeedServer;
  let feeds: RevocationFeeds;
  let deps: AuthenticationDeps;
  let logged: string[];
  const revoked = [
    "kong.response.exit",
    401,
    '{"error":"invalid_token","error_description":"the token has been revoked"}',
    {
      "WWW-Authenticate": 'Bearer realm="api", error="invalid_token", error_description="the token has been revoked"',
      "Content-Type": "application/json",
    },
  ];
  const tokenEntry = (jti: string) => ({ kind: "token", jti, exp: NOW + 600, drop_after: NOW + 900 });
  const feedConfig = (overrides: Record<string, unknown> = {}) => ({
    issuer: ISSUER,
    jwks_uri: server.jwksUri,
    audience: [AUDIENCE],
    revocation_feed_url: feedServer.feedUrl,
    revocation_client_id: "gateway",
    revocation_client_secret: "s3cret",
    // Polled by the tests themselves: the poller's own next poll is a minute away.
    revocation_poll_seconds: 60,
    revocation_max_stale_seconds: 120,
    ...overrides,
  });
  /** One request through a new handler instance (as Kong makes one per route), with `token`. */
  const request = async (token: string, config = feedConfig()) => {
    const { kong, calls } = fakeKong({ authorization: `Bearer ${token}` });
    await new AccessHandler(config, deps).access(kong);
    return calls[1];
  };

  before(async () => {
    feedServer = await new FeedServer({ clientId: "gateway", clientSecret: "s3cret", pageSize: 1000 }).start();
  });
  after(() => feedServer.stop());
  beforeEach(() => {
    feedServer.entries.length = 0;
    logged = [];
    feeds = new RevocationFeeds({ now: clock.now, log: (line) => logged.push(line) });
    deps = {
      jwks: new JwksCache({ now: clock.now, onError: () => {} }),
      tokens: new TokenCache(),
      now: clock.now,
      revocations: feeds,
    };
  });
  afterEach(() => feeds.stopAll());

  it("refuses a revoked token 401 invalid_token (RFC 6750 §3.1) on the fresh path and on the cached path alike", async () => {
    const token = await signAccessToken(key, { jti: "gone" });
    feedServer.append(tokenEntry("gone"));
    assert.deepEqual(await request(token), revoked, "first seen: verified, then found in the set");
    assert.equal(deps.tokens.size, 1, "its verification was cached");
    assert.deepEqual(await request(token), revoked, "repeated: answered from the cache, still found in the set");
    assert.equal((await request(await signAccessToken(key)))[0], "kong.service.request.set_headers");
  });

  it("refuses a cached token from the poll that brings its revocation on", async () => {
    const token = await signAccessToken(key, { sub: "alice", client_id: "canon-printing" });
    const other = await signAccessToken(key, { sub: "bob", client_id: "canon-printing" });
    assert.equal((await request(token))[0], "kong.service.request.set_headers");
    assert.equal((await request(token))[0], "kong.service.request.set_headers", "and from the cache");
    feedServer.append({ kind: "user", sub: "alice", issued_before: NOW, drop_after: NOW + 1200 });
    await feeds
      .acquire({
        issuer: ISSUER,
        feedUrl: feedServer.feedUrl,
        clientId: "gateway",
        clientSecret: "s3cret",
        pollSeconds: 60,
      })
      .poll();
    assert.deepEqual(await request(token), revoked);
    assert.equal((await request(other))[0], "kong.service.request.set_headers", "another user's token stands");
    assert.deepEqual(logged, []);
  });

  it("under refuse, lets the first request wait for the first poll rather than refusing it, even for a cached token", async () => {
    const token = await signAccessToken(key);
    const { kong } = fakeKong({ authorization: `Bearer ${token}` });
    await new AccessHandler({ issuer: ISSUER, jwks_uri: server.jwksUri, audience: [AUDIENCE] }, deps).access(kong);
    assert.equal(deps.tokens.size, 1, "keys fetched and the token cached by a route without the feed");
    assert.equal(
      (await request(token, feedConfig({ revocation_stale_action: "refuse" })))[0],
      "kong.service.request.set_headers",
    );
  });

  it("under refuse, answers 503 with Retry-After (the key server's shape) while the feed was never read; under accept, lets the token through", async () => {
    const token = await signAccessToken(key);
    const down = { revocation_feed_url: `${feedServer.origin}/nowhere` };
    assert.deepEqual(await request(token, feedConfig({ ...down, revocation_stale_action: "refuse" })), [
      "kong.response.exit",
      503,
      '{"message":"the token revocation list is unavailable"}',
      { "Retry-After": "5", "Content-Type": "application/json" },
    ]);
    assert.equal((await request(token, feedConfig(down)))[0], "kong.service.request.set_headers");
    assert.equal(logged.length, 1, "one line for the failing feed, not one per request");
    assert.match(logged[0], /\/nowhere: HTTP 404; no revocation set yet/);
  });
});
