import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from "jose";
import * as oauth from "oauth4webapi";
import { createClient, present, insecure, startTestServer, type TestClient, type TestServer } from "../helpers.ts";

const photosApi = "http://localhost:8080/";

describe("token service over HTTP with oauth4webapi", () => {
  let server: TestServer;
  let client: TestClient;
  let as: oauth.AuthorizationServer;

  before(async () => {
    server = await startTestServer();
    await server.storage.scopes.create({ name: "photos", description: "Read your photos", resource: photosApi });
    await server.storage.scopes.create({ name: "profile", description: "Read your profile", resource: null });
    client = await createClient(server.storage, { scopes: ["photos", "profile"] });
    const response = await oauth.discoveryRequest(new URL(server.issuer), { algorithm: "oauth2", ...insecure });
    as = await oauth.processDiscoveryResponse(new URL(server.issuer), response);
  });
  after(() => server.close());

  async function jwks(): Promise<JSONWebKeySet> {
    const response = await fetch(present(as.jwks_uri, "jwks_uri"));
    assert.equal(response.status, 200);
    return (await response.json()) as JSONWebKeySet;
  }

  async function clientCredentials(
    auth: oauth.ClientAuth,
    parameters: Record<string, string> | URLSearchParams = {},
  ): Promise<oauth.TokenEndpointResponse> {
    const response = await oauth.clientCredentialsGrantRequest(
      as,
      { client_id: client.clientId },
      auth,
      parameters,
      insecure,
    );
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("cache-control"), "no-store");
    assert.equal(response.headers.get("pragma"), "no-cache");
    return oauth.processClientCredentialsResponse(as, { client_id: client.clientId }, response);
  }

  it("publishes RFC 8414 metadata naming only what exists", async () => {
    const base = server.issuer;
    const withSecret = ["client_secret_basic", "client_secret_post"];
    // Every member exactly, so an extra grant, method or endpoint that does not exist would fail the test.
    assert.deepEqual(as, {
      issuer: base,
      authorization_endpoint: `${base}/authorize`,
      token_endpoint: `${base}/token`,
      jwks_uri: `${base}/jwks.json`,
      scopes_supported: ["photos", "profile"],
      response_types_supported: ["code"],
      response_modes_supported: ["query"],
      grant_types_supported: ["client_credentials", "authorization_code", "refresh_token"],
      token_endpoint_auth_methods_supported: [...withSecret, "none"],
      revocation_endpoint: `${base}/revoke`,
      revocation_endpoint_auth_methods_supported: [...withSecret, "none"],
      introspection_endpoint: `${base}/introspect`,
      introspection_endpoint_auth_methods_supported: withSecret,
      revocation_feed_endpoint: `${base}/revocations`,
      code_challenge_methods_supported: ["S256"],
      authorization_response_iss_parameter_supported: true,
    });
    const response = await fetch(`${base}/.well-known/oauth-authorization-server`);
    assert.equal(response.headers.get("content-type"), "application/json; charset=utf-8");
    assert.equal(response.headers.get("cache-control"), "public, max-age=300");
  });

  it("serves a JWKS of public keys with caching headers", async () => {
    const response = await fetch(present(as.jwks_uri, "jwks_uri"));
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("cache-control"), "public, max-age=300");
    assert.equal(response.headers.get("content-type"), "application/jwk-set+json");
    const set = (await response.json()) as JSONWebKeySet;
    assert.equal(set.keys.length, 1);
    const key = set.keys[0];
    assert.deepEqual(Object.keys(key).sort(), ["alg", "crv", "kid", "kty", "use", "x", "y"]);
    assert.equal(key.alg, "ES256");
    assert.equal(key["d"], undefined);
  });

  it("issues an RFC 9068 token with client_secret_basic that verifies against the JWKS", async () => {
    const result = await clientCredentials(oauth.ClientSecretBasic(client.clientSecret), { scope: "photos" });
    assert.equal(result.token_type, "bearer"); // oauth4webapi lower-cases token_type
    assert.equal(result.expires_in, 600);
    assert.equal(result.scope, "photos");
    assert.equal(result.refresh_token, undefined);
    const header = decodeProtectedHeader(result.access_token);
    assert.equal(header.typ, "at+jwt");
    assert.equal(header.alg, "ES256");
    const { payload } = await jwtVerify(result.access_token, createLocalJWKSet(await jwks()), {
      issuer: server.issuer,
      audience: photosApi,
      typ: "at+jwt",
      algorithms: ["ES256"],
      currentDate: server.clock.date,
    });
    const now = Math.floor(server.clock.now() / 1000);
    assert.deepEqual(payload, {
      iss: server.issuer,
      sub: client.clientId,
      aud: photosApi,
      exp: now + 600,
      iat: now,
      jti: payload.jti,
      client_id: client.clientId,
      scope: "photos",
    });
    assert.match(String(payload.jti), /^[0-9a-f-]{36}$/);
  });

  it("accepts client_secret_post and grants all allowed scopes when none is requested", async () => {
    const result = await clientCredentials(oauth.ClientSecretPost(client.clientSecret));
    assert.equal(result.scope, "photos profile");
    const { payload } = await jwtVerify(result.access_token, createLocalJWKSet(await jwks()), {
      currentDate: server.clock.date,
    });
    // aud = union of the scopes' resources; `profile` has none, so only the photos API.
    assert.equal(payload.aud, photosApi);
  });

  it("uses the default audience (the issuer) when no scope has a resource", async () => {
    const result = await clientCredentials(oauth.ClientSecretBasic(client.clientSecret), { scope: "profile" });
    const { payload } = await jwtVerify(result.access_token, createLocalJWKSet(await jwks()), {
      currentDate: server.clock.date,
    });
    assert.equal(payload.aud, server.issuer);
  });

  it("takes aud from a registered resource parameter (RFC 8707)", async () => {
    const params = new URLSearchParams([
      ["scope", "profile"],
      ["resource", photosApi],
    ]);
    const result = await clientCredentials(oauth.ClientSecretBasic(client.clientSecret), params);
    const { payload } = await jwtVerify(result.access_token, createLocalJWKSet(await jwks()), {
      currentDate: server.clock.date,
    });
    assert.equal(payload.aud, photosApi);
    assert.equal(payload.scope, "profile");
  });

  it("introspects a token as active, then inactive after revocation", async () => {
    const auth = oauth.ClientSecretBasic(client.clientSecret);
    const token = (await clientCredentials(auth, { scope: "photos" })).access_token;
    const introspect = async () =>
      oauth.processIntrospectionResponse(
        as,
        { client_id: client.clientId },
        await oauth.introspectionRequest(as, { client_id: client.clientId }, auth, token, insecure),
      );
    const before = await introspect();
    const now = Math.floor(server.clock.now() / 1000);
    assert.deepEqual(before, {
      active: true,
      scope: "photos",
      client_id: client.clientId,
      sub: client.clientId,
      aud: photosApi,
      iss: server.issuer,
      exp: now + 600,
      iat: now,
      jti: before.jti,
      token_type: "Bearer",
    });
    const revoked = await oauth.revocationRequest(as, { client_id: client.clientId }, auth, token, insecure);
    assert.equal(revoked.status, 200);
    assert.equal(revoked.headers.get("cache-control"), "no-store");
    await oauth.processRevocationResponse(revoked); // throws unless RFC 7009 §2.2's empty 200
    assert.deepEqual(await introspect(), { active: false });
    assert.equal(await server.storage.revocations.isAccessTokenRevoked(String(before.jti)), true);
  });

  it("answers active:false for expired, malformed and unknown tokens", async () => {
    const auth = oauth.ClientSecretBasic(client.clientSecret);
    const token = (await clientCredentials(auth)).access_token;
    const introspect = async (t: string) => {
      const response = await oauth.introspectionRequest(as, { client_id: client.clientId }, auth, t, insecure);
      assert.equal(response.status, 200);
      return (await response.json()) as unknown;
    };
    assert.deepEqual(await introspect("not-a-token"), { active: false });
    assert.deepEqual(await introspect(`${token.slice(0, -4)}AAAA`), { active: false });
    const [h, p] = token.split(".");
    assert.deepEqual(await introspect(`${h}.${p}.`), { active: false });
    server.clock.advance(600);
    assert.deepEqual(await introspect(token), { active: false });
    server.clock.advance(-600);
    assert.equal(((await introspect(token)) as { active: boolean }).active, true);
  });

  it("answers active:false for a token of a deleted client (deletion withdraws its grants, RFC 7662 §2.2)", async () => {
    const doomed = await createClient(server.storage, { scopes: ["photos"] });
    const token = (
      await oauth.processClientCredentialsResponse(
        as,
        { client_id: doomed.clientId },
        await oauth.clientCredentialsGrantRequest(
          as,
          { client_id: doomed.clientId },
          oauth.ClientSecretBasic(doomed.clientSecret),
          {},
          insecure,
        ),
      )
    ).access_token;
    // The photos API, which the token is addressed to, asks: the deleted client itself can no longer authenticate.
    const resourceServer = await createClient(server.storage, {
      scopes: [],
      grantTypes: [],
      resourceServerFor: [photosApi],
    });
    const introspect = async () =>
      (
        await oauth.introspectionRequest(
          as,
          { client_id: resourceServer.clientId },
          oauth.ClientSecretBasic(resourceServer.clientSecret),
          token,
          insecure,
        )
      ).json() as Promise<unknown>;
    assert.equal(((await introspect()) as { active: boolean }).active, true);
    assert.equal(await server.storage.clients.delete(doomed.clientId, server.clock.now()), true);
    assert.deepEqual(await introspect(), { active: false });
  });

  it("lets a client revoke only its own tokens; another client's and unknown tokens answer 200 (RFC 7009 §2.2)", async () => {
    const other = await createClient(server.storage, { scopes: ["photos"] });
    const auth = oauth.ClientSecretBasic(client.clientSecret);
    const token = (await clientCredentials(auth)).access_token;
    const foreign = await oauth.revocationRequest(
      as,
      { client_id: other.clientId },
      oauth.ClientSecretBasic(other.clientSecret),
      token,
      insecure,
    );
    assert.equal(foreign.status, 200);
    assert.equal(await foreign.text(), "");
    const introspected = await oauth.introspectionRequest(as, { client_id: client.clientId }, auth, token, insecure);
    assert.equal(((await introspected.json()) as { active: boolean }).active, true, "not revoked");
    const unknown = await oauth.revocationRequest(
      as,
      { client_id: other.clientId },
      oauth.ClientSecretPost(other.clientSecret),
      "no-such-token",
      insecure,
    );
    assert.equal(unknown.status, 200);
    assert.equal(await unknown.text(), "");
  });

  it("answers /healthz", async () => {
    const response = await fetch(`${server.url}/healthz`);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { status: "ok" });
  });
});
