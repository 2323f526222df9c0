import { KeyEncryptionError, kekSources, type KeyEncryptionKey } from "../encryption.js";
import { serverSecretColumn, signingKeyColumn, type SealedColumn } from "../sqlite/key-encryption.js";
import type { KeyEncryptionStatus } from "../types.js";
import type { Sql } from "./connection.js";

export { serverSecretColumn, signingKeyColumn, type SealedColumn };

type Stored = string | Buffer;

interface SealedRow {
  id: string;
  value: Stored;
  kek_id: string | null;
}

/**
 * The same sealed form as on SQLite (storage/sqlite/key-encryption.ts): AES-256-GCM under the operator's key, the row
 * and column authenticated as additional data, a TEXT column holding base64url and a BYTEA column the bytes.
 */
const contextOf = (column: SealedColumn, id: string) => `${column.table}.${column.column}/${id}`;
const bytesOf = (column: SealedColumn, value: Stored) =>
  typeof value === "string" ? Buffer.from(value, column.text ? "base64url" : "utf8") : value;
const storedOf = (column: SealedColumn, bytes: Buffer): Stored => (column.text ? bytes.toString("base64url") : bytes);
const plainOf = (value: Stored) => (typeof value === "string" ? Buffer.from(value, "utf8") : value);

const sealedColumns = [signingKeyColumn, serverSecretColumn] as const;

/** Serialises re-sealing (start-up with a key, rotation) across the processes on one database. */
const KEY_ENCRYPTION_LOCK = 0x6b656b; // "kek"

/** Seals and unseals the sealed columns, and keeps the record of the key new values are sealed under. */
export class PostgresSealer {
  readonly #kek: KeyEncryptionKey | undefined;

  constructor(kek: KeyEncryptionKey | undefined) {
    this.#kek = kek;
  }

  async kekId(sql: Sql): Promise<string | null> {
    const rows = await sql.rows<{ kek_id: string }>("kek_recorded", "SELECT kek_id FROM key_encryption WHERE id = 1");
    return rows[0]?.kek_id ?? null;
  }

  async seal(
    sql: Sql,
    column: SealedColumn,
    id: string,
    plaintext: Buffer,
  ): Promise<{ value: Stored; kekId: string | null }> {
    const recorded = await this.kekId(sql);
    if (recorded === null) return { value: column.text ? plaintext.toString("utf8") : plaintext, kekId: null };
    if (this.#kek?.id !== recorded) {
      throw new KeyEncryptionError(
        `storing a ${column.label} needs this database's key-encryption key ${recorded}${this.#kek ? `, not ${this.#kek.id}` : ""} (${kekSources})`,
      );
    }
    return { value: storedOf(column, this.#kek.seal(plaintext, contextOf(column, id))), kekId: this.#kek.id };
  }

  unseal(column: SealedColumn, id: string, value: Stored, kekId: string | null): Buffer {
    if (kekId === null) return plainOf(value);
    return this.#keyFor(kekId, `${column.label} ${id}`).unseal(bytesOf(column, value), contextOf(column, id));
  }

  async status(sql: Sql): Promise<KeyEncryptionStatus> {
    const counts = await sql.rows<{ sk: number; ss: number; ck: number; cs: number }>(
      "kek_status",
      `SELECT (SELECT count(*) FROM signing_keys WHERE kek_id IS NOT NULL)::bigint AS sk,
              (SELECT count(*) FROM server_secrets WHERE kek_id IS NOT NULL)::bigint AS ss,
              (SELECT count(*) FROM signing_keys WHERE kek_id IS NULL)::bigint AS ck,
              (SELECT count(*) FROM server_secrets WHERE kek_id IS NULL)::bigint AS cs`,
    );
    const row = counts[0] ?? { sk: 0, ss: 0, ck: 0, cs: 0 };
    return {
      kekId: await this.kekId(sql),
      sealed: { signingKeys: row.sk, serverSecrets: row.ss },
      inTheClear: { signingKeys: row.ck, serverSecrets: row.cs },
    };
  }

  /** With a key supplied at open: seals what is still in the clear and checks every sealed value (tx: a transaction). */
  async sealUnderSuppliedKey(tx: Sql): Promise<void> {
    const kek = this.#kek;
    if (!kek) return;
    await tx.rows("kek_lock", "SELECT pg_advisory_xact_lock($1)", [KEY_ENCRYPTION_LOCK]);
    const recorded = await this.kekId(tx);
    if (recorded !== null && recorded !== kek.id) {
      throw new KeyEncryptionError(
        `this database's secrets are encrypted under key-encryption key ${recorded}, not the key supplied (${kek.id}); supply that key with ${kekSources}`,
      );
    }
    await this.#resealAll(tx, kek);
  }

  /** Re-seals every value under `next` and records it, in the transaction `tx`: all under the old key or all under the new. */
  async rotate(tx: Sql, next: KeyEncryptionKey): Promise<void> {
    if (!this.#kek) throw new KeyEncryptionError(`rotating needs the current key-encryption key (${kekSources})`);
    await tx.rows("kek_lock", "SELECT pg_advisory_xact_lock($1)", [KEY_ENCRYPTION_LOCK]);
    await this.#resealAll(tx, next);
  }

  async #resealAll(tx: Sql, kek: KeyEncryptionKey): Promise<void> {
    for (const column of sealedColumns) {
      const rows = await tx.rows<SealedRow>(
        `kek_rows_${column.table}`,
        `SELECT ${column.rowKey} AS id, ${column.column} AS value, kek_id FROM ${column.table} FOR UPDATE`,
      );
      for (const row of rows) {
        const plaintext =
          row.kek_id === kek.id
            ? kek.unseal(bytesOf(column, row.value), contextOf(column, row.id))
            : this.unseal(column, row.id, row.value, row.kek_id);
        if (row.kek_id === kek.id) continue;
        await tx.run(
          `kek_update_${column.table}`,
          `UPDATE ${column.table} SET ${column.column} = $1, kek_id = $2 WHERE ${column.rowKey} = $3`,
          [storedOf(column, kek.seal(plaintext, contextOf(column, row.id))), kek.id, row.id],
        );
      }
    }
    await tx.run(
      "kek_record",
      "INSERT INTO key_encryption (id, kek_id) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET kek_id = excluded.kek_id",
      [kek.id],
    );
  }

  #keyFor(kekId: string, what: string): KeyEncryptionKey {
    if (!this.#kek) {
      throw new KeyEncryptionError(
        `${what} is encrypted at rest under key-encryption key ${kekId}; supply that key with ${kekSources}`,
      );
    }
    if (this.#kek.id !== kekId) {
      throw new KeyEncryptionError(
        `${what} is encrypted under key-encryption key ${kekId}, not the key supplied (${this.#kek.id}); supply that key with ${kekSources}`,
      );
    }
    return this.#kek;
  }
}
