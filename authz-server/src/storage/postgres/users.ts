import { epochSeconds } from "../revocation-feed.js";
import { toUser, type UserRow } from "../rows.js";
import type { BrowserSessionStore, UserStore } from "../types.js";
import type { Sql } from "./connection.js";
import type { Db } from "./db.js";
import { appendIn } from "./revocation-feed.js";

const BY_NAME = "SELECT * FROM users WHERE username = $1";

/** Every access token issued to the user until now: one `user` feed entry covers them on every gateway. */
const announceIn = (tx: Sql, userId: string, now: number) =>
  appendIn(tx, [{ kind: "user", sub: userId, issuedBefore: epochSeconds(now) }], now);

/** A new password and "sign out everywhere" end the user's sessions and grants on every device; consents stay. */
async function signOutIn(tx: Sql, userId: string, now: number): Promise<void> {
  await tx.run("users_delete_sessions", "DELETE FROM browser_sessions WHERE user_id = $1", [userId]);
  await tx.run(
    "users_revoke_refresh",
    "UPDATE refresh_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
    [now, userId],
  );
  await announceIn(tx, userId, now);
}

export function postgresUserStore(db: Db): UserStore {
  const { sql } = db;
  const byName = async (username: string) => await sql.one<UserRow>("users_by_name", BY_NAME, [username]);
  return {
    async create(user) {
      await sql.run(
        "users_insert",
        "INSERT INTO users (id, username, password_hash, created_at) VALUES ($1, $2, $3, $4)",
        [user.id, user.username, user.passwordHash, user.createdAt],
      );
    },
    async findByUsername(username) {
      const row = await byName(username);
      return row && toUser(row);
    },
    async findById(id) {
      const row = await sql.one<UserRow>("users_by_id", "SELECT * FROM users WHERE id = $1", [id]);
      return row && toUser(row);
    },
    async list() {
      return (await sql.rows<UserRow>("users_all", 'SELECT * FROM users ORDER BY username COLLATE "C"')).map(toUser);
    },
    // A new password ends the user's browser sessions: a thief signed in with the old one is out at the next request.
    setPasswordHash: (username, passwordHash, now) =>
      db.atomically(async (tx) => {
        const row = await tx.one<UserRow>("users_by_name_for_update", `${BY_NAME} FOR UPDATE`, [username]);
        if (!row) return false;
        await tx.run("users_set_hash", "UPDATE users SET password_hash = $1 WHERE id = $2", [passwordHash, row.id]);
        await signOutIn(tx, row.id, now);
        return true;
      }),
    signOutEverywhere: (userId, now) => db.atomically((tx) => signOutIn(tx, userId, now)),
    delete: (username, now) =>
      db.atomically(async (tx) => {
        const row = await tx.one<UserRow>("users_by_name_for_update", `${BY_NAME} FOR UPDATE`, [username]);
        if (!row) return false;
        await tx.run("users_delete_codes", "DELETE FROM authorization_codes WHERE user_id = $1", [row.id]);
        await tx.run("users_delete_refresh", "DELETE FROM refresh_tokens WHERE user_id = $1", [row.id]);
        await tx.run("users_delete_consents", "DELETE FROM consents WHERE user_id = $1", [row.id]);
        await tx.run("users_delete_sessions", "DELETE FROM browser_sessions WHERE user_id = $1", [row.id]);
        await tx.run("users_delete", "DELETE FROM users WHERE id = $1", [row.id]);
        await announceIn(tx, row.id, now);
        return true;
      }),
  };
}

interface BrowserSessionRow {
  session_digest: string;
  user_id: string;
  created_at: number;
  expires_at: number;
  username: string;
}

/** `find` runs on every page request: one primary-key lookup joined to the user. */
export function postgresBrowserSessionStore(db: Db): BrowserSessionStore {
  const { sql } = db;
  return {
    // Sign-ins are rare next to page views: clearing expired rows there keeps the table small without a timer.
    create: (session) =>
      db.atomically(async (tx) => {
        await tx.run("sessions_delete_expired", "DELETE FROM browser_sessions WHERE expires_at <= $1", [
          session.createdAt,
        ]);
        await tx.run(
          "sessions_insert",
          "INSERT INTO browser_sessions (session_digest, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
          [session.sessionDigest, session.userId, session.createdAt, session.expiresAt],
        );
      }),
    async find(sessionDigest, now) {
      const row = await sql.one<BrowserSessionRow>(
        "sessions_find",
        `SELECT s.session_digest, s.user_id, s.created_at, s.expires_at, u.username
           FROM browser_sessions s JOIN users u ON u.id = s.user_id
          WHERE s.session_digest = $1 AND s.expires_at > $2`,
        [sessionDigest, now],
      );
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
    async delete(sessionDigest) {
      await sql.run("sessions_delete", "DELETE FROM browser_sessions WHERE session_digest = $1", [sessionDigest]);
    },
  };
}
