// The database going away under a running server (PostgreSQL restarted or unreachable): requests that need it are
// answered 503 with Retry-After — a JSON OAuth error at the token endpoint, a page in the browser — nothing crashes,
// and service resumes by itself once the database is back (authz-server/src/errors.ts, storage/errors.ts).
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { startTestPostgres } from "../../helpers/postgres.ts";
import { BrowserClient, onlyForm, withFields } from "../browser-client.ts";
import { authorizationRequest, PASSWORD, startFlowServer } from "../code-flow.ts";

describe("the database going away under a running server (PostgreSQL)", () => {
  it("answers 503 with Retry-After while it is gone, at the token endpoint and on the pages, then serves again", async () => {
    const postgres = await startTestPostgres({ own: true });
    after(() => postgres.close());
    const server = await startFlowServer({ dbPath: await postgres.createDatabase() });
    after(() => server.close());

    const browser = new BrowserClient(server.url);
    const loginPage = await browser.get((await authorizationRequest(server)).url.href);
    assert.equal(loginPage.status, 200);
    const login = () =>
      browser.post("/login", withFields(onlyForm(loginPage.body, "/login"), { username: "alice", password: PASSWORD }));
    const exchange = () =>
      fetch(`${server.url}/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "authorization_code",
          code: "a-code-that-must-be-looked-up",
          redirect_uri: "http://localhost:3000/callback",
          client_id: server.canon.clientId,
          client_secret: server.canon.clientSecret,
          code_verifier: "v".repeat(43),
        }),
      });

    const gone = await postgres.interrupt();
    const token = await exchange();
    assert.equal(token.status, 503);
    assert.equal(token.headers.get("retry-after"), "1");
    assert.deepEqual(await token.json(), {
      error: "temporarily_unavailable",
      error_description: "the authorization server cannot reach its database; retry shortly",
    });
    const page = await login();
    assert.equal(page.status, 503);
    assert.equal(page.headers.get("retry-after"), "1");
    assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
    assert.match(page.body, /<h1>Try again in a moment<\/h1>/);

    await gone.resume();
    // Back: the pool reconnects on its own; the same requests get their ordinary answers.
    let answered = await exchange();
    for (let waited = 0; answered.status === 503 && waited < 10_000; waited += 200) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      answered = await exchange();
    }
    assert.equal(answered.status, 400);
    assert.equal(((await answered.json()) as { error: string }).error, "invalid_grant");
    const signedIn = await login();
    assert.equal(signedIn.status, 303, signedIn.body);
  });
});
