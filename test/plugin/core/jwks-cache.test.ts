// The shared key-set cache against a real HTTP key server on 127.0.0.1, with an injected clock.
import assert from "node:assert/strict";
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, beforeEach, describe, it } from "node:test";
import { resolveConfig } from "../../../plugin/src/config.ts";
import { authenticate, routeOptions } from "../../../plugin/src/core/authenticate.ts";
import { JwksCache, metadataUrl, type JwksSource } from "../../../plugin/src/core/jwks-cache.ts";
import { importJwk, parseJwks } from "../../../plugin/src/core/jwks.ts";
import { TokenCache } from "../../../plugin/src/core/token-cache.ts";
import { startTestServer } from "../../authz-server/helpers.ts";
import { JwksServer, TestClock } from "../helpers/jwks-server.ts";
import { AUDIENCE, generateTestKey, ISSUER, NOW, rawToken, signAccessToken, type TestKey } from "../helpers/tokens.ts";

let server: JwksServer;
let keyA: TestKey, keyB: TestKey;
let clock: TestClock;
let cache: JwksCache;
let errors: string[];
let source: JwksSource;

before(async () => {
  [keyA, keyB] = await Promise.all([generateTestKey("ES256", "a"), generateTestKey("ES256", "b")]);
  server = await new JwksServer([keyA.jwk]).start();
});
after(() => server.stop());
beforeEach(async () => {
  server.keys = [keyA.jwk];
  server.failWith = undefined;
  server.metadataIssuer = undefined;
  server.jwksHeaders = {};
  server.hits.clear();
  if ((await fetch(server.origin).catch(() => undefined)) === undefined) await server.start();
  server.hits.clear();
  clock = new TestClock(NOW * 1000);
  errors = [];
  cache = new JwksCache({ now: clock.now, timeoutMs: 2000, onError: (message) => errors.push(message) });
  source = { issuer: server.origin, jwksUri: server.jwksUri, cacheSeconds: 300, minRefreshSeconds: 10 };
});

const kids = (set: { keys: ReadonlyMap<string, unknown> } | undefined) =>
  set === undefined ? undefined : [...set.keys.keys()];

