// The PostgreSQL engine held to the storage contract every engine owes (contract.ts), on a throwaway database of a
// real server (test/helpers/postgres.ts): each open() is a fresh database on it.
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { StorageUnavailableError } from "../../../authz-server/src/storage/errors.ts";
import { openStorage } from "../../../authz-server/src/storage/index.ts";
import { openPostgresStorage } from "../../../authz-server/src/storage/postgres/index.ts";
import { migrations } from "../../../authz-server/src/storage/postgres/migrations.ts";
import { migrations as sqliteMigrations } from "../../../authz-server/src/storage/sqlite/migrations.ts";
import {
  startTestPostgres,
  testCertificates,
  type TestCertificates,
  type TestPostgres,
} from "../../helpers/postgres.ts";
import { tempDir } from "../helpers.ts";
import { storageContract } from "./contract.ts";

let server: TestPostgres | undefined;
const opened: { close(): Promise<void> }[] = [];

before(async () => {
  server = await startTestPostgres();
});
after(async () => {
  for (const storage of opened.splice(0)) await storage.close().catch(() => {});
  await server?.close();
});

storageContract("PostgreSQL", async (options) => {
  if (!server) throw new Error("the PostgreSQL test server did not start");
  const storage = await openPostgresStorage(await server.createDatabase(), options);
  opened.push(storage);
  return storage;
});

/** A fresh database's URL on the shared test server. */
function database(): Promise<string> {
  if (!server) throw new Error("the PostgreSQL test server did not start");
  return server.createDatabase();
}

async function query(url: string, text: string): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<Record<string, unknown>>(text)).rows;
  } finally {
    await client.end();
  }
}

const latest = migrations.at(-1)?.version;

describe("PostgreSQL schema", () => {
  it("has the migrations of SQLite's schema, number for number", () => {
    assert.deepEqual(
      migrations.map((m) => m.version),
      sqliteMigrations.map((m) => m.version),
    );
  });

  it("is migrated once when two processes start on an empty database at the same instant, and neither fails", async () => {
    const url = await database();
    const both = await Promise.all([openPostgresStorage(url), openPostgresStorage(url)]);
    for (const storage of both) await storage.close();
    assert.deepEqual(await query(url, "SELECT version FROM schema_version"), [{ version: latest }]);
  });

  it("newer than this program: refuses to start with one line", async () => {
    const url = await database();
    await (await openPostgresStorage(url)).close();
    await query(url, "UPDATE schema_version SET version = 999");
    await assert.rejects(openStorage(url), {
      message: `database schema version 999 is newer than this program knows (${String(latest)}); upgrade authz-server`,
    });
  });
});

describe("PostgreSQL URL that cannot be opened: one line naming the problem, never the password", () => {
  const password = "s3cret-never-shown";

  it("a malformed URL", async () => {
    await assert.rejects(openStorage(`postgres://alice:${password}@[not-a-host/authz`), {
      message: "--db: malformed PostgreSQL URL (expected postgres://user@host:port/database)",
    });
  });

  it("a missing database", async () => {
    const { hostname, port } = new URL(await database());
    await assert.rejects(openStorage(`postgres://postgres:${password}@${hostname}:${port}/no_such_db`), {
      message: `cannot open PostgreSQL database postgres://postgres@${hostname}:${port}/no_such_db: database no_such_db does not exist`,
    });
  });

  it("a server that does not speak PostgreSQL", async () => {
    const http = createServer((socket) => socket.end("HTTP/1.1 400 Bad Request\r\n\r\n"));
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    const address = http.address();
    const port = typeof address === "object" && address !== null ? address.port : 0;
    try {
      await assert.rejects(openStorage(`postgres://alice:${password}@127.0.0.1:${port}/authz`), {
        message: `cannot open PostgreSQL database postgres://alice@127.0.0.1:${port}/authz: the server does not speak the PostgreSQL protocol`,
      });
    } finally {
      http.close();
    }
  });
});

