import type pg from "pg";
import { migrations } from "./migrations.js";

/**
 * The advisory-lock key of migrations (any constant shared by every authz-server process on a database): whichever
 * process starts first migrates while the others wait on the lock, then find nothing left to do.
 */
const MIGRATION_LOCK = 0x617574687a; // "authz"

/** PostgreSQL 15 is the oldest server the schema and the statements are tested on. */
const MINIMUM_SERVER_VERSION = 150000;

/**
 * Applies the pending migrations, each in its own transaction, under a session advisory lock, so two processes
 * starting at the same instant neither both migrate nor fail. A schema newer than this program refuses to start.
 */
export async function migrate(client: pg.PoolClient): Promise<{ from: number; to: number }> {
  await requireServerVersion(client);
  await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK]);
  try {
    await client.query(
      "CREATE TABLE IF NOT EXISTS schema_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)",
    );
    await client.query("INSERT INTO schema_version (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING");
    const current = await schemaVersion(client);
    const latest = migrations.at(-1)?.version ?? 0;
    if (current > latest) {
      throw new Error(
        `database schema version ${current} is newer than this program knows (${latest}); upgrade authz-server`,
      );
    }
    for (const migration of migrations) {
      if (migration.version <= current) continue;
      await client.query("BEGIN");
      try {
        await client.query(migration.sql);
        await client.query("UPDATE schema_version SET version = $1 WHERE id = 1", [migration.version]);
        await client.query("COMMIT");
      } catch (error: unknown) {
        await client.query("ROLLBACK");
        throw error;
      }
    }
    return { from: current, to: Math.max(current, latest) };
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK]);
  }
}

async function schemaVersion(client: pg.PoolClient): Promise<number> {
  const result = await client.query<{ version: number }>("SELECT version FROM schema_version WHERE id = 1");
  return result.rows[0]?.version ?? 0;
}

async function requireServerVersion(client: pg.PoolClient): Promise<void> {
  const result = await client.query<{ server_version_num: string }>("SHOW server_version_num");
  const version = Number(result.rows[0]?.server_version_num);
  if (!(version >= MINIMUM_SERVER_VERSION)) {
    throw new Error(`PostgreSQL 15 or newer is required (the server reports version number ${String(version)})`);
  }
}
