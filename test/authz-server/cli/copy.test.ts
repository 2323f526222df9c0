// Moving up from SQLite: `authz-server copy-to-postgres <url>` copies a SQLite database an operator built with `serve`
// and the CLI into an empty PostgreSQL database, and `serve` on PostgreSQL with the same key-encryption key carries on:
// tokens issued before the move verify, introspect and refresh as before; only the browser sessions are left behind.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import Database from "better-sqlite3";
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from "jose";
import * as oauth from "oauth4webapi";
import pg from "pg";
import { KeyEncryptionKey } from "../../../authz-server/src/storage/encryption.ts";
import { startTestPostgres, type TestPostgres } from "../../helpers/postgres.ts";
import { BrowserClient } from "../browser-client.ts";
import {
  allow,
  CANON_CALLBACK,
  loginThrough,
  PASSWORD,
  PHOTOS_RESOURCE,
  type AuthorizationAttempt,
} from "../code-flow.ts";
import { basic, form, post, tempDir } from "../helpers.ts";
import { assertFails, cli, closedPort, json, root, type Run, serve, type ServeProcess } from "./helpers.ts";

const DB_PASSWORD = "s3cret-pw";

/** `url` with a password (the test cluster trusts loopback connections of its superuser, so any password is accepted). */
function withPassword(url: string, password = DB_PASSWORD): string {
  const parsed = new URL(url);
  parsed.password = password;
  return parsed.toString();
}

/** How the CLI names a database in messages: never with its password. */
const described = (url: string) => {
  const parsed = new URL(url);
  return `postgres://${parsed.username}@${parsed.host}${parsed.pathname}`;
};

/** Rows per table of a PostgreSQL database, read by the test's own connection. */
async function countRows(url: string, tables: readonly string[]): Promise<Record<string, number>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const counts: Record<string, number> = {};
    for (const table of tables) {
      const result = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
      counts[table] = Number(result.rows[0]?.n);
    }
    return counts;
  } finally {
    await client.end();
  }
}

/** A refusal: exit code 1, one line on stderr (never the password), nothing on stdout. */
function refused(run: Run, message: string): void {
  assert.equal(run.code, 1);
  assert.ok(!run.stderr.includes(DB_PASSWORD), run.stderr);
  assertFails(run, message);
}

interface Tokens {
  access_token: string;
  refresh_token: string;
}

interface CopyOutput {
  source: string;
  target: string;
  source_schema: { from: number; to: number };
  kek_id: string | null;
  copied: Record<string, number>;
  not_copied: Record<string, string>;
}

