import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { join } from "node:path";
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from "jose";
import { basic, createClient, form, post, startTestServer, tempDir, TestClock } from "../helpers.ts";

describe("restart on the same database", () => {
  const temp = tempDir();
  after(() => temp.remove());

  it("keeps clients, keys and revocations", async () => {
    const dbPath = join(temp.dir, "authz.db");
    const clock = new TestClock();
    // A fixed issuer: with port 0 the default (http://localhost:<port>) would change across the restart.
    const issuer = "http://localhost:9000";
    const first = await startTestServer({ dbPath, clock, issuer });
    await first.storage.scopes.create({
      name: "photos",
      description: "Read your photos",
      resource: "http://localhost:8080/",
    });
    const client = await createClient(first.storage, { scopes: ["photos"] });
    const auth = { authorization: basic(client.clientId, client.clientSecret) };
    const issue = async (url: string) => {
      const result = await post(`${url}/token`, form({ grant_type: "client_credentials" }), auth);
      assert.equal(result.status, 200);
      return (result.body as { access_token: string }).access_token;
    };
    const revoked = await issue(first.url);
    const kept = await issue(first.url);
    assert.equal((await post(`${first.url}/revoke`, form({ token: revoked }), auth)).status, 200);
    const jwksBefore = (await (await fetch(`${first.url}/jwks.json`)).json()) as JSONWebKeySet;
    await first.close();

    const second = await startTestServer({ dbPath, clock, issuer });
    try {
      const jwksAfter = (await (await fetch(`${second.url}/jwks.json`)).json()) as JSONWebKeySet;
      assert.deepEqual(jwksAfter, jwksBefore, "no new key is generated on restart");
      const introspect = async (token: string) =>
        (await post(`${second.url}/introspect`, form({ token }), auth)).body as { active: boolean };
      assert.equal((await introspect(revoked)).active, false);
      assert.equal((await introspect(kept)).active, true);
      const fresh = await issue(second.url);
      await jwtVerify(fresh, createLocalJWKSet(jwksAfter), { currentDate: clock.date });
      await jwtVerify(kept, createLocalJWKSet(jwksAfter), { currentDate: clock.date });
      assert.equal(
        await second.storage.revocations.isAccessTokenRevoked(
          (JSON.parse(Buffer.from(revoked.split(".")[1], "base64url").toString()) as { jti: string }).jti,
        ),
        true,
      );
      assert.deepEqual((await second.storage.clients.find(client.clientId))?.scopes, ["photos"]);
    } finally {
      await second.close();
    }
  });
});
