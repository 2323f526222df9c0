import { constants, sign, type KeyObject, type SignKeyObjectInput } from "node:crypto";
import type { SigningAlgorithm } from "./algorithms.js";

/**
 * A synchronous signer for one private key: `sign(header, payload)` → RFC 7515 §7.1 JWS Compact Serialization,
 * BASE64URL(UTF8(JSON header)) '.' BASE64URL(JSON payload) '.' BASE64URL(signature).
 *
 * Why not jose's SignJWT: it signs through WebCrypto, an asynchronous job on libuv's thread pool, which cost
 * 23–28 % of the sidecar's main thread under client-credentials load (bench/RESULTS.md, "3. Sidecar token endpoint"), against
 * about a quarter of that for `node:crypto.sign`. This is only the serialization around node's own signature
 * primitive; nothing cryptographic is implemented here. Tokens it makes are verified with jose in the tests.
 */
export type JwsSigner = (payload: Readonly<Record<string, unknown>>) => string;

/**
 * The `node:crypto.sign` arguments of each JWS algorithm (RFC 7518 §3.1, RFC 8037 §3.1). Built once per key, so
 * signing a token creates no key object.
 */
function signInput(
  alg: SigningAlgorithm,
  privateKey: KeyObject,
): { digest: string | null; key: KeyObject | SignKeyObjectInput } {
  switch (alg) {
    case "ES256":
      // RFC 7518 §3.4: the signature is R || S (32 bytes each), not DER.
      return { digest: "sha256", key: { key: privateKey, dsaEncoding: "ieee-p1363" } };
    case "PS256":
      // RFC 7518 §3.5: RSASSA-PSS with SHA-256, MGF1 with SHA-256, salt as long as the hash (32 bytes).
      return { digest: "sha256", key: { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } };
    case "RS256":
      // RFC 7518 §3.3: RSASSA-PKCS1-v1_5 with SHA-256 (node's default padding for RSA keys).
      return { digest: "sha256", key: { key: privateKey, padding: constants.RSA_PKCS1_PADDING } };
    case "EdDSA":
      // RFC 8037 §3.1: Ed25519 hashes internally; node takes no digest for it.
      return { digest: null, key: privateKey };
  }
}

/**
 * The signer of `privateKey` for `alg` under one protected header (for access tokens `{alg, kid, typ}`, the same for
 * every token of a key, so it is encoded once here). Throws at once, not per token, when the key does not fit the
 * algorithm or the header names another one.
 */
export function createJwsSigner(
  alg: SigningAlgorithm,
  privateKey: KeyObject,
  header: Readonly<Record<string, unknown>>,
): JwsSigner {
  checkKeyType(alg, privateKey);
  if (header["alg"] !== alg) throw new TypeError(`the protected header must name alg ${alg}`);
  const { digest, key } = signInput(alg, privateKey);
  const encodedHeader = encodeJson(header);
  return (payload) => {
    const signingInput = `${encodedHeader}.${encodeJson(payload)}`;
    const signature = sign(digest, Buffer.from(signingInput), key);
    return `${signingInput}.${signature.toString("base64url")}`;
  };
}

function encodeJson(value: Readonly<Record<string, unknown>>): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

/** RFC 8725 §3.1: a key is used with the one algorithm it is for; a mismatch is a configuration error. */
function checkKeyType(alg: SigningAlgorithm, key: KeyObject): void {
  if (key.type !== "private") throw new TypeError(`${alg} signing needs a private key, got a ${key.type} key`);
  const expected = { ES256: "ec", EdDSA: "ed25519", PS256: "rsa", RS256: "rsa" }[alg];
  if (key.asymmetricKeyType !== expected) {
    throw new TypeError(`${alg} signing needs an ${expected} key, got ${String(key.asymmetricKeyType)}`);
  }
  if (alg === "ES256" && key.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
    // RFC 7518 §3.4: ES256 is ECDSA on P-256 only.
    throw new TypeError(`ES256 signing needs a P-256 key, got ${String(key.asymmetricKeyDetails?.namedCurve)}`);
  }
  if (alg !== "EdDSA" && alg !== "ES256" && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) {
    // RFC 7518 §3.3/§3.5: RSA keys of at least 2048 bits.
    throw new TypeError(`${alg} signing needs an RSA key of at least 2048 bits`);
  }
}
