import Database from "better-sqlite3";
import pg from "pg";

/**
 * The database did not answer in time (SQLite: another process held the write lock through every retry). Nothing was
 * written; the same request may succeed a moment later, so it is answered 503 with `Retry-After`, not 500 (errors.ts).
 */
export class StorageUnavailableError extends Error {
  /** Seconds a client should wait before retrying. */
  readonly retryAfterSeconds: number;

  constructor(message: string, options: { cause?: unknown; retryAfterSeconds?: number } = {}) {
    super(message, { cause: options.cause });
    this.name = "StorageUnavailableError";
    this.retryAfterSeconds = options.retryAfterSeconds ?? 1;
  }
}

/** Whether `error` came from the database: one that did not answer (503), or a statement it refused (500). */
export function isStorageError(error: unknown): boolean {
  return (
    error instanceof StorageUnavailableError ||
    error instanceof Database.SqliteError ||
    error instanceof pg.DatabaseError
  );
}
