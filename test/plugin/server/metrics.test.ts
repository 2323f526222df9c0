// The plugin server's Prometheus metrics, scraped from the real process (plugin/bin, which loads
// plugin/dist/plugins/oauth2-jwt.js) while the wire harness drives it as Kong does: verdicts by
// outcome and reason, the token cache, key-set fetches (one key server down), revocation feeds
// (one refusing the credential), connections and buffered bytes; the listener on loopback, its
// port taken, and nothing secret in the text; then the registry in-process, on given figures, for
// how it sums and picks per issuer. Needs `npx tsc -b plugin kong-standin` first.
import assert from "node:assert/strict";
import net, { type AddressInfo } from "node:net";
import os from "node:os";
import { after, before, describe, it } from "node:test";
import {
  consumerDirectory,
  spawnPluginServer,
  type PluginServerProcess,
} from "../../../kong-standin/src/wire/index.ts";
import { PluginStats } from "../../../plugin/src/core/stats.ts";
import { metricsRegistry } from "../../../plugin/src/server/metrics.ts";
import { FeedServer } from "../helpers/feed-server.ts";
import { JwksServer } from "../helpers/jwks-server.ts";
import { AUDIENCE, generateTestKey, ISSUER, signAccessToken, type TestKey } from "../helpers/tokens.ts";
import { exposedSamples } from "../../helpers/exposition.ts";
import { connectFrames, pause } from "./helpers.ts";

/** The issuer whose key server and revocation feed are down. */
const OTHER_ISSUER = "http://127.0.0.1:9001/other";
const FEED_SECRET = "feed-s3cret-of-the-gateway";
const WRONG_SECRET = "a-wrong-s3cret";
const nowSeconds = (): number => Math.floor(Date.now() / 1000);
const request = (headers: Record<string, string>) => ({ method: "GET", path: "/flickr/photos", headers });
/** The consumer a request without a valid token passes as, on a route with `anonymous`. */
const GUEST = { id: "5c1a4f3e-8b2d-4e6f-9a1b-2c3d4e5f6a7b", username: "guest-user", created_at: 0, updated_at: 0 };
const CONSUMERS = consumerDirectory([GUEST]);

/** The metrics URL the server logged at start (`--metrics-port 0`: the port the system gave it). */
async function metricsUrl(server: PluginServerProcess): Promise<string> {
  for (let waited = 0; waited < 2000; waited += 10) {
    for (const line of server.logs()) {
      const found = /\[info\] metrics at (http:\/\/\S+)$/.exec(line);
      if (found !== null) return found[1];
    }
    await pause(10);
  }
  throw new Error(`no metrics line in ${JSON.stringify(server.logs())}`);
}

async function scrape(url: string): Promise<{ status: number; contentType: string | null; text: string }> {
  const response = await fetch(url);
  return { status: response.status, contentType: response.headers.get("content-type"), text: await response.text() };
}

/** The samples of one metric, keyed by their label set as printed (`{a="x",b="y"}`, or "" without labels). */
function samples(text: string, name: string): Record<string, number> {
  const found: Record<string, number> = {};
  for (const [series, value] of exposedSamples(text))
    if (series === name || series.startsWith(`${name}{`)) found[series.slice(name.length)] = value;
  return found;
}

const only = (text: string, name: string): number | undefined => samples(text, name)[""];

