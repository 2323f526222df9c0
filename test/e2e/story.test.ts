// The seed story end to end in a real browser (Debian's Chromium through playwright-core):
// alice opens Canon Printing, presses "Print my Flickr photos", signs in at the authorization
// server (never at Canon), allows access, and Canon shows her photos fetched THROUGH THE GATEWAY.
// Then she denies Canon another permission (Canon's friendly page), and finally a token without
// `photos` is refused by the gateway with 403 and Canon explains why. A screenshot of each step
// goes to test-results/screenshots/e2e/ (git-ignored).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Page } from "playwright-core";
import { DEMO } from "../../scripts/seed-demo.mjs";
import { launchPhoneBrowser, type PhoneBrowser } from "../helpers/browser.ts";
import { Closers } from "../helpers/closers.ts";
import { startStory, type Story } from "./stack.ts";

const STEP_TIMEOUT = 15_000;

describe("the story in Chromium: Canon Printing prints alice's Flickr photos", { timeout: 120_000 }, () => {
  let story: Story;
  let browser: PhoneBrowser;
  let page: Page;
  /** Every URL the browser requested, to show where the password went. */
  const posts: { url: string; body: string }[] = [];
  const closers = new Closers();

  before(async () => {
    story = await startStory();
    closers.add(() => story.close());
    browser = await launchPhoneBrowser("e2e");
    closers.add(() => browser.close());
    browser.context.setDefaultTimeout(STEP_TIMEOUT);
    page = browser.page;
    page.on("request", (request) => {
      if (request.method() === "POST") posts.push({ url: request.url(), body: request.postData() ?? "" });
    });
  });

  after(() => closers.closeAll());

  const shot = (name: string): Promise<Buffer> => browser.screenshot(name);
  const authzOrigin = (): string => new URL(story.authz.issuer).origin;

  it("1. allow: sign in at the authorization server, consent, and see the photos fetched through the gateway", async () => {
    const home = await page.goto(story.canon.url);
    assert.equal(home?.status(), 200);
    await shot("01-canon-home");

    await page.getByRole("button", { name: "Print my Flickr photos" }).click();
    await page.waitForURL((url) => url.origin === authzOrigin());
    await page.locator("#username").waitFor();
    await shot("02-authz-login");

    await page.locator("#username").fill(DEMO.username);
    await page.locator("#password").fill(DEMO.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("button", { name: "Allow" }).waitFor();
    assert.equal(new URL(page.url()).origin, authzOrigin());
    const consent = await page.locator("main").innerText();
    assert.match(consent, /Canon Printing/);
    assert.match(consent, /See your Flickr photos/);
    await shot("03-authz-consent");

    await page.getByRole("button", { name: "Allow" }).click();
    await page.waitForURL(`${story.canon.url}/photos`);
    await page.locator("#photos figure").first().waitFor();
    await shot("04-canon-photos");

    assert.equal(await page.locator("#owner").innerText(), story.aliceSub);
    assert.deepEqual(await page.locator("#photos figcaption strong").allInnerTexts(), [
      "Sunrise over Lake Biwa",
      "Cherry blossoms in Kyoto",
      "Mount Fuji at dusk",
      "Harbour lights, Yokohama",
    ]);
    // What the gateway's plugin told the photos API, as the API echoed it.
    assert.equal(
      await page.locator("#gateway-identity").innerText(),
      `user ${story.aliceSub}, client ${story.canonClientId}, scope photos`,
    );
    // Images render (SVG data from the photos API).
    const widths = await page
      .locator("#photos img")
      .evaluateAll((imgs) => imgs.map((img) => (img as HTMLImageElement).naturalWidth));
    assert.deepEqual(widths, [320, 320, 320, 320]);

    // Print three of the four.
    await page.getByRole("checkbox", { name: "Mount Fuji at dusk" }).uncheck();
    await page.getByRole("button", { name: "Print the selected photos" }).click();
    await page.locator("#printing").waitFor();
    assert.deepEqual(await page.locator("#printing li").allInnerTexts(), [
      "Sunrise over Lake Biwa",
      "Cherry blossoms in Kyoto",
      "Harbour lights, Yokohama",
    ]);
    await shot("05-canon-printing");

    // The password went to the authorization server only; Canon never received it.
    const withPassword = posts.filter(
      (p) => p.body.includes(encodeURIComponent(DEMO.password)) || p.body.includes(DEMO.password),
    );
    assert.deepEqual(
      withPassword.map((p) => new URL(p.url).origin),
      [authzOrigin()],
    );
  });

  it("2. deny: Canon asks for another permission, alice denies, Canon shows a friendly page", async () => {
    await page.goto(story.canon.url);
    await page.getByRole("button", { name: "Connect with my profile only" }).click();
    // alice is still signed in at the authorization server: straight to the consent page.
    await page.getByRole("button", { name: "Deny" }).waitFor();
    assert.match(await page.locator("main").innerText(), /See your Flickr profile/);
    await shot("06-authz-consent-profile");

    await page.getByRole("button", { name: "Deny" }).click();
    await page.locator("#problem-denied").waitFor();
    assert.equal(new URL(page.url()).origin, new URL(story.canon.url).origin);
    assert.equal(await page.locator("#problem-denied h1").innerText(), "No problem — nothing was shared");
    await shot("07-canon-denied");
  });

  it("3. a token without `photos`: the gateway answers 403 and Canon explains why", async () => {
    await page.goto(story.canon.url);
    await page.getByRole("button", { name: "Connect with my profile only" }).click();
    await page.getByRole("button", { name: "Allow" }).waitFor();
    await page.getByRole("button", { name: "Allow" }).click();
    await page.locator("#problem-insufficient-scope").waitFor();
    assert.equal(new URL(page.url()).pathname, "/photos");
    assert.equal(
      await page.locator("#problem-insufficient-scope h1").innerText(),
      "Canon Printing may not read your photos",
    );
    assert.equal(
      await page.locator("#problem-insufficient-scope code").innerText(),
      "HTTP 403 insufficient_scope, required scope: photos",
    );
    await shot("08-canon-insufficient-scope");
  });
});
