import type { Storage } from "../types.js";
import { sqliteBrowserSessionStore } from "./browser-sessions.js";
import { sqliteClientStore } from "./clients.js";
import { sqliteCodeStore } from "./codes.js";
import { sqliteConsentStore } from "./consents.js";
import type { KeyEncryptionKey } from "../encryption.js";
import { openDatabase, type OpenOptions, writeTransaction, writeTransactional } from "./database.js";
import { Sealer } from "./key-encryption.js";
import { sqliteKeyStore } from "./keys.js";
import { sqliteRefreshTokenStore } from "./refresh-tokens.js";
import { sqliteRevocationStore } from "./revocations.js";
import { sqliteScopeStore } from "./scopes.js";
import { sqliteSecretStore } from "./secrets.js";
import { sqliteUserStore } from "./users.js";

/** The SQLite implementation of Storage: one file, WAL, statements prepared once here at open. */
export function openSqliteStorage(
  path: string,
  options: OpenOptions & { keyEncryptionKey?: KeyEncryptionKey } = {},
): Storage {
  const db = openDatabase(path, options);
  let sealer: Sealer;
  try {
    // With a key-encryption key, seals what is still in the clear and checks every sealed value (key-encryption.ts).
    sealer = new Sealer(db, options.keyEncryptionKey);
  } catch (error: unknown) {
    db.close();
    throw error;
  }
  const revocations = sqliteRevocationStore(db);
  const purgeCodes = db.prepare("DELETE FROM authorization_codes WHERE expires_at < ?");
  // A refresh token is kept while it could still be presented (to detect reuse) and until its absolute expiry.
  const purgeRefresh = db.prepare("DELETE FROM refresh_tokens WHERE absolute_expires_at < ? OR idle_expires_at < ?");
  const purgeRevoked = db.prepare("DELETE FROM revoked_access_tokens WHERE expires_at < ?");
  const purgeLinks = db.prepare("DELETE FROM access_token_links WHERE expires_at < ?");
  const purge = writeTransactional(db, (now: number) => ({
    codes: purgeCodes.run(now).changes,
    refreshTokens: purgeRefresh.run(now, now).changes,
    revokedJtis: purgeRevoked.run(now).changes,
    accessTokenLinks: purgeLinks.run(now).changes,
  }));
  return {
    clients: sqliteClientStore(db),
    scopes: sqliteScopeStore(db),
    users: sqliteUserStore(db),
    keys: sqliteKeyStore(db, sealer),
    codes: sqliteCodeStore(db),
    refreshTokens: sqliteRefreshTokenStore(db),
    revocations,
    consents: sqliteConsentStore(db, revocations),
    secrets: sqliteSecretStore(db, sealer),
    browserSessions: sqliteBrowserSessionStore(db),
    keyEncryption: { status: () => sealer.status(), rotate: (next) => sealer.rotate(next) },
    transaction: (fn) => writeTransaction(db, fn),
    purgeExpired: (now) => purge(now),
    close: () => db.close(),
  };
}
