// `--db` / AUTHZ_DB takes a SQLite file or a postgres:// URL, and every command behaves the same on both. A URL may
// carry a password: it never appears in what the CLI prints, whatever happens.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createServer } from "node:net";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { startTestPostgres, type TestPostgres } from "../../helpers/postgres.ts";
import { assertFails, cli, closedPort, json, root, serve } from "./helpers.ts";

const PASSWORD = "s3cret-pw";

/** `url` with PASSWORD as its password (the test cluster trusts loopback connections, so any password is accepted). */
function withPassword(url: string, password = PASSWORD): string {
  const parsed = new URL(url);
  parsed.password = password;
  return parsed.toString();
}

describe("authz-server CLI on a postgres:// URL", () => {
  let postgres: TestPostgres;
  let db: string;
  let redacted: string;
  const withDb = (...args: string[]) => [...args, "--db", db, "--json"];

  before(async () => {
    await promisify(execFile)("npx", ["tsc", "-b", "authz-server"], { cwd: root });
    postgres = await startTestPostgres();
    db = withPassword(postgres.url);
    redacted = withPassword(postgres.url, "redacted");
  });
  after(() => postgres.close());

  it("--help names both kinds of --db, and never shows AUTHZ_DB's password", async () => {
    const help = await cli(["scopes", "list", "--help"], { env: { AUTHZ_DB: db } });
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--db <path-or-url>\s+SQLite database file or postgres:\/\/ URL/);
    assert.ok(!help.stdout.includes(PASSWORD), "--help shows the password");
  });

  it("init creates the schema in an empty database, then says it exists, printing the URL with the password redacted", async () => {
    assert.deepEqual(await cli(["init", "--db", db]), {
      code: 0,
      stdout: `created the schema in database ${redacted}\n`,
      stderr: "",
    });
    assert.deepEqual(await cli(["init", "--db", db]), {
      code: 0,
      stdout: `database ${redacted} already exists\n`,
      stderr: "",
    });
    assert.deepEqual(json(await cli(withDb("init"))), { db: redacted, created: false, kek_id: null });
  });

  it("scopes, clients, users, keys, consents and kek commands work as on a file", async () => {
    const resource = "https://photos.example/";
    assert.deepEqual(
      json(await cli(withDb("scopes", "create", "photos", "--description", "Your photos", "--resource", resource))),
      {
        name: "photos",
        description: "Your photos",
        resource,
      },
    );
    assert.deepEqual(json(await cli(withDb("scopes", "list"))), [
      { name: "photos", description: "Your photos", resource },
    ]);

    const created = json<{ client_id: string; client_secret: string; redirect_uris: string[] }>(
      await cli(
        withDb(
          "clients",
          "create",
          "--name",
          "Canon Printing",
          "--redirect-uri",
          "https://canon.example/callback",
          "--scope",
          "photos",
        ),
      ),
    );
    assert.deepEqual(created.redirect_uris, ["https://canon.example/callback"]);
    assert.match(created.client_secret, /^[A-Za-z0-9_-]{43}$/);
    const clients = json<{ client_id: string; name: string }[]>(await cli(withDb("clients", "list")));
    assert.deepEqual(
      clients.map((c) => [c.client_id, c.name]),
      [[created.client_id, "Canon Printing"]],
    );
    const updated = json<{ redirect_uris: string[] }>(
      await cli(withDb("clients", "update", created.client_id, "--redirect-uri", "https://canon.example/cb2")),
    );
    assert.deepEqual(updated.redirect_uris, ["https://canon.example/cb2"]);

    const alice = json<{ id: string; username: string }>(
      await cli(withDb("users", "create", "alice", "--password-stdin"), { input: "correct horse battery\n" }),
    );
    assert.equal(alice.username, "alice");
    assert.deepEqual(
      json<{ username: string }[]>(await cli(withDb("users", "list"))).map((u) => u.username),
      ["alice"],
    );
    assert.deepEqual(
      json(await cli(withDb("users", "set-password", "alice", "--password-stdin"), { input: "another long one\n" })),
      { username: "alice", updated: true },
    );

    const key = json<{ kid: string; alg: string }>(await cli(withDb("keys", "rotate")));
    assert.deepEqual(
      json<{ kid: string; state: string }[]>(await cli(withDb("keys", "list"))).map((k) => [k.kid, k.state]),
      [[key.kid, "active"]],
    );
    assert.deepEqual(json(await cli(withDb("kek", "status"))), {
      kek_id: null,
      encrypted: { signing_keys: 0, server_secrets: 0 },
      in_the_clear: { signing_keys: 1, server_secrets: 0 },
    });
    assert.deepEqual(json(await cli(withDb("consents", "list"))), []);

    assert.deepEqual(json(await cli(withDb("clients", "delete", created.client_id))), {
      client_id: created.client_id,
      deleted: true,
    });
    assert.deepEqual(json(await cli(withDb("users", "delete", "alice"))), { username: "alice", deleted: true });
    assertFails(await cli(withDb("users", "delete", "alice")), "authz-server: no such user: alice");
  });

  it("serve starts on the URL and never logs its password", async () => {
    const server = await serve(["--db", db]);
    try {
      const health = await fetch(`${server.url}/healthz`);
      assert.equal(health.status, 200);
    } finally {
      assert.equal(await server.stop(), 0);
    }
    assert.ok(!JSON.stringify(server.logs).includes(PASSWORD), "the logs hold the password");
    assert.ok(!server.stderr().includes(PASSWORD), "stderr holds the password");
  });
});

