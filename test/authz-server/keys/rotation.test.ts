import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from "jose";
import { signingAlgorithms } from "../../../authz-server/src/keys/algorithms.ts";
import { rotateKey } from "../../../authz-server/src/keys/keyring.ts";
import { basic, createClient, form, post, startTestServer, type TestClient, type TestServer } from "../helpers.ts";

describe("key rotation with an injected clock", () => {
  let server: TestServer;
  let client: TestClient;

  before(async () => {
    // accessTokenTtl 600 s and clockSkew 60 s: a retired key stays published 660 s after its successor activates.
    server = await startTestServer({ keyPollInterval: 3_600_000 });
    client = await createClient(server.storage, { scopes: [] });
  });
  after(() => server.close());

  async function issue(): Promise<string> {
    const result = await post(`${server.url}/token`, form({ grant_type: "client_credentials" }), {
      authorization: basic(client.clientId, client.clientSecret),
    });
    assert.equal(result.status, 200);
    return (result.body as { access_token: string }).access_token;
  }

  async function jwks(): Promise<JSONWebKeySet> {
    const response = await fetch(`${server.url}/jwks.json`);
    assert.equal(response.status, 200);
    return (await response.json()) as JSONWebKeySet;
  }

  const kids = async () => (await jwks()).keys.map((k) => k.kid);

  async function verifies(token: string): Promise<boolean> {
    try {
      await jwtVerify(token, createLocalJWKSet(await jwks()), { currentDate: server.clock.date, typ: "at+jwt" });
      return true;
    } catch {
      return false;
    }
  }

  it("publishes a rotated key at once, signs with it only after activate-after, retires the old key after its tokens expire", async () => {
    const start = server.clock.now();
    const before = await issue();
    const oldKid = decodeProtectedHeader(before).kid;
    assert.ok(oldKid !== undefined);
    assert.deepEqual(await kids(), [oldKid]);

    const rotated = await rotateKey(server.storage.keys, "ES256", 600, start);
    await server.running.services.keys.refresh(); // what the poll timer does
    assert.deepEqual(await kids(), [oldKid, rotated.kid]);
    assert.equal(decodeProtectedHeader(await issue()).kid, oldKid, "a pending key must not sign yet");

    server.clock.advance(599);
    const lastOld = await issue();
    assert.equal(decodeProtectedHeader(lastOld).kid, oldKid);

    server.clock.advance(1); // the new key activates
    const first = await issue();
    assert.equal(decodeProtectedHeader(first).kid, rotated.kid);
    assert.ok(await verifies(lastOld), "a token signed before the rotation still verifies");
    assert.ok(await verifies(first));

    // The last token signed with the old key expires at start+1199 s; the key stays until start+600+600+60 s.
    server.clock.ms = start + 1259_000;
    assert.deepEqual(await kids(), [oldKid, rotated.kid]);
    assert.deepEqual(
      server.running.services.keys.status().map((s) => [s.kid, s.state]),
      [
        [oldKid, "retired"],
        [rotated.kid, "active"],
      ],
    );
    server.clock.ms = start + 1260_000;
    assert.deepEqual(await kids(), [rotated.kid]);
    assert.equal(await verifies(first), false, "expired at start+1200 s");
    assert.equal(await verifies(await issue()), true);

    // The purge timer deletes the row; a second purge has nothing left to do.
    assert.deepEqual(await server.running.services.keys.deleteExpired(), [oldKid]);
    assert.deepEqual(
      (await server.storage.keys.list()).map((k) => k.kid),
      [rotated.kid],
    );
    assert.deepEqual(await server.running.services.keys.deleteExpired(), []);
  });

  it("signs with every supported algorithm", async () => {
    for (const alg of signingAlgorithms) {
      const key = await rotateKey(server.storage.keys, alg, 0, server.clock.now());
      await server.running.services.keys.refresh();
      const token = await issue();
      assert.deepEqual(decodeProtectedHeader(token), { alg, kid: key.kid, typ: "at+jwt" });
      const { payload } = await jwtVerify(token, createLocalJWKSet(await jwks()), {
        algorithms: [alg],
        currentDate: server.clock.date,
      });
      assert.equal(payload.client_id, client.clientId);
      server.clock.advance(1); // keep activation times distinct
    }
    const published = (await jwks()).keys;
    for (const key of published) {
      for (const privateMember of ["d", "p", "q", "dp", "dq", "qi"]) {
        assert.equal(privateMember in key, false, `JWKS leaks ${privateMember}`);
      }
    }
  });
});

describe("key poll robustness", () => {
  it("a key row the server cannot load is logged; the server keeps its keys and keeps answering", async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        lines.push(chunk.toString());
        callback();
      },
    });
    const server = await startTestServer({ keyPollInterval: 10, logger: pino({ level: "error" }, sink) });
    try {
      const before = (await (await fetch(`${server.url}/jwks.json`)).json()) as JSONWebKeySet;
      // A row written by hand, or by a newer version with another key format: the poll must not crash the process
      // (an exception thrown from a timer would take the whole sidecar down).
      await server.storage.keys.insert({
        kid: "broken",
        alg: "ES256",
        privateJwk: "{}",
        publicJwk: "{}",
        createdAt: 0,
        activateAt: 0,
      });
      const deadline = Date.now() + 5_000;
      while (!lines.some((l) => l.includes("signing keys could not be reloaded")) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const logged = lines.map((l) => JSON.parse(l) as { level: number; msg: string });
      assert.ok(
        logged.some((l) => l.level === 50 && l.msg === "signing keys could not be reloaded"),
        lines.join(""),
      );
      assert.deepEqual(await (await fetch(`${server.url}/jwks.json`)).json(), before);
      // Logged once per table version, not at every poll (10 ms here).
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(lines.filter((l) => l.includes("signing keys could not be reloaded")).length, 1);
      assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
    } finally {
      await server.close();
    }
  });
});

describe("JWKS contents", () => {
  it("publishes public members only, even when a stored row's public JWK carries private ones", async () => {
    const server = await startTestServer({ keyPollInterval: 3_600_000 });
    try {
      const [stored] = await server.storage.keys.list();
      const leaky = {
        ...stored,
        kid: "leaky",
        publicJwk: JSON.stringify({ ...JSON.parse(stored.privateJwk), kid: "leaky" }),
      };
      await server.storage.keys.insert({ ...leaky, activateAt: server.clock.now() + 1_000_000 });
      await server.running.services.keys.refresh();
      const published = ((await (await fetch(`${server.url}/jwks.json`)).json()) as JSONWebKeySet).keys;
      assert.deepEqual(
        published.map((k) => k.kid),
        [stored.kid, "leaky"],
      );
      for (const key of published) {
        assert.deepEqual(Object.keys(key).sort(), ["alg", "crv", "kid", "kty", "use", "x", "y"], `kid ${key.kid}`);
      }
    } finally {
      await server.close();
    }
  });
});
