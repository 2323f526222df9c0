// The CLI as an operator meets it, through the real process: ids that can always be typed, options checked and
// refused in the CLI's own words (never a library's), `--version`, how to give a password without a terminal, and a
// key rotation that could outrun the gateways' cached key set.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer, type AddressInfo, type Server } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { defaults, minimumKeyActivateAfter } from "../../../authz-server/src/config.ts";
import { generateId } from "../../../authz-server/src/secrets.ts";
import { openStorage } from "../../../authz-server/src/storage/index.ts";
import type { Storage } from "../../../authz-server/src/storage/types.ts";
import { tempDir } from "../helpers.ts";
import { assertFails, cli, json, root } from "./helpers.ts";

/** Opens the database in-process (creating it), runs `fn`, closes it. */
async function withStorage<T>(db: string, fn: (storage: Storage) => Promise<T>): Promise<T> {
  const storage = await openStorage(db);
  try {
    return await fn(storage);
  } finally {
    await storage.close();
  }
}

describe("authz-server CLI usability", () => {
  const temp = tempDir();
  const db = join(temp.dir, "usability.db");
  const withDb = (...args: string[]) => [...args, "--db", db, "--json"];

  before(async () => {
    await promisify(execFile)("npx", ["tsc", "-b", "authz-server"], { cwd: root });
    await withStorage(db, () => Promise.resolve());
  });
  after(() => temp.remove());

  describe("client ids", () => {
    it("are generated with a letter first, so no id ever reads as an option", () => {
      // 2,000 ids: with a free first character (1 in 64 is "-") one would start with "-" all but surely.
      for (let i = 0; i < 2000; i++) assert.match(generateId(), /^[A-Za-f][A-Za-z0-9_-]{22}$/);
    });

    it("that start with '-' (stored by an earlier version) are shown and deleted, bare or after --", async () => {
      const clientId = "-Xk3mQ9vR2tY7wZ1aB4cD6e";
      await withStorage(db, (storage) =>
        storage.clients.create({
          clientId,
          name: "Old batch job",
          secretDigest: "0".repeat(64),
          redirectUris: [],
          grantTypes: ["client_credentials"],
          scopes: [],
          tokenEndpointAuthMethod: "client_secret_basic",
          createdAt: Date.UTC(2026, 0, 1),
        }),
      );
      const shown = json<{ client_id: string; name: string }>(await cli(withDb("clients", "show", clientId)));
      assert.deepEqual([shown.client_id, shown.name], [clientId, "Old batch job"]);
      assert.deepEqual(json(await cli(["clients", "show", "--db", db, clientId, "--json"])), shown);
      assert.deepEqual(json(await cli([...withDb("clients", "show"), "--", clientId])), shown);
      // `clients update` takes such an id after `--` only, so that a mistyped option stays an error.
      const updated = json<{ redirect_uris: string[] }>(
        await cli([...withDb("clients", "update", "--redirect-uri", "https://batch.example/cb"), "--", clientId]),
      );
      assert.deepEqual(updated.redirect_uris, ["https://batch.example/cb"]);
      assert.equal((await cli(withDb("clients", "update", clientId, "--redirect-url", "https://x.example/"))).code, 1);
      assert.deepEqual(json(await cli(withDb("clients", "delete", clientId))), { client_id: clientId, deleted: true });
      assertFails(await cli(withDb("clients", "show", clientId)), `authz-server: no such client: ${clientId}`);
      assertFails(
        await cli([...withDb("clients", "delete"), "--", clientId]),
        `authz-server: no such client: ${clientId}`,
      );
    });
  });

  it("prints its version from authz-server/package.json with --version", async () => {
    const { version } = JSON.parse(readFileSync(join(root, "authz-server/package.json"), "utf8")) as {
      version: string;
    };
    assert.deepEqual(await cli(["--version"]), { code: 0, stdout: `${version}\n`, stderr: "" });
  });

  describe("serve refuses bad options in its own words", () => {
    const serve = (...args: string[]) => cli(["serve", "--db", db, ...args]);

    it("a log level that is not one of pino's", async () => {
      assertFails(
        await serve("--port", "0", "--log-level", "verbose"),
        'authz-server: --log-level must be one of trace, debug, info, warn, error, fatal, silent; got "verbose"',
      );
    });

    it("a port outside 0-65535", async () => {
      for (const port of ["99999", "65536", "-1", "80x"]) {
        assertFails(
          await serve("--port", port),
          `authz-server: --port must be a whole number from 0 to 65535; got "${port}"`,
        );
      }
    });

    it("a timer period under 1 s, or seconds that are not whole", async () => {
      for (const flag of ["--key-poll-interval", "--purge-interval"]) {
        assertFails(await serve("--port", "0", flag, "0"), `authz-server: ${flag} must be at least 1, got 0`);
      }
      assertFails(
        await serve("--port", "0", "--clock-skew", "1.5"),
        'authz-server: --clock-skew must be a whole number, got "1.5"',
      );
    });

    it("an empty --host, which would listen on every interface", async () => {
      assertFails(
        await serve("--port", "0", "--host", " "),
        "authz-server: --host must name an address or a host name",
      );
    });

    it("a port that is in use, naming it", async () => {
      const holder = await new Promise<Server>((resolve) => {
        const server = createServer();
        server.listen(0, "127.0.0.1", () => resolve(server));
      });
      try {
        const port = (holder.address() as AddressInfo).port;
        assertFails(
          await serve("--port", String(port), "--host", "127.0.0.1"),
          `authz-server: cannot listen on 127.0.0.1:${port}: the port is in use (choose another with --port)`,
        );
      } finally {
        holder.close();
      }
    });

    it("a host that is no address of this machine, or no host at all", async () => {
      // 192.0.2.1 is TEST-NET-1 (RFC 5737): never assigned to a machine. A name with an empty label is refused by the
      // resolver itself, without asking DNS, so the answer does not depend on the network.
      assertFails(
        await serve("--port", "0", "--host", "192.0.2.1"),
        "authz-server: cannot listen on 192.0.2.1:0: it is not an address of this machine (check --host)",
      );
      assertFails(
        await serve("--port", "0", "--host", "no..such..host"),
        "authz-server: cannot listen on no..such..host:0: no such host (check --host)",
      );
    });
  });

  describe("users create without a terminal", () => {
    it("says how to give the password when stdin is not a terminal and --password-stdin is missing", async () => {
      assertFails(
        await cli(withDb("users", "create", "carol"), { input: "" }),
        "authz-server: no password given: pipe it with --password-stdin, or run in a terminal to be prompted",
      );
      assert.deepEqual(json(await cli(withDb("users", "list"))), []);
    });

    it("says the password is missing when --password-stdin gets nothing", async () => {
      assertFails(
        await cli(withDb("users", "create", "carol", "--password-stdin"), { input: "" }),
        "authz-server: no password on stdin: --password-stdin reads it from the first line",
      );
      assert.deepEqual(json(await cli(withDb("users", "list"))), []);
    });
  });

  describe("keys rotate --activate-after", () => {
    const minimum = minimumKeyActivateAfter();
    const tooShort =
      `--activate-after 60 is below the JWKS max-age (${defaults.jwksMaxAge} s) plus ${minimum - defaults.jwksMaxAge} s: ` +
      "gateways may still hold a key set without the new key when it starts signing";
    const kids = () => withStorage(db, async (storage) => (await storage.keys.list()).map((k) => k.kid));

    before(async () => {
      json(await cli(withDb("keys", "rotate"))); // the first key signs at once, whatever the delay
    });

    it("is at least the JWKS max-age the server publishes, plus a margin", () => {
      assert.ok(minimum > defaults.jwksMaxAge);
      assert.ok(defaults.keyActivateAfter >= minimum);
    });

    it("refuses a shorter delay and stores no key", async () => {
      const before = await kids();
      assertFails(
        await cli(withDb("keys", "rotate", "--activate-after", "60")),
        `authz-server: ${tooShort}; use at least ${minimum}, or --force`,
      );
      assert.deepEqual(await kids(), before);
    });

    it("takes a shorter delay with --force, with a warning on stderr", async () => {
      const run = await cli(withDb("keys", "rotate", "--activate-after", "60", "--force"));
      assert.equal(run.code, 0);
      assert.equal(run.stderr, `authz-server: warning: ${tooShort}; until they refetch it they refuse its tokens\n`);
      const key = JSON.parse(run.stdout) as { kid: string; created_at: string; activate_at: string };
      assert.equal(Date.parse(key.activate_at) - Date.parse(key.created_at), 60_000);
      assert.ok((await kids()).includes(key.kid));
    });

    it("takes the minimum without a warning", async () => {
      const key = json<{ created_at: string; activate_at: string }>(
        await cli(withDb("keys", "rotate", "--activate-after", String(minimum))),
      );
      assert.equal(Date.parse(key.activate_at) - Date.parse(key.created_at), minimum * 1000);
    });
  });
});
