// Kong's other plugins see who called: tokens through the stand-in gateway, the real plugin server
// (ProtoBuf:1, as kong.yml deploys it) and Kong's rate-limiting as the stand-in mirrors it. First
// the shipped kong.yml, whose upload route is limited per user; then a declarative file with
// consumers, where the plugin maps a token's `sub` to a Kong consumer and lets everything else
// through as the anonymous consumer (plugin/README.md "Consumers, credentials and anonymous").
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { parseKongConfig } from "../../kong-standin/src/gateway/config.ts";
import { startGateway, type RunningGateway } from "../../kong-standin/src/gateway/gateway.ts";
import { spawnPluginServer, type PluginServerProcess } from "../../kong-standin/src/wire/index.ts";
import { Closers } from "../helpers/closers.ts";
import { KONG_YML, send, startRecordingUpstream, type Upstream } from "../kong-standin/gateway/helpers.ts";
import { JwksServer } from "../plugin/helpers/jwks-server.ts";
import { generateTestKey, signAccessToken, type TestKey } from "../plugin/helpers/tokens.ts";

/** kong.yml's issuer, as its tokens name it. */
const ISSUER = "http://localhost:9000";
const AUDIENCE = "http://localhost:8000/flickr";
/** Rate-limiting counts by this clock: mid-minute, so no window closes during a test. */
const GATEWAY_CLOCK = (): number => Date.UTC(2026, 11, 7, 12, 0, 30);
/** The upload limit kong.yml sets per user. */
const UPLOADS_PER_MINUTE = 30;

const seconds = (): number => Math.floor(Date.now() / 1000);

