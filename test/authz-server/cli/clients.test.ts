// `authz-server clients …` through the real CLI process: the rules a registration must follow (a name users can
// recognise on the consent page, what a public client needs), resource servers that may introspect the tokens
// addressed to them, and `clients update --redirect-uri`.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { pino } from "pino";
import { startServer } from "../../../authz-server/src/server.ts";
import { basic, form, post, tempDir } from "../helpers.ts";
import { assertFails, cli, json, root } from "./helpers.ts";

const PHOTOS_API = "http://localhost:8000/flickr";

interface ClientJson {
  client_id: string;
  client_secret?: string;
  name: string;
  redirect_uris: string[];
  grant_types: string[];
  scopes: string[];
  resource_server_for: string[];
  created_at: string;
}

/** What `clients show` prints of a client: everything `clients create` printed but the secret. */
function withoutSecret(created: ClientJson): ClientJson {
  const shown = { ...created };
  delete shown.client_secret;
  return shown;
}

/** The secret `clients create` printed for a confidential client. */
function secretOf(created: ClientJson): string {
  assert.ok(created.client_secret !== undefined, `client ${created.client_id} was printed without a secret`);
  return created.client_secret;
}

describe("authz-server clients", () => {
  const temp = tempDir();
  const db = join(temp.dir, "clients.db");
  const withDb = (...args: string[]) => [...args, "--db", db, "--json"];
  const create = async (...args: string[]) => json<ClientJson>(await cli(withDb("clients", "create", ...args)));

  before(async () => {
    if (!existsSync(join(root, "authz-server/dist/cli/index.js"))) {
      await promisify(execFile)("npx", ["tsc", "-b", "authz-server"], { cwd: root });
    }
    json(await cli(withDb("init")));
    json(
      await cli(
        withDb("scopes", "create", "photos", "--description", "See your Flickr photos", "--resource", PHOTOS_API),
      ),
    );
  });
  after(() => temp.remove());

  describe("names: required, trimmed, and unique as users read them", () => {
    it("refuses an empty or blank name, which would leave the consent page asking about no one", async () => {
      for (const name of ["", "   ", "\t"]) {
        assertFails(
          await cli(withDb("clients", "create", "--name", name, "--scope", "photos")),
          "authz-server: --name must not be empty: it is shown to users on the consent page",
        );
      }
      assertFails(
        await cli(withDb("clients", "create", "--name", "Canon\nPrinting")),
        "authz-server: --name must not contain control characters",
      );
      assert.deepEqual(json(await cli(withDb("clients", "list"))), []);
    });

    it("stores the name trimmed and refuses a second client with the same name, naming the first", async () => {
      const canon = await create(
        "--name",
        "  Canon Printing ",
        "--redirect-uri",
        "http://localhost:3000/callback",
        "--scope",
        "photos",
      );
      assert.equal(canon.name, "Canon Printing");
      for (const name of ["Canon Printing", " canon printing", "CANON PRINTING"]) {
        assertFails(
          await cli(withDb("clients", "create", "--name", name, "--redirect-uri", "http://localhost:3001/callback")),
          `authz-server: a client named "Canon Printing" already exists: ${canon.client_id}`,
        );
      }
      const listed = json<ClientJson[]>(await cli(withDb("clients", "list")));
      assert.deepEqual(
        listed.map((c) => [c.client_id, c.name]),
        [[canon.client_id, "Canon Printing"]],
      );
    });
  });

  it("a public client without --redirect-uri is told what is missing", async () => {
    assertFails(
      await cli(withDb("clients", "create", "--name", "Phone app", "--public")),
      "authz-server: a public client needs --redirect-uri (the authorization code flow is the only grant a public client may use)",
    );
    assertFails(
      await cli(withDb("clients", "create", "--name", "Phone app", "--public", "--grant-type", "client_credentials")),
      "authz-server: a public client cannot use client_credentials (RFC 6749 §4.4)",
    );
    const app = await create("--name", "Phone app", "--public", "--redirect-uri", "http://127.0.0.1/cb");
    assert.deepEqual([app.grant_types, app.client_secret], [["authorization_code", "refresh_token"], undefined]);
  });

  describe("resource servers (--resource-server-for)", () => {
    it("registers a confidential client with no grant of its own that serves the given resources", async () => {
      const api = await create("--name", "Flickr photos API", "--resource-server-for", PHOTOS_API);
      assert.match(api.client_secret ?? "", /^[A-Za-z0-9_-]{43}$/);
      assert.deepEqual(
        [api.grant_types, api.scopes, api.redirect_uris, api.resource_server_for],
        [[], [], [], [PHOTOS_API]],
      );
      assert.deepEqual(json<ClientJson>(await cli(withDb("clients", "show", api.client_id))), withoutSecret(api));
      const ordinary = json<ClientJson>(
        await cli(withDb("clients", "show", (await create("--name", "Batch job", "--scope", "photos")).client_id)),
      );
      assert.deepEqual(ordinary.resource_server_for, []);
    });

    it("refuses a resource that is not an absolute URI, and a public resource server (introspection needs a secret)", async () => {
      assertFails(
        await cli(withDb("clients", "create", "--name", "API", "--resource-server-for", "photos-api")),
        "authz-server: --resource-server-for must be an absolute URI without fragment: photos-api",
      );
      assertFails(
        await cli(
          withDb(
            "clients",
            "create",
            "--name",
            "API",
            "--public",
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--resource-server-for",
            PHOTOS_API,
          ),
        ),
        "authz-server: a public client cannot be a resource server: introspection needs client authentication (RFC 7662 §2.1)",
      );
    });

    it("the registered resource server introspects the access tokens addressed to it", async () => {
      const api = await create("--name", "Photos API (introspection)", "--resource-server-for", PHOTOS_API);
      const job = await create("--name", "Photo backup job", "--scope", "photos");
      const running = await startServer({ db, port: 0, host: "127.0.0.1", logger: pino({ level: "silent" }) });
      try {
        const issued = await post(`${running.url}/token`, form({ grant_type: "client_credentials" }), {
          authorization: basic(job.client_id, secretOf(job)),
        });
        const token = (issued.body as { access_token: string }).access_token;
        const introspected = await post(`${running.url}/introspect`, form({ token }), {
          authorization: basic(api.client_id, secretOf(api)),
        });
        const answer = introspected.body as { active: boolean; aud: string; client_id: string };
        assert.deepEqual([answer.active, answer.aud, answer.client_id], [true, PHOTOS_API, job.client_id]);
      } finally {
        await running.close();
      }
    });
  });

  describe("clients update --redirect-uri", () => {
    it("replaces the redirect URIs of a client (e.g. its callback moved to another port)", async () => {
      const client = await create("--name", "Printer at home", "--redirect-uri", "http://localhost:3000/callback");
      const updated = json<ClientJson>(
        await cli(
          withDb(
            "clients",
            "update",
            client.client_id,
            "--redirect-uri",
            "http://localhost:3100/callback",
            "--redirect-uri",
            "https://print.example/cb",
          ),
        ),
      );
      assert.deepEqual(updated, {
        ...withoutSecret(client),
        redirect_uris: ["http://localhost:3100/callback", "https://print.example/cb"],
      });
      assert.deepEqual(json<ClientJson>(await cli(withDb("clients", "show", client.client_id))), updated);
    });

    it("checks the URIs as clients create does, and refuses an unknown client or nothing to change", async () => {
      const client = await create("--name", "Printer at work", "--redirect-uri", "http://localhost:3000/callback");
      assertFails(
        await cli(withDb("clients", "update", client.client_id, "--redirect-uri", "http://evil.example/cb")),
        "authz-server: redirect URI must use https (http only for loopback hosts): http://evil.example/cb",
      );
      assertFails(
        await cli(withDb("clients", "update", "no-such-id", "--redirect-uri", "https://print.example/cb")),
        "authz-server: no such client: no-such-id",
      );
      assertFails(
        await cli(withDb("clients", "update", client.client_id)),
        "authz-server: nothing to update: give --redirect-uri",
      );
      assert.deepEqual(json<ClientJson>(await cli(withDb("clients", "show", client.client_id))).redirect_uris, [
        "http://localhost:3000/callback",
      ]);
    });
  });
  describe("clients rotate-secret", () => {
    it("refuses an unknown client and a public client (it has no secret) in one line", async () => {
      assertFails(
        await cli(withDb("clients", "rotate-secret", "no-such-id")),
        "authz-server: no such client: no-such-id",
      );
      const app = await create("--name", "Phone gallery", "--public", "--redirect-uri", "http://127.0.0.1/gallery");
      assertFails(
        await cli(withDb("clients", "rotate-secret", app.client_id)),
        `authz-server: client ${app.client_id} is public: it has no secret to rotate`,
      );
    });

    it("prints the new secret once; the old one and every token issued with it are refused, the new one works", async () => {
      const api = await create("--name", "Photos API (rotation)", "--resource-server-for", PHOTOS_API);
      const job = await create("--name", "Nightly print job", "--scope", "photos");
      const running = await startServer({ db, port: 0, host: "127.0.0.1", logger: pino({ level: "silent" }) });
      try {
        const issue = (secret: string) =>
          post(`${running.url}/token`, form({ grant_type: "client_credentials" }), {
            authorization: basic(job.client_id, secret),
          });
        const active = async (token: string) =>
          (
            (
              await post(`${running.url}/introspect`, form({ token }), {
                authorization: basic(api.client_id, secretOf(api)),
              })
            ).body as { active: boolean }
          ).active;
        const before = await issue(secretOf(job));
        assert.equal(before.status, 200);
        const token = (before.body as { access_token: string }).access_token;
        assert.equal(await active(token), true);

        const rotated = json<{ client_id: string; client_secret: string }>(
          await cli(withDb("clients", "rotate-secret", job.client_id)),
        );
        assert.equal(rotated.client_id, job.client_id);
        assert.match(rotated.client_secret, /^[A-Za-z0-9_-]{43}$/);
        assert.notEqual(rotated.client_secret, secretOf(job));
        assert.deepEqual(json<ClientJson>(await cli(withDb("clients", "show", job.client_id))), withoutSecret(job));

        assert.equal(await active(token), false, "a token issued before the rotation");
        // The server's clients copy checks the table at most once a second (README, "Several nodes").
        const deadline = Date.now() + 3_000;
        let old = await issue(secretOf(job));
        while (old.status === 200 && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 50));
          old = await issue(secretOf(job));
        }
        assert.deepEqual([old.status, (old.body as { error: string }).error], [401, "invalid_client"]);
        // A token issued in the second of the rotation is covered by it (whole seconds): the next second's is not.
        await new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 10));
        const after = await issue(rotated.client_secret);
        assert.equal(after.status, 200);
        assert.equal(await active((after.body as { access_token: string }).access_token), true);
      } finally {
        await running.close();
      }
    });

    it("prints the secret in text with the same warning as clients create", async () => {
      const job = await create("--name", "Weekly print job", "--scope", "photos");
      const run = await cli(["clients", "rotate-secret", job.client_id, "--db", db]);
      assert.equal(run.code, 0, run.stderr);
      assert.match(
        run.stdout,
        new RegExp(
          `^client_id: {5}${job.client_id}\\nclient_secret: [A-Za-z0-9_-]{43}\\n\\(the secret is shown this once; only its SHA-256 digest is stored\\)\\n$`,
        ),
      );
    });
  });
});
