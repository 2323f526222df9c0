import type { Db } from "./database.js";

/** Tables whose rows the server keeps in memory (read on every token request, written only by the CLI). */
export type VersionedTable = "clients" | "scopes";

/**
 * How long an in-memory copy is used before the table's version row is read again (ms). A change made by another
 * process (the CLI beside a running server, e.g. `clients delete`) is therefore seen within this time; a change made
 * through this process's own store is seen at once.
 */
export const RECHECK_INTERVAL_MS = 1000;

/**
 * The change detector of one table: the `table_versions` row that triggers bump on every insert, update and delete
 * (migration 4), the same mechanism as the signing keys' `signing_keys_version`. `current()` reads it at most once
 * per RECHECK_INTERVAL_MS, so a cached read costs no SQL statement; `invalidate()` forces the next read.
 */
export class TableVersion {
  readonly #select: () => number;
  readonly #now: () => number;
  #version = -1;
  #checkedAt = Number.NEGATIVE_INFINITY;

  constructor(db: Db, table: VersionedTable, now: () => number = () => performance.now()) {
    const statement = db.prepare<[string], number>("SELECT version FROM table_versions WHERE name = ?").pluck();
    this.#select = () => statement.get(table) ?? 0;
    this.#now = now;
  }

  /** The table's version as last read; re-read when RECHECK_INTERVAL_MS has passed or after invalidate(). */
  current(): number {
    const now = this.#now();
    if (now - this.#checkedAt >= RECHECK_INTERVAL_MS || now < this.#checkedAt) {
      this.#version = this.#select();
      this.#checkedAt = now;
    }
    return this.#version;
  }

  /** After a write through this process: the next current() reads the row the trigger has bumped. */
  invalidate(): void {
    this.#checkedAt = Number.NEGATIVE_INFINITY;
  }
}
