import type { BrowserSession, BrowserSessionStore } from "../types.js";
import { type Db, writeTransactional } from "./database.js";
import type { Synchronous } from "./synchronous.js";

interface BrowserSessionRow {
  session_digest: string;
  user_id: string;
  created_at: number;
  expires_at: number;
  username: string;
}

/**
 * Signed-in browser sessions (migration 6). `find` runs on every page request: one primary-key lookup joined to the
 * user, so a deleted user's session ends even if a row were left behind.
 */
export function sqliteBrowserSessionStore(db: Db): Synchronous<BrowserSessionStore> {
  const insert = db.prepare(
    "INSERT INTO browser_sessions (session_digest, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
  );
  const removeExpired = db.prepare("DELETE FROM browser_sessions WHERE expires_at <= ?");
  const select = db.prepare<[string, number], BrowserSessionRow>(
    `SELECT s.session_digest, s.user_id, s.created_at, s.expires_at, u.username
       FROM browser_sessions s JOIN users u ON u.id = s.user_id
      WHERE s.session_digest = ? AND s.expires_at > ?`,
  );
  const remove = db.prepare("DELETE FROM browser_sessions WHERE session_digest = ?");
  // Sign-ins are rare next to page views: clearing expired rows there keeps the table small without a timer.
  const create = writeTransactional(db, (session: BrowserSession) => {
    removeExpired.run(session.createdAt);
    insert.run(session.sessionDigest, session.userId, session.createdAt, session.expiresAt);
  });
  return {
    create(session) {
      create(session);
    },
    find(sessionDigest, now) {
      const row = select.get(sessionDigest, now);
      return (
        row && {
          sessionDigest: row.session_digest,
          userId: row.user_id,
          createdAt: row.created_at,
          expiresAt: row.expires_at,
          username: row.username,
        }
      );
    },
    delete(sessionDigest) {
      remove.run(sessionDigest);
    },
  };
}
