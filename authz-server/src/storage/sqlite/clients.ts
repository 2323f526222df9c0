import type { Client, ClientStore, TokenEndpointAuthMethod } from "../types.js";
import type { Db } from "./database.js";
import { fromJsonList, toJsonList } from "./json.js";

interface ClientRow {
  client_id: string;
  name: string;
  secret_digest: string | null;
  redirect_uris: string;
  grant_types: string;
  scopes: string;
  token_endpoint_auth_method: string;
  created_at: number;
}

function toClient(row: ClientRow): Client {
  return {
    clientId: row.client_id,
    name: row.name,
    secretDigest: row.secret_digest,
    redirectUris: fromJsonList(row.redirect_uris),
    grantTypes: fromJsonList(row.grant_types),
    scopes: fromJsonList(row.scopes),
    tokenEndpointAuthMethod: row.token_endpoint_auth_method as TokenEndpointAuthMethod,
    createdAt: row.created_at,
  };
}

export function sqliteClientStore(db: Db): ClientStore {
  const insert = db.prepare(
    `INSERT INTO clients (client_id, name, secret_digest, redirect_uris, grant_types, scopes, token_endpoint_auth_method, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const select = db.prepare<[string], ClientRow>("SELECT * FROM clients WHERE client_id = ?");
  const selectAll = db.prepare<[], ClientRow>("SELECT * FROM clients ORDER BY created_at, client_id");
  const remove = db.prepare("DELETE FROM clients WHERE client_id = ?");
  const removeCodes = db.prepare("DELETE FROM authorization_codes WHERE client_id = ?");
  const removeRefresh = db.prepare("DELETE FROM refresh_tokens WHERE client_id = ?");
  const removeConsents = db.prepare("DELETE FROM consents WHERE client_id = ?");
  const deleteAll = db.transaction((clientId: string): boolean => {
    removeCodes.run(clientId);
    removeRefresh.run(clientId);
    removeConsents.run(clientId);
    return remove.run(clientId).changes > 0;
  });
  return {
    create(client) {
      insert.run(
        client.clientId,
        client.name,
        client.secretDigest,
        toJsonList(client.redirectUris),
        toJsonList(client.grantTypes),
        toJsonList(client.scopes),
        client.tokenEndpointAuthMethod,
        client.createdAt,
      );
    },
    find(clientId) {
      const row = select.get(clientId);
      return row && toClient(row);
    },
    list() {
      return selectAll.all().map(toClient);
    },
    delete(clientId) {
      return deleteAll(clientId);
    },
  };
}
