// The seed story in a real browser (Debian's Chromium through playwright-core): alice signs in
// to Flickr and allows Canon Printing to access her photos through the actual pages, then
// withdraws the consent. A screenshot of each page goes to test-results/screenshots/authz-server/.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { BrowserContext, Page } from "playwright-core";
import * as oauth from "oauth4webapi";
import { launchPhoneBrowser, type PhoneBrowser } from "../../helpers/browser.ts";
import { PASSWORD_CHANGED } from "../../../authz-server/src/endpoints/consents.ts";
import { insecure, present } from "../helpers.ts";
import { authorizationRequest, CANON_CALLBACK, PASSWORD, startFlowServer, type FlowServer } from "../code-flow.ts";

describe("browser: alice allows Canon Printing to access her photos", { timeout: 60_000 }, () => {
  let server: FlowServer;
  let browser: PhoneBrowser;
  let context: BrowserContext;
  let page: Page;

  before(async () => {
    server = await startFlowServer();
    browser = await launchPhoneBrowser("authz-server");
    context = browser.context;
    // Canon Printing's callback is not running in this test: the browser's request to it is
    // answered here, which is also where the test reads the code.
    await context.route(`${CANON_CALLBACK}**`, (route) =>
      route.fulfill({
        status: 200,
        contentType: "text/html",
        body: "<!doctype html><title>Canon Printing</title><h1>Canon Printing received your authorization</h1>",
      }),
    );
    page = browser.page;
  });

  after(async () => {
    await browser.close();
    await server.close();
  });

  const shot = (name: string) => browser.screenshot(name);

  it("signs in, consents, and Canon Printing gets a code it can exchange", async () => {
    const attempt = await authorizationRequest(server);
    const response = present(await page.goto(attempt.url.href), "the response to the authorization request");
    assert.equal(response.status(), 200);
    assert.equal(response.headers()["x-frame-options"], "DENY");
    assert.equal(await page.title(), "Sign in · Flickr");
    await shot("1-login");

    // A wrong password first: the page says so and keeps the username.
    await page.getByLabel("Username").fill("alice");
    await page.getByLabel("Password").fill("not my password");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("alert").waitFor();
    assert.equal(await page.getByRole("alert").textContent(), "The username or password is incorrect.");
    assert.equal(await page.getByLabel("Username").inputValue(), "alice");
    await shot("2-login-error");

    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Do you want to allow Canon Printing to access your photos?" }).waitFor();
    assert.equal(await page.getByText("View your photos and albums").count(), 1);
    await shot("3-consent");

    await page.getByRole("button", { name: "Allow" }).click();
    await page.waitForURL(`${CANON_CALLBACK}?**`);
    const callback = new URL(page.url());
    await shot("4-canon-callback");
    assert.equal(callback.searchParams.get("state"), attempt.state);
    assert.equal(callback.searchParams.get("iss"), server.issuer);

    const client = { client_id: server.canon.clientId };
    const params = oauth.validateAuthResponse(server.discovered, client, callback, attempt.state);
    const tokens = await oauth.processAuthorizationCodeResponse(
      server.discovered,
      client,
      await oauth.authorizationCodeGrantRequest(
        server.discovered,
        client,
        oauth.ClientSecretBasic(server.canon.clientSecret),
        params,
        CANON_CALLBACK,
        attempt.verifier,
        insecure,
      ),
    );
    assert.equal(tokens.scope, "photos");
  });

  it("shows connected apps and withdraws Canon Printing", async () => {
    await page.goto(`${server.issuer}/consents`);
    await page.getByRole("heading", { name: "Connected apps" }).waitFor();
    assert.equal(await page.locator("td strong", { hasText: "Canon Printing" }).count(), 1);
    await shot("5-consents");
    await page.getByRole("button", { name: "Withdraw access for Canon Printing" }).click();
    await page.getByRole("status").waitFor();
    assert.equal(await page.getByRole("status").textContent(), "Access for Canon Printing was withdrawn.");
    await shot("6-consents-withdrawn");
    assert.deepEqual(await server.storage.consents.list({ userId: server.userId }), []);
    await page.getByRole("button", { name: "Sign out", exact: true }).click();
    await page.getByRole("heading", { name: "Sign in to Flickr" }).waitFor();
  });

  it("changes alice's password on her account page, then signs her out everywhere", async () => {
    const newPassword = "a new and longer passphrase";
    await page.goto(`${server.issuer}/consents`);
    await page.getByLabel("Username").fill("alice");
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Change password" }).waitFor();

    const fill = async (current: string) => {
      await page.getByLabel("Current password").fill(current);
      await page.getByLabel("New password", { exact: true }).fill(newPassword);
      await page.getByLabel("New password again").fill(newPassword);
      await page.getByRole("button", { name: "Change password" }).click();
    };
    await fill("not my password");
    await page.getByRole("alert").waitFor();
    assert.equal(await page.getByRole("alert").textContent(), "Your current password is incorrect.");
    await shot("7-password-error");
    await fill(PASSWORD);
    await page.getByRole("status").waitFor();
    assert.equal(await page.getByRole("status").textContent(), PASSWORD_CHANGED);
    await shot("8-password-changed");

    await page.getByRole("button", { name: "Sign out everywhere" }).click();
    await page.getByRole("heading", { name: "Sign in to Flickr" }).waitFor();
    await shot("9-signed-out-everywhere");
  });

  it("an unregistered redirect URI shows an error page and goes nowhere", async () => {
    const attempt = await authorizationRequest(server, { redirect_uri: "https://evil.example/callback" });
    const response = present(await page.goto(attempt.url.href), "the response to the authorization request");
    assert.equal(response.status(), 400);
    assert.equal(new URL(page.url()).origin, server.issuer);
    await page.getByRole("heading", { name: "Unregistered redirect address" }).waitFor();
    await shot("10-error");
  });
});
