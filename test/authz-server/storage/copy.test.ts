// The copy of a SQLite database into PostgreSQL (storage/copy.ts), table by table: which tables it carries and which
// it leaves behind, which rows (those the server still uses, whatever their state), and an older source schema.
import assert from "node:assert/strict";
import { chmodSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import pg from "pg";
import {
  copiedTables,
  copySqliteToPostgres,
  isSkipped,
  skippedTables,
} from "../../../authz-server/src/storage/copy.ts";
import { openStorage } from "../../../authz-server/src/storage/index.ts";
import { migrations } from "../../../authz-server/src/storage/sqlite/migrations.ts";
import type { RefreshToken, RevocationFeedPage } from "../../../authz-server/src/storage/types.ts";
import { startTestPostgres, type TestPostgres } from "../../helpers/postgres.ts";
import { tempDir } from "../helpers.ts";

const NOW = Date.UTC(2026, 5, 1);
const copiedNames = copiedTables.map((table) => table.name);

/** The tables of a SQLite file, SQLite's own excepted. */
function sqliteTables(path: string): string[] {
  const db = new Database(path, { readonly: true });
  try {
    return db
      .prepare<[], string>(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
      )
      .pluck()
      .all();
  } finally {
    db.close();
  }
}

function sqliteColumns(path: string, table: string): string[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare<[], string>(`SELECT name FROM pragma_table_info('${table}')`).pluck().all();
  } finally {
    db.close();
  }
}

async function postgresColumns(url: string, table: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query<{ column_name: string }>(
      "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1",
      [table],
    );
    return result.rows.map((row) => row.column_name);
  } finally {
    await client.end();
  }
}

function refreshToken(digest: string, fields: Partial<RefreshToken>): RefreshToken {
  return {
    tokenDigest: digest,
    familyId: "family-1",
    parentDigest: null,
    codeDigest: "code-live",
    clientId: "client-1",
    userId: "user-1",
    scope: "photos",
    resources: ["http://localhost:8000/flickr"],
    createdAt: NOW - 60_000,
    rotatedAt: null,
    idleExpiresAt: NOW + 60_000,
    absoluteExpiresAt: NOW + 600_000,
    revokedAt: null,
    ...fields,
  };
}

