// `authz-server serve --metrics-port` as an operator runs it: the metrics on a loopback listener of their own, and a
// port that cannot be had either stops the start in one line or, with --metrics-optional, only costs the metrics.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { tempDir } from "../helpers.ts";
import { assertFails, cli, closedPort, json, root, serve } from "./helpers.ts";

/** Something else listening on 127.0.0.1 (an ephemeral port): the port a metrics flag then names. */
async function portInUse(): Promise<{ port: number; release(): void }> {
  const holder = await new Promise<Server>((resolve) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
  const address = holder.address();
  assert.ok(address !== null && typeof address === "object");
  return { port: address.port, release: () => holder.close() };
}

describe("serve --metrics-port", () => {
  const temp = tempDir();
  const db = join(temp.dir, "metrics.db");

  before(async () => {
    if (!existsSync(join(root, "authz-server/dist/cli/index.js"))) {
      await promisify(execFile)("npx", ["tsc", "-b", "authz-server"], { cwd: root });
    }
    json(await cli(["init", "--db", db, "--json"]));
  });
  after(() => temp.remove());

  it("serves GET /metrics on 127.0.0.1 unless told otherwise, never on the issuer's port", async () => {
    const port = await closedPort();
    const server = await serve(["--db", db, "--metrics-port", String(port)]);
    try {
      const listening = server.logs.find((record) => record["msg"] === "listening");
      assert.equal(listening?.["metrics"], `http://127.0.0.1:${port}`);
      const metrics = await fetch(`http://127.0.0.1:${port}/metrics`);
      assert.equal(metrics.status, 200);
      assert.match(await metrics.text(), /^authz_tokens_issued_total\{grant_type="client_credentials"\} 0$/m);
      const onIssuer = await fetch(`${server.url}/metrics`);
      assert.equal(onIssuer.status, 404);
      await onIssuer.body?.cancel();
    } finally {
      assert.equal(await server.stop(), 0);
    }
    assert.equal(server.stderr(), "");
  });

  it("a metrics port in use stops the start: one line naming it, exit 1", async () => {
    const taken = await portInUse();
    try {
      assertFails(
        await cli(["serve", "--port", "0", "--host", "127.0.0.1", "--db", db, "--metrics-port", String(taken.port)]),
        `authz-server: --metrics-port ${taken.port} on 127.0.0.1 is in use`,
      );
    } finally {
      taken.release();
    }
  });

  it("with --metrics-optional, a metrics port in use is one warning line and the server runs without metrics", async () => {
    const taken = await portInUse();
    try {
      const server = await serve(["--db", db, "--metrics-port", String(taken.port), "--metrics-optional"]);
      try {
        assert.equal(
          server.stderr(),
          `authz-server: --metrics-port ${taken.port} on 127.0.0.1 is in use; running without metrics\n`,
        );
        const listening = server.logs.find((record) => record["msg"] === "listening");
        assert.equal(listening?.["metrics"], undefined);
        const jwks = await fetch(`${server.url}/jwks.json`);
        assert.equal(jwks.status, 200);
        await jwks.body?.cancel();
      } finally {
        assert.equal(await server.stop(), 0);
      }
    } finally {
      taken.release();
    }
  });

  it("refuses metrics flags it cannot use, in one line", async () => {
    const refused = (...args: string[]) => cli(["serve", "--port", "0", "--db", db, ...args]);
    assertFails(
      await refused("--metrics-port", "99999"),
      'authz-server: --metrics-port must be a whole number from 0 to 65535; got "99999"',
    );
    assertFails(
      await refused("--metrics-port", "0", "--metrics-host", " "),
      "authz-server: --metrics-host must name an address or a host name",
    );
    assertFails(await refused("--metrics-optional"), "authz-server: --metrics-optional needs --metrics-port");
  });
});
