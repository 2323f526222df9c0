import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from "node:crypto";

/**
 * User passwords (people choose them, so they can be guessed): scrypt, memory-hard (RFC 7914; docs/oauth-rules.md).
 * N=2^15, r=8, p=1 is OWASP's recommended minimum; stored self-describing so parameters can change later.
 */
const params = { N: 2 ** 15, r: 8, p: 1, keyLength: 32 } as const;
const maxmem = 64 * 1024 * 1024;

function derive(password: string, salt: Buffer, N: number, r: number, p: number, keyLength: number): Promise<Buffer> {
  const options: ScryptOptions = { N, r, p, maxmem };
  return new Promise((resolve, reject) =>
    scrypt(password.normalize("NFKC"), salt, keyLength, options, (error, key) =>
      error ? reject(error) : resolve(key),
    ),
  );
}

/** `scrypt$N$r$p$salt$hash` with base64url salt and hash. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, params.N, params.r, params.p, params.keyLength);
  return ["scrypt", params.N, params.r, params.p, salt.toString("base64url"), key.toString("base64url")].join("$");
}

/** Constant-time comparison of the derived key; a malformed stored hash never matches. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split("$");
  if (scheme !== "scrypt" || !n || !r || !p || !salt || !hash) return false;
  const expected = Buffer.from(hash, "base64url");
  const key = await derive(password, Buffer.from(salt, "base64url"), Number(n), Number(r), Number(p), expected.length);
  return key.length === expected.length && timingSafeEqual(key, expected);
}

let dummyHash: Promise<string> | undefined;

/**
 * Verifies a login. For an unknown user it still runs scrypt against a dummy hash, so the response time does not
 * reveal which usernames exist.
 */
export async function checkPassword(password: string, stored: string | undefined): Promise<boolean> {
  if (stored === undefined) {
    dummyHash ??= hashPassword(randomBytes(16).toString("hex"));
    await verifyPassword(password, await dummyHash);
    return false;
  }
  return verifyPassword(password, stored);
}

/** Password policy for `users create` / `set-password`: long enough to resist online guessing with throttling. */
export function checkPasswordPolicy(password: string): void {
  if (password.length < 8) throw new TypeError("password must be at least 8 characters");
  if (password.length > 1024) throw new TypeError("password must be at most 1024 characters");
}
