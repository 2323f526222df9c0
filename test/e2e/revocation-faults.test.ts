// The revocation feed's faults, seen from running gateways (the stand-in over kong.yml, the real plugin server): the
// authorization server stopped and started again, and a wrong feed credential. Under the default
// `revocation_stale_action` "accept" a gateway keeps enforcing the last set it fetched and serves every other token;
// under "refuse" it answers 503 once the set is older than `revocation_max_stale_seconds`; both recover by themselves
// when the feed answers again. A credential the feed refuses is one clear line in the plugin server's output, not a
// line per poll and not a crash.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { basic, form, post } from "../authz-server/helpers.ts";
import { canonAt, eventually, type Tokens } from "../multi-node/helpers.ts";
import {
  assertRevokedAnswer,
  assertServed,
  POLL_SECONDS,
  refusedWithin,
  startRevocationStack,
  type FeedGateway,
  type RevocationStack,
} from "./revocation-stack.ts";

const UNAVAILABLE = { message: "the token revocation list is unavailable" };

describe("the revocation feed's faults at running gateways", { timeout: 60_000 }, () => {
  let stack: RevocationStack;
  /** Default settings: "accept", stale after 30 s. */
  let accepting: FeedGateway;
  /** "refuse" once the set is a second old. */
  let refusing: FeedGateway;
  let served: Tokens;
  let revoked: Tokens;

  before(async () => {
    stack = await startRevocationStack();
    [accepting, refusing] = await Promise.all([
      stack.startGateway(),
      stack.startGateway({ revocation_stale_action: "refuse", revocation_max_stale_seconds: 1 }),
    ]);
    [served, revoked] = [
      await canonAt(stack.canon).signIn([stack.authz]),
      await canonAt(stack.canon).signIn([stack.authz]),
    ];
    for (const gateway of [accepting, refusing]) {
      await eventually(() => assertServed(gateway, served.access_token), 5000);
      await assertServed(gateway, revoked.access_token);
    }
    const answer = await post(`${stack.authz.url}/revoke`, form({ token: revoked.access_token }), {
      authorization: basic(stack.canon.clientId, stack.canon.clientSecret),
    });
    assert.equal(answer.status, 200);
    await Promise.all([refusedWithin(accepting, revoked.access_token), refusedWithin(refusing, revoked.access_token)]);
  });
  after(() => stack.close());

  it("the feed down: `accept` keeps the last set and serves other tokens; `refuse` answers 503 past max-stale; both recover", async () => {
    await stack.stopAuthz();
    // Past the refusing gateway's max-stale (1 s), well within the accepting one's (30 s).
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await assertServed(accepting, served.access_token, "accept, feed down");
    assertRevokedAnswer(await accepting.photos(revoked.access_token));
    const stale = await refusing.photos(served.access_token);
    assert.deepEqual(
      { status: stale.status, body: JSON.parse(stale.body) as unknown },
      { status: 503, body: UNAVAILABLE },
    );
    assert.equal(accepting.plugins.logs().filter((line) => line.includes("revocation feed")).length, 1);
    assert.match(
      accepting.plugins.logs().find((line) => line.includes("revocation feed")) ?? "",
      /revocation feed of http:\/\/localhost:\d+ is failing: .*the last good set \(1 entries, as of .*\) stays in force, retrying every 0\.2 s/,
    );

    await stack.restartAuthz();
    const recovered = await eventually(() => assertServed(refusing, served.access_token, "refuse, feed back"), 5000);
    assert.ok(recovered <= 5000);
    assertRevokedAnswer(await refusing.photos(revoked.access_token));
    await assertServed(accepting, served.access_token, "accept, feed back");
    await eventually(() => {
      const logs = accepting.plugins.logs();
      assert.ok(
        logs.some((line) => /revocation feed of .* is healthy again/.test(line)),
        logs.join("\n"),
      );
      return Promise.resolve();
    }, 2000);
  });

  it("a wrong feed credential: one clear line in the plugin server's output, no crash, tokens still served", async () => {
    const wrong = await stack.startGateway(
      {},
      { OAUTH2_JWT_FEED_CLIENT_ID: stack.feedClient.clientId, OAUTH2_JWT_FEED_SECRET: "not-the-feed-secret" },
    );
    const pid = wrong.plugins.pid;
    await eventually(() => assertServed(wrong, served.access_token, "accept, credential refused"), 5000);
    // Several polls later, still one line: the plugin logs a change of state, not each poll.
    await new Promise((resolve) => setTimeout(resolve, POLL_SECONDS * 1000 * 5));
    const lines = wrong.plugins.logs().filter((line) => line.includes("revocation feed"));
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.match(
      lines[0],
      new RegExp(
        `refused the credential of revocation_client_id "${stack.feedClient.clientId}" \\(HTTP 401\\): check revocation_client_id and revocation_client_secret`,
      ),
    );
    assert.equal(wrong.plugins.pid, pid, "the plugin server did not restart");
    await assertServed(wrong, served.access_token, "served after the failing polls");
  });

  it("kong.yml's feed credential missing from the gateway's environment: the feed off with one warning per reference, tokens served", async () => {
    const bare = await stack.startGateway({}, {});
    await assertServed(bare, served.access_token, "accept, no feed credential");
    const lines = bare.plugins.logs().filter((line) => line.includes("revocation feed is off"));
    assert.deepEqual(
      lines.map((line) => /vault reference (\{vault:\/\/env\/[\w-]+\}) of (\w+)/.exec(line)?.slice(1)),
      [
        ["{vault://env/oauth2-jwt-feed-client-id}", "revocation_client_id"],
        ["{vault://env/oauth2-jwt-feed-secret}", "revocation_client_secret"],
      ],
    );
  });
});
