import assert from "node:assert/strict";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import { checkPassword, hashPassword, verifyPassword } from "../../../authz-server/src/passwords.ts";
import { digest, matchesDigest } from "../../../authz-server/src/secrets.ts";
import { openStorage } from "../../../authz-server/src/storage/index.ts";
import { openSqliteStorage } from "../../../authz-server/src/storage/sqlite/index.ts";
import { migrations } from "../../../authz-server/src/storage/sqlite/migrations.ts";
import { tempDir } from "../helpers.ts";
import { storageContract } from "./contract.ts";

const t0 = Date.UTC(2030, 0, 1);

storageContract("SQLite", (options) => Promise.resolve(openSqliteStorage(":memory:", options)));

describe("SQLite storage transactions", () => {
  it("refuse a call that bypasses the transaction's handle, instead of waiting for it forever", async () => {
    const storage = openSqliteStorage(":memory:");
    try {
      await assert.rejects(
        storage.transaction(() => storage.users.findById("u1")),
        { message: "storage used directly inside its own transaction: use the transaction's handle (tx)" },
      );
      await assert.rejects(
        storage.transaction((tx) => tx.transaction(() => storage.transaction(() => Promise.resolve()))),
        { message: "storage used directly inside its own transaction: use the transaction's handle (tx)" },
      );
      assert.equal(await storage.users.findById("u1"), undefined, "the gate is open again");
    } finally {
      await storage.close();
    }
  });

  it("refuse a transaction's handle once the transaction ended", async () => {
    const storage = openSqliteStorage(":memory:");
    try {
      const handle = await storage.transaction((tx) => Promise.resolve(tx));
      await assert.rejects(handle.users.findById("u1"), {
        message: "a transaction's handle was used after the transaction ended",
      });
    } finally {
      await storage.close();
    }
  });
});

describe("SQLite storage file", () => {
  const temp = tempDir();
  const dbPath = join(temp.dir, "nested", "authz.db");
  after(() => temp.remove());

  it("opens in WAL mode at the latest migration, and re-opening keeps the data", async () => {
    const storage = await openStorage(dbPath);
    await storage.users.create({ id: "u1", username: "alice", passwordHash: "x", createdAt: t0 });
    await storage.close();
    const db = new Database(dbPath, { readonly: true });
    try {
      assert.equal(db.pragma("journal_mode", { simple: true }), "wal");
      assert.equal(db.pragma("user_version", { simple: true }), migrations.at(-1)?.version);
    } finally {
      db.close();
    }
    const again = await openStorage(dbPath);
    assert.equal((await again.users.findByUsername("alice"))?.id, "u1");
    await again.close();
  });
});

describe("secrets and passwords", () => {
  it("compares client secrets against their SHA-256 digest", () => {
    const stored = digest("correct horse");
    assert.equal(stored.length, 64);
    assert.equal(matchesDigest("correct horse", stored), true);
    assert.equal(matchesDigest("correct horsf", stored), false);
  });

  it("hashes passwords with scrypt and verifies them", async () => {
    const hash = await hashPassword("s3cret-password");
    assert.match(hash, /^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    assert.notEqual(await hashPassword("s3cret-password"), hash, "salted");
    assert.equal(await verifyPassword("s3cret-password", hash), true);
    assert.equal(await verifyPassword("s3cret-passwore", hash), false);
    assert.equal(await verifyPassword("s3cret-password", "plain"), false);
    assert.equal(await checkPassword("anything", undefined), false);
  });
});

describe("SQLite migrations", () => {
  it("upgrades a version-2 database in place, keeping its rows (migration 3: access_token_links.user_id)", async () => {
    const temp = tempDir();
    try {
      const path = join(temp.dir, "v2.db");
      const old = new Database(path);
      for (const migration of migrations.filter((m) => m.version <= 2)) old.exec(migration.sql);
      old.pragma("user_version = 2");
      old
        .prepare(
          "INSERT INTO access_token_links (jti, client_id, family_id, code_digest, expires_at) VALUES ('old', 'c', NULL, NULL, ?)",
        )
        .run(t0);
      old.close();
      const storage = await openStorage(path);
      await storage.close();
      const db = new Database(path, { readonly: true });
      try {
        assert.equal(db.pragma("user_version", { simple: true }), migrations.at(-1)?.version);
        assert.deepEqual(db.prepare("SELECT jti, client_id, user_id FROM access_token_links").all(), [
          { jti: "old", client_id: "c", user_id: null },
        ]);
      } finally {
        db.close();
      }
    } finally {
      temp.remove();
    }
  });
});

describe("SQLite revocation feed table (migration 10)", () => {
  it("starts at position 0 under a random epoch, and refuses an entry missing its kind's claims or naming both user and client for one", () => {
    const db = new Database(":memory:");
    try {
      for (const migration of migrations) db.exec(migration.sql);
      const feed = db.prepare<[], { last: number; epoch: string }>("SELECT last, epoch FROM revocation_feed").all();
      assert.equal(feed.length, 1);
      assert.equal(feed[0]?.last, 0);
      assert.match(feed[0]?.epoch ?? "", /^[0-9a-f]{32}$/);
      const insert = db.prepare(
        "INSERT INTO revocation_feed_entries (position, kind, jti, exp, sub, client_id, issued_before, kid, drop_after) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
      );
      insert.run(1, "user_client", null, null, "u", "c", 1, null);
      for (const row of [
        [2, "token", "jti", null, null, null, null, null],
        [3, "key", null, null, null, null, null, null],
        [4, "user", null, null, "u", "c", 1, null],
        [5, "client", null, null, "u", "c", 1, null],
        [6, "user_client", null, null, "u", "c", null, null],
        [7, "group", null, null, "u", null, 1, null],
      ])
        assert.throws(() => insert.run(...row), { code: "SQLITE_CONSTRAINT_CHECK" }, String(row[1]));
    } finally {
      db.close();
    }
  });
});
