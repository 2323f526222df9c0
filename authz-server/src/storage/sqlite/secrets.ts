import type { SecretStore } from "../types.js";
import type { Db } from "./database.js";

export function sqliteSecretStore(db: Db): SecretStore {
  const insert = db.prepare("INSERT OR IGNORE INTO server_secrets (name, value, created_at) VALUES (?, ?, ?)");
  const select = db.prepare<[string], Buffer>("SELECT value FROM server_secrets WHERE name = ?").pluck();
  return {
    getOrCreate(name, create, now) {
      const existing = select.get(name);
      if (existing) return existing;
      // INSERT OR IGNORE then re-read: if another process inserted first, its value is the one used.
      insert.run(name, Buffer.from(create()), now);
      const stored = select.get(name);
      if (!stored) throw new Error(`server secret ${name} could not be stored`);
      return stored;
    },
  };
}
