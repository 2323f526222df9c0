#!/usr/bin/env node
// Measures raw node:crypto sign and verify cost per JWS algorithm on this machine, to choose the
// default signing algorithm (docs/es256.md). Usage: node bench/signing-algorithms.mjs [iterations]
import { generateKeyPairSync, sign, verify, constants } from "node:crypto";

const iterations = Number(process.argv[2] ?? 2000);
const payload = Buffer.from(
  "eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCIsImtpZCI6ImsxIn0.eyJpc3MiOiJodHRwOi8vbG9jYWxob3N0OjkwMDAiLCJzdWIiOiJjbGllbnQiLCJhdWQiOiJodHRwOi8vcGhvdG9zIiwiZXhwIjoxLCJpYXQiOjEsImp0aSI6IngiLCJjbGllbnRfaWQiOiJjIiwic2NvcGUiOiJwaG90b3MifQ",
);
const algorithms = {
  PS256: {
    pair: () => generateKeyPairSync("rsa", { modulusLength: 2048 }),
    hash: "sha256",
    opts: { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
  },
  RS256: { pair: () => generateKeyPairSync("rsa", { modulusLength: 2048 }), hash: "sha256", opts: {} },
  ES256: {
    pair: () => generateKeyPairSync("ec", { namedCurve: "P-256" }),
    hash: "sha256",
    opts: { dsaEncoding: "ieee-p1363" },
  },
  EdDSA: { pair: () => generateKeyPairSync("ed25519"), hash: null, opts: {} },
};
const results = [];
for (const [alg, a] of Object.entries(algorithms)) {
  const { privateKey, publicKey } = a.pair();
  const signature = sign(a.hash, payload, { key: privateKey, ...a.opts });
  for (let i = 0; i < 200; i++) verify(a.hash, payload, { key: publicKey, ...a.opts }, signature); // warm-up
  let t = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) sign(a.hash, payload, { key: privateKey, ...a.opts });
  const signUs = Number(process.hrtime.bigint() - t) / iterations / 1000;
  t = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) verify(a.hash, payload, { key: publicKey, ...a.opts }, signature);
  const verifyUs = Number(process.hrtime.bigint() - t) / iterations / 1000;
  results.push({
    alg,
    sign_us: Number(signUs.toFixed(1)),
    verify_us: Number(verifyUs.toFixed(1)),
    signature_bytes: signature.length,
  });
}
console.log(JSON.stringify({ node: process.version, iterations, results }, null, 2));
