// Browser sessions across nodes (session/sessions.ts): the cookie is signed with the database's session key and names
// a session row in the shared database, so a session begun on node A is one on node B, and whatever ends it — a
// sign-out on either node, a password change, the user's deletion — ends it on both, for every copy of the cookie.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { BrowserClient, onlyForm, withFields } from "../authz-server/browser-client.ts";
import { present, type TestClient } from "../authz-server/helpers.ts";
import type { ServeProcess } from "../authz-server/cli/helpers.ts";
import {
  allow,
  authorizationRequest,
  CANON_CALLBACK,
  exchangeCallback,
  loginThrough,
  PASSWORD,
} from "../authz-server/code-flow.ts";
import { buildServer, flowNode, seedFlow, startCluster, type Cluster } from "./helpers.ts";

const OTHER_USERS = ["bob", "carol", "dave"];

describe("browser sessions across two nodes on one PostgreSQL database", () => {
  let cluster: Cluster;
  let canon: TestClient;
  let nodeA: ServeProcess;
  let nodeB: ServeProcess;

  before(async () => {
    await buildServer();
    cluster = await startCluster({
      seed: async (run) => {
        canon = await seedFlow(run);
        for (const username of OTHER_USERS) {
          const created = await run(["users", "create", username, "--password-stdin"], { input: `${PASSWORD}\n` });
          assert.equal(created.code, 0, created.stderr);
        }
      },
    });
    [nodeA, nodeB] = cluster.nodes;
  });
  after(() => cluster.close());

  /** Who `browser` is signed in as at `node`, from its consents page; undefined when it offers the sign-in form. */
  async function signedInAs(browser: BrowserClient, node: ServeProcess): Promise<string | undefined> {
    const page = await browser.get(`${node.url}/consents`);
    assert.equal(page.status, 200, page.body);
    const who = /Signed in as <strong>([^<]*)<\/strong>/.exec(page.body);
    if (who === null) onlyForm(page.body, "/login");
    return who?.[1];
  }

  /** `username` signs in on node A through its sign-in form (POST /login). */
  async function signIn(username: string): Promise<BrowserClient> {
    const browser = new BrowserClient(nodeA.url);
    const page = await browser.get("/consents");
    const login = await browser.post(
      "/login",
      withFields(onlyForm(page.body, "/login"), { username, password: PASSWORD }),
    );
    assert.equal(login.status, 303, login.body);
    for (const node of cluster.nodes) assert.equal(await signedInAs(browser, node), username, node.url);
    return browser;
  }

  /** A second browser holding a copy of `browser`'s cookies (a cookie copied before the session ended). */
  function copyOf(browser: BrowserClient): BrowserClient {
    const copy = new BrowserClient(browser.base);
    for (const [name, cookie] of browser.jar.cookies) copy.jar.cookies.set(name, cookie);
    return copy;
  }

  it("a session begun on node A signs the browser in on node B: its authorization request goes straight to the code", async () => {
    const atA = flowNode(nodeA, canon);
    const browser = new BrowserClient(nodeA.url);
    await allow(browser, await loginThrough(browser, await authorizationRequest(atA)));

    const atB = flowNode(nodeB, canon);
    const attempt = await authorizationRequest(atB);
    const redirected = await browser.get(attempt.url.href);
    assert.equal(redirected.status, 303, "no sign-in page, no consent page: alice allowed Canon Printing on node A");
    const callback = new URL(present(redirected.location, "Location"));
    assert.equal(`${callback.origin}${callback.pathname}`, CANON_CALLBACK);
    assert.equal(callback.searchParams.get("state"), attempt.state);
    const exchanged = await exchangeCallback(atB, attempt, callback);
    assert.equal(exchanged.status, 200, JSON.stringify(exchanged.body));
  });

  it("a sign-out on node B ends the session on both nodes, for every copy of the cookie", async () => {
    const browser = await signIn("bob");
    const stolen = copyOf(browser);
    const page = await browser.get(`${nodeB.url}/consents`);
    const signedOut = await browser.post(`${nodeB.url}/logout`, withFields(onlyForm(page.body, "/logout"), {}));
    assert.equal(signedOut.status, 303);
    for (const node of cluster.nodes) {
      assert.equal(await signedInAs(browser, node), undefined, node.url);
      assert.equal(await signedInAs(copyOf(stolen), node), undefined, `a copy of the cookie at ${node.url}`);
    }
  });

  it("a password change ends the user's sessions on both nodes", async () => {
    const browser = await signIn("carol");
    const changed = await cluster.cli(["users", "set-password", "carol", "--password-stdin"], {
      input: "a new and different passphrase\n",
    });
    assert.equal(changed.code, 0, changed.stderr);
    for (const node of cluster.nodes) assert.equal(await signedInAs(copyOf(browser), node), undefined, node.url);
  });

  it("deleting the user ends their sessions on both nodes", async () => {
    const browser = await signIn("dave");
    const deleted = await cluster.cli(["users", "delete", "dave"]);
    assert.equal(deleted.code, 0, deleted.stderr);
    for (const node of cluster.nodes) assert.equal(await signedInAs(copyOf(browser), node), undefined, node.url);
  });
});
