// The verified-token cache (LRU, bounded, never past exp) and how authenticate() uses it safely
// across configurations; clock injected, keys served by a local key server.
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { importJWK, jwtVerify } from "jose";
import {
  authenticate,
  authenticateCached,
  routeOptions,
  type AuthenticationDeps,
} from "../../../plugin/src/core/authenticate.ts";
import { JwksCache } from "../../../plugin/src/core/jwks-cache.ts";
import { parseJwks } from "../../../plugin/src/core/jwks.ts";
import { TokenCache } from "../../../plugin/src/core/token-cache.ts";
import { verifyToken, type VerifiedToken } from "../../../plugin/src/core/validate.ts";
import type { PluginConfig } from "../../../plugin/src/schema.ts";
import { pluginConfig } from "../helpers/schema.ts";
import { JwksServer, TestClock } from "../helpers/jwks-server.ts";
import { AUDIENCE, b64url, generateTestKey, ISSUER, NOW, signAccessToken, type TestKey } from "../helpers/tokens.ts";

/** The order n of the P-256 group (SEC 2 §2.4.2): with (r, s), (r, n − s) is a valid ECDSA signature too. */
const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

/** The same token with its ES256 signature (r, s) respelled as (r, n − s), or with `s` replaced by `edit(s)`. */
function withS(token: string, edit: (s: bigint) => bigint = (s) => P256_ORDER - s): string {
  const [header, payload, signature] = token.split(".") as [string, string, string];
  const bytes = Buffer.from(signature, "base64url");
  const s = edit(BigInt(`0x${bytes.subarray(32).toString("hex")}`));
  return `${header}.${payload}.${b64url(Buffer.concat([bytes.subarray(0, 32), Buffer.from(s.toString(16).padStart(64, "0"), "hex")]))}`;
}

let key: TestKey, other: TestKey;
let server: JwksServer;
before(async () => {
  [key, other] = await Promise.all([generateTestKey("ES256", "k1"), generateTestKey("ES256", "k2")]);
  server = await new JwksServer([key.jwk]).start();
});
after(() => server.stop());

async function verified(exp: number): Promise<VerifiedToken & { token: string }> {
  const set = parseJwks({ keys: [key.jwk] });
  assert.ok(!("error" in set));
  const token = await signAccessToken(key, { exp });
  const result = verifyToken(token, ["ES256"], set.keys);
  assert.ok(result.ok);
  return { ...result, token };
}

describe("TokenCache", () => {
  it("returns an entry until the token's exp, then forgets it", async () => {
    const cache = new TokenCache();
    const entry = await verified(NOW + 60);
    cache.set(entry.token, { verified: entry, source: "s" }, NOW * 1000);
    assert.equal(cache.get(entry.token, NOW * 1000)?.verified, entry);
    assert.equal(cache.get(entry.token, (NOW + 59.999) * 1000)?.source, "s");
    assert.equal(cache.get(entry.token, (NOW + 60) * 1000), undefined);
    assert.equal(cache.size, 0);
    cache.set(entry.token, { verified: entry, source: "s" }, (NOW + 61) * 1000);
    assert.equal(cache.size, 0, "an expired token is not cached");
  });

  it("evicts the least recently used entry beyond its count and size bounds", async () => {
    const entries = await Promise.all([1, 2, 3, 4].map((i) => verified(NOW + 600 + i)));
    const cache = new TokenCache({ maxEntries: 3 });
    for (const entry of entries.slice(0, 3)) cache.set(entry.token, { verified: entry, source: "s" }, NOW * 1000);
    assert.ok(cache.get(entries[0].token, NOW * 1000)); // 0 becomes the most recent
    cache.set(entries[3].token, { verified: entries[3], source: "s" }, NOW * 1000);
    assert.deepEqual(
      entries.map((e) => cache.get(e.token, NOW * 1000) !== undefined),
      [true, false, true, true],
    );

    // Room for exactly the last two tokens (their lengths vary with the random jti).
    const small = new TokenCache({ maxChars: entries[2].token.length + entries[3].token.length });
    for (const entry of entries) small.set(entry.token, { verified: entry, source: "s" }, NOW * 1000);
    assert.equal(small.size, 2);
    assert.deepEqual(
      entries.map((e) => small.get(e.token, NOW * 1000) !== undefined),
      [false, false, true, true],
    );
  });
});

