// The handler against a recording fake of Kong's PDK: which calls it makes, in which order, with
// which arguments. The same behaviour through the real plugin server is in plugins/oauth2-jwt.test.ts;
// the revocation feed is a real HTTP feed on 127.0.0.1 (helpers/feed-server.ts).
import assert from "node:assert/strict";
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import type { AuthenticationDeps } from "../../plugin/src/core/authenticate.ts";
import { ConsumerCache } from "../../plugin/src/core/consumer-cache.ts";
import { JwksCache } from "../../plugin/src/core/jwks-cache.ts";
import { RevocationFeeds } from "../../plugin/src/core/revocation-feed.ts";
import { VerdictCounts, type Outcome, type VerdictReason } from "../../plugin/src/core/stats.ts";
import { TokenCache } from "../../plugin/src/core/token-cache.ts";
import { AccessHandler, type KongPdk } from "../../plugin/src/handler.ts";
import { Plugin } from "../../plugin/src/plugins/oauth2-jwt.ts";
import { FeedServer } from "./helpers/feed-server.ts";
import { JwksServer, TestClock } from "./helpers/jwks-server.ts";
import { AUDIENCE, generateTestKey, ISSUER, NOW, signAccessToken, type TestKey } from "./helpers/tokens.ts";

type Call = [string, ...unknown[]];

/** Kong's is_valid_uuid (kong/tools/uuid.lua). */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * kong.client.load_consumer as Kong 3.9.3 answers it through the plugin server (kong/pdk/client.lua):
 * a UUID by id first, then by username when asked; a non-UUID not searched by username is a Lua
 * error (the call rejects); nothing found is nil.
 */
function kongLoadConsumer(consumers: readonly Record<string, unknown>[], id: string, byUsername: boolean): unknown {
  if (!UUID.test(id) && !byUsername) throw new Error("cannot load a consumer with an id that is not a uuid");
  const byId = UUID.test(id) ? consumers.find((c) => c.id === id.toLowerCase()) : undefined;
  return byId ?? (byUsername ? consumers.find((c) => c.username === id) : undefined) ?? null;
}

interface FakeKongOptions {
  method?: string;
  /** The PDK call to reject, as a StepError would. */
  fail?: string;
  /** What kong.client.get_credential answers (an earlier plugin's credential). */
  credential?: unknown;
  /** Kong's consumers entities. */
  consumers?: readonly Record<string, unknown>[];
}

