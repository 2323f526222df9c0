/**
 * Storage interfaces. Endpoints, grants and the key ring depend on these only; index.ts opens the implementation
 * the `--db` value names (storage/sqlite/ for a file path). Every method returns a promise, so a network database
 * implements the same interfaces as the embedded one. All times are milliseconds since the epoch unless a name says otherwise.
 * Secrets, codes and refresh tokens are stored as SHA-256 digests, never in the clear; private
 * signing keys and server secrets are encrypted under the operator's key-encryption key when one is supplied.
 */
import type { SigningAlgorithm } from "../keys/algorithms.js";
import type { KeyEncryptionKey } from "./encryption.js";

export type TokenEndpointAuthMethod = "client_secret_basic" | "client_secret_post" | "none";

export interface Client {
  clientId: string;
  name: string;
  /** SHA-256 of the server-generated secret, hex; null for a public client. */
  secretDigest: string | null;
  /** Exact strings, compared by exact match (RFC 9700 §4.1.3). */
  redirectUris: string[];
  grantTypes: string[];
  /** Scope names the client may request. */
  scopes: string[];
  tokenEndpointAuthMethod: TokenEndpointAuthMethod;
  createdAt: number;
  /**
   * RFC 8707 resource indicators (token `aud` values) this client is the resource server for: it may introspect the
   * access tokens addressed to one of them (RFC 7662 §2.1). Absent (or empty) for every other client.
   */
  resourceServerFor?: string[];
}

export interface ClientStore {
  /** CLI `clients create`. */
  create(client: Client): Promise<void>;
  /** Client authentication, authorize endpoint. */
  find(clientId: string): Promise<Client | undefined>;
  /**
   * CLI `clients create`: the client whose name users could not tell apart from `name` on the consent page, equal once
   * both are trimmed, Unicode-normalised (NFC) and lower-cased. Reads every client (the CLI's, not a request's, path).
   */
  findByName(name: string): Promise<Client | undefined>;
  /** CLI `clients update`: replaces the registered redirect URIs. Returns false when unknown. */
  setRedirectUris(clientId: string, redirectUris: string[]): Promise<boolean>;
  list(): Promise<Client[]>;
  /**
   * CLI `clients delete`; also deletes the client's codes, refresh tokens and consents, and appends a `client` entry
   * to the revocation feed. Returns false when unknown.
   */
  delete(clientId: string, now: number): Promise<boolean>;
  /**
   * CLI `clients rotate-secret`: replaces the secret's digest, revokes the client's refresh-token families and appends
   * a `client` entry (every access token issued to it until now), in one transaction. Returns false when unknown.
   */
  rotateSecret(clientId: string, secretDigest: string, now: number): Promise<boolean>;
}

export interface Scope {
  name: string;
  description: string;
  /** RFC 8707 resource indicator the scope belongs to; it becomes the token's `aud`. */
  resource: string | null;
}

/**
 * The registered scopes as one request sees them: one snapshot of the table, so that the RFC 8707 checks, which look
 * scopes and resources up several times, need no further await. Frozen; the same object until the table changes.
 */
export interface ScopeCatalog {
  find(name: string): Scope | undefined;
  /** The distinct registered resources, sorted. */
  resources(): readonly string[];
}

export interface ScopeStore {
  create(scope: Scope): Promise<void>;
  /**
   * The table held in memory (re-read when it changes): a token request reads it without a database round trip.
   * `names` (the scopes a client is registered for) that the held copy lacks make it check for a change first: a
   * client created with a new scope on another node may be seen before that node's next look at the scopes table.
   */
  catalog(names?: readonly string[]): Promise<ScopeCatalog>;
  find(name: string): Promise<Scope | undefined>;
  list(): Promise<Scope[]>;
  /** The registered resource indicators (distinct `resource` of all scopes). */
  resources(): Promise<string[]>;
}

export interface User {
  /** Server-generated, stable, never reused; the token's `sub`. */
  id: string;
  username: string;
  /** Self-describing scrypt hash (see passwords.ts). */
  passwordHash: string;
  createdAt: number;
}

export interface UserStore {
  create(user: User): Promise<void>;
  findByUsername(username: string): Promise<User | undefined>;
  findById(id: string): Promise<User | undefined>;
  list(): Promise<User[]>;
  /**
   * Also ends every browser session of the user (BrowserSessionStore), revokes their refresh-token families and
   * appends a `user` entry to the revocation feed: a leaked password's thief is signed out everywhere. Consents stay.
   */
  setPasswordHash(username: string, passwordHash: string, now: number): Promise<boolean>;
  /**
   * Deletes the user and everything issued to them (codes, refresh tokens, consents, browser sessions) and appends a
   * `user` entry to the revocation feed.
   */
  delete(username: string, now: number): Promise<boolean>;
  /**
   * "Sign out everywhere": ends every browser session of the user, revokes their refresh-token families and appends a
   * `user` entry to the revocation feed, in one transaction. Consents stay.
   */
  signOutEverywhere(userId: string, now: number): Promise<void>;
}

