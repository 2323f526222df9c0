// GET /revocations: the revocation feed a gateway polls. A client registered as a resource server reads it with HTTP
// Basic; the first call answers every entry a still-valid token may be covered by (`reset: true`), later calls with
// the cursor only what was appended since, in pages of at most `limit`. A cursor the feed did not issue gets a full
// snapshot again; one that is not even a cursor is a 400. Introspection agrees with every kind of entry.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { decodeJwt, decodeProtectedHeader } from "jose";
import {
  basic,
  createClient,
  form,
  post,
  present,
  startTestServer,
  storageEngines,
  type StorageEngine,
  type TestClient,
} from "../helpers.ts";
import { BrowserClient, onlyForm } from "../browser-client.ts";
import {
  allow,
  authorizationRequest,
  exchangeCallback,
  loginThrough,
  PHOTOS_RESOURCE,
  startFlowServer,
  type FlowServer,
} from "../code-flow.ts";

/** The longest access-token lifetime a server may be given (config.ts limits) plus the plugin's largest leeway. */
const LONGEST_VALIDITY = 3600 + 300;

interface FeedAnswer {
  entries: Record<string, unknown>[];
  cursor: string;
  has_more: boolean;
  reset?: true;
}

interface Grant {
  access_token: string;
  refresh_token: string;
  browser: BrowserClient;
}

const engines = await storageEngines();

for (const engine of engines) describeFeed(engine);

