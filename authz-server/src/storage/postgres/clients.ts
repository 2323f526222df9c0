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
import type { Client, ClientStore, Scope, ScopeStore } from "../types.js";
import { scopeTable, type ScopeTable } from "../scope-table.js";
import { epochSeconds } from "../revocation-feed.js";
import type { Sql } from "./connection.js";
import type { Db, TableVersion } from "./db.js";
import { appendIn } from "./revocation-feed.js";

/** The clients cache, shared by the storage and its transactions' handles. */
export interface ClientCache {
  version: TableVersion;
  clients: Map<string, Client>;
  cachedVersion: number;
}

/** Every access token issued to the client until now: one `client` feed entry covers them on every gateway. */
const announceIn = (tx: Sql, clientId: string, now: number) =>
  appendIn(tx, [{ kind: "client", clientId, issuedBefore: epochSeconds(now) }], now);

const SELECT_ALL = 'SELECT * FROM clients ORDER BY created_at, client_id COLLATE "C"';

/**
 * Found clients are held in memory until the clients table's version row changes (as on SQLite): every token request
 * reads its client without a round trip; a change through the CLI beside a running server is seen within 1 s.
 */
export function postgresClientStore(db: Db, cache: ClientCache): ClientStore {
  const { sql } = db;
  return {
    async create(client) {
      await sql.run(
        "clients_insert",
        `INSERT INTO clients (${CLIENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        clientValues(client),
      );
      cache.version.invalidate();
    },
    async findByName(name) {
      const key = clientNameKey(name);
      const row = (await sql.rows<ClientRow>("clients_all", SELECT_ALL)).find((r) => clientNameKey(r.name) === key);
      return row && toClient(row);
    },
    async setRedirectUris(clientId, redirectUris) {
      const updated = await sql.run(
        "clients_set_redirect_uris",
        "UPDATE clients SET redirect_uris = $1 WHERE client_id = $2",
        [toJsonList(redirectUris), clientId],
      );
      cache.version.invalidate();
      return updated > 0;
    },
    async find(clientId) {
      const now = await cache.version.current();
      if (now !== cache.cachedVersion) {
        cache.clients.clear();
        cache.cachedVersion = now;
      }
      const cached = cache.clients.get(clientId);
      if (cached) return cached;
      const row = await sql.one<ClientRow>("clients_find", "SELECT * FROM clients WHERE client_id = $1", [clientId]);
      if (!row) return undefined;
      const client = frozenClient(toClient(row));
      if (cache.clients.size >= CLIENT_CACHE_LIMIT) cache.clients.clear();
      cache.clients.set(clientId, client);
      return client;
    },
    async list() {
      return (await sql.rows<ClientRow>("clients_all", SELECT_ALL)).map(toClient);
    },
    async delete(clientId, now) {
      const deleted = await db.atomically(async (tx) => {
        await tx.run("clients_delete_codes", "DELETE FROM authorization_codes WHERE client_id = $1", [clientId]);
        await tx.run("clients_delete_refresh", "DELETE FROM refresh_tokens WHERE client_id = $1", [clientId]);
        await tx.run("clients_delete_consents", "DELETE FROM consents WHERE client_id = $1", [clientId]);
        if ((await tx.run("clients_delete", "DELETE FROM clients WHERE client_id = $1", [clientId])) === 0)
          return false;
        await announceIn(tx, clientId, now);
        return true;
      });
      cache.version.invalidate();
      return deleted;
    },
    // A secret rotated because it leaked: what was obtained with it, refresh tokens included, stops working.
    async rotateSecret(clientId, secretDigest, now) {
      const rotated = await db.atomically(async (tx) => {
        const updated = await tx.run(
          "clients_set_secret",
          "UPDATE clients SET secret_digest = $1 WHERE client_id = $2",
          [secretDigest, clientId],
        );
        if (updated === 0) return false;
        await tx.run(
          "clients_revoke_refresh",
          "UPDATE refresh_tokens SET revoked_at = $1 WHERE client_id = $2 AND revoked_at IS NULL",
          [now, clientId],
        );
        await announceIn(tx, clientId, now);
        return true;
      });
      cache.version.invalidate();
      return rotated;
    },
  };
}

/** The scopes cache, shared by the storage and its transactions' handles. */
export interface ScopeCache {
  version: TableVersion;
  table?: ScopeTable;
}

/** The scopes table, held in memory and re-read when its version row changes (as on SQLite). */
export function postgresScopeStore(db: Db, cache: ScopeCache): ScopeStore {
  const { sql } = db;
  async function current(): Promise<ScopeTable> {
    const now = await cache.version.current();
    if (cache.table?.version !== now) {
      const rows = await sql.rows<Scope>(
        "scopes_all",
        'SELECT name, description, resource FROM scopes ORDER BY name COLLATE "C"',
      );
      cache.table = { version: now, ...scopeTable(rows) };
    }
    return cache.table;
  }
  return {
    async create(scope) {
      await sql.run("scopes_insert", "INSERT INTO scopes (name, description, resource) VALUES ($1, $2, $3)", [
        scope.name,
        scope.description,
        scope.resource,
      ]);
      cache.version.invalidate();
    },
    find: async (name) => (await current()).byName.get(name),
    catalog: async (names = []) => {
      const held = await current();
      if (names.every((name) => held.byName.has(name))) return held.catalog;
      cache.version.invalidate();
      return (await current()).catalog;
    },
    list: async () => [...(await current()).list],
    resources: async () => [...(await current()).resources],
  };
}
