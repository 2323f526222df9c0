// An authorization code is redeemed once across nodes (RFC 6749 §4.1.2, RFC 9700 §4.5.3): its consumption is one row
// update in the shared database, so of many presentations reaching either node one succeeds, and every other is a
// replay that revokes what the successful one issued — on both nodes, which read revocations from that database.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { buildServer, canonAt, seedFlow, startCluster, type Cluster, type Tokens } from "./helpers.ts";

const ALREADY_USED = { error: "invalid_grant", error_description: "the authorization code was already used" };
const INVALID_REFRESH = {
  error: "invalid_grant",
  error_description: "the refresh token is invalid, expired or revoked",
};

describe("authorization codes across two nodes on one PostgreSQL database", () => {
  let cluster: Cluster;
  let canon: ReturnType<typeof canonAt>;

  before(async () => {
    await buildServer();
    cluster = await startCluster({
      seed: async (run) => {
        canon = canonAt(await seedFlow(run));
      },
    });
  });
  after(() => cluster.close());

  it("of 50 parallel redemptions of one code alternating between the nodes, one succeeds; the replays revoke its tokens on both", async () => {
    const { attempt, callback } = await canon.authorize(cluster.nodes[0]);
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => canon.exchange(cluster.node(i), attempt, callback)),
    );
    const succeeded = answers.filter((a) => a.status === 200);
    assert.equal(succeeded.length, 1, JSON.stringify(answers.map((a) => a.status)));
    for (const refused of answers.filter((a) => a.status !== 200)) {
      assert.deepEqual([refused.status, refused.body], [400, ALREADY_USED]);
    }
    const issued = succeeded[0].body as Tokens;
    for (const node of cluster.nodes) {
      assert.equal(await canon.active(node, issued.access_token), false, `access token inactive at ${node.url}`);
      assert.equal(await canon.active(node, issued.refresh_token), false, `refresh token inactive at ${node.url}`);
      const refreshed = await canon.refresh(node, issued.refresh_token);
      assert.deepEqual([refreshed.status, refreshed.body], [400, INVALID_REFRESH]);
    }
  });

  it("a code redeemed on one node is refused as already used on the other, which revokes the first node's tokens", async () => {
    const { attempt, callback } = await canon.authorize(cluster.nodes[1]);
    const redeemed = await canon.exchange(cluster.nodes[0], attempt, callback);
    assert.equal(redeemed.status, 200, JSON.stringify(redeemed.body));
    const issued = redeemed.body as Tokens;
    assert.equal(await canon.active(cluster.nodes[1], issued.access_token), true);
    const replayed = await canon.exchange(cluster.nodes[1], attempt, callback);
    assert.deepEqual([replayed.status, replayed.body], [400, ALREADY_USED]);
    assert.equal(await canon.active(cluster.nodes[0], issued.access_token), false);
    const refreshed = await canon.refresh(cluster.nodes[0], issued.refresh_token);
    assert.deepEqual([refreshed.status, refreshed.body], [400, INVALID_REFRESH]);
  });
});
