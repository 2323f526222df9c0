import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { calculateJwkThumbprint, type JWK } from "jose";
import type { SigningKey } from "../storage/types.js";
import type { SigningAlgorithm } from "./algorithms.js";

function generatePair(alg: SigningAlgorithm): { privateKey: KeyObject; publicKey: KeyObject } {
  switch (alg) {
    case "ES256":
      return generateKeyPairSync("ec", { namedCurve: "P-256" });
    case "EdDSA":
      return generateKeyPairSync("ed25519");
    case "PS256":
    case "RS256":
      // RFC 7518 §3.3/§3.5: at least 2048 bits.
      return generateKeyPairSync("rsa", { modulusLength: 2048 });
  }
}

/**
 * A new key pair for `alg`, as stored: private and public JWK, `kid` = RFC 7638 thumbprint of the public key
 * (stable, collision-free, and reveals nothing). The key is published at once and signs from `activateAt`.
 */
export async function generateSigningKey(alg: SigningAlgorithm, now: number, activateAt: number): Promise<SigningKey> {
  const { privateKey, publicKey } = generatePair(alg);
  const publicJwk = publicKey.export({ format: "jwk" }) as JWK;
  const kid = await calculateJwkThumbprint(publicJwk, "sha256");
  const published: JWK = { ...publicJwk, kid, alg, use: "sig" };
  return {
    kid,
    alg,
    privateJwk: JSON.stringify(privateKey.export({ format: "jwk" })),
    publicJwk: JSON.stringify(published),
    createdAt: now,
    activateAt,
  };
}
