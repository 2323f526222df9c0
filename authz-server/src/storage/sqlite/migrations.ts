/**
 * Numbered migrations, applied in order at start-up inside one transaction each; the applied number is kept in
 * SQLite's `user_version`. Never edit a released migration: add the next number.
 */
export const migrations: readonly { version: number; sql: string }[] = [
  {
    version: 1,
    sql: `
CREATE TABLE scopes (
  name TEXT PRIMARY KEY,
  description TEXT NOT NULL,
  resource TEXT
) STRICT;

CREATE TABLE clients (
  client_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  secret_digest TEXT,
  redirect_uris TEXT NOT NULL,
  grant_types TEXT NOT NULL,
  scopes TEXT NOT NULL,
  token_endpoint_auth_method TEXT NOT NULL,
  created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE users (
  id TEXT PRIMARY KEY,
  username TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE signing_keys (
  kid TEXT PRIMARY KEY,
  alg TEXT NOT NULL,
  private_jwk TEXT NOT NULL,
  public_jwk TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  activate_at INTEGER NOT NULL
) STRICT;

-- Bumped by triggers on every change so a running server can detect a rotation with one cheap read.
CREATE TABLE signing_keys_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL) STRICT;
INSERT INTO signing_keys_version (id, version) VALUES (1, 0);
CREATE TRIGGER signing_keys_ins AFTER INSERT ON signing_keys BEGIN UPDATE signing_keys_version SET version = version + 1; END;
CREATE TRIGGER signing_keys_del AFTER DELETE ON signing_keys BEGIN UPDATE signing_keys_version SET version = version + 1; END;

CREATE TABLE authorization_codes (
  code_digest TEXT PRIMARY KEY,
  client_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  redirect_uri TEXT NOT NULL,
  code_challenge TEXT,
  code_challenge_method TEXT,
  scope TEXT NOT NULL,
  resources TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  consumed_at INTEGER
) STRICT;
CREATE INDEX authorization_codes_expires ON authorization_codes (expires_at);

CREATE TABLE refresh_tokens (
  token_digest TEXT PRIMARY KEY,
  family_id TEXT NOT NULL,
  parent_digest TEXT,
  code_digest TEXT,
  client_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  scope TEXT NOT NULL,
  resources TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  rotated_at INTEGER,
  idle_expires_at INTEGER NOT NULL,
  absolute_expires_at INTEGER NOT NULL,
  revoked_at INTEGER
) STRICT;
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_code ON refresh_tokens (code_digest);
CREATE INDEX refresh_tokens_user_client ON refresh_tokens (user_id, client_id);
CREATE INDEX refresh_tokens_absolute ON refresh_tokens (absolute_expires_at);

CREATE TABLE access_token_links (
  jti TEXT PRIMARY KEY,
  client_id TEXT NOT NULL,
  family_id TEXT,
  code_digest TEXT,
  expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX access_token_links_family ON access_token_links (family_id);
CREATE INDEX access_token_links_code ON access_token_links (code_digest);

CREATE TABLE revoked_access_tokens (
  jti TEXT PRIMARY KEY,
  revoked_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX revoked_access_tokens_revoked ON revoked_access_tokens (revoked_at);

CREATE TABLE consents (
  user_id TEXT NOT NULL,
  client_id TEXT NOT NULL,
  scope TEXT NOT NULL,
  granted_at INTEGER NOT NULL,
  PRIMARY KEY (user_id, client_id, scope)
) STRICT;
`,
  },
  {
    // Server-held symmetric secrets, e.g. the key that signs browser-session cookies and
    // derives anti-CSRF tokens. Kept in the database so sessions survive a restart and several
    // processes on one database agree.
    version: 2,
    sql: `
CREATE TABLE server_secrets (
  name TEXT PRIMARY KEY,
  value BLOB NOT NULL,
  created_at INTEGER NOT NULL
) STRICT;
`,
  },
  {
    // The user of each linked access token, so withdrawing a user's consent to a client reaches the access tokens
    // of code exchanges that started no refresh-token family (a client without the refresh_token grant).
    version: 3,
    sql: `
ALTER TABLE access_token_links ADD COLUMN user_id TEXT;
CREATE INDEX access_token_links_user_client ON access_token_links (user_id, client_id);
`,
  },
  {
    // Clients and scopes are read on every token request but written only by the CLI: the server keeps them in
    // memory and re-reads a table only when its version row, bumped by these triggers, has changed (the mechanism
    // of signing_keys_version in migration 1). See table-version.ts.
    version: 4,
    sql: `
CREATE TABLE table_versions (name TEXT PRIMARY KEY, version INTEGER NOT NULL) STRICT;
INSERT INTO table_versions (name, version) VALUES ('clients', 0), ('scopes', 0);
CREATE TRIGGER clients_version_ins AFTER INSERT ON clients BEGIN UPDATE table_versions SET version = version + 1 WHERE name = 'clients'; END;
CREATE TRIGGER clients_version_upd AFTER UPDATE ON clients BEGIN UPDATE table_versions SET version = version + 1 WHERE name = 'clients'; END;
CREATE TRIGGER clients_version_del AFTER DELETE ON clients BEGIN UPDATE table_versions SET version = version + 1 WHERE name = 'clients'; END;
CREATE TRIGGER scopes_version_ins AFTER INSERT ON scopes BEGIN UPDATE table_versions SET version = version + 1 WHERE name = 'scopes'; END;
CREATE TRIGGER scopes_version_upd AFTER UPDATE ON scopes BEGIN UPDATE table_versions SET version = version + 1 WHERE name = 'scopes'; END;
CREATE TRIGGER scopes_version_del AFTER DELETE ON scopes BEGIN UPDATE table_versions SET version = version + 1 WHERE name = 'scopes'; END;
`,
  },
  {
    // Signed-in browser sessions, one row per sign-in, keyed by the SHA-256 of the session id the signed cookie
    // carries (session/sessions.ts). A cookie is honoured only while its row exists: signing out, `users
    // set-password` and `users delete` delete rows, and every server process on the database sees it at once.
    version: 6,
    sql: `
CREATE TABLE browser_sessions (
  session_digest TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX browser_sessions_user ON browser_sessions (user_id);
CREATE INDEX browser_sessions_expires ON browser_sessions (expires_at);
`,
  },
  {
    // The resources a client serves as a resource server (JSON list of RFC 8707 indicators): introspection answers
    // it about access tokens addressed to them (endpoints/introspect.ts). Existing clients serve none.
    version: 7,
    sql: `
ALTER TABLE clients ADD COLUMN resource_server_for TEXT NOT NULL DEFAULT '[]';
`,
  },
  {
    // Encryption at rest (storage/sqlite/key-encryption.ts): beside each private signing key and server secret, the
    // id of the key-encryption key that sealed it (NULL: in the clear), and the one key new values are sealed under.
    version: 8,
    sql: `
ALTER TABLE signing_keys ADD COLUMN kek_id TEXT;
ALTER TABLE server_secrets ADD COLUMN kek_id TEXT;
CREATE TABLE key_encryption (id INTEGER PRIMARY KEY CHECK (id = 1), kek_id TEXT NOT NULL) STRICT;
`,
  },
  {
    // The login throttle's state (session/throttle.ts), shared by every process on the database: per account and
    // address (or known device) the recent failure times (a JSON array, at most the limit long), per account the next
    // scheduled attempt. Keyed by SHA-256 digests, so a copy of the database names no user or address; purgeExpired
    // deletes a row once its failures have left the window, or its account is idle again.
    version: 9,
    sql: `
CREATE TABLE login_throttle_failures (
  pair_digest TEXT PRIMARY KEY,
  failed_at TEXT NOT NULL,
  expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX login_throttle_failures_expires ON login_throttle_failures (expires_at);
CREATE TABLE login_throttle_accounts (
  account_digest TEXT PRIMARY KEY,
  next_attempt_at INTEGER NOT NULL
) STRICT;
CREATE INDEX login_throttle_accounts_next ON login_throttle_accounts (next_attempt_at);
`,
  },
  {
    // The revocation feed (endpoints/revocations.ts, docs/revocation-feed.md). One counter row hands out the entries'
    // positions inside the revoking transaction (its row lock orders them: a reader that sees position N sees every
    // position below it) and holds the database's random epoch, which cursors carry. One row per entry, one column
    // per claim its kind names; purgeExpired deletes an entry once its drop_after (seconds) has passed.
    version: 10,
    sql: `
CREATE TABLE revocation_feed (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  last INTEGER NOT NULL,
  epoch TEXT NOT NULL
) STRICT;
INSERT INTO revocation_feed (id, last, epoch) VALUES (1, 0, lower(hex(randomblob(16))));
CREATE TABLE revocation_feed_entries (
  position INTEGER PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('token', 'user_client', 'user', 'client', 'key')),
  jti TEXT,
  exp INTEGER,
  sub TEXT,
  client_id TEXT,
  issued_before INTEGER,
  kid TEXT,
  drop_after INTEGER NOT NULL,
  -- The claims each kind needs; a user entry names no client and a client entry no user: covers() reads NULL as "any".
  CHECK (CASE kind
    WHEN 'token' THEN jti IS NOT NULL AND exp IS NOT NULL
    WHEN 'key' THEN kid IS NOT NULL
    WHEN 'user' THEN sub IS NOT NULL AND client_id IS NULL AND issued_before IS NOT NULL
    WHEN 'client' THEN client_id IS NOT NULL AND sub IS NULL AND issued_before IS NOT NULL
    WHEN 'user_client' THEN sub IS NOT NULL AND client_id IS NOT NULL AND issued_before IS NOT NULL
  END)
) STRICT;
CREATE INDEX revocation_feed_entries_jti ON revocation_feed_entries (jti);
CREATE INDEX revocation_feed_entries_sub ON revocation_feed_entries (sub);
CREATE INDEX revocation_feed_entries_client ON revocation_feed_entries (client_id);
CREATE INDEX revocation_feed_entries_kid ON revocation_feed_entries (kid);
CREATE INDEX revocation_feed_entries_drop ON revocation_feed_entries (drop_after);
`,
  },
];