// Its own cluster, whatever AUTHZ_TEST_POSTGRES_URL says: one that serves TLS and checks passwords.
describe("PostgreSQL over TLS, with a self-signed CA", () => {
  const temp = tempDir();
  let tlsServer: TestPostgres | undefined;
  let certificates: TestCertificates;
  let otherCa: string;

  before(async () => {
    certificates = await testCertificates(temp.dir);
    otherCa = (await testCertificates(temp.dir, "other")).caFile;
    tlsServer = await startTestPostgres({ tls: certificates.server });
    const name = new URL(tlsServer.url).pathname.slice(1);
    await query(
      tlsServer.url,
      `CREATE ROLE alice LOGIN PASSWORD 'right-password'; ALTER DATABASE ${name} OWNER TO alice`,
    );
  });
  after(async () => {
    await tlsServer?.close();
    temp.remove();
  });

  const url = (user: string, ca: string) => {
    if (!tlsServer) throw new Error("the TLS test server did not start");
    const { port, pathname } = new URL(tlsServer.url);
    return `postgres://${user}@127.0.0.1:${port}${pathname}?sslmode=verify-full&sslrootcert=${ca}`;
  };

  it("sslmode=verify-full opens the database when the server's certificate chains to sslrootcert", async () => {
    const storage = await openStorage(url("alice:right-password", certificates.caFile));
    try {
      await storage.scopes.create({ name: "photos", description: "Photos", resource: null });
      assert.deepEqual(await storage.scopes.list(), [{ name: "photos", description: "Photos", resource: null }]);
    } finally {
      await storage.close();
    }
  });

  it("refuses a server whose certificate another CA signed", async () => {
    const target = url("alice:right-password", otherCa);
    const { port, pathname } = new URL(target);
    await assert.rejects(openStorage(target), {
      message: `cannot open PostgreSQL database postgres://alice@127.0.0.1:${port}${pathname}: unable to verify the first certificate`,
    });
  });

  it("refuses a wrong password, naming the user and not the password", async () => {
    const target = url("alice:wrong-password", certificates.caFile);
    const { port, pathname } = new URL(target);
    await assert.rejects(openStorage(target), {
      message: `cannot open PostgreSQL database postgres://alice@127.0.0.1:${port}${pathname}: password authentication failed for user alice`,
    });
  });
});

describe("PostgreSQL going away under a running storage", () => {
  let own: TestPostgres | undefined;
  before(async () => {
    own = await startTestPostgres({ own: true });
  });
  after(() => own?.close());

  it("rejects with StorageUnavailableError (503, Retry-After) while it is away, and serves again by itself once back", async () => {
    if (!own) throw new Error("the PostgreSQL test server did not start");
    const storage = await openPostgresStorage(own.url, { connectionTimeoutMs: 1000 });
    try {
      await storage.users.create({ id: "u1", username: "alice", passwordHash: "x", createdAt: 0 });
      const away = await own.interrupt();
      const unavailable = (error: unknown) => error instanceof StorageUnavailableError && error.retryAfterSeconds === 1;
      await assert.rejects(storage.users.findByUsername("alice"), unavailable);
      await assert.rejects(
        storage.transaction((tx) => tx.codes.consume("digest", 0)),
        unavailable,
      );
      await away.resume();
      assert.equal((await storage.users.findByUsername("alice"))?.id, "u1");
    } finally {
      await storage.close();
    }
  });

  it("a transaction whose connection the server ends between two statements rejects with StorageUnavailableError, and the process lives on", async () => {
    if (!own) throw new Error("the PostgreSQL test server did not start");
    const storage = await openPostgresStorage(own.url, { connectionTimeoutMs: 1000 });
    try {
      let checkedOut = (): void => {};
      let goOn = (): void => {};
      const inside = new Promise<void>((resolve) => (checkedOut = resolve));
      const resumed = new Promise<void>((resolve) => (goOn = resolve));
      const transaction = storage.transaction(async (tx) => {
        await tx.users.findByUsername("alice");
        checkedOut();
        // The connection stays with the transaction, idle, while the server ends it (its 'error' event, unhandled,
        // would end the process).
        await resumed;
        return tx.users.findByUsername("alice");
      });
      await inside;
      const away = await own.interrupt();
      await new Promise((resolve) => setTimeout(resolve, 100));
      goOn();
      await assert.rejects(transaction, (error: unknown) => error instanceof StorageUnavailableError);
      await away.resume();
      assert.equal((await storage.transaction((tx) => tx.users.findByUsername("alice")))?.id, "u1");
    } finally {
      await storage.close();
    }
  });
});

