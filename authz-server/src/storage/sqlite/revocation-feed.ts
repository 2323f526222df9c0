import {
  countAppended,
  ENTRY_COLUMNS,
  entryValues,
  liveFrom,
  type RevocationEntryRow,
  toEntry,
} from "../revocation-feed.js";
import type { RevocationEntry, RevocationFeedStore } from "../types.js";
import { type Db, writeTransactional } from "./database.js";
import type { Synchronous } from "./synchronous.js";

/**
 * The revocation feed (migration 10; docs/revocation-feed.md). SQLite has one writer at a time, so positions taken
 * from the counter row in a write transaction commit in order by construction; the counter is still what hands them
 * out, as on PostgreSQL, so that a copy of the database carries on from the same numbers.
 */
export function sqliteRevocationFeedStore(db: Db): Synchronous<RevocationFeedStore> {
  const next = db.prepare<[], number>("UPDATE revocation_feed SET last = last + 1 WHERE id = 1 RETURNING last").pluck();
  const insert = db.prepare(
    `INSERT INTO revocation_feed_entries (position, ${ENTRY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const head = db.prepare<[], { last: number; epoch: string }>("SELECT last, epoch FROM revocation_feed WHERE id = 1");
  const entries = db.prepare<[number, number, number, number], RevocationEntryRow>(
    `SELECT * FROM revocation_feed_entries WHERE position > ? AND position <= ? AND drop_after >= ?
     ORDER BY position LIMIT ?`,
  );
  // One probe per way an entry can name a token, each on its own index.
  const covering = db
    .prepare<{ jti: string; kid: string; sub: string; client: string; iat: number; live: number }, number>(
      `SELECT EXISTS (SELECT 1 FROM revocation_feed_entries WHERE jti = @jti AND kind = 'token' AND drop_after >= @live)
           OR EXISTS (SELECT 1 FROM revocation_feed_entries WHERE kid = @kid AND kind = 'key' AND drop_after >= @live)
           OR EXISTS (SELECT 1 FROM revocation_feed_entries WHERE sub = @sub AND kind IN ('user', 'user_client')
                        AND (client_id IS NULL OR client_id = @client) AND issued_before >= @iat AND drop_after >= @live)
           OR EXISTS (SELECT 1 FROM revocation_feed_entries WHERE client_id = @client AND kind = 'client'
                        AND issued_before >= @iat AND drop_after >= @live)`,
    )
    .pluck();
  const append = writeTransactional(db, (appended: readonly RevocationEntry[], now: number): void => {
    for (const entry of appended) insert.run(next.get(), ...entryValues(entry, now));
    countAppended(appended);
  });
  // One read transaction: the head and the entries from the same snapshot, whatever another process commits between.
  const page = db.transaction((after: number | null, limit: number, now: number) => {
    const counter = head.get();
    if (counter === undefined) throw new Error("the revocation feed's counter row is missing (migration 10)");
    const { last, epoch } = counter;
    const rows = entries.all(after ?? 0, last, liveFrom(now), limit);
    return { entries: rows.map(toEntry), newest: last, epoch };
  });
  return {
    append(appended, now) {
      if (appended.length > 0) append(appended, now);
    },
    page: (after, limit, now) => page.deferred(after, limit, now),
    covers(token, now) {
      const found = covering.get({
        jti: token.jti,
        kid: token.kid,
        sub: token.sub,
        client: token.clientId,
        iat: token.iat,
        live: liveFrom(now),
      });
      return found === 1;
    },
  };
}
