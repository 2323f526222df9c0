// writeTransactional and writeTransactionAsync (authz-server/src/storage/sqlite/database.ts): store writes that span
// several statements begin IMMEDIATE, are run again when another connection keeps the write lock past busy_timeout,
// and, when it never lets go, end in StorageUnavailableError, which the error renderer answers 503 with Retry-After
// instead of 500.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { describe, it } from "node:test";
import Database from "better-sqlite3";
import Koa from "koa";
import { pino } from "pino";
import { renderErrors } from "../../../authz-server/src/errors.ts";
import { StorageUnavailableError } from "../../../authz-server/src/storage/errors.ts";
import { writeTransactionAsync, writeTransactional } from "../../../authz-server/src/storage/sqlite/database.ts";
import { tempDir } from "../helpers.ts";

function openPair(): { writer: Database.Database; other: Database.Database } {
  const file = join(tempDir().dir, "locks.db");
  const writer = new Database(file);
  writer.pragma("journal_mode = WAL");
  writer.pragma("busy_timeout = 20");
  writer.exec("CREATE TABLE t (n INTEGER)");
  const other = new Database(file);
  other.pragma("busy_timeout = 20");
  return { writer, other };
}

describe("writeTransactional", () => {
  it("commits every statement of fn or none", () => {
    const { writer } = openPair();
    const insertTwo = writeTransactional(writer, (n: number) => {
      writer.prepare("INSERT INTO t (n) VALUES (?)").run(n);
      if (n < 0) throw new Error("refused");
      writer.prepare("INSERT INTO t (n) VALUES (?)").run(n + 1);
    });
    insertTwo(1);
    assert.throws(() => insertTwo(-5), /refused/);
    assert.deepEqual(writer.prepare("SELECT n FROM t ORDER BY n").pluck().all(), [1, 2]);
  });

  it("throws StorageUnavailableError, having written nothing, when another connection keeps the write lock", () => {
    const { writer, other } = openPair();
    let runs = 0;
    const insert = writeTransactional(writer, () => {
      runs++;
      writer.prepare("INSERT INTO t (n) VALUES (1)").run();
    });
    other.exec("BEGIN IMMEDIATE");
    assert.throws(
      insert,
      (error: unknown) => error instanceof StorageUnavailableError && error.retryAfterSeconds === 1,
    );
    assert.equal(runs, 0, "IMMEDIATE waits for the lock before fn reads anything");
    other.exec("COMMIT");
    insert();
    assert.deepEqual(writer.prepare("SELECT n FROM t").pluck().all(), [1]);
  });

  it("joins the caller's transaction when nested, so the outer one decides", () => {
    const { writer } = openPair();
    const inner = writeTransactional(writer, () => writer.prepare("INSERT INTO t (n) VALUES (7)").run());
    const outer = writeTransactional(writer, () => {
      inner();
      throw new Error("outer fails");
    });
    assert.throws(outer, /outer fails/);
    assert.deepEqual(writer.prepare("SELECT n FROM t").pluck().all(), []);
  });
});

describe("writeTransactionAsync (Storage.transaction on SQLite)", () => {
  it("rejects with StorageUnavailableError, having run nothing, when another connection keeps the write lock", async () => {
    const { writer, other } = openPair();
    let runs = 0;
    const insert = () =>
      writeTransactionAsync(writer, async () => {
        runs++;
        await Promise.resolve();
        writer.prepare("INSERT INTO t (n) VALUES (1)").run();
      });
    other.exec("BEGIN IMMEDIATE");
    await assert.rejects(insert(), (error: unknown) => error instanceof StorageUnavailableError);
    assert.equal(runs, 0, "BEGIN IMMEDIATE waits for the lock before fn reads anything");
    assert.equal(writer.inTransaction, false);
    other.exec("COMMIT");
    await insert();
    assert.deepEqual(writer.prepare("SELECT n FROM t").pluck().all(), [1]);
  });

  it("runs fn again, from a clean transaction, after SQLITE_BUSY", async () => {
    const { writer } = openPair();
    let runs = 0;
    const result = await writeTransactionAsync(writer, async () => {
      runs++;
      writer.prepare("INSERT INTO t (n) VALUES (?)").run(runs);
      await Promise.resolve();
      if (runs === 1) throw new Database.SqliteError("database is locked", "SQLITE_BUSY_SNAPSHOT");
      return "committed";
    });
    assert.equal(result, "committed");
    assert.deepEqual(writer.prepare("SELECT n FROM t").pluck().all(), [2], "the first run was rolled back");
  });

  it("rolls back and passes on any other rejection without running fn again", async () => {
    const { writer } = openPair();
    let runs = 0;
    await assert.rejects(
      writeTransactionAsync(writer, async () => {
        runs++;
        writer.prepare("INSERT INTO t (n) VALUES (1)").run();
        await Promise.resolve();
        throw new Error("refused");
      }),
      /refused/,
    );
    assert.equal(runs, 1);
    assert.deepEqual(writer.prepare("SELECT n FROM t").pluck().all(), []);
  });
});

describe("a database that stays locked, at the HTTP boundary", () => {
  it("answers 503 temporarily_unavailable with Retry-After, never 500", async () => {
    const app = new Koa();
    app.use(renderErrors(pino({ level: "silent" })));
    app.use(() => {
      throw new StorageUnavailableError("the database stayed locked by another writer", { retryAfterSeconds: 2 });
    });
    const handle = app.callback();
    const server = createServer((request, response) => {
      void handle(request, response);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const response = await fetch(`http://127.0.0.1:${port}/token`, { method: "POST" });
      assert.equal(response.status, 503);
      assert.equal(response.headers.get("retry-after"), "2");
      assert.equal(response.headers.get("cache-control"), "no-store");
      assert.deepEqual(await response.json(), {
        error: "temporarily_unavailable",
        error_description: "the authorization server cannot reach its database; retry shortly",
      });
    } finally {
      server.close();
    }
  });
});