describe("JwksCache", () => {
  it("reports, per key set, fetch rounds that succeeded and failed, the age of the keys in use and how long they count as fresh", async () => {
    assert.deepEqual(cache.keySetStats(clock.now()), []);
    server.jwksHeaders = { "cache-control": "max-age=60" };
    await cache.getKeys(source);
    clock.advance(45);
    assert.deepEqual(cache.keySetStats(clock.now()), [
      { issuer: server.origin, fetchesOk: 1, fetchesFailed: 0, ageSeconds: 45, maxAgeSeconds: 60 },
    ]);
    // A failed refresh keeps the keys in use: their age goes on.
    server.failWith = 503;
    await cache.refreshForUnknownKid(source);
    clock.advance(30);
    assert.deepEqual(cache.keySetStats(clock.now()), [
      { issuer: server.origin, fetchesOk: 1, fetchesFailed: 1, ageSeconds: 75, maxAgeSeconds: 60 },
    ]);
    // A key set never fetched has no age.
    const down = { ...source, jwksUri: `${server.origin}/other.json` };
    await cache.getKeys(down);
    assert.deepEqual(cache.keySetStats(clock.now())[1], {
      issuer: server.origin,
      fetchesOk: 0,
      fetchesFailed: 1,
      ageSeconds: undefined,
      maxAgeSeconds: 300,
    });
  });

  it("fetches on first use, once for a hundred concurrent requests, then serves from memory", async () => {
    assert.equal(cache.cachedKeys(source), undefined);
    const sets = await Promise.all(Array.from({ length: 100 }, () => cache.getKeys(source)));
    assert.ok(sets.every((set) => set === sets[0]));
    assert.deepEqual(kids(sets[0]), ["a"]);
    assert.equal(server.count(), 1);
    clock.advance(200);
    assert.equal(cache.cachedKeys(source), sets[0]);
    assert.equal(server.count(), 1);
    assert.deepEqual(cache.stats(source), {
      fetches: 1,
      fetchedAt: NOW * 1000,
      lastError: undefined,
      jwksUri: server.jwksUri,
    });
  });

  it("discovers jwks_uri from the issuer's RFC 8414 metadata", async () => {
    const discovered = { ...source, jwksUri: null };
    assert.deepEqual(kids(await cache.getKeys(discovered)), ["a"]);
    assert.equal(server.count("/.well-known/oauth-authorization-server"), 1);
    assert.equal(server.count(), 1);
    assert.equal(cache.stats(discovered).jwksUri, server.jwksUri);
    assert.equal(
      metadataUrl("https://as.example/tenant/"),
      "https://as.example/.well-known/oauth-authorization-server/tenant",
    );
    assert.equal(metadataUrl("https://as.example"), "https://as.example/.well-known/oauth-authorization-server");
  });

  it("refuses metadata naming another issuer (RFC 8414 §3.3)", async () => {
    server.metadataIssuer = "http://evil.example";
    assert.equal(await cache.getKeys({ ...source, jwksUri: null }), undefined);
    assert.equal(server.count(), 0);
    assert.deepEqual(errors, [`metadata issuer "http://evil.example" is not ${server.origin}`]);
  });

  it("refreshes in the background before the keys go stale, without making requests wait", async () => {
    const first = await cache.getKeys(source);
    server.keys = [keyA.jwk, keyB.jwk];
    clock.advance(239); // < 80 % of 300 s
    assert.equal(cache.cachedKeys(source), first);
    assert.equal(server.count(), 1);
    clock.advance(2); // past 80 %
    assert.equal(cache.cachedKeys(source), first, "answers at once with the keys at hand");
    const refreshed = await cache.refreshForUnknownKid(source); // joins the background fetch
    assert.deepEqual(kids(refreshed), ["a", "b"]);
    assert.equal(server.count(), 2);
    assert.equal(refreshed?.keys.get("a"), first?.keys.get("a"), "an unchanged key keeps its KeyObject");
  });

  /** Seconds after the first fetch at which reading the cached keys starts the next fetch round. */
  async function refreshStartsAfter(source: JwksSource, jwks: JwksCache = cache): Promise<number> {
    await jwks.getKeys(source);
    const first = jwks.stats(source).fetches;
    for (let elapsed = 1; elapsed <= 1000; elapsed += 1) {
      clock.advance(1);
      jwks.cachedKeys(source);
      if (jwks.stats(source).fetches > first) {
        await jwks.refreshForUnknownKid(source); // joins that round
        return elapsed;
      }
    }
    return Number.POSITIVE_INFINITY;
  }

  it("keeps keys fresh for the key set's own max-age (less its Age) when shorter than jwks_cache_seconds", async () => {
    const quick = { ...source, minRefreshSeconds: 1 };
    const cases: [Record<string, string>, number][] = [
      [{}, 240], // 80 % of jwks_cache_seconds
      [{ "cache-control": "public, max-age=60" }, 48],
      [{ "cache-control": "public, max-age=600" }, 240], // never longer than jwks_cache_seconds
      [{ "cache-control": "max-age=60", age: "50" }, 8],
      [{ "cache-control": "max-age=60", age: "70" }, 1], // stale on arrival: one cooldown
      [{ "cache-control": "no-store" }, 1],
      [{ "cache-control": "no-cache" }, 1],
      [{ "cache-control": "max-age=sixty" }, 1],
    ];
    for (const [headers, seconds] of cases) {
      server.jwksHeaders = headers;
      const fresh = new JwksCache({ now: clock.now, onError: (message) => errors.push(message) });
      assert.equal(await refreshStartsAfter(quick, fresh), seconds, JSON.stringify(headers));
    }
    assert.deepEqual(errors, []);
  });

  it("does not let a key server's no-store or max-age=0 make fetches more frequent than the cooldown", async () => {
    server.jwksHeaders = { "cache-control": "no-store" };
    assert.equal(await refreshStartsAfter(source), 10);
    server.jwksHeaders = { "cache-control": "max-age=0" };
    assert.equal(await refreshStartsAfter(source), 10);
  });

  it("takes the max-age the key set was last fetched with: a longer one later counts as soon as it is fetched", async () => {
    const quick = { ...source, minRefreshSeconds: 1 };
    server.jwksHeaders = { "cache-control": "max-age=10" };
    assert.equal(await refreshStartsAfter(quick), 8);
    server.jwksHeaders = { "cache-control": "max-age=100" };
    assert.equal(await refreshStartsAfter(quick), 8, "the round that brought max-age=100 started at 8 s");
    assert.equal(await refreshStartsAfter(quick), 80);
  });

  it("agrees with the authorization server: refreshes within the max-age its /jwks.json sends", async () => {
    const sidecar = await startTestServer({ jwksMaxAge: 60 });
    try {
      const discovered: JwksSource = {
        issuer: sidecar.issuer,
        jwksUri: null,
        cacheSeconds: 300,
        minRefreshSeconds: 10,
      };
      assert.equal(await refreshStartsAfter(discovered), 48);
      assert.equal(cache.stats(discovered).jwksUri, `${sidecar.issuer}/jwks.json`);
      assert.equal(cache.stats(discovered).lastError, undefined);
    } finally {
      await sidecar.close();
    }
  });

  it("refetches for an unknown kid at most once per cooldown, whatever the flood", async () => {
    await cache.getKeys(source);
    clock.advance(10);
    server.keys = [keyA.jwk, keyB.jwk];
    const results = await Promise.all(Array.from({ length: 1000 }, () => cache.refreshForUnknownKid(source)));
    assert.equal(server.count(), 2);
    assert.deepEqual(kids(results[999]), ["a", "b"]);
    for (let i = 0; i < 1000; i += 1) {
      clock.ms += 9; // 1,000 more over the next 9 s, inside the 10 s cooldown
      await cache.refreshForUnknownKid(source);
    }
    assert.equal(server.count(), 2);
    clock.advance(1);
    await cache.refreshForUnknownKid(source);
    assert.equal(server.count(), 3, "one more fetch once the cooldown has passed");
  });

  it("drops a key its issuer withdrew at once, and refetches at once, cooldown or not", async () => {
    server.keys = [keyA.jwk, keyB.jwk];
    const otherServer = await new JwksServer([keyA.jwk, keyB.jwk]).start();
    try {
      const other = { ...source, issuer: otherServer.origin, jwksUri: otherServer.jwksUri };
      assert.deepEqual(kids(await cache.getKeys(source)), ["a", "b"]);
      assert.deepEqual(kids(await cache.getKeys(other)), ["a", "b"]);
      assert.equal(server.count(), 1);
      server.keys = [keyB.jwk];
      clock.advance(1);
      cache.revokeKeys(server.origin, ["a", "unknown"]);
      assert.deepEqual(kids(cache.cachedKeys(source)), ["b"], "gone before the refetch answers");
      assert.deepEqual(kids(cache.cachedKeys(other)), ["a", "b"], "another issuer's key set is untouched");
      assert.equal(cache.stats(source).fetches, 2, "refetched within the cooldown");
      assert.deepEqual(kids(await cache.refreshForUnknownKid(source)), ["b"]);
      cache.revokeKeys(server.origin, ["a"]);
      assert.equal(cache.stats(source).fetches, 2, "a key no longer held causes no fetch");
    } finally {
      await otherServer.stop();
    }
  });

  it("a withdrawal's refetch does not hold back the next unknown kid: a replacement published after it is fetched within the cooldown, once", async () => {
    server.keys = [keyA.jwk];
    assert.deepEqual(kids(await cache.getKeys(source)), ["a"]);
    clock.advance(1);
    // The feed withdraws a; the refetch comes before the key server re-reads its keys: it still publishes a
    // (whose tokens the revocation set refuses), not yet b, its replacement.
    cache.revokeKeys(server.origin, ["a"]);
    assert.deepEqual(kids(await cache.refreshForUnknownKid(source)), ["a"]);
    assert.equal(server.count(), 2);
    server.keys = [keyB.jwk];
    clock.advance(1); // well inside the 10 s cooldown
    assert.deepEqual(kids(await cache.refreshForUnknownKid(source)), ["b"], "b's first token is not held back");
    assert.equal(server.count(), 3);
    // Once: a flood of unknown kids after it waits for the cooldown again.
    for (let i = 0; i < 100; i += 1) await cache.refreshForUnknownKid(source);
    assert.equal(server.count(), 3);
  });

  it("a token naming a withdrawn kid causes no refetch, and does not spend the withdrawal's waiver", async () => {
    server.keys = [keyA.jwk];
    assert.deepEqual(kids(await cache.getKeys(source)), ["a"]);
    clock.advance(1);
    server.keys = [];
    cache.revokeKeys(server.origin, ["a"]);
    await cache.refreshForUnknownKid(source);
    assert.equal(server.count(), 2, "the withdrawal's own refetch");
    for (let i = 0; i < 100; i += 1) await cache.refreshForUnknownKid(source, "a");
    assert.equal(server.count(), 2, "the withdrawn key's tokens fetch nothing");
    server.keys = [keyB.jwk];
    assert.deepEqual(kids(await cache.refreshForUnknownKid(source, "b")), ["b"], "the waiver is still there for b");
    assert.equal(server.count(), 3);
  });

  it("keeps the last good keys while the key server is down, retrying once per cooldown", async () => {
    const good = await cache.getKeys(source);
    await server.stop();
    clock.advance(400); // past jwks_cache_seconds
    assert.equal(cache.cachedKeys(source), good);
    assert.equal(await cache.refreshForUnknownKid(source), good);
    assert.equal(cache.stats(source).fetches, 2);
    assert.equal(errors.length, 1);
    for (let i = 0; i < 50; i += 1) assert.equal(cache.cachedKeys(source), good);
    await cache.refreshForUnknownKid(source);
    assert.equal(cache.stats(source).fetches, 2, "no retry inside the cooldown");
    clock.advance(10);
    assert.equal(cache.cachedKeys(source), good);
    assert.equal(await cache.refreshForUnknownKid(source), good);
    assert.equal(cache.stats(source).fetches, 3);
    await server.start();
    clock.advance(10);
    server.keys = [keyB.jwk];
    assert.deepEqual(kids(await cache.refreshForUnknownKid(source)), ["b"]);
    assert.equal(cache.stats(source).lastError, undefined);
  });

  it("answers undefined when no keys were ever fetched, and waits a cooldown before trying again", async () => {
    server.failWith = 503;
    assert.equal(await cache.getKeys(source), undefined);
    assert.equal(await cache.getKeys(source), undefined);
    assert.equal(server.count(), 1);
    assert.deepEqual(errors, [`${server.jwksUri}: HTTP 503`]);
    server.failWith = undefined;
    clock.advance(10);
    assert.deepEqual(kids(await cache.getKeys(source)), ["a"]);
  });

  it("keeps the last good keys when a refresh returns a bad document", async () => {
    const good = await cache.getKeys(source);
    const bad: [unknown[], string][] = [
      [[], `${server.jwksUri}: no usable key ()`],
      [
        [{ kty: "oct", k: "c2VjcmV0", kid: "h", alg: "HS256" }],
        `${server.jwksUri}: no usable key (kid "h": private or symmetric key material)`,
      ],
    ];
    for (const [keys, error] of bad) {
      server.keys = keys as never;
      clock.advance(10);
      assert.equal(await cache.refreshForUnknownKid(source), good);
      assert.equal(errors.at(-1), error);
    }
  });
});

