// The one module that touches signatures: compact-JWS pieces decoded with node's Buffer and
// JSON.parse, signatures checked with node:crypto's synchronous `verify`. No crypto primitive or
// parser is written here; this only chooses node's options per JWS algorithm (RFC 7518 §3).

import { isUtf8 } from "node:buffer";
import { constants, verify, type KeyObject } from "node:crypto";
import type { Algorithm } from "./algorithms.js";

/** How each JWS algorithm maps onto node:crypto, and which key type it needs (RFC 7518 §3.1). */
interface AlgorithmParameters {
  readonly kty: "RSA" | "EC" | "OKP";
  /** EC/OKP curve name as in a JWK `crv` (RFC 7518 §6.2.1.1, RFC 8037 §2); any for RSA. */
  readonly crv?: readonly string[];
  /** node's digest name; null for EdDSA, which hashes internally (RFC 8037 §3.1). */
  readonly digest: string | null;
  readonly pss: boolean;
  /** ECDSA signature length in bytes: JWS uses R || S, each padded to the curve size (RFC 7518 §3.4). */
  readonly ecdsaLength?: number;
}

export const ALGORITHM_PARAMETERS: Readonly<Record<Algorithm, AlgorithmParameters>> = {
  RS256: { kty: "RSA", digest: "sha256", pss: false },
  RS384: { kty: "RSA", digest: "sha384", pss: false },
  RS512: { kty: "RSA", digest: "sha512", pss: false },
  PS256: { kty: "RSA", digest: "sha256", pss: true },
  PS384: { kty: "RSA", digest: "sha384", pss: true },
  PS512: { kty: "RSA", digest: "sha512", pss: true },
  ES256: { kty: "EC", crv: ["P-256"], digest: "sha256", pss: false, ecdsaLength: 64 },
  ES384: { kty: "EC", crv: ["P-384"], digest: "sha384", pss: false, ecdsaLength: 96 },
  ES512: { kty: "EC", crv: ["P-521"], digest: "sha512", pss: false, ecdsaLength: 132 },
  EdDSA: { kty: "OKP", crv: ["Ed25519", "Ed448"], digest: null, pss: false },
};

/**
 * Decodes one base64url segment (RFC 7515 §2: no padding, no line breaks) and accepts only its
 * canonical spelling. Buffer's decoder is lenient — it skips stray characters and padding, takes
 * the standard alphabet's `+` and `/` too, and ignores the unused low bits of the last character —
 * so the bytes must re-encode to exactly the same text. That one comparison refuses every such
 * variant, and keeps a token from having several spellings of one signature.
 */
export function decodeBase64Url(segment: string): Buffer | undefined {
  const bytes = Buffer.from(segment, "base64url");
  return bytes.toString("base64url") === segment ? bytes : undefined;
}

/** A JOSE header or JWT claims set: a JSON object (RFC 7515 §4, RFC 7519 §7.2 step 10). */
export function decodeJsonObject(segment: string): Record<string, unknown> | undefined {
  const bytes = decodeBase64Url(segment);
  if (bytes === undefined || bytes.length === 0) return undefined;
  // Invalid UTF-8 is refused rather than replaced (RFC 8259 §8.1); node's native check is cheaper
  // than a fatal TextDecoder.
  if (!isUtf8(bytes)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString("utf8"));
  } catch {
    return undefined;
  }
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/**
 * Checks a JWS signature over `signingInput` (ASCII(header || '.' || payload), RFC 7515 §5.2).
 * The caller has already matched `key` to `alg`. Never throws: node throws on some malformed
 * signatures (e.g. a wrong-length ECDSA value), which is just an invalid signature here.
 */
export function verifySignature(alg: Algorithm, key: KeyObject, signingInput: string, signature: Buffer): boolean {
  const parameters = ALGORITHM_PARAMETERS[alg];
  if (parameters.ecdsaLength !== undefined && signature.length !== parameters.ecdsaLength) return false;
  // RFC 8017 §8.1.2 and §8.2.2 step 1: an RSA signature is exactly as long as the modulus.
  // OpenSSL verifies a PSS signature with its leading zero byte dropped (a second spelling of
  // the same token). asymmetricKeyDetails is computed once per KeyObject and then cached by node.
  if (parameters.kty === "RSA" && signature.length !== ((key.asymmetricKeyDetails?.modulusLength ?? 0) + 7) >> 3)
    return false;
  try {
    if (parameters.kty === "OKP") return verify(null, Buffer.from(signingInput, "latin1"), key, signature);
    if (parameters.kty === "EC") {
      return verify(
        parameters.digest,
        Buffer.from(signingInput, "latin1"),
        { key, dsaEncoding: "ieee-p1363" },
        signature,
      );
    }
    if (parameters.pss) {
      // RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash output.
      return verify(
        parameters.digest,
        Buffer.from(signingInput, "latin1"),
        { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST },
        signature,
      );
    }
    // RSASSA-PKCS1-v1_5 is node's default for an RSA key; the bare KeyObject skips option parsing.
    return verify(parameters.digest, Buffer.from(signingInput, "latin1"), key, signature);
  } catch {
    return false;
  }
}
