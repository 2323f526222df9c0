// Browser sessions end on the server: after sign-out, a password change or the user's deletion, a copy of the
// cookie saved before (a thief's, a shared computer's) no longer signs anyone in, on any server on the database.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { promisify } from "node:util";
import { hashPassword } from "../../../authz-server/src/passwords.ts";
import { startTestServer } from "../helpers.ts";
import { cli, json, root } from "../cli/helpers.ts";
import { BrowserClient, onlyForm, withFields, type PageResponse } from "../browser-client.ts";
import { allow, authorizationRequest, loginThrough, withFlowServer, type FlowServer } from "../code-flow.ts";

const LOGIN_PAGE = /<h1>Sign in to Flickr<\/h1>/;

/** A browser where alice signed in and Canon Printing is allowed, so its next authorization request gets a code. */
async function signedInBrowser(server: FlowServer): Promise<BrowserClient> {
  const browser = new BrowserClient(server.url);
  const afterLogin = await loginThrough(browser, await authorizationRequest(server));
  // The consent page the first time; once allowed, the code straight away.
  if (afterLogin.status === 200) await allow(browser, afterLogin);
  else assertGetsCode(afterLogin);
  return browser;
}

/** A second browser holding a copy of `browser`'s cookies as they are now. */
function copyCookies(browser: BrowserClient, base = browser.base): BrowserClient {
  const copy = new BrowserClient(base);
  for (const [name, cookie] of browser.jar.cookies) copy.jar.cookies.set(name, { ...cookie });
  return copy;
}

/** The answer to a fresh authorization request from `browser`, sent to the server `browser` talks to. */
async function authorize(server: FlowServer, browser: BrowserClient): Promise<PageResponse> {
  const { url } = await authorizationRequest(server);
  return browser.get(`${url.pathname}${url.search}`);
}

function assertGetsCode(response: PageResponse): void {
  assert.equal(response.status, 303, response.body);
  assert.ok(response.location?.includes("code="), response.location);
}

function assertLoginPage(response: PageResponse): void {
  assert.equal(response.status, 200);
  assert.equal(response.location, undefined);
  assert.match(response.body, LOGIN_PAGE);
}

async function signOut(browser: BrowserClient): Promise<void> {
  const page = await browser.get("/consents");
  const out = await browser.post("/logout", onlyForm(page.body, "/logout").fields);
  assert.deepEqual([out.status, out.location], [303, `${browser.base}/consents`]);
}

describe("sign-out", () => {
  it("ends the session on the server: the cookie saved before it gets the login page, not a code", () =>
    withFlowServer({}, async (server) => {
      const browser = await signedInBrowser(server);
      const saved = copyCookies(browser);
      assertGetsCode(await authorize(server, saved));
      await signOut(browser);
      assertLoginPage(await authorize(server, browser));
      assertLoginPage(await authorize(server, saved));
      assertLoginPage(await saved.get("/consents"));
    }));

  it("is seen at once by another server on the same database", () =>
    withFlowServer({}, async (server) => {
      const other = await startTestServer({ dbPath: server.dbPath, clock: server.clock, issuer: server.issuer });
      try {
        const browser = await signedInBrowser(server);
        const atOther = copyCookies(browser, other.url);
        assertGetsCode(await authorize(server, atOther));
        await signOut(browser);
        assertLoginPage(await authorize(server, atOther));
      } finally {
        await other.close();
      }
    }));

  it("a sign-out form of another browser session is refused and ends nothing", () =>
    withFlowServer({}, async (server) => {
      const browser = await signedInBrowser(server);
      const stranger = new BrowserClient(server.url);
      const strangersForm = onlyForm((await stranger.get("/consents")).body, "/login");
      const forged = await browser.post(
        "/logout",
        new URLSearchParams({ csrf_token: strangersForm.fields.get("csrf_token") ?? "" }),
      );
      assert.equal(forged.status, 403);
      assertGetsCode(await authorize(server, browser));
    }));
});

describe("session lifetimes", () => {
  it("a session ends 12 hours after sign-in however active it is, and after 30 minutes unused", () =>
    withFlowServer({}, async (server) => {
      const busy = await signedInBrowser(server);
      const idle = await signedInBrowser(server);
      // Busy every 29 minutes, then at 11 h 59 min: still signed in.
      for (let minutes = 29; minutes < 12 * 60; minutes += 29) {
        server.clock.advance(29 * 60);
        assertGetsCode(await authorize(server, busy));
      }
      server.clock.advance(23 * 60);
      assertGetsCode(await authorize(server, busy));
      assertLoginPage(await authorize(server, idle));
      server.clock.advance(61);
      assertLoginPage(await authorize(server, busy));
    }));
});

describe("sessions ended by the operator", () => {
  before(async () => {
    // The CLI child runs the compiled code (`npm test` builds it first).
    if (!existsSync(join(root, "authz-server/dist/cli.js"))) {
      await promisify(execFile)("npx", ["tsc", "-b", "authz-server"], { cwd: root });
    }
  });

  it("`users set-password` ends every session of the user: a cookie saved before gets the login page", () =>
    withFlowServer({}, async (server) => {
      const browser = await signedInBrowser(server);
      const saved = copyCookies(browser);
      assertGetsCode(await authorize(server, saved));
      json(
        await cli(["users", "set-password", "alice", "--password-stdin", "--db", server.dbPath, "--json"], {
          input: "a brand new long password",
        }),
      );
      assertLoginPage(await authorize(server, saved));
      assertLoginPage(await authorize(server, browser));
      // The new password signs in as usual.
      const again = await loginThrough(
        new BrowserClient(server.url),
        await authorizationRequest(server),
        "a brand new long password",
      );
      assertGetsCode(again);
    }));

  it("`users delete` ends the user's sessions; other users stay signed in", () =>
    withFlowServer({}, async (server) => {
      await server.storage.users.create({
        id: "u-bob",
        username: "bob",
        passwordHash: await hashPassword("bob's long password"),
        createdAt: server.clock.now(),
      });
      const alice = await signedInBrowser(server);
      const bob = new BrowserClient(server.url);
      const loginPage = await bob.get((await authorizationRequest(server)).url.href);
      const login = await bob.post(
        "/login",
        withFields(onlyForm(loginPage.body, "/login"), { username: "bob", password: "bob's long password" }),
      );
      assert.equal(login.status, 303);
      const saved = copyCookies(alice);
      const deleted = await cli(["users", "delete", "alice", "--db", server.dbPath]);
      assert.equal(deleted.code, 0, deleted.stderr);
      assertLoginPage(await authorize(server, saved));
      assert.match((await bob.get("/consents")).body, /Signed in as <strong>bob<\/strong>/);
    }));
});
