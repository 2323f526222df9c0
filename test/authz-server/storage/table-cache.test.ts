import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { digest } from "../../../authz-server/src/secrets.ts";
import { sqliteClientStore } from "../../../authz-server/src/storage/sqlite/clients.ts";
import { openDatabase, type Db } from "../../../authz-server/src/storage/sqlite/database.ts";
import { sqliteRevocationFeedStore } from "../../../authz-server/src/storage/sqlite/revocation-feed.ts";
import { sqliteScopeStore } from "../../../authz-server/src/storage/sqlite/scopes.ts";
import { RECHECK_INTERVAL_MS, TableVersion } from "../../../authz-server/src/storage/sqlite/table-version.ts";
import type { Client } from "../../../authz-server/src/storage/types.ts";
import { tempDir } from "../helpers.ts";

const t0 = Date.UTC(2030, 0, 1);

function client(clientId: string): Client {
  return {
    clientId,
    name: `Client ${clientId}`,
    secretDigest: digest("secret"),
    redirectUris: [],
    grantTypes: ["client_credentials"],
    scopes: ["photos"],
    tokenEndpointAuthMethod: "client_secret_basic",
    createdAt: t0,
  };
}

/**
 * Two connections to one database file stand for the server and a CLI run beside it. The server side's version
 * checks run on a stepped clock, so "within RECHECK_INTERVAL_MS" is exact, not a sleep.
 */
describe("in-memory clients and scopes, invalidated by table_versions (migration 4)", () => {
  const temp = tempDir();
  const path = join(temp.dir, "authz.db");
  let serverDb: Db;
  let cliDb: Db;
  let ms = 0;
  const now = () => ms;

  before(() => {
    serverDb = openDatabase(path);
    cliDb = openDatabase(path);
  });
  after(() => {
    serverDb.close();
    cliDb.close();
    temp.remove();
  });

  it("a client deleted by another process stops being found after at most RECHECK_INTERVAL_MS; a miss is never cached", () => {
    const server = sqliteClientStore(
      serverDb,
      sqliteRevocationFeedStore(serverDb),
      new TableVersion(serverDb, "clients", now),
    );
    const cli = sqliteClientStore(cliDb, sqliteRevocationFeedStore(cliDb));
    assert.equal(server.find("a"), undefined);
    cli.create(client("a"));
    assert.deepEqual(server.find("a"), client("a"), "an unknown id is read again, not remembered as missing");
    assert.ok(cli.delete("a", t0));
    ms += RECHECK_INTERVAL_MS - 1;
    assert.deepEqual(server.find("a"), client("a"), "within the interval the cached row is still used");
    ms += 1;
    assert.equal(server.find("a"), undefined, "deleted client (and its secret digest) gone after the interval");
  });

  it("a change through the server's own store is seen at once; cached clients are frozen", () => {
    const server = sqliteClientStore(
      serverDb,
      sqliteRevocationFeedStore(serverDb),
      new TableVersion(serverDb, "clients", now),
    );
    server.create(client("b"));
    const found = server.find("b");
    assert.deepEqual(found, client("b"));
    assert.ok(Object.isFrozen(found) && Object.isFrozen(found.grantTypes));
    assert.throws(() => found.grantTypes.push("authorization_code"), TypeError);
    assert.ok(server.delete("b", t0));
    assert.equal(server.find("b"), undefined);
  });

  it("a scope created by another process appears in find, list and resources after at most RECHECK_INTERVAL_MS", () => {
    const server = sqliteScopeStore(serverDb, new TableVersion(serverDb, "scopes", now));
    const cli = sqliteScopeStore(cliDb);
    cli.create({ name: "photos", description: "Read your photos", resource: "http://localhost:8000/flickr" });
    ms += RECHECK_INTERVAL_MS;
    assert.deepEqual(server.resources(), ["http://localhost:8000/flickr"]);
    cli.create({ name: "print", description: "Print", resource: "http://localhost:8080/print" });
    cli.create({ name: "profile", description: "Profile", resource: null });
    assert.equal(server.find("print"), undefined, "within the interval the cached table is still used");
    ms += RECHECK_INTERVAL_MS;
    assert.deepEqual(server.find("print"), {
      name: "print",
      description: "Print",
      resource: "http://localhost:8080/print",
    });
    assert.deepEqual(
      server.list().map((s) => s.name),
      ["photos", "print", "profile"],
    );
    assert.deepEqual(server.resources(), ["http://localhost:8000/flickr", "http://localhost:8080/print"]);
    server.create({ name: "albums", description: "Albums", resource: "http://localhost:8000/flickr" });
    assert.deepEqual(
      server.list().map((s) => s.name),
      ["albums", "photos", "print", "profile"],
      "own write seen at once",
    );
    assert.deepEqual(
      server.resources(),
      ["http://localhost:8000/flickr", "http://localhost:8080/print"],
      "distinct resources",
    );
  });

  it("a catalog asked for scopes its held copy lacks looks again at once (a client registered with a new scope elsewhere)", () => {
    const server = sqliteScopeStore(serverDb, new TableVersion(serverDb, "scopes", now));
    const cli = sqliteScopeStore(cliDb);
    assert.equal(server.catalog(["photos"]).find("photos")?.name, "photos");
    cli.create({ name: "prints", description: "Order prints", resource: "http://localhost:8080/prints" });
    assert.equal(server.catalog().find("prints"), undefined, "within the interval the cached table is still used");
    assert.equal(server.catalog(["photos"]).find("prints"), undefined, "names it already holds: no new look");
    const fresh = server.catalog(["photos", "prints"]);
    assert.equal(fresh.find("prints")?.resource, "http://localhost:8080/prints");
    assert.deepEqual(fresh.resources().includes("http://localhost:8080/prints"), true);
  });

  it("every insert, update and delete bumps the table's version row", () => {
    const version = () => serverDb.prepare("SELECT name, version FROM table_versions ORDER BY name").all();
    const before = version() as { name: string; version: number }[];
    cliDb.prepare("UPDATE clients SET name = 'x' WHERE 0").run(); // no row: no bump
    cliDb.prepare("INSERT INTO scopes (name, description, resource) VALUES ('tmp', 't', NULL)").run();
    cliDb.prepare("UPDATE scopes SET description = 'u' WHERE name = 'tmp'").run();
    cliDb.prepare("DELETE FROM scopes WHERE name = 'tmp'").run();
    assert.deepEqual(version(), [
      { name: "clients", version: before[0].version },
      { name: "scopes", version: before[1].version + 3 },
    ]);
  });
});
