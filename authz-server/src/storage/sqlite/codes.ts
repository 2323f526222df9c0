import { CODE_COLUMNS, type CodeRow, codeValues, toCode } from "../rows.js";
import type { CodeStore } from "../types.js";
import type { Db } from "./database.js";
import type { Synchronous } from "./synchronous.js";

export function sqliteCodeStore(db: Db): Synchronous<CodeStore> {
  const insert = db.prepare(
    `INSERT INTO authorization_codes (${CODE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const select = db.prepare<[string], CodeRow>("SELECT * FROM authorization_codes WHERE code_digest = ?");
  const consume = db.prepare(
    "UPDATE authorization_codes SET consumed_at = ? WHERE code_digest = ? AND consumed_at IS NULL",
  );
  return {
    create(code) {
      insert.run(...codeValues(code));
    },
    find(codeDigest) {
      const row = select.get(codeDigest);
      return row && toCode(row);
    },
    // A conditional UPDATE is atomic: of two concurrent redemptions exactly one sees changes === 1.
    consume(codeDigest, now) {
      return consume.run(now, codeDigest).changes === 1;
    },
  };
}
