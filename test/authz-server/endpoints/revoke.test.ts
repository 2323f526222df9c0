// POST /revoke (RFC 7009): a client revokes only tokens issued to it. A token issued to another client is, for the
// caller, an invalid token (§2.2): the answer is 200, exactly as for an unknown one, so /revoke cannot tell a client
// whether a token it found exists; and nothing is revoked.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { basic, createClient, form, post, present, storageEngines, type TestClient } from "../helpers.ts";
import { BrowserClient } from "../browser-client.ts";
import {
  allow,
  authorizationRequest,
  exchangeCallback,
  loginThrough,
  PHOTOS_RESOURCE,
  startFlowServer,
  type FlowServer,
} from "../code-flow.ts";

const engines = await storageEngines();

for (const engine of engines) {
  describe(`POST /revoke on ${engine.name} revokes only the caller's own tokens`, () => {
    let server: FlowServer;
    let stranger: TestClient;
    let photosApi: TestClient;

    before(async () => {
      server = await startFlowServer(await engine.freshDatabase());
      stranger = await createClient(server.storage, { name: "Stranger", scopes: ["photos"] });
      photosApi = await createClient(server.storage, {
        name: "Flickr photos API",
        scopes: [],
        grantTypes: [],
        resourceServerFor: [PHOTOS_RESOURCE],
      });
    });
    after(() => server.close());

    /** A new grant of alice's to Canon Printing through the code flow (consent is asked the first time only). */
    async function canonTokens(): Promise<{ access_token: string; refresh_token: string }> {
      const attempt = await authorizationRequest(server);
      const browser = new BrowserClient(server.url);
      const page = await loginThrough(browser, attempt);
      const callback = page.status === 303 ? new URL(present(page.location, "Location")) : await allow(browser, page);
      const exchange = await exchangeCallback(server, attempt, callback);
      assert.equal(exchange.status, 200);
      return exchange.body as { access_token: string; refresh_token: string };
    }

    function revoke(caller: TestClient, token: string, hint?: string) {
      return post(`${server.url}/revoke`, form({ token, ...(hint === undefined ? {} : { token_type_hint: hint }) }), {
        authorization: basic(caller.clientId, caller.clientSecret),
      });
    }

    async function activeToCanon(token: string): Promise<boolean> {
      const answer = await post(`${server.url}/introspect`, form({ token }), {
        authorization: basic(server.canon.clientId, server.canon.clientSecret),
      });
      return (answer.body as { active: boolean }).active;
    }

    it("another client's access or refresh token: 200 with an empty body, as for an unknown token, and nothing revoked", async () => {
      const tokens = await canonTokens();
      const unknown = await revoke(stranger, "no-such-token");
      assert.deepEqual([unknown.status, unknown.body], [200, ""]);
      for (const caller of [stranger, photosApi]) {
        for (const hint of [undefined, "access_token", "refresh_token"]) {
          for (const token of [tokens.access_token, tokens.refresh_token]) {
            const answer = await revoke(caller, token, hint);
            assert.deepEqual([answer.status, answer.body, answer.headers.get("cache-control")], [200, "", "no-store"]);
          }
        }
      }
      assert.equal(await activeToCanon(tokens.access_token), true);
      assert.equal(await activeToCanon(tokens.refresh_token), true);
      const refreshed = await post(
        `${server.url}/token`,
        form({ grant_type: "refresh_token", refresh_token: tokens.refresh_token }),
        {
          authorization: basic(server.canon.clientId, server.canon.clientSecret),
        },
      );
      assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
    });

    it("the token's own client revokes it: the refresh token's family and its access tokens end", async () => {
      const tokens = await canonTokens();
      const answer = await revoke(server.canon, tokens.refresh_token);
      assert.deepEqual([answer.status, answer.body], [200, ""]);
      assert.equal(await activeToCanon(tokens.refresh_token), false);
      assert.equal(await activeToCanon(tokens.access_token), false);
    });
  });
}
