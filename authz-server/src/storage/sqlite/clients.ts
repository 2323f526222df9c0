import { epochSeconds } from "../revocation-feed.js";
import {
  CLIENT_CACHE_LIMIT,
  CLIENT_COLUMNS,
  type ClientRow,
  clientNameKey,
  clientValues,
  frozenClient,
  toClient,
  toJsonList,
} from "../rows.js";
import type { Client, ClientStore, RevocationFeedStore } from "../types.js";
import { type Db, writeTransactional } from "./database.js";
import { TableVersion } from "./table-version.js";
import type { Synchronous } from "./synchronous.js";

/**
 * Every token, introspection and revocation request reads its client. Found clients are held in memory until the
 * clients table's version row changes (table-version.ts): a client deleted or changed through the CLI beside a
 * running server — its secret digest included — stops authenticating within RECHECK_INTERVAL_MS (1 s); through this
 * process's own store, at once. Unknown ids are not cached (every miss reads the table).
 */
export function sqliteClientStore(
  db: Db,
  feed: Synchronous<RevocationFeedStore>,
  version = new TableVersion(db, "clients"),
): Synchronous<ClientStore> {
  const insert = db.prepare(`INSERT INTO clients (${CLIENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  const updateRedirectUris = db.prepare("UPDATE clients SET redirect_uris = ? WHERE client_id = ?");
  const select = db.prepare<[string], ClientRow>("SELECT * FROM clients WHERE client_id = ?");
  const selectAll = db.prepare<[], ClientRow>("SELECT * FROM clients ORDER BY created_at, client_id");
  const remove = db.prepare("DELETE FROM clients WHERE client_id = ?");
  const removeCodes = db.prepare("DELETE FROM authorization_codes WHERE client_id = ?");
  const removeRefresh = db.prepare("DELETE FROM refresh_tokens WHERE client_id = ?");
  const removeConsents = db.prepare("DELETE FROM consents WHERE client_id = ?");
  const setSecret = db.prepare("UPDATE clients SET secret_digest = ? WHERE client_id = ?");
  const revokeRefresh = db.prepare(
    "UPDATE refresh_tokens SET revoked_at = ? WHERE client_id = ? AND revoked_at IS NULL",
  );
  // Every access token issued to the client until now: one `client` feed entry covers them on every gateway.
  const announce = (clientId: string, now: number) =>
    feed.append([{ kind: "client", clientId, issuedBefore: epochSeconds(now) }], now);
  const deleteAll = writeTransactional(db, (clientId: string, now: number): boolean => {
    removeCodes.run(clientId);
    removeRefresh.run(clientId);
    removeConsents.run(clientId);
    if (remove.run(clientId).changes === 0) return false;
    announce(clientId, now);
    return true;
  });
  // A secret rotated because it leaked: what was obtained with it, refresh tokens included, stops working.
  const rotateSecret = writeTransactional(db, (clientId: string, secretDigest: string, now: number): boolean => {
    if (setSecret.run(secretDigest, clientId).changes === 0) return false;
    revokeRefresh.run(now, clientId);
    announce(clientId, now);
    return true;
  });
  const cache = new Map<string, Client>();
  let cachedVersion = -1;
  return {
    create(client) {
      insert.run(...clientValues(client));
      version.invalidate();
    },
    findByName(name) {
      const key = clientNameKey(name);
      const row = selectAll.all().find((r) => clientNameKey(r.name) === key);
      return row && toClient(row);
    },
    setRedirectUris(clientId, redirectUris) {
      const updated = updateRedirectUris.run(toJsonList(redirectUris), clientId).changes > 0;
      version.invalidate();
      return updated;
    },
    find(clientId) {
      const now = version.current();
      if (now !== cachedVersion) {
        cache.clear();
        cachedVersion = now;
      }
      const cached = cache.get(clientId);
      if (cached) return cached;
      const row = select.get(clientId);
      if (!row) return undefined;
      const client = frozenClient(toClient(row));
      if (cache.size >= CLIENT_CACHE_LIMIT) cache.clear();
      cache.set(clientId, client);
      return client;
    },
    list() {
      return selectAll.all().map(toClient);
    },
    delete(clientId, now) {
      const deleted = deleteAll(clientId, now);
      version.invalidate();
      return deleted;
    },
    rotateSecret(clientId, secretDigest, now) {
      const rotated = rotateSecret(clientId, secretDigest, now);
      version.invalidate();
      return rotated;
    },
  };
}
