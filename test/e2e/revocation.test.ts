// Every revoking event reaches a running gateway within the poll interval plus half a second: the real
// authorization server's revocation feed, polled every 200 ms by oauth2-jwt in the real plugin-server process behind
// the stand-in gateway over the real kong.yml. Each event is caused the way a user, a client or an operator causes
// it (RFC 7009 /revoke, a replayed code or refresh token, the account page, the CLI), and the token that was served a
// moment before is refused with RFC 6750's invalid_token. A token the event does not cover keeps working: the feed
// lists single access tokens for /revoke, refresh-family revocation and code replay, so another device of the same
// user is not signed out, and consent withdrawn covers one client only.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { BrowserClient, onlyForm, withFields } from "../authz-server/browser-client.ts";
import { basic, form, post, type TestClient } from "../authz-server/helpers.ts";
import { json } from "../authz-server/cli/helpers.ts";
import { authorizationRequest, CANON_CALLBACK, loginThrough, PASSWORD } from "../authz-server/code-flow.ts";
import { canonAt, eventually, flowNode, type Tokens } from "../multi-node/helpers.ts";
import {
  assertServed,
  KEY_WITHDRAWN,
  nextSecond,
  refusedWithin,
  startRevocationStack,
  type FeedGateway,
  type RevocationStack,
} from "./revocation-stack.ts";

