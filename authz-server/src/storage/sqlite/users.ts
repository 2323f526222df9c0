import type { User, UserStore } from "../types.js";
import { type Db, writeTransactional } from "./database.js";
import type { Synchronous } from "./synchronous.js";

interface UserRow {
  id: string;
  username: string;
  password_hash: string;
  created_at: number;
}

const toUser = (row: UserRow): User => ({
  id: row.id,
  username: row.username,
  passwordHash: row.password_hash,
  createdAt: row.created_at,
});

export function sqliteUserStore(db: Db): Synchronous<UserStore> {
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
  const deleteAll = writeTransactional(db, (username: string): boolean => {
    const row = byName.get(username);
    if (!row) return false;
    removeCodes.run(row.id);
    removeRefresh.run(row.id);
    removeConsents.run(row.id);
    removeSessions.run(row.id);
    remove.run(row.id);
    return true;
  });
  const changePassword = writeTransactional(db, (username: string, passwordHash: string): boolean => {
    const row = byName.get(username);
    if (!row) return false;
    setHash.run(passwordHash, username);
    removeSessions.run(row.id);
    return true;
  });
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
    setPasswordHash(username, passwordHash) {
      return changePassword(username, passwordHash);
    },
    delete(username) {
      return deleteAll(username);
    },
  };
}
