import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import { checkPassword, hashPassword, verifyPassword } from "../../../authz-server/src/passwords.ts";
import { digest, matchesDigest } from "../../../authz-server/src/secrets.ts";
import { openSqliteStorage } from "../../../authz-server/src/storage/sqlite/index.ts";
import { migrations } from "../../../authz-server/src/storage/sqlite/migrations.ts";
import type { RefreshToken, Storage } from "../../../authz-server/src/storage/types.ts";
import { tempDir } from "../helpers.ts";

const t0 = Date.UTC(2030, 0, 1);

describe("SQLite storage", () => {
  const temp = tempDir();
  let storage: Storage;
  const dbPath = join(temp.dir, "nested", "authz.db");

  before(() => {
    storage = openSqliteStorage(dbPath);
    storage.clients.create({
      clientId: "canon",
      name: "Canon Printing",
      secretDigest: digest("s"),
      redirectUris: ["http://localhost:3000/callback"],
      grantTypes: ["authorization_code", "refresh_token"],
      scopes: ["photos"],
      tokenEndpointAuthMethod: "client_secret_basic",
      createdAt: t0,
    });
    storage.users.create({ id: "u1", username: "alice", passwordHash: "x", createdAt: t0 });
  });
  after(() => {
    storage.close();
    temp.remove();
  });

  it("opens in WAL mode at the latest migration", () => {
    const db = new Database(dbPath, { readonly: true });
    try {
      assert.equal(db.pragma("journal_mode", { simple: true }), "wal");
      assert.equal(db.pragma("user_version", { simple: true }), migrations.at(-1)?.version);
    } finally {
      db.close();
    }
    // Re-opening applies nothing and keeps the data.
    const again = openSqliteStorage(dbPath);
    assert.equal(again.clients.find("canon")?.name, "Canon Printing");
    again.close();
  });

  it("redeems an authorization code exactly once", () => {
    const codeDigest = digest("code-1");
    storage.codes.create({
      codeDigest,
      clientId: "canon",
      userId: "u1",
      redirectUri: "http://localhost:3000/callback",
      codeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
      codeChallengeMethod: "S256",
      scope: "photos",
      resources: ["http://localhost:8080/"],
      createdAt: t0,
      expiresAt: t0 + 60_000,
      consumedAt: null,
    });
    assert.deepEqual(storage.codes.find(codeDigest)?.resources, ["http://localhost:8080/"]);
    assert.equal(storage.codes.consume(codeDigest, t0 + 1000), true);
    assert.equal(storage.codes.consume(codeDigest, t0 + 2000), false);
    assert.equal(storage.codes.find(codeDigest)?.consumedAt, t0 + 1000);
    assert.equal(storage.codes.find(digest("unknown")), undefined);
  });

  function refresh(token: string, familyId: string, parent: string | null, codeDigest: string | null): RefreshToken {
    return {
      tokenDigest: digest(token),
      familyId,
      parentDigest: parent === null ? null : digest(parent),
      codeDigest,
      clientId: "canon",
      userId: "u1",
      scope: "photos",
      resources: [],
      createdAt: t0,
      rotatedAt: null,
      idleExpiresAt: t0 + 3_600_000,
      absoluteExpiresAt: t0 + 7_200_000,
      revokedAt: null,
    };
  }

  it("revokes a refresh family together with the access tokens linked to it", () => {
    storage.refreshTokens.create(refresh("r1", "fam-1", null, digest("code-1")));
    assert.equal(storage.refreshTokens.markRotated(digest("r1"), t0 + 5), true);
    assert.equal(storage.refreshTokens.markRotated(digest("r1"), t0 + 6), false);
    storage.refreshTokens.create(refresh("r2", "fam-1", "r1", digest("code-1")));
    storage.revocations.linkAccessToken({
      jti: "at-1",
      clientId: "canon",
      userId: "u1",
      familyId: "fam-1",
      codeDigest: digest("code-1"),
      expiresAt: t0 + 600_000,
    });
    storage.revocations.linkAccessToken({
      jti: "at-2",
      clientId: "canon",
      userId: "u1",
      familyId: "fam-1",
      codeDigest: null,
      expiresAt: t0 + 600_000,
    });
    assert.deepEqual(
      storage.refreshTokens.family("fam-1").map((t) => t.parentDigest),
      [null, digest("r1")],
    );

    assert.equal(storage.revocations.revokeFamily("fam-1", t0 + 10), 2);
    assert.equal(storage.revocations.revokeFamily("fam-1", t0 + 11), 0, "already revoked");
    assert.equal(storage.refreshTokens.find(digest("r2"))?.revokedAt, t0 + 10);
    assert.equal(storage.revocations.isAccessTokenRevoked("at-1"), true);
    assert.equal(storage.revocations.isAccessTokenRevoked("at-2"), true);
  });

  it("revokes everything issued from a replayed code", () => {
    const code = digest("code-2");
    storage.refreshTokens.create(refresh("r3", "fam-2", null, code));
    storage.revocations.linkAccessToken({
      jti: "at-3",
      clientId: "canon",
      userId: "u1",
      familyId: "fam-2",
      codeDigest: code,
      expiresAt: t0 + 600_000,
    });
    storage.revocations.revokeCodeGrant(code, t0 + 20);
    assert.equal(storage.refreshTokens.find(digest("r3"))?.revokedAt, t0 + 20);
    assert.equal(storage.revocations.isAccessTokenRevoked("at-3"), true);
  });

  it("remembers consent per user × client and withdrawal revokes that grant's refresh tokens", () => {
    storage.refreshTokens.create(refresh("r4", "fam-3", null, null));
    storage.consents.grant("u1", "canon", ["photos"], t0);
    storage.consents.grant("u1", "canon", ["photos", "profile"], t0 + 1);
    assert.deepEqual(storage.consents.grantedScopes("u1", "canon"), ["photos", "profile"]);
    assert.deepEqual(storage.consents.list({ userId: "u1" }), [
      { userId: "u1", clientId: "canon", scopes: ["photos", "profile"], grantedAt: t0 + 1 },
    ]);
    assert.equal(storage.consents.revoke("u1", "canon", t0 + 30), true);
    assert.deepEqual(storage.consents.grantedScopes("u1", "canon"), []);
    assert.equal(storage.refreshTokens.find(digest("r4"))?.revokedAt, t0 + 30);
    assert.equal(storage.consents.revoke("u1", "nobody", t0 + 31), false);
  });

  it("purges expired rows only", () => {
    storage.revocations.revokeAccessToken("at-late", t0 + 10_000_000, t0);
    const purged = storage.purgeExpired(t0 + 7_200_001);
    assert.deepEqual(purged, { codes: 1, refreshTokens: 4, revokedJtis: 3, accessTokenLinks: 3 });
    assert.equal(storage.revocations.isAccessTokenRevoked("at-late"), true);
    assert.deepEqual(storage.purgeExpired(t0 + 7_200_001), {
      codes: 0,
      refreshTokens: 0,
      revokedJtis: 0,
      accessTokenLinks: 0,
    });
  });

  it("deleting a user removes their grants", () => {
    storage.consents.grant("u1", "canon", ["photos"], t0);
    assert.equal(storage.users.delete("alice"), true);
    assert.equal(storage.users.findById("u1"), undefined);
    assert.deepEqual(storage.consents.list(), []);
    assert.equal(storage.users.delete("alice"), false);
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
  it("upgrades a version-2 database in place, keeping its rows (migration 3: access_token_links.user_id)", () => {
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
      const storage = openSqliteStorage(path);
      storage.close();
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
