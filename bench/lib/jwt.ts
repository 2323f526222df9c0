// Keys and RFC 9068 access tokens for the benchmark, minted with node:crypto directly so that
// minting thousands of fresh tokens stays cheap. Nothing here is on a measured path except
// `verifyRaw`, which is the floor: the bare node:crypto.verify of one signature.
import crypto, { type KeyObject } from "node:crypto";

export const ALGORITHMS = ["PS256", "RS256", "ES256", "EdDSA"] as const;
export type Algorithm = (typeof ALGORITHMS)[number];

export interface TokenClaims {
  iss: string;
  sub: string;
  aud: string | string[];
  exp: number;
  iat: number;
  jti: string;
  client_id: string;
  scope: string;
  [key: string]: unknown;
}

export interface Signer {
  alg: Algorithm;
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** The public JWK as a JWKS would publish it. */
  jwk: crypto.JsonWebKey & { kid: string; alg: Algorithm; use: "sig" };
  sign(data: Buffer): Buffer;
  verifyRaw(data: Buffer, signature: Buffer): boolean;
  mint(claims: TokenClaims): string;
}

export function createSigner(alg: Algorithm, kid = `bench-${alg.toLowerCase()}`): Signer {
  const { privateKey, publicKey } =
    alg === "ES256"
      ? crypto.generateKeyPairSync("ec", { namedCurve: "P-256" })
      : alg === "EdDSA"
        ? crypto.generateKeyPairSync("ed25519")
        : crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
  // The per-algorithm parameters of RFC 7518 §3.3–3.5 and RFC 8037 §3.1: PKCS#1 v1.5 for RS256,
  // PSS with a 32-byte salt for PS256, raw r||s (not DER) for ES256, pure Ed25519 for EdDSA.
  const digest = alg === "EdDSA" ? null : "sha256";
  const signOptions = (key: KeyObject): crypto.SignKeyObjectInput | crypto.VerifyKeyObjectInput | KeyObject =>
    alg === "PS256"
      ? { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }
      : alg === "ES256"
        ? { key, dsaEncoding: "ieee-p1363" }
        : key;
  const privateInput = signOptions(privateKey);
  const publicInput = signOptions(publicKey);
  const header = Buffer.from(JSON.stringify({ alg, typ: "at+jwt", kid })).toString("base64url");
  const signer: Signer = {
    alg,
    kid,
    privateKey,
    publicKey,
    jwk: { ...publicKey.export({ format: "jwk" }), kid, alg, use: "sig" },
    sign: (data) => crypto.sign(digest, data, privateInput),
    verifyRaw: (data, signature) => crypto.verify(digest, data, publicInput, signature),
    mint(claims) {
      const input = `${header}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}`;
      return `${input}.${signer.sign(Buffer.from(input)).toString("base64url")}`;
    },
  };
  return signer;
}

/** Splits a compact JWS into the bytes that were signed and the decoded signature. */
export function splitToken(token: string): { data: Buffer; signature: Buffer } {
  const dot = token.lastIndexOf(".");
  return { data: Buffer.from(token.slice(0, dot)), signature: Buffer.from(token.slice(dot + 1), "base64url") };
}

/** Claims of a fresh access token for `audience`, valid for ten minutes from `nowSeconds`. */
export function freshClaims(issuer: string, audience: string, nowSeconds: number, scope = "photos"): TokenClaims {
  return {
    iss: issuer,
    sub: "user-alice",
    aud: audience,
    exp: nowSeconds + 600,
    iat: nowSeconds,
    jti: crypto.randomUUID(),
    client_id: "client-canon",
    scope,
  };
}
