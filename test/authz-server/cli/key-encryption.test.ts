// A copy of the database must not be a master key: with a key-encryption key (KEK) the private signing keys and the
// server secrets are stored AES-256-GCM encrypted. Driven through the real CLI and server processes: `kek enable`,
// `kek rotate`, `serve` with the right, a wrong or no key, and a database file altered behind the server's back.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import Database from "better-sqlite3";
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from "jose";
import { KeyEncryptionKey } from "../../../authz-server/src/storage/encryption.ts";
import { basic, form, post, tempDir } from "../helpers.ts";
import { assertFails, cli, json, root, serve, type ServeProcess } from "./helpers.ts";

interface Status {
  kek_id: string | null;
  encrypted: { signing_keys: number; server_secrets: number };
  in_the_clear: { signing_keys: number; server_secrets: number };
}

const noKekWarning =
  "no key-encryption key: the signing keys and server secrets are stored in the clear, a copy of the database can sign tokens";

/** Every byte SQLite keeps for the database: the file and, while a connection is open, its write-ahead log. */
function filesOf(db: string): Buffer {
  return Buffer.concat([db, `${db}-wal`].filter((path) => existsSync(path)).map((path) => readFileSync(path)));
}

function rows<T>(db: string, sql: string): T[] {
  const handle = new Database(db, { readonly: true });
  try {
    return handle.prepare<[], T>(sql).all();
  } finally {
    handle.close();
  }
}