describe("the plugin server's metrics", () => {
  let server: PluginServerProcess;
  let url: string;
  let key: TestKey;
  let jwks: JwksServer;
  let downJwks: JwksServer;
  let feed: FeedServer;
  const tokens: string[] = [];
  const sign = async (claims: Record<string, unknown> = {}): Promise<string> => {
    const token = await signAccessToken(key, claims, {}, nowSeconds());
    tokens.push(token);
    return token;
  };

  before(async () => {
    key = await generateTestKey("ES256", "es");
    jwks = await new JwksServer([key.jwk]).start();
    downJwks = await new JwksServer([key.jwk]).start();
    downJwks.failWith = 503;
    feed = await new FeedServer({ clientId: "gateway", clientSecret: FEED_SECRET, pageSize: 1000 }).start();
    feed.append(
      { kind: "token", jti: "revoked-jti", exp: nowSeconds() + 600, drop_after: nowSeconds() + 900 },
      { kind: "user", sub: "mallory", issued_before: nowSeconds(), drop_after: nowSeconds() + 900 },
    );
    server = await spawnPluginServer({ args: ["--metrics-port", "0"] });
    url = await metricsUrl(server);
  });
  after(async () => {
    await server.close();
    await Promise.all([jwks.stop(), downJwks.stop(), feed.stop()]);
  });

  it("listens on 127.0.0.1 by default, serves GET /metrics only, in Prometheus text", async () => {
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const scraped = await scrape(url);
    assert.equal(scraped.status, 200);
    assert.equal(scraped.contentType, "text/plain; version=0.0.4; charset=utf-8");
    assert.match(scraped.text, /^# TYPE oauth2_jwt_verdicts_total counter$/m);
    // Process metrics, event-loop lag among them.
    assert.match(scraped.text, /^nodejs_eventloop_lag_seconds \d/m);
    assert.match(scraped.text, /^process_resident_memory_bytes \d/m);
    assert.equal((await scrape(url.replace("/metrics", "/"))).status, 404);
    assert.equal((await scrape(url.replace("/metrics", "/metrics/x"))).status, 404);
    const posted = await fetch(url, { method: "POST" });
    assert.equal(posted.status, 405);
    assert.equal(posted.headers.get("allow"), "GET");
    // Not on the machine's other addresses.
    const port = Number(new URL(url).port);
    const external = Object.values(os.networkInterfaces())
      .flat()
      .find((address) => address !== undefined && !address.internal && address.family === "IPv4");
    if (external !== undefined)
      await assert.rejects(fetch(`http://${external.address}:${port}/metrics`), { name: "TypeError" });
  });

  it("counts verdicts by outcome and reason, token-cache hits and misses, key-set fetches and revocation polls", async () => {
    const base = {
      issuer: ISSUER,
      jwks_uri: jwks.jwksUri,
      audience: [AUDIENCE],
      scopes_required: ["photos"],
      jwks_cache_seconds: 120,
      revocation_feed_url: feed.feedUrl,
      revocation_client_id: "gateway",
      revocation_client_secret: FEED_SECRET,
      revocation_poll_seconds: 60,
      revocation_max_stale_seconds: 120,
    };
    const route = await server.startInstance("oauth2-jwt", base);
    const downRoute = await server.startInstance("oauth2-jwt", {
      ...base,
      issuer: OTHER_ISSUER,
      jwks_uri: downJwks.jwksUri,
      revocation_client_secret: WRONG_SECRET,
    });
    const anonymousRoute = await server.startInstance("oauth2-jwt", { ...base, anonymous: GUEST.username });
    // Kong's schema leaves this check to the plugin: every request on the route is answered 500.
    const misconfigured = await server.startInstance("oauth2-jwt", { ...base, revocation_max_stale_seconds: 30 });

    const valid = await sign({ sub: "alice", client_id: "canon-printing" });
    const statuses = [
      await route.access(request({ authorization: `Bearer ${valid}` })),
      await route.access(request({ authorization: `Bearer ${valid}` })),
      await route.access(request({})),
      await route.access(
        request({ authorization: `Bearer ${await sign({ iat: nowSeconds() - 700, exp: nowSeconds() - 100 })}` }),
      ),
      await route.access(request({ authorization: `Bearer ${await sign({ scope: "openid" })}` })),
      await route.access(request({ authorization: `Bearer ${await sign({ jti: "revoked-jti" })}` })),
      await downRoute.access(request({ authorization: `Bearer ${await sign({ iss: OTHER_ISSUER })}` })),
      await anonymousRoute.access({ ...request({}), consumers: CONSUMERS }),
      await anonymousRoute.access({ ...request({ authorization: "Bearer not-a-jwt" }), consumers: CONSUMERS }),
      await misconfigured.access(request({})),
    ].map((result) => (result.outcome === "exit" ? result.status : result.outcome));
    assert.deepEqual(statuses, ["proceed", "proceed", 401, 401, 403, 401, 503, "proceed", "proceed", 500]);

    const { text } = await scrape(url);
    assert.deepEqual(samples(text, "oauth2_jwt_verdicts_total"), {
      '{outcome="allowed",reason="none"}': 2,
      '{outcome="refused",reason="no_token"}': 1,
      '{outcome="refused",reason="expired"}': 1,
      '{outcome="refused",reason="insufficient_scope"}': 1,
      '{outcome="refused",reason="revoked"}': 1,
      '{outcome="unavailable",reason="keys_unavailable"}': 1,
      '{outcome="error",reason="invalid_configuration"}': 1,
      '{outcome="anonymous",reason="no_token"}': 1,
      '{outcome="anonymous",reason="not_jws"}': 1,
    });
    // Every bearer token was first looked up in vain (the garbage one too); the valid token's
    // second request was decided from the cache. The cache keeps what verified and has not expired.
    assert.equal(only(text, "oauth2_jwt_token_cache_misses_total"), 6);
    assert.equal(only(text, "oauth2_jwt_token_cache_hits_total"), 1);
    assert.equal(only(text, "oauth2_jwt_token_cache_entries"), 3);
    // The anonymous consumer was loaded from Kong once, then found in the cache.
    assert.equal(only(text, "oauth2_jwt_consumer_cache_misses_total"), 1);
    assert.equal(only(text, "oauth2_jwt_consumer_cache_hits_total"), 1);

    assert.deepEqual(samples(text, "oauth2_jwt_jwks_fetches_total"), {
      [`{issuer="${ISSUER}",result="ok"}`]: 1,
      [`{issuer="${ISSUER}",result="failed"}`]: 0,
      [`{issuer="${OTHER_ISSUER}",result="ok"}`]: 0,
      [`{issuer="${OTHER_ISSUER}",result="failed"}`]: 1,
    });
    // Only the issuer whose keys are in use has an age, next to how long its keys count as fresh.
    const ages = samples(text, "oauth2_jwt_jwks_age_seconds");
    assert.deepEqual(Object.keys(ages), [`{issuer="${ISSUER}"}`]);
    assert.ok(ages[`{issuer="${ISSUER}"}`] >= 0 && ages[`{issuer="${ISSUER}"}`] < 10, text);
    assert.deepEqual(samples(text, "oauth2_jwt_jwks_max_age_seconds"), { [`{issuer="${ISSUER}"}`]: 120 });

    assert.deepEqual(samples(text, "oauth2_jwt_revocation_polls_total"), {
      [`{issuer="${ISSUER}",result="ok"}`]: 1,
      [`{issuer="${ISSUER}",result="failed"}`]: 0,
      [`{issuer="${OTHER_ISSUER}",result="ok"}`]: 0,
      [`{issuer="${OTHER_ISSUER}",result="failed"}`]: 1,
    });
    assert.deepEqual(samples(text, "oauth2_jwt_revocation_entries"), {
      [`{issuer="${ISSUER}"}`]: 2,
      [`{issuer="${OTHER_ISSUER}"}`]: 0,
    });
    const feedAges = samples(text, "oauth2_jwt_revocation_feed_age_seconds");
    assert.deepEqual(Object.keys(feedAges), [`{issuer="${ISSUER}"}`]);
    assert.ok(feedAges[`{issuer="${ISSUER}"}`] >= 0 && feedAges[`{issuer="${ISSUER}"}`] < 10, text);

    assert.equal(only(text, "oauth2_jwt_instances"), 4);
    assert.equal(only(text, "oauth2_jwt_events_in_flight"), 0);

    // No token, secret, subject, client id or token id: only fixed words and the configured issuers.
    for (const secret of [
      ...tokens,
      FEED_SECRET,
      WRONG_SECRET,
      "alice",
      "canon-printing",
      "revoked-jti",
      "gateway",
      GUEST.username,
      GUEST.id,
    ])
      assert.ok(!text.includes(secret), `the scrape carries ${secret}`);
  });

  it("shows Kong's open connections and the bytes held for an incomplete frame", async () => {
    const before = only((await scrape(url)).text, "oauth2_jwt_connections_open");
    assert.ok(before !== undefined);
    const client = await connectFrames(server.socketPath);
    try {
      // A frame announcing 100 bytes, of which 10 arrived: the server holds its 100-byte buffer.
      const prefix = Buffer.alloc(4);
      prefix.writeUInt32LE(100);
      await client.write(Buffer.concat([prefix, Buffer.from([0x08, 1, 2, 3, 4, 5, 6, 7, 8, 9])]));
      await pause(50);
      const { text } = await scrape(url);
      assert.equal(only(text, "oauth2_jwt_connections_open"), before + 1);
      assert.equal(only(text, "oauth2_jwt_buffered_bytes"), 100);
    } finally {
      client.close();
    }
    await pause(50);
    const { text } = await scrape(url);
    assert.equal(only(text, "oauth2_jwt_connections_open"), before);
    assert.equal(only(text, "oauth2_jwt_buffered_bytes"), 0);
  });
});

describe("--metrics-optional", () => {
  it("with the metrics port in use, runs without metrics after one warning line and serves Kong", async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const port = (taken.address() as AddressInfo).port;
    const server = await spawnPluginServer({ args: ["--metrics-port", String(port), "--metrics-optional"] });
    try {
      const route = await server.startInstance("oauth2-jwt", { issuer: ISSUER, audience: [AUDIENCE] });
      const result = await route.access(request({}));
      assert.equal(result.outcome === "exit" ? result.status : result.outcome, 401);
      const lines = server.logs().filter((line) => line.includes("metrics"));
      assert.equal(lines.length, 1, JSON.stringify(server.logs()));
      assert.match(
        lines[0],
        new RegExp(
          `\\[warn\\] --metrics-port ${port} on 127\\.0\\.0\\.1 is in use; running without metrics \\(--metrics-optional\\)$`,
        ),
      );
    } finally {
      await server.close();
      await new Promise<void>((resolve) => taken.close(() => resolve()));
    }
  });
});

