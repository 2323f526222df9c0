// `authz-server init` creates the database; every other command but `serve` refuses one that does not exist, so a
// mistyped --db cannot create folders and an empty database nobody reads. The files hold the signing keys: created
// for their owner only whatever the umask, in folders created 0700; an existing folder is only warned about.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { tempDir } from "../helpers.ts";
import { assertFails, cli, root, serve } from "./helpers.ts";

const modeOf = (path: string) => (statSync(path).mode & 0o777).toString(8);

/** Runs `fn` with the process umask (inherited by the CLI processes it spawns) set to `mask`. */
async function withUmask<T>(mask: number, fn: () => Promise<T>): Promise<T> {
  const previous = process.umask(mask);
  try {
    return await fn();
  } finally {
    process.umask(previous);
  }
}

describe("authz-server init", () => {
  const temp = tempDir();

  before(async () => {
    await promisify(execFile)("npx", ["tsc", "-b", "authz-server"], { cwd: root });
  });
  after(() => temp.remove());

  it("creates the database with one line, and says so when it already exists", async () => {
    const db = join(temp.dir, "authz.db");
    assert.deepEqual(await cli(["init", "--db", db]), { code: 0, stdout: `created database ${db}\n`, stderr: "" });
    assert.ok(existsSync(db));
    assert.deepEqual(await cli(["init", "--db", db]), {
      code: 0,
      stdout: `database ${db} already exists\n`,
      stderr: "",
    });
    assert.deepEqual(JSON.parse((await cli(["init", "--db", db, "--json"])).stdout), {
      db,
      created: false,
      kek_id: null,
    });
    assert.deepEqual((await cli(["scopes", "list", "--db", db, "--json"])).stdout, "[]\n");
  });

  it("every other command but serve refuses a database that does not exist, and creates nothing", async () => {
    const mistyped = join(temp.dir, "dat", "authz.db");
    const refusal = `authz-server: database ${mistyped} does not exist; create it with: authz-server init --db ${mistyped}`;
    for (const command of [
      ["scopes", "list"],
      ["scopes", "create", "photos", "--description", "Your photos"],
      ["clients", "create", "--name", "Canon Printing"],
      ["clients", "list"],
      ["users", "list"],
      ["consents", "list"],
      ["keys", "list"],
      ["keys", "rotate"],
      ["kek", "status"],
    ]) {
      assertFails(await cli([...command, "--db", mistyped]), refusal);
    }
    assertFails(
      await cli(["users", "create", "alice", "--password-stdin", "--db", mistyped], {
        input: "long enough password\n",
      }),
      refusal,
    );
    assert.equal(existsSync(join(temp.dir, "dat")), false);
  });

  it("serve creates the database on first start", async () => {
    const db = join(temp.dir, "first-start", "authz.db");
    const server = await serve(["--db", db]);
    try {
      assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
      assert.ok(existsSync(db));
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });

  it("creates the database, its -wal and -shm files 0600 and its folders 0700 even under umask 000", async () => {
    await withUmask(0o000, async () => {
      const db = join(temp.dir, "open", "nested", "authz.db");
      assert.equal((await cli(["init", "--db", db])).code, 0);
      assert.deepEqual(
        [modeOf(join(temp.dir, "open")), modeOf(join(temp.dir, "open", "nested")), modeOf(db)],
        ["700", "700", "600"],
      );
      const server = await serve(["--db", db]); // the server holds the -wal and -shm files open while it runs
      try {
        assert.deepEqual([db, `${db}-wal`, `${db}-shm`].map(modeOf), ["600", "600", "600"]);
      } finally {
        await server.stop();
      }
      const served = join(temp.dir, "served", "authz.db");
      const first = await serve(["--db", served]);
      try {
        assert.deepEqual([join(temp.dir, "served"), served, `${served}-wal`, `${served}-shm`].map(modeOf), [
          "700",
          "600",
          "600",
          "600",
        ]);
      } finally {
        await first.stop();
      }
    });
  });

  it("leaves an existing folder open to others as it is and warns about it once", async () => {
    const folder = join(temp.dir, "shared");
    mkdirSync(folder);
    chmodSync(folder, 0o755);
    const db = join(folder, "authz.db");
    const warning = `folder ${folder} is accessible to other users (mode 0755); the database holds the signing keys and server secrets: chmod 700 it`;
    assert.deepEqual(await cli(["init", "--db", db]), {
      code: 0,
      stdout: `created database ${db}\n`,
      stderr: `authz-server: warning: ${warning}\n`,
    });
    assert.equal(modeOf(folder), "755");
    assert.equal(modeOf(db), "600");

    const server = await serve(["--db", db]);
    try {
      assert.deepEqual(
        server.logs.filter((record) => record["msg"] === warning).map((record) => record["level"]),
        [40],
      );
      assert.equal(server.stderr(), "");
    } finally {
      await server.stop();
    }

    chmodSync(db, 0o640);
    assert.deepEqual((await cli(["scopes", "list", "--db", db])).stderr.split("\n"), [
      `authz-server: warning: ${warning}`,
      `authz-server: warning: database file ${db} is accessible to other users (mode 0640); the database holds the signing keys and server secrets: chmod 600 it`,
      "",
    ]);
    assert.equal(modeOf(db), "640");
  });
});
