import type { SecretStore } from "../types.js";
import type { Db } from "./database.js";
import { serverSecretColumn, type Sealer } from "./key-encryption.js";
import type { Synchronous } from "./synchronous.js";

interface SecretRow {
  value: Buffer;
  kek_id: string | null;
}

/** Every value goes through the sealer, so a secret added later is encrypted at rest like the session key. */
export function sqliteSecretStore(db: Db, sealer: Sealer): Synchronous<SecretStore> {
  const insert = db.prepare(
    "INSERT OR IGNORE INTO server_secrets (name, value, created_at, kek_id) VALUES (?, ?, ?, ?)",
  );
  const select = db.prepare<[string], SecretRow>("SELECT value, kek_id FROM server_secrets WHERE name = ?");
  const read = (name: string) => {
    const row = select.get(name);
    return row && sealer.unseal(serverSecretColumn, name, row.value, row.kek_id);
  };
  return {
    getOrCreate(name, create, now) {
      const existing = read(name);
      if (existing) return existing;
      // INSERT OR IGNORE then re-read: if another process inserted first, its value is the one used.
      const sealed = sealer.seal(serverSecretColumn, name, Buffer.from(create()));
      insert.run(name, sealed.value, now, sealed.kekId);
      const stored = read(name);
      if (!stored) throw new Error(`server secret ${name} could not be stored`);
      return stored;
    },
  };
}
