// `authz-server consents list|revoke` on a database holding a consent and a refresh-token
// family; withdrawal revokes the grant's refresh tokens (RFC 7009 §2.1). Runs the compiled bin.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { openStorage } from "../../../authz-server/src/storage/index.ts";
import { tempDir } from "../helpers.ts";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const bin = join(root, "authz-server/bin/authz-server.js");
const environment = Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== "AUTHZ_DB"));

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [bin, ...args], {
      cwd: root,
      env: environment,
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error: unknown) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("authz-server consents", () => {
  const temp = tempDir();
  const db = join(temp.dir, "authz.db");
  const grantedAt = Date.UTC(2030, 0, 1);
  before(async () => {
    const storage = await openStorage(db);
    await storage.scopes.create({ name: "photos", description: "See your photos", resource: null });
    await storage.users.create({ id: "u-alice", username: "alice", passwordHash: "x", createdAt: grantedAt });
    await storage.users.create({ id: "u-bob", username: "bob", passwordHash: "x", createdAt: grantedAt });
    await storage.clients.create({
      clientId: "canon",
      name: "Canon Printing",
      secretDigest: "00".repeat(32),
      redirectUris: ["http://localhost:3000/callback"],
      grantTypes: ["authorization_code", "refresh_token"],
      scopes: ["photos"],
      tokenEndpointAuthMethod: "client_secret_basic",
      createdAt: grantedAt,
    });
    await storage.consents.grant("u-alice", "canon", ["photos"], grantedAt);
    await storage.consents.grant("u-bob", "canon", ["photos"], grantedAt);
    for (const [digest, userId] of [
      ["d-alice", "u-alice"],
      ["d-bob", "u-bob"],
    ] as const) {
      await storage.refreshTokens.create({
        tokenDigest: digest,
        familyId: `f-${userId}`,
        parentDigest: null,
        codeDigest: null,
        clientId: "canon",
        userId,
        scope: "photos",
        resources: [],
        createdAt: grantedAt,
        rotatedAt: null,
        idleExpiresAt: Date.UTC(2100, 0, 1),
        absoluteExpiresAt: Date.UTC(2100, 0, 1),
        revokedAt: null,
      });
    }
    await storage.close();
  });
  after(() => temp.remove());

  it("lists consents, filtered by user and client", async () => {
    const all = await cli(["consents", "list", "--db", db, "--json"]);
    assert.equal(all.code, 0, all.stderr);
    const row = (user: string, id: string) => ({
      user,
      user_id: id,
      client_id: "canon",
      client_name: "Canon Printing",
      scopes: ["photos"],
      granted_at: "2030-01-01T00:00:00.000Z",
    });
    assert.deepEqual(JSON.parse(all.stdout), [row("alice", "u-alice"), row("bob", "u-bob")]);
    const mine = await cli(["consents", "list", "--user", "alice", "--client", "canon", "--db", db, "--json"]);
    assert.deepEqual(JSON.parse(mine.stdout), [row("alice", "u-alice")]);
    const none = await cli(["consents", "list", "--client", "other", "--db", db, "--json"]);
    assert.deepEqual(JSON.parse(none.stdout), []);
    const text = await cli(["consents", "list", "--user", "bob", "--db", db]);
    assert.equal(text.stdout, "bob\tcanon\tCanon Printing\tphotos\t2030-01-01T00:00:00.000Z\n");
    const unknown = await cli(["consents", "list", "--user", "mallory", "--db", db]);
    assert.deepEqual([unknown.code, unknown.stderr], [1, "authz-server: no such user: mallory\n"]);
  });

  it("revokes one user's consent and that grant's refresh tokens only", async () => {
    const revoked = await cli(["consents", "revoke", "--user", "alice", "--client", "canon", "--db", db, "--json"]);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.deepEqual(JSON.parse(revoked.stdout), { user: "alice", client_id: "canon", revoked: true });
    const storage = await openStorage(db);
    try {
      assert.notEqual((await storage.refreshTokens.find("d-alice"))?.revokedAt, null);
      assert.equal((await storage.refreshTokens.find("d-bob"))?.revokedAt, null);
      assert.deepEqual(
        (await storage.consents.list()).map((c) => c.userId),
        ["u-bob"],
      );
    } finally {
      await storage.close();
    }
    const again = await cli(["consents", "revoke", "--user", "alice", "--client", "canon", "--db", db]);
    assert.deepEqual([again.code, again.stderr], [1, "authz-server: alice has no consent or grant for client canon\n"]);
    const missing = await cli(["consents", "revoke", "--user", "alice", "--db", db]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /required option '--client <id>' not specified/);
  });
});