describe("authz-server copy-to-postgres: moving a SQLite database to PostgreSQL", () => {
  const temp = tempDir();
  const sqlite = join(temp.dir, "authz.db");
  const kekFile = join(temp.dir, "kek");
  const kek = randomBytes(32).toString("hex");
  let postgres: TestPostgres;
  let target: string;
  let canon: { client_id: string; client_secret: string };
  let port: number;
  /** Signed in before the move: the browser (its session cookie), alice's tokens, and a revoked access token. */
  let browser: BrowserClient;
  let before_: { tokens: Tokens; revokedAccessToken: string; kid: string; feedCursor: string };
  /** The photos API's credential: the resource server a gateway reads the revocation feed as. */
  let photosApi: { client_id: string; client_secret: string };

  const withDb = (db: string, ...args: string[]) => [...args, "--db", db, "--kek-file", kekFile];
  const auth = () => ({ authorization: basic(canon.client_id, canon.client_secret) });

  /** Canon Printing's authorization request for alice's photos, with PKCE (RFC 7636). */
  async function authorizationRequest(url: string): Promise<AuthorizationAttempt> {
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const request = new URL("/authorize", url);
    for (const [name, value] of Object.entries({
      response_type: "code",
      client_id: canon.client_id,
      redirect_uri: CANON_CALLBACK,
      scope: "photos",
      state,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: "S256",
    }))
      request.searchParams.set(name, value);
    return { verifier, state, url: request };
  }

  const token = (server: ServeProcess, fields: Record<string, string>) =>
    post(`${server.url}/token`, form(fields), auth());
  const introspect = async (server: ServeProcess, accessToken: string) =>
    (await post(`${server.url}/introspect`, form({ token: accessToken }), auth())).body as { active: boolean };
  /** GET /revocations as the gateway in front of the photos API polls it. */
  const revocationFeed = async (server: ServeProcess, after?: string) => {
    const url = new URL(`${server.url}/revocations`);
    if (after !== undefined) url.searchParams.set("after", after);
    const response = await fetch(url, {
      headers: { authorization: basic(photosApi.client_id, photosApi.client_secret) },
    });
    assert.equal(response.status, 200);
    return (await response.json()) as { entries: { kind: string; jti?: string }[]; cursor: string; reset?: true };
  };

  before(async () => {
    await promisify(execFile)("npx", ["tsc", "-b", "authz-server"], { cwd: root });
    postgres = await startTestPostgres();
    target = withPassword(postgres.url);
    writeFileSync(kekFile, `${kek}\n`, { mode: 0o600 });

    // The SQLite database as an operator builds it: the CLI, then `serve` with a key-encryption key.
    assert.equal((await cli(withDb(sqlite, "init"))).code, 0);
    const scope = ["scopes", "create", "photos", "--description", "View your photos", "--resource", PHOTOS_RESOURCE];
    assert.equal((await cli(withDb(sqlite, ...scope))).code, 0);
    canon = json(
      await cli(
        withDb(sqlite, "clients", "create", "--name", "Canon Printing", "--redirect-uri", CANON_CALLBACK).concat([
          "--scope",
          "photos",
          "--json",
        ]),
      ),
    );
    photosApi = json(
      await cli(
        withDb(
          sqlite,
          "clients",
          "create",
          "--name",
          "Flickr photos API",
          "--resource-server-for",
          PHOTOS_RESOURCE,
        ).concat(["--json"]),
      ),
    );
    const user = await cli(withDb(sqlite, "users", "create", "alice", "--password-stdin"), { input: `${PASSWORD}\n` });
    assert.equal(user.code, 0, user.stderr);

    const server = await serve(withDb(sqlite));
    try {
      port = Number(new URL(server.url).port);
      browser = new BrowserClient(server.url);
      const attempt = await authorizationRequest(server.url);
      const callback = await allow(browser, await loginThrough(browser, attempt));
      const exchanged = await token(server, {
        grant_type: "authorization_code",
        code: callback.searchParams.get("code") ?? "",
        redirect_uri: CANON_CALLBACK,
        code_verifier: attempt.verifier,
      });
      assert.equal(exchanged.status, 200, JSON.stringify(exchanged.body));
      const first = exchanged.body as Tokens;
      // A second access token (a refresh), revoked at once: its jti is on the revocation list when the move happens.
      const refreshed = await token(server, { grant_type: "refresh_token", refresh_token: first.refresh_token });
      assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
      const tokens = refreshed.body as Tokens;
      const revoked = await post(`${server.url}/revoke`, form({ token: first.access_token }), auth());
      assert.equal(revoked.status, 200);
      assert.deepEqual(await introspect(server, first.access_token), { active: false });
      // The gateway has read the feed up to the revocation: its cursor names the SQLite database's epoch.
      const feed = await revocationFeed(server);
      assert.deepEqual(
        feed.entries.map((entry) => entry.jti),
        [decodeJwt(first.access_token).jti],
      );
      before_ = {
        tokens,
        revokedAccessToken: first.access_token,
        kid: String(decodeProtectedHeader(tokens.access_token).kid),
        feedCursor: feed.cursor,
      };
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });
  after(async () => {
    await postgres.close();
    temp.remove();
  });

  it("refuses a source that is a postgres:// URL, a target that is a file, and a source file that does not exist", async () => {
    refused(
      await cli(["copy-to-postgres", target, "--db", target]),
      "authz-server: --db names the SQLite database to copy from: a file, not a postgres:// URL",
    );
    const file = join(temp.dir, "target.db");
    refused(
      await cli(["copy-to-postgres", file, "--db", sqlite]),
      `authz-server: the target must be a postgres:// or postgresql:// URL, not ${JSON.stringify(file)}`,
    );
    const missing = join(temp.dir, "missing.db");
    refused(
      await cli(["copy-to-postgres", target, "--db", missing]),
      `authz-server: database ${missing} does not exist: nothing to copy`,
    );
  });

  it("names a PostgreSQL server that does not answer in one line, without its password", async () => {
    const unreachable = `postgres://authz:${DB_PASSWORD}@127.0.0.1:${await closedPort()}/authz`;
    refused(
      await cli(["copy-to-postgres", unreachable, "--db", sqlite]),
      `authz-server: cannot open PostgreSQL database ${described(unreachable)}: connection refused`,
    );
  });

  it("refuses a target that already holds a client, copying nothing", async () => {
    const used = withPassword(await postgres.createDatabase());
    assert.equal((await cli(["init", "--db", used])).code, 0);
    const created = await cli(["clients", "create", "--name", "Billing", "--db", used]);
    assert.equal(created.code, 0, created.stderr);
    refused(
      await cli(["copy-to-postgres", used, "--db", sqlite]),
      `authz-server: target database ${described(used)} is not empty (it holds clients); copy into a new database`,
    );
    assert.deepEqual(await countRows(used, ["clients", "users", "signing_keys"]), {
      clients: 1,
      users: 0,
      signing_keys: 0,
    });
  });

  it("copies nothing when a row fails mid-copy: the target stays empty and a later copy succeeds", async () => {
    // A copy of the source whose revoked_access_tokens table (copied near the end) holds a value PostgreSQL's TEXT cannot store (a NUL character).
    const broken = join(temp.dir, "broken.db");
    const source = new Database(sqlite);
    try {
      await source.backup(broken);
    } finally {
      source.close();
    }
    const handle = new Database(broken);
    handle
      .prepare("INSERT INTO revoked_access_tokens (jti, revoked_at, expires_at) VALUES (?, ?, ?)")
      .run("bad\u0000jti", Date.now(), Date.now() + 600_000);
    handle.close();
    chmodSync(broken, 0o600);
    const fresh = withPassword(await postgres.createDatabase());
    refused(
      await cli(["copy-to-postgres", fresh, "--db", broken]),
      'authz-server: copying table revoked_access_tokens failed, nothing was copied: invalid byte sequence for encoding "UTF8": 0x00',
    );
    assert.deepEqual(await countRows(fresh, ["signing_keys", "server_secrets", "clients", "users", "refresh_tokens"]), {
      signing_keys: 0,
      server_secrets: 0,
      clients: 0,
      users: 0,
      refresh_tokens: 0,
    });
    assert.equal((await cli(["copy-to-postgres", fresh, "--db", sqlite])).code, 0);
  });

  it("copies into an empty database; serve on it with the same key carries on where SQLite left off", async () => {
    const copied = json<CopyOutput>(await cli(["copy-to-postgres", target, "--db", sqlite, "--json"]));
    const kekId = KeyEncryptionKey.parse(kek, "test").id;
    assert.deepEqual(copied, {
      source: sqlite,
      target: withPassword(postgres.url, "redacted"),
      source_schema: copied.source_schema,
      kek_id: kekId,
      copied: {
        key_encryption: 1,
        signing_keys: 1,
        // The session-cookie key, the refresh-successor key and the revocation feed's cursor key.
        server_secrets: 3,
        scopes: 1,
        // Canon Printing and the photos API.
        clients: 2,
        users: 1,
        consents: 1,
        // The code alice's sign-in exchanged: consumed, and kept until it expires, so a replay is still detected.
        authorization_codes: 1,
        // The family: the first token (rotated) and its successor.
        refresh_tokens: 2,
        access_token_links: 2,
        revoked_access_tokens: 1,
        // The revoked access token's entry, which gateways still need.
        revocation_feed_entries: 1,
      },
      not_copied: {
        browser_sessions: "sessions are not copied: users sign in again",
        signing_keys_version: "maintained by the target's own triggers",
        table_versions: "maintained by the target's own triggers",
        revocation_feed:
          "the revocation feed's entries are copied under a new epoch: every gateway reads the whole feed again at its next poll",
      },
    });
    assert.equal(copied.source_schema.from, copied.source_schema.to, "the source was already current");

    const server = await serve(["--port", String(port), "--db", target, "--kek-file", kekFile]);
    try {
      assert.ok(!server.stderr().includes(DB_PASSWORD));
      // Same key, same kid: the access token issued on SQLite verifies against the JWKS PostgreSQL's server publishes.
      const jwks = (await (await fetch(`${server.url}/jwks.json`)).json()) as JSONWebKeySet;
      assert.deepEqual(
        jwks.keys.map((key) => key.kid),
        [before_.kid],
      );
      await jwtVerify(before_.tokens.access_token, createLocalJWKSet(jwks));
      assert.equal((await introspect(server, before_.tokens.access_token)).active, true);
      assert.deepEqual(await introspect(server, before_.revokedAccessToken), { active: false });
      // A cursor from the SQLite database names another epoch: the gateway gets the whole feed again, marked reset.
      const feed = await revocationFeed(server, before_.feedCursor);
      assert.equal(feed.reset, true);
      assert.deepEqual(
        feed.entries.map((entry) => entry.jti),
        [decodeJwt(before_.revokedAccessToken).jti],
      );
      assert.equal((await revocationFeed(server, feed.cursor)).reset, undefined, "the new cursor holds");

      // The refresh token issued before the move refreshes.
      const refreshed = await token(server, {
        grant_type: "refresh_token",
        refresh_token: before_.tokens.refresh_token,
      });
      assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));

      // Sessions were not copied: the old cookie gets the login page; signing in again, alice's consent is remembered.
      const attempt = await authorizationRequest(server.url);
      // The same browser, its cookie jar as the SQLite server left it (the new server listens on the same address).
      const page = await browser.get(attempt.url.href);
      assert.equal(page.status, 200);
      assert.match(page.body, /<h1>Sign in to Flickr<\/h1>/);
      const afterLogin = await loginThrough(browser, attempt);
      assert.equal(afterLogin.status, 303, "no consent page: the consent was copied");
      assert.ok(afterLogin.location?.startsWith(`${CANON_CALLBACK}?`), afterLogin.location);
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });

  it("says in its text output what was copied, and that users sign in again", async () => {
    const fresh = withPassword(await postgres.createDatabase());
    // `init` with another key-encryption key records that key in a database that holds nothing: the copy replaces it.
    const otherKek = join(temp.dir, "other-kek");
    writeFileSync(otherKek, randomBytes(32).toString("hex"), { mode: 0o600 });
    assert.equal((await cli(["init", "--db", fresh, "--kek-file", otherKek])).code, 0);
    const run = await cli(["copy-to-postgres", fresh, "--db", sqlite]);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(!run.stdout.includes(DB_PASSWORD));
    const kekId = KeyEncryptionKey.parse(kek, "test").id;
    assert.equal(
      run.stdout,
      [
        `copied ${sqlite} into ${withPassword(fresh, "redacted")}:`,
        "  key_encryption           1",
        "  signing_keys             1",
        "  server_secrets           3",
        "  scopes                   1",
        "  clients                  2",
        "  users                    1",
        "  consents                 1",
        "  authorization_codes      1",
        "  refresh_tokens           2",
        "  access_token_links       2",
        "  revoked_access_tokens    1",
        "  revocation_feed_entries  1",
        `signing keys and server secrets are encrypted under key-encryption key ${kekId}: start serve with that key`,
        "sessions are not copied: users sign in again",
        "",
      ].join("\n"),
    );
    const client = new pg.Client({ connectionString: fresh });
    await client.connect();
    try {
      const recorded = await client.query<{ kek_id: string }>("SELECT kek_id FROM key_encryption");
      assert.deepEqual(recorded.rows, [{ kek_id: kekId }]);
    } finally {
      await client.end();
    }
  });
});
