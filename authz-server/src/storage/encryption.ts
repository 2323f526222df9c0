import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createSecretKey,
  randomBytes,
  type KeyObject,
} from "node:crypto";
import { readFileSync } from "node:fs";

/**
 * Encryption at rest of what a copy of the database must not yield: the signing keys' private parts and the server
 * secrets (authz-server/README.md, "The database at rest"). AES-256-GCM from node:crypto under a key-encryption key (KEK) the
 * operator supplies; the database holds the ciphertext and the KEK's id, never the KEK.
 */

/** A value that cannot be sealed or unsealed with the key at hand: printed as one line, the process stops. */
export class KeyEncryptionError extends Error {
  override readonly name = "KeyEncryptionError";
}

/** NIST SP 800-38D §8.2.2: a random 96-bit IV per value; far fewer than 2^32 values are ever sealed under one key. */
const ivBytes = 12;
const tagBytes = 16;
const keyBytes = 32;

export const kekSources = "--kek-file, AUTHZ_KEK_FILE or AUTHZ_KEK";

export class KeyEncryptionKey {
  /** Names the key in the database and in messages; an HMAC of the key, so it reveals nothing about it. */
  readonly id: string;
  readonly #key: KeyObject;

  private constructor(key: Buffer) {
    this.#key = createSecretKey(key);
    this.id = createHmac("sha256", key).update("authz-server key-encryption key id").digest("hex").slice(0, 16);
  }

  /** 32 bytes written as 64 hex digits or as base64url (43 characters, e.g. `openssl rand -hex 32`); `source` names where it came from. */
  static parse(text: string, source: string): KeyEncryptionKey {
    const trimmed = text.trim();
    const bytes = /^[0-9a-fA-F]{64}$/.test(trimmed)
      ? Buffer.from(trimmed, "hex")
      : /^[A-Za-z0-9_-]{43}$/.test(trimmed)
        ? Buffer.from(trimmed, "base64url")
        : undefined;
    if (bytes?.length !== keyBytes) {
      throw new KeyEncryptionError(
        `${source}: a key-encryption key is 32 random bytes as 64 hex digits or 43 base64url characters`,
      );
    }
    return new KeyEncryptionKey(bytes);
  }

  static fromFile(path: string, source: string): KeyEncryptionKey {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (error: unknown) {
      throw new KeyEncryptionError(
        `${source}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? "error"})`,
      );
    }
    return KeyEncryptionKey.parse(text, source);
  }

  /**
   * IV || ciphertext || tag. `context` names the row and column the value belongs to and is authenticated with it
   * (GCM additional data), so a sealed value copied into another row or column does not unseal there.
   */
  seal(plaintext: Buffer, context: string): Buffer {
    const iv = randomBytes(ivBytes);
    const cipher = createCipheriv("aes-256-gcm", this.#key, iv, { authTagLength: tagBytes }).setAAD(
      Buffer.from(context, "utf8"),
    );
    return Buffer.concat([iv, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  }

  /** Throws KeyEncryptionError when the value was altered, truncated, or sealed for another `context`. */
  unseal(sealed: Buffer, context: string): Buffer {
    if (sealed.length < ivBytes + tagBytes)
      throw new KeyEncryptionError(`${context} could not be decrypted: the stored value is truncated`);
    const decipher = createDecipheriv("aes-256-gcm", this.#key, sealed.subarray(0, ivBytes), {
      authTagLength: tagBytes,
    })
      .setAAD(Buffer.from(context, "utf8"))
      .setAuthTag(sealed.subarray(sealed.length - tagBytes));
    try {
      return Buffer.concat([decipher.update(sealed.subarray(ivBytes, sealed.length - tagBytes)), decipher.final()]);
    } catch {
      throw new KeyEncryptionError(
        `${context} could not be decrypted: the stored value was altered or belongs to another row`,
      );
    }
  }
}

/**
 * The operator's key from the CLI flag or the environment: a file (`--kek-file`, AUTHZ_KEK_FILE) or the key itself
 * (AUTHZ_KEK); undefined when neither is set. Both at once is refused rather than one silently preferred.
 */
export function keyEncryptionKeyFrom(
  file: string | undefined,
  value: string | undefined,
): KeyEncryptionKey | undefined {
  if (file !== undefined && value !== undefined) {
    throw new KeyEncryptionError(
      "give the key-encryption key once: --kek-file (or AUTHZ_KEK_FILE) or AUTHZ_KEK, not both",
    );
  }
  if (file !== undefined) return KeyEncryptionKey.fromFile(file, "--kek-file");
  if (value !== undefined) return KeyEncryptionKey.parse(value, "AUTHZ_KEK");
  return undefined;
}
