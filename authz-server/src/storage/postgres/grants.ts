import { epochSeconds, tokenEntries } from "../revocation-feed.js";
import {
  CODE_COLUMNS,
  type CodeRow,
  codeValues,
  REFRESH_COLUMNS,
  type RefreshRow,
  refreshValues,
  toCode,
  toRefreshToken,
} from "../rows.js";
import type { CodeStore, Consent, ConsentStore, RefreshTokenStore, RevocationStore } from "../types.js";
import type { Sql } from "./connection.js";
import type { Db } from "./db.js";
import { appendIn } from "./revocation-feed.js";

/**
 * Inside a transaction, reading the code or refresh token a grant is about to consume locks its row
 * (`SELECT … FOR UPDATE`): a concurrent exchange of the same one waits at its read until this transaction ends, then
 * reads it consumed, at READ COMMITTED.
 */
const forUpdate = (db: Db) => (db.inTransaction ? " FOR UPDATE" : "");

export function postgresCodeStore(db: Db): CodeStore {
  const { sql } = db;
  const lock = forUpdate(db);
  return {
    async create(code) {
      await sql.run(
        "codes_insert",
        `INSERT INTO authorization_codes (${CODE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
        codeValues(code),
      );
    },
    async find(codeDigest) {
      const row = await sql.one<CodeRow>(
        `codes_find${lock ? "_for_update" : ""}`,
        `SELECT * FROM authorization_codes WHERE code_digest = $1${lock}`,
        [codeDigest],
      );
      return row && toCode(row);
    },
    // A conditional UPDATE is atomic: of two concurrent redemptions exactly one changes the row.
    async consume(codeDigest, now) {
      const changed = await sql.run(
        "codes_consume",
        "UPDATE authorization_codes SET consumed_at = $1 WHERE code_digest = $2 AND consumed_at IS NULL",
        [now, codeDigest],
      );
      return changed === 1;
    },
  };
}

export function postgresRefreshTokenStore(db: Db): RefreshTokenStore {
  const { sql } = db;
  const lock = forUpdate(db);
  return {
    async create(token) {
      await sql.run(
        "refresh_insert",
        `INSERT INTO refresh_tokens (${REFRESH_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
        refreshValues(token),
      );
    },
    async find(tokenDigest) {
      const row = await sql.one<RefreshRow>(
        `refresh_find${lock ? "_for_update" : ""}`,
        `SELECT ${REFRESH_COLUMNS} FROM refresh_tokens WHERE token_digest = $1${lock}`,
        [tokenDigest],
      );
      return row && toRefreshToken(row);
    },
    async markRotated(tokenDigest, now) {
      const changed = await sql.run(
        "refresh_rotate",
        "UPDATE refresh_tokens SET rotated_at = $1 WHERE token_digest = $2 AND rotated_at IS NULL",
        [now, tokenDigest],
      );
      return changed === 1;
    },
    async family(familyId) {
      const rows = await sql.rows<RefreshRow>(
        "refresh_family",
        `SELECT ${REFRESH_COLUMNS} FROM refresh_tokens WHERE family_id = $1 ORDER BY created_at, seq`,
        [familyId],
      );
      return rows.map(toRefreshToken);
    },
  };
}

/** An access token newly recorded as revoked: its feed entry needs its `exp`. */
interface RevokedJti {
  jti: string;
  expires_at: number;
}

/** What revoking a grant revoked: refresh tokens (counted) and linked access tokens newly revoked. */
interface GrantRevocation {
  refreshTokens: number;
  accessTokens: RevokedJti[];
}

/**
 * Records the linked access tokens `where` selects as revoked; DO NOTHING … RETURNING gives back only those not revoked
 * before, so a second revocation appends nothing to the feed.
 */
const revokeLinked = (tx: Sql, name: string, where: string, values: readonly unknown[]) =>
  tx.rows<RevokedJti>(
    name,
    `INSERT INTO revoked_access_tokens (jti, revoked_at, expires_at)
     SELECT jti, $1, expires_at FROM access_token_links WHERE ${where} ON CONFLICT (jti) DO NOTHING RETURNING jti, expires_at`,
    values,
  );

/** Revokes one family's refresh tokens and linked access tokens. */
async function revokeFamilyIn(tx: Sql, familyId: string, now: number): Promise<GrantRevocation> {
  const accessTokens = await revokeLinked(tx, "revoke_family_jtis", "family_id = $2", [now, familyId]);
  const refreshTokens = await tx.run(
    "revoke_family_tokens",
    "UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL",
    [now, familyId],
  );
  return { refreshTokens, accessTokens };
}

async function revokeFamiliesIn(
  tx: Sql,
  familyIds: readonly { family_id: string }[],
  now: number,
  revoked: GrantRevocation,
): Promise<GrantRevocation> {
  for (const { family_id } of familyIds) {
    const one = await revokeFamilyIn(tx, family_id, now);
    revoked.refreshTokens += one.refreshTokens;
    revoked.accessTokens.push(...one.accessTokens);
  }
  return revoked;
}

async function revokeUserClientIn(tx: Sql, userId: string, clientId: string, now: number): Promise<GrantRevocation> {
  const families = await tx.rows<{ family_id: string }>(
    "families_of_grant",
    "SELECT DISTINCT family_id FROM refresh_tokens WHERE user_id = $1 AND client_id = $2",
    [userId, clientId],
  );
  const revoked = await revokeFamiliesIn(tx, families, now, { refreshTokens: 0, accessTokens: [] });
  revoked.accessTokens.push(
    ...(await revokeLinked(tx, "revoke_user_client_jtis", "user_id = $2 AND client_id = $3", [now, userId, clientId])),
  );
  return revoked;
}

/**
 * A `token` feed entry per access token newly revoked, in the revocation's transaction (appended last: appendIn);
 * the number of refresh tokens revoked.
 */
async function announceIn(tx: Sql, revoked: GrantRevocation, now: number): Promise<number> {
  await appendIn(tx, tokenEntries(revoked.accessTokens), now);
  return revoked.refreshTokens;
}

export function postgresRevocationStore(db: Db): RevocationStore {
  const { sql } = db;
  return {
    async linkAccessToken(token) {
      await sql.run(
        "link_access_token",
        `INSERT INTO access_token_links (jti, client_id, user_id, family_id, code_digest, expires_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (jti) DO UPDATE SET client_id = excluded.client_id, user_id = excluded.user_id,
           family_id = excluded.family_id, code_digest = excluded.code_digest, expires_at = excluded.expires_at`,
        [token.jti, token.clientId, token.userId, token.familyId, token.codeDigest, token.expiresAt],
      );
    },
    // DO NOTHING: revoking twice keeps the first revocation time (RFC 7009 §2.2: revocation is idempotent).
    revokeAccessToken: (jti, expiresAt, now) =>
      db.atomically(async (tx) => {
        const accessTokens = await tx.rows<RevokedJti>(
          "revoke_access_token",
          `INSERT INTO revoked_access_tokens (jti, revoked_at, expires_at) VALUES ($1, $2, $3)
           ON CONFLICT (jti) DO NOTHING RETURNING jti, expires_at`,
          [jti, now, expiresAt],
        );
        await announceIn(tx, { refreshTokens: 0, accessTokens }, now);
      }),
    async isAccessTokenRevoked(jti) {
      const rows = await sql.rows("is_revoked", "SELECT 1 FROM revoked_access_tokens WHERE jti = $1", [jti]);
      return rows.length > 0;
    },
    revokeFamily: (familyId, now) =>
      db.atomically(async (tx) => announceIn(tx, await revokeFamilyIn(tx, familyId, now), now)),
    revokeCodeGrant: (codeDigest, now) =>
      db.atomically(async (tx) => {
        const accessTokens = await revokeLinked(tx, "revoke_code_jtis", "code_digest = $2", [now, codeDigest]);
        const families = await tx.rows<{ family_id: string }>(
          "families_of_code",
          "SELECT DISTINCT family_id FROM refresh_tokens WHERE code_digest = $1",
          [codeDigest],
        );
        await announceIn(tx, await revokeFamiliesIn(tx, families, now, { refreshTokens: 0, accessTokens }), now);
      }),
    revokeUserClientGrants: (userId, clientId, now) =>
      db.atomically(async (tx) => announceIn(tx, await revokeUserClientIn(tx, userId, clientId, now), now)),
  };
}

interface ConsentRow {
  user_id: string;
  client_id: string;
  scope: string;
  granted_at: number;
}

export function postgresConsentStore(db: Db): ConsentStore {
  const { sql } = db;
  return {
    async grantedScopes(userId, clientId) {
      const rows = await sql.rows<{ scope: string }>(
        "consents_scopes",
        'SELECT scope FROM consents WHERE user_id = $1 AND client_id = $2 ORDER BY scope COLLATE "C"',
        [userId, clientId],
      );
      return rows.map((row) => row.scope);
    },
    grant: (userId, clientId, granted, now) =>
      db.atomically(async (tx) => {
        for (const scope of granted)
          await tx.run(
            "consents_insert",
            "INSERT INTO consents (user_id, client_id, scope, granted_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            [userId, clientId, scope, now],
          );
      }),
    async list(filter) {
      const rows = await sql.rows<ConsentRow>(
        "consents_list",
        `SELECT * FROM consents WHERE ($1::text IS NULL OR user_id = $1) AND ($2::text IS NULL OR client_id = $2)
         ORDER BY user_id COLLATE "C", client_id COLLATE "C", scope COLLATE "C"`,
        [filter?.userId ?? null, filter?.clientId ?? null],
      );
      const byPair = new Map<string, Consent>();
      for (const row of rows) {
        const key = `${row.user_id}\u0000${row.client_id}`;
        const consent = byPair.get(key) ?? { userId: row.user_id, clientId: row.client_id, scopes: [], grantedAt: 0 };
        consent.scopes.push(row.scope);
        consent.grantedAt = Math.max(consent.grantedAt, row.granted_at);
        byPair.set(key, consent);
      }
      return [...byPair.values()];
    },
    // Withdrawing a consent also revokes that grant's refresh tokens and their access tokens (RFC 7009 §2.1). One
    // `user_client` feed entry covers every access token of the grant, linked or not, so none is listed one by one.
    revoke: (userId, clientId, now) =>
      db.atomically(async (tx) => {
        const removed = await tx.run("consents_delete", "DELETE FROM consents WHERE user_id = $1 AND client_id = $2", [
          userId,
          clientId,
        ]);
        const revoked = (await revokeUserClientIn(tx, userId, clientId, now)).refreshTokens;
        if (removed === 0 && revoked === 0) return false;
        await appendIn(tx, [{ kind: "user_client", sub: userId, clientId, issuedBefore: epochSeconds(now) }], now);
        return true;
      }),
  };
}
