// Kong's rate-limiting plugin as the stand-in runs it (kong/plugins/rate-limiting/, Kong 3.9.3):
// the local policy's counters per identifier and period window on an injected clock, the headers
// and the refusal; then through the gateway, after a plugin in the real plugin server told Kong
// who called (kong.client.authenticate), over both protocols.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { startGateway, type RunningGateway } from "../../../kong-standin/src/gateway/gateway.ts";
import { parseKongConfig } from "../../../kong-standin/src/gateway/config.ts";
import {
  parseRateLimitingConfig,
  periodStarts,
  RateLimiter,
  type RateLimitedRequest,
} from "../../../kong-standin/src/gateway/rate-limiting.ts";
import { spawnPluginServer, type PluginServerProcess } from "../../../kong-standin/src/wire/index.ts";
import { pick, send, startRecordingUpstream, type Upstream } from "./helpers.ts";

/** 2026-01-01T12:00:30Z: thirty seconds into a minute. */
const T0 = Date.UTC(2026, 0, 1, 12, 0, 30);

const byCredential = (id: string): RateLimitedRequest => ({
  authenticated: { credential: { id } },
  forwardedIp: "192.0.2.1",
});

function limiter(config: Record<string, unknown>, clock: () => number): RateLimiter {
  return new RateLimiter(parseRateLimitingConfig("test", config), clock);
}