/** Records each PDK call; `fail` makes the named call reject as a StepError would. */
function fakeKong(headers: Record<string, string | string[]>, options: FakeKongOptions = {}) {
  const calls: Call[] = [];
  const call = (name: string, args: unknown[], result: () => unknown) => {
    calls.push([name, ...args]);
    if (options.fail === name) return Promise.reject(new Error(`PDK method ${name} failed`));
    try {
      return Promise.resolve(result());
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  };
  const kong: KongPdk = {
    request: {
      getHeaders: (...args) => call("kong.request.get_headers", args, () => headers),
      getMethod: () => call("kong.request.get_method", [], () => options.method ?? "GET"),
    },
    service: { request: { setHeaders: (h) => call("kong.service.request.set_headers", [h], () => null) } },
    response: { exit: (...args) => call("kong.response.exit", args, () => undefined) },
    client: {
      getCredential: () => call("kong.client.get_credential", [], () => options.credential ?? null),
      loadConsumer: (id, byUsername) =>
        call("kong.client.load_consumer", [id, byUsername], () =>
          kongLoadConsumer(options.consumers ?? [], id, byUsername),
        ),
      authenticate: (consumer, credential) => call("kong.client.authenticate", [consumer, credential], () => null),
    },
  };
  return { kong, calls };
}

/** console.error's lines while `run` runs. */
async function stderrOf(run: () => Promise<void>): Promise<string[]> {
  const lines: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => lines.push(args.map(String).join(" "));
  try {
    await run();
  } finally {
    console.error = original;
  }
  return lines;
}

let key: TestKey;
let server: JwksServer;
let clock: TestClock;
let consumers: ConsumerCache;
let handler: (config?: Record<string, unknown>) => AccessHandler;
before(async () => {
  key = await generateTestKey("ES256", "k1");
  server = await new JwksServer([key.jwk]).start();
});
after(() => server.stop());
beforeEach(() => {
  clock = new TestClock(NOW * 1000);
  consumers = new ConsumerCache();
  const deps = {
    jwks: new JwksCache({ now: clock.now, onError: () => {} }),
    tokens: new TokenCache(),
    now: clock.now,
    consumers,
  };
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

  it("counts every request once, in the slot of its outcome and reason, only once Kong took the answer", async () => {
    const verdicts = new VerdictCounts();
    const counted = (config: Record<string, unknown> = {}) =>
      new AccessHandler(
        { issuer: ISSUER, jwks_uri: server.jwksUri, audience: [AUDIENCE], scopes_required: ["photos"], ...config },
        {
          jwks: new JwksCache({ now: clock.now, onError: () => {} }),
          tokens: new TokenCache(),
          now: clock.now,
          verdicts,
        },
      );
    const token = await signAccessToken(key);
    await counted().access(fakeKong({ authorization: `Bearer ${token}` }).kong);
    await counted().access(fakeKong({}).kong);
    await counted({ run_on_preflight: false }).access(
      fakeKong({ "access-control-request-method": "GET" }, { method: "OPTIONS" }).kong,
    );
    const guest = { id: "5c1a4f3e-8b2d-4e6f-9a1b-2c3d4e5f6a7b", username: "guest" };
    await counted({ anonymous: "guest" }).access(fakeKong({}, { consumers: [guest] }).kong);
    await counted({ anonymous: "guest" }).access(fakeKong({}, { credential: { id: "key-1" } }).kong);
    const lines = await stderrOf(async () => {
      // Kong refused the verified request's headers: a 500, not an allowed request.
      await counted().access(
        fakeKong({ authorization: `Bearer ${token}` }, { fail: "kong.service.request.set_headers" }).kong,
      );
      await counted({ audience: [] }).access(fakeKong({}).kong);
    });
    assert.equal(lines.length, 2);
    const seen: [Outcome, VerdictReason, number][] = [];
    verdicts.forEach((outcome, reason, count) => seen.push([outcome, reason, count]));
    assert.deepEqual(seen, [
      ["allowed", "none", 1],
      ["allowed", "preflight", 1],
      ["allowed", "earlier_plugin", 1],
      ["refused", "no_token", 1],
      ["error", "invalid_configuration", 1],
      ["error", "exception", 1],
      ["anonymous", "no_token", 1],
    ]);
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

describe("AccessHandler telling Kong who called", () => {
  const ALICE_ID = "0f6ad3b2-5a57-4b8e-9d33-1c2e3f405162";
  const GUEST_ID = "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d";
  const alice = { id: ALICE_ID, username: "alice", custom_id: "emp-7", created_at: 1_700_000_000, tags: ["staff"] };
  const guest = { id: GUEST_ID, username: "guest", created_at: 1_700_000_000 };
  const kongConsumers = [alice, guest];
  const identity = {
    "X-Authenticated-Userid": "alice",
    "X-Authenticated-Client-Id": "canon",
    "X-Authenticated-Scope": "photos",
  };
  const noIdentity = { "X-Authenticated-Userid": [], "X-Authenticated-Client-Id": [], "X-Authenticated-Scope": [] };
  const noConsumerHeaders = {
    "X-Consumer-ID": [],
    "X-Consumer-Custom-ID": [],
    "X-Consumer-Username": [],
    "X-Credential-Identifier": [],
    "X-Anonymous-Consumer": [],
  };
  const guard = (nonce: string) => ({ "X-OAuth2-JWT-Verdict": nonce, "X-OAuth2-JWT-Nonce": [] });
  const anonymousHeaders = (nonce: string) => ({
    ...noIdentity,
    ...guard(nonce),
    "X-Consumer-ID": GUEST_ID,
    "X-Consumer-Custom-ID": [],
    "X-Consumer-Username": "guest",
    "X-Credential-Identifier": [],
    "X-Anonymous-Consumer": "true",
  });
  const invalidToken = (description: string) => [
    "kong.response.exit",
    401,
    JSON.stringify({ error: "invalid_token", error_description: description }),
    {
      "WWW-Authenticate": `Bearer realm="api", error="invalid_token", error_description="${description}"`,
      "Content-Type": "application/json",
    },
  ];
  const INTERNAL = [
    "kong.response.exit",
    500,
    '{"message":"An unexpected error occurred"}',
    { "Content-Type": "application/json" },
  ];
  const bearer = async (claims: Record<string, unknown> = {}) => ({
    authorization: `Bearer ${await signAccessToken(key, { sub: "alice", client_id: "canon", scope: "photos", ...claims })}`,
  });

  it("authenticate_credential: tells Kong the client_id credential in one more call, and sets X-Credential-Identifier", async () => {
    const { kong, calls } = fakeKong({
      ...(await bearer()),
      "x-oauth2-jwt-nonce": "n",
      // The canonical spelling up to case is replaced by the entry the call sets; other spellings are removed.
      "x-consumer-id": "admin",
      "x-credential-identifier": "admin-key",
      x_consumer_username: "admin",
      "x-consumer-groups": "admins",
    });
    await handler({ authenticate_credential: true }).access(kong);
    assert.deepEqual(calls, [
      ["kong.request.get_headers", 1000],
      ["kong.client.authenticate", null, { id: "canon" }],
      [
        "kong.service.request.set_headers",
        {
          x_consumer_username: [],
          "x-consumer-groups": [],
          ...identity,
          ...guard("n"),
          ...noConsumerHeaders,
          "X-Credential-Identifier": "canon",
        },
      ],
    ]);
  });

  it("credential_claim: sub counts per user", async () => {
    const { kong, calls } = fakeKong(await bearer());
    await handler({ authenticate_credential: true, credential_claim: "sub" }).access(kong);
    assert.deepEqual(calls[1], ["kong.client.authenticate", null, { id: "alice" }]);
    assert.deepEqual(calls[2], [
      "kong.service.request.set_headers",
      {
        ...identity,
        ...guard("[]"),
        ...noConsumerHeaders,
        "X-OAuth2-JWT-Verdict": [],
        "X-Credential-Identifier": "alice",
      },
    ]);
  });

  it("consumer_claim: loads the consumer once (a cache miss), then authenticates as it with the consumer headers", async () => {
    const plugin = handler({ consumer_claim: "sub" });
    const headers = { ...(await bearer()), "x-oauth2-jwt-nonce": "n" };
    const allowed = [
      "kong.service.request.set_headers",
      {
        ...identity,
        ...guard("n"),
        "X-Consumer-ID": ALICE_ID,
        "X-Consumer-Custom-ID": "emp-7",
        "X-Consumer-Username": "alice",
        "X-Credential-Identifier": "canon",
        "X-Anonymous-Consumer": [],
      },
    ];
    const authenticated = ["kong.client.authenticate", alice, { id: "canon", consumer_id: ALICE_ID }];
    const first = fakeKong(headers, { consumers: kongConsumers });
    await plugin.access(first.kong);
    assert.deepEqual(first.calls, [
      ["kong.request.get_headers", 1000],
      ["kong.client.load_consumer", "alice", true],
      authenticated,
      allowed,
    ]);
    const hit = fakeKong(headers, { consumers: kongConsumers });
    await plugin.access(hit.kong);
    assert.deepEqual(
      hit.calls,
      [["kong.request.get_headers", 1000], authenticated, allowed],
      "a hit: no load_consumer",
    );
  });

  it("consumer_by id: looks a UUID up by id (either case), and a non-UUID not at all", async () => {
    const byId = fakeKong(await bearer({ sub: ALICE_ID.toUpperCase() }), { consumers: kongConsumers });
    await handler({ consumer_claim: "sub", consumer_by: "id" }).access(byId.kong);
    assert.deepEqual(
      byId.calls.map(([name]) => name),
      [
        "kong.request.get_headers",
        "kong.client.load_consumer",
        "kong.client.authenticate",
        "kong.service.request.set_headers",
      ],
    );
    assert.deepEqual(byId.calls[1], ["kong.client.load_consumer", ALICE_ID.toUpperCase(), false]);
    assert.deepEqual(byId.calls[2], ["kong.client.authenticate", alice, { id: "canon", consumer_id: ALICE_ID }]);
    const notUuid = fakeKong(await bearer({ sub: "alice" }), { consumers: kongConsumers });
    await handler({ consumer_claim: "sub", consumer_by: "id" }).access(notUuid.kong);
    assert.deepEqual(notUuid.calls, [
      ["kong.request.get_headers", 1000],
      invalidToken("no consumer matches the token's sub claim"),
    ]);
  });

  it("refuses 401 invalid_token a token naming no consumer, or a consumer only by another field (username lookups match the username exactly)", async () => {
    const unknown = fakeKong(await bearer({ sub: "mallory" }), { consumers: kongConsumers });
    await handler({ consumer_claim: "sub" }).access(unknown.kong);
    assert.deepEqual(unknown.calls, [
      ["kong.request.get_headers", 1000],
      ["kong.client.load_consumer", "mallory", true],
      invalidToken("no consumer matches the token's sub claim"),
    ]);
    // Kong tries a UUID-shaped username as an id first: alice's id is not alice's username.
    const uuid = fakeKong(await bearer({ sub: ALICE_ID }), { consumers: kongConsumers });
    await handler({ consumer_claim: "sub" }).access(uuid.kong);
    assert.deepEqual(uuid.calls.slice(1), [
      ["kong.client.load_consumer", ALICE_ID, true],
      invalidToken("no consumer matches the token's sub claim"),
    ]);
  });

  it("refuses 401 invalid_token, with the challenge, a claim that is absent, not a string, too long or holds a control character", async () => {
    const cases: [Record<string, unknown>, Record<string, unknown>, string][] = [
      [
        { authenticate_credential: true, credential_claim: "tenant" },
        {},
        "the token's tenant claim cannot identify a credential",
      ],
      [
        { authenticate_credential: true, credential_claim: "tenant" },
        { tenant: 42 },
        "the token's tenant claim cannot identify a credential",
      ],
      [
        { authenticate_credential: true, credential_claim: "tenant" },
        { tenant: "t".repeat(257) },
        "the token's tenant claim cannot identify a credential",
      ],
      [
        { authenticate_credential: true, credential_claim: "tenant" },
        { tenant: "a\u0001b" },
        "the token's tenant claim cannot identify a credential",
      ],
      [{ consumer_claim: "tenant" }, { tenant: ["alice"] }, "the token's tenant claim cannot identify a credential"],
      [
        { consumer_claim: "tenant" },
        { tenant: "alice\u007f" },
        "the token's tenant claim cannot identify a credential",
      ],
    ];
    for (const [config, claims, description] of cases) {
      const { kong, calls } = fakeKong(await bearer(claims), { consumers: kongConsumers });
      await handler(config).access(kong);
      assert.deepEqual(calls, [["kong.request.get_headers", 1000], invalidToken(description)], JSON.stringify(claims));
    }
    // 256 characters is the longest value a credential may have.
    const longest = fakeKong(await bearer({ tenant: "t".repeat(256) }));
    await handler({ authenticate_credential: true, credential_claim: "tenant" }).access(longest.kong);
    assert.deepEqual(longest.calls[1], ["kong.client.authenticate", null, { id: "t".repeat(256) }]);
  });

  it("answers 500, never a pass, when load_consumer, authenticate or get_credential is answered with an error", async () => {
    const cases: [string, Record<string, unknown>][] = [
      ["kong.client.load_consumer", { consumer_claim: "sub" }],
      ["kong.client.authenticate", { consumer_claim: "sub" }],
      ["kong.client.authenticate", { authenticate_credential: true }],
      ["kong.client.get_credential", { anonymous: "guest" }],
    ];
    for (const [fail, config] of cases) {
      const { kong, calls } = fakeKong(await bearer(), { consumers: kongConsumers, fail });
      const lines = await stderrOf(() => handler(config).access(kong));
      assert.deepEqual(calls.at(-1), INTERNAL, fail);
      assert.ok(!calls.some(([name]) => name === "kong.service.request.set_headers"), fail);
      assert.deepEqual(lines, [`[oauth2-jwt] unexpected error, request refused: PDK method ${fail} failed`]);
      if (fail === "kong.client.load_consumer") assert.equal(consumers.size, 0, "a failed lookup is not cached");
    }
  });

  it("anonymous: no token, an invalid token, or one naming no consumer proceeds as the anonymous consumer", async () => {
    const plugin = handler({ anonymous: "guest", consumer_claim: "sub" });
    const noToken = fakeKong(
      { "x-oauth2-jwt-nonce": "n1", "x-anonymous-consumer": "false" },
      { consumers: kongConsumers },
    );
    await plugin.access(noToken.kong);
    assert.deepEqual(noToken.calls, [
      ["kong.request.get_headers", 1000],
      ["kong.client.get_credential"],
      ["kong.client.load_consumer", "guest", true],
      ["kong.client.authenticate", guest, null],
      ["kong.service.request.set_headers", anonymousHeaders("n1")],
    ]);
    // The anonymous consumer is now cached.
    const expired = fakeKong(
      { ...(await bearer({ exp: NOW - 3600 })), "x-oauth2-jwt-nonce": "n2" },
      { consumers: kongConsumers },
    );
    await plugin.access(expired.kong);
    assert.deepEqual(expired.calls, [
      ["kong.request.get_headers", 1000],
      ["kong.client.get_credential"],
      ["kong.client.authenticate", guest, null],
      ["kong.service.request.set_headers", anonymousHeaders("n2")],
    ]);
    const malformed = fakeKong(
      { authorization: "Basic YTpi", "x-oauth2-jwt-nonce": "n3" },
      { consumers: kongConsumers },
    );
    await plugin.access(malformed.kong);
    assert.deepEqual(malformed.calls.at(-1), ["kong.service.request.set_headers", anonymousHeaders("n3")]);
    const stranger = fakeKong(
      { ...(await bearer({ sub: "mallory" })), "x-oauth2-jwt-nonce": "n4" },
      { consumers: kongConsumers },
    );
    await plugin.access(stranger.kong);
    assert.deepEqual(stranger.calls, [
      ["kong.request.get_headers", 1000],
      ["kong.client.get_credential"],
      ["kong.client.load_consumer", "mallory", true],
      ["kong.client.authenticate", guest, null],
      ["kong.service.request.set_headers", anonymousHeaders("n4")],
    ]);
  });

  it("anonymous: a valid token passes as itself and is authenticated, so a later plugin in logical OR leaves it alone", async () => {
    const { kong, calls } = fakeKong({ ...(await bearer()), "x-oauth2-jwt-nonce": "n" }, { consumers: kongConsumers });
    await handler({ anonymous: "guest" }).access(kong);
    assert.deepEqual(calls, [
      ["kong.request.get_headers", 1000],
      ["kong.client.get_credential"],
      ["kong.client.authenticate", null, { id: "canon" }],
      [
        "kong.service.request.set_headers",
        { ...identity, ...guard("n"), ...noConsumerHeaders, "X-Credential-Identifier": "canon" },
      ],
    ]);
    const mapped = fakeKong(await bearer(), { consumers: kongConsumers });
    await handler({ anonymous: "guest", consumer_claim: "sub" }).access(mapped.kong);
    assert.deepEqual(
      mapped.calls.map(([name]) => name),
      [
        "kong.request.get_headers",
        "kong.client.get_credential",
        "kong.client.load_consumer",
        "kong.client.authenticate",
        "kong.service.request.set_headers",
      ],
    );
    assert.deepEqual(mapped.calls[3], ["kong.client.authenticate", alice, { id: "canon", consumer_id: ALICE_ID }]);
  });

  it("anonymous: unavailable keys are still 503 (not the client's fault, not an invalid token)", async () => {
    server.failWith = 503;
    try {
      const down = fakeKong(await bearer(), { consumers: kongConsumers });
      await handler({ anonymous: "guest" }).access(down.kong);
      assert.deepEqual(
        down.calls.map((c) => c.slice(0, 2)),
        [["kong.request.get_headers", 1000], ["kong.client.get_credential"], ["kong.response.exit", 503]],
      );
    } finally {
      server.failWith = undefined;
    }
  });

  it("anonymous: a token lacking the route's scope is still 403, too many headers 400", async () => {
    const forbidden = fakeKong(await bearer({ scope: "openid" }), { consumers: kongConsumers });
    await handler({ anonymous: "guest" }).access(forbidden.kong);
    assert.deepEqual(
      forbidden.calls.map((c) => c.slice(0, 2)),
      [["kong.request.get_headers", 1000], ["kong.client.get_credential"], ["kong.response.exit", 403]],
    );
    const many: Record<string, string> = await bearer();
    for (let i = 0; i < 1000; i += 1) many[`x-pad-${i}`] = "x";
    const padded = fakeKong(many, { consumers: kongConsumers });
    await handler({ anonymous: "guest" }).access(padded.kong);
    assert.deepEqual(
      padded.calls.map((c) => c.slice(0, 2)),
      [
        ["kong.request.get_headers", 1000],
        ["kong.response.exit", 400],
      ],
    );
  });

  it("anonymous: leaves a request an earlier plugin authenticated to it, setting only the guard's headers", async () => {
    const { kong, calls } = fakeKong(
      {
        ...(await bearer({ exp: NOW - 3600 })),
        "x-oauth2-jwt-nonce": "n",
        x_oauth2_jwt_verdict: "forged",
        "x-consumer-id": "set-by-key-auth",
        "x-credential-identifier": "key-1",
        "x-authenticated-userid": "set-by-oauth2",
      },
      { consumers: kongConsumers, credential: { id: "key-1", consumer_id: ALICE_ID } },
    );
    await handler({ anonymous: "guest", consumer_claim: "sub" }).access(kong);
    assert.deepEqual(calls, [
      ["kong.request.get_headers", 1000],
      ["kong.client.get_credential"],
      ["kong.service.request.set_headers", { x_oauth2_jwt_verdict: [], ...guard("n") }],
    ]);
    // The empty credential message (ProtoBuf's nil) is no credential.
    const none = fakeKong({}, { consumers: kongConsumers, credential: {} });
    await handler({ anonymous: "guest" }).access(none.kong);
    assert.equal(none.calls.at(-1)?.[0], "kong.service.request.set_headers");
    assert.deepEqual(none.calls[3], ["kong.client.authenticate", guest, null]);
  });

  it("anonymous: refuses 500 with one stderr line when the anonymous consumer does not exist (misconfigured)", async () => {
    const { kong, calls } = fakeKong({}, { consumers: [alice] });
    const lines = await stderrOf(() => handler({ anonymous: "ghost" }).access(kong));
    assert.deepEqual(calls, [
      ["kong.request.get_headers", 1000],
      ["kong.client.get_credential"],
      ["kong.client.load_consumer", "ghost", true],
      INTERNAL,
    ]);
    assert.deepEqual(lines, [
      '[oauth2-jwt] unexpected error, request refused: the anonymous consumer "ghost" was not found',
    ]);
  });

  it("keeps a found consumer for consumer_cache_seconds and a missing one for 5 s (the injected clock)", async () => {
    const plugin = handler({ consumer_claim: "sub", consumer_cache_seconds: 30 });
    const headers = await bearer({ exp: NOW + 3600 });
    const known: Record<string, unknown>[] = [...kongConsumers];
    const loads = async (): Promise<number> => {
      const { kong, calls } = fakeKong(headers, { consumers: known });
      await plugin.access(kong);
      return calls.filter(([name]) => name === "kong.client.load_consumer").length;
    };
    assert.equal(await loads(), 1);
    clock.advance(29);
    assert.equal(await loads(), 0);
    clock.advance(1);
    assert.equal(await loads(), 1, "expired: looked up again");

    const bob = await bearer({ sub: "bob", exp: NOW + 3600 });
    const bobLoads = async () => {
      const { kong, calls } = fakeKong(bob, { consumers: known });
      await plugin.access(kong);
      return [calls.filter(([name]) => name === "kong.client.load_consumer").length, calls.at(-1)?.[0]];
    };
    assert.deepEqual(await bobLoads(), [1, "kong.response.exit"]);
    known.push({ id: "1f6ad3b2-5a57-4b8e-9d33-1c2e3f405162", username: "bob" });
    clock.advance(4);
    assert.deepEqual(await bobLoads(), [0, "kong.response.exit"], "none, believed for 5 s");
    clock.advance(1);
    assert.deepEqual(await bobLoads(), [1, "kong.service.request.set_headers"], "created since: found");
  });

  it("shares lookups between routes, and forgets them when Kong starts a new plugin instance (a rebuilt configuration)", async () => {
    const request = async (plugin: { access(kong: KongPdk): Promise<void> }, headers: Record<string, string>) => {
      const { kong, calls } = fakeKong(headers, { consumers: kongConsumers });
      await plugin.access(kong);
      return calls.filter(([name]) => name === "kong.client.load_consumer").length;
    };
    const headers = await bearer();
    assert.equal(await request(handler({ consumer_claim: "sub" }), headers), 1);
    assert.equal(await request(handler({ consumer_claim: "sub", realm: "other" }), headers), 0, "another route: a hit");

    // The plugin Kong loads, on the process-wide cache and the real clock.
    const config = { issuer: ISSUER, jwks_uri: server.jwksUri, audience: [AUDIENCE], consumer_claim: "sub" };
    const live = {
      authorization: `Bearer ${await signAccessToken(key, { client_id: "canon" }, {}, Math.floor(Date.now() / 1000))}`,
    };
    const route = new Plugin(config);
    assert.equal(await request(route, live), 1);
    assert.equal(await request(route, live), 0, "cached");
    new Plugin(config);
    assert.equal(await request(route, live), 1, "Kong started a new instance: looked up again");
  });
});
