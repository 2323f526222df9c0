// Encryption at rest in the SQLite storage: every value of the secrets store and every private signing key is sealed
// with AES-256-GCM under the key-encryption key, bound to its row, whatever the secret's name (a secret added by a
// later feature needs no code of its own to be protected).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import { KeyEncryptionKey } from "../../../authz-server/src/storage/encryption.ts";
import { openSqliteStorage } from "../../../authz-server/src/storage/sqlite/index.ts";
import { tempDir } from "../helpers.ts";

const t0 = Date.UTC(2030, 0, 1);
const newKek = () => KeyEncryptionKey.parse(randomBytes(32).toString("hex"), "test");

describe("KeyEncryptionKey", () => {
  it("accepts 32 bytes as 64 hex digits or 43 base64url characters, and nothing else", () => {
    const bytes = randomBytes(32);
    assert.equal(
      KeyEncryptionKey.parse(bytes.toString("hex"), "k").id,
      KeyEncryptionKey.parse(`${bytes.toString("base64url")}\n`, "k").id,
    );
    assert.match(KeyEncryptionKey.parse(bytes.toString("hex"), "k").id, /^[0-9a-f]{16}$/);
    for (const wrong of [randomBytes(31).toString("hex"), randomBytes(16).toString("base64url"), "", "z".repeat(64)]) {
      assert.throws(() => KeyEncryptionKey.parse(wrong, "--kek-file"), {
        name: "KeyEncryptionError",
        message: "--kek-file: a key-encryption key is 32 random bytes as 64 hex digits or 43 base64url characters",
      });
    }
  });

  it("seals with a fresh IV each time and unseals only for the same context, unaltered", () => {
    const kek = newKek();
    const plaintext = Buffer.from("a private key");
    const sealed = kek.seal(plaintext, "signing_keys.private_jwk/a");
    assert.equal(sealed.length, 12 + plaintext.length + 16);
    assert.notDeepEqual(kek.seal(plaintext, "signing_keys.private_jwk/a"), sealed);
    assert.deepEqual(kek.unseal(sealed, "signing_keys.private_jwk/a"), plaintext);
    const refused = (context: string) => ({
      message: `${context} could not be decrypted: the stored value was altered or belongs to another row`,
    });
    assert.throws(() => kek.unseal(sealed, "signing_keys.private_jwk/b"), refused("signing_keys.private_jwk/b"));
    const altered = Buffer.from(sealed);
    altered[12] ^= 1;
    assert.throws(() => kek.unseal(altered, "signing_keys.private_jwk/a"), refused("signing_keys.private_jwk/a"));
    assert.throws(() => newKek().unseal(sealed, "signing_keys.private_jwk/a"), refused("signing_keys.private_jwk/a"));
    assert.throws(() => kek.unseal(sealed.subarray(0, 20), "x"), {
      message: "x could not be decrypted: the stored value is truncated",
    });
  });
});

describe("SQLite storage under a key-encryption key", () => {
  const temp = tempDir();
  after(() => temp.remove());

  it("seals every value of the secrets store, whatever its name, and needs the key to read it back", async () => {
    const path = join(temp.dir, "secrets.db");
    const kek = newKek();
    const value = randomBytes(32);
    const storage = openSqliteStorage(path, { keyEncryptionKey: kek });
    try {
      assert.deepEqual(await storage.secrets.getOrCreate("a-secret-added-later", () => value, t0), value);
    } finally {
      await storage.close();
    }
    const raw = new Database(path, { readonly: true });
    const row = raw.prepare<[], { value: Buffer; kek_id: string }>("SELECT value, kek_id FROM server_secrets").get();
    raw.close();
    assert.equal(row?.kek_id, kek.id);
    assert.equal(row.value.length, 12 + 32 + 16);
    assert.equal(row.value.includes(value), false);

    const again = openSqliteStorage(path, { keyEncryptionKey: kek });
    assert.deepEqual(await again.secrets.getOrCreate("a-secret-added-later", () => randomBytes(32), t0), value);
    await again.close();
    const withoutKey = openSqliteStorage(path);
    try {
      await assert.rejects(
        withoutKey.secrets.getOrCreate("a-secret-added-later", () => randomBytes(32), t0),
        {
          name: "KeyEncryptionError",
          message: `server secret a-secret-added-later is encrypted at rest under key-encryption key ${kek.id}; supply that key with --kek-file, AUTHZ_KEK_FILE or AUTHZ_KEK`,
        },
      );
      await assert.rejects(
        withoutKey.secrets.getOrCreate("another", () => randomBytes(32), t0),
        {
          message: `storing a server secret needs this database's key-encryption key ${kek.id} (--kek-file, AUTHZ_KEK_FILE or AUTHZ_KEK)`,
        },
      );
    } finally {
      await withoutKey.close();
    }
  });

  it("opening with a key seals what was in the clear; rotating re-seals it all under the next key", async () => {
    const path = join(temp.dir, "rotate.db");
    const plain = openSqliteStorage(path);
    const privateJwk = JSON.stringify({ kty: "OKP", crv: "Ed25519", x: "x", d: "private" });
    await plain.keys.insert({ kid: "k1", alg: "EdDSA", privateJwk, publicJwk: "{}", createdAt: t0, activateAt: t0 });
    const secret = await plain.secrets.getOrCreate("session-key", () => randomBytes(32), t0);
    assert.deepEqual(await plain.keyEncryption.status(), {
      kekId: null,
      sealed: { signingKeys: 0, serverSecrets: 0 },
      inTheClear: { signingKeys: 1, serverSecrets: 1 },
    });
    await plain.close();

    const first = newKek();
    const next = newKek();
    const sealed = openSqliteStorage(path, { keyEncryptionKey: first });
    assert.deepEqual(await sealed.keyEncryption.status(), {
      kekId: first.id,
      sealed: { signingKeys: 1, serverSecrets: 1 },
      inTheClear: { signingKeys: 0, serverSecrets: 0 },
    });
    assert.deepEqual((await sealed.keyEncryption.rotate(next)).kekId, next.id);
    await sealed.close();

    assert.throws(() => openSqliteStorage(path, { keyEncryptionKey: first }), {
      message: `this database's secrets are encrypted under key-encryption key ${next.id}, not the key supplied (${first.id}); supply that key with --kek-file, AUTHZ_KEK_FILE or AUTHZ_KEK`,
    });
    const rotated = openSqliteStorage(path, { keyEncryptionKey: next });
    try {
      assert.equal((await rotated.keys.list())[0]?.privateJwk, privateJwk);
      assert.deepEqual(await rotated.secrets.getOrCreate("session-key", () => randomBytes(32), t0), secret);
      // Listing needs no key: only reading the private part does.
      const withoutKey = openSqliteStorage(path);
      const listed = await withoutKey.keys.list();
      await withoutKey.close();
      assert.deepEqual(
        listed.map((key) => key.kid),
        ["k1"],
      );
      assert.throws(() => listed[0]?.privateJwk, {
        message: new RegExp(`^signing key k1 is encrypted at rest under key-encryption key ${next.id};`),
      });
    } finally {
      await rotated.close();
    }
  });
});
