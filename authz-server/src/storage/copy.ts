/**
 * Moving up from SQLite: the rows of a SQLite database copied into an empty PostgreSQL one, table by table, as they
 * are stored. Both engines keep the same schema (the migrations of equal number mean the same) and the same sealed
 * form of private keys and server secrets (postgres/key-encryption.ts), so a ciphertext, a digest or a password hash
 * moves byte for byte and the key-encryption key that opened it on SQLite opens it on PostgreSQL: no key is needed
 * to copy. See docs/moving-to-postgres.md.
 */
import Database from "better-sqlite3";
import type pg from "pg";
import type { KeyEncryptionKey } from "./encryption.js";
import type { SchemaMigration } from "./index.js";
import {
  type CheckedOutClient,
  checkOut,
  connectFailure,
  createPool,
  describeUrl,
  type PostgresOptions,
} from "./postgres/connection.js";
import { migrate } from "./postgres/migrate.js";
import { openSqliteStorage } from "./sqlite/index.js";

/** A table the copy carries, and which of its rows: `live` (SQLite, `:now` bound) keeps what is still in use. */
export interface CopiedTable {
  name: string;
  live?: string;
}

/**
 * Every table copied, in an order that keeps references ahead of what refers to them. Expiring rows are copied while
 * the server would still use them — exactly those purgeExpired keeps (sqlite/index.ts) — so a consumed code still
 * detects its replay, and a rotated or revoked refresh token still detects its reuse, after the move.
 */
export const copiedTables: readonly CopiedTable[] = [
  // The id of the key-encryption key the sealed values are under: the same key opens them on PostgreSQL.
  { name: "key_encryption" },
  { name: "signing_keys" },
  // The session-cookie key and the refresh-successor key: successors derived after the move are the ones derived before.
  { name: "server_secrets" },
  { name: "scopes" },
  { name: "clients" },
  { name: "users" },
  { name: "consents" },
  // A code issued just before the move is still redeemable after it (its lifetime is a minute at most by default).
  { name: "authorization_codes", live: "expires_at >= :now" },
  { name: "refresh_tokens", live: "absolute_expires_at >= :now AND idle_expires_at >= :now" },
  { name: "access_token_links", live: "expires_at >= :now" },
  { name: "revoked_access_tokens", live: "expires_at >= :now" },
  // Entries a gateway may still need (drop_after is in seconds): the target's feed lists what the source's did.
  { name: "revocation_feed_entries", live: "drop_after * 1000 >= :now" },
];

/** Tables deliberately left behind, and why (also what `copy-to-postgres` prints). */
export const skippedTables = {
  browser_sessions: "sessions are not copied: users sign in again",
  signing_keys_version: "maintained by the target's own triggers",
  table_versions: "maintained by the target's own triggers",
  revocation_feed:
    "the revocation feed's entries are copied under a new epoch: every gateway reads the whole feed again at its next poll",
} as const satisfies Record<string, string>;

/** Transient state skipped by name prefix: the login throttle's counts of recent failures start afresh. */
export const skippedPrefixes: readonly string[] = ["login_throttle"];

/** Whether the copy leaves `table` behind on purpose. */
export function isSkipped(table: string): boolean {
  return Object.hasOwn(skippedTables, table) || skippedPrefixes.some((prefix) => table.startsWith(prefix));
}

export interface CopyOptions {
  /** Opens (and checks) the source's sealed values, sealing any still in the clear; the copy itself needs no key. */
  keyEncryptionKey?: KeyEncryptionKey;
  postgres?: PostgresOptions;
  /** Rows that expired before this instant (ms since the epoch) are not copied. */
  now: number;
}

export interface CopyReport {
  /** The source's schema version found and the one it was migrated to before copying. */
  source: SchemaMigration;
  /** The id of the key-encryption key the copied private keys and secrets are sealed under; null: in the clear. */
  kekId: string | null;
  /** Rows copied, per table, in the order of copiedTables. */
  copied: Record<string, number>;
}

/** Refused because the target already holds data: copying into it would mix two databases. */
export class TargetNotEmptyError extends Error {
  override readonly name = "TargetNotEmptyError";
}

/** Most bound parameters in one INSERT: far below PostgreSQL's 65535, large enough that a row costs no round trip. */
const MAX_PARAMETERS = 10_000;

/**
 * Copies the SQLite database at `source` (an existing file) into the PostgreSQL database at `target`, migrated to the
 * current schema first, in one PostgreSQL transaction: it ends with every row copied or none.
 */
export async function copySqliteToPostgres(source: string, target: string, options: CopyOptions): Promise<CopyReport> {
  const schema = await migrateSource(source, options.keyEncryptionKey);
  const sqlite = new Database(source, { readonly: true, fileMustExist: true });
  try {
    // One read transaction: every table is read from the same snapshot, whatever writes the file meanwhile.
    sqlite.exec("BEGIN");
    const kekId = sqlite.prepare<[], string>("SELECT kek_id FROM key_encryption WHERE id = 1").pluck().get() ?? null;
    const copied = await intoPostgres(target, options.postgres ?? {}, async (client) => {
      const rows = await copyTables(sqlite, client, options.now);
      await continueFeed(sqlite, client);
      return rows;
    });
    return { source: schema, kekId, copied };
  } finally {
    sqlite.close();
  }
}

