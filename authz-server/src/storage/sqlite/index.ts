import type { ConnectionUsage, Storage } from "../types.js";
import { sqliteBrowserSessionStore } from "./browser-sessions.js";
import { sqliteClientStore } from "./clients.js";
import { sqliteCodeStore } from "./codes.js";
import { sqliteConsentStore } from "./consents.js";
import type { KeyEncryptionKey } from "../encryption.js";
import { type Db, openDatabase, type OpenOptions, writeTransactionAsync, writeTransactional } from "./database.js";
import { Gate } from "./gate.js";
import { Sealer } from "./key-encryption.js";
import { sqliteKeyStore } from "./keys.js";
import { sqliteLoginThrottleStore } from "./login-throttle.js";
import { liveFrom } from "../revocation-feed.js";
import { sqliteRefreshTokenStore } from "./refresh-tokens.js";
import { sqliteRevocationFeedStore } from "./revocation-feed.js";
import { sqliteGrantRevoker, sqliteRevocationStore } from "./revocations.js";
import { sqliteScopeStore } from "./scopes.js";
import { sqliteSecretStore } from "./secrets.js";
import type { Synchronous } from "./synchronous.js";
import { sqliteUserStore } from "./users.js";

type Stores = Omit<Storage, "transaction" | "connections" | "close">;

/**
 * The SQLite implementation of Storage: one file, WAL, statements prepared once here at open. The stores run
 * synchronously; every call goes through the gate, which a transaction holds from BEGIN to COMMIT (gate.ts).
 */
export function openSqliteStorage(
  path: string,
  options: OpenOptions & { keyEncryptionKey?: KeyEncryptionKey } = {},
): Storage {
  const db = openDatabase(path, options);
  let stores: Synchronous<Stores>;
  try {
    stores = synchronousStores(db, options.keyEncryptionKey);
  } catch (error: unknown) {
    db.close();
    throw error;
  }
  const gate = new Gate();
  // One connection, busy while a transaction holds the gate; `waiting` counts the calls queued behind it.
  const connections = (): ConnectionUsage => ({
    engine: "sqlite",
    total: 1,
    idle: gate.held ? 0 : 1,
    waiting: gate.waiting,
  });
  // Bound to an open transaction: the gate is already held, so its calls run at once, inside the transaction.
  const handleOf = (active: () => boolean): Storage => {
    const tx: Storage = {
      ...asynchronous(stores, (op) =>
        active()
          ? new Promise((resolve) => resolve(op()))
          : Promise.reject(new Error("a transaction's handle was used after the transaction ended")),
      ),
      transaction: (fn) => fn(tx),
      connections,
      close: () => Promise.reject(new Error("storage cannot be closed inside a transaction")),
    };
    return tx;
  };
  return {
    ...asynchronous(stores, (op) => gate.run(op)),
    transaction: (fn) =>
      gate.hold(async () => {
        let active = true;
        try {
          return await writeTransactionAsync(db, () => fn(handleOf(() => active)));
        } finally {
          active = false;
        }
      }),
    connections,
    close: () =>
      gate.run(() => {
        db.close();
      }),
  };
}

function synchronousStores(db: Db, keyEncryptionKey: KeyEncryptionKey | undefined): Synchronous<Stores> {
  // With a key-encryption key, seals what is still in the clear and checks every sealed value (key-encryption.ts).
  const sealer = new Sealer(db, keyEncryptionKey);
  const revocationFeed = sqliteRevocationFeedStore(db);
  const revoker = sqliteGrantRevoker(db);
  const purgeCodes = db.prepare("DELETE FROM authorization_codes WHERE expires_at < ?");
  // A refresh token is kept while it could still be presented (to detect reuse) and until its absolute expiry.
  const purgeRefresh = db.prepare("DELETE FROM refresh_tokens WHERE absolute_expires_at < ? OR idle_expires_at < ?");
  const purgeRevoked = db.prepare("DELETE FROM revoked_access_tokens WHERE expires_at < ?");
  const purgeLinks = db.prepare("DELETE FROM access_token_links WHERE expires_at < ?");
  // A failure count matters until its last failure leaves the window; an account's schedule until it is idle again.
  const purgeThrottleFailures = db.prepare("DELETE FROM login_throttle_failures WHERE expires_at <= ?");
  const purgeThrottleAccounts = db.prepare("DELETE FROM login_throttle_accounts WHERE next_attempt_at <= ?");
  // An entry goes once no gateway can still accept a token it covers (drop_after, whole seconds).
  const purgeFeed = db.prepare("DELETE FROM revocation_feed_entries WHERE drop_after < ?");
  // Never skipped: the IMMEDIATE transaction already makes a second process's purge wait its turn.
  const purge = writeTransactional(db, (now: number) => ({
    skipped: false as const,
    codes: purgeCodes.run(now).changes,
    refreshTokens: purgeRefresh.run(now, now).changes,
    revokedJtis: purgeRevoked.run(now).changes,
    accessTokenLinks: purgeLinks.run(now).changes,
    loginThrottle: purgeThrottleFailures.run(now).changes + purgeThrottleAccounts.run(now).changes,
    revocationEntries: purgeFeed.run(liveFrom(now)).changes,
  }));
  return {
    clients: sqliteClientStore(db, revocationFeed),
    scopes: sqliteScopeStore(db),
    users: sqliteUserStore(db, revocationFeed),
    keys: sqliteKeyStore(db, sealer, revocationFeed),
    codes: sqliteCodeStore(db),
    refreshTokens: sqliteRefreshTokenStore(db),
    revocations: sqliteRevocationStore(db, revoker, revocationFeed),
    consents: sqliteConsentStore(db, revoker, revocationFeed),
    secrets: sqliteSecretStore(db, sealer),
    browserSessions: sqliteBrowserSessionStore(db),
    keyEncryption: { status: () => sealer.status(), rotate: (next) => sealer.rotate(next) },
    loginThrottle: sqliteLoginThrottleStore(db),
    revocationFeed,
    purgeExpired: (now) => purge(now),
  };
}

/** The asynchronous stores: each method runs its synchronous counterpart through `run`. */
function asynchronous(stores: Synchronous<Stores>, run: <T>(op: () => T) => Promise<T>): Stores {
  // Each method of `store` keeps its parameters and returns a promise of its result: Synchronous<S> undone.
  const wrap = <S>(store: Synchronous<S>): S =>
    Object.fromEntries(
      Object.entries(store as object).map(([name, method]) => [
        name,
        (...args: unknown[]) => run(() => (method as (...a: unknown[]) => unknown).apply(store, args)),
      ]),
    ) as S;
  return {
    clients: wrap(stores.clients),
    scopes: wrap(stores.scopes),
    users: wrap(stores.users),
    keys: wrap(stores.keys),
    codes: wrap(stores.codes),
    refreshTokens: wrap(stores.refreshTokens),
    revocations: wrap(stores.revocations),
    consents: wrap(stores.consents),
    secrets: wrap(stores.secrets),
    browserSessions: wrap(stores.browserSessions),
    keyEncryption: wrap(stores.keyEncryption),
    loginThrottle: wrap(stores.loginThrottle),
    revocationFeed: wrap(stores.revocationFeed),
    purgeExpired: (now) => run(() => stores.purgeExpired(now)),
  };
}
