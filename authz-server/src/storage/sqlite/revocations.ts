import { tokenEntries } from "../revocation-feed.js";
import type { RevocationFeedStore, RevocationStore } from "../types.js";
import { type Db, writeTransactional } from "./database.js";
import type { Synchronous } from "./synchronous.js";

/** An access token newly recorded as revoked: its feed entry needs its `exp`. */
interface RevokedJti {
  jti: string;
  expires_at: number;
}

/** What revoking a grant revoked: refresh tokens (counted) and linked access tokens newly revoked. */
export interface GrantRevocation {
  refreshTokens: number;
  accessTokens: RevokedJti[];
}

/** Revokes grants without appending to the feed: each caller appends the entries that cover what it revoked. */
export type SqliteGrantRevoker = ReturnType<typeof sqliteGrantRevoker>;

export function sqliteGrantRevoker(db: Db) {
  // OR IGNORE … RETURNING: only the jtis not revoked before come back, so a second revocation appends nothing.
  const revokeLinked = (where: string) =>
    db.prepare<unknown[], RevokedJti>(
      `INSERT OR IGNORE INTO revoked_access_tokens (jti, revoked_at, expires_at)
       SELECT jti, ?, expires_at FROM access_token_links WHERE ${where} RETURNING jti, expires_at`,
    );
  const familyJtis = revokeLinked("family_id = ?");
  const codeJtis = revokeLinked("code_digest = ?");
  const userClientJtis = revokeLinked("user_id = ? AND client_id = ?");
  const revokeFamilyTokens = db.prepare(
    "UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL",
  );
  const familiesOfCode = db
    .prepare<[string], string>("SELECT DISTINCT family_id FROM refresh_tokens WHERE code_digest = ?")
    .pluck();
  const familiesOfGrant = db
    .prepare<[string, string], string>(
      "SELECT DISTINCT family_id FROM refresh_tokens WHERE user_id = ? AND client_id = ?",
    )
    .pluck();
  const family = (familyId: string, now: number): GrantRevocation => ({
    accessTokens: familyJtis.all(now, familyId),
    refreshTokens: revokeFamilyTokens.run(now, familyId).changes,
  });
  const families = (familyIds: readonly string[], now: number, revoked: GrantRevocation): GrantRevocation => {
    for (const familyId of familyIds) {
      const one = family(familyId, now);
      revoked.refreshTokens += one.refreshTokens;
      revoked.accessTokens.push(...one.accessTokens);
    }
    return revoked;
  };
  return {
    family,
    codeGrant: (codeDigest: string, now: number): GrantRevocation =>
      families(familiesOfCode.all(codeDigest), now, {
        refreshTokens: 0,
        accessTokens: codeJtis.all(now, codeDigest),
      }),
    userClient: (userId: string, clientId: string, now: number): GrantRevocation => {
      const revoked = families(familiesOfGrant.all(userId, clientId), now, { refreshTokens: 0, accessTokens: [] });
      revoked.accessTokens.push(...userClientJtis.all(now, userId, clientId));
      return revoked;
    },
  };
}

/**
 * Each revocation appends a `token` entry per access token it newly revoked to the revocation feed, in its own
 * transaction: a gateway polling the feed refuses exactly the tokens of the revoked grant, and another device of the
 * same user keeps working.
 */
export function sqliteRevocationStore(
  db: Db,
  revoker: SqliteGrantRevoker,
  feed: Synchronous<RevocationFeedStore>,
): Synchronous<RevocationStore> {
  const link = db.prepare(
    "INSERT OR REPLACE INTO access_token_links (jti, client_id, user_id, family_id, code_digest, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
  );
  // OR IGNORE: revoking twice keeps the first revocation time (RFC 7009 §2.2: revocation is idempotent).
  const revokeJti = db.prepare<[string, number, number], RevokedJti>(
    "INSERT OR IGNORE INTO revoked_access_tokens (jti, revoked_at, expires_at) VALUES (?, ?, ?) RETURNING jti, expires_at",
  );
  const isRevoked = db.prepare<[string], number>("SELECT 1 FROM revoked_access_tokens WHERE jti = ?").pluck();
  // The feed entries of what was revoked, in the revocation's transaction; the number of refresh tokens revoked.
  const announce = (revoked: GrantRevocation, now: number): number => {
    feed.append(tokenEntries(revoked.accessTokens), now);
    return revoked.refreshTokens;
  };
  const revokeAccessToken = writeTransactional(db, (jti: string, expiresAt: number, now: number) =>
    announce({ refreshTokens: 0, accessTokens: revokeJti.all(jti, now, expiresAt) }, now),
  );
  const revokeFamily = writeTransactional(db, (familyId: string, now: number) =>
    announce(revoker.family(familyId, now), now),
  );
  const revokeCodeGrant = writeTransactional(db, (codeDigest: string, now: number) =>
    announce(revoker.codeGrant(codeDigest, now), now),
  );
  const revokeUserClient = writeTransactional(db, (userId: string, clientId: string, now: number) =>
    announce(revoker.userClient(userId, clientId, now), now),
  );
  return {
    linkAccessToken(token) {
      link.run(token.jti, token.clientId, token.userId, token.familyId, token.codeDigest, token.expiresAt);
    },
    revokeAccessToken(jti, expiresAt, now) {
      revokeAccessToken(jti, expiresAt, now);
    },
    isAccessTokenRevoked(jti) {
      return isRevoked.get(jti) !== undefined;
    },
    revokeFamily: (familyId, now) => revokeFamily(familyId, now),
    revokeCodeGrant(codeDigest, now) {
      revokeCodeGrant(codeDigest, now);
    },
    revokeUserClientGrants: (userId, clientId, now) => revokeUserClient(userId, clientId, now),
  };
}
