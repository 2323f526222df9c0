// Refresh-token rotation (RFC 6749 §6, RFC 9700 §4.14.2): one successor per refresh token, whatever the number of
// concurrent or repeated presentations, and what each presentation is answered during and after the grace window.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { digest } from "../../../authz-server/src/secrets.ts";
import { basic, form, post, present, storageEngines } from "../helpers.ts";
import {
  authorizationRequest,
  exchangeCallback,
  obtainCallback,
  withFlowServer,
  type FlowServer,
} from "../code-flow.ts";

const INVALID_REFRESH = {
  error: "invalid_grant",
  error_description: "the refresh token is invalid, expired or revoked",
};

interface Tokens {
  access_token: string;
  refresh_token: string;
}

/** What Canon Printing does with the token endpoint and the introspection endpoint of `server`. */
function canonOf(server: FlowServer) {
  const auth = { authorization: basic(server.canon.clientId, server.canon.clientSecret) };
  return {
    /** alice signs in and allows; Canon exchanges the code. */
    async signIn(): Promise<Tokens> {
      const attempt = await authorizationRequest(server);
      const { callback } = await obtainCallback(server, attempt);
      const exchanged = await exchangeCallback(server, attempt, callback);
      assert.equal(exchanged.status, 200);
      return exchanged.body as Tokens;
    },
    refresh: (refreshToken: string) =>
      post(`${server.url}/token`, form({ grant_type: "refresh_token", refresh_token: refreshToken }), auth),
    async refreshed(refreshToken: string): Promise<Tokens> {
      const response = await this.refresh(refreshToken);
      assert.equal(response.status, 200, JSON.stringify(response.body));
      return response.body as Tokens;
    },
    async active(token: string): Promise<boolean> {
      return ((await post(`${server.url}/introspect`, form({ token }), auth)).body as { active: boolean }).active;
    },
    revoke: (token: string) => post(`${server.url}/revoke`, form({ token }), auth),
  };
}

/** The family's tokens neither rotated nor revoked: the heads of its chains. */
async function liveTokens(server: FlowServer, anyToken: string): Promise<string[]> {
  const { familyId } = present(await server.storage.refreshTokens.find(digest(anyToken)), "the refresh token");
  return (await server.storage.refreshTokens.family(familyId))
    .filter((t) => t.rotatedAt === null && t.revokedAt === null)
    .map((t) => t.tokenDigest);
}

const engines = await storageEngines();

for (const engine of engines) {
  describe(`refresh-token rotation on ${engine.name}: one successor per refresh token`, () => {
    it("twenty parallel refreshes of one token are all answered with the same successor; the family has one live chain", async () =>
      withFlowServer(await engine.freshDatabase(), async (server) => {
        const canon = canonOf(server);
        const first = await canon.signIn();
        const answers = await Promise.all(Array.from({ length: 20 }, () => canon.refresh(first.refresh_token)));
        assert.deepEqual(
          answers.map((a) => a.status),
          Array(20).fill(200),
        );
        const bodies = answers.map((a) => a.body as Tokens);
        const successors = new Set(bodies.map((b) => b.refresh_token));
        assert.equal(successors.size, 1);
        const [successor] = successors;
        assert.notEqual(successor, first.refresh_token);
        // Each answer carries its own access token.
        assert.equal(new Set(bodies.map((b) => b.access_token)).size, 20);
        assert.deepEqual(await liveTokens(server, first.refresh_token), [digest(successor)]);
        // The chain moves on from the successor.
        const next = await canon.refreshed(successor);
        assert.deepEqual(await liveTokens(server, first.refresh_token), [digest(next.refresh_token)]);
        // Every access token handed out belongs to the family: revoking it reaches all twenty.
        assert.equal((await canon.revoke(next.refresh_token)).status, 200);
        for (const body of bodies) assert.equal(await canon.active(body.access_token), false);
      }));

    it("a retry within the grace window gets the same refresh token and a new access token", async () =>
      withFlowServer(await engine.freshDatabase(), async (server) => {
        const canon = canonOf(server);
        const first = await canon.signIn();
        const answer = await canon.refreshed(first.refresh_token);
        server.clock.advance(1); // the default grace window is 2 s
        const retry = await canon.refreshed(first.refresh_token);
        assert.equal(retry.refresh_token, answer.refresh_token);
        assert.notEqual(retry.access_token, answer.access_token);
        assert.equal(await canon.active(retry.access_token), true);
        assert.equal(await canon.active(answer.access_token), true);
        assert.deepEqual(await liveTokens(server, first.refresh_token), [digest(answer.refresh_token)]);
      }));

    it("a retry within the grace window after the successor was used is refused, and the family lives on", async () =>
      withFlowServer(await engine.freshDatabase(), async (server) => {
        const canon = canonOf(server);
        const first = await canon.signIn();
        const second = await canon.refreshed(first.refresh_token);
        const third = await canon.refreshed(second.refresh_token);
        const late = await canon.refresh(first.refresh_token);
        assert.deepEqual([late.status, late.body], [400, INVALID_REFRESH]);
        assert.equal(await canon.active(third.refresh_token), true);
        assert.equal(await canon.active(second.access_token), true);
        // The successor's successor still works.
        const fourth = await canon.refreshed(third.refresh_token);
        assert.equal(await canon.active(fourth.access_token), true);
      }));

    it("a rotated token presented after the grace window revokes the family and its access tokens", async () =>
      withFlowServer(await engine.freshDatabase(), async (server) => {
        const canon = canonOf(server);
        const first = await canon.signIn();
        const second = await canon.refreshed(first.refresh_token);
        server.clock.advance(2);
        const reused = await canon.refresh(first.refresh_token);
        assert.deepEqual([reused.status, reused.body], [400, INVALID_REFRESH]);
        assert.equal(await canon.active(second.refresh_token), false);
        assert.equal(await canon.active(second.access_token), false);
        const afterRevocation = await canon.refresh(second.refresh_token);
        assert.deepEqual([afterRevocation.status, afterRevocation.body], [400, INVALID_REFRESH]);
      }));

    it("a retry handed the successor leaves it to be caught like any reuse: its second use after the window revokes the family", async () =>
      withFlowServer(await engine.freshDatabase(), async (server) => {
        const canon = canonOf(server);
        const first = await canon.signIn();
        // The client and a replay of its request within the window hold the same successor.
        const [client, replay] = await Promise.all([
          canon.refreshed(first.refresh_token),
          canon.refreshed(first.refresh_token),
        ]);
        assert.equal(replay.refresh_token, client.refresh_token);
        const onward = await canon.refreshed(client.refresh_token);
        server.clock.advance(2);
        const reused = await canon.refresh(replay.refresh_token);
        assert.deepEqual([reused.status, reused.body], [400, INVALID_REFRESH]);
        assert.equal(await canon.active(onward.refresh_token), false);
      }));
  });
}
