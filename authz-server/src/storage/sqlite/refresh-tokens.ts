import { REFRESH_COLUMNS, type RefreshRow, refreshValues, toRefreshToken } from "../rows.js";
import type { RefreshTokenStore } from "../types.js";
import type { Db } from "./database.js";
import type { Synchronous } from "./synchronous.js";

export function sqliteRefreshTokenStore(db: Db): Synchronous<RefreshTokenStore> {
  const insert = db.prepare(
    `INSERT INTO refresh_tokens (${REFRESH_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const select = db.prepare<[string], RefreshRow>("SELECT * FROM refresh_tokens WHERE token_digest = ?");
  const rotate = db.prepare("UPDATE refresh_tokens SET rotated_at = ? WHERE token_digest = ? AND rotated_at IS NULL");
  const family = db.prepare<[string], RefreshRow>(
    "SELECT * FROM refresh_tokens WHERE family_id = ? ORDER BY created_at, rowid",
  );
  return {
    create(token) {
      insert.run(...refreshValues(token));
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