describe("Kong's other plugins see who called", () => {
  const closers = new Closers();
  let key: TestKey;
  let jwks: JwksServer;
  let upstream: Upstream;
  let plugins: PluginServerProcess;

  /** A token kong.yml's routes accept, for `sub`, with `claims` on top. */
  const token = (claims: Record<string, unknown>): Promise<string> =>
    signAccessToken(key, { iss: ISSUER, aud: AUDIENCE, ...claims }, {}, seconds());

  const gatewayOver = async (config: string | ReturnType<typeof parseKongConfig>): Promise<RunningGateway> => {
    const gateway = await startGateway({
      config,
      plugins,
      port: 0,
      clock: GATEWAY_CLOCK,
      hostTable: { "photos:8080": `127.0.0.1:${upstream.port}`, "authz:9000": jwks.origin.slice("http://".length) },
    });
    closers.add(() => gateway.close());
    return gateway;
  };

  before(async () => {
    key = await generateTestKey("ES256");
    jwks = await new JwksServer([key.jwk]).start();
    closers.add(() => jwks.stop());
    upstream = await startRecordingUpstream();
    closers.add(() => upstream.close());
    plugins = await spawnPluginServer();
    closers.add(() => plugins.close());
  });
  after(() => closers.closeAll());

  describe("the shipped kong.yml", () => {
    let gateway: RunningGateway;
    before(async () => {
      gateway = await gatewayOver(KONG_YML);
    });

    it("limits uploads per user: a user's 31st upload in a minute is 429 from rate-limiting, another user's still goes through", async () => {
      const alice = await token({ sub: "alice", scope: "photos:write" });
      const bob = await token({ sub: "bob", scope: "photos:write" });
      const upload = (bearer: string) =>
        send(
          gateway.url,
          "POST",
          "/flickr/photos",
          { authorization: `Bearer ${bearer}`, "content-type": "application/json" },
          "{}",
        );
      upstream.requests.length = 0;
      for (let n = 1; n <= UPLOADS_PER_MINUTE; n++) {
        const answer = await upload(alice);
        assert.equal(answer.status, 200, `upload ${n}`);
        assert.equal(answer.headers["x-ratelimit-remaining-minute"], String(UPLOADS_PER_MINUTE - n));
      }
      const refused = await upload(alice);
      assert.equal(refused.status, 429);
      // Kong's kong.response.error body: the message and the request's id.
      assert.equal((refused.body as { message?: unknown }).message, "API rate limit exceeded");
      assert.equal(refused.headers["x-ratelimit-limit-minute"], String(UPLOADS_PER_MINUTE));
      assert.equal(refused.headers["retry-after"], "30");
      assert.equal(upstream.requests.length, UPLOADS_PER_MINUTE, "the refused upload never reached the photos API");
      // The upstream was told whose credential each upload counted against.
      assert.equal(upstream.requests[0].headers["x-credential-identifier"], "alice");
      assert.equal(upstream.requests[0].headers["x-authenticated-userid"], "alice");
      assert.equal(upstream.requests[0].headers["x-consumer-id"], undefined);

      const other = await upload(bob);
      assert.equal(other.status, 200);
      assert.equal(other.headers["x-ratelimit-remaining-minute"], String(UPLOADS_PER_MINUTE - 1));
    });

    it("reading photos tells Kong nothing: no credential header upstream, and a client's own copy is removed", async () => {
      upstream.requests.length = 0;
      const answer = await send(gateway.url, "GET", "/flickr/photos", {
        authorization: `Bearer ${await token({ sub: "alice", scope: "photos" })}`,
        "x-credential-identifier": "somebody-else",
        "x-consumer-username": "admin",
      });
      assert.equal(answer.status, 200);
      assert.equal(answer.headers["x-ratelimit-remaining-minute"], undefined, "no rate limit on reads");
      const seen = upstream.requests[0].headers;
      assert.equal(seen["x-credential-identifier"], undefined);
      assert.equal(seen["x-consumer-username"], undefined);
      assert.equal(seen["x-authenticated-userid"], "alice");
    });
  });

  describe("consumers and anonymous", () => {
    // alice is a consumer; guest is the anonymous one; mallory is a user with no consumer.
    const CONSUMERS_YML = `_format_version: "3.0"
consumers:
  - { username: alice, custom_id: crm-1 }
  - { username: guest }
services:
  - name: photos
    url: http://photos:8080
    routes:
      - name: shared
        paths: [/shared]
        strip_path: false
        plugins:
          - name: oauth2-jwt
            config:
              issuer: ${ISSUER}
              jwks_uri: http://authz:9000/jwks.json
              audience: [${AUDIENCE}]
              scopes_required: [photos]
              consumer_claim: sub
              anonymous: guest
          - { name: rate-limiting, config: { minute: 3, limit_by: consumer, policy: local } }
      - name: members
        paths: [/members]
        strip_path: false
        plugins:
          - name: oauth2-jwt
            config:
              issuer: ${ISSUER}
              jwks_uri: http://authz:9000/jwks.json
              audience: [${AUDIENCE}]
              consumer_claim: sub
`;
    /** Kong's declarative id of the consumer named alice (a UUIDv5 of the username). */
    const ALICE_ID = "b32379d9-3d28-5683-a79c-72139be6e34f";
    let gateway: RunningGateway;
    let guestId: string;

    before(async () => {
      const config = parseKongConfig(CONSUMERS_YML);
      guestId = config.consumers.find((consumer) => consumer.username === "guest")?.id ?? "";
      gateway = await gatewayOver(config);
    });

    const at = async (path: string, headers: Record<string, string> = {}) => {
      upstream.requests.length = 0;
      const answer = await send(gateway.url, "GET", path, headers);
      return { answer, proxied: upstream.requests.length > 0, seen: upstream.requests.at(0)?.headers ?? {} };
    };
    const bearer = async (claims: Record<string, unknown>) => ({
      authorization: `Bearer ${await token({ scope: "photos", ...claims })}`,
    });

    it("a token naming a consumer passes as that consumer, with Kong's consumer headers; anything else as the anonymous one, counted apart", async () => {
      const alice = await at("/shared", await bearer({ sub: "alice" }));
      assert.equal(alice.answer.status, 200);
      assert.equal(alice.seen["x-consumer-id"], ALICE_ID);
      assert.equal(alice.seen["x-consumer-username"], "alice");
      assert.equal(alice.seen["x-consumer-custom-id"], "crm-1");
      assert.equal(alice.seen["x-credential-identifier"], "canon-printing", "credential_claim defaults to client_id");
      assert.equal(alice.seen["x-anonymous-consumer"], undefined);
      assert.equal(alice.answer.headers["x-ratelimit-remaining-minute"], "2");

      // No token, a token for a user with no consumer, an expired token: the anonymous consumer,
      // sharing one count (rate-limiting limit_by consumer).
      const anonymous = [
        await at("/shared", { "x-consumer-username": "alice" }),
        await at("/shared", await bearer({ sub: "mallory" })),
        await at("/shared", await bearer({ sub: "alice", exp: seconds() - 3600 })),
      ];
      for (const [n, { answer, seen }] of anonymous.entries()) {
        assert.equal(answer.status, 200, `anonymous request ${n}`);
        assert.equal(seen["x-consumer-id"], guestId);
        assert.equal(seen["x-consumer-username"], "guest", "the client's own X-Consumer-Username is replaced");
        assert.equal(seen["x-anonymous-consumer"], "true");
        assert.equal(seen["x-credential-identifier"], undefined);
        assert.equal(seen["x-authenticated-userid"], undefined);
        assert.equal(answer.headers["x-ratelimit-remaining-minute"], String(2 - n));
      }
      const overLimit = await at("/shared");
      assert.equal(overLimit.answer.status, 429);
      assert.equal(overLimit.proxied, false);
      // alice's own count is untouched by the anonymous requests.
      assert.equal(
        (await at("/shared", await bearer({ sub: "alice" }))).answer.headers["x-ratelimit-remaining-minute"],
        "1",
      );
    });

    it("a valid token lacking the route's scope is still 403, not anonymous", async () => {
      const { answer, proxied } = await at("/shared", await bearer({ sub: "alice", scope: "profile" }));
      assert.equal(answer.status, 403);
      assert.match(answer.headers["www-authenticate"] ?? "", /error="insufficient_scope"/);
      assert.equal(proxied, false);
    });

    it("without anonymous, a token naming no consumer, or a claim that cannot name one, is 401 invalid_token", async () => {
      const nobody = await at("/members", await bearer({ sub: "mallory" }));
      assert.equal(nobody.answer.status, 401);
      assert.match(
        nobody.answer.headers["www-authenticate"] ?? "",
        /error="invalid_token", error_description="no consumer matches the token's sub claim"/,
      );
      const tooLong = await at("/members", await bearer({ sub: "a".repeat(257) }));
      assert.equal(tooLong.answer.status, 401);
      assert.match(
        tooLong.answer.headers["www-authenticate"] ?? "",
        /error_description="the token's sub claim cannot identify a credential"/,
      );
      assert.equal(nobody.proxied || tooLong.proxied, false);
      const alice = await at("/members", await bearer({ sub: "alice" }));
      assert.equal(alice.answer.status, 200);
      assert.equal(alice.seen["x-consumer-id"], ALICE_ID);
    });
  });
});
