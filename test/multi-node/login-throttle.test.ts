// The login throttle counts across nodes: two `authz-server serve` processes on one PostgreSQL database share its
// state (session/throttle.ts, storage LoginThrottleStore), so guesses alternating between them meet the same limits
// as guesses sent to one. Each browser sits on its own loopback address (127.0.0.0/8), the TCP peer address the
// server keys on: it trusts no X-Forwarded-For.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { startTestPostgres, type TestPostgres } from "../helpers/postgres.ts";
import {
  assertPageHeaders,
  onlyForm,
  PeerBrowser,
  withFields,
  type PageResponse,
} from "../authz-server/browser-client.ts";
import { cli, root, serve, type ServeProcess } from "../authz-server/cli/helpers.ts";
import { PASSWORD } from "../authz-server/code-flow.ts";

const ADDRESS_PAUSED =
  /Too many failed sign-in attempts for this account from your network address\. For your security, sign-in from here is paused\. Try again in 15 minutes\./;

/**
 * Refused by the per account-and-address limit: until the first failure is 15 minutes old, less the real seconds the
 * guesses (and any node start) took since.
 */
function assertAddressPaused(paused: PageResponse): void {
  assert.equal(paused.status, 429);
  const wait = Number(paused.headers.get("retry-after"));
  assert.ok(wait > 880 && wait <= 900, `retry after ${wait} s`);
  assertPageHeaders(paused.headers);
  assert.match(paused.body, ADDRESS_PAUSED);
}

describe("login throttle across two nodes on one PostgreSQL database", () => {
  let postgres: TestPostgres;
  let nodes: ServeProcess[];

  before(async () => {
    await promisify(execFile)("npx", ["tsc", "-b", "authz-server"], { cwd: root });
    postgres = await startTestPostgres();
    const db = postgres.url;
    for (const username of ["alice", "bob"]) {
      const created = await cli(["users", "create", username, "--password-stdin", "--db", db], {
        input: `${PASSWORD}\n`,
      });
      assert.equal(created.code, 0, created.stderr);
    }
    nodes = await Promise.all([serve(["--db", db]), serve(["--db", db])]);
  });
  after(async () => {
    for (const node of nodes) assert.equal(await node.stop(), 0);
    await postgres.close();
  });

  /**
   * A browser at `address` on the sign-in page node A gives (GET /consents, signed out), with its anti-CSRF token;
   * returns the poster of that form to any node (the session key is the database's, shared by both).
   */
  async function signInForm(address: string) {
    const browser = new PeerBrowser(nodes[0].url, address);
    const page = await browser.get("/consents");
    assert.equal(page.status, 200);
    const form = onlyForm(page.body, "/login");
    return (node: ServeProcess, username: string, password: string): Promise<PageResponse> =>
      browser.post(`${node.url}/login`, withFields(form, { username, password }));
  }

  it("pauses one address for one account after 5 failures, whichever node each guess and the 6th reach", async () => {
    const guess = await signInForm("127.0.0.2");
    for (let i = 0; i < 5; i++) {
      const wrong = await guess(nodes[i % 2], "alice", `guess-${i}`);
      assert.equal(wrong.status, 400, `guess ${i} on node ${i % 2}`);
      assert.match(wrong.body, /The username or password is incorrect\./);
    }
    for (const node of nodes) assertAddressPaused(await guess(node, "alice", "guess-5"));
    // Not even the right password is checked from there; bob, behind the same address, signs in on either node.
    assert.equal((await guess(nodes[1], "alice", PASSWORD)).status, 429);
    assert.equal((await (await signInForm("127.0.0.2"))(nodes[1], "bob", PASSWORD)).status, 303);
    // A node started afterwards (or restarted) finds the counts in the database.
    const late = await serve(["--db", postgres.url]);
    try {
      assertAddressPaused(await guess(late, "alice", "guess-6"));
    } finally {
      assert.equal(await late.stop(), 0);
    }
  });

  it("spaces out one account's attempts from several addresses spread over both nodes: a burst of 5, then a wait", async () => {
    for (let i = 0; i < 5; i++) {
      const wrong = await (await signInForm(`127.0.0.${10 + i}`))(nodes[i % 2], "carol", `guess-${i}`);
      assert.equal(wrong.status, 400, `guess ${i} on node ${i % 2}`);
    }
    for (const [n, node] of nodes.entries()) {
      const slowed = await (await signInForm(`127.0.0.${20 + n}`))(node, "carol", `guess-${5 + n}`);
      assert.equal(slowed.status, 429);
      // One interval (30 s) from the first guess of the burst, less the second or so the guesses took.
      const wait = Number(slowed.headers.get("retry-after"));
      assert.ok(wait >= 25 && wait <= 30, `retry after ${wait} s`);
      assert.match(
        slowed.body,
        new RegExp(
          `This account has had many failed sign-in attempts\\. For your security, attempts are spaced out: try again in ${wait} seconds\\.`,
        ),
      );
    }
  });

  it("counts 10 guesses sent at once, half to each node, as the limit allows: 5 checked, 5 refused", async () => {
    const guess = await signInForm("127.0.0.30");
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => guess(nodes[i % 2], "dave", `guess-${i}`)));
    assert.deepEqual(answers.map((a) => a.status).sort(), [400, 400, 400, 400, 400, 429, 429, 429, 429, 429]);
    for (const refused of answers.filter((a) => a.status === 429)) assert.match(refused.body, ADDRESS_PAUSED);
  });
});
