// Server set-up and the browser half of the code flow, shared by the flow tests.
import assert from "node:assert/strict";
import * as oauth from "oauth4webapi";
import { hashPassword } from "../../authz-server/src/passwords.ts";
import { generateId } from "../../authz-server/src/secrets.ts";
import {
  basic,
  createClient,
  form,
  insecure,
  post,
  present,
  startTestServer,
  type TestClient,
  type TestServer,
} from "./helpers.ts";
import { BrowserClient, onlyForm, withFields, type PageResponse } from "./browser-client.ts";

export const PASSWORD = "correct horse battery staple";
export const PHOTOS_RESOURCE = "http://localhost:8000/flickr";
export const CANON_CALLBACK = "http://localhost:3000/callback";

let cachedHash: Promise<string> | undefined;

export interface FlowServer extends TestServer {
  canon: TestClient;
  userId: string;
  /** oauth4webapi's view of the server, from its discovery document. */
  discovered: oauth.AuthorizationServer;
}

/** A server with the seed story: Flickr's `photos` scope, Canon Printing, and the user alice. */
export async function startFlowServer(options: Parameters<typeof startTestServer>[0] = {}): Promise<FlowServer> {
  const server = await startTestServer(options);
  const { storage } = server;
  await storage.scopes.create({
    name: "photos",
    description: "View your photos and albums",
    resource: PHOTOS_RESOURCE,
  });
  await storage.scopes.create({
    name: "profile",
    description: "See your name and profile picture",
    resource: PHOTOS_RESOURCE,
  });
  const canon = await createClient(storage, {
    name: "Canon Printing",
    scopes: ["photos", "profile"],
    grantTypes: ["authorization_code", "refresh_token"],
    redirectUris: [CANON_CALLBACK],
  });
  cachedHash ??= hashPassword(PASSWORD);
  const userId = generateId();
  await storage.users.create({
    id: userId,
    username: "alice",
    passwordHash: await cachedHash,
    createdAt: server.clock.now(),
  });
  // Fetched from the listening address, checked against the configured issuer (which may be a public https name).
  const response = await oauth.discoveryRequest(new URL(server.url), { ...insecure, algorithm: "oauth2" });
  const discovered = await oauth.processDiscoveryResponse(new URL(server.issuer), response);
  return { ...server, canon, userId, discovered };
}

export interface AuthorizationAttempt {
  verifier: string;
  state: string;
  url: URL;
}

/** The authorization request Canon Printing's browser redirect carries. */
export async function authorizationRequest(
  server: Pick<FlowServer, "discovered" | "canon">,
  overrides: Record<string, string | null> = {},
): Promise<AuthorizationAttempt> {
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const url = new URL(present(server.discovered.authorization_endpoint, "authorization_endpoint"));
  const params: Record<string, string | null> = {
    response_type: "code",
    client_id: server.canon.clientId,
    redirect_uri: CANON_CALLBACK,
    scope: "photos",
    state,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
    ...overrides,
  };
  for (const [name, value] of Object.entries(params)) if (value !== null) url.searchParams.set(name, value);
  return { verifier, state, url };
}

/** authorize → login page → 303 back to /authorize; returns the response to that GET (consent page or code redirect). */
export async function loginThrough(
  browser: BrowserClient,
  attempt: AuthorizationAttempt,
  password = PASSWORD,
): Promise<PageResponse> {
  const loginPage = await browser.get(attempt.url.href);
  assert.equal(loginPage.status, 200);
  assert.match(loginPage.body, /<h1>Sign in to Flickr<\/h1>/);
  const login = await browser.post(
    "/login",
    withFields(onlyForm(loginPage.body, "/login"), { username: "alice", password }),
  );
  assert.equal(login.status, 303, login.body);
  assert.ok(login.location?.startsWith(`${browser.base}/authorize?`), login.location);
  return browser.get(present(login.location, "Location"));
}

/** Clicks Allow on a consent page; returns the redirect to Canon's callback. */
export async function allow(browser: BrowserClient, consentPage: PageResponse): Promise<URL> {
  assert.equal(consentPage.status, 200, consentPage.body);
  const decision = await browser.post(
    "/consent",
    withFields(onlyForm(consentPage.body, "/consent"), { decision: "allow" }),
  );
  assert.equal(decision.status, 303);
  assert.ok(decision.location?.startsWith(`${CANON_CALLBACK}?`), decision.location);
  return new URL(present(decision.location, "Location"));
}

/** The whole browser half for a fresh user session: returns the callback URL. */
export async function obtainCallback(
  server: Pick<FlowServer, "url">,
  attempt: AuthorizationAttempt,
): Promise<{ browser: BrowserClient; callback: URL }> {
  const browser = new BrowserClient(server.url);
  const callback = await allow(browser, await loginThrough(browser, attempt));
  return { browser, callback };
}

/** The token request Canon (or `client`) makes with the code of `callback`: status, headers and parsed body. */
export function exchangeCallback(
  server: Pick<FlowServer, "url" | "canon">,
  attempt: AuthorizationAttempt,
  callback: URL,
  client: TestClient = server.canon,
): ReturnType<typeof post> {
  const code = callback.searchParams.get("code") ?? "";
  return post(
    `${server.url}/token`,
    form({ grant_type: "authorization_code", code, redirect_uri: CANON_CALLBACK, code_verifier: attempt.verifier }),
    { authorization: basic(client.clientId, client.clientSecret) },
  );
}

/** Runs `test` against its own flow server (for a test that needs its own settings or state), closing it after. */
export async function withFlowServer(
  options: Parameters<typeof startFlowServer>[0],
  test: (server: FlowServer) => Promise<void>,
): Promise<void> {
  const server = await startFlowServer(options);
  try {
    await test(server);
  } finally {
    await server.close();
  }
}
