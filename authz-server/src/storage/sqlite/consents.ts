import { epochSeconds } from "../revocation-feed.js";
import type { Consent, ConsentStore, RevocationFeedStore } from "../types.js";
import { type Db, writeTransactional } from "./database.js";
import type { SqliteGrantRevoker } from "./revocations.js";
import type { Synchronous } from "./synchronous.js";

interface ConsentRow {
  user_id: string;
  client_id: string;
  scope: string;
  granted_at: number;
}

export function sqliteConsentStore(
  db: Db,
  revoker: SqliteGrantRevoker,
  feed: Synchronous<RevocationFeedStore>,
): Synchronous<ConsentStore> {
  const scopes = db
    .prepare<[string, string], string>("SELECT scope FROM consents WHERE user_id = ? AND client_id = ? ORDER BY scope")
    .pluck();
  const insert = db.prepare(
    "INSERT OR IGNORE INTO consents (user_id, client_id, scope, granted_at) VALUES (?, ?, ?, ?)",
  );
  const all = db.prepare<[{ user: string | null; client: string | null }], ConsentRow>(
    `SELECT * FROM consents WHERE (@user IS NULL OR user_id = @user) AND (@client IS NULL OR client_id = @client)
     ORDER BY user_id, client_id, scope`,
  );
  const remove = db.prepare("DELETE FROM consents WHERE user_id = ? AND client_id = ?");
  const grant = writeTransactional(db, (userId: string, clientId: string, granted: string[], now: number) => {
    for (const scope of granted) insert.run(userId, clientId, scope, now);
  });
  // Withdrawing a consent also revokes the refresh tokens of that grant and their access tokens (RFC 7009 §2.1;
  // docs/oauth-rules.md, "Consent is remembered and can be withdrawn"). One `user_client` feed entry covers every
  // access token of the grant, linked or not, so none is listed one by one.
  const revoke = writeTransactional(db, (userId: string, clientId: string, now: number): boolean => {
    const removed = remove.run(userId, clientId).changes;
    const revoked = revoker.userClient(userId, clientId, now).refreshTokens;
    if (removed === 0 && revoked === 0) return false;
    feed.append([{ kind: "user_client", sub: userId, clientId, issuedBefore: epochSeconds(now) }], now);
    return true;
  });
  return {
    grantedScopes(userId, clientId) {
      return scopes.all(userId, clientId);
    },
    grant(userId, clientId, granted, now) {
      grant(userId, clientId, granted, now);
    },
    list(filter) {
      const byPair = new Map<string, Consent>();
      for (const row of all.all({ user: filter?.userId ?? null, client: filter?.clientId ?? null })) {
        const key = `${row.user_id}\u0000${row.client_id}`;
        const consent = byPair.get(key) ?? { userId: row.user_id, clientId: row.client_id, scopes: [], grantedAt: 0 };
        consent.scopes.push(row.scope);
        consent.grantedAt = Math.max(consent.grantedAt, row.granted_at);
        byPair.set(key, consent);
      }
      return [...byPair.values()];
    },
    revoke(userId, clientId, now) {
      return revoke(userId, clientId, now);
    },
  };
}
