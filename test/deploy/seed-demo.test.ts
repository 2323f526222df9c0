// scripts/seed-demo.mjs (used by `npm start`, the sidecar's Docker entrypoint and the e2e test):
// idempotent, through the real `authz-server` CLI on a real database.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { DEMO, gatewayEnvironment, seedDemo } from "../../scripts/seed-demo.mjs";
import { run, ROOT } from "./helpers.ts";

function cliJson(db: string, ...args: string[]): unknown {
  const result = run(process.execPath, [join(ROOT, "authz-server/bin/authz-server.js"), ...args, "--db", db, "--json"]);
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout);
}

describe("scripts/seed-demo.mjs", () => {
  it("creates the demo once, then changes nothing; a lost credentials file means a new client in place of the old", async () => {
    const dir = mkdtempSync(join(tmpdir(), "seed-demo-"));
    try {
      const db = join(dir, "data", "authz.db");
      const canonFile = join(dir, "data", "canon-client.json");
      const first = await seedDemo({ db, canonFile });
      assert.deepEqual(first.created.slice(0, 4), [
        "scope photos",
        "scope photos:write",
        "scope profile",
        "user alice",
      ]);
      assert.equal(first.created[4], `client Canon Printing (${first.clientId})`);
      assert.equal(first.created[5], `client Flickr gateway (${first.gatewayClientId})`);
      assert.equal(first.created.length, 6);
      assert.equal(statSync(canonFile).mode & 0o777, 0o600);
      // The gateway's credential for the revocation feed, beside Canon's, as the environment kong.yml's vault
      // references read.
      assert.equal(first.gatewayFile, join(dir, "data", "gateway-client.json"));
      assert.equal(statSync(first.gatewayFile).mode & 0o777, 0o600);
      const gateway = JSON.parse(readFileSync(first.gatewayFile, "utf8")) as {
        client_id: string;
        client_secret: string;
      };
      assert.equal(gateway.client_id, first.gatewayClientId);
      assert.match(gateway.client_secret, /^[A-Za-z0-9_-]{43,}$/);
      assert.deepEqual(gatewayEnvironment(gateway), {
        OAUTH2_JWT_FEED_CLIENT_ID: gateway.client_id,
        OAUTH2_JWT_FEED_SECRET: gateway.client_secret,
      });
      const saved = JSON.parse(readFileSync(canonFile, "utf8")) as Record<string, string>;
      assert.deepEqual(Object.keys(saved).sort(), ["client_id", "client_secret", "redirect_uri"]);
      assert.equal(saved["client_id"], first.clientId);
      assert.equal(saved["redirect_uri"], "http://localhost:3000/callback");
      assert.match(saved["client_secret"], /^[A-Za-z0-9_-]{43,}$/);

      assert.deepEqual(
        cliJson(db, "scopes", "list"),
        DEMO.scopes.map((s) => ({ ...s, resource: "http://localhost:8000/flickr" })),
      );
      const clients = cliJson(db, "clients", "list") as {
        client_id: string;
        name: string;
        redirect_uris: string[];
        grant_types: string[];
        scopes: string[];
        resource_server_for: string[];
      }[];
      assert.deepEqual(
        clients.map((c) => ({
          id: c.client_id,
          name: c.name,
          redirect: c.redirect_uris,
          grants: c.grant_types,
          scopes: c.scopes,
          resourceServerFor: c.resource_server_for,
        })),
        [
          {
            id: first.clientId,
            name: "Canon Printing",
            redirect: ["http://localhost:3000/callback"],
            grants: ["authorization_code", "refresh_token"],
            scopes: ["photos", "profile"],
            resourceServerFor: [],
          },
          {
            id: first.gatewayClientId,
            name: "Flickr gateway",
            redirect: [],
            grants: [],
            scopes: [],
            resourceServerFor: ["http://localhost:8000/flickr"],
          },
        ],
      );

      const second = await seedDemo({ db, canonFile });
      assert.deepEqual(
        { created: second.created, clientId: second.clientId },
        { created: [], clientId: first.clientId },
      );
      assert.equal(readFileSync(canonFile, "utf8"), `${JSON.stringify(saved, null, 2)}\n`);

      rmSync(canonFile);
      const third = await seedDemo({ db, canonFile });
      assert.notEqual(third.clientId, first.clientId);
      assert.deepEqual(third.created, [`client Canon Printing (${third.clientId})`]);
      const after = cliJson(db, "clients", "list") as { client_id: string; name: string }[];
      assert.deepEqual(
        after.map((c) => [c.client_id, c.name]),
        [
          [first.gatewayClientId, "Flickr gateway"],
          [third.clientId, "Canon Printing"],
        ],
        "one Canon Printing, the gateway's client kept",
      );
      assert.equal(third.gatewayClientId, first.gatewayClientId);
      assert.ok(existsSync(canonFile));
      const users = cliJson(db, "users", "list") as { username: string }[];
      assert.deepEqual(
        users.map((u) => u.username),
        ["alice"],
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("keeps Canon Printing and its secret when its callback moves to another port, updating the redirect URI", async () => {
    const dir = mkdtempSync(join(tmpdir(), "seed-demo-"));
    try {
      const db = join(dir, "data", "authz.db");
      const canonFile = join(dir, "data", "canon-client.json");
      const first = await seedDemo({ db, canonFile });
      const saved = JSON.parse(readFileSync(canonFile, "utf8")) as Record<string, string>;
      const moved = await seedDemo({ db, canonFile, redirectUri: "http://localhost:3100/callback" });
      assert.deepEqual({ clientId: moved.clientId, created: moved.created }, { clientId: first.clientId, created: [] });
      assert.deepEqual(JSON.parse(readFileSync(canonFile, "utf8")), {
        ...saved,
        redirect_uri: "http://localhost:3100/callback",
      });
      const clients = cliJson(db, "clients", "list") as { client_id: string; name: string; redirect_uris: string[] }[];
      assert.deepEqual(
        clients.map((c) => [c.client_id, c.name, c.redirect_uris]),
        [
          [first.clientId, "Canon Printing", ["http://localhost:3100/callback"]],
          [first.gatewayClientId, "Flickr gateway", []],
        ],
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
