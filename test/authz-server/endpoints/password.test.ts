// The account page's "Change password" form (POST /password), through real HTTP as a browser drives it: the current
// password checked under the login throttle, the new one typed twice and held to the rules of `users set-password`;
// a change ends every other browser session and every token the user's apps hold, and keeps this browser signed in.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { PASSWORD_CHANGED } from "../../../authz-server/src/endpoints/consents.ts";
import {
  aliceOnTwoDevices,
  feedEntries,
  introspectsActive,
  refreshAnswer,
  signedInAs,
  signInAtAccountPage,
} from "../account.ts";
import { assertPageHeaders, BrowserClient, onlyForm, withFields, type PageResponse } from "../browser-client.ts";
import {
  authorizationRequest,
  exchangeCallback,
  PASSWORD,
  startFlowServer,
  withFlowServer,
  type FlowServer,
} from "../code-flow.ts";
import { present } from "../helpers.ts";

const NEW_PASSWORD = "a new and longer passphrase";

/** Posts the account page's password form with these fields. */
async function changePassword(
  browser: BrowserClient,
  fields: { current_password: string; new_password: string; new_password_again: string },
): Promise<PageResponse> {
  const page = await browser.get("/consents");
  return browser.post("/password", withFields(onlyForm(page.body, "/password"), fields));
}

/** The account page answered again with the password form's error above the form. */
function assertRefused(response: PageResponse, status: number, error: string): void {
  assert.equal(response.status, status, response.body);
  assertPageHeaders(response.headers);
  assert.match(response.body, /Signed in as <strong>alice<\/strong>/);
  assert.ok(response.body.includes(`<div class="alert error" role="alert">${error}</div>`), response.body);
  onlyForm(response.body, "/password");
}

describe("POST /password: change password on the account page", () => {
  let server: FlowServer;
  before(async () => {
    server = await startFlowServer();
  });
  after(() => server.close());

  it("answers the page again with the reason when the new passwords differ, break the rules or the current one is wrong", async () => {
    const browser = new BrowserClient(server.url);
    assert.equal((await signInAtAccountPage(browser)).status, 303);
    const cases: [Record<"current_password" | "new_password" | "new_password_again", string>, string][] = [
      [
        { current_password: "", new_password: NEW_PASSWORD, new_password_again: NEW_PASSWORD },
        "Enter your current password and the new one.",
      ],
      [
        { current_password: PASSWORD, new_password: NEW_PASSWORD, new_password_again: `${NEW_PASSWORD}!` },
        "The new passwords do not match.",
      ],
      [
        { current_password: PASSWORD, new_password: "short", new_password_again: "short" },
        "The new password must be at least 8 characters.",
      ],
      [
        { current_password: PASSWORD, new_password: "x".repeat(1025), new_password_again: "x".repeat(1025) },
        "The new password must be at most 1024 characters.",
      ],
      [
        { current_password: "not my password", new_password: NEW_PASSWORD, new_password_again: NEW_PASSWORD },
        "Your current password is incorrect.",
      ],
    ];
    for (const [fields, error] of cases) assertRefused(await changePassword(browser, fields), 400, error);

    // Without the page's anti-CSRF token nothing is read (RFC 9700 §4.7).
    const page = await browser.get("/consents");
    const forged = withFields(onlyForm(page.body, "/password"), {
      current_password: PASSWORD,
      new_password: NEW_PASSWORD,
      new_password_again: NEW_PASSWORD,
    });
    forged.set("csrf_token", "forged");
    assert.equal((await browser.post("/password", forged)).status, 403);
    // Signed out, the form is refused too.
    const signedOut = new BrowserClient(server.url);
    const anonymous = withFields(onlyForm((await signedOut.get("/consents")).body, "/login"), {
      current_password: PASSWORD,
      new_password: NEW_PASSWORD,
      new_password_again: NEW_PASSWORD,
    });
    assert.equal((await signedOut.post("/password", anonymous)).status, 403);

    // None of them changed the password, nor revoked anything.
    assert.deepEqual(await feedEntries(server), []);
    assert.equal((await signInAtAccountPage(new BrowserClient(server.url))).status, 303);
  });

  it("a new password signs alice out on her other devices and ends Canon Printing's tokens; this browser stays signed in", async () => {
    const { laptop, phone, tokens } = await aliceOnTwoDevices(server);
    assert.equal(await introspectsActive(server, tokens.access_token), true);
    const sessionBefore = laptop.jar.cookies.get("authz_session")?.value;

    const changed = await changePassword(laptop, {
      current_password: PASSWORD,
      new_password: NEW_PASSWORD,
      new_password_again: NEW_PASSWORD,
    });
    assert.deepEqual([changed.status, changed.location], [303, `${server.url}/consents?password=changed`]);
    assert.notEqual(laptop.jar.cookies.get("authz_session")?.value, sessionBefore, "a new session id");
    const page = await laptop.get(present(changed.location, "Location"));
    assert.equal(page.status, 200);
    assert.match(page.body, /Signed in as <strong>alice<\/strong>/);
    assert.ok(page.body.includes(`role="status">${PASSWORD_CHANGED}</div>`), page.body);

    assert.equal(await signedInAs(phone), undefined, "the phone is signed out");
    assert.deepEqual(await feedEntries(server), [
      { kind: "user", sub: server.userId, issuedBefore: Math.floor(server.clock.now() / 1000) },
    ]);
    assert.equal(await introspectsActive(server, tokens.access_token), false);
    assert.deepEqual(await refreshAnswer(server, tokens.refresh_token), { status: 400, error: "invalid_grant" });

    assert.equal((await signInAtAccountPage(new BrowserClient(server.url), PASSWORD)).status, 400);
    assert.equal((await signInAtAccountPage(new BrowserClient(server.url), NEW_PASSWORD)).status, 303);

    // Consents stay: Canon Printing's next request goes straight to a code, and tokens issued after the change work.
    server.clock.advance(1); // revocation covers every token issued up to the second of the change
    const attempt = await authorizationRequest(server);
    const redirected = await laptop.get(attempt.url.href);
    assert.equal(redirected.status, 303);
    const exchanged = await exchangeCallback(server, attempt, new URL(present(redirected.location, "Location")));
    assert.equal(exchanged.status, 200);
    assert.equal(await introspectsActive(server, (exchanged.body as { access_token: string }).access_token), true);
  });
});

describe("POST /password: the login throttle", () => {
  it("counts wrong current passwords like failed sign-ins: after five the form is paused, even for the right one", () =>
    withFlowServer({}, async (server) => {
      const browser = new BrowserClient(server.url);
      assert.equal((await signInAtAccountPage(browser)).status, 303);
      const wrong = { current_password: "guess", new_password: NEW_PASSWORD, new_password_again: NEW_PASSWORD };
      for (let i = 0; i < 5; i++) {
        assertRefused(await changePassword(browser, wrong), 400, "Your current password is incorrect.");
      }
      const paused = await changePassword(browser, { ...wrong, current_password: PASSWORD });
      assertRefused(
        paused,
        429,
        "Too many failed sign-in attempts for this account in this browser. For your security, sign-in from here is paused. Try again in 15 minutes.",
      );
      assert.equal(paused.headers.get("retry-after"), "900");
      // Still the old password: the paused attempt was not checked.
      assert.equal((await signInAtAccountPage(new BrowserClient(server.url))).status, 303);
    }));
});
