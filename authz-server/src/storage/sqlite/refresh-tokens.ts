import { type RefreshRow, toJsonList, toRefreshToken } from "../rows.js";
import type { RefreshTokenStore } from "../types.js";
import type { Db } from "./database.js";
import type { Synchronous } from "./synchronous.js";

export function sqliteRefreshTokenStore(db: Db): Synchronous<RefreshTokenStore> {
  const insert = db.prepare(
    `INSERT INTO refresh_tokens (token_digest, family_id, parent_digest, code_digest, client_id, user_id, scope, resources,
       created_at, rotated_at, idle_expires_at, absolute_expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const select = db.prepare<[string], RefreshRow>("SELECT * FROM refresh_tokens WHERE token_digest = ?");
  const rotate = db.prepare("UPDATE refresh_tokens SET rotated_at = ? WHERE token_digest = ? AND rotated_at IS NULL");
  const family = db.prepare<[string], RefreshRow>(
    "SELECT * FROM refresh_tokens WHERE family_id = ? ORDER BY created_at, rowid",
  );
  return {
    create(token) {
      insert.run(
        token.tokenDigest,
        token.familyId,
        token.parentDigest,
        token.codeDigest,
        token.clientId,
        token.userId,
        token.scope,
        toJsonList(token.resources),
        token.createdAt,
        token.rotatedAt,
        token.idleExpiresAt,
        token.absoluteExpiresAt,
        token.revokedAt,
      );
    },
    find(tokenDigest) {
      const row = select.get(tokenDigest);
      return row && toRefreshToken(row);
    },
    markRotated(tokenDigest, now) {
      return rotate.run(now, tokenDigest).changes === 1;
    },
    family(familyId) {
      return family.all(familyId).map(toRefreshToken);
    },
  };
}
