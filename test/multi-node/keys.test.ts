// Signing keys across nodes (keys/keyring.ts): the keys live in the shared database and each node re-reads them every
// --key-poll-interval, so a rotation run anywhere is published by every node within that interval, every node signs
// with the new key once it activates, and a retired key leaves every node's JWKS when its publication window
// (the access-token lifetime plus the clock skew) ends. On an empty database, nodes starting together create one key.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { decodeProtectedHeader, type JSONWebKeySet } from "jose";
import { basic, form, post } from "../authz-server/helpers.ts";
import { json, type ServeProcess } from "../authz-server/cli/helpers.ts";
import { buildServer, eventually, startCluster, type Cluster } from "./helpers.ts";

/** serve --key-poll-interval, in seconds. */
const KEY_POLL = 1;
/** serve --access-token-ttl with --clock-skew 0: a retired key's publication window, in seconds. */
const ACCESS_TOKEN_TTL = 1;
/** keys rotate --activate-after (with --force: far below what a gateway's cached key set needs). */
const ACTIVATE_AFTER = 3;

describe("signing keys across two nodes on one PostgreSQL database", () => {
  let cluster: Cluster;

  before(async () => {
    await buildServer();
    // No seed: the nodes find the database empty, and both start at once.
    cluster = await startCluster({
      args: [
        "--key-poll-interval",
        String(KEY_POLL),
        "--access-token-ttl",
        String(ACCESS_TOKEN_TTL),
        "--clock-skew",
        "0",
      ],
    });
  });
  after(() => cluster.close());

  const kidsOf = async (node: ServeProcess): Promise<string[]> => {
    const response = await fetch(`${node.url}/jwks.json`);
    assert.equal(response.status, 200);
    return ((await response.json()) as JSONWebKeySet).keys.map((key) => String(key.kid));
  };

  /** Every node's JWKS lists exactly `kids`. */
  async function assertPublished(kids: string[]): Promise<void> {
    for (const node of cluster.nodes) assert.deepEqual((await kidsOf(node)).sort(), [...kids].sort(), node.url);
  }

  /** The kid in the header of a client-credentials token `node` signs now. */
  async function signingKid(node: ServeProcess, client: { client_id: string; client_secret: string }) {
    const issued = await post(`${node.url}/token`, form({ grant_type: "client_credentials" }), {
      authorization: basic(client.client_id, client.client_secret),
    });
    assert.equal(issued.status, 200, JSON.stringify(issued.body));
    return decodeProtectedHeader((issued.body as { access_token: string }).access_token).kid;
  }

  it("two nodes started at the same instant on an empty database create one key; a rotation is published by both, signs on both once active, and its predecessor leaves both", async () => {
    const keys = json<{ kid: string }[]>(await cluster.cli(["keys", "list", "--json"]));
    assert.equal(keys.length, 1, "one signing key");
    const [first] = keys;
    await assertPublished([first.kid]);

    const client = json<{ client_id: string; client_secret: string }>(
      await cluster.cli(["clients", "create", "--name", "Batch job", "--grant-type", "client_credentials", "--json"]),
    );
    // The client is seen by both nodes within their client poll (1 s); until then they refuse it.
    for (const node of cluster.nodes) {
      await eventually(async () => assert.equal(await signingKid(node, client), first.kid), 2000);
    }

    const rotated = await cluster.cli([
      "keys",
      "rotate",
      "--activate-after",
      String(ACTIVATE_AFTER),
      "--force",
      "--json",
    ]);
    assert.equal(rotated.code, 0, rotated.stderr);
    const next = JSON.parse(rotated.stdout) as { kid: string; activate_at: string };
    const published = await eventually(() => assertPublished([first.kid, next.kid]), (KEY_POLL + 1) * 1000);
    assert.ok(published <= (KEY_POLL + 1) * 1000, `published by both within ${published} ms`);
    // Published, not yet signing.
    for (const node of cluster.nodes) assert.equal(await signingKid(node, client), first.kid);

    const activateAt = Date.parse(next.activate_at);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, activateAt - Date.now()) + 100));
    for (const node of cluster.nodes) assert.equal(await signingKid(node, client), next.kid, node.url);

    // Retired at the new key's activation; published until its last token (ACCESS_TOKEN_TTL) has expired.
    const unpublishAt = activateAt + ACCESS_TOKEN_TTL * 1000;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, unpublishAt - Date.now()) + 100));
    await assertPublished([next.kid]);
  });
});
