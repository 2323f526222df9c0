// `keys list` runs without the flags of the server beside it, so it cannot know the access-token lifetime that server
// uses. A retired key stays published for that lifetime plus the clock skew after its last signature
// (keys/keyring.ts): the list must never call "expired" a key a server may still publish, so it reads the window for
// the longest lifetime any server may be configured with (config.ts, limits.accessTokenTtl).
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { defaults, limits } from "../../../authz-server/src/config.ts";
import { decodeProtectedHeader, type JSONWebKeySet } from "jose";
import { basic, form, post, present, tempDir } from "../helpers.ts";
import { assertFails, cli, json, serve } from "./helpers.ts";

interface ListedKey {
  kid: string;
  state: string;
  retired_at: string | null;
  unpublish_at: string | null;
}

describe("authz-server keys list", () => {
  const temp = tempDir();
  const db = join(temp.dir, "keys.db");
  const withDb = (...args: string[]) => [...args, "--db", db, "--json"];

  before(async () => {
    json(await cli(withDb("init")));
    json(await cli(withDb("keys", "rotate")));
  });
  after(() => temp.remove());

  it("keeps a retired key published for the longest access-token lifetime a server may use, plus the clock skew", async () => {
    const rotated = await cli(withDb("keys", "rotate", "--activate-after", "0", "--force"));
    assert.equal(rotated.code, 0, rotated.stderr);
    const [retired, active] = json<ListedKey[]>(await cli(withDb("keys", "list")));
    assert.equal(retired.state, "retired");
    assert.equal(active.state, "active");
    assert.ok(retired.retired_at !== null && retired.unpublish_at !== null);
    assert.equal(
      Date.parse(retired.unpublish_at) - Date.parse(retired.retired_at),
      (limits.accessTokenTtl + defaults.clockSkew) * 1000,
    );
  });
});

interface Revoked {
  kid: string;
  revoked: true;
  replacement: { kid: string; alg: string; activate_at: string } | null;
}

describe("authz-server keys revoke", () => {
  const temp = tempDir();
  const db = join(temp.dir, "revoke.db");
  const withDb = (...args: string[]) => [...args, "--db", db, "--json"];
  const listed = async () => json<ListedKey[]>(await cli(withDb("keys", "list")));

  before(async () => {
    json(await cli(withDb("init")));
    json(await cli(withDb("keys", "rotate"))); // the first key signs at once
  });
  after(() => temp.remove());

  it("says in its help that activating the replacement at once is right here, and why", async () => {
    const help = await cli(["keys", "revoke", "--help"]);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout.replace(/\s+/g, " "), /this is the one case where immediate activation is right/);
  });

  it("refuses an unknown kid in one line", async () => {
    assertFails(await cli(withDb("keys", "revoke", "no-such-kid")), "authz-server: no such key: no-such-kid");
  });

  it("a pending key goes without a replacement; the signing key is replaced by one that signs at once", async () => {
    const pending = json<{ kid: string }>(await cli(withDb("keys", "rotate")));
    assert.deepEqual(json<Revoked>(await cli(withDb("keys", "revoke", pending.kid))), {
      kid: pending.kid,
      revoked: true,
      replacement: null,
    });
    const [signing] = await listed();
    assert.equal(signing.state, "active");

    const started = Date.now();
    const revoked = json<Revoked>(await cli(withDb("keys", "revoke", signing.kid)));
    const replacement = present(revoked.replacement, "the replacement");
    assert.equal(replacement.alg, "ES256");
    assert.ok(Date.parse(replacement.activate_at) >= started - 1 && Date.parse(replacement.activate_at) <= Date.now());
    assert.deepEqual(
      (await listed()).map((k) => [k.kid, k.state]),
      [[replacement.kid, "active"]],
    );
  });

  it("prints what it did in text", async () => {
    const [signing] = await listed();
    const run = await cli(["keys", "revoke", signing.kid, "--db", db]);
    assert.equal(run.code, 0, run.stderr);
    const [replacement] = await listed();
    assert.equal(
      run.stdout,
      `revoked key ${signing.kid}: unpublished, and every token it signed is refused\n` +
        `new ES256 key ${replacement.kid} published; signs from now (the revoked key was signing)\n`,
    );
  });

  it("a running server drops the key from its JWKS at its next key poll, signs with the replacement and refuses the key's tokens", async () => {
    const job = json<{ client_id: string; client_secret: string }>(
      await cli(withDb("clients", "create", "--name", "Backup job")),
    );
    const server = await serve(["--db", db, "--key-poll-interval", "1"]);
    try {
      const auth = { authorization: basic(job.client_id, job.client_secret) };
      const issue = async () => {
        const issued = await post(`${server.url}/token`, form({ grant_type: "client_credentials" }), auth);
        assert.equal(issued.status, 200);
        return (issued.body as { access_token: string }).access_token;
      };
      const kids = async () =>
        ((await (await fetch(`${server.url}/jwks.json`)).json()) as JSONWebKeySet).keys.map((k) => k.kid);
      const active = async (token: string) =>
        ((await post(`${server.url}/introspect`, form({ token }), auth)).body as { active: boolean }).active;
      const token = await issue();
      const [signing] = await listed();
      assert.equal(decodeProtectedHeader(token).kid, signing.kid);
      assert.equal(await active(token), true);

      const replacement = present(
        json<Revoked>(await cli(withDb("keys", "revoke", signing.kid))).replacement,
        "the replacement",
      );
      const deadline = Date.now() + 3_000; // the key poll (1 s) plus a margin
      while ((await kids()).includes(signing.kid) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.deepEqual(await kids(), [replacement.kid]);
      assert.equal(decodeProtectedHeader(await issue()).kid, replacement.kid);
      assert.equal(await active(token), false);
    } finally {
      await server.stop();
    }
  });
});
