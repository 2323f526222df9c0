// `keys revoke` as the key ring does it (keys/keyring.ts, revokeKey), on a server with an injected clock: a revoked key
// leaves the JWKS at the key ring's next reload and its tokens are refused; when it is the key signing now, a
// replacement signs at once, so the server never falls back to a retired key or to none.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { decodeProtectedHeader, type JSONWebKeySet } from "jose";
import { revokeKey, rotateKey } from "../../../authz-server/src/keys/keyring.ts";
import { feedEntries } from "../account.ts";
import {
  basic,
  createClient,
  form,
  post,
  present,
  startTestServer,
  storageEngines,
  type TestClient,
  type TestServer,
} from "../helpers.ts";

const engines = await storageEngines();

for (const engine of engines)
  describe(`key revocation with an injected clock on ${engine.name}`, () => {
    let server: TestServer;
    let client: TestClient;

    before(async () => {
      server = await startTestServer({ keyPollInterval: 3_600_000, ...(await engine.freshDatabase()) });
      client = await createClient(server.storage, { scopes: [] });
    });
    after(() => server.close());

    async function issue(): Promise<{ token: string; kid: string }> {
      const result = await post(`${server.url}/token`, form({ grant_type: "client_credentials" }), {
        authorization: basic(client.clientId, client.clientSecret),
      });
      assert.equal(result.status, 200);
      const token = (result.body as { access_token: string }).access_token;
      return { token, kid: present(decodeProtectedHeader(token).kid, "kid") };
    }

    async function kids(): Promise<string[]> {
      const response = await fetch(`${server.url}/jwks.json`);
      return ((await response.json()) as JSONWebKeySet).keys.map((k) => present(k.kid, "kid"));
    }

    async function active(token: string): Promise<boolean> {
      const result = await post(`${server.url}/introspect`, form({ token }), {
        authorization: basic(client.clientId, client.clientSecret),
      });
      assert.equal(result.status, 200);
      return (result.body as { active: boolean }).active;
    }

    /** `keys revoke`, then what the poll timer does. */
    async function revoke(kid: string) {
      const revocation = await revokeKey(server.storage, kid, server.clock.now());
      await server.running.services.keys.refresh();
      return revocation;
    }

    it("an unknown kid changes nothing", async () => {
      const before = await kids();
      assert.equal(await revoke("no-such-kid"), undefined);
      assert.deepEqual(await kids(), before);
      assert.deepEqual(await feedEntries(server), []);
    });

    it("a retired key leaves the JWKS and its tokens are refused; the signing key keeps signing", async () => {
      const old = await issue();
      server.clock.advance(1); // activation times distinct from the first key's
      const next = await rotateKey(server.storage.keys, "ES256", 0, server.clock.now());
      await server.running.services.keys.refresh();
      assert.equal((await issue()).kid, next.kid);
      assert.deepEqual(await kids(), [old.kid, next.kid]);

      const revocation = present(await revoke(old.kid), "the revocation");
      assert.deepEqual([revocation.revoked.kid, revocation.replacement], [old.kid, null]);
      assert.deepEqual(await kids(), [next.kid]);
      assert.deepEqual(await feedEntries(server), [{ kind: "key", kid: old.kid }]);
      assert.equal(await active(old.token), false);
      assert.equal((await issue()).kid, next.kid);
    });

    it("the signing key is replaced by a key that signs at once, not by the retired key before it", async () => {
      server.clock.advance(1);
      const retired = await rotateKey(server.storage.keys, "ES256", 0, server.clock.now());
      server.clock.advance(1);
      const signing = await rotateKey(server.storage.keys, "EdDSA", 0, server.clock.now());
      const pending = await rotateKey(server.storage.keys, "ES256", 600, server.clock.now());
      await server.running.services.keys.refresh();
      const before = await issue();
      assert.equal(before.kid, signing.kid);

      const revocation = present(await revoke(signing.kid), "the revocation");
      const replacement = present(revocation.replacement, "the replacement");
      assert.deepEqual(
        [replacement.alg, replacement.activateAt, replacement.createdAt],
        ["EdDSA", server.clock.now(), server.clock.now()],
      );
      const published = await kids();
      assert.equal(published.includes(signing.kid), false);
      assert.ok(
        published.includes(retired.kid) && published.includes(pending.kid) && published.includes(replacement.kid),
      );
      assert.equal((await issue()).kid, replacement.kid);
      assert.equal(await active(before.token), false);
      // The pending key still takes over when its time comes.
      server.clock.advance(600);
      assert.equal((await issue()).kid, pending.kid);
    });

    it("revoking the only key stores its replacement first: the server always has a key to sign with", async () => {
      for (const key of await server.storage.keys.list()) {
        const signing = server.running.services.keys.status().find((s) => s.state === "active");
        if (key.kid !== signing?.kid) await revoke(key.kid);
      }
      const [only] = await server.storage.keys.list();
      const revocation = present(await revoke(only.kid), "the revocation");
      const replacement = present(revocation.replacement, "the replacement");
      assert.deepEqual(
        (await server.storage.keys.list()).map((k) => k.kid),
        [replacement.kid],
      );
      assert.deepEqual(await kids(), [replacement.kid]);
      assert.equal((await issue()).kid, replacement.kid);
    });
  });
