// Canon Printing as an OAuth client, without a browser: the authorization request it builds
// (PKCE S256, state), and every way its callback refuses an answer (no pending request, wrong
// state, wrong `iss` per RFC 9207, access_denied), against a real authorization server.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import { hashPassword } from "../../authz-server/src/passwords.ts";
import { BrowserClient, onlyForm, withFields } from "../authz-server/browser-client.ts";
import { digest, generateId, generateSecret } from "../../authz-server/src/secrets.ts";
import { startServer, type RunningServer } from "../../authz-server/src/server.ts";
import { startCanon, type RunningCanon } from "../../examples/canon-printing/src/server.ts";
import { Closers } from "../helpers/closers.ts";

interface Page {
  status: number;
  location: string | null;
  headers: Headers;
  text: string;
}

/** A cookie-keeping client for one browser session. */
class Session {
  private cookie = "";
  constructor(private readonly base: string) {}
  async request(method: string, path: string, form?: Record<string, string>): Promise<Page> {
    const response = await fetch(new URL(path, this.base), {
      method,
      redirect: "manual",
      headers: {
        ...(this.cookie === "" ? {} : { cookie: this.cookie }),
        ...(form ? { "content-type": "application/x-www-form-urlencoded" } : {}),
      },
      ...(form ? { body: new URLSearchParams(form) } : {}),
    });
    const set = response.headers.getSetCookie().find((c) => c.startsWith("canon_session="));
    if (set !== undefined) this.cookie = set.split(";")[0];
    return {
      status: response.status,
      location: response.headers.get("location"),
      headers: response.headers,
      text: await response.text(),
    };
  }
  async csrf(): Promise<string> {
    const home = await this.request("GET", "/");
    const match = /name="csrf" value="([^"]+)"/.exec(home.text);
    assert.ok(match, "home page carries a CSRF token");
    return match[1];
  }
  /** POST /connect; returns the authorization request Canon redirected to. */
  async connect(scope = "photos"): Promise<URL> {
    const page = await this.request("POST", "/connect", { csrf: await this.csrf(), scope });
    assert.equal(page.status, 303, page.text);
    assert.ok(page.location, "Canon redirects to the authorization server");
    return new URL(page.location);
  }
}

function problemId(text: string): string | undefined {
  return /<section class="card" id="(problem-[a-z-]+)">/.exec(text)?.[1];
}

/**
 * A scripted gateway for Canon's error handling: "expire-first" answers 401 invalid_token to the
 * first access token it sees and the photo list to any other; "unavailable" answers the guard's 503.
 */
interface FakeGateway {
  url: string;
  mode: "expire-first" | "unavailable";
  tokens: string[];
  close(): Promise<void>;
}

async function startFakeGateway(): Promise<FakeGateway> {
  const state: FakeGateway = { url: "", mode: "expire-first", tokens: [], close: () => Promise.resolve() };
  const server: Server = createServer((req, res) => {
    const token = (req.headers.authorization ?? "").replace(/^Bearer /, "");
    state.tokens.push(token);
    if (state.mode === "unavailable") {
      res.writeHead(503, { "retry-after": "5", "content-type": "application/json" });
      res.end(JSON.stringify({ message: "authorization is temporarily unavailable" }));
    } else if (token === state.tokens[0]) {
      res.writeHead(401, {
        "www-authenticate": 'Bearer realm="api", error="invalid_token", error_description="the access token expired"',
        "content-type": "application/json",
      });
      res.end(JSON.stringify({ error: "invalid_token", error_description: "the access token expired" }));
    } else {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          owner: "alice-sub",
          photos: [{ id: "p-1", title: "Refreshed", taken: "2026-01-01", image: "data:image/svg+xml;base64,PHN2Zy8+" }],
          gateway: { userid: "alice-sub", client_id: "canon", scope: ["photos"] },
        }),
      );
    }
  });
  server.listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return state;
}

const PASSWORD = "correct horse battery staple";