/** A signed-in browser session (session/sessions.ts); the cookie holds only its random id. */
export interface BrowserSession {
  /** SHA-256 of the session id, hex: a copy of the database yields no session id to replay. */
  sessionDigest: string;
  userId: string;
  /** The sign-in. */
  createdAt: number;
  /** Absolute end of the session, however active. */
  expiresAt: number;
}

export interface BrowserSessionStore {
  /** Records a sign-in (and deletes sessions already expired, so the table holds live ones only). */
  create(session: BrowserSession): Promise<void>;
  /** The live session and its user's name; undefined once signed out, expired, or the user deleted. */
  find(sessionDigest: string, now: number): Promise<(BrowserSession & { username: string }) | undefined>;
  /** Sign-out. */
  delete(sessionDigest: string): Promise<void>;
}

export interface SigningKey {
  kid: string;
  alg: SigningAlgorithm;
  /** Private JWK as JSON. Only keys/ ever reads this field. */
  privateJwk: string;
  /** Public JWK as JSON, as generated (for inspection; the key ring derives the published JWK from the key itself). */
  publicJwk: string;
  createdAt: number;
  /** From this instant on the key signs (until a newer key activates). Published from createdAt. */
  activateAt: number;
}

export interface KeyStore {
  insert(key: SigningKey): Promise<void>;
  /** All keys, oldest activation first. */
  list(): Promise<SigningKey[]>;
  /** Inserts `key` only when the table is empty, atomically; returns whether it was inserted (first start). */
  insertIfEmpty(key: SigningKey): Promise<boolean>;
  delete(kid: string): Promise<void>;
  /**
   * CLI `keys revoke`: deletes the key (it leaves the JWKS at the next key poll) and appends a `key` entry to the
   * revocation feed, in one transaction. Returns false when unknown.
   */
  revoke(kid: string, now: number): Promise<boolean>;
  /** Cheap change detector: differs after any insert or delete, by any process. */
  version(): Promise<string>;
}

export interface AuthorizationCode {
  /** SHA-256 of the code, hex. */
  codeDigest: string;
  clientId: string;
  userId: string;
  redirectUri: string;
  /** PKCE S256 challenge (RFC 7636 §4.2): every code has one. */
  codeChallenge: string;
  codeChallengeMethod: "S256";
  /** Space-separated granted scopes. */
  scope: string;
  /** RFC 8707 resource indicators requested at the authorization endpoint. */
  resources: string[];
  createdAt: number;
  expiresAt: number;
  /** Set when the code is redeemed; a second redemption is a replay (OAuth 2.1 §4.1.3). */
  consumedAt: number | null;
}

export interface CodeStore {
  create(code: AuthorizationCode): Promise<void>;
  find(codeDigest: string): Promise<AuthorizationCode | undefined>;
  /** Atomically marks the code consumed; returns false when it already was (replay). */
  consume(codeDigest: string, now: number): Promise<boolean>;
}

export interface RefreshToken {
  /** SHA-256 of the token, hex. */
  tokenDigest: string;
  /** Every token rotated from one code exchange shares its family id (RFC 9700 §4.14.2). */
  familyId: string;
  /** Digest of the token this one replaced; null for the first of a family. */
  parentDigest: string | null;
  /** The code the family was issued from, so a code replay can revoke it. */
  codeDigest: string | null;
  clientId: string;
  userId: string;
  scope: string;
  resources: string[];
  createdAt: number;
  /** Set when the token is exchanged for a new one; a later use outside the grace window revokes the family. */
  rotatedAt: number | null;
  idleExpiresAt: number;
  absoluteExpiresAt: number;
  revokedAt: number | null;
}

export interface RefreshTokenStore {
  create(token: RefreshToken): Promise<void>;
  find(tokenDigest: string): Promise<RefreshToken | undefined>;
  /** Atomically marks the token rotated; returns false when it already was. */
  markRotated(tokenDigest: string, now: number): Promise<boolean>;
  /**
   * Tokens of one family, oldest first. No grant reads it: it is how an operator or a test sees that a family holds one
   * live chain (RFC 9700 §4.14.2), which no client can observe, since a token never sent to it is invisible to it.
   */
  family(familyId: string): Promise<RefreshToken[]>;
}

