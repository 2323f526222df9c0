import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/** A server-generated secret or token: 256 bits from the CSPRNG, base64url (RFC 6749 §10.10, RFC 9700 §4.14.2). */
export function generateSecret(): string {
  return randomBytes(32).toString("base64url");
}

/**
 * A server-generated identifier (client_id, user id, family id), never chosen by a person: 135 random bits as 23
 * base64url characters. The first byte's top bit is cleared, so the first character is a letter (A-Z or a-f): ids are
 * typed as command-line arguments, where one starting with `-` would read as an option.
 */
export function generateId(): string {
  const bytes = randomBytes(17);
  bytes[0] &= 0x7f;
  return bytes.toString("base64url");
}

/**
 * SHA-256, hex. Enough for 256-bit random secrets, codes and refresh tokens (docs/oauth-rules.md, "Digests at rest"): nobody can guess
 * the preimage, and a slow KDF would only cap the token endpoint's throughput.
 */
export function digest(value: string): string {
  return createHash("sha256").update(value, "utf8").digest("hex");
}

/** Compares a presented secret with a stored digest in constant time (both sides are 32-byte digests). */
export function matchesDigest(presented: string, storedDigest: string): boolean {
  // The raw digest, not digest()'s hex text decoded again: this runs on every authenticated token request.
  const a = createHash("sha256").update(presented, "utf8").digest();
  const b = Buffer.from(storedDigest, "hex");
  return a.length === b.length && timingSafeEqual(a, b);
}
