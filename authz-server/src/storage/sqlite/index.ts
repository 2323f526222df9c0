import type { Storage } from "../types.js";
import { sqliteClientStore } from "./clients.js";
import { sqliteCodeStore } from "./codes.js";
import { sqliteConsentStore } from "./consents.js";
import { openDatabase } from "./database.js";
import { sqliteKeyStore } from "./keys.js";
import { sqliteRefreshTokenStore } from "./refresh-tokens.js";
import { sqliteRevocationStore } from "./revocations.js";
import { sqliteScopeStore } from "./scopes.js";
import { sqliteSecretStore } from "./secrets.js";
import { sqliteUserStore } from "./users.js";

/** The SQLite implementation of Storage: one file, WAL, statements prepared once here at open. */
export function openSqliteStorage(path: string): Storage {
  const db = openDatabase(path);
  const revocations = sqliteRevocationStore(db);
  const purgeCodes = db.prepare("DELETE FROM authorization_codes WHERE expires_at < ?");
  // A refresh token is kept while it could still be presented (to detect reuse) and until its absolute expiry.
  const purgeRefresh = db.prepare("DELETE FROM refresh_tokens WHERE absolute_expires_at < ? OR idle_expires_at < ?");
  const purgeRevoked = db.prepare("DELETE FROM revoked_access_tokens WHERE expires_at < ?");
  const purgeLinks = db.prepare("DELETE FROM access_token_links WHERE expires_at < ?");
  const purge = db.transaction((now: number) => ({
    codes: purgeCodes.run(now).changes,
    refreshTokens: purgeRefresh.run(now, now).changes,
    revokedJtis: purgeRevoked.run(now).changes,
    accessTokenLinks: purgeLinks.run(now).changes,
  }));
  return {
    clients: sqliteClientStore(db),
    scopes: sqliteScopeStore(db),
    users: sqliteUserStore(db),
    keys: sqliteKeyStore(db),
    codes: sqliteCodeStore(db),
    refreshTokens: sqliteRefreshTokenStore(db),
    revocations,
    consents: sqliteConsentStore(db, revocations),
    secrets: sqliteSecretStore(db),
    transaction: (fn) => db.transaction(fn)(),
    purgeExpired: (now) => purge(now),
    close: () => db.close(),
  };
}
