// Debian's Chromium driven by playwright-core, the one way every browser test starts it: never a
// browser a tool downloads, the flags that keep it off the network (this machine has none), a
// fresh profile per run, and a phone-sized viewport, since the story starts on a phone.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type BrowserContext, type Page } from "playwright-core";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

export interface PhoneBrowser {
  readonly context: BrowserContext;
  readonly page: Page;
  /** Saves a full-page screenshot as test-results/screenshots/<folder>/<name>.png (git-ignored). */
  screenshot(name: string): Promise<Buffer>;
  close(): Promise<void>;
}

export async function launchPhoneBrowser(screenshotFolder: string): Promise<PhoneBrowser> {
  const screenshots = join(REPO_ROOT, "test-results", "screenshots", screenshotFolder);
  mkdirSync(screenshots, { recursive: true });
  const profile = mkdtempSync(join(tmpdir(), "chromium-profile-"));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: "/usr/bin/chromium",
      args: CHROMIUM_ARGS,
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 1,
      timeout: 30_000,
    });
  } catch (error) {
    rmSync(profile, { recursive: true, force: true });
    throw error;
  }
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    screenshot: (name) => page.screenshot({ path: join(screenshots, `${name}.png`), fullPage: true }),
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