describe("a key published during a flood of unknown kids", () => {
  it("is fetched within one cooldown of its publication, with at most one fetch per cooldown", async () => {
    const cooldown = 10;
    const resolved = resolveConfig({
      issuer: ISSUER,
      jwks_uri: server.jwksUri,
      audience: [AUDIENCE],
      algorithms: ["ES256"],
      jwks_min_refresh_seconds: cooldown,
    });
    assert.ok(resolved.ok);
    const route = routeOptions(resolved.config);
    const deps = { jwks: cache, tokens: new TokenCache(), now: clock.now };
    const start = clock.ms;
    assert.equal((await authenticate(`Bearer ${await signAccessToken(keyA)}`, route, deps)).ok, true);
    const newKeyToken = `Bearer ${await signAccessToken(keyB)}`;
    // The worst moment: the flood's own refetch has just used up the cooldown.
    const published = start + cooldown * 1000 + 1;
    const outcomes: [number, boolean][] = [];
    for (let ms = 1; ms <= 4 * cooldown * 1000; ms += 1) {
      clock.ms = start + ms;
      const randomKid = rawToken({ typ: "at+jwt", alg: "ES256", kid: `random-${ms}` }, { iss: ISSUER });
      const flood = await authenticate(`Bearer ${randomKid}`, route, deps);
      assert.equal(!flood.ok && flood.reason, "unknown_kid");
      if (clock.ms === published) server.keys = [keyA.jwk, keyB.jwk];
      if (clock.ms >= published) outcomes.push([clock.ms, (await authenticate(newKeyToken, route, deps)).ok]);
    }
    const firstAccepted = outcomes.find(([, ok]) => ok)?.[0];
    assert.ok(
      firstAccepted !== undefined && firstAccepted <= published + cooldown * 1000,
      `first accepted ${String((firstAccepted ?? Number.NaN) - published)} ms after publication`,
    );
    assert.deepEqual(
      outcomes.filter(([at, ok]) => at >= firstAccepted && !ok),
      [],
      "accepted ever after",
    );
    // 40 s of flood: the first fetch, then one per cooldown.
    assert.equal(server.count(), 5);
    assert.deepEqual(errors, []);
  });
});