describe("rate-limiting's local policy (injected clock)", () => {
  it("counts per credential in each period's window, with Kong's headers, and refuses past the limit", () => {
    let now = T0;
    const limits = limiter({ minute: 3, hour: 5, limit_by: "credential" }, () => now);
    const headers = (minute: number, hour: number, rate: [number, number, number]) => ({
      "X-RateLimit-Limit-Minute": "3",
      "X-RateLimit-Remaining-Minute": String(minute),
      "X-RateLimit-Limit-Hour": "5",
      "X-RateLimit-Remaining-Hour": String(hour),
      "RateLimit-Limit": String(rate[0]),
      "RateLimit-Remaining": String(rate[1]),
      "RateLimit-Reset": String(rate[2]),
    });
    // The minute is closest to running out: it names RateLimit-*, resetting in 30 s.
    assert.deepEqual(limits.access(byCredential("a")), { outcome: "proceed", headers: headers(2, 4, [3, 2, 30]) });
    now += 999; // still the same second
    assert.deepEqual(limits.access(byCredential("a")), { outcome: "proceed", headers: headers(1, 3, [3, 1, 30]) });
    now = T0 + 20_000;
    assert.deepEqual(limits.access(byCredential("a")), { outcome: "proceed", headers: headers(0, 2, [3, 0, 10]) });
    // The fourth in the minute: refused, not counted; the hour's remaining is not decremented.
    assert.deepEqual(limits.access(byCredential("a")), {
      outcome: "exit",
      status: 429,
      message: "API rate limit exceeded",
      headers: { ...headers(0, 2, [3, 0, 10]), "Retry-After": "10" },
    });
    // Another credential has its own counters.
    assert.deepEqual(limits.access(byCredential("b")), { outcome: "proceed", headers: headers(2, 4, [3, 2, 10]) });
    // The next minute: a new window for the minute, the hour still counts (now the closer limit).
    now = Date.UTC(2026, 0, 1, 12, 1, 0);
    assert.deepEqual(limits.access(byCredential("a")), { outcome: "proceed", headers: headers(2, 1, [5, 1, 3540]) });
    assert.deepEqual(limits.access(byCredential("a")).outcome, "proceed");
    assert.deepEqual(limits.access(byCredential("a")), {
      outcome: "exit",
      status: 429,
      message: "API rate limit exceeded",
      headers: { ...headers(1, 0, [5, 0, 3540]), "Retry-After": "3540" },
    });
  });

  it("limit_by consumer counts the consumer, else the credential; without either, the client's address", () => {
    const limits = limiter({ second: 1, limit_by: "consumer" }, () => T0);
    const consumer = { id: "c-1", username: "alice" };
    assert.equal(
      limits.access({ authenticated: { consumer, credential: { id: "k-1" } }, forwardedIp: "192.0.2.1" }).outcome,
      "proceed",
    );
    // Another credential of the same consumer: the consumer's second is used up.
    assert.equal(
      limits.access({ authenticated: { consumer, credential: { id: "k-2" } }, forwardedIp: "192.0.2.2" }).outcome,
      "exit",
    );
    assert.equal(limits.access(byCredential("k-1")).outcome, "proceed");
    assert.equal(limits.access({ authenticated: undefined, forwardedIp: "192.0.2.1" }).outcome, "proceed");
    assert.equal(limits.access({ authenticated: undefined, forwardedIp: "192.0.2.1" }).outcome, "exit");
    assert.equal(limits.access({ authenticated: undefined, forwardedIp: "192.0.2.9" }).outcome, "proceed");
  });

  it("limit_by credential falls back to the address without a credential; limit_by ip ignores who authenticated", () => {
    const credential = limiter({ second: 1, limit_by: "credential" }, () => T0);
    const alice = { consumer: { id: "c-1" } };
    assert.equal(credential.access({ authenticated: alice, forwardedIp: "192.0.2.1" }).outcome, "proceed");
    assert.equal(credential.access({ authenticated: undefined, forwardedIp: "192.0.2.1" }).outcome, "exit");
    const ip = limiter({ second: 1, limit_by: "ip" }, () => T0);
    assert.equal(ip.access(byCredential("a")).outcome, "proceed");
    assert.equal(ip.access(byCredential("b")).outcome, "exit");
  });

  it("hide_client_headers sends no headers; error_code and error_message shape the refusal", () => {
    const limits = limiter(
      { second: 1, hide_client_headers: true, error_code: 503, error_message: "slow down" },
      () => T0,
    );
    assert.deepEqual(limits.access(byCredential("a")), { outcome: "proceed", headers: {} });
    assert.deepEqual(limits.access(byCredential("a")), {
      outcome: "exit",
      status: 503,
      message: "slow down",
      headers: {},
    });
  });

  it("an error_code kong.response.error refuses (not 400–599) is Kong's 500", () => {
    const limits = limiter({ second: 1, error_code: 302 }, () => T0);
    limits.access(byCredential("a"));
    const verdict = limits.access(byCredential("a"));
    assert.equal(verdict.outcome === "exit" && verdict.status, 500);
  });

  it("period windows start where kong/tools/timestamp.lua puts them (UTC)", () => {
    const at = Date.UTC(2026, 4, 17, 13, 45, 12, 640);
    assert.deepEqual(periodStarts(at), {
      second: Date.UTC(2026, 4, 17, 13, 45, 12),
      minute: Date.UTC(2026, 4, 17, 13, 45),
      hour: Date.UTC(2026, 4, 17, 13),
      day: Date.UTC(2026, 4, 17),
      month: Date.UTC(2026, 4, 1),
      year: Date.UTC(2026, 0, 1),
    });
  });
});

const CLIENT_FIXTURE = fileURLToPath(new URL("../../fixtures/plugins/client", import.meta.url));

/**
 * rate-limiting is listed before the plugin on purpose: Kong runs by priority (client 1450 as
 * oauth2-jwt, rate-limiting 910), so the limit sees whom the plugin authenticated.
 */
const KONG_YML = `_format_version: "3.0"
consumers:
  - { username: alice, custom_id: crm-1 }
services:
  - name: photos
    url: http://photos:8080
    routes:
      - name: per-credential
        paths: [/credential]
        plugins:
          - { name: rate-limiting, config: { minute: 2, limit_by: credential } }
          - { name: client }
      - name: per-consumer
        paths: [/consumer]
        plugins:
          - { name: rate-limiting, config: { minute: 2, limit_by: consumer } }
          - { name: client }
`;