function describeFeed(engine: StorageEngine): void {
  describe(`GET /revocations on ${engine.name}`, () => {
    let server: FlowServer;
    /** The Flickr photos API: the resource server a gateway in front of it reads the feed as. */
    let photosApi: TestClient;
    /** A confidential client with client credentials: its own tokens name no user and are linked to no grant. */
    let printer: TestClient;
    /** The cursor of a gateway that has followed the feed since its first call, and every entry it was given. */
    let cursor: string;
    const seen: FeedAnswer["entries"] = [];

    before(async () => {
      server = await startFlowServer(await engine.freshDatabase());
      photosApi = await createClient(server.storage, {
        name: "Flickr photos API",
        scopes: [],
        grantTypes: [],
        resourceServerFor: [PHOTOS_RESOURCE],
      });
      printer = await createClient(server.storage, { name: "Print shop", scopes: ["photos"] });
    });
    after(() => server.close());

    async function feed(
      query: Record<string, string> = {},
      /** null: no Authorization header at all. */
      authorization: string | null = basic(photosApi.clientId, photosApi.clientSecret),
    ): Promise<{ status: number; headers: Headers; body: unknown }> {
      const url = new URL(`${server.url}/revocations`);
      for (const [name, value] of Object.entries(query)) url.searchParams.append(name, value);
      const response = await fetch(url, { headers: authorization === null ? {} : { authorization } });
      return { status: response.status, headers: response.headers, body: await response.json() };
    }

    /** A 200 answer, never cached. */
    async function read(query: Record<string, string> = {}): Promise<FeedAnswer> {
      const answer = await feed(query);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.headers.get("cache-control"), "no-store");
      assert.match(answer.headers.get("content-type") ?? "", /^application\/json/);
      return answer.body as FeedAnswer;
    }

    /** One page after the gateway's cursor, which moves on to the page's cursor. */
    async function follow(limit?: number): Promise<FeedAnswer> {
      const answer = await read({ after: cursor, ...(limit === undefined ? {} : { limit: String(limit) }) });
      assert.equal(answer.reset, undefined, "a cursor the feed issued is followed, not reset");
      cursor = answer.cursor;
      seen.push(...answer.entries);
      return answer;
    }

    /** What was appended since the gateway's last call (one page). */
    async function increment(): Promise<FeedAnswer["entries"]> {
      const answer = await follow();
      assert.equal(answer.has_more, false);
      return answer.entries;
    }

    /** A new grant of alice's to Canon Printing through the code flow (consent is asked the first time only). */
    async function canonGrant(): Promise<Grant> {
      const attempt = await authorizationRequest(server);
      const browser = new BrowserClient(server.url);
      const page = await loginThrough(browser, attempt);
      const callback = page.status === 303 ? new URL(present(page.location, "Location")) : await allow(browser, page);
      const exchange = await exchangeCallback(server, attempt, callback);
      assert.equal(exchange.status, 200, JSON.stringify(exchange.body));
      return { ...(exchange.body as Omit<Grant, "browser">), browser };
    }

    async function clientToken(client: TestClient): Promise<string> {
      const answer = await post(`${server.url}/token`, form({ grant_type: "client_credentials", scope: "photos" }), {
        authorization: basic(client.clientId, client.clientSecret),
      });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      return (answer.body as { access_token: string }).access_token;
    }

    function revoke(client: TestClient, token: string) {
      return post(`${server.url}/revoke`, form({ token }), {
        authorization: basic(client.clientId, client.clientSecret),
      });
    }

    /** Introspection as the photos API (a resource server of every token here) or as the token's own client. */
    async function active(token: string, caller: TestClient = photosApi): Promise<boolean> {
      const answer = await post(`${server.url}/introspect`, form({ token }), {
        authorization: basic(caller.clientId, caller.clientSecret),
      });
      assert.equal(answer.status, 200);
      return (answer.body as { active: boolean }).active;
    }

    const nowSeconds = () => Math.floor(server.clock.now() / 1000);
    const claims = (token: string) => decodeJwt(token) as { jti: string; exp: number; iat: number };

    it("is announced in the server's metadata", async () => {
      const response = await fetch(`${server.url}/.well-known/oauth-authorization-server`);
      const metadata = (await response.json()) as Record<string, unknown>;
      assert.equal(metadata.revocation_feed_endpoint, `${server.issuer}/revocations`);
    });

    it("answers a resource server's first call with the whole (empty) feed, marked reset", async () => {
      const first = await read();
      assert.deepEqual(
        { ...first, cursor: typeof first.cursor },
        {
          entries: [],
          cursor: "string",
          has_more: false,
          reset: true,
        },
      );
      assert.match(first.cursor, /^[A-Za-z0-9_-]{1,200}$/);
      cursor = first.cursor;
      assert.deepEqual(await increment(), [], "nothing was revoked since");
    });

    it("refuses a missing or wrong credential and clients that are not resource servers: 401 invalid_client", async () => {
      await server.storage.clients.create({
        clientId: "public-app",
        name: "Public app",
        secretDigest: null,
        redirectUris: ["http://localhost:3000/public"],
        grantTypes: ["authorization_code"],
        scopes: ["photos"],
        tokenEndpointAuthMethod: "none",
        createdAt: server.clock.now(),
        resourceServerFor: [PHOTOS_RESOURCE],
      });
      for (const authorization of [
        null,
        basic(photosApi.clientId, "not-the-secret"),
        basic("no-such-client", photosApi.clientSecret),
        // Canon Printing and the print shop are confidential clients, but no resource server: the feed names users.
        basic(server.canon.clientId, server.canon.clientSecret),
        // A public client has no secret to present; naming itself is no authentication.
        basic("public-app", "anything"),
        `Bearer ${photosApi.clientSecret}`,
      ]) {
        const answer = await feed({}, authorization);
        assert.deepEqual(
          [answer.status, answer.body],
          [401, { error: "invalid_client", error_description: "client authentication failed" }],
        );
        assert.match(answer.headers.get("www-authenticate") ?? "", /^Basic /);
        assert.equal(answer.headers.get("cache-control"), "no-store");
      }
    });

    it("answers 400 invalid_request to an `after` that is no cursor and to a limit outside 1 to 1000", async () => {
      const cases: [Record<string, string>, string][] = [
        [{ after: "not a cursor" }, "after is not a cursor of this feed"],
        [{ after: "a".repeat(201) }, "after is not a cursor of this feed"],
        [{ after: `${cursor}=` }, "after is not a cursor of this feed"],
        [{ after: "" }, "after is not a cursor of this feed"],
        [{ limit: "0" }, "limit must be a whole number from 1 to 1000"],
        [{ limit: "1001" }, "limit must be a whole number from 1 to 1000"],
        [{ limit: "-1" }, "limit must be a whole number from 1 to 1000"],
        [{ limit: "2.5" }, "limit must be a whole number from 1 to 1000"],
        [{ limit: "ten" }, "limit must be a whole number from 1 to 1000"],
        [{ limit: "1".repeat(400) }, "limit must be a whole number from 1 to 1000"],
      ];
      for (const [query, description] of cases) {
        const answer = await feed(query);
        assert.deepEqual(
          [answer.status, answer.body],
          [400, { error: "invalid_request", error_description: description }],
        );
      }
      const twice = new URL(`${server.url}/revocations?after=${cursor}&after=${cursor}`);
      const answer = await fetch(twice, {
        headers: { authorization: basic(photosApi.clientId, photosApi.clientSecret) },
      });
      assert.deepEqual(
        [answer.status, await answer.json()],
        [400, { error: "invalid_request", error_description: "parameter after is included more than once" }],
      );
    });

    it("lists an access token revoked at /revoke: one token entry, kept until exp + 300 s", async () => {
      const grant = await canonGrant();
      const token = claims(grant.access_token);
      assert.equal((await revoke(server.canon, grant.access_token)).status, 200);
      assert.deepEqual(await increment(), [
        { kind: "token", jti: token.jti, exp: token.exp, drop_after: token.exp + 300 },
      ]);
      assert.equal(await active(grant.access_token), false);
      assert.equal(await active(grant.refresh_token, server.canon), true, "only the access token was revoked");
    });

    it("lists the access tokens of a refresh-token family revoked at /revoke, not another grant's", async () => {
      const grant = await canonGrant();
      const other = await canonGrant();
      assert.equal((await revoke(server.canon, grant.refresh_token)).status, 200);
      const token = claims(grant.access_token);
      assert.deepEqual(await increment(), [
        { kind: "token", jti: token.jti, exp: token.exp, drop_after: token.exp + 300 },
      ]);
      assert.equal(await active(grant.access_token), false);
      assert.equal(await active(other.access_token), true, "another device of the same user keeps working");
    });

    it("lists the access token of a replayed authorization code", async () => {
      const attempt = await authorizationRequest(server);
      const browser = new BrowserClient(server.url);
      const page = await loginThrough(browser, attempt);
      const callback = page.status === 303 ? new URL(present(page.location, "Location")) : await allow(browser, page);
      const exchange = await exchangeCallback(server, attempt, callback);
      assert.equal(exchange.status, 200);
      const replay = await exchangeCallback(server, attempt, callback);
      assert.equal(replay.status, 400);
      const accessToken = (exchange.body as { access_token: string }).access_token;
      const token = claims(accessToken);
      assert.deepEqual(await increment(), [
        { kind: "token", jti: token.jti, exp: token.exp, drop_after: token.exp + 300 },
      ]);
      assert.equal(await active(accessToken), false);
    });

    it("lists a consent withdrawn on the consents page: alice × Canon up to that second", async () => {
      server.clock.advance(1);
      const grant = await canonGrant();
      const list = await grant.browser.get("/consents");
      const withdrawn = await grant.browser.post("/consents/revoke", onlyForm(list.body, "/consents/revoke").fields);
      assert.equal(withdrawn.status, 303);
      const issuedBefore = nowSeconds();
      // One entry stands for every token of the grant, the access tokens of its refresh families among them.
      assert.deepEqual(await increment(), [
        {
          kind: "user_client",
          sub: server.userId,
          client_id: server.canon.clientId,
          issued_before: issuedBefore,
          drop_after: issuedBefore + LONGEST_VALIDITY,
        },
      ]);
      assert.equal(await active(grant.access_token), false);
    });

    it("lists a user signed out everywhere: every token of alice's issued at or before that second", async () => {
      server.clock.advance(1);
      const grant = await canonGrant();
      await server.storage.users.signOutEverywhere(server.userId, server.clock.now());
      const issuedBefore = nowSeconds();
      assert.deepEqual(await increment(), [
        { kind: "user", sub: server.userId, issued_before: issuedBefore, drop_after: issuedBefore + LONGEST_VALIDITY },
      ]);
      assert.equal(await active(grant.access_token), false, "issued in the entry's second: covered");
      server.clock.advance(1);
      const later = await canonGrant();
      assert.equal(await active(later.access_token), true, "issued after the entry: not covered");
    });

    it("lists a client whose secret was rotated: every token issued to it at or before that second", async () => {
      server.clock.advance(1);
      const rotating = await createClient(server.storage, { name: "Rotating shop", scopes: ["photos"] });
      const token = await clientToken(rotating);
      const rotated = await server.storage.clients.rotateSecret(rotating.clientId, "0".repeat(64), server.clock.now());
      assert.equal(rotated, true);
      const issuedBefore = nowSeconds();
      assert.deepEqual(await increment(), [
        {
          kind: "client",
          client_id: rotating.clientId,
          issued_before: issuedBefore,
          drop_after: issuedBefore + LONGEST_VALIDITY,
        },
      ]);
      // Nothing else marks a client-credentials token: only the entry can make it inactive.
      assert.equal(await active(token), false);
      assert.equal(await active(await clientToken(printer)), true, "another client's tokens are not covered");
    });

    it("pages: at most `limit` entries an answer, has_more until the last, each entry exactly once", async () => {
      server.clock.advance(1);
      const tokens = await Promise.all([1, 2, 3, 4, 5].map(() => canonGrant()));
      for (const grant of tokens) assert.equal((await revoke(server.canon, grant.access_token)).status, 200);
      const jtis = tokens.map((grant) => claims(grant.access_token).jti);
      const pages: FeedAnswer[] = [];
      for (let more = true; more;) {
        const page = await follow(2);
        pages.push(page);
        more = page.has_more;
      }
      assert.deepEqual(
        pages.map((page) => [page.entries.map((entry) => entry.jti), page.has_more, page.reset]),
        [
          [jtis.slice(0, 2), true, undefined],
          [jtis.slice(2, 4), true, undefined],
          [jtis.slice(4), false, undefined],
        ],
      );
      assert.deepEqual(await increment(), []);
    });

    it("answers a full snapshot, marked reset, to a cursor it did not issue: forged, foreign, or beyond the newest", async () => {
      const snapshot = await read();
      assert.deepEqual(
        { ...snapshot, cursor: undefined },
        { entries: seen, cursor: undefined, has_more: false, reset: true },
        "every entry so far is still relevant: the snapshot is what the gateway followed, in the same order",
      );
      // A gateway's cursor from another server's feed (another database, another key and epoch).
      const elsewhere = await startTestServer(await engine.freshDatabase());
      try {
        const foreignApi = await createClient(elsewhere.storage, {
          scopes: [],
          grantTypes: [],
          resourceServerFor: ["x"],
        });
        const foreign = await fetch(`${elsewhere.url}/revocations`, {
          headers: { authorization: basic(foreignApi.clientId, foreignApi.clientSecret) },
        });
        const foreignCursor = ((await foreign.json()) as FeedAnswer).cursor;
        assert.deepEqual(await read({ after: foreignCursor }), snapshot);
      } finally {
        await elsewhere.close();
      }
      // A cursor whose tag does not match: one character changed.
      const forged = cursor.slice(0, 10) + (cursor[10] === "A" ? "B" : "A") + cursor.slice(11);
      assert.deepEqual(await read({ after: forged }), snapshot);
      // Signed with the feed's own key and epoch, for a position the feed has not reached.
      const key = await server.storage.secrets.getOrCreate("revocation-feed-cursor", () => Buffer.alloc(32), 0);
      const { epoch, newest } = await server.storage.revocationFeed.page(null, 1, server.clock.now());
      const payload = Buffer.from(`${epoch}.${newest + 1}`);
      const future = Buffer.concat([payload, createHmac("sha256", key).update(payload).digest()]).toString("base64url");
      assert.deepEqual(await read({ after: future }), snapshot);
      // The same signature for the newest position is the feed's own: followed, nothing new.
      const current = Buffer.from(`${epoch}.${newest}`);
      const own = Buffer.concat([current, createHmac("sha256", key).update(current).digest()]).toString("base64url");
      assert.deepEqual(await read({ after: own }), { entries: [], cursor: own, has_more: false });
    });

    it("hands a snapshot larger than `limit` out in pages: the first marked reset, the next ones continuing it", async () => {
      const whole = await read();
      const first = await read({ limit: "4" });
      assert.deepEqual([first.entries, first.has_more, first.reset], [whole.entries.slice(0, 4), true, true]);
      const pages = [first];
      while (present(pages.at(-1), "a page").has_more) {
        pages.push(await read({ after: present(pages.at(-1), "a page").cursor, limit: "4" }));
      }
      assert.deepEqual(
        pages.slice(1).map((page) => page.reset),
        pages.slice(1).map(() => undefined),
      );
      assert.deepEqual(
        pages.flatMap((page) => page.entries),
        whole.entries,
      );
    });

    it("drops an entry from the feed once no token it covers can be valid", async () => {
      const before = (await read()).entries;
      const firstDrop = Math.min(...before.map((entry) => entry.drop_after as number));
      // Half a second after the earliest drop_after: the instant after which a gateway may forget that entry.
      server.clock.ms = firstDrop * 1000 + 500;
      const after = (await read()).entries;
      assert.deepEqual(
        after,
        before.filter((entry) => (entry.drop_after as number) > firstDrop),
      );
      assert.ok(after.length < before.length);
    });

    it("lists a revoked signing key: every token it signed is inactive", async () => {
      const token = await clientToken(printer);
      const kid = present(decodeProtectedHeader(token).kid, "kid");
      assert.equal(await server.storage.keys.revoke(kid, server.clock.now()), true);
      assert.deepEqual(await increment(), [{ kind: "key", kid, drop_after: nowSeconds() + LONGEST_VALIDITY }]);
      assert.equal(await active(token, printer), false);
    });
  });
}
