// The rows both storage engines read, and what the rest of the server sees of them. The SQLite and PostgreSQL schemas
// (sqlite/migrations.ts, postgres/migrations.ts) give these tables the same columns and the same types as read by
// their drivers — text, numbers of seconds, lists as JSON text — so one mapping serves both.
import type { AuthorizationCode, Client, RefreshToken, TokenEndpointAuthMethod, User } from "./types.js";

/** Reads a JSON array of strings stored by this module; the column is only ever written by `toJsonList`. */
export function fromJsonList(text: string): string[] {
  const value: unknown = JSON.parse(text);
  if (!Array.isArray(value) || !value.every((item): item is string => typeof item === "string")) {
    throw new Error("corrupt list column in database");
  }
  return value;
}

export function toJsonList(items: readonly string[]): string {
  return JSON.stringify(items);
}

export interface ClientRow {
  client_id: string;
  name: string;
  secret_digest: string | null;
  redirect_uris: string;
  grant_types: string;
  scopes: string;
  token_endpoint_auth_method: string;
  created_at: number;
  resource_server_for: string;
}

export function toClient(row: ClientRow): Client {
  const resourceServerFor = fromJsonList(row.resource_server_for);
  return {
    clientId: row.client_id,
    name: row.name,
    secretDigest: row.secret_digest,
    redirectUris: fromJsonList(row.redirect_uris),
    grantTypes: fromJsonList(row.grant_types),
    scopes: fromJsonList(row.scopes),
    tokenEndpointAuthMethod: row.token_endpoint_auth_method as TokenEndpointAuthMethod,
    createdAt: row.created_at,
    // Only a resource server carries the member, so a client reads back exactly as it was created.
    ...(resourceServerFor.length > 0 ? { resourceServerFor } : {}),
  };
}

/** The columns an inserted client fills, in the order of `clientValues`. */
export const CLIENT_COLUMNS =
  "client_id, name, secret_digest, redirect_uris, grant_types, scopes, token_endpoint_auth_method, created_at, resource_server_for";

export const clientValues = (client: Client): unknown[] => [
  client.clientId,
  client.name,
  client.secretDigest,
  toJsonList(client.redirectUris),
  toJsonList(client.grantTypes),
  toJsonList(client.scopes),
  client.tokenEndpointAuthMethod,
  client.createdAt,
  toJsonList(client.resourceServerFor ?? []),
];

/** Most clients an engine's cache holds; beyond it the cache starts again empty (a flood of ids cannot grow it). */
export const CLIENT_CACHE_LIMIT = 10_000;

/** The form under which two names look the same to a user on the consent page (see ClientStore.findByName). */
export function clientNameKey(name: string): string {
  return name.trim().normalize("NFC").toLowerCase();
}

/** Frozen, arrays included: cached clients are shared between requests, none may change them. */
export function frozenClient(client: Client): Client {
  Object.freeze(client.redirectUris);
  Object.freeze(client.grantTypes);
  Object.freeze(client.scopes);
  if (client.resourceServerFor) Object.freeze(client.resourceServerFor);
  return Object.freeze(client);
}

export interface CodeRow {
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

/** The columns an inserted code fills, in the order of `codeValues`. */
export const CODE_COLUMNS =
  "code_digest, client_id, user_id, redirect_uri, code_challenge, code_challenge_method, scope, resources, created_at, expires_at, consumed_at";

export const codeValues = (code: AuthorizationCode): unknown[] => [
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
];

export const toCode = (row: CodeRow): AuthorizationCode => ({
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

export interface RefreshRow {
  token_digest: string;
  family_id: string;
  parent_digest: string | null;
  code_digest: string | null;
  client_id: string;
  user_id: string;
  scope: string;
  resources: string;
  created_at: number;
  rotated_at: number | null;
  idle_expires_at: number;
  absolute_expires_at: number;
  revoked_at: number | null;
}

/** The columns an inserted refresh token fills, in the order of `refreshValues`. */
export const REFRESH_COLUMNS =
  "token_digest, family_id, parent_digest, code_digest, client_id, user_id, scope, resources, created_at, rotated_at, idle_expires_at, absolute_expires_at, revoked_at";

export const refreshValues = (token: RefreshToken): unknown[] => [
  token.tokenDigest,
  token.familyId,
  token.parentDigest,
  token.codeDigest,
  token.clientId,
  token.userId,
  token.scope,
  toJsonList(token.resources),
  token.createdAt,
  token.rotatedAt,
  token.idleExpiresAt,
  token.absoluteExpiresAt,
  token.revokedAt,
];

export const toRefreshToken = (row: RefreshRow): RefreshToken => ({
  tokenDigest: row.token_digest,
  familyId: row.family_id,
  parentDigest: row.parent_digest,
  codeDigest: row.code_digest,
  clientId: row.client_id,
  userId: row.user_id,
  scope: row.scope,
  resources: fromJsonList(row.resources),
  createdAt: row.created_at,
  rotatedAt: row.rotated_at,
  idleExpiresAt: row.idle_expires_at,
  absoluteExpiresAt: row.absolute_expires_at,
  revokedAt: row.revoked_at,
});

export interface UserRow {
  id: string;
  username: string;
  password_hash: string;
  created_at: number;
}

export const toUser = (row: UserRow): User => ({
  id: row.id,
  username: row.username,
  passwordHash: row.password_hash,
  createdAt: row.created_at,
});