const script = (...steps: unknown[][]): Record<string, string> => ({ "x-client-script": JSON.stringify(steps) });
const asCredential = (id: string) => script(["authenticate", null, { id }]);
const asAlice = (key: string) => script(["load_consumer", "alice", true], ["authenticate", "$loaded", { id: key }]);
const RATE_HEADERS = [
  "ratelimit-limit",
  "ratelimit-remaining",
  "ratelimit-reset",
  "x-ratelimit-limit-minute",
  "x-ratelimit-remaining-minute",
  "retry-after",
];

for (const protocol of ["ProtoBuf:1", "MsgPack:1"] as const) {
  describe(`rate-limiting through the gateway after a plugin authenticated (${protocol})`, () => {
    let plugins: PluginServerProcess;
    let upstream: Upstream;
    let gateway: RunningGateway;
    const now = T0;

    before(async () => {
      upstream = await startRecordingUpstream();
      plugins = await spawnPluginServer({
        pluginsDirectory: CLIENT_FIXTURE,
        args: protocol === "MsgPack:1" ? ["--protocol", "msgpack"] : [],
      });
      gateway = await startGateway({
        config: parseKongConfig(KONG_YML),
        plugins,
        port: 0,
        hostTable: { "photos:8080": `127.0.0.1:${upstream.port}` },
        clock: () => now,
      });
    });

    after(async () => {
      await gateway.close();
      await plugins.close();
      await upstream.close();
    });

    it("counts per credential: the third request of a credential in the minute is 429 with Kong's headers and body", async () => {
      const first = await send(gateway.url, "GET", "/credential", asCredential("client-a"));
      assert.equal(first.status, 200);
      assert.deepEqual(pick(first.headers, RATE_HEADERS), {
        "ratelimit-limit": "2",
        "ratelimit-remaining": "1",
        "ratelimit-reset": "30",
        "x-ratelimit-limit-minute": "2",
        "x-ratelimit-remaining-minute": "1",
        "retry-after": undefined,
      });
      assert.equal((await send(gateway.url, "GET", "/credential", asCredential("client-a"))).status, 200);
      const proxied = upstream.requests.length;
      const refused = await send(gateway.url, "GET", "/credential", asCredential("client-a"));
      assert.equal(refused.status, 429);
      assert.equal(refused.headers["content-type"], "application/json; charset=utf-8");
      assert.equal((refused.body as { message?: unknown }).message, "API rate limit exceeded");
      assert.deepEqual(pick(refused.headers, RATE_HEADERS), {
        "ratelimit-limit": "2",
        "ratelimit-remaining": "0",
        "ratelimit-reset": "30",
        "x-ratelimit-limit-minute": "2",
        "x-ratelimit-remaining-minute": "0",
        "retry-after": "30",
      });
      assert.equal(upstream.requests.length, proxied, "a refused request is not proxied");
      // Another credential, and a request nobody authenticated (counted by the client's address).
      assert.equal((await send(gateway.url, "GET", "/credential", asCredential("client-b"))).status, 200);
      assert.equal((await send(gateway.url, "GET", "/credential")).status, 200);
      assert.equal((await send(gateway.url, "GET", "/credential")).status, 200);
      assert.equal((await send(gateway.url, "GET", "/credential")).status, 429);
    });

    it("counts per consumer: two credentials of kong.yml's consumer share its limit", async () => {
      assert.equal((await send(gateway.url, "GET", "/consumer", asAlice("key-1"))).status, 200);
      assert.equal((await send(gateway.url, "GET", "/consumer", asAlice("key-2"))).status, 200);
      const refused = await send(gateway.url, "GET", "/consumer", asAlice("key-3"));
      assert.equal(refused.status, 429);
      // A credential without a consumer is counted on its own.
      assert.equal((await send(gateway.url, "GET", "/consumer", asCredential("key-1"))).status, 200);
    });
  });
}
