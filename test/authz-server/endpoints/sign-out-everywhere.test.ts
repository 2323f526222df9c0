// The account page's "Sign out everywhere" button (POST /sign-out-everywhere), through real HTTP as a browser drives
// it: every browser session of the user ends, this one included, and so does every token her apps hold; the access
// she gave them stays.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { aliceOnTwoDevices, feedEntries, introspectsActive, refreshAnswer, signedInAs } from "../account.ts";
import { onlyForm } from "../browser-client.ts";
import {
  authorizationRequest,
  exchangeCallback,
  loginThrough,
  startFlowServer,
  type FlowServer,
} from "../code-flow.ts";
import { present } from "../helpers.ts";

describe("POST /sign-out-everywhere", () => {
  let server: FlowServer;
  before(async () => {
    server = await startFlowServer();
  });
  after(() => server.close());

  it("signs alice out on every device, this one included, and ends Canon Printing's tokens; her consent stays", async () => {
    const { laptop, phone, tokens } = await aliceOnTwoDevices(server);
    assert.equal(await introspectsActive(server, tokens.access_token), true);
    const button = onlyForm((await laptop.get("/consents")).body, "/sign-out-everywhere");

    // Without the page's anti-CSRF token nothing happens (RFC 9700 §4.7).
    const forged = new URLSearchParams({ csrf_token: "forged" });
    assert.equal((await laptop.post("/sign-out-everywhere", forged)).status, 403);
    assert.equal(await signedInAs(phone), "alice");
    assert.deepEqual(await feedEntries(server), []);

    const done = await laptop.post("/sign-out-everywhere", button.fields);
    assert.deepEqual([done.status, done.location], [303, `${server.url}/consents`]);
    assert.equal(await signedInAs(laptop), undefined, "this browser is signed out");
    assert.equal(await signedInAs(phone), undefined, "the phone is signed out");
    assert.deepEqual(await feedEntries(server), [
      { kind: "user", sub: server.userId, issuedBefore: Math.floor(server.clock.now() / 1000) },
    ]);
    assert.equal(await introspectsActive(server, tokens.access_token), false);
    assert.deepEqual(await refreshAnswer(server, tokens.refresh_token), { status: 400, error: "invalid_grant" });

    // Signed out, the button is refused.
    const again = onlyForm((await laptop.get("/consents")).body, "/login");
    assert.equal((await laptop.post("/sign-out-everywhere", again.fields)).status, 403);

    // The consent stays: after signing in again Canon Printing gets a code without asking, and tokens issued after
    // the sign-out work.
    server.clock.advance(1); // revocation covers every token issued up to the second of the sign-out
    const attempt = await authorizationRequest(server);
    const signedIn = await loginThrough(laptop, attempt);
    assert.equal(signedIn.status, 303, "no consent page");
    const exchanged = await exchangeCallback(server, attempt, new URL(present(signedIn.location, "Location")));
    assert.equal(exchanged.status, 200);
    assert.equal(await introspectsActive(server, (exchanged.body as { access_token: string }).access_token), true);
  });
});
