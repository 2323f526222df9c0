// JSON Web Key Set → verification keys, selectable by `kid` only (RFC 8725 §3.10: never a key
// named by the token itself). Each key is pinned to the algorithms it may verify (RFC 8725 §3.1):
// its JWK `alg` when published, otherwise the one algorithm its curve implies, or the RSA family.
// JWK → KeyObject is node's own importer (`createPublicKey({ format: 'jwk' })`).

import { createPublicKey, type KeyObject } from "node:crypto";
import { isAlgorithm, SUPPORTED_ALGORITHMS, type Algorithm } from "./algorithms.js";
import { ALGORITHM_PARAMETERS } from "./jws-verify.js";

export interface VerificationKey {
  readonly kid: string;
  /** The algorithms this key verifies: exactly its `alg` when the JWK names one. */
  readonly algorithms: ReadonlySet<Algorithm>;
  readonly keyObject: KeyObject;
  /** The public key material and pinning as text; equal fingerprints mean the same key. */
  readonly fingerprint: string;
}

/** A parsed key set: the keys by `kid`, and why the others were skipped. */
export interface KeySet {
  readonly keys: ReadonlyMap<string, VerificationKey>;
  readonly skipped: readonly string[];
}

/** RFC 7518 §3.3: RSA keys of 2048 bits or more. */
const MIN_RSA_BITS = 2048;
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

type ImportResult = { ok: true; key: VerificationKey } | { ok: false; error: string };

/**
 * Imports one JWK. `reuse` maps fingerprints to keys imported earlier, so a refresh that
 * returns the same keys keeps the same KeyObjects (and the verified-token cache stays valid).
 */
export function importJwk(jwk: unknown, reuse?: ReadonlyMap<string, VerificationKey>): ImportResult {
  if (typeof jwk !== "object" || jwk === null || Array.isArray(jwk)) return { ok: false, error: "not an object" };
  const member = (name: string): unknown => (jwk as Record<string, unknown>)[name];
  const kid = member("kid");
  if (typeof kid !== "string" || kid.length === 0) return { ok: false, error: "no kid" };
  const fail = (why: string): ImportResult => ({ ok: false, error: `kid ${JSON.stringify(kid)}: ${why}` });

  // RFC 7517 §4.2/§4.3: a key published for encryption, or without the verify operation, is not ours.
  const use = member("use");
  if (use !== undefined && use !== "sig") return fail("use is not sig");
  const keyOps = member("key_ops");
  if (keyOps !== undefined && !(Array.isArray(keyOps) && keyOps.includes("verify")))
    return fail("key_ops lacks verify");
  if (PRIVATE_MEMBERS.some((name) => member(name) !== undefined)) return fail("private or symmetric key material");

  const kty = member("kty");
  const crv = member("crv");
  const alg = member("alg");
  let algorithms: Algorithm[];
  if (alg !== undefined) {
    if (!isAlgorithm(alg)) return fail(`unsupported alg ${JSON.stringify(alg)}`);
    algorithms = [alg];
  } else {
    algorithms = SUPPORTED_ALGORITHMS.filter((candidate) => {
      const parameters = ALGORITHM_PARAMETERS[candidate];
      return parameters.kty === kty && (parameters.crv === undefined || parameters.crv.includes(String(crv)));
    });
    if (algorithms.length === 0) return fail("unsupported key type or curve");
  }
  const parameters = ALGORITHM_PARAMETERS[algorithms[0]];
  if (parameters.kty !== kty) return fail(`kty ${JSON.stringify(kty)} does not fit alg ${algorithms[0]}`);
  if (parameters.crv !== undefined && !parameters.crv.includes(String(crv))) {
    return fail(`crv ${JSON.stringify(crv)} does not fit alg ${algorithms[0]}`);
  }

  const material =
    kty === "RSA"
      ? [kty, member("n"), member("e")]
      : kty === "EC"
        ? [kty, crv, member("x"), member("y")]
        : [kty, crv, member("x")];
  if (!material.every((part) => typeof part === "string")) return fail("missing public key members");
  const fingerprint = JSON.stringify([kid, [...algorithms].sort(), material]);
  const previous = reuse?.get(fingerprint);
  if (previous !== undefined) return { ok: true, key: previous };

  let keyObject: KeyObject;
  try {
    const publicJwk = Object.fromEntries(
      (kty === "RSA" ? ["kty", "n", "e"] : kty === "EC" ? ["kty", "crv", "x", "y"] : ["kty", "crv", "x"]).map(
        (name) => [name, member(name) as string],
      ),
    );
    keyObject = createPublicKey({ key: publicJwk, format: "jwk" });
  } catch (error) {
    return fail(`not a valid public key (${error instanceof Error ? error.message : String(error)})`);
  }
  if (kty === "RSA" && (keyObject.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_BITS) {
    return fail(`RSA key shorter than ${MIN_RSA_BITS} bits`);
  }
  // RFC 8017 §3.1: e is odd and at least 3. node imports e = 1, with which the "signature" is the
  // encoded message itself and anyone could forge one.
  const exponent = keyObject.asymmetricKeyDetails?.publicExponent;
  if (kty === "RSA" && (exponent === undefined || exponent < 3n || exponent % 2n === 0n)) {
    return fail("RSA public exponent must be odd and at least 3");
  }
  return { ok: true, key: { kid, algorithms: new Set(algorithms), keyObject, fingerprint } };
}

/**
 * Parses a JWK Set document (RFC 7517 §5). Unusable keys are skipped and named in `skipped`;
 * a `kid` published twice is dropped altogether, since selecting by it would be ambiguous.
 */
export function parseJwks(document: unknown, previous?: KeySet): KeySet | { error: string } {
  if (typeof document !== "object" || document === null || !Array.isArray((document as { keys?: unknown }).keys)) {
    return { error: "not a JWK Set: no `keys` array" };
  }
  const reuse = new Map<string, VerificationKey>();
  for (const key of previous?.keys.values() ?? []) reuse.set(key.fingerprint, key);

  const keys = new Map<string, VerificationKey>();
  const duplicates = new Set<string>();
  const skipped: string[] = [];
  for (const jwk of (document as { keys: unknown[] }).keys) {
    const result = importJwk(jwk, reuse);
    if (!result.ok) {
      skipped.push(result.error);
      continue;
    }
    if (keys.has(result.key.kid) || duplicates.has(result.key.kid)) {
      duplicates.add(result.key.kid);
      keys.delete(result.key.kid);
      skipped.push(`kid ${JSON.stringify(result.key.kid)}: published more than once`);
      continue;
    }
    keys.set(result.key.kid, result.key);
  }
  return { keys, skipped };
}