// The revocation feed's cursor holds across nodes only if a reader that sees position N sees every position below it
// (storage/postgres/revocation-feed.ts). Two storages on one database stand for two nodes; a third reads.
describe("PostgreSQL revocation feed positions across nodes", () => {
  const t0 = Date.UTC(2030, 0, 1);
  const token = (jti: string) => ({ kind: "token" as const, jti, exp: t0 / 1000 + 600 });
  const nodes = async (count: number) => {
    const url = await database();
    const opened = [];
    for (let i = 0; i < count; i++) opened.push(await openPostgresStorage(url));
    return opened;
  };

  it("a second node's append waits for the first node's revoking transaction, and its position comes after", async () => {
    const [a, b, reader] = await nodes(3);
    try {
      let appended = (): void => {};
      let release = (): void => {};
      const inside = new Promise<void>((resolve) => (appended = resolve));
      const held = new Promise<void>((resolve) => (release = resolve));
      const first = a.transaction(async (tx) => {
        await tx.revocationFeed.append([token("first")], t0);
        appended();
        await held;
      });
      await inside;
      let secondDone = false;
      const second = b.revocationFeed.append([token("second")], t0).then(() => (secondDone = true));
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(secondDone, false, "waits on the counter row the first transaction holds");
      assert.deepEqual((await reader.revocationFeed.page(null, 10, t0)).newest, 0, "nothing committed yet");
      release();
      await Promise.all([first, second]);
      const page = await reader.revocationFeed.page(null, 10, t0);
      assert.deepEqual(
        page.entries.map((e) => [e.position, e.kind === "token" ? e.jti : e.kind]),
        [
          [1, "first"],
          [2, "second"],
        ],
      );
      assert.equal(page.newest, 2);
      assert.equal((await a.revocationFeed.page(null, 10, t0)).epoch, page.epoch, "one epoch per database");
    } finally {
      for (const node of [a, b, reader]) await node.close();
    }
  });

  it("a reader polling while 20 transactions on two nodes append at once never sees a position missing below the newest", async () => {
    const [a, b, reader] = await nodes(3);
    try {
      const jtis = Array.from({ length: 20 }, (_, i) => `jti-${String(i)}`);
      const writes = { pending: true };
      // Each transaction lingers a little after its append, as a revocation doing more work would.
      const writers = Promise.all(
        jtis.map((jti, i) =>
          (i % 2 === 0 ? a : b).transaction(async (tx) => {
            await tx.revocationFeed.append([token(jti)], t0);
            await new Promise((resolve) => setTimeout(resolve, (i % 5) * 4));
          }),
        ),
      ).finally(() => (writes.pending = false));
      const seen: string[] = [];
      let cursor = 0;
      const poll = async () => {
        const page = await reader.revocationFeed.page(cursor, 1000, t0);
        assert.deepEqual(
          page.entries.map((e) => e.position),
          Array.from({ length: page.newest - cursor }, (_, i) => cursor + i + 1),
          "every position up to the newest, none missing",
        );
        for (const entry of page.entries) if (entry.kind === "token") seen.push(entry.jti);
        cursor = page.newest;
      };
      while (writes.pending) await poll();
      await writers;
      await poll();
      assert.deepEqual(seen.toSorted(), jtis.toSorted());
      assert.equal(cursor, 20);
    } finally {
      for (const node of [a, b, reader]) await node.close();
    }
  });
});