describe("examples/canon-printing (OAuth client)", () => {
  let dir: string;
  let authz: RunningServer;
  let canon: RunningCanon;
  let clientId: string;
  let gateway: FakeGateway;
  let aliceId: string;
  const closers = new Closers();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "canon-test-"));
    closers.add(() => rmSync(dir, { recursive: true, force: true }));
    authz = await startServer({
      port: 0,
      host: "127.0.0.1",
      db: join(dir, "authz.db"),
      logger: pino({ level: "silent" }),
    });
    closers.add(() => authz.close());
    await authz.services.storage.scopes.create({
      name: "photos",
      description: "See your Flickr photos",
      resource: "http://localhost:8000/flickr",
    });
    await authz.services.storage.scopes.create({
      name: "profile",
      description: "See your Flickr profile",
      resource: "http://localhost:8000/flickr",
    });
    aliceId = generateId();
    await authz.services.storage.users.create({
      id: aliceId,
      username: "alice",
      passwordHash: await hashPassword(PASSWORD),
      createdAt: Date.now(),
    });
    gateway = await startFakeGateway();
    closers.add(() => gateway.close());
    canon = await startCanon({
      port: 0,
      issuer: authz.issuer,
      gatewayUrl: gateway.url,
      register: async (redirectUri) => {
        const secret = generateSecret();
        clientId = generateId();
        await authz.services.storage.clients.create({
          clientId,
          name: "Canon Printing",
          secretDigest: digest(secret),
          redirectUris: [redirectUri],
          grantTypes: ["authorization_code", "refresh_token"],
          scopes: ["photos", "profile"],
          tokenEndpointAuthMethod: "client_secret_basic",
          createdAt: Date.now(),
        });
        return { clientId, clientSecret: secret };
      },
    });
    closers.add(() => canon.close());
  });

  after(() => closers.closeAll());

  it("pages carry a strict CSP, no framing, no referrer, no caching, and an HttpOnly SameSite cookie", async () => {
    const response = await fetch(canon.url);
    assert.equal(response.status, 200);
    assert.deepEqual(
      {
        csp: response.headers.get("content-security-policy"),
        frame: response.headers.get("x-frame-options"),
        referrer: response.headers.get("referrer-policy"),
        cache: response.headers.get("cache-control"),
      },
      {
        csp: `default-src 'none'; img-src data:; style-src 'unsafe-inline'; form-action 'self' ${new URL(authz.issuer).origin}; frame-ancestors 'none'; base-uri 'none'`,
        frame: "DENY",
        referrer: "no-referrer",
        cache: "no-store",
      },
    );
    const cookie = response.headers.getSetCookie().find((c) => c.startsWith("canon_session="));
    assert.match(cookie ?? "", /^canon_session=[A-Za-z0-9_-]{43}; path=\/; samesite=lax; httponly$/);
  });

  it("sends the browser to the authorization endpoint with PKCE S256 and state", async () => {
    const session = new Session(canon.url);
    const url = await session.connect();
    assert.equal(`${url.origin}${url.pathname}`, `${authz.issuer}/authorize`);
    const params = Object.fromEntries(url.searchParams);
    assert.deepEqual(Object.keys(params).sort(), [
      "client_id",
      "code_challenge",
      "code_challenge_method",
      "redirect_uri",
      "response_type",
      "scope",
      "state",
    ]);
    assert.deepEqual(
      {
        response_type: params["response_type"],
        client_id: params["client_id"],
        redirect_uri: params["redirect_uri"],
        scope: params["scope"],
        method: params["code_challenge_method"],
      },
      {
        response_type: "code",
        client_id: clientId,
        redirect_uri: `${canon.url}/callback`,
        scope: "photos",
        method: "S256",
      },
    );
    assert.match(params["code_challenge"], /^[A-Za-z0-9_-]{43}$/);
    assert.match(params["state"], /^[A-Za-z0-9_-]{43}$/);
    // Each attempt gets a fresh state and verifier.
    const again = await session.connect();
    assert.notEqual(again.searchParams.get("state"), params["state"]);
    assert.notEqual(again.searchParams.get("code_challenge"), params["code_challenge"]);
  });

  it("refuses its own forms without the session's CSRF token, and unknown scopes", async () => {
    const session = new Session(canon.url);
    await session.csrf();
    const noToken = await session.request("POST", "/connect", { scope: "photos" });
    assert.deepEqual(
      { status: noToken.status, problem: problemId(noToken.text) },
      { status: 400, problem: "problem-csrf" },
    );
    const otherSession = await new Session(canon.url).csrf();
    const wrongToken = await session.request("POST", "/connect", { csrf: otherSession, scope: "photos" });
    assert.deepEqual(
      { status: wrongToken.status, problem: problemId(wrongToken.text) },
      { status: 400, problem: "problem-csrf" },
    );
    const scope = await session.request("POST", "/connect", { csrf: await session.csrf(), scope: "photos:write" });
    assert.deepEqual(
      { status: scope.status, problem: problemId(scope.text) },
      { status: 400, problem: "problem-scope" },
    );
  });

  it("a callback it was not waiting for is refused", async () => {
    const page = await new Session(canon.url).request(
      "GET",
      `/callback?code=x&state=y&iss=${encodeURIComponent(authz.issuer)}`,
    );
    assert.deepEqual(
      { status: page.status, problem: problemId(page.text) },
      { status: 400, problem: "problem-no-pending" },
    );
  });

  it("a callback with another state, or another issuer (RFC 9207 mix-up defence), is refused and consumes the attempt", async () => {
    for (const [name, tamper] of [
      ["state", (p: URLSearchParams) => p.set("state", "forged")],
      ["iss", (p: URLSearchParams) => p.set("iss", "https://evil.example")],
      ["no iss", (p: URLSearchParams) => p.delete("iss")],
    ] as const) {
      const session = new Session(canon.url);
      const request = await session.connect();
      const params = new URLSearchParams({
        code: "abc",
        state: request.searchParams.get("state") ?? "",
        iss: authz.issuer,
      });
      tamper(params);
      const page = await session.request("GET", `/callback?${params}`);
      assert.deepEqual(
        { status: page.status, problem: problemId(page.text) },
        { status: 400, problem: "problem-callback" },
        name,
      );
      // Single use: the genuine answer now finds nothing pending.
      const replay = await session.request(
        "GET",
        `/callback?code=abc&state=${request.searchParams.get("state")}&iss=${encodeURIComponent(authz.issuer)}`,
      );
      assert.equal(problemId(replay.text), "problem-no-pending", name);
    }
  });

  it("access_denied from the authorization server becomes the friendly page", async () => {
    const session = new Session(canon.url);
    const request = await session.connect();
    const params = new URLSearchParams({
      error: "access_denied",
      state: request.searchParams.get("state") ?? "",
      iss: authz.issuer,
    });
    const page = await session.request("GET", `/callback?${params}`);
    assert.deepEqual(
      { status: page.status, problem: problemId(page.text) },
      { status: 403, problem: "problem-denied" },
    );
    assert.match(page.text, /You chose not to let Canon Printing see your Flickr photos/);
  });

  it("without tokens, /photos goes back home; printing needs the CSRF token", async () => {
    const session = new Session(canon.url);
    const photos = await session.request("GET", "/photos");
    assert.deepEqual({ status: photos.status, location: photos.location }, { status: 303, location: "/" });
    const print = await session.request("POST", "/print", { photo: "p-1001" });
    assert.deepEqual(
      { status: print.status, problem: problemId(print.text) },
      { status: 400, problem: "problem-csrf" },
    );
    const nothing = await session.request("POST", "/print", { csrf: await session.csrf(), photo: "p-1001" });
    assert.deepEqual(
      { status: nothing.status, problem: problemId(nothing.text) },
      { status: 400, problem: "problem-nothing-selected" },
    );
  });

  /** The real code flow at the authorization server's pages, without a browser: Canon ends up with tokens. */
  async function connected(): Promise<Session> {
    const session = new Session(canon.url);
    const authorize = await session.connect();
    const browser = new BrowserClient(authz.url);
    const login = await browser.get(authorize.href);
    assert.equal(login.status, 200, login.body);
    const signedIn = await browser.post(
      "/login",
      withFields(onlyForm(login.body, "/login"), { username: "alice", password: PASSWORD }),
    );
    assert.equal(signedIn.status, 303, signedIn.body);
    assert.ok(signedIn.location, "signing in redirects");
    const next = await browser.get(signedIn.location);
    let callback = next.location;
    if (next.status === 200) {
      const decision = await browser.post(
        "/consent",
        withFields(onlyForm(next.body, "/consent"), { decision: "allow" }),
      );
      assert.equal(decision.status, 303);
      callback = decision.location;
    }
    assert.ok(typeof callback === "string" && callback.startsWith(`${canon.url}/callback?`), String(callback));
    const landed = await session.request("GET", new URL(callback).pathname + new URL(callback).search);
    assert.deepEqual({ status: landed.status, location: landed.location }, { status: 303, location: "/photos" });
    return session;
  }

  it("an expired access token at the gateway: Canon refreshes once (rotated refresh token) and retries", async () => {
    gateway.mode = "expire-first";
    gateway.tokens.length = 0;
    const session = await connected();
    const photos = await session.request("GET", "/photos");
    assert.equal(photos.status, 200, photos.text);
    assert.match(photos.text, /<strong>Refreshed<\/strong>/);
    assert.equal(gateway.tokens.length, 2);
    assert.notEqual(
      gateway.tokens[0],
      gateway.tokens[1],
      "the retry carried a new access token from the refresh grant",
    );
  });

  it("the gateway's guard answering 503: Canon says Flickr is unavailable", async () => {
    const session = await connected();
    gateway.mode = "unavailable";
    const photos = await session.request("GET", "/photos");
    assert.deepEqual(
      { status: photos.status, problem: problemId(photos.text) },
      { status: 503, problem: "problem-gateway" },
    );
  });

  it("consent withdrawn at the authorization server: the refresh fails and Canon asks alice to connect again", async () => {
    const session = await connected();
    assert.equal(await authz.services.storage.consents.revoke(aliceId, clientId, Date.now()), true);
    gateway.mode = "expire-first";
    gateway.tokens.length = 0;
    const photos = await session.request("GET", "/photos");
    assert.deepEqual(
      { status: photos.status, problem: problemId(photos.text) },
      { status: 401, problem: "problem-token" },
    );
    assert.equal(gateway.tokens.length, 1, "no retry without a new token");
    const again = await session.request("GET", "/photos");
    assert.deepEqual({ status: again.status, location: again.location }, { status: 303, location: "/" });
  });
});