/** Access tokens are self-contained JWTs; only those that a later event may have to revoke are linked here. */
export interface IssuedAccessToken {
  jti: string;
  clientId: string;
  /** The user the token is about (null for a client's own token). */
  userId: string | null;
  /** Refresh-token family the token was issued with, if any. */
  familyId: string | null;
  /** Authorization code the token was issued from, if any. */
  codeDigest: string | null;
  /** JWT `exp` in ms: the link (and any revocation record) is useless after it. */
  expiresAt: number;
}

export interface RevocationStore {
  /** Records a token issued from a code or a refresh family, so revoking that grant can reach it. */
  linkAccessToken(token: IssuedAccessToken): Promise<void>;
  /**
   * Records one revoked access-token jti until its expiry (RFC 7009 §2; introspection answers inactive), and appends a
   * `token` entry to the revocation feed the first time.
   */
  revokeAccessToken(jti: string, expiresAt: number, now: number): Promise<void>;
  isAccessTokenRevoked(jti: string): Promise<boolean>;
  /**
   * Revokes a refresh-token family and every access token linked to it, in one transaction
   * (RFC 7009 §2.1, RFC 9700 §4.14.2). Returns the number of refresh tokens newly revoked.
   * Like every grant revocation below, appends one `token` feed entry per linked access token newly revoked.
   */
  revokeFamily(familyId: string, now: number): Promise<number>;
  /** Revokes everything issued from one authorization code (replay, OAuth 2.1 §4.1.3). */
  revokeCodeGrant(codeDigest: string, now: number): Promise<void>;
  /**
   * Revokes every refresh-token family of user × client and every access token linked to that pair, e.g. on
   * consent withdrawal. Returns the number of refresh tokens newly revoked.
   */
  revokeUserClientGrants(userId: string, clientId: string, now: number): Promise<number>;
}

export interface Consent {
  userId: string;
  clientId: string;
  scopes: string[];
  /** When the latest scope was granted. */
  grantedAt: number;
}

export interface ConsentStore {
  /** Scopes the user already granted the client: the consent page asks only for new ones (docs/oauth-rules.md). */
  grantedScopes(userId: string, clientId: string): Promise<string[]>;
  /** Adds scopes to the user × client consent. */
  grant(userId: string, clientId: string, scopes: string[], now: number): Promise<void>;
  list(filter?: { userId?: string; clientId?: string }): Promise<Consent[]>;
  /**
   * Withdraws the consent and revokes that grant's refresh tokens and their access tokens, appending a `user_client`
   * entry to the revocation feed; returns whether any existed.
   */
  revoke(userId: string, clientId: string, now: number): Promise<boolean>;
}

export interface SecretStore {
  /**
   * The named server secret, created with `create()` and stored on first use; a concurrent first use by another
   * process is resolved by the database (the first insert wins and both return it). Used by app.ts for the
   * session-cookie key. Every value is encrypted at rest by the store itself when the database is under a
   * key-encryption key, whatever its name.
   */
  getOrCreate(name: string, create: () => Uint8Array, now: number): Promise<Buffer>;
}

/**
 * One entry of the revocation feed (endpoints/revocations.ts; docs/revocation-feed.md): it covers one access token or
 * every token of a kind. Times are whole seconds since the epoch, as in the JWT's `iat` and `exp`; an `issuedBefore`
 * entry covers the tokens whose `iat` is at or before it.
 */
export type RevocationEntry =
  | { kind: "token"; jti: string; exp: number }
  | { kind: "user_client"; sub: string; clientId: string; issuedBefore: number }
  | { kind: "user"; sub: string; issuedBefore: number }
  | { kind: "client"; clientId: string; issuedBefore: number }
  | { kind: "key"; kid: string };

/** An entry as the feed hands it out: its position (ascending, committed in order) and when it may be forgotten (s). */
export type RevocationFeedEntry = RevocationEntry & { position: number; dropAfter: number };

/** One page of the feed, read from one consistent view of the database. */
export interface RevocationFeedPage {
  entries: RevocationFeedEntry[];
  /** The newest committed position (0: nothing ever appended); every entry up to it is visible to this reader. */
  newest: number;
  /** The database's random epoch: a cursor of another epoch (another database, a copy) is not this feed's. */
  epoch: string;
}

