import type pg from "pg";
import type { KeyEncryptionKey } from "../encryption.js";
import type { Storage } from "../types.js";
import { postgresClientStore, postgresScopeStore, type ClientCache, type ScopeCache } from "./clients.js";
import {
  type CheckedOutClient,
  checkOut,
  connectFailure,
  createPool,
  sqlOn,
  unavailableOr,
  type PostgresOptions,
  type Sql,
} from "./connection.js";
import { TableVersion, type Db } from "./db.js";
import {
  postgresCodeStore,
  postgresConsentStore,
  postgresRefreshTokenStore,
  postgresRevocationStore,
} from "./grants.js";
import { PostgresSealer } from "./key-encryption.js";
import { postgresKeyStore, postgresSecretStore } from "./keys.js";
import { postgresLoginThrottleStore } from "./login-throttle.js";
import { migrate } from "./migrate.js";
import { postgresRevocationFeedStore } from "./revocation-feed.js";
import { liveFrom } from "../revocation-feed.js";
import { postgresBrowserSessionStore, postgresUserStore } from "./users.js";

export type { PostgresOptions } from "./connection.js";
export { postgresDefaults } from "./connection.js";

/** Held by the process purging the database (purgeExpired), for its transaction: "purge". */
const PURGE_LOCK = 0x7075726765;

/** Runs of a transaction that lost to a concurrent writer (deadlock, serialization failure), the last one included. */
const CONFLICT_ATTEMPTS = 3;

interface Shared {
  pool: pg.Pool;
  sealer: PostgresSealer;
  clients: ClientCache;
  scopes: ScopeCache;
}

/**
 * The PostgreSQL implementation of Storage: a node-postgres pool, named (prepared) statements, the schema migrated
 * once under an advisory lock. Clients, scopes and the key version are cached as on SQLite; transactions run on one
 * pooled client at READ COMMITTED, locking the code or refresh token being consumed (grants.ts).
 */
export async function openPostgresStorage(
  url: string,
  options: PostgresOptions & {
    keyEncryptionKey?: KeyEncryptionKey;
    migrated?: (schema: { from: number; to: number }) => void;
  } = {},
): Promise<Storage> {
  const pool = createPool(url, options);
  try {
    let checkedOut: CheckedOutClient;
    try {
      checkedOut = await checkOut(pool);
    } catch (error: unknown) {
      throw connectFailure(url, error);
    }
    try {
      // Migrated whether or not anyone listens: `migrated?.(await migrate(…))` would skip the migration without one.
      const schema = await migrate(checkedOut.client);
      options.migrated?.(schema);
    } finally {
      checkedOut.release();
    }
    const pooled = sqlOn(pool);
    const shared: Shared = {
      pool,
      sealer: new PostgresSealer(options.keyEncryptionKey),
      clients: { version: versionOf(pooled, "clients"), clients: new Map(), cachedVersion: -1 },
      scopes: { version: versionOf(pooled, "scopes") },
    };
    const storage = storageOn(shared, {
      sql: pooled,
      inTransaction: false,
      atomically: (fn) => inTransaction(pool, fn),
    });
    // With a key-encryption key, seals what is still in the clear and checks every sealed value.
    if (options.keyEncryptionKey) await inTransaction(pool, (tx) => shared.sealer.sealUnderSuppliedKey(tx));
    return storage;
  } catch (error: unknown) {
    await pool.end();
    throw error;
  }
}

function versionOf(sql: Sql, table: "clients" | "scopes"): TableVersion {
  return new TableVersion(async () => {
    const row = await sql.one<{ version: number }>(
      "table_version",
      "SELECT version FROM table_versions WHERE name = $1",
      [table],
    );
    return row?.version ?? 0;
  });
}

