import {
  countAppended,
  ENTRY_COLUMNS,
  entryValues,
  liveFrom,
  type RevocationEntryRow,
  toEntry,
} from "../revocation-feed.js";
import type { RevocationEntry, RevocationFeedStore } from "../types.js";
import type { Sql } from "./connection.js";
import type { Db } from "./db.js";

/** The PostgreSQL types of ENTRY_COLUMNS, for the arrays one INSERT unnests. */
const ENTRY_TYPES = ["text", "text", "bigint", "text", "text", "bigint", "text", "bigint"] as const;

/**
 * Appends `entries` in the transaction `tx` runs in. Their positions come from the counter row (migration 10):
 * `UPDATE … RETURNING` locks that row until the transaction ends, so a second revoking transaction, on any node, takes
 * its positions only once the first has committed or rolled back. Positions therefore commit in order — a reader that
 * sees position N sees every position below it — which a sequence would not give (a sequence hands out numbers at
 * once, and a later number may commit first). The lock is held from here to the commit: append last.
 */
export async function appendIn(tx: Sql, entries: readonly RevocationEntry[], now: number): Promise<void> {
  if (entries.length === 0) return;
  const counter = await tx.one<{ last: number }>(
    "feed_take_positions",
    "UPDATE revocation_feed SET last = last + $1 WHERE id = 1 RETURNING last",
    [entries.length],
  );
  if (counter === undefined) throw new Error("the revocation feed's counter row is missing (migration 10)");
  const first = counter.last - entries.length + 1;
  const columns: unknown[][] = [entries.map((_, index) => first + index)];
  for (const [index, entry] of entries.entries()) {
    for (const [column, value] of entryValues(entry, now).entries()) (columns[column + 1] ??= [])[index] = value;
  }
  const arrays = ["bigint", ...ENTRY_TYPES].map((type, index) => `$${index + 1}::${type}[]`).join(", ");
  await tx.run(
    "feed_insert",
    `INSERT INTO revocation_feed_entries (position, ${ENTRY_COLUMNS}) SELECT * FROM unnest(${arrays})`,
    columns,
  );
  countAppended(entries);
}

/** The revocation feed (docs/revocation-feed.md). */
export function postgresRevocationFeedStore(db: Db): RevocationFeedStore {
  const { sql } = db;
  return {
    append: (entries, now) => db.atomically((tx) => appendIn(tx, entries, now)),
    async page(after, limit, now) {
      // The head first, then the entries up to it: every position up to the head had committed when it was read
      // (appendIn), so the later statement sees all of them, and none beyond it is handed out before those below.
      const head = await sql.one<{ last: number; epoch: string }>(
        "feed_head",
        "SELECT last, epoch FROM revocation_feed WHERE id = 1",
      );
      if (head === undefined) throw new Error("the revocation feed's counter row is missing (migration 10)");
      const rows = await sql.rows<RevocationEntryRow>(
        "feed_page",
        `SELECT * FROM revocation_feed_entries WHERE position > $1 AND position <= $2 AND drop_after >= $3
         ORDER BY position LIMIT $4`,
        [after ?? 0, head.last, liveFrom(now), limit],
      );
      return { entries: rows.map(toEntry), newest: head.last, epoch: head.epoch };
    },
    async covers(token, now) {
      // One probe per way an entry can name a token, each on its own index.
      const row = await sql.one<{ covered: boolean }>(
        "feed_covers",
        `SELECT EXISTS (SELECT 1 FROM revocation_feed_entries WHERE jti = $1 AND kind = 'token' AND drop_after >= $6)
             OR EXISTS (SELECT 1 FROM revocation_feed_entries WHERE kid = $2 AND kind = 'key' AND drop_after >= $6)
             OR EXISTS (SELECT 1 FROM revocation_feed_entries WHERE sub = $3 AND kind IN ('user', 'user_client')
                          AND (client_id IS NULL OR client_id = $4) AND issued_before >= $5 AND drop_after >= $6)
             OR EXISTS (SELECT 1 FROM revocation_feed_entries WHERE client_id = $4 AND kind = 'client'
                          AND issued_before >= $5 AND drop_after >= $6) AS covered`,
        [token.jti, token.kid, token.sub, token.clientId, token.iat, liveFrom(now)],
      );
      return row?.covered === true;
    },
  };
}
