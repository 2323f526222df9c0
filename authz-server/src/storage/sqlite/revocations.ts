import type { RevocationStore } from "../types.js";
import { type Db, writeTransactional } from "./database.js";
import type { Synchronous } from "./synchronous.js";

export function sqliteRevocationStore(db: Db): Synchronous<RevocationStore> {
  const link = db.prepare(
    "INSERT OR REPLACE INTO access_token_links (jti, client_id, user_id, family_id, code_digest, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
  );
  // OR IGNORE: revoking twice keeps the first revocation time (RFC 7009 §2.2: revocation is idempotent).
  const revokeJti = db.prepare(
    "INSERT OR IGNORE INTO revoked_access_tokens (jti, revoked_at, expires_at) VALUES (?, ?, ?)",
  );
  const isRevoked = db.prepare<[string], number>("SELECT 1 FROM revoked_access_tokens WHERE jti = ?").pluck();
  const revokeFamilyTokens = db.prepare(
    "UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL",
  );
  const revokeFamilyJtis = db.prepare(
    `INSERT OR IGNORE INTO revoked_access_tokens (jti, revoked_at, expires_at)
     SELECT jti, ?, expires_at FROM access_token_links WHERE family_id = ?`,
  );
  const revokeCodeJtis = db.prepare(
    `INSERT OR IGNORE INTO revoked_access_tokens (jti, revoked_at, expires_at)
     SELECT jti, ?, expires_at FROM access_token_links WHERE code_digest = ?`,
  );
  const revokeUserClientJtis = db.prepare(
    `INSERT OR IGNORE INTO revoked_access_tokens (jti, revoked_at, expires_at)
     SELECT jti, ?, expires_at FROM access_token_links WHERE user_id = ? AND client_id = ?`,
  );
  const familiesOfCode = db
    .prepare<[string], string>("SELECT DISTINCT family_id FROM refresh_tokens WHERE code_digest = ?")
    .pluck();
  const familiesOfGrant = db
    .prepare<[string, string], string>(
      "SELECT DISTINCT family_id FROM refresh_tokens WHERE user_id = ? AND client_id = ?",
    )
    .pluck();

  const revokeFamily = writeTransactional(db, (familyId: string, now: number): number => {
    revokeFamilyJtis.run(now, familyId);
    return revokeFamilyTokens.run(now, familyId).changes;
  });
  const revokeCodeGrant = writeTransactional(db, (codeDigest: string, now: number): void => {
    revokeCodeJtis.run(now, codeDigest);
    for (const familyId of familiesOfCode.all(codeDigest)) revokeFamily(familyId, now);
  });
  const revokeUserClient = writeTransactional(db, (userId: string, clientId: string, now: number): number => {
    let revoked = 0;
    for (const familyId of familiesOfGrant.all(userId, clientId)) revoked += revokeFamily(familyId, now);
    revokeUserClientJtis.run(now, userId, clientId);
    return revoked;
  });

  return {
    linkAccessToken(token) {
      link.run(token.jti, token.clientId, token.userId, token.familyId, token.codeDigest, token.expiresAt);
    },
    revokeAccessToken(jti, expiresAt, now) {
      revokeJti.run(jti, now, expiresAt);
    },
    isAccessTokenRevoked(jti) {
      return isRevoked.get(jti) !== undefined;
    },
    revokeFamily: (familyId, now) => revokeFamily(familyId, now),
    revokeCodeGrant: (codeDigest, now) => revokeCodeGrant(codeDigest, now),
    revokeUserClientGrants: (userId, clientId, now) => revokeUserClient(userId, clientId, now),
  };
}