export interface RevocationFeedStore {
  /**
   * Appends entries in the caller's transaction (use tx.revocationFeed inside storage.transaction); positions commit
   * in order across nodes. Times `now` in ms, as everywhere in storage.
   */
  append(entries: readonly RevocationEntry[], now: number): Promise<void>;
  /** Entries after `position` (null: from the start) not yet droppable at `now`, at most `limit`, in position order. */
  page(after: number | null, limit: number, now: number): Promise<RevocationFeedPage>;
  /** Whether an access token with these claims is covered by an entry (introspection agrees with the feed). */
  covers(
    token: { jti: string; sub: string; clientId: string; iat: number; kid: string },
    now: number,
  ): Promise<boolean>;
}

/** Encryption at rest of the private signing keys and the server secrets (storage/encryption.ts). */
export interface KeyEncryptionStatus {
  /** The key-encryption key new values are sealed under; null while they are stored in the clear. */
  kekId: string | null;
  sealed: { signingKeys: number; serverSecrets: number };
  inTheClear: { signingKeys: number; serverSecrets: number };
}

export interface KeyEncryptionStore {
  status(): Promise<KeyEncryptionStatus>;
  /** Re-encrypts every sealed value under `next` in one transaction; storage must have been opened with the current key. */
  rotate(next: KeyEncryptionKey): Promise<KeyEncryptionStatus>;
}

/**
 * The login throttle's state (session/throttle.ts), shared by every process on the database so that its limits hold
 * whichever process an attempt reaches. Keys are SHA-256 digests, hex: a copy of the database lists no username or
 * client address.
 */
export interface LoginThrottleRecord {
  /** Failure times of one account from one address or known device, oldest first; empty when there are none. */
  failures: number[];
  /** The account's next scheduled attempt in the cell rate algorithm; null while the account is idle. */
  accountNextAttemptAt: number | null;
}

export interface LoginThrottleStore {
  /**
   * The record of one attempt, its rows locked until the transaction ends: called in `transaction`, so that concurrent
   * attempts on one account, from any process, take turns reading and writing it.
   */
  lock(pairDigest: string, accountDigest: string): Promise<LoginThrottleRecord>;
  /**
   * Writes the record back (in the same transaction). No failures, or no schedule, deletes that row: the table holds
   * only accounts and pairs with something to remember. `failuresExpireAt`: when the last failure leaves the window.
   */
  save(pairDigest: string, accountDigest: string, record: LoginThrottleRecord, failuresExpireAt: number): Promise<void>;
}

/** What one round of purgeExpired deleted; `skipped` when another process was purging the database at that moment. */
export type PurgeResult =
  | {
      skipped: false;
      codes: number;
      refreshTokens: number;
      revokedJtis: number;
      accessTokenLinks: number;
      /** Login-throttle rows whose failures left the window or whose account is idle again. */
      loginThrottle: number;
      /** Revocation-feed entries past their drop_after: no token they cover can still be accepted. */
      revocationEntries: number;
    }
  | { skipped: true };

export interface Storage {
  clients: ClientStore;
  scopes: ScopeStore;
  users: UserStore;
  keys: KeyStore;
  codes: CodeStore;
  refreshTokens: RefreshTokenStore;
  revocations: RevocationStore;
  consents: ConsentStore;
  secrets: SecretStore;
  browserSessions: BrowserSessionStore;
  keyEncryption: KeyEncryptionStore;
  loginThrottle: LoginThrottleStore;
  revocationFeed: RevocationFeedStore;
  /**
   * Runs `fn` in one write transaction (all-or-nothing), serialised with the writers of other processes on the same
   * database. `tx` is this storage bound to the transaction: only the stores reached through `tx` run inside it, so
   * inside `fn` every call goes through `tx`. `tx.transaction(...)` joins the outer transaction. `fn` may be run again
   * when the database stayed locked or a concurrent writer won, so it must not act outside the storage.
   */
  transaction<T>(fn: (tx: Storage) => Promise<T>): Promise<T>;
  /**
   * Deletes rows that can no longer matter: expired codes and refresh tokens, revoked jtis past expiry, login-throttle
   * state that no limit reads any more. One process at a time per database: a process that finds another purging
   * skips the round instead of waiting behind it.
   */
  purgeExpired(now: number): Promise<PurgeResult>;
  /** The engine and how busy its connections are, read from memory without a query (the metrics scrape). */
  connections(): ConnectionUsage;
  close(): Promise<void>;
}

/**
 * PostgreSQL: the pool's connections (open, idle) and the requests waiting for one. SQLite: its one connection, and
 * the operations queued behind a write transaction (storage/sqlite/gate.ts).
 */
export interface ConnectionUsage {
  engine: "sqlite" | "postgres";
  total: number;
  idle: number;
  waiting: number;
}
