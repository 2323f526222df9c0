import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { decodeProtectedHeader, type JSONWebKeySet } from "jose";
import { pino } from "pino";
import { verifyPassword } from "../../../authz-server/src/passwords.ts";
import { startServer } from "../../../authz-server/src/server.ts";
import { openStorage } from "../../../authz-server/src/storage/index.ts";
import { basic, form, post, tempDir } from "../helpers.ts";
import { assertFails, bin, cli, json, root } from "./helpers.ts";

describe("authz-server CLI", () => {
  const temp = tempDir();
  const db = join(temp.dir, "cli.db");
  const withDb = (...args: string[]) => [...args, "--db", db, "--json"];

  before(async () => {
    if (!existsSync(join(root, "authz-server/dist/cli/index.js"))) {
      await promisify(execFile)("npx", ["tsc", "-b", "authz-server"], { cwd: root });
    }
    json(await cli(withDb("init")));
  });
  after(() => temp.remove());

  it("runs as `npx --no-install authz-server --help` from the repository root", async () => {
    const { stdout } = await promisify(execFile)("npx", ["--no-install", "authz-server", "--help"], { cwd: root });
    assert.match(stdout, /^Usage: authz-server \[options\] \[command\]/);
    for (const command of ["serve", "scopes", "clients", "users", "keys"])
      assert.match(stdout, new RegExp(`\\n  ${command}\\b`));
  });

  it("creates and lists scopes", async () => {
    assert.deepEqual(
      json(
        await cli(
          withDb(
            "scopes",
            "create",
            "photos",
            "--description",
            "Read your photos",
            "--resource",
            "http://localhost:8080/",
          ),
        ),
      ),
      { name: "photos", description: "Read your photos", resource: "http://localhost:8080/" },
    );
    assert.deepEqual(json(await cli(withDb("scopes", "create", "profile", "--description", "Your profile"))), {
      name: "profile",
      description: "Your profile",
      resource: null,
    });
    assert.deepEqual(json(await cli(withDb("scopes", "list"))), [
      { name: "photos", description: "Read your photos", resource: "http://localhost:8080/" },
      { name: "profile", description: "Your profile", resource: null },
    ]);
    assertFails(
      await cli(withDb("scopes", "create", "photos", "--description", "again")),
      "authz-server: scope already exists: photos",
    );
  });

  it("refuses a scope name outside RFC 6749 §3.3's scope-token grammar, and a resource that is not an absolute URI", async () => {
    for (const name of ['say"hi', "back\\slash", "two words", "café"]) {
      assertFails(
        await cli(withDb("scopes", "create", name, "--description", "refused")),
        `authz-server: invalid scope name (RFC 6749 §3.3): ${name}`,
      );
    }
    assertFails(
      await cli(withDb("scopes", "create", "videos", "--description", "refused", "--resource", "/videos")),
      "authz-server: --resource must be an absolute URI without fragment: /videos",
    );
    assert.deepEqual(
      json<{ name: string }[]>(await cli(withDb("scopes", "list"))).map((scope) => scope.name),
      ["photos", "profile"],
    );
  });

  it("creates clients with server-generated ids and secrets and the default grant types", async () => {
    const service = json<Record<string, unknown>>(
      await cli(withDb("clients", "create", "--name", "Batch job", "--scope", "photos")),
    );
    assert.match(String(service["client_id"]), /^[A-Za-z0-9_-]{23}$/);
    assert.match(String(service["client_secret"]), /^[A-Za-z0-9_-]{43}$/); // 256 bits
    assert.deepEqual(
      { ...service, client_id: "", client_secret: "", created_at: "" },
      {
        client_id: "",
        client_secret: "",
        name: "Batch job",
        redirect_uris: [],
        grant_types: ["client_credentials"],
        scopes: ["photos"],
        token_endpoint_auth_method: "client_secret_basic",
        resource_server_for: [],
        created_at: "",
      },
    );
    const canon = json<Record<string, unknown>>(
      await cli(
        withDb(
          "clients",
          "create",
          "--name",
          "Canon Printing",
          "--redirect-uri",
          "http://localhost:3000/callback",
          "--scope",
          "photos",
        ),
      ),
    );
    assert.deepEqual(canon["grant_types"], ["authorization_code", "refresh_token"]);
    const app = json<Record<string, unknown>>(
      await cli(
        withDb("clients", "create", "--name", "Phone app", "--public", "--redirect-uri", "http://127.0.0.1/cb"),
      ),
    );
    assert.equal(app["client_secret"], undefined);
    assert.equal(app["token_endpoint_auth_method"], "none");

    const listed = json<{ client_id: string }[]>(await cli(withDb("clients", "list")));
    assert.deepEqual(
      listed.map((c) => c.client_id).sort(),
      [service["client_id"], canon["client_id"], app["client_id"]].sort(),
    );
    const shown = json<Record<string, unknown>>(await cli(withDb("clients", "show", String(canon["client_id"]))));
    assert.deepEqual(shown, Object.fromEntries(Object.entries(canon).filter(([k]) => k !== "client_secret")));
    assert.deepEqual(json(await cli(withDb("clients", "delete", String(app["client_id"])))), {
      client_id: app["client_id"],
      deleted: true,
    });
    assertFails(
      await cli(withDb("clients", "show", String(app["client_id"]))),
      `authz-server: no such client: ${String(app["client_id"])}`,
    );

    // Only the digest is stored.
    const storage = await openStorage(db);
    try {
      assert.equal((await storage.clients.find(String(service["client_id"])))?.secretDigest?.length, 64);
    } finally {
      await storage.close();
    }
  });

  it("refuses bad client registrations with one line on stderr", async () => {
    assertFails(
      await cli(withDb("clients", "create", "--name", "x", "--scope", "nope")),
      "authz-server: unknown scope: nope (create it with scopes create)",
    );
    assertFails(
      await cli(withDb("clients", "create", "--name", "x", "--redirect-uri", "http://evil.example/cb")),
      "authz-server: redirect URI must use https (http only for loopback hosts): http://evil.example/cb",
    );
    assertFails(
      await cli(withDb("clients", "create", "--name", "x", "--grant-type", "password")),
      "authz-server: unknown grant type: password (one of authorization_code, refresh_token, client_credentials)",
    );
    assertFails(
      await cli(withDb("clients", "create", "--name", "x", "--public", "--grant-type", "client_credentials")),
      "authz-server: a public client cannot use client_credentials (RFC 6749 §4.4)",
    );
    assertFails(await cli(withDb("clients", "create")), "error: required option '--name <name>' not specified");
    assertFails(await cli(["bogus"]), "error: unknown command 'bogus'");
    assertFails(await cli(["scopes", "list", "--db", ""]), "authz-server: --db must name a file or a postgres:// URL");
  });

  it("creates users with the password from stdin, hashed with scrypt, and changes it", async () => {
    const created = json<{ id: string; username: string }>(
      await cli(withDb("users", "create", "alice", "--password-stdin"), { input: "correct horse battery\n" }),
    );
    assert.equal(created.username, "alice");
    assert.match(created.id, /^[A-Za-z0-9_-]{23}$/);
    const hashOf = async () => {
      const storage = await openStorage(db);
      try {
        const alice = await storage.users.findByUsername("alice");
        assert.ok(alice, "alice is stored");
        return alice.passwordHash;
      } finally {
        await storage.close();
      }
    };
    assert.equal(await verifyPassword("correct horse battery", await hashOf()), true);
    assert.deepEqual(
      json(await cli(withDb("users", "set-password", "alice", "--password-stdin"), { input: "another long one" })),
      {
        username: "alice",
        updated: true,
      },
    );
    assert.equal(await verifyPassword("another long one", await hashOf()), true);
    assertFails(
      await cli(withDb("users", "create", "bob", "--password-stdin"), { input: "short\n" }),
      "authz-server: password must be at least 8 characters",
    );
    assertFails(
      await cli(withDb("users", "create", "alice", "--password-stdin"), { input: "whatever-long\n" }),
      "authz-server: user already exists: alice",
    );
    const users = json<{ username: string }[]>(await cli(withDb("users", "list")));
    assert.deepEqual(
      users.map((u) => u.username),
      ["alice"],
    );
    assert.deepEqual(json(await cli(withDb("users", "delete", "alice"))), { username: "alice", deleted: true });
    assertFails(await cli(withDb("users", "delete", "alice")), "authz-server: no such user: alice");
  });

  it("reads the database path from AUTHZ_DB", async () => {
    const envDb = join(temp.dir, "env.db");
    json(await cli(["init", "--json"], { env: { AUTHZ_DB: envDb } }));
    json(await cli(["scopes", "create", "env", "--description", "from env", "--json"], { env: { AUTHZ_DB: envDb } }));
    assert.deepEqual(json(await cli(["scopes", "list", "--json", "--db", envDb])), [
      { name: "env", description: "from env", resource: null },
    ]);
  });

  it("rotates keys beside a live server, which notices within a few seconds", async () => {
    const running = await startServer({ db, port: 0, logger: pino({ level: "silent" }) });
    try {
      const client = json<{ client_id: string; client_secret: string }>(
        await cli(withDb("clients", "create", "--name", "rotation")),
      );
      const jwks = async () =>
        ((await (await fetch(`${running.url}/jwks.json`)).json()) as JSONWebKeySet).keys.map((k) => k.kid);
      const issueKid = async () => {
        const result = await post(`${running.url}/token`, form({ grant_type: "client_credentials" }), {
          authorization: basic(client.client_id, client.client_secret),
        });
        assert.equal(result.status, 200);
        return decodeProtectedHeader((result.body as { access_token: string }).access_token).kid;
      };
      const [oldKid] = await jwks();
      // 2 s is far below the JWKS max-age: it takes --force, and a warning says what that risks.
      const rotation = await cli(withDb("keys", "rotate", "--activate-after", "2", "--alg", "EdDSA", "--force"));
      assert.equal(rotation.code, 0, rotation.stderr);
      assert.match(rotation.stderr, /^authz-server: warning: --activate-after 2 is below the JWKS max-age/);
      const rotated = JSON.parse(rotation.stdout) as { kid: string; alg: string; activate_at: string };
      assert.equal(rotated.alg, "EdDSA");
      const waitFor = async (what: string, check: () => Promise<boolean>) => {
        const deadline = Date.now() + 15_000; // generous: the suite runs on 2 shared cores
        while (!(await check())) {
          if (Date.now() > deadline) assert.fail(`${what} did not happen within 15 s`);
          await new Promise((r) => setTimeout(r, 100));
        }
      };
      await waitFor("publication", async () => (await jwks()).includes(rotated.kid));
      assert.deepEqual(await jwks(), [oldKid, rotated.kid]);
      await waitFor("activation", async () => (await issueKid()) === rotated.kid);
      assert.ok(Date.now() >= Date.parse(rotated.activate_at), "never signs before activate_at");
      const listed = json<{ kid: string; state: string }[]>(await cli(withDb("keys", "list")));
      assert.deepEqual(
        listed.map((k) => [k.kid, k.state]),
        [
          [oldKid, "retired"],
          [rotated.kid, "active"],
        ],
      );
    } finally {
      await running.close();
    }
  });

  it("serves, prints its URL with --json, and stops on SIGTERM", async () => {
    const child = spawn(process.execPath, [bin, "serve", "--port", "0", "--db", join(temp.dir, "serve.db"), "--json"], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = "";
        const timer = setTimeout(() => reject(new Error("serve did not print its URL")), 15_000);
        child.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          if (out.trim().endsWith("}")) {
            clearTimeout(timer);
            resolve(out);
          }
        });
        child.on("exit", (code) => reject(new Error(`serve exited with ${code}`)));
      });
      const { url, issuer } = JSON.parse(line) as { url: string; issuer: string };
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(issuer, `http://localhost:${new URL(url).port}`);
      const health = await fetch(`${url}/healthz`);
      assert.equal(health.status, 200);
      const metadata = (await (await fetch(`${url}/.well-known/oauth-authorization-server`)).json()) as {
        issuer: string;
      };
      assert.equal(metadata.issuer, issuer);
      const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
      child.kill("SIGTERM");
      assert.equal(await exited, 0);
    } finally {
      child.kill("SIGKILL");
    }
  });

  it("refuses an access-token lifetime above one hour", async () => {
    assertFails(
      await cli(["serve", "--port", "0", "--db", join(temp.dir, "x.db"), "--access-token-ttl", "3601"]),
      "authz-server: configuration: accessTokenTtl must not exceed 3600 s (got 3601)",
    );
  });
});
