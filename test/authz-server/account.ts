// alice's account page (/consents) as the password and sign-out-everywhere tests drive it: signed in on two browsers,
// with Canon Printing holding an access token and a refresh token she gave it.
import assert from "node:assert/strict";
import { BrowserClient, onlyForm, withFields, type PageResponse } from "./browser-client.ts";
import { authorizationRequest, exchangeCallback, obtainCallback, PASSWORD, type FlowServer } from "./code-flow.ts";
import type { RevocationEntry, RevocationFeedEntry } from "../../authz-server/src/storage/types.ts";
import { basic, form, post, type TestServer } from "./helpers.ts";

export interface CanonTokens {
  access_token: string;
  refresh_token: string;
}

/** alice allows Canon Printing in `laptop` (signed in there by the flow) and signs in on `phone` too. */
export async function aliceOnTwoDevices(
  server: FlowServer,
): Promise<{ laptop: BrowserClient; phone: BrowserClient; tokens: CanonTokens }> {
  const attempt = await authorizationRequest(server);
  const { browser: laptop, callback } = await obtainCallback(server, attempt);
  const exchanged = await exchangeCallback(server, attempt, callback);
  assert.equal(exchanged.status, 200);
  const phone = new BrowserClient(server.url);
  await signInAtAccountPage(phone);
  return { laptop, phone, tokens: exchanged.body as CanonTokens };
}

/** The sign-in form the account page offers a browser nobody is signed in to; answers the 303 back to the page. */
export async function signInAtAccountPage(browser: BrowserClient, password = PASSWORD): Promise<PageResponse> {
  const page = await browser.get("/consents");
  return browser.post("/login", withFields(onlyForm(page.body, "/login"), { username: "alice", password }));
}

/** Who `browser` is signed in as, from the account page; undefined when the page offers the sign-in form instead. */
export async function signedInAs(browser: BrowserClient): Promise<string | undefined> {
  const page = await browser.get("/consents");
  assert.equal(page.status, 200, page.body);
  const who = /Signed in as <strong>([^<]*)<\/strong>/.exec(page.body);
  if (who === null) onlyForm(page.body, "/login");
  return who?.[1];
}

/** Whether introspection (Canon Printing asking about its own token) calls `accessToken` active. */
export async function introspectsActive(server: FlowServer, accessToken: string): Promise<boolean> {
  const introspected = await post(`${server.url}/introspect`, form({ token: accessToken }), canonAuthorization(server));
  assert.equal(introspected.status, 200);
  return (introspected.body as { active: boolean }).active;
}

/** Canon Printing's refresh request with `refreshToken`: the status and the error code, if any. */
export async function refreshAnswer(
  server: FlowServer,
  refreshToken: string,
): Promise<{ status: number; error: string | undefined }> {
  const refreshed = await post(
    `${server.url}/token`,
    form({ grant_type: "refresh_token", refresh_token: refreshToken }),
    canonAuthorization(server),
  );
  return { status: refreshed.status, error: (refreshed.body as { error?: string }).error };
}

function canonAuthorization(server: FlowServer): { authorization: string } {
  return { authorization: basic(server.canon.clientId, server.canon.clientSecret) };
}

/** The revocation feed's entries (positions and drop times left out), as a gateway polling it from the start reads them. */
export async function feedEntries(server: Pick<TestServer, "storage" | "clock">): Promise<RevocationEntry[]> {
  const page = await server.storage.revocationFeed.page(null, 1000, server.clock.now());
  return page.entries.map((entry): RevocationEntry => {
    const copy: Partial<RevocationFeedEntry> = { ...entry };
    delete copy.position;
    delete copy.dropAfter;
    return copy as RevocationEntry;
  });
}
