import type { LoginThrottleRecord, LoginThrottleStore } from "../types.js";
import { type Db, writeTransactional } from "./database.js";
import type { Synchronous } from "./synchronous.js";

/** Reads the failure times this module and its PostgreSQL twin store: a JSON array of numbers, oldest first. */
export function fromFailureList(text: string): number[] {
  const value: unknown = JSON.parse(text);
  if (!Array.isArray(value) || !value.every((item): item is number => Number.isSafeInteger(item))) {
    throw new Error("corrupt login-throttle row in database");
  }
  return value;
}

/**
 * The login throttle's state (migration 9). No row lock is needed: the throttle calls `lock` and `save` inside
 * `transaction`, whose IMMEDIATE transaction already holds the database's one write lock from BEGIN to COMMIT.
 */
export function sqliteLoginThrottleStore(db: Db): Synchronous<LoginThrottleStore> {
  const selectFailures = db.prepare<[string], { failed_at: string }>(
    "SELECT failed_at FROM login_throttle_failures WHERE pair_digest = ?",
  );
  const selectAccount = db.prepare<[string], { next_attempt_at: number }>(
    "SELECT next_attempt_at FROM login_throttle_accounts WHERE account_digest = ?",
  );
  const upsertFailures = db.prepare(
    `INSERT INTO login_throttle_failures (pair_digest, failed_at, expires_at) VALUES (?, ?, ?)
     ON CONFLICT (pair_digest) DO UPDATE SET failed_at = excluded.failed_at, expires_at = excluded.expires_at`,
  );
  const deleteFailures = db.prepare("DELETE FROM login_throttle_failures WHERE pair_digest = ?");
  const upsertAccount = db.prepare(
    `INSERT INTO login_throttle_accounts (account_digest, next_attempt_at) VALUES (?, ?)
     ON CONFLICT (account_digest) DO UPDATE SET next_attempt_at = excluded.next_attempt_at`,
  );
  const deleteAccount = db.prepare("DELETE FROM login_throttle_accounts WHERE account_digest = ?");
  const save = writeTransactional(
    db,
    (pairDigest: string, accountDigest: string, record: LoginThrottleRecord, failuresExpireAt: number) => {
      if (record.failures.length === 0) deleteFailures.run(pairDigest);
      else upsertFailures.run(pairDigest, JSON.stringify(record.failures), failuresExpireAt);
      if (record.accountNextAttemptAt === null) deleteAccount.run(accountDigest);
      else upsertAccount.run(accountDigest, record.accountNextAttemptAt);
    },
  );
  return {
    lock(pairDigest, accountDigest): LoginThrottleRecord {
      const failures = selectFailures.get(pairDigest);
      return {
        failures: failures === undefined ? [] : fromFailureList(failures.failed_at),
        accountNextAttemptAt: selectAccount.get(accountDigest)?.next_attempt_at ?? null,
      };
    },
    save,
  };
}