describe("authz-server kek: signing keys and server secrets encrypted at rest", () => {
  const temp = tempDir();
  const db = join(temp.dir, "authz.db");
  const kekFile = join(temp.dir, "kek");
  const newKekFile = join(temp.dir, "kek-new");
  const kek = randomBytes(32).toString("hex");
  const newKek = randomBytes(32).toString("base64url");
  const kekId = KeyEncryptionKey.parse(kek, "test").id;
  const newKekId = KeyEncryptionKey.parse(newKek, "test").id;
  let client: { client_id: string; client_secret: string };
  let firstKid: string | undefined;

  /** A client_credentials token from `server`, verified with the server's own /jwks.json; returns its kid. */
  async function issueVerifiableToken(server: ServeProcess): Promise<string | undefined> {
    const response = await post(`${server.url}/token`, form({ grant_type: "client_credentials" }), {
      authorization: basic(client.client_id, client.client_secret),
    });
    assert.equal(response.status, 200);
    const token = (response.body as { access_token: string }).access_token;
    const jwks = (await (await fetch(`${server.url}/jwks.json`)).json()) as JSONWebKeySet;
    await jwtVerify(token, createLocalJWKSet(jwks), { typ: "at+jwt" });
    return decodeProtectedHeader(token).kid;
  }

  before(async () => {
    await promisify(execFile)("npx", ["tsc", "-b", "authz-server"], { cwd: root });
    writeFileSync(kekFile, `${kek}\n`, { mode: 0o600 });
    writeFileSync(newKekFile, newKek, { mode: 0o600 });
    json(await cli(["init", "--db", db, "--json"]));
    client = json(await cli(["clients", "create", "--name", "Batch job", "--db", db, "--json"]));
  });
  after(() => temp.remove());

  it("without a key-encryption key the server starts, warns once, and keeps the private key in the clear", async () => {
    const server = await serve(["--db", db]);
    try {
      firstKid = await issueVerifiableToken(server);
      assert.deepEqual(
        server.logs.filter((record) => record["msg"] === noKekWarning).map((record) => record["level"]),
        [40],
      );
    } finally {
      await server.stop();
    }
    assert.ok(filesOf(db).includes('"d":"'), "the private JWK is readable in the file");
    assert.deepEqual(json<Status>(await cli(["kek", "status", "--db", db, "--json"])), {
      kek_id: null,
      encrypted: { signing_keys: 0, server_secrets: 0 },
      in_the_clear: { signing_keys: 1, server_secrets: rows(db, "SELECT name FROM server_secrets").length },
    });
  });

  it("kek enable encrypts every private key and server secret; no private material is left in the file", async () => {
    const privateD = rows<{ private_jwk: string }>(db, "SELECT private_jwk FROM signing_keys").map(
      (row) => (JSON.parse(row.private_jwk) as { d: string }).d,
    );
    const secrets = rows<{ value: Buffer }>(db, "SELECT value FROM server_secrets").map((row) => row.value);
    assert.ok(secrets.length >= 1, "the session-cookie key at least");

    assert.deepEqual(json<Status>(await cli(["kek", "enable", "--db", db, "--kek-file", kekFile, "--json"])), {
      kek_id: kekId,
      encrypted: { signing_keys: 1, server_secrets: secrets.length },
      in_the_clear: { signing_keys: 0, server_secrets: 0 },
    });
    const files = filesOf(db);
    assert.equal(files.includes('"d":"'), false);
    for (const d of privateD) assert.equal(files.includes(d), false, "the private scalar is gone");
    for (const secret of secrets) assert.equal(files.includes(secret), false, "the secret's bytes are gone");
    assert.deepEqual(
      rows(db, "SELECT kek_id FROM signing_keys UNION ALL SELECT kek_id FROM server_secrets"),
      Array.from({ length: 1 + secrets.length }, () => ({ kek_id: kekId })),
    );
    // Enabling again with the same key changes nothing; status needs no key.
    assert.equal(
      json<Status>(await cli(["kek", "enable", "--db", db, "--json"], { env: { AUTHZ_KEK: kek } })).kek_id,
      kekId,
    );
    assert.equal(
      (await cli(["kek", "status", "--db", db])).stdout,
      `encrypted at rest under key-encryption key ${kekId}: 1 signing key, ${secrets.length} server secret${secrets.length === 1 ? "" : "s"}\n`,
    );
  });

  it("a server given the key serves tokens verifiable with its /jwks.json, signed by the same key as before", async () => {
    const server = await serve(["--db", db], { env: { AUTHZ_KEK_FILE: kekFile } });
    try {
      assert.equal(await issueVerifiableToken(server), firstKid);
      assert.deepEqual(
        server.logs.filter((record) => record["level"] !== 30),
        [],
      );
    } finally {
      await server.stop();
    }
  });

  it("a server without the key, or with another, refuses to start with one line", async () => {
    assertFails(
      await cli(["serve", "--port", "0", "--db", db]),
      `authz-server: signing key ${firstKid} is encrypted at rest under key-encryption key ${kekId}; supply that key with --kek-file, AUTHZ_KEK_FILE or AUTHZ_KEK`,
    );
    assertFails(
      await cli(["serve", "--port", "0", "--db", db, "--kek-file", newKekFile]),
      `authz-server: this database's secrets are encrypted under key-encryption key ${kekId}, not the key supplied (${newKekId}); supply that key with --kek-file, AUTHZ_KEK_FILE or AUTHZ_KEK`,
    );
    assertFails(
      await cli(["serve", "--port", "0", "--db", db], { env: { AUTHZ_KEK: "not a key" } }),
      "authz-server: AUTHZ_KEK: a key-encryption key is 32 random bytes as 64 hex digits or 43 base64url characters",
    );
    assertFails(
      await cli(["serve", "--port", "0", "--db", db, "--kek-file", kekFile], { env: { AUTHZ_KEK: kek } }),
      "authz-server: give the key-encryption key once: --kek-file (or AUTHZ_KEK_FILE) or AUTHZ_KEK, not both",
    );
    assertFails(
      await cli(["kek", "enable", "--db", db]),
      "authz-server: kek enable needs the key-encryption key: --kek-file, AUTHZ_KEK_FILE or AUTHZ_KEK",
    );
    // A key rotated in without the KEK would be stored in the clear beside encrypted ones: refused.
    assertFails(
      await cli(["keys", "rotate", "--db", db]),
      `authz-server: storing a signing key needs this database's key-encryption key ${kekId} (--kek-file, AUTHZ_KEK_FILE or AUTHZ_KEK)`,
    );
  });

  it("kek rotate re-encrypts everything under the new key: the old key no longer opens the database, the new one does", async () => {
    const secrets = rows(db, "SELECT name FROM server_secrets").length;
    assert.deepEqual(
      json<Status>(
        await cli(["kek", "rotate", "--db", db, "--kek-file", kekFile, "--new-kek-file", newKekFile, "--json"]),
      ),
      {
        kek_id: newKekId,
        encrypted: { signing_keys: 1, server_secrets: secrets },
        in_the_clear: { signing_keys: 0, server_secrets: 0 },
      },
    );
    assertFails(
      await cli(["serve", "--port", "0", "--db", db, "--kek-file", kekFile]),
      `authz-server: this database's secrets are encrypted under key-encryption key ${newKekId}, not the key supplied (${kekId}); supply that key with --kek-file, AUTHZ_KEK_FILE or AUTHZ_KEK`,
    );
    assertFails(
      await cli(["kek", "rotate", "--db", db, "--new-kek-file", kekFile]),
      "authz-server: kek rotate needs the current key-encryption key: --kek-file, AUTHZ_KEK_FILE or AUTHZ_KEK",
    );
    const server = await serve(["--db", db], { env: { AUTHZ_KEK: newKek } });
    try {
      assert.equal(await issueVerifiableToken(server), firstKid);
    } finally {
      await server.stop();
    }
  });

  it("an altered encrypted value, or one moved into another row, is refused with one line", async () => {
    json(await cli(["keys", "rotate", "--db", db, "--json"], { env: { AUTHZ_KEK: newKek } }));
    const keys = rows<{ kid: string; private_jwk: string }>(
      db,
      "SELECT kid, private_jwk FROM signing_keys ORDER BY kid",
    );
    assert.equal(keys.length, 2);
    const [a, b] = keys;

    const swapped = join(temp.dir, "swapped.db");
    copyFileSync(db, swapped);
    const swap = new Database(swapped);
    swap.prepare("UPDATE signing_keys SET private_jwk = ? WHERE kid = ?").run(b.private_jwk, a.kid);
    swap.close();
    assertFails(
      await cli(["serve", "--port", "0", "--db", swapped], { env: { AUTHZ_KEK: newKek } }),
      `authz-server: signing_keys.private_jwk/${a.kid} could not be decrypted: the stored value was altered or belongs to another row`,
    );

    const altered = join(temp.dir, "altered.db");
    copyFileSync(db, altered);
    const alter = new Database(altered);
    const [secret] = alter.prepare<[], { name: string; value: Buffer }>("SELECT name, value FROM server_secrets").all();
    assert.ok(secret);
    secret.value[20] ^= 1;
    alter.prepare("UPDATE server_secrets SET value = ? WHERE name = ?").run(secret.value, secret.name);
    alter.close();
    assertFails(
      await cli(["serve", "--port", "0", "--db", altered], { env: { AUTHZ_KEK: newKek } }),
      `authz-server: server_secrets.value/${secret.name} could not be decrypted: the stored value was altered or belongs to another row`,
    );
  });
});
