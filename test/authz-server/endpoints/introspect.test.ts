// POST /introspect (RFC 7662) decides who may learn about a token: the client it was issued to, and a client
// registered as the resource server for one of the token's audiences (RFC 7662 §2.1: the server decides which
// protected resources may ask; §2.2: anyone else is answered `{"active": false}`). A refresh token is active only to
// its own client: it is never presented to a resource server.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { basic, createClient, form, post, startTestServer, type TestClient, type TestServer } from "../helpers.ts";
import {
  authorizationRequest,
  exchangeCallback,
  obtainCallback,
  PHOTOS_RESOURCE,
  startFlowServer,
  type FlowServer,
} from "../code-flow.ts";

const CALENDAR_API = "http://localhost:8000/calendar";

describe("POST /introspect answers about a token only to its client and to its resource servers", () => {
  let server: FlowServer;
  /** Another confidential client of the same server, with the same scopes as Canon. */
  let stranger: TestClient;
  /** The Flickr photos API, the resource server for Canon's tokens. */
  let photosApi: TestClient;
  /** A resource server for another API. */
  let calendarApi: TestClient;
  /** Alice's tokens, issued to Canon Printing through the code flow. */
  let tokens: { access_token: string; refresh_token: string };

  before(async () => {
    server = await startFlowServer();
    await server.storage.scopes.create({ name: "calendar", description: "See your calendar", resource: CALENDAR_API });
    stranger = await createClient(server.storage, { name: "Stranger", scopes: ["photos", "profile"] });
    photosApi = await createClient(server.storage, {
      name: "Flickr photos API",
      scopes: [],
      grantTypes: [],
      resourceServerFor: [PHOTOS_RESOURCE],
    });
    calendarApi = await createClient(server.storage, {
      name: "Calendar API",
      scopes: [],
      grantTypes: [],
      resourceServerFor: [CALENDAR_API],
    });
    const attempt = await authorizationRequest(server);
    const { callback } = await obtainCallback(server, attempt);
    const exchange = await exchangeCallback(server, attempt, callback);
    assert.equal(exchange.status, 200);
    tokens = exchange.body as typeof tokens;
  });
  after(() => server.close());

  async function introspect(caller: TestClient, token: string, hint?: string): Promise<unknown> {
    const response = await post(
      `${server.url}/introspect`,
      form({ token, ...(hint === undefined ? {} : { token_type_hint: hint }) }),
      {
        authorization: basic(caller.clientId, caller.clientSecret),
      },
    );
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("cache-control"), "no-store");
    return response.body;
  }

  /** The answer about Canon's access token: what its client and the photos API both get. */
  function accessTokenAnswer(jti: unknown) {
    const now = Math.floor(server.clock.now() / 1000);
    return {
      active: true,
      scope: "photos",
      client_id: server.canon.clientId,
      sub: server.userId,
      aud: PHOTOS_RESOURCE,
      iss: server.issuer,
      exp: now + 600,
      iat: now,
      jti,
      token_type: "Bearer",
    };
  }

  it("the client a token was issued to sees its access and refresh tokens active", async () => {
    const access = (await introspect(server.canon, tokens.access_token)) as { jti: unknown };
    assert.deepEqual(access, accessTokenAnswer(access.jti));
    const now = Math.floor(server.clock.now() / 1000);
    assert.deepEqual(await introspect(server.canon, tokens.refresh_token, "refresh_token"), {
      active: true,
      scope: "photos",
      client_id: server.canon.clientId,
      sub: server.userId,
      iss: server.issuer,
      exp: now + 14 * 24 * 3600,
      iat: now,
    });
  });

  it("another client is told {active: false} about them, whatever the hint, and learns no sub or scope", async () => {
    for (const hint of [undefined, "access_token", "refresh_token"]) {
      assert.deepEqual(await introspect(stranger, tokens.access_token, hint), { active: false });
      assert.deepEqual(await introspect(stranger, tokens.refresh_token, hint), { active: false });
    }
  });

  it("the resource server a token is addressed to (aud) gets the same answer as the token's client", async () => {
    const access = (await introspect(photosApi, tokens.access_token)) as { jti: unknown };
    assert.deepEqual(access, accessTokenAnswer(access.jti));
  });

  it("a resource server never sees a refresh token, nor an access token addressed to another resource", async () => {
    assert.deepEqual(await introspect(photosApi, tokens.refresh_token), { active: false });
    assert.deepEqual(await introspect(photosApi, tokens.refresh_token, "refresh_token"), { active: false });
    assert.deepEqual(await introspect(calendarApi, tokens.access_token), { active: false });
  });

  it("a token addressed to several resources is visible to the resource server of each", async () => {
    const planner = await createClient(server.storage, { name: "Planner", scopes: ["photos", "calendar"] });
    const issued = await post(`${server.url}/token`, form({ grant_type: "client_credentials" }), {
      authorization: basic(planner.clientId, planner.clientSecret),
    });
    assert.equal(issued.status, 200);
    const token = (issued.body as { access_token: string }).access_token;
    for (const resourceServer of [photosApi, calendarApi]) {
      const answer = (await introspect(resourceServer, token)) as { active: boolean; aud: unknown; client_id: unknown };
      assert.deepEqual(
        [answer.active, answer.aud, answer.client_id],
        [true, [CALENDAR_API, PHOTOS_RESOURCE], planner.clientId],
      );
    }
    assert.deepEqual(await introspect(stranger, token), { active: false });
  });
});

describe("POST /introspect allows the configured clock skew for a token issued ahead of its clock", () => {
  let server: TestServer;
  let client: TestClient;
  before(async () => {
    server = await startTestServer({ clockSkew: 5 });
    await server.storage.scopes.create({ name: "photos", description: "See your photos", resource: null });
    client = await createClient(server.storage, { scopes: ["photos"] });
    // Later than the signing key's activation, so that turning the clock back still finds it signing.
    server.clock.advance(60);
  });
  after(() => server.close());

  /** A token issued now, then introspected when the server's clock reads `secondsBack` earlier (another node's). */
  async function activeWhenClockIsBehind(secondsBack: number): Promise<unknown> {
    const issued = await post(`${server.url}/token`, form({ grant_type: "client_credentials" }), {
      authorization: basic(client.clientId, client.clientSecret),
    });
    assert.equal(issued.status, 200);
    const token = (issued.body as { access_token: string }).access_token;
    server.clock.advance(-secondsBack);
    try {
      const answer = await post(`${server.url}/introspect`, form({ token }), {
        authorization: basic(client.clientId, client.clientSecret),
      });
      assert.equal(answer.status, 200);
      return (answer.body as { active: unknown }).active;
    } finally {
      server.clock.advance(secondsBack);
    }
  }

  it("a token issued up to clockSkew seconds in the future is active", async () => {
    assert.equal(await activeWhenClockIsBehind(5), true);
  });

  it("a token issued further in the future than clockSkew is not active (RFC 7519 §4.1.6)", async () => {
    assert.equal(await activeWhenClockIsBehind(6), false);
  });
});
