// Refresh-token rotation across nodes (RFC 9700 §4.14.2; docs/refresh-token-successors.md): a token's successor is
// derived with the database's refresh-successor key, which every node shares, so concurrent presentations reaching
// either node get the one successor and the family keeps one chain; a rotated token reused after the grace window
// revokes the family in the database, and both nodes then refuse every member.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { digest } from "../../authz-server/src/secrets.ts";
import { openStorage } from "../../authz-server/src/storage/index.ts";
import { present } from "../authz-server/helpers.ts";
import { buildServer, canonAt, seedFlow, startCluster, type Cluster, type Tokens } from "./helpers.ts";

const INVALID_REFRESH = {
  error: "invalid_grant",
  error_description: "the refresh token is invalid, expired or revoked",
};
/** serve --refresh-grace: long enough for twenty parallel refreshes on a busy machine, short to wait out. */
const GRACE_SECONDS = 2;

describe("refresh-token rotation across two nodes on one PostgreSQL database", () => {
  let cluster: Cluster;
  let canon: ReturnType<typeof canonAt>;

  before(async () => {
    await buildServer();
    cluster = await startCluster({
      args: ["--refresh-grace", String(GRACE_SECONDS)],
      seed: async (run) => {
        canon = canonAt(await seedFlow(run));
      },
    });
  });
  after(() => cluster.close());

  /** The heads of the chains of the family of `refreshToken` (neither rotated nor revoked), read from the database. */
  async function liveTokens(refreshToken: string): Promise<string[]> {
    const storage = await openStorage(cluster.db);
    try {
      const { familyId } = present(await storage.refreshTokens.find(digest(refreshToken)), "the refresh token");
      return (await storage.refreshTokens.family(familyId))
        .filter((t) => t.rotatedAt === null && t.revokedAt === null)
        .map((t) => t.tokenDigest);
    } finally {
      await storage.close();
    }
  }

  it("twenty parallel refreshes of one token alternating between the nodes get one successor; a reuse after the grace window revokes the family on both", async () => {
    const first = await canon.signIn(cluster.nodes);
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => canon.refresh(cluster.node(i), first.refresh_token)),
    );
    assert.deepEqual(
      answers.map((a) => [a.status, a.status === 200 ? "" : JSON.stringify(a.body)]),
      Array(20).fill([200, ""]),
    );
    const bodies = answers.map((a) => a.body as Tokens);
    const successors = new Set(bodies.map((b) => b.refresh_token));
    assert.equal(successors.size, 1, "one successor, whichever node answered");
    const [successor] = successors;
    assert.equal(new Set(bodies.map((b) => b.access_token)).size, 20, "each answer carries its own access token");
    assert.deepEqual(await liveTokens(first.refresh_token), [digest(successor)]);

    // The chain moves on at node B; after the window, the rotated successor presented at node A is a reuse.
    const onward = await canon.refresh(cluster.nodes[1], successor);
    assert.equal(onward.status, 200, JSON.stringify(onward.body));
    const head = onward.body as Tokens;
    await new Promise((resolve) => setTimeout(resolve, GRACE_SECONDS * 1000 + 200));
    const reused = await canon.refresh(cluster.nodes[0], successor);
    assert.deepEqual([reused.status, reused.body], [400, INVALID_REFRESH]);

    assert.deepEqual(await liveTokens(first.refresh_token), []);
    for (const node of cluster.nodes) {
      for (const token of [first.refresh_token, successor, head.refresh_token]) {
        const refused = await canon.refresh(node, token);
        assert.deepEqual([refused.status, refused.body], [400, INVALID_REFRESH], `${node.url} refuses every member`);
      }
      for (const { access_token } of [first, ...bodies, head]) {
        assert.equal(await canon.active(node, access_token), false, `${node.url}: the family's access tokens`);
      }
    }
  });
});
