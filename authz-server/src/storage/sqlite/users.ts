import { epochSeconds } from "../revocation-feed.js";
import { toUser, type UserRow } from "../rows.js";
import type { RevocationFeedStore, UserStore } from "../types.js";
import { type Db, writeTransactional } from "./database.js";
import type { Synchronous } from "./synchronous.js";

export function sqliteUserStore(db: Db, feed: Synchronous<RevocationFeedStore>): Synchronous<UserStore> {
  const insert = db.prepare("INSERT INTO users (id, username, password_hash, created_at) VALUES (?, ?, ?, ?)");
  const byName = db.prepare<[string], UserRow>("SELECT * FROM users WHERE username = ?");
  const byId = db.prepare<[string], UserRow>("SELECT * FROM users WHERE id = ?");
  const all = db.prepare<[], UserRow>("SELECT * FROM users ORDER BY username");
  const setHash = db.prepare("UPDATE users SET password_hash = ? WHERE username = ?");
  // Both a new password and a deleted account end the user's browser sessions (migration 6): a thief signed in with
  // the old password is out at their next request, on every server process sharing the database.
  const removeSessions = db.prepare("DELETE FROM browser_sessions WHERE user_id = ?");
  const remove = db.prepare("DELETE FROM users WHERE id = ?");
  const removeCodes = db.prepare("DELETE FROM authorization_codes WHERE user_id = ?");
  const removeRefresh = db.prepare("DELETE FROM refresh_tokens WHERE user_id = ?");
  const removeConsents = db.prepare("DELETE FROM consents WHERE user_id = ?");
  const revokeRefresh = db.prepare("UPDATE refresh_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL");
  // Every access token issued to the user until now: one `user` feed entry covers them on every gateway.
  const announce = (userId: string, now: number) =>
    feed.append([{ kind: "user", sub: userId, issuedBefore: epochSeconds(now) }], now);
  // A new password and "sign out everywhere" end the user's sessions and grants on every device; consents stay.
  const signOut = (userId: string, now: number) => {
    removeSessions.run(userId);
    revokeRefresh.run(now, userId);
    announce(userId, now);
  };
  const deleteAll = writeTransactional(db, (username: string, now: number): boolean => {
    const row = byName.get(username);
    if (!row) return false;
    removeCodes.run(row.id);
    removeRefresh.run(row.id);
    removeConsents.run(row.id);
    removeSessions.run(row.id);
    remove.run(row.id);
    announce(row.id, now);
    return true;
  });
  const changePassword = writeTransactional(db, (username: string, passwordHash: string, now: number): boolean => {
    const row = byName.get(username);
    if (!row) return false;
    setHash.run(passwordHash, username);
    signOut(row.id, now);
    return true;
  });
  const signOutEverywhere = writeTransactional(db, signOut);
  return {
    create(user) {
      insert.run(user.id, user.username, user.passwordHash, user.createdAt);
    },
    findByUsername(username) {
      const row = byName.get(username);
      return row && toUser(row);
    },
    findById(id) {
      const row = byId.get(id);
      return row && toUser(row);
    },
    list() {
      return all.all().map(toUser);
    },
    setPasswordHash(username, passwordHash, now) {
      return changePassword(username, passwordHash, now);
    },
    delete(username, now) {
      return deleteAll(username, now);
    },
    signOutEverywhere(userId, now) {
      signOutEverywhere(userId, now);
    },
  };
}