describe("authenticate with the caches", () => {
  let clock: TestClock;
  let deps: AuthenticationDeps;
  const config = (overrides: Partial<PluginConfig> = {}): PluginConfig =>
    pluginConfig({
      issuer: ISSUER,
      jwks_uri: server.jwksUri,
      audience: [AUDIENCE],
      scopes_required: ["photos"],
      algorithms: ["ES256"],
      upstream_headers: { subject: "a", scope: "b", client_id: "c" },
      ...overrides,
    });
  beforeEach(() => {
    server.keys = [key.jwk];
    server.failWith = undefined;
    server.hits.clear();
    clock = new TestClock(NOW * 1000);
    deps = { jwks: new JwksCache({ now: clock.now, onError: () => {} }), tokens: new TokenCache(), now: clock.now };
  });

  it("counts one hit per request decided from the cache and one miss per token checked in full, whichever path asked", async () => {
    const token = await signAccessToken(key);
    const route = routeOptions(config());
    // The synchronous path finds nothing and leaves the request to authenticate: one miss, not two.
    assert.equal(authenticateCached(`Bearer ${token}`, route, deps), undefined);
    assert.equal((await authenticate(`Bearer ${token}`, route, deps)).ok, true);
    assert.equal(authenticateCached(`Bearer ${token}`, route, deps)?.ok, true);
    assert.equal((await authenticate(`Bearer ${token}`, route, deps)).ok, true);
    // No bearer token at all is no lookup.
    assert.equal((await authenticate(undefined, route, deps)).ok, false);
    assert.deepEqual({ hits: deps.tokens.hits, misses: deps.tokens.misses }, { hits: 2, misses: 1 });
  });

  it("verifies once, then answers from the cache with every claim checked per route and per request", async () => {
    const token = await signAccessToken(key);
    const route = routeOptions(config());
    assert.equal((await authenticate(`Bearer ${token}`, route, deps)).ok, true);
    assert.equal(deps.tokens.size, 1);
    assert.equal((await authenticate(`Bearer ${token}`, route, deps)).ok, true);
    // Same key set, other audience or scopes: the cached signature does not carry the verdict.
    assert.deepEqual(await authenticate(`Bearer ${token}`, routeOptions(config({ audience: ["other"] })), deps), {
      ok: false,
      status: 401,
      error: "invalid_token",
      reason: "bad_aud",
      description: "the token is not meant for this API",
    });
    assert.equal(
      (await authenticate(`Bearer ${token}`, routeOptions(config({ scopes_required: ["print"] })), deps)).ok,
      false,
    );
    assert.equal(
      (
        (await authenticate(`Bearer ${token}`, routeOptions(config({ algorithms: ["RS256"] })), deps)) as {
          reason: string;
        }
      ).reason,
      "bad_alg",
    );
    // Time moves on: the cached entry is checked against now, and dropped at exp.
    clock.advance(600 + 30);
    assert.equal(((await authenticate(`Bearer ${token}`, route, deps)) as { reason: string }).reason, "expired");
    assert.equal(deps.tokens.size, 0);
  });

  it("answers a repeated token synchronously, with the claim checks of the route at hand, in the validation order", async () => {
    const token = await signAccessToken(key, { sub: "alice", client_id: "canon", scope: "photos openid" });
    const header = `Bearer ${token}`;
    const route = routeOptions(config());
    const narrow = routeOptions(config({ scopes_required: ["print"] }));
    const elsewhere = routeOptions(config({ audience: ["other"] }));
    assert.equal(authenticateCached(header, route, deps), undefined, "never verified: left to authenticate");
    const first = await authenticate(header, route, deps);
    assert.ok(first.ok);
    // Routes sharing the token cache take turns: each gets its own checks, never another's verdict.
    for (let i = 0; i < 2; i += 1) {
      assert.deepEqual(authenticateCached(header, route, deps), first);
      assert.deepEqual(authenticateCached(header, narrow, deps), {
        ok: false,
        status: 403,
        error: "insufficient_scope",
        reason: "insufficient_scope",
        scope: "print",
        description: "the token lacks a scope this resource requires",
      });
      assert.deepEqual(authenticateCached(header, elsewhere, deps), {
        ok: false,
        status: 401,
        error: "invalid_token",
        reason: "bad_aud",
        description: "the token is not meant for this API",
      });
    }
    assert.equal(authenticateCached(header, routeOptions(config({ algorithms: ["RS256"] })), deps), undefined);
    assert.equal(authenticateCached(`bearer ${token}`, route, deps), undefined, "only the exact `Bearer ` prefix");
    assert.equal(authenticateCached([header], route, deps), undefined);
    // Within the leeway after exp the cache has dropped the token; authenticate verifies it again.
    clock.advance(600 - 1);
    assert.deepEqual(authenticateCached(header, narrow, deps), await authenticate(header, narrow, deps));
    clock.advance(1);
    assert.equal(authenticateCached(header, route, deps), undefined);
    clock.advance(30);
    // Expired and lacking a scope: expiry is reported, as time precedes scopes.
    assert.equal(((await authenticate(header, narrow, deps)) as { reason: string }).reason, "expired");
  });

  it("keeps each verdict for its exact token string: an ECDSA twin (r, n − s) verifies on its own, a forged signature never hits a cached verdict", async () => {
    const token = await signAccessToken(key);
    const twin = withS(token);
    assert.notEqual(twin, token);
    // jose accepts both spellings as well: refusing one of them would refuse other issuers' tokens.
    const publicKey = await importJWK(key.jwk, "ES256");
    for (const spelling of [token, twin]) {
      assert.equal(
        (await jwtVerify(spelling, publicKey, { currentDate: new Date(NOW * 1000), typ: "at+jwt" })).payload.sub,
        "alice",
      );
    }

    const route = routeOptions(config());
    const accepted = await authenticate(`Bearer ${token}`, route, deps);
    assert.ok(accepted.ok);
    assert.equal(
      authenticateCached(`Bearer ${twin}`, route, deps),
      undefined,
      "the twin is not answered from the token's entry",
    );
    assert.deepEqual(
      await authenticate(`Bearer ${twin}`, route, deps),
      accepted,
      "verified on its own, with the same claims",
    );
    assert.equal(deps.tokens.size, 2);
    assert.notEqual(deps.tokens.get(twin, clock.ms), deps.tokens.get(token, clock.ms));

    // Other signatures on the same header and payload: refused every time, cached never.
    const [header, payload] = token.split(".");
    const forgeries = [
      withS(token, (s) => s ^ 1n),
      withS(token, (s) => (s + 1n) % P256_ORDER),
      withS(twin, (s) => s ^ (1n << 200n)),
      `${header}.${payload}.${b64url(Buffer.alloc(64))}`,
      `${header}.${payload}.${b64url(Buffer.alloc(64, 0xff))}`,
    ];
    for (const forged of forgeries) {
      for (let attempt = 0; attempt < 2; attempt += 1) {
        assert.equal(authenticateCached(`Bearer ${forged}`, route, deps), undefined);
        assert.deepEqual(await authenticate(`Bearer ${forged}`, route, deps), {
          ok: false,
          status: 401,
          error: "invalid_token",
          reason: "bad_signature",
          description: "the token signature is invalid",
        });
      }
    }
    assert.equal(deps.tokens.size, 2);
    assert.deepEqual(authenticateCached(`Bearer ${token}`, route, deps), accepted);
    assert.deepEqual(authenticateCached(`Bearer ${twin}`, route, deps), accepted);
  });

  it("does not reuse a verdict for a route with another key set, or after the key is withdrawn", async () => {
    const token = await signAccessToken(key);
    assert.equal((await authenticate(`Bearer ${token}`, routeOptions(config()), deps)).ok, true);
    const elsewhere = new JwksServer([other.jwk]);
    await elsewhere.start();
    try {
      const result = await authenticate(`Bearer ${token}`, routeOptions(config({ jwks_uri: elsewhere.jwksUri })), deps);
      assert.equal((result as { reason: string }).reason, "unknown_kid");
    } finally {
      await elsewhere.stop();
    }
    server.keys = [other.jwk];
    clock.advance(241); // background refresh due
    await authenticate(`Bearer ${token}`, routeOptions(config()), deps); // starts it, still answered from the old keys
    await deps.jwks.refreshForUnknownKid(routeOptions(config()).source);
    assert.equal(
      ((await authenticate(`Bearer ${token}`, routeOptions(config()), deps)) as { reason: string }).reason,
      "unknown_kid",
    );
  });

  it("picks up a rotated key through one refetch, and answers 503 when no key was ever reachable", async () => {
    assert.equal((await authenticate(`Bearer ${await signAccessToken(key)}`, routeOptions(config()), deps)).ok, true);
    server.keys = [key.jwk, other.jwk];
    clock.advance(10);
    assert.equal((await authenticate(`Bearer ${await signAccessToken(other)}`, routeOptions(config()), deps)).ok, true);
    assert.equal(server.count(), 2);

    const fresh: AuthenticationDeps = { ...deps, jwks: new JwksCache({ now: clock.now, onError: () => {} }) };
    server.failWith = 500;
    assert.deepEqual(
      await authenticate(`Bearer ${await signAccessToken(key, {}, { kid: "zz" })}`, routeOptions(config()), fresh),
      {
        ok: false,
        status: 503,
        reason: "keys_unavailable",
        description: "the token signing keys are unavailable",
      },
    );
    assert.deepEqual(await authenticate("Bearer abc", routeOptions(config()), fresh), {
      ok: false,
      status: 401,
      error: "invalid_token",
      reason: "not_jws",
      description: "the access token is not a signed JWT",
    });
  });
});
