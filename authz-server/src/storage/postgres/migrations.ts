/**
 * The PostgreSQL schema: the numbered migrations of storage/sqlite/migrations.ts, each equal in meaning to the SQLite
 * migration of the same number, in PostgreSQL's types. Times are BIGINT milliseconds, lists are JSON arrays in TEXT
 * columns (written and read by storage/sqlite/json.ts, as on SQLite), secrets are BYTEA. Each migration only adds,
 * so a node of the previous version keeps working on a migrated schema. The applied number is the single row of
 * `schema_version` (migrate.ts). Never edit a released migration: add the next number.
 */
export const migrations: readonly { version: number; sql: string }[] = [
  {
    version: 1,
    sql: `
CREATE TABLE scopes (
  name TEXT PRIMARY KEY,
  description TEXT NOT NULL,
  resource TEXT
);

CREATE TABLE clients (
  client_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  secret_digest TEXT,
  redirect_uris TEXT NOT NULL,
  grant_types TEXT NOT NULL,
  scopes TEXT NOT NULL,
  token_endpoint_auth_method TEXT NOT NULL,
  created_at BIGINT NOT NULL
);

CREATE TABLE users (
  id TEXT PRIMARY KEY,
  username TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  created_at BIGINT NOT NULL
);

CREATE TABLE signing_keys (
  kid TEXT PRIMARY KEY,
  alg TEXT NOT NULL,
  private_jwk TEXT NOT NULL,
  public_jwk TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  activate_at BIGINT NOT NULL
);

-- Bumped by a trigger on every change so a running server can detect a rotation with one cheap read.
CREATE TABLE signing_keys_version (id INTEGER PRIMARY KEY CHECK (id = 1), version BIGINT NOT NULL);
INSERT INTO signing_keys_version (id, version) VALUES (1, 0);
CREATE FUNCTION signing_keys_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE signing_keys_version SET version = version + 1;
  RETURN NULL;
END $$;
CREATE TRIGGER signing_keys_changed AFTER INSERT OR DELETE ON signing_keys
  FOR EACH STATEMENT EXECUTE FUNCTION signing_keys_version_bump();

CREATE TABLE authorization_codes (
  code_digest TEXT PRIMARY KEY,
  client_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  redirect_uri TEXT NOT NULL,
  code_challenge TEXT,
  code_challenge_method TEXT,
  scope TEXT NOT NULL,
  resources TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  consumed_at BIGINT
);
CREATE INDEX authorization_codes_expires ON authorization_codes (expires_at);

-- seq keeps the insertion order SQLite's rowid gives a family's tokens created in the same millisecond.
CREATE TABLE refresh_tokens (
  token_digest TEXT PRIMARY KEY,
  seq BIGINT GENERATED ALWAYS AS IDENTITY,
  family_id TEXT NOT NULL,
  parent_digest TEXT,
  code_digest TEXT,
  client_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  scope TEXT NOT NULL,
  resources TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  rotated_at BIGINT,
  idle_expires_at BIGINT NOT NULL,
  absolute_expires_at BIGINT NOT NULL,
  revoked_at BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_code ON refresh_tokens (code_digest);
CREATE INDEX refresh_tokens_user_client ON refresh_tokens (user_id, client_id);
CREATE INDEX refresh_tokens_absolute ON refresh_tokens (absolute_expires_at);

CREATE TABLE access_token_links (
  jti TEXT PRIMARY KEY,
  client_id TEXT NOT NULL,
  family_id TEXT,
  code_digest TEXT,
  expires_at BIGINT NOT NULL
);
CREATE INDEX access_token_links_family ON access_token_links (family_id);
CREATE INDEX access_token_links_code ON access_token_links (code_digest);

CREATE TABLE revoked_access_tokens (
  jti TEXT PRIMARY KEY,
  revoked_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX revoked_access_tokens_revoked ON revoked_access_tokens (revoked_at);

CREATE TABLE consents (
  user_id TEXT NOT NULL,
  client_id TEXT NOT NULL,
  scope TEXT NOT NULL,
  granted_at BIGINT NOT NULL,
  PRIMARY KEY (user_id, client_id, scope)
);
`,
  },
  {
    // Server-held symmetric secrets (the browser-session cookie key), shared by every process on the database.
    version: 2,
    sql: `
CREATE TABLE server_secrets (
  name TEXT PRIMARY KEY,
  value BYTEA NOT NULL,
  created_at BIGINT NOT NULL
);
`,
  },
  {
    // The user of each linked access token, so withdrawing a consent reaches tokens of exchanges without a family.
    version: 3,
    sql: `
ALTER TABLE access_token_links ADD COLUMN user_id TEXT;
CREATE INDEX access_token_links_user_client ON access_token_links (user_id, client_id);
`,
  },
  {
    // Clients and scopes are cached in memory and re-read only when their version row, bumped by this trigger,
    // changes (table-version.ts in this folder).
    version: 4,
    sql: `
CREATE TABLE table_versions (name TEXT PRIMARY KEY, version BIGINT NOT NULL);
INSERT INTO table_versions (name, version) VALUES ('clients', 0), ('scopes', 0);
CREATE FUNCTION table_versions_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE table_versions SET version = version + 1 WHERE name = TG_TABLE_NAME;
  RETURN NULL;
END $$;
CREATE TRIGGER clients_version AFTER INSERT OR UPDATE OR DELETE ON clients
  FOR EACH STATEMENT EXECUTE FUNCTION table_versions_bump();
CREATE TRIGGER scopes_version AFTER INSERT OR UPDATE OR DELETE ON scopes
  FOR EACH STATEMENT EXECUTE FUNCTION table_versions_bump();
`,
  },
  {
    // Signed-in browser sessions, keyed by the SHA-256 of the session id the signed cookie carries.
    version: 6,
    sql: `
CREATE TABLE browser_sessions (
  session_digest TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX browser_sessions_user ON browser_sessions (user_id);
CREATE INDEX browser_sessions_expires ON browser_sessions (expires_at);
`,
  },
  {
    // The resources a client serves as a resource server (JSON list of RFC 8707 indicators).
    version: 7,
    sql: `
ALTER TABLE clients ADD COLUMN resource_server_for TEXT NOT NULL DEFAULT '[]';
`,
  },
  {
    // Encryption at rest: the id of the key-encryption key that sealed each value (NULL: in the clear), and the one
    // key new values are sealed under.
    version: 8,
    sql: `
ALTER TABLE signing_keys ADD COLUMN kek_id TEXT;
ALTER TABLE server_secrets ADD COLUMN kek_id TEXT;
CREATE TABLE key_encryption (id INTEGER PRIMARY KEY CHECK (id = 1), kek_id TEXT NOT NULL);
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
  expires_at BIGINT NOT NULL
);
CREATE INDEX login_throttle_failures_expires ON login_throttle_failures (expires_at);
CREATE TABLE login_throttle_accounts (
  account_digest TEXT PRIMARY KEY,
  next_attempt_at BIGINT NOT NULL
);
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
  last BIGINT NOT NULL,
  epoch TEXT NOT NULL
);
INSERT INTO revocation_feed (id, last, epoch) VALUES (1, 0, replace(gen_random_uuid()::text, '-', ''));
CREATE TABLE revocation_feed_entries (
  position BIGINT PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('token', 'user_client', 'user', 'client', 'key')),
  jti TEXT,
  exp BIGINT,
  sub TEXT,
  client_id TEXT,
  issued_before BIGINT,
  kid TEXT,
  drop_after BIGINT NOT NULL,
  -- The claims each kind needs; a user entry names no client and a client entry no user: covers() reads NULL as "any".
  CHECK (CASE kind
    WHEN 'token' THEN jti IS NOT NULL AND exp IS NOT NULL
    WHEN 'key' THEN kid IS NOT NULL
    WHEN 'user' THEN sub IS NOT NULL AND client_id IS NULL AND issued_before IS NOT NULL
    WHEN 'client' THEN client_id IS NOT NULL AND sub IS NULL AND issued_before IS NOT NULL
    WHEN 'user_client' THEN sub IS NOT NULL AND client_id IS NOT NULL AND issued_before IS NOT NULL
  END)
);
CREATE INDEX revocation_feed_entries_jti ON revocation_feed_entries (jti);
CREATE INDEX revocation_feed_entries_sub ON revocation_feed_entries (sub);
CREATE INDEX revocation_feed_entries_client ON revocation_feed_entries (client_id);
CREATE INDEX revocation_feed_entries_kid ON revocation_feed_entries (kid);
CREATE INDEX revocation_feed_entries_drop ON revocation_feed_entries (drop_after);
`,
  },
];