describe("revocation reaches the gateway through the real plugin server", { timeout: 90_000 }, () => {
  let stack: RevocationStack;
  let gateway: FeedGateway;
  /** A second client of alice's: a photo frame, on her other device. */
  let frame: TestClient;

  before(async () => {
    stack = await startRevocationStack();
    const created = json<{ client_id: string; client_secret: string }>(
      await stack.cli([
        "clients",
        "create",
        "--name",
        "Photo Frame",
        "--scope",
        "photos",
        "--redirect-uri",
        CANON_CALLBACK,
        "--json",
      ]),
    );
    frame = { clientId: created.client_id, clientSecret: created.client_secret };
    gateway = await stack.startGateway();
  });
  after(() => stack.close());

  /** alice signs in and allows `client` (Canon Printing by default): a fresh grant, served by the gateway. */
  async function signIn(client: TestClient = stack.canon): Promise<Tokens> {
    const tokens = await canonAt(client).signIn([stack.authz]);
    await assertServed(gateway, tokens.access_token, "a fresh token");
    return tokens;
  }

  const revoke = (client: TestClient, token: string, hint: string) =>
    post(`${stack.authz.url}/revoke`, form({ token, token_type_hint: hint }), {
      authorization: basic(client.clientId, client.clientSecret),
    });

  it("/revoke of an access token: refused; alice's other device keeps working", async () => {
    const [revoked, other] = [await signIn(), await signIn()];
    const answer = await revoke(stack.canon, revoked.access_token, "access_token");
    assert.equal(answer.status, 200);
    await refusedWithin(gateway, revoked.access_token);
    await assertServed(gateway, other.access_token, "the other grant");
  });

  it("/revoke of a refresh token: the access tokens of its family are refused, not another device's", async () => {
    const [revoked, other] = [await signIn(), await signIn()];
    const refreshed = await canonAt(stack.canon).refresh(stack.authz, revoked.refresh_token);
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
    const current = refreshed.body as Tokens;
    await assertServed(gateway, current.access_token);
    const answer = await revoke(stack.canon, current.refresh_token, "refresh_token");
    assert.equal(answer.status, 200);
    await refusedWithin(gateway, current.access_token);
    await refusedWithin(gateway, revoked.access_token);
    await assertServed(gateway, other.access_token, "the other grant");
  });

  it("an authorization code presented twice: the tokens it gave are refused", async () => {
    const other = await signIn();
    const { attempt, callback } = await canonAt(stack.canon).authorize(stack.authz);
    const first = await canonAt(stack.canon).exchange(stack.authz, attempt, callback);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const tokens = first.body as Tokens;
    await assertServed(gateway, tokens.access_token);
    const replay = await canonAt(stack.canon).exchange(stack.authz, attempt, callback);
    assert.equal(replay.status, 400);
    await refusedWithin(gateway, tokens.access_token);
    await assertServed(gateway, other.access_token, "the other grant");
  });

  it("a rotated refresh token presented again: its family's access tokens are refused", async () => {
    const [tokens, other] = [await signIn(), await signIn()];
    const refreshed = await canonAt(stack.canon).refresh(stack.authz, tokens.refresh_token);
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
    const successor = refreshed.body as Tokens;
    await assertServed(gateway, successor.access_token);
    const reuse = await canonAt(stack.canon).refresh(stack.authz, tokens.refresh_token);
    assert.equal(reuse.status, 400);
    await refusedWithin(gateway, successor.access_token);
    await refusedWithin(gateway, tokens.access_token);
    await assertServed(gateway, other.access_token, "the other grant");
  });

  it("consent withdrawn with `consents revoke`: alice's tokens for that client are refused, her photo frame's are not; her next consent works", async () => {
    const [canonTokens, frameTokens] = [await signIn(), await signIn(frame)];
    const withdrawn = await stack.cli(["consents", "revoke", "--user", "alice", "--client", stack.canon.clientId]);
    assert.equal(withdrawn.code, 0, withdrawn.stderr);
    await refusedWithin(gateway, canonTokens.access_token);
    await assertServed(gateway, frameTokens.access_token, "the photo frame's token");
    await nextSecond();
    await signIn();
  });

  it("sign out everywhere on the account page: every token alice held is refused; her next sign-in works", async () => {
    const [canonTokens, frameTokens] = [await signIn(), await signIn(frame)];
    const browser = new BrowserClient(stack.authz.url);
    await loginThrough(browser, await authorizationRequest(flowNode(stack.authz, stack.canon)));
    const page = await browser.get("/consents");
    assert.equal(page.status, 200);
    const signedOut = await browser.post(
      "/sign-out-everywhere",
      withFields(onlyForm(page.body, "/sign-out-everywhere"), {}),
    );
    assert.equal(signedOut.status, 303);
    await refusedWithin(gateway, canonTokens.access_token);
    await refusedWithin(gateway, frameTokens.access_token);
    await nextSecond();
    await signIn();
  });

  it("`users set-password`: every token alice held is refused", async () => {
    const [canonTokens, frameTokens] = [await signIn(), await signIn(frame)];
    const changed = await stack.cli(["users", "set-password", "alice", "--password-stdin"], {
      input: `${PASSWORD}\n`,
    });
    assert.equal(changed.code, 0, changed.stderr);
    await refusedWithin(gateway, canonTokens.access_token);
    await refusedWithin(gateway, frameTokens.access_token);
    await nextSecond();
    await signIn();
  });

  it("`clients delete`: the client's tokens are refused, another client's are not", async () => {
    const frameTokens = await signIn(frame);
    const canonTokens = await signIn();
    const deleted = await stack.cli(["clients", "delete", frame.clientId]);
    assert.equal(deleted.code, 0, deleted.stderr);
    await refusedWithin(gateway, frameTokens.access_token);
    await assertServed(gateway, canonTokens.access_token, "Canon Printing's token");
  });

  it("`clients rotate-secret`: the client's tokens are refused; those it obtains with the new secret pass", async () => {
    const tokens = await signIn();
    const rotated = json<{ client_id: string; client_secret: string }>(
      await stack.cli(["clients", "rotate-secret", stack.canon.clientId, "--json"]),
    );
    assert.equal(rotated.client_id, stack.canon.clientId);
    await refusedWithin(gateway, tokens.access_token);
    stack.canon.clientSecret = rotated.client_secret;
    await nextSecond();
    // The running server takes the new secret at its next look at the clients table.
    await eventually(async () => {
      await signIn();
    }, 5000);
  });

  it("`keys revoke` of the signing key: its tokens are refused; the gateway fetches the new key, whose tokens pass", async () => {
    const tokens = await signIn();
    const kid = headerKid(tokens.access_token);
    const revoked = await stack.cli(["keys", "revoke", kid]);
    assert.equal(revoked.code, 0, revoked.stderr);
    await refusedWithin(gateway, tokens.access_token, KEY_WITHDRAWN);
    // The running server publishes the replacement and signs with it from its next key poll (1 s here). The gateway
    // refetched the key set when the feed listed the key, which may have been before that poll: the replacement's
    // first token then makes it fetch again once jwks_min_refresh_seconds (10 s by default) have passed.
    const waited = await eventually(async () => {
      const fresh = await canonAt(stack.canon).signIn([stack.authz]);
      assert.notEqual(headerKid(fresh.access_token), kid);
      await assertServed(gateway, fresh.access_token, "a token signed by the new key");
    }, 12_000);
    assert.ok(waited <= 12_000);
  });

  it("`users delete`: every token the user held is refused", async () => {
    const tokens = await signIn();
    const deleted = await stack.cli(["users", "delete", "alice"]);
    assert.equal(deleted.code, 0, deleted.stderr);
    await refusedWithin(gateway, tokens.access_token);
  });
});

function headerKid(token: string): string {
  const header = JSON.parse(Buffer.from(token.split(".")[0], "base64url").toString("utf8")) as { kid?: unknown };
  assert.equal(typeof header.kid, "string");
  return header.kid as string;
}