describe("metricsRegistry", () => {
  it("sums an issuer's key sets and pollers, shows the key set furthest past its lifetime and the stalest feed", async () => {
    const stats = new PluginStats();
    const NOW_MS = 1_796_061_600_000;
    const seen: number[] = [];
    stats.sources = {
      tokenCache: () => ({ entries: 0, hits: 0, misses: 0 }),
      consumerCache: () => ({ hits: 0, misses: 0 }),
      keySets: (nowMs) => {
        seen.push(nowMs);
        return [
          { issuer: ISSUER, fetchesOk: 3, fetchesFailed: 1, ageSeconds: 100, maxAgeSeconds: 300 },
          { issuer: ISSUER, fetchesOk: 1, fetchesFailed: 2, ageSeconds: 90, maxAgeSeconds: 60 },
          { issuer: OTHER_ISSUER, fetchesOk: 0, fetchesFailed: 4, ageSeconds: undefined, maxAgeSeconds: 300 },
        ];
      },
      revocationFeeds: () => [
        { issuer: ISSUER, entries: 7, ageSeconds: 4, pollsOk: 10, pollsFailed: 0 },
        { issuer: ISSUER, entries: 5, ageSeconds: 40, pollsOk: 2, pollsFailed: 3 },
      ],
    };
    const registry = metricsRegistry({
      server: () => ({ connections: 3, bufferedBytes: 17, eventsInFlight: 2, instances: 5 }),
      stats,
      now: () => NOW_MS,
    });
    const text = await registry.metrics();
    assert.ok(seen.length > 0 && seen.every((ms) => ms === NOW_MS));
    assert.deepEqual(samples(text, "oauth2_jwt_jwks_fetches_total"), {
      [`{issuer="${ISSUER}",result="ok"}`]: 4,
      [`{issuer="${ISSUER}",result="failed"}`]: 3,
      [`{issuer="${OTHER_ISSUER}",result="ok"}`]: 0,
      [`{issuer="${OTHER_ISSUER}",result="failed"}`]: 4,
    });
    assert.deepEqual(samples(text, "oauth2_jwt_jwks_age_seconds"), { [`{issuer="${ISSUER}"}`]: 90 });
    assert.deepEqual(samples(text, "oauth2_jwt_jwks_max_age_seconds"), { [`{issuer="${ISSUER}"}`]: 60 });
    assert.deepEqual(samples(text, "oauth2_jwt_revocation_feed_age_seconds"), { [`{issuer="${ISSUER}"}`]: 40 });
    assert.deepEqual(samples(text, "oauth2_jwt_revocation_entries"), { [`{issuer="${ISSUER}"}`]: 7 });
    assert.deepEqual(samples(text, "oauth2_jwt_revocation_polls_total"), {
      [`{issuer="${ISSUER}",result="ok"}`]: 12,
      [`{issuer="${ISSUER}",result="failed"}`]: 3,
    });
    assert.deepEqual(
      ["connections_open", "buffered_bytes", "events_in_flight", "instances"].map((name) =>
        only(text, `oauth2_jwt_${name}`),
      ),
      [3, 17, 2, 5],
    );
    // Counted into the verdicts between two scrapes: the counter shows the new total.
    stats.verdicts.add("refused", "bad_signature");
    assert.deepEqual(samples(await registry.metrics(), "oauth2_jwt_verdicts_total"), {
      '{outcome="refused",reason="bad_signature"}': 1,
    });
    stats.verdicts.add("refused", "bad_signature");
    assert.deepEqual(samples(await registry.metrics(), "oauth2_jwt_verdicts_total"), {
      '{outcome="refused",reason="bad_signature"}': 2,
    });
  });
});
