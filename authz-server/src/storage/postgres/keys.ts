import type { SigningAlgorithm } from "../../keys/algorithms.js";
import type { KeyStore, SecretStore, SigningKey } from "../types.js";
import type { Sql } from "./connection.js";
import type { Db } from "./db.js";
import { appendIn } from "./revocation-feed.js";
import { serverSecretColumn, signingKeyColumn, type PostgresSealer } from "./key-encryption.js";

interface KeyRow {
  kid: string;
  alg: string;
  private_jwk: string;
  public_jwk: string;
  created_at: number;
  activate_at: number;
  kek_id: string | null;
}

/** Serialises first-start key creation across processes: two nodes starting on an empty database create one key. */
const FIRST_KEY_LOCK = 0x6b657973; // "keys"

export function postgresKeyStore(db: Db, sealer: PostgresSealer): KeyStore {
  const put = async (sql: Sql, key: SigningKey) => {
    const sealed = await sealer.seal(sql, signingKeyColumn, key.kid, Buffer.from(key.privateJwk, "utf8"));
    await sql.run(
      "keys_insert",
      "INSERT INTO signing_keys (kid, alg, private_jwk, public_jwk, created_at, activate_at, kek_id) VALUES ($1, $2, $3, $4, $5, $6, $7)",
      [key.kid, key.alg, sealed.value, key.publicJwk, key.createdAt, key.activateAt, sealed.kekId],
    );
  };
  // The private part is decrypted when read, not when listed: `keys list` needs no key-encryption key.
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
  return {
    insert: (key) => put(db.sql, key),
    async list() {
      const rows = await db.sql.rows<KeyRow>(
        "keys_all",
        'SELECT * FROM signing_keys ORDER BY activate_at, created_at, kid COLLATE "C"',
      );
      return rows.map(toKey);
    },
    insertIfEmpty: (key) =>
      db.atomically(async (tx) => {
        await tx.rows("keys_first_lock", "SELECT pg_advisory_xact_lock($1)", [FIRST_KEY_LOCK]);
        const row = await tx.one<{ n: number }>("keys_count", "SELECT count(*)::bigint AS n FROM signing_keys");
        if ((row?.n ?? 0) > 0) return false;
        await put(tx, key);
        return true;
      }),
    async delete(kid) {
      await db.sql.run("keys_delete", "DELETE FROM signing_keys WHERE kid = $1", [kid]);
    },
    // The key leaves the JWKS and every token it signed is listed as revoked, together.
    revoke: (kid, now) =>
      db.atomically(async (tx) => {
        if ((await tx.run("keys_delete", "DELETE FROM signing_keys WHERE kid = $1", [kid])) === 0) return false;
        await appendIn(tx, [{ kind: "key", kid }], now);
        return true;
      }),
    async version() {
      const row = await db.sql.one<{ version: number }>(
        "keys_version",
        "SELECT version FROM signing_keys_version WHERE id = 1",
      );
      return String(row?.version ?? 0);
    },
  };
}

/** Every value goes through the sealer, so a secret added later is encrypted at rest like the session key. */
export function postgresSecretStore(db: Db, sealer: PostgresSealer): SecretStore {
  const read = async (name: string) => {
    const row = await db.sql.one<{ value: Buffer; kek_id: string | null }>(
      "secrets_find",
      "SELECT value, kek_id FROM server_secrets WHERE name = $1",
      [name],
    );
    return row && sealer.unseal(serverSecretColumn, name, row.value, row.kek_id);
  };
  return {
    async getOrCreate(name, create, now) {
      const existing = await read(name);
      if (existing) return existing;
      // ON CONFLICT DO NOTHING then re-read: if another process inserted first, its value is the one used.
      const sealed = await sealer.seal(db.sql, serverSecretColumn, name, Buffer.from(create()));
      await db.sql.run(
        "secrets_insert",
        "INSERT INTO server_secrets (name, value, created_at, kek_id) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING",
        [name, sealed.value, now, sealed.kekId],
      );
      const stored = await read(name);
      if (!stored) throw new Error(`server secret ${name} could not be stored`);
      return stored;
    },
  };
}
