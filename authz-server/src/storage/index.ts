/**
 * The one switch between storage engines: `--db` / `AUTHZ_DB` is a file path (SQLite, embedded) or a
 * `postgres://` / `postgresql://` URL (PostgreSQL). Callers open storage here and depend on types.ts only.
 */
import type { KeyEncryptionKey } from "./encryption.js";
import { openPostgresStorage, type PostgresOptions } from "./postgres/index.js";
import { openSqliteStorage } from "./sqlite/index.js";
import type { Storage } from "./types.js";

export interface StorageOptions {
  /** Receives each warning about the database (default: one line on stderr); the server passes its logger. */
  warn?: (message: string) => void;
  /** Seals private signing keys and server secrets at rest (storage/encryption.ts). */
  keyEncryptionKey?: KeyEncryptionKey;
  /** The connection pool's size and timeouts, for a PostgreSQL URL (storage/postgres/connection.ts). */
  postgres?: PostgresOptions;
  /** Told the schema version found and the one reached once the schema is current (`init` says whether it created it). */
  migrated?: (schema: SchemaMigration) => void;
}

/** The schema version a database had when opened (0: empty) and the one it was migrated to. */
export interface SchemaMigration {
  from: number;
  to: number;
}

/** Whether `db` names a PostgreSQL server rather than a SQLite file (the URL schemes libpq accepts). */
export function isPostgresUrl(db: string): boolean {
  return /^postgres(?:ql)?:\/\//i.test(db);
}

/** Opens the storage `db` names, migrated to the current schema; rejects with one clear line when it cannot. */
export async function openStorage(db: string, options: StorageOptions = {}): Promise<Storage> {
  if (isPostgresUrl(db))
    return openPostgresStorage(db, {
      ...options.postgres,
      keyEncryptionKey: options.keyEncryptionKey,
      ...(options.migrated === undefined ? {} : { migrated: options.migrated }),
    });
  return Promise.resolve(openSqliteStorage(db, options));
}