describe("JwksCache against a hostile or slow key server", () => {
  /** A key server on 127.0.0.1:0 whose every response `respond` writes; stopped after the test. */
  async function hostileServer(
    respond: (response: ServerResponse) => void,
  ): Promise<{ uri: string; stop: () => Promise<void> }> {
    const server = createServer((_request, response) => respond(response));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    const uri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
    return {
      uri,
      stop: async () => {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  }

  it("stops reading a document without Content-Length once it passes the size cap", async () => {
    // 48 MB offered in 64 KB chunks, honouring back-pressure; the cache may read 64 KB of it.
    const CHUNK = Buffer.alloc(64 * 1024, 0x20);
    let written = 0;
    let closed: () => void = () => {};
    const closedEarly = new Promise<void>((resolve) => (closed = resolve));
    const hostile = await hostileServer((response) => {
      response.writeHead(200, { "content-type": "application/json" }); // chunked: no Content-Length
      response.write('{"keys":[');
      const pump = (): void => {
        while (written < 48 * 1024 * 1024) {
          written += CHUNK.length;
          if (!response.write(CHUNK)) return void response.once("drain", pump);
        }
        response.end("]}");
      };
      response.once("close", closed);
      pump();
    });
    try {
      const capped = new JwksCache({
        now: clock.now,
        timeoutMs: 5000,
        maxBytes: 64 * 1024,
        onError: (message) => errors.push(message),
      });
      const started = Date.now();
      assert.equal(await capped.getKeys({ ...source, jwksUri: hostile.uri }), undefined);
      assert.deepEqual(errors, [`${hostile.uri}: document larger than 65536 bytes`]);
      await closedEarly;
      // Socket buffers hold a few MB at most: the cache cancelled the body rather than reading it all.
      assert.ok(written < 16 * 1024 * 1024, `the server wrote ${written} bytes before the client went away`);
      assert.ok(Date.now() - started < 4000);
    } finally {
      await hostile.stop();
    }
  });

  it("gives up on a key server that never answers or drips its body, within the timeout", async () => {
    const timers: NodeJS.Timeout[] = [];
    const silent = await hostileServer(() => {}); // accepts, never answers
    const drip = await hostileServer((response) => {
      response.writeHead(200, { "content-type": "application/json" });
      response.write('{"keys":[');
      const timer = setInterval(() => response.write(" "), 20);
      timers.push(timer);
      response.once("close", () => clearInterval(timer));
    });
    try {
      const quick = new JwksCache({ now: clock.now, timeoutMs: 300, onError: (message) => errors.push(message) });
      for (const uri of [silent.uri, drip.uri]) {
        const started = Date.now();
        assert.equal(await quick.getKeys({ ...source, jwksUri: uri }), undefined);
        const elapsed = Date.now() - started;
        assert.ok(elapsed >= 250 && elapsed < 2000, `${uri}: ${elapsed} ms`);
      }
      assert.deepEqual(errors, [
        `${silent.uri}: The operation was aborted due to timeout`,
        `${drip.uri}: The operation was aborted due to timeout`,
      ]);
    } finally {
      for (const timer of timers) clearInterval(timer);
      await Promise.all([silent.stop(), drip.stop()]);
    }
  });
});

describe("importJwk and parseJwks", () => {
  it("pins each key to its algorithm and skips what cannot be used", async () => {
    const rsa = await generateTestKey("RS256", "r", false);
    const ed = await generateTestKey("EdDSA", "e", false);
    const imported = importJwk(rsa.jwk);
    assert.ok(imported.ok);
    assert.deepEqual([...imported.key.algorithms], ["PS256", "PS384", "PS512", "RS256", "RS384", "RS512"]);
    const edImported = importJwk(ed.jwk);
    assert.ok(edImported.ok);
    assert.deepEqual([...edImported.key.algorithms], ["EdDSA"]);
    const curveImported = importJwk({ ...keyA.jwk, alg: undefined });
    assert.ok(curveImported.ok);
    assert.deepEqual([...curveImported.key.algorithms], ["ES256"]);

    const cases: [unknown, string][] = [
      [{ ...keyA.jwk, kid: undefined }, "no kid"],
      [{ ...keyA.jwk, use: "enc" }, 'kid "a": use is not sig'],
      [{ ...keyA.jwk, key_ops: ["encrypt"] }, 'kid "a": key_ops lacks verify'],
      [{ ...keyA.jwk, d: "AAAA" }, 'kid "a": private or symmetric key material'],
      [{ ...keyA.jwk, alg: "RS256" }, 'kid "a": kty "EC" does not fit alg RS256'],
      [{ ...keyA.jwk, alg: "ES384" }, 'kid "a": crv "P-256" does not fit alg ES384'],
      [{ ...keyA.jwk, alg: "HS256" }, 'kid "a": unsupported alg "HS256"'],
      [{ ...keyA.jwk, x: undefined }, 'kid "a": missing public key members'],
      [{ ...keyA.jwk, x: "AAAA" }, 'kid "a": not a valid public key'],
      // The right lengths, but not a point on P-256 (invalid-curve attacks, RFC 8725 §3.4).
      [{ ...keyA.jwk, y: keyB.jwk.y }, 'kid "a": not a valid public key'],
      [
        { kty: "RSA", kid: "short", n: Buffer.alloc(128, 0xff).toString("base64url"), e: "AQAB" },
        'kid "short": RSA key shorter than 2048 bits',
      ],
      // e = 1 makes the "signature" the encoded message itself: anyone could forge one (RFC 8017 §3.1).
      [
        { kty: "RSA", kid: "e1", n: Buffer.alloc(256, 0xff).toString("base64url"), e: "AQ" },
        'kid "e1": RSA public exponent must be odd and at least 3',
      ],
      [
        { kty: "RSA", kid: "e2", n: Buffer.alloc(256, 0xff).toString("base64url"), e: "Ag" },
        'kid "e2": RSA public exponent must be odd and at least 3',
      ],
      ["a string", "not an object"],
    ];
    for (const [jwk, error] of cases) {
      const result = importJwk(jwk);
      assert.equal(result.ok, false, error);
      assert.ok(result.error.startsWith(error), `${error} ≠ ${result.error}`);
    }
  });

  it("drops a kid published twice, and names what it skipped", () => {
    const set = parseJwks({ keys: [keyA.jwk, { ...keyB.jwk, kid: "a" }, keyB.jwk, { kty: "oct", kid: "s", k: "AA" }] });
    assert.ok(!("error" in set));
    assert.deepEqual([...set.keys.keys()], ["b"]);
    assert.deepEqual(set.skipped, ['kid "a": published more than once', 'kid "s": private or symmetric key material']);
    assert.deepEqual(parseJwks({ nokeys: true }), { error: "not a JWK Set: no `keys` array" });
    assert.deepEqual(parseJwks([]), { error: "not a JWK Set: no `keys` array" });
  });
});
