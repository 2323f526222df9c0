// Consent withdrawn on one node ends the grant on every node at once: the withdrawal revokes the client's refresh
// tokens for the user in the shared database, which every node reads on each refresh (nothing about grants is cached
// in a node's memory). Withdrawn on node A's consents page or with `consents revoke` beside the nodes, the next
// refresh on node B is refused.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { BrowserClient, onlyForm, withFields } from "../authz-server/browser-client.ts";
import type { TestClient } from "../authz-server/helpers.ts";
import type { ServeProcess } from "../authz-server/cli/helpers.ts";
import { allow, authorizationRequest, loginThrough } from "../authz-server/code-flow.ts";
import { buildServer, canonAt, flowNode, seedFlow, startCluster, type Cluster, type Tokens } from "./helpers.ts";

const INVALID_REFRESH = {
  error: "invalid_grant",
  error_description: "the refresh token is invalid, expired or revoked",
};

describe("consent withdrawn on one of two nodes on one PostgreSQL database", () => {
  let cluster: Cluster;
  let canon: TestClient;
  let nodeA: ServeProcess;
  let nodeB: ServeProcess;
  /** alice's browser, signed in on node A. */
  let browser: BrowserClient;

  before(async () => {
    await buildServer();
    cluster = await startCluster({
      seed: async (run) => {
        canon = await seedFlow(run);
      },
    });
    [nodeA, nodeB] = cluster.nodes;
    browser = new BrowserClient(nodeA.url);
  });
  after(() => cluster.close());

  /**
   * alice allows Canon Printing on node A (signing in first if she must); Canon exchanges the code at node B and
   * refreshes there once, so node B has served the grant.
   */
  async function grant(): Promise<Tokens> {
    const atA = flowNode(nodeA, canon);
    const attempt = await authorizationRequest(atA);
    const first = await browser.get(attempt.url.href);
    const consentPage = /<h1>Sign in to Flickr<\/h1>/.test(first.body) ? await loginThrough(browser, attempt) : first;
    const callback = await allow(browser, consentPage);
    const exchanged = await canonAt(canon).exchange(nodeB, attempt, callback);
    assert.equal(exchanged.status, 200, JSON.stringify(exchanged.body));
    const refreshed = await canonAt(canon).refresh(nodeB, (exchanged.body as Tokens).refresh_token);
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
    return refreshed.body as Tokens;
  }

  async function assertRefusedOnBoth(tokens: Tokens): Promise<void> {
    for (const node of [nodeB, nodeA]) {
      const refused = await canonAt(canon).refresh(node, tokens.refresh_token);
      assert.deepEqual([refused.status, refused.body], [400, INVALID_REFRESH], node.url);
      assert.equal(await canonAt(canon).active(node, tokens.access_token), false, node.url);
    }
  }

  it("withdrawn on node A's consents page: the next refresh on node B is refused", async () => {
    const tokens = await grant();
    const page = await browser.get("/consents");
    assert.equal(page.status, 200);
    const withdrawn = await browser.post("/consents/revoke", withFields(onlyForm(page.body, "/consents/revoke"), {}));
    assert.equal(withdrawn.status, 303);
    await assertRefusedOnBoth(tokens);
  });

  it("withdrawn with `consents revoke` beside the nodes: the next refresh on node B is refused", async () => {
    const tokens = await grant();
    const revoked = await cluster.cli(["consents", "revoke", "--user", "alice", "--client", canon.clientId]);
    assert.equal(revoked.code, 0, revoked.stderr);
    await assertRefusedOnBoth(tokens);
  });
});
