// Clients and scopes across nodes: each node holds them in memory and re-reads a table only when its version row has
// changed, checking that row at most once a second (storage/postgres/db.ts TableVersion) — no query per request. So a
// `clients create`, `clients delete` or `scopes create` run beside the nodes is seen by every one of them within that
// second plus a round trip.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { decodeJwt } from "jose";
import { basic, form, post } from "../authz-server/helpers.ts";
import { json, type ServeProcess } from "../authz-server/cli/helpers.ts";
import { TableVersion } from "../../authz-server/src/storage/postgres/db.ts";
import { buildServer, eventually, startCluster, type Cluster } from "./helpers.ts";

/** The client and scope poll interval plus 1 s. */
const SEEN_WITHIN = TableVersion.RECHECK_INTERVAL_MS + 1000;

interface Created {
  client_id: string;
  client_secret: string;
}

const INVALID_CLIENT = { error: "invalid_client", error_description: "client authentication failed" };

describe("clients and scopes created or deleted by the CLI beside two nodes on one PostgreSQL database", () => {
  let cluster: Cluster;
  /** A client both nodes have in memory from the start (scope `photos`). */
  let known: Created;

  before(async () => {
    await buildServer();
    cluster = await startCluster({
      seed: async (run) => {
        assert.equal((await run(["scopes", "create", "photos", "--description", "View your photos"])).code, 0);
        known = json<Created>(await run(["clients", "create", "--name", "Backup job", "--scope", "photos", "--json"]));
      },
    });
    // Both nodes read the clients and scopes tables into memory.
    for (const node of cluster.nodes) assert.equal((await token(node, known, "photos")).status, 200);
  });
  after(() => cluster.close());

  const token = (node: ServeProcess, client: Created, scope: string) =>
    post(`${node.url}/token`, form({ grant_type: "client_credentials", scope }), {
      authorization: basic(client.client_id, client.client_secret),
    });

  /** Waits until every node answers `check`, within SEEN_WITHIN of the call; returns how long that took. */
  async function seenByEveryNode(check: (node: ServeProcess) => Promise<void>): Promise<number> {
    const took = await eventually(async () => {
      for (const node of cluster.nodes) await check(node);
    }, SEEN_WITHIN);
    assert.ok(took <= SEEN_WITHIN, `seen by every node after ${took} ms`);
    return took;
  }

  it("a new client, and a new scope it is granted, get tokens on both nodes", async () => {
    const resource = "https://prints.example.test/";
    const created = await cluster.cli([
      "scopes",
      "create",
      "prints",
      "--description",
      "Order prints",
      "--resource",
      resource,
    ]);
    assert.equal(created.code, 0, created.stderr);
    const client = json<Created>(
      await cluster.cli(["clients", "create", "--name", "Print shop", "--scope", "prints", "--json"]),
    );
    const audiences: unknown[] = [];
    await seenByEveryNode(async (node) => {
      const issued = await token(node, client, "prints");
      assert.equal(issued.status, 200, JSON.stringify(issued.body));
      const { access_token, scope } = issued.body as { access_token: string; scope: string };
      assert.equal(scope, "prints");
      audiences.push(decodeJwt(access_token).aud);
      const metadata = (await (await fetch(`${node.url}/.well-known/oauth-authorization-server`)).json()) as {
        scopes_supported: string[];
      };
      assert.deepEqual(metadata.scopes_supported.sort(), ["photos", "prints"]);
    });
    // The scope's resource is the audience of every token issued (RFC 8707), even by a node that knew the client
    // before its next look at the scopes table: a scope it lacks makes it look at once (ScopeStore.catalog).
    assert.deepEqual(new Set(audiences), new Set([resource]));
  });

  it("a deleted client gets invalid_client on both nodes, which had it in memory", async () => {
    const doomed = json<Created>(
      await cluster.cli(["clients", "create", "--name", "Old exporter", "--scope", "photos", "--json"]),
    );
    await seenByEveryNode(async (node) => assert.equal((await token(node, doomed, "photos")).status, 200));
    assert.equal((await cluster.cli(["clients", "delete", doomed.client_id])).code, 0);
    await seenByEveryNode(async (node) => {
      const refused = await token(node, doomed, "photos");
      assert.deepEqual([refused.status, refused.body], [401, INVALID_CLIENT]);
    });
    // The other client is untouched.
    for (const node of cluster.nodes) assert.equal((await token(node, known, "photos")).status, 200);
  });
});
