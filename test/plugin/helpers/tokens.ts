// Test keys and RFC 9068 access tokens, signed with jose (never by the code under test), plus a
// raw builder for hostile tokens jose refuses to produce.
import { createHmac, sign as nodeSign } from "node:crypto";
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from "jose";
import type { Algorithm } from "../../../plugin/src/core/algorithms.ts";

export interface TestKey {
  readonly alg: Algorithm;
  readonly kid: string;
  readonly privateKey: CryptoKey;
  /** The public JWK as a key server publishes it: kid, alg, use. */
  readonly jwk: JWK;
}

export const ISSUER = "http://127.0.0.1:9000";
export const AUDIENCE = "http://localhost:8000/flickr";
/** A fixed clock for the pure tests: 2026-11-29T18:00:00Z, in seconds. */
export const NOW = 1_796_061_600;

export async function generateTestKey(
  alg: Algorithm,
  kid: string = `${alg.toLowerCase()}-key`,
  publishAlg = true,
): Promise<TestKey> {
  const options = alg === "EdDSA" ? { crv: "Ed25519", extractable: true } : { extractable: true };
  const { privateKey, publicKey } = await generateKeyPair(alg, options);
  const jwk = { ...(await exportJWK(publicKey)), kid, use: "sig", ...(publishAlg ? { alg } : {}) };
  return { alg, kid, privateKey, jwk };
}

export function defaultClaims(now = NOW): JWTPayload & Record<string, unknown> {
  return {
    iss: ISSUER,
    sub: "alice",
    aud: AUDIENCE,
    iat: now - 10,
    exp: now + 600,
    jti: `jti-${Math.random().toString(36).slice(2)}`,
    client_id: "canon-printing",
    scope: "photos openid",
  };
}

/** A token as the sidecar issues it (RFC 9068 §2), with optional claim and header overrides. */
export async function signAccessToken(
  key: TestKey,
  claims: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
  now = NOW,
): Promise<string> {
  const payload = Object.fromEntries(
    Object.entries({ ...defaultClaims(now), ...claims }).filter(([, value]) => value !== undefined),
  );
  return new SignJWT(payload)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "at+jwt", ...header })
    .sign(key.privateKey);
}

export const b64url = (value: string | Buffer): string => Buffer.from(value).toString("base64url");

/** header.payload.signature from raw objects; `signer` gets the signing input. */
export function rawToken(
  header: unknown,
  payload: unknown,
  signer: (input: string) => Buffer = () => Buffer.alloc(0),
): string {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  return `${input}.${b64url(signer(input))}`;
}

/** The classic confusion attack: HS256 keyed with the RSA public key's PEM text (RFC 8725 §2.1). */
export function hmacWithPublicKey(publicPem: string): (input: string) => Buffer {
  return (input) => createHmac("sha256", publicPem).update(input).digest();
}

const pkcs8Cache = new WeakMap<CryptoKey, Buffer>();

/**
 * header.payload.signature over raw texts or bytes, signed by node itself with the test key: for
 * tokens jose will not write (duplicate names, `1e400`, DER-encoded ECDSA, other PSS salt lengths).
 * `options` are node's sign options (`padding`, `saltLength`, `dsaEncoding`).
 */
export async function signRaw(
  key: TestKey,
  header: string | Buffer,
  payload: string | Buffer,
  options: { padding?: number; saltLength?: number; dsaEncoding?: "der" | "ieee-p1363" } = {},
): Promise<string> {
  let pkcs8 = pkcs8Cache.get(key.privateKey);
  if (pkcs8 === undefined) {
    pkcs8 = Buffer.from(await crypto.subtle.exportKey("pkcs8", key.privateKey));
    pkcs8Cache.set(key.privateKey, pkcs8);
  }
  const input = `${b64url(header)}.${b64url(payload)}`;
  const digest = key.alg === "EdDSA" ? null : `sha${key.alg.slice(2)}`;
  return `${input}.${b64url(nodeSign(digest, Buffer.from(input), { key: pkcs8, format: "der", type: "pkcs8", ...options }))}`;
}