/** The source at the code's schema: an older one is migrated (openStorage's own migrations), a newer one refused. */
async function migrateSource(source: string, keyEncryptionKey: KeyEncryptionKey | undefined): Promise<SchemaMigration> {
  let schema: SchemaMigration = { from: 0, to: 0 };
  const storage = openSqliteStorage(source, {
    ...(keyEncryptionKey === undefined ? {} : { keyEncryptionKey }),
    migrated: (migrated) => (schema = migrated),
  });
  await storage.close();
  return schema;
}

/** `fn` in one transaction on the migrated, empty target: if anything fails, the target keeps no row of the copy. */
async function intoPostgres<T>(
  target: string,
  options: PostgresOptions,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const pool = createPool(target, { ...options, poolSize: 1 });
  try {
    let checkedOut: CheckedOutClient;
    try {
      checkedOut = await checkOut(pool);
    } catch (error: unknown) {
      throw connectFailure(target, error);
    }
    const { client } = checkedOut;
    try {
      await migrate(client);
      await client.query("BEGIN");
      try {
        // No other process writes to the tables while they are checked empty and filled.
        await client.query(`LOCK TABLE ${copiedTables.map((t) => t.name).join(", ")} IN EXCLUSIVE MODE`);
        await requireEmpty(client, target);
        const result = await fn(client);
        await client.query("COMMIT");
        return result;
      } catch (error: unknown) {
        await client.query("ROLLBACK").catch(() => {});
        throw error;
      }
    } finally {
      checkedOut.release();
    }
  } finally {
    await pool.end();
  }
}

/**
 * Any row in a copied table makes the target not empty — but for the record of a key-encryption key, which `init
 * --kek-file` writes into a database that holds nothing yet (replaced by the source's).
 */
async function requireEmpty(client: pg.PoolClient, target: string): Promise<void> {
  const holding: string[] = [];
  for (const { name } of copiedTables) {
    if (name === "key_encryption") continue;
    const result = await client.query<{ found: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${name}) AS found`);
    if (result.rows[0]?.found) holding.push(name);
  }
  if (holding.length > 0)
    throw new TargetNotEmptyError(
      `target database ${describeUrl(target)} is not empty (it holds ${holding.join(", ")}); copy into a new database`,
    );
  await client.query("DELETE FROM key_encryption");
}

async function copyTables(
  sqlite: Database.Database,
  client: pg.PoolClient,
  now: number,
): Promise<Record<string, number>> {
  const copied: Record<string, number> = {};
  for (const table of copiedTables) {
    try {
      copied[table.name] = await copyTable(sqlite, client, table, now);
    } catch (error: unknown) {
      // The transaction is rolled back (intoPostgres): say so, and which table stopped the copy.
      const reason = error instanceof Error ? error.message.split("\n")[0] : String(error);
      throw new Error(`copying table ${table.name} failed, nothing was copied: ${reason}`, { cause: error });
    }
  }
  return copied;
}

/**
 * The target's revocation feed carries on from the source's last position, under a new random epoch (the migration's
 * expression): a gateway's cursor names the source's epoch, so the target answers it with a full snapshot marked
 * `reset` instead of trusting positions it cannot vouch for (docs/revocation-feed.md).
 */
async function continueFeed(sqlite: Database.Database, client: pg.PoolClient): Promise<void> {
  const last = sqlite.prepare<[], number>("SELECT last FROM revocation_feed WHERE id = 1").pluck().get() ?? 0;
  await client.query(
    "UPDATE revocation_feed SET last = GREATEST(last, $1), epoch = replace(gen_random_uuid()::text, '-', '') WHERE id = 1",
    [last],
  );
}

/**
 * The rows of one table, every column the source has (the target's schema has the same), in the source's insertion
 * order (rowid): refresh_tokens' seq on PostgreSQL then orders a family's tokens as SQLite's rowid did.
 */
async function copyTable(
  sqlite: Database.Database,
  client: pg.PoolClient,
  table: CopiedTable,
  now: number,
): Promise<number> {
  const columns = sqlite
    .prepare<[], { name: string }>(`SELECT name FROM pragma_table_info('${table.name}') ORDER BY cid`)
    .all()
    .map((c) => c.name);
  const where = table.live === undefined ? "" : ` WHERE ${table.live}`;
  const select = sqlite.prepare(`SELECT ${columns.join(", ")} FROM ${table.name}${where} ORDER BY rowid`).raw();
  const rows = (table.live === undefined ? select.iterate() : select.iterate({ now })) as IterableIterator<unknown[]>;
  const perInsert = Math.max(1, Math.floor(MAX_PARAMETERS / columns.length));
  let count = 0;
  let batch: unknown[][] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    await client.query(insertStatement(table.name, columns, batch.length), batch.flat());
    count += batch.length;
    batch = [];
  };
  for (const row of rows) {
    batch.push(row);
    if (batch.length === perInsert) await flush();
  }
  await flush();
  return count;
}

/** `INSERT INTO table (columns) VALUES ($1, …), (…)` for `rows` rows. */
function insertStatement(table: string, columns: readonly string[], rows: number): string {
  const values = Array.from(
    { length: rows },
    (_, row) => `(${columns.map((_, column) => `$${row * columns.length + column + 1}`).join(", ")})`,
  );
  return `INSERT INTO ${table} (${columns.join(", ")}) VALUES ${values.join(", ")}`;
}