describe("copying a SQLite database into PostgreSQL", () => {
  const temp = tempDir();
  let postgres: TestPostgres;

  before(async () => {
    postgres = await startTestPostgres();
  });
  after(async () => {
    await postgres.close();
    temp.remove();
  });

  it("copies or deliberately skips every table of the SQLite schema, and names no table that is not there", async () => {
    const file = join(temp.dir, "schema.db");
    await (await openStorage(file)).close();
    const tables = sqliteTables(file);
    const unaccounted = tables.filter((table) => !copiedNames.includes(table) && !isSkipped(table));
    assert.deepEqual(unaccounted, [], "a table the copy neither copies nor names as skipped");
    for (const name of [...copiedNames, ...Object.keys(skippedTables)]) assert.ok(tables.includes(name), name);
  });

  it("skips the login throttle's transient state by its name prefix", () => {
    assert.equal(isSkipped("login_throttle"), true);
    assert.equal(isSkipped("login_throttle_failures"), true);
    assert.equal(isSkipped("browser_sessions"), true);
    assert.equal(isSkipped("refresh_tokens"), false);
  });

  it("finds on PostgreSQL every column of every table it copies", async () => {
    const file = join(temp.dir, "columns.db");
    await (await openStorage(file)).close();
    const url = await postgres.createDatabase();
    // Opened as `serve` opens it, with no listener for the migration: the schema is created all the same.
    await (await openStorage(url)).close();
    for (const table of copiedNames) {
      const target = await postgresColumns(url, table);
      const missing = sqliteColumns(file, table).filter((column) => !target.includes(column));
      assert.deepEqual(missing, [], `columns of ${table} missing on PostgreSQL`);
    }
  });

  it("copies the rows still in use, whatever their state, and none past their expiry", async () => {
    const file = join(temp.dir, "expiry.db");
    const source = await openStorage(file);
    try {
      const code = {
        clientId: "client-1",
        userId: "user-1",
        redirectUri: "https://canon.example/callback",
        codeChallenge: "challenge",
        codeChallengeMethod: "S256" as const,
        scope: "photos",
        resources: [],
        createdAt: NOW - 30_000,
      };
      await source.codes.create({ ...code, codeDigest: "code-live", expiresAt: NOW + 30_000, consumedAt: NOW - 1 });
      await source.codes.create({ ...code, codeDigest: "code-expired", expiresAt: NOW - 1, consumedAt: null });
      await source.refreshTokens.create(refreshToken("rt-1", { rotatedAt: NOW - 10_000 }));
      await source.refreshTokens.create(refreshToken("rt-2", { parentDigest: "rt-1", revokedAt: NOW - 5_000 }));
      await source.refreshTokens.create(refreshToken("rt-idle", { familyId: "family-2", idleExpiresAt: NOW - 1 }));
      await source.refreshTokens.create(refreshToken("rt-old", { familyId: "family-3", absoluteExpiresAt: NOW - 1 }));
      const link = { clientId: "client-1", userId: "user-1", familyId: "family-1", codeDigest: "code-live" };
      await source.revocations.linkAccessToken({ ...link, jti: "jti-live", expiresAt: NOW + 600_000 });
      await source.revocations.linkAccessToken({ ...link, jti: "jti-expired", expiresAt: NOW - 1 });
      await source.revocations.revokeAccessToken("jti-live", NOW + 600_000, NOW - 1_000);
      await source.revocations.revokeAccessToken("jti-expired", NOW - 1, NOW - 1_000);
    } finally {
      await source.close();
    }

    const url = await postgres.createDatabase();
    const report = await copySqliteToPostgres(file, url, { now: NOW });
    assert.deepEqual(report.copied, {
      key_encryption: 0,
      signing_keys: 0,
      server_secrets: 0,
      scopes: 0,
      clients: 0,
      users: 0,
      consents: 0,
      authorization_codes: 1,
      refresh_tokens: 2,
      access_token_links: 1,
      revoked_access_tokens: 1,
      // Both revocations' entries: a token past its exp stays listed for the gateways' leeway.
      revocation_feed_entries: 2,
    });

    const target = await openStorage(url);
    try {
      // The family as it was: the rotated parent, its revoked successor, the link between them.
      assert.deepEqual(await target.refreshTokens.family("family-1"), [
        refreshToken("rt-1", { rotatedAt: NOW - 10_000 }),
        refreshToken("rt-2", { parentDigest: "rt-1", revokedAt: NOW - 5_000 }),
      ]);
      assert.deepEqual(await target.refreshTokens.family("family-2"), []);
      // The consumed code is still there, so its replay is still detected.
      assert.equal((await target.codes.find("code-live"))?.consumedAt, NOW - 1);
      assert.equal(await target.codes.find("code-expired"), undefined);
      assert.equal(await target.revocations.isAccessTokenRevoked("jti-live"), true);
      assert.equal(await target.revocations.isAccessTokenRevoked("jti-expired"), false);
    } finally {
      await target.close();
    }
  });

  it("copies the revocation feed's entries still needed, positions and all, under a new epoch", async () => {
    const file = join(temp.dir, "feed.db");
    const s = NOW / 1000;
    const source = await openStorage(file);
    let before: RevocationFeedPage;
    try {
      await source.revocationFeed.append(
        [
          { kind: "token", jti: "jti-gone", exp: s - 301 },
          { kind: "token", jti: "jti-leeway", exp: s - 300 },
          { kind: "user", sub: "user-1", issuedBefore: s },
          { kind: "key", kid: "kid-1" },
        ],
        NOW,
      );
      before = await source.revocationFeed.page(null, 10, NOW);
    } finally {
      await source.close();
    }
    assert.deepEqual(
      before.entries.map((e) => e.position),
      [2, 3, 4],
      "the first is droppable already",
    );

    const url = await postgres.createDatabase();
    const report = await copySqliteToPostgres(file, url, { now: NOW });
    assert.equal(report.copied["revocation_feed_entries"], 3);
    const target = await openStorage(url);
    try {
      const after = await target.revocationFeed.page(null, 10, NOW);
      assert.deepEqual(after.entries, before.entries);
      assert.equal(after.newest, 4);
      assert.match(after.epoch, /^[0-9a-f]{32}$/);
      assert.notEqual(after.epoch, before.epoch, "a cursor of the source's epoch is not the target's");
      // New revocations on the target carry on above the copied positions.
      await target.revocationFeed.append([{ kind: "client", clientId: "client-1", issuedBefore: s }], NOW);
      assert.deepEqual(
        (await target.revocationFeed.page(4, 10, NOW)).entries.map((e) => e.position),
        [5],
      );
      assert.equal(
        await target.revocationFeed.covers({ jti: "x", sub: "user-1", clientId: "c", iat: s, kid: "k" }, NOW),
        true,
      );
    } finally {
      await target.close();
    }
  });

  it("migrates a source of an older schema before copying it", async () => {
    const file = join(temp.dir, "older.db");
    const older = migrations.filter((migration) => migration.version <= 7);
    const db = new Database(file);
    try {
      for (const migration of older) db.exec(migration.sql);
      db.pragma("user_version = 7");
      db.prepare(
        "INSERT INTO signing_keys (kid, alg, private_jwk, public_jwk, created_at, activate_at) VALUES (?, ?, ?, ?, ?, ?)",
      ).run("kid-1", "ES256", '{"kty":"EC"}', '{"kty":"EC"}', NOW, NOW);
    } finally {
      db.close();
    }
    chmodSync(file, 0o600);
    const latest = migrations.at(-1)?.version ?? 0;
    const url = await postgres.createDatabase();
    const report = await copySqliteToPostgres(file, url, { now: NOW });
    assert.deepEqual(report.source, { from: 7, to: latest });
    assert.equal(report.kekId, null);
    assert.equal(report.copied["signing_keys"], 1);
  });
});
