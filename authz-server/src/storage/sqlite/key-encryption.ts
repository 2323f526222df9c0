import type { Statement } from "better-sqlite3";
import { KeyEncryptionError, kekSources, type KeyEncryptionKey } from "../encryption.js";
import type { KeyEncryptionStatus } from "../types.js";
import type { Db } from "./database.js";

/**
 * The columns sealed under the key-encryption key, and nothing else: every value of the secrets store and every
 * private signing key, whatever its name. `kek_id` beside each value names the key that sealed it (NULL: in the
 * clear), so rotation and error messages know which key a row needs. Migration 8 adds the columns.
 */
export interface SealedColumn {
  table: "signing_keys" | "server_secrets";
  rowKey: "kid" | "name";
  column: "private_jwk" | "value";
  /** What the column holds, for messages. */
  label: string;
  /** A TEXT column holds sealed bytes as base64url; a BLOB column holds them as they are. */
  text: boolean;
}

export const signingKeyColumn: SealedColumn = {
  table: "signing_keys",
  rowKey: "kid",
  column: "private_jwk",
  label: "signing key",
  text: true,
};
export const serverSecretColumn: SealedColumn = {
  table: "server_secrets",
  rowKey: "name",
  column: "value",
  label: "server secret",
  text: false,
};
const sealedColumns = [signingKeyColumn, serverSecretColumn] as const;

type Stored = string | Buffer;

interface SealedRow {
  id: string;
  value: Stored;
  kek_id: string | null;
}

/** Authenticated with the ciphertext (GCM additional data): the row and column a value was sealed for. */
const contextOf = (column: SealedColumn, id: string) => `${column.table}.${column.column}/${id}`;
const bytesOf = (column: SealedColumn, value: Stored) =>
  typeof value === "string" ? Buffer.from(value, column.text ? "base64url" : "utf8") : value;
const storedOf = (column: SealedColumn, bytes: Buffer): Stored => (column.text ? bytes.toString("base64url") : bytes);
const plainOf = (value: Stored) => (typeof value === "string" ? Buffer.from(value, "utf8") : value);

/**
 * Seals and unseals the values of the sealed columns for the stores, and keeps the database's record of the KEK
 * new values are sealed under (the single row of `key_encryption`). Opening with a KEK seals whatever is still in
 * the clear and checks every sealed value, so a wrong key or an altered row stops the process at start-up.
 */
export class Sealer {
  readonly #db: Db;
  readonly #kek: KeyEncryptionKey | undefined;
  readonly #recorded: Statement<[], string>;
  readonly #record: Statement<[string]>;

