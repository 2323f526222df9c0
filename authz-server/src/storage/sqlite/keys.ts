import type { SigningAlgorithm } from "../../keys/algorithms.js";
import type { KeyStore, RevocationFeedStore, SigningKey } from "../types.js";
import { type Db, writeTransactional } from "./database.js";
import { signingKeyColumn, type Sealer } from "./key-encryption.js";
import type { Synchronous } from "./synchronous.js";

interface KeyRow {
  kid: string;
  alg: string;
  private_jwk: string;
  public_jwk: string;
  created_at: number;
  activate_at: number;
  kek_id: string | null;
}

export function sqliteKeyStore(db: Db, sealer: Sealer, feed: Synchronous<RevocationFeedStore>): Synchronous<KeyStore> {
  const insert = db.prepare(
    "INSERT INTO signing_keys (kid, alg, private_jwk, public_jwk, created_at, activate_at, kek_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
  );
  const all = db.prepare<[], KeyRow>("SELECT * FROM signing_keys ORDER BY activate_at, created_at, kid");
  const count = db.prepare<[], number>("SELECT count(*) FROM signing_keys").pluck();
  const remove = db.prepare("DELETE FROM signing_keys WHERE kid = ?");
  const version = db.prepare<[], number>("SELECT version FROM signing_keys_version WHERE id = 1").pluck();
  const put = (key: SigningKey) => {
    const sealed = sealer.seal(signingKeyColumn, key.kid, Buffer.from(key.privateJwk, "utf8"));
    insert.run(key.kid, key.alg, sealed.value, key.publicJwk, key.createdAt, key.activateAt, sealed.kekId);
  };
  // The private part is decrypted when read, not when listed: `keys list` shows the keys without the
  // key-encryption key, and only the key ring, which signs, needs it.
  const toKey = (row: KeyRow): SigningKey => ({
    kid: row.kid,
    alg: row.alg as SigningAlgorithm,
    get privateJwk() {
      return sealer.unseal(signingKeyColumn, row.kid, row.private_jwk, row.kek_id).toString("utf8");
    },
    publicJwk: row.public_jwk,
    createdAt: row.created_at,
    activateAt: row.activate_at,
  });
  const insertIfEmpty = writeTransactional(db, (key: SigningKey): boolean => {
    if ((count.get() ?? 0) > 0) return false;
    put(key);
    return true;
  });
  // The key leaves the JWKS and every token it signed is listed as revoked, together.
  const revoke = writeTransactional(db, (kid: string, now: number): boolean => {
    if (remove.run(kid).changes === 0) return false;
    feed.append([{ kind: "key", kid }], now);
    return true;
  });
  return {
    insert(key) {
      put(key);
    },
    list() {
      return all.all().map(toKey);
    },
    // IMMEDIATE takes the write lock before reading, so two processes starting on an empty database create one key.
    insertIfEmpty: (key) => insertIfEmpty(key),
    delete(kid) {
      remove.run(kid);
    },
    revoke: (kid, now) => revoke(kid, now),
    version() {
      return String(version.get() ?? 0);
    },
  };
}