/** The stores over `db`: the pool for the storage itself, one client for a transaction's handle. */
function storageOn(shared: Shared, db: Db): Storage {
  const { sealer, pool } = shared;
  const storage: Storage = {
    clients: postgresClientStore(db, shared.clients),
    scopes: postgresScopeStore(db, shared.scopes),
    users: postgresUserStore(db),
    keys: postgresKeyStore(db, sealer),
    codes: postgresCodeStore(db),
    refreshTokens: postgresRefreshTokenStore(db),
    revocations: postgresRevocationStore(db),
    consents: postgresConsentStore(db),
    secrets: postgresSecretStore(db, sealer),
    browserSessions: postgresBrowserSessionStore(db),
    loginThrottle: postgresLoginThrottleStore(db),
    revocationFeed: postgresRevocationFeedStore(db),
    keyEncryption: {
      status: () => sealer.status(db.sql),
      rotate: async (next) => {
        await db.atomically((tx) => sealer.rotate(tx, next));
        return sealer.status(db.sql);
      },
    },
    transaction: (fn) =>
      db.inTransaction ? fn(storage) : transactionOn(pool, (client) => fn(storageOn(shared, client))),
    // One purge at a time per database: a process that finds the lock taken skips this round rather than queue behind
    // the other's deletes, which would find nothing left to delete (the lock ends with the transaction).
    purgeExpired: (now) =>
      db.atomically(async (tx) => {
        const lock = await tx.one<{ locked: boolean }>("purge_lock", "SELECT pg_try_advisory_xact_lock($1) AS locked", [
          PURGE_LOCK,
        ]);
        if (lock?.locked !== true) return { skipped: true as const };
        return {
          skipped: false as const,
          codes: await tx.run("purge_codes", "DELETE FROM authorization_codes WHERE expires_at < $1", [now]),
          // A refresh token is kept while it could still be presented (to detect reuse) and until its absolute expiry.
          refreshTokens: await tx.run(
            "purge_refresh",
            "DELETE FROM refresh_tokens WHERE absolute_expires_at < $1 OR idle_expires_at < $1",
            [now],
          ),
          revokedJtis: await tx.run("purge_revoked", "DELETE FROM revoked_access_tokens WHERE expires_at < $1", [now]),
          accessTokenLinks: await tx.run("purge_links", "DELETE FROM access_token_links WHERE expires_at < $1", [now]),
          // Accounts before pairs, the order in which an attempt locks them (login-throttle.ts), so neither waits crosswise.
          loginThrottle:
            (await tx.run(
              "purge_throttle_accounts",
              "DELETE FROM login_throttle_accounts WHERE next_attempt_at <= $1",
              [now],
            )) +
            (await tx.run("purge_throttle_failures", "DELETE FROM login_throttle_failures WHERE expires_at <= $1", [
              now,
            ])),
          // An entry goes once no gateway can still accept a token it covers (drop_after, whole seconds).
          revocationEntries: await tx.run(
            "purge_revocation_entries",
            "DELETE FROM revocation_feed_entries WHERE drop_after < $1",
            [liveFrom(now)],
          ),
        };
      }),
    connections: () => ({
      engine: "postgres",
      total: pool.totalCount,
      idle: pool.idleCount,
      waiting: pool.waitingCount,
    }),
    close: async () => {
      if (db.inTransaction) throw new Error("a transaction's handle cannot close the storage");
      await pool.end();
    },
  };
  return storage;
}

/** `fn` on a transaction's Sql (the stores' multi-statement writes). */
function inTransaction<T>(pool: pg.Pool, fn: (tx: Sql) => Promise<T>): Promise<T> {
  return transactionOn(pool, (db) => fn(db.sql));
}

/**
 * One transaction on one pooled client at READ COMMITTED, all-or-nothing. Lost to a concurrent writer (a deadlock or
 * a serialization failure: SQLSTATE 40P01, 40001), it is rolled back whole and run again, so `fn` must not act
 * outside the storage; still losing after CONFLICT_ATTEMPTS it ends as StorageUnavailableError (503).
 */
async function transactionOn<T>(pool: pg.Pool, fn: (db: Db) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    let checkedOut: CheckedOutClient;
    try {
      checkedOut = await checkOut(pool);
    } catch (error: unknown) {
      throw unavailableOr(error);
    }
    const { client } = checkedOut;
    const sql = sqlOn(client);
    const db: Db = { sql, inTransaction: true, atomically: (inner) => inner(sql) };
    let broken: unknown;
    try {
      await sql.run("begin", "BEGIN ISOLATION LEVEL READ COMMITTED");
      const result = await fn(db);
      await sql.run("commit", "COMMIT");
      return result;
    } catch (error: unknown) {
      await client.query("ROLLBACK").catch((rollbackError: unknown) => {
        broken = rollbackError;
      });
      if (attempt >= CONFLICT_ATTEMPTS || !isConflict(error)) throw error;
    } finally {
      // A client whose rollback failed, or whose connection was lost, is in an unknown state: not reused.
      checkedOut.release(broken);
    }
  }
}

function isConflict(error: unknown): boolean {
  const code = (error as { cause?: { code?: unknown } }).cause?.code;
  return code === "40001" || code === "40P01";
}