  constructor(db: Db, kek: KeyEncryptionKey | undefined) {
    this.#db = db;
    this.#kek = kek;
    this.#recorded = db.prepare<[], string>("SELECT kek_id FROM key_encryption WHERE id = 1").pluck();
    this.#record = db.prepare<[string]>(
      "INSERT INTO key_encryption (id, kek_id) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET kek_id = excluded.kek_id",
    );
    if (kek) this.#sealUnderSuppliedKey(kek);
  }

  /** The id of the KEK this database's values are sealed under; null while they are in the clear. */
  kekId(): string | null {
    return this.#recorded.get() ?? null;
  }

  /** The stored form of `plaintext` and the id of the KEK that sealed it (null: stored in the clear). */
  seal(column: SealedColumn, id: string, plaintext: Buffer): { value: Stored; kekId: string | null } {
    const recorded = this.kekId();
    if (recorded === null) return { value: column.text ? plaintext.toString("utf8") : plaintext, kekId: null };
    if (this.#kek?.id !== recorded) {
      // Stored in the clear (or under another key) beside values under the recorded key, it would escape rotation.
      throw new KeyEncryptionError(
        `storing a ${column.label} needs this database's key-encryption key ${recorded}${this.#kek ? `, not ${this.#kek.id}` : ""} (${kekSources})`,
      );
    }
    const kek = this.#kek;
    return { value: storedOf(column, kek.seal(plaintext, contextOf(column, id))), kekId: kek.id };
  }

  unseal(column: SealedColumn, id: string, value: Stored, kekId: string | null): Buffer {
    if (kekId === null) return plainOf(value);
    return this.#keyFor(kekId, `${column.label} ${id}`).unseal(bytesOf(column, value), contextOf(column, id));
  }

  status(): KeyEncryptionStatus {
    const count = (column: SealedColumn, sealed: boolean) =>
      this.#db
        .prepare<[], number>(`SELECT count(*) FROM ${column.table} WHERE kek_id IS ${sealed ? "NOT " : ""}NULL`)
        .pluck()
        .get() ?? 0;
    return {
      kekId: this.kekId(),
      sealed: { signingKeys: count(signingKeyColumn, true), serverSecrets: count(serverSecretColumn, true) },
      inTheClear: { signingKeys: count(signingKeyColumn, false), serverSecrets: count(serverSecretColumn, false) },
    };
  }

  /**
   * Re-seals every value under `next` and records it, in one transaction: a crash leaves all values under the old
   * key or all under the new one. The old key is the one this storage was opened with.
   */
  rotate(next: KeyEncryptionKey): KeyEncryptionStatus {
    const current = this.#kek;
    if (!current) throw new KeyEncryptionError(`rotating needs the current key-encryption key (${kekSources})`);
    this.#db.transaction(() => this.#resealAll(next)).immediate();
    this.#scrub();
    return this.status();
  }

  #sealUnderSuppliedKey(kek: KeyEncryptionKey): void {
    const sealedSomething = this.#db
      .transaction(() => {
        const recorded = this.kekId();
        if (recorded !== null && recorded !== kek.id) {
          throw new KeyEncryptionError(
            `this database's secrets are encrypted under key-encryption key ${recorded}, not the key supplied (${kek.id}); supply that key with ${kekSources}`,
          );
        }
        return this.#resealAll(kek);
      })
      .immediate();
    if (sealedSomething) this.#scrub();
  }

  /** Unseals each value (checking it) and stores it sealed under `kek` when it is not already; returns whether any changed. */
  #resealAll(kek: KeyEncryptionKey): boolean {
    let changed = false;
    for (const column of sealedColumns) {
      const rows = this.#db
        .prepare<[], SealedRow>(`SELECT ${column.rowKey} AS id, ${column.column} AS value, kek_id FROM ${column.table}`)
        .all();
      const update = this.#db.prepare(
        `UPDATE ${column.table} SET ${column.column} = ?, kek_id = ? WHERE ${column.rowKey} = ?`,
      );
      for (const row of rows) {
        const plaintext = this.#unsealWith(kek, column, row);
        if (row.kek_id === kek.id) continue;
        update.run(storedOf(column, kek.seal(plaintext, contextOf(column, row.id))), kek.id, row.id);
        changed = true;
      }
    }
    if (this.kekId() !== kek.id) {
      this.#record.run(kek.id);
      changed = true;
    }
    return changed;
  }

  /** During a rotation a row is under the current key, or under `next` if a previous attempt got that far. */
  #unsealWith(next: KeyEncryptionKey, column: SealedColumn, row: SealedRow): Buffer {
    if (row.kek_id === next.id) return next.unseal(bytesOf(column, row.value), contextOf(column, row.id));
    return this.unseal(column, row.id, row.value, row.kek_id);
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

  /**
   * The values just replaced must not survive elsewhere in the files: secure_delete (database.ts) zeroes freed
   * space, and a TRUNCATE checkpoint copies the new pages over the old ones and empties the -wal file. A reader
   * beside this process (a running server) can keep the checkpoint from completing; the next one completes it.
   */
  #scrub(): void {
    this.#db.pragma("wal_checkpoint(TRUNCATE)");
  }
}
