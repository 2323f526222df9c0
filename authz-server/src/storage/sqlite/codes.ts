import type { AuthorizationCode, CodeStore } from "../types.js";
import type { Db } from "./database.js";
import { fromJsonList, toJsonList } from "./json.js";
import type { Synchronous } from "./synchronous.js";

interface CodeRow {
  code_digest: string;
  client_id: string;
  user_id: string;
  redirect_uri: string;
  /** Nullable columns (an early schema), but every code is written with its S256 challenge. */
  code_challenge: string;
  code_challenge_method: "S256";
  scope: string;
  resources: string;
  created_at: number;
  expires_at: number;
  consumed_at: number | null;
}

const toCode = (row: CodeRow): AuthorizationCode => ({
  codeDigest: row.code_digest,
  clientId: row.client_id,
  userId: row.user_id,
  redirectUri: row.redirect_uri,
  codeChallenge: row.code_challenge,
  codeChallengeMethod: row.code_challenge_method,
  scope: row.scope,
  resources: fromJsonList(row.resources),
  createdAt: row.created_at,
  expiresAt: row.expires_at,
  consumedAt: row.consumed_at,
});

export function sqliteCodeStore(db: Db): Synchronous<CodeStore> {
  const insert = db.prepare(
    `INSERT INTO authorization_codes (code_digest, client_id, user_id, redirect_uri, code_challenge, code_challenge_method,
       scope, resources, created_at, expires_at, consumed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const select = db.prepare<[string], CodeRow>("SELECT * FROM authorization_codes WHERE code_digest = ?");
  const consume = db.prepare(
    "UPDATE authorization_codes SET consumed_at = ? WHERE code_digest = ? AND consumed_at IS NULL",
  );
  return {
    create(code) {
      insert.run(
        code.codeDigest,
        code.clientId,
        code.userId,
        code.redirectUri,
        code.codeChallenge,
        code.codeChallengeMethod,
        code.scope,
        toJsonList(code.resources),
        code.createdAt,
        code.expiresAt,
        code.consumedAt,
      );
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
