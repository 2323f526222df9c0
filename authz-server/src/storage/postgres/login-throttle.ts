import { fromFailureList } from "../sqlite/login-throttle.js";
import type { LoginThrottleStore } from "../types.js";
import type { Db } from "./db.js";

/**
 * The login throttle's state (migration 9), as on SQLite (storage/sqlite/login-throttle.ts). At READ COMMITTED a
 * `SELECT … FOR UPDATE` of a row that does not exist yet locks nothing, and two first attempts would both count from
 * zero: `lock` first inserts an empty row (`ON CONFLICT DO NOTHING` waits for a concurrent insert of the same key to
 * commit), then locks the row, so concurrent attempts on one account, from any process, take turns. `save` deletes
 * what stayed empty.
 */
export function postgresLoginThrottleStore(db: Db): LoginThrottleStore {
  return {
    lock: (pairDigest, accountDigest) =>
      db.atomically(async (tx) => {
        // Account first, then pair, in every transaction: two attempts never wait on each other's locks crosswise.
        await tx.run(
          "throttle_account_ensure",
          "INSERT INTO login_throttle_accounts (account_digest, next_attempt_at) VALUES ($1, 0) ON CONFLICT DO NOTHING",
          [accountDigest],
        );
        const account = await tx.one<{ next_attempt_at: number }>(
          "throttle_account_lock",
          "SELECT next_attempt_at FROM login_throttle_accounts WHERE account_digest = $1 FOR UPDATE",
          [accountDigest],
        );
        await tx.run(
          "throttle_failures_ensure",
          "INSERT INTO login_throttle_failures (pair_digest, failed_at, expires_at) VALUES ($1, '[]', 0) ON CONFLICT DO NOTHING",
          [pairDigest],
        );
        const failures = await tx.one<{ failed_at: string }>(
          "throttle_failures_lock",
          "SELECT failed_at FROM login_throttle_failures WHERE pair_digest = $1 FOR UPDATE",
          [pairDigest],
        );
        const next = account?.next_attempt_at ?? 0;
        return {
          failures: failures === undefined ? [] : fromFailureList(failures.failed_at),
          // 0 is the empty row just inserted: no schedule.
          accountNextAttemptAt: next === 0 ? null : next,
        };
      }),
    save: (pairDigest, accountDigest, record, failuresExpireAt) =>
      db.atomically(async (tx) => {
        if (record.accountNextAttemptAt === null)
          await tx.run("throttle_account_delete", "DELETE FROM login_throttle_accounts WHERE account_digest = $1", [
            accountDigest,
          ]);
        else
          await tx.run(
            "throttle_account_save",
            `INSERT INTO login_throttle_accounts (account_digest, next_attempt_at) VALUES ($1, $2)
             ON CONFLICT (account_digest) DO UPDATE SET next_attempt_at = excluded.next_attempt_at`,
            [accountDigest, record.accountNextAttemptAt],
          );
        if (record.failures.length === 0)
          await tx.run("throttle_failures_delete", "DELETE FROM login_throttle_failures WHERE pair_digest = $1", [
            pairDigest,
          ]);
        else
          await tx.run(
            "throttle_failures_save",
            `INSERT INTO login_throttle_failures (pair_digest, failed_at, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (pair_digest) DO UPDATE SET failed_at = excluded.failed_at, expires_at = excluded.expires_at`,
            [pairDigest, JSON.stringify(record.failures), failuresExpireAt],
          );
      }),
  };
}
