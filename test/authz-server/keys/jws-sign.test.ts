import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { describe, it } from "node:test";
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from "jose";
import type { Clock } from "../../../authz-server/src/clock.ts";
import { signingAlgorithms } from "../../../authz-server/src/keys/algorithms.ts";
import { generateSigningKey } from "../../../authz-server/src/keys/generate.ts";
import { createJwsSigner } from "../../../authz-server/src/keys/jws-sign.ts";
import { KeyRing } from "../../../authz-server/src/keys/keyring.ts";
import type { KeyStore, SigningKey } from "../../../authz-server/src/storage/types.ts";

const NOW = Date.UTC(2026, 10, 29, 12, 0, 0);
const clock: Clock = { now: () => NOW };

/** An in-memory KeyStore with one key, enough for a KeyRing. */
function storeWith(key: SigningKey): KeyStore {
  const rows = [key];
  return {
    list: () => Promise.resolve(rows),
    insert: (k) => {
      rows.push(k);
      return Promise.resolve();
    },
    insertIfEmpty: () => Promise.resolve(false),
    delete: () => Promise.resolve(),
    revoke: () => Promise.resolve(false),
    version: () => Promise.resolve("1"),
  };
}

describe("keys/jws-sign through the KeyRing", () => {
  for (const alg of signingAlgorithms) {
    it(`${alg}: the token verifies with jose.jwtVerify against the published JWKS; header and claims round-trip exactly`, async () => {
      const key = await generateSigningKey(alg, NOW, NOW);
      const ring = new KeyRing(storeWith(key), clock, {
        algorithm: alg,
        accessTokenTtl: 600,
        clockSkew: 60,
      });
      await ring.refresh();
      const claims = {
        iss: "http://localhost:9000",
        sub: "client-1",
        aud: ["https://photos.example", "https://other.example"],
        exp: NOW / 1000 + 600,
        iat: NOW / 1000,
        jti: "7b0e6a2e-1f1c-4c53-9f1e-0c7b3a3f3c11",
        client_id: "client-1",
        scope: "photos print ünïcødé",
      };
      const token = ring.signAccessToken(claims, NOW);
      const jwks = ring.jwks(NOW);
      const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks), {
        algorithms: [alg],
        typ: "at+jwt",
        issuer: claims.iss,
        audience: "https://photos.example",
        currentDate: new Date(NOW),
      });
      assert.deepEqual(protectedHeader, { alg, kid: key.kid, typ: "at+jwt" });
      assert.deepEqual(payload, claims);
      // Exactly three base64url parts, no padding (RFC 7515 §2, §7.1).
      assert.match(token, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
      assert.deepEqual(decodeProtectedHeader(token), { alg, kid: key.kid, typ: "at+jwt" });
      assert.deepEqual(decodeJwt(token), claims);
    });
  }

  it("ES256 signatures are R || S (64 bytes, RFC 7518 §3.4), not DER", () => {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const token = createJwsSigner("ES256", privateKey, { alg: "ES256" })({ a: 1 });
    assert.equal(Buffer.from(token.split(".")[2], "base64url").length, 64);
  });

  it("a tampered payload does not verify", async () => {
    const key = await generateSigningKey("ES256", NOW, NOW);
    const ring = new KeyRing(storeWith(key), clock, {
      algorithm: "ES256",
      accessTokenTtl: 600,
      clockSkew: 60,
    });
    await ring.refresh();
    const [h, , s] = ring.signAccessToken({ sub: "a", exp: NOW / 1000 + 60 }, NOW).split(".");
    const forged = `${h}.${Buffer.from(JSON.stringify({ sub: "b", exp: NOW / 1000 + 60 })).toString("base64url")}.${s}`;
    await assert.rejects(jwtVerify(forged, createLocalJWKSet(ring.jwks(NOW)), { currentDate: new Date(NOW) }), {
      code: "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
    });
  });

  it("refuses a key that does not fit the algorithm, when the signer is made (RFC 8725 §3.1)", () => {
    const ec = generateKeyPairSync("ec", { namedCurve: "P-384" });
    const ed = generateKeyPairSync("ed25519");
    assert.throws(() => createJwsSigner("ES256", ec.privateKey, { alg: "ES256" }), {
      name: "TypeError",
      message: "ES256 signing needs a P-256 key, got secp384r1",
    });
    assert.throws(() => createJwsSigner("RS256", ed.privateKey, { alg: "RS256" }), {
      name: "TypeError",
      message: "RS256 signing needs an rsa key, got ed25519",
    });
    assert.throws(() => createJwsSigner("EdDSA", ed.publicKey, { alg: "EdDSA" }), {
      name: "TypeError",
      message: "EdDSA signing needs a private key, got a public key",
    });
    assert.throws(() => createJwsSigner("EdDSA", ed.privateKey, { alg: "ES256" }), {
      name: "TypeError",
      message: "the protected header must name alg EdDSA",
    });
    const small = generateKeyPairSync("rsa", { modulusLength: 1024 });
    assert.throws(() => createJwsSigner("PS256", small.privateKey, { alg: "PS256" }), {
      name: "TypeError",
      message: "PS256 signing needs an RSA key of at least 2048 bits",
    });
  });
});
