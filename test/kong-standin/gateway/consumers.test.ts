// kong.yml's consumers as the gateway hands them to the plugin server (kong.client.load_consumer),
// and a lookup that fails inside Kong: Kong's 500, nothing proxied, over both protocols.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { parseKongConfig } from "../../../kong-standin/src/gateway/config.ts";
import { startGateway, type RunningGateway } from "../../../kong-standin/src/gateway/gateway.ts";
import {
  spawnPluginServer,
  type ConsumerDirectory,
  type PluginServerProcess,
} from "../../../kong-standin/src/wire/index.ts";
import { send, startRecordingUpstream, type Upstream } from "./helpers.ts";

const CLIENT_FIXTURE = fileURLToPath(new URL("../../fixtures/plugins/client", import.meta.url));

const KONG_YML = `_format_version: "3.0"
consumers:
  - { username: alice, custom_id: crm-1, tags: [staff] }
services:
  - name: photos
    url: http://photos:8080
    routes:
      - { name: whoami, paths: [/whoami], plugins: [{ name: client }] }
`;
/** Kong's declarative id for the username "alice" (config.ts declarativeConsumerId). */
const ALICE_ID = "b32379d9-3d28-5683-a79c-72139be6e34f";

/** A store whose every lookup raises, as a corrupt LMDB entry does in Kong (wire/consumers.ts). */
const FAILING: ConsumerDirectory = {
  byId: () => {
    throw new Error("lmdb: cannot decode entry");
  },
  byUsername: () => {
    throw new Error("lmdb: cannot decode entry");
  },
};

const lookUp = (name: string) => ({
  "x-client-script": JSON.stringify([["load_consumer", name, true]]),
});

for (const protocol of ["ProtoBuf:1", "MsgPack:1"] as const) {
  describe(`kong.yml's consumers through the gateway (${protocol})`, () => {
    let plugins: PluginServerProcess;
    let upstream: Upstream;
    let gateway: RunningGateway;
    let failing: RunningGateway;
    const pluginErrors: string[] = [];

    before(async () => {
      upstream = await startRecordingUpstream();
      plugins = await spawnPluginServer({
        pluginsDirectory: CLIENT_FIXTURE,
        args: protocol === "MsgPack:1" ? ["--protocol", "msgpack"] : [],
      });
      const options = {
        config: parseKongConfig(KONG_YML),
        plugins,
        port: 0,
        hostTable: { "photos:8080": `127.0.0.1:${upstream.port}` },
      };
      gateway = await startGateway(options);
      failing = await startGateway({
        ...options,
        consumers: FAILING,
        onPluginError: (route, error) => pluginErrors.push(`${route}: ${error}`),
      });
    });

    after(async () => {
      await gateway.close();
      await failing.close();
      await plugins.close();
      await upstream.close();
    });

    it("load_consumer finds kong.yml's consumer by username and by its declarative id", async () => {
      for (const name of ["alice", ALICE_ID]) {
        const answer = await send(gateway.url, "GET", "/whoami", lookUp(name));
        assert.equal(answer.status, 200);
        const seen = JSON.parse(String(upstream.requests.at(-1)?.headers["x-client-seen"])) as Array<
          Record<string, unknown>
        >;
        assert.deepEqual(
          { ...seen[0], created_at: 0, updated_at: 0 },
          {
            id: ALICE_ID,
            username: "alice",
            custom_id: "crm-1",
            tags: ["staff"],
            created_at: 0,
            updated_at: 0,
          },
        );
      }
    });

    it("a consumer lookup that fails inside Kong: Kong's 500 and nothing proxied", async () => {
      const proxied = upstream.requests.length;
      const answer = await send(failing.url, "GET", "/whoami", lookUp("alice"));
      assert.equal(answer.status, 500);
      assert.equal((answer.body as { message?: unknown }).message, "An unexpected error occurred");
      assert.equal(upstream.requests.length, proxied);
      assert.match(pluginErrors.at(-1) ?? "", /^whoami: .*consumer lookup failed: lmdb: cannot decode entry/);
    });
  });
}