describe("authz-server CLI on a postgres:// URL it cannot use", () => {
  it("a server that refuses the connection: one line naming it, never the password", async () => {
    const port = await closedPort();
    for (const command of [["init"], ["scopes", "list"]]) {
      assertFails(
        await cli([...command, "--db", `postgres://alice:${PASSWORD}@127.0.0.1:${port}/authz`]),
        `authz-server: cannot open PostgreSQL database postgres://alice@127.0.0.1:${port}/authz: connection refused`,
      );
    }
  });

  it("serve refuses to start rather than half-start: one line, exit 1", async () => {
    const port = await closedPort();
    assertFails(
      await cli([
        "serve",
        "--port",
        "0",
        "--host",
        "127.0.0.1",
        "--db",
        `postgres://alice:${PASSWORD}@127.0.0.1:${port}/authz`,
      ]),
      `authz-server: cannot open PostgreSQL database postgres://alice@127.0.0.1:${port}/authz: connection refused`,
    );
  });

  it("a password given as a URL parameter is never printed either", async () => {
    const port = await closedPort();
    assertFails(
      await cli(["scopes", "list", "--db", `postgresql://alice@127.0.0.1:${port}/authz?password=${PASSWORD}`]),
      `authz-server: cannot open PostgreSQL database postgres://alice@127.0.0.1:${port}/authz: connection refused`,
    );
  });

  it("--db-connect-timeout bounds the wait for a server that accepts the connection and never answers", async () => {
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const address = silent.address();
    assert.ok(address !== null && typeof address === "object");
    try {
      const started = Date.now();
      const db = `postgres://alice:${PASSWORD}@127.0.0.1:${address.port}/authz`;
      assertFails(
        await cli(["scopes", "list", "--db", db, "--db-connect-timeout", "200"]),
        `authz-server: cannot open PostgreSQL database postgres://alice@127.0.0.1:${address.port}/authz: no answer in time (is it a PostgreSQL server?)`,
      );
      // Well under the 5 s default; the rest is the CLI's own start-up.
      assert.ok(Date.now() - started < 4000, `took ${Date.now() - started} ms`);
      const serveStarted = Date.now();
      const served = await cli(["serve", "--db", db, "--port", "0", "--db-connect-timeout", "200"]);
      assert.equal(served.code, 1);
      assert.match(served.stderr, /no answer in time/);
      assert.ok(Date.now() - serveStarted < 4000, `serve took ${Date.now() - serveStarted} ms`);
    } finally {
      silent.close();
    }
  });

  it("pool size and timeouts are whole numbers of at least 1", async () => {
    const db = "postgres://alice@127.0.0.1:5432/authz";
    assertFails(
      await cli(["scopes", "list", "--db", db, "--db-pool-size", "0"]),
      "authz-server: --db-pool-size must be at least 1, got 0",
    );
    assertFails(
      await cli(["scopes", "list", "--db", db, "--db-statement-timeout", "5s"]),
      'authz-server: --db-statement-timeout must be a whole number, got "5s"',
    );
  });

  it("a malformed URL: one line, without the URL's text", async () => {
    assertFails(
      await cli(["scopes", "list", "--db", `postgres://alice:${PASSWORD}@[::1/authz`]),
      "authz-server: --db: malformed PostgreSQL URL (expected postgres://user@host:port/database)",
    );
  });
});
