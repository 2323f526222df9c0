import { chmodSync, closeSync, fchmodSync, mkdirSync, openSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import Database from "better-sqlite3";
import { migrations } from "./migrations.js";
import { StorageUnavailableError } from "../errors.js";

export type Db = Database.Database;

/**
 * Opens (creating if needed) the database file in WAL mode, so the server and a CLI run beside it
 * (e.g. `keys rotate`) read and write concurrently, and applies pending numbered migrations.
 */
export function openDatabase(path: string, options: OpenOptions = {}): Db {
  if (path !== ":memory:") createPrivately(path, options.warn ?? warnOnStderr);
  const db = new Database(path);
  // Deleted rows (an expired signing key, a value replaced by its encrypted form) are overwritten, not left in free pages.
  db.pragma("secure_delete = ON");
  db.pragma("journal_mode = WAL");
  // A CLI write and a server write may meet; wait instead of failing with SQLITE_BUSY.
  db.pragma("busy_timeout = 5000");
  db.pragma("foreign_keys = ON");
  // NORMAL is durable across application crashes in WAL mode; only an OS crash can lose the last commits.
  db.pragma("synchronous = NORMAL");
  const schema = migrate(db);
  options.migrated?.(schema);
  return db;
}

export interface OpenOptions {
  /** Receives each warning about the files (default: one line on stderr); the server passes its logger. */
  warn?: (message: string) => void;
  /** Told the schema version found (0: a new file) and the one reached. */
  migrated?: (schema: { from: number; to: number }) => void;
}

const warnOnStderr = (message: string) => process.stderr.write(`authz-server: warning: ${message}\n`);

/**
 * The database holds the private signing keys and the server secrets, so it is created readable by its owner only:
 * the file 0600 whatever the umask (SQLite gives its -wal and -shm files the database file's mode), a folder this
 * creates 0700. An existing folder or file is the operator's: never changed, only warned about if others may read it.
 */
function createPrivately(path: string, warn: (message: string) => void): void {
  const folder = dirname(resolve(path));
  const firstCreated = mkdirSync(folder, { recursive: true, mode: 0o700 });
  if (firstCreated === undefined) warnIfShared(folder, "folder", "700", warn);
  else
    for (let created = folder; ; created = dirname(created)) {
      chmodSync(created, 0o700); // the mode given to mkdir is masked by the umask
      if (created === firstCreated) break;
    }
  let fd: number;
  try {
    fd = openSync(path, "wx", 0o600);
  } catch (error: unknown) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    warnIfShared(path, "database file", "600", warn);
    return;
  }
  try {
    fchmodSync(fd, 0o600);
  } finally {
    closeSync(fd);
  }
}

function warnIfShared(path: string, what: string, privateMode: string, warn: (message: string) => void): void {
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) === 0) return;
  const shown = mode.toString(8).padStart(4, "0");
  warn(
    `${what} ${path} is accessible to other users (mode ${shown}); the database holds the signing keys and server secrets: chmod ${privateMode} it`,
  );
}

function migrate(db: Db): { from: number; to: number } {
  const current = Number(db.pragma("user_version", { simple: true }));
  const latest = migrations.at(-1)?.version ?? 0;
  if (current > latest) {
    throw new Error(
      `database schema version ${current} is newer than this program knows (${latest}); upgrade authz-server`,
    );
  }
  for (const migration of migrations) {
    if (migration.version <= current) continue;
    // IMMEDIATE: two processes starting at once must not both apply the same migration.
    db.transaction(() => {
      const now = Number(db.pragma("user_version", { simple: true }));
      if (now >= migration.version) return;
      db.exec(migration.sql);
      db.pragma(`user_version = ${migration.version}`);
    }).immediate();
  }
  return { from: current, to: Math.max(current, latest) };
}

/** Runs of a write transaction that found the database locked past busy_timeout, the last one included. */
const BUSY_ATTEMPTS = 3;

/**
 * `fn` as a write transaction, prepared once: what the stores use for their multi-statement writes. It runs
 * all-or-nothing, beside writers in other processes on the same file.
 *
 * `BEGIN IMMEDIATE` takes the write lock before the first read. A deferred transaction that reads and then writes
 * takes it only at its first write, and in WAL mode, if another process committed meanwhile, SQLite fails that write
 * at once with SQLITE_BUSY_SNAPSHOT, busy_timeout or not: two `serve` processes refreshing one token answered 500.
 * Waiting for the lock is busy_timeout's job; a transaction that still gets SQLITE_BUSY (another writer held the lock
 * longer) was rolled back whole and is run again, up to BUSY_ATTEMPTS times, so `fn` must not act outside the
 * database. Nested in another transaction, `fn` joins it (a savepoint) and the outermost one does the retrying.
 * A transaction still locked out after the last attempt throws StorageUnavailableError.
 */
export function writeTransactional<A extends unknown[], T>(db: Db, fn: (...args: A) => T): (...args: A) => T {
  const transaction = db.transaction(fn);
  return (...args) => {
    if (db.inTransaction) return transaction.immediate(...args);
    for (let attempt = 1; ; attempt++) {
      try {
        return transaction.immediate(...args);
      } catch (error: unknown) {
        if (!isBusy(error)) throw error;
        if (attempt >= BUSY_ATTEMPTS)
          throw new StorageUnavailableError("the database stayed locked by another writer", { cause: error });
      }
    }
  };
}

/**
 * The asynchronous form of writeTransactional, for Storage.transaction: `BEGIN IMMEDIATE`, the awaited `fn`, `COMMIT`,
 * with the same retries (the whole `fn` is run again after SQLITE_BUSY, up to BUSY_ATTEMPTS times) and a `ROLLBACK`
 * when `fn` rejects. better-sqlite3 cannot hold its own transaction across an await, hence the explicit statements;
 * the caller holds the storage's gate (gate.ts) throughout, so no other request's statement joins the transaction.
 */
export async function writeTransactionAsync<T>(db: Db, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      db.exec("BEGIN IMMEDIATE");
      const result = await fn();
      db.exec("COMMIT");
      return result;
    } catch (error: unknown) {
      if (db.inTransaction) db.exec("ROLLBACK");
      if (!isBusy(error)) throw error;
      if (attempt >= BUSY_ATTEMPTS)
        throw new StorageUnavailableError("the database stayed locked by another writer", { cause: error });
    }
  }
}

/** SQLITE_BUSY and its extended codes (SQLITE_BUSY_SNAPSHOT, SQLITE_BUSY_RECOVERY, SQLITE_BUSY_TIMEOUT). */
function isBusy(error: unknown): boolean {
  return error instanceof Database.SqliteError && error.code.startsWith("SQLITE_BUSY");
}
