// All nodes share one key-encryption key (storage/encryption.ts): the signing keys and server secrets in the database
// are sealed under it, so a node started without it, or with another, could sign nothing and read no session. It
// refuses to start with one line naming the key it needs and where to supply it — never the key itself — and exits 1;
// a node with the same key serves, and a token node A signed verifies with node B's JWKS.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from "jose";
import { KeyEncryptionKey } from "../../authz-server/src/storage/encryption.ts";
import { startTestPostgres, type TestPostgres } from "../helpers/postgres.ts";
import { basic, form, post, tempDir } from "../authz-server/helpers.ts";
import { assertFails, cli, json, root, serve, type Run, type ServeProcess } from "../authz-server/cli/helpers.ts";

describe("one key-encryption key for every node on one PostgreSQL database", () => {
  const temp = tempDir();
  const keys = { a: randomBytes(32).toString("hex"), other: randomBytes(32).toString("hex") };
  const files = { a: join(temp.dir, "kek-a"), other: join(temp.dir, "kek-other") };
  const kekId = KeyEncryptionKey.parse(keys.a, "test").id;
  let postgres: TestPostgres;
  let db: string;
  let nodeA: ServeProcess;

  before(async () => {
    await promisify(execFile)("npx", ["tsc", "-b", "authz-server"], { cwd: root });
    writeFileSync(files.a, `${keys.a}\n`, { mode: 0o600 });
    writeFileSync(files.other, `${keys.other}\n`, { mode: 0o600 });
    postgres = await startTestPostgres();
    db = postgres.url;
    // Node A on a fresh database: it creates the first signing key and the server secrets, sealed under its key.
    nodeA = await serve(["--db", db, "--kek-file", files.a]);
  });
  after(async () => {
    assert.equal(await nodeA.stop(), 0);
    await postgres.close();
    temp.remove();
  });

  /** `serve` as node B, run to its end when it refuses to start (a node that started would be killed after 30 s). */
  const refusedNodeB = (...args: string[]): Promise<Run> =>
    cli(["serve", "--port", "0", "--host", "127.0.0.1", "--db", db, ...args]);

  function assertRefused(run: Run, message: string): void {
    assertFails(run, message);
    assert.equal(run.code, 1);
    for (const key of Object.values(keys)) assert.ok(!run.stderr.includes(key), "no key material is printed");
  }

  it("a node started without the key refuses to start, naming the key and where to supply it", async () => {
    const [signingKey] = json<{ kid: string }[]>(await cli(["keys", "list", "--db", db, "--json"]));
    assertRefused(
      await refusedNodeB(),
      `authz-server: signing key ${signingKey.kid} is encrypted at rest under key-encryption key ${kekId}; supply that key with --kek-file, AUTHZ_KEK_FILE or AUTHZ_KEK`,
    );
  });

  it("a node started with another key refuses to start, naming the key it needs", async () => {
    assertRefused(
      await refusedNodeB("--kek-file", files.other),
      `authz-server: this database's secrets are encrypted under key-encryption key ${kekId}, not the key supplied (${KeyEncryptionKey.parse(keys.other, "test").id}); supply that key with --kek-file, AUTHZ_KEK_FILE or AUTHZ_KEK`,
    );
  });

  it("a node started with the same key serves, and a token node A signed verifies with node B's JWKS", async () => {
    const client = json<{ client_id: string; client_secret: string }>(
      await cli(["clients", "create", "--name", "Batch job", "--db", db, "--json"]),
    );
    const nodeB = await serve(["--db", db, "--kek-file", files.a]);
    try {
      const issued = await post(`${nodeA.url}/token`, form({ grant_type: "client_credentials" }), {
        authorization: basic(client.client_id, client.client_secret),
      });
      assert.equal(issued.status, 200, JSON.stringify(issued.body));
      const jwks = (await (await fetch(`${nodeB.url}/jwks.json`)).json()) as JSONWebKeySet;
      const { payload } = await jwtVerify(
        (issued.body as { access_token: string }).access_token,
        createLocalJWKSet(jwks),
      );
      assert.equal(payload.client_id, client.client_id);
    } finally {
      assert.equal(await nodeB.stop(), 0);
    }
  });
});
