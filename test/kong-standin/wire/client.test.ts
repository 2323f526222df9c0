// Kong's kong.client.* answers (kong/pdk/client.lua, Kong 3.9.3) through the real plugin server,
// over both protocols, driven by the `client` fixture plugin: load_consumer by id and by username,
// authenticate and what it records for later plugins, get_consumer, get_credential, and the Lua
// errors that end the request with Kong's 500.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import {
  consumerDirectory,
  spawnPluginServer,
  type AccessResult,
  type ConsumerDirectory,
  type PluginInstance,
  type PluginServerProcess,
  type WireRequest,
} from "../../../kong-standin/src/wire/index.ts";

const CLIENT_FIXTURE = fileURLToPath(new URL("../../fixtures/plugins/client", import.meta.url));

const ALICE = {
  id: "4c1c5d6e-8f0a-4b6c-9d2e-0f1a2b3c4d5e",
  created_at: 1_700_000_000,
  updated_at: 1_700_000_000,
  username: "alice",
  custom_id: "crm-17",
  tags: ["staff"],
};
/** A consumer whose username is another consumer's id: load_consumer looks a UUID up by id first. */
const SHADOW = {
  id: "9b2f0c4a-1d3e-4f5a-8b6c-7d8e9f0a1b2c",
  created_at: 1_700_000_001,
  updated_at: 1_700_000_001,
  username: ALICE.id,
};
const CONSUMERS = consumerDirectory([ALICE, SHADOW]);

/** A store whose every lookup raises, as a corrupt LMDB entry does in Kong. */
const FAILING: ConsumerDirectory = {
  byId: () => {
    throw new Error("lmdb: cannot decode entry");
  },
  byUsername: () => {
    throw new Error("lmdb: cannot decode entry");
  },
};

type Step = [string, ...unknown[]];

function run(plugin: PluginInstance, script: Step[], extra: Partial<WireRequest> = {}): Promise<AccessResult> {
  return plugin.access({
    method: "GET",
    path: "/",
    headers: { "x-client-script": JSON.stringify(script) },
    consumers: CONSUMERS,
    ...extra,
  });
}

/** What the fixture reported, one entry per step. */
function seen(result: AccessResult): unknown[] {
  if (result.outcome !== "proceed") assert.fail(`expected the request to proceed: ${JSON.stringify(result)}`);
  const header = Object.entries(result.upstreamHeaders)
    .find(([name]) => name === "x-client-seen")?.[1]
    .at(0);
  return JSON.parse(header ?? "null") as unknown[];
}

/** Kong's own 500 (a Lua error raised in a PDK function), never proxied. */
function assertKong500(result: AccessResult, error: string): void {
  if (result.outcome !== "exit") assert.fail(`expected Kong's 500: ${JSON.stringify(result)}`);
  assert.equal(result.status, 500);
  assert.deepEqual(result.body, { message: "An unexpected error occurred" });
  assert.match(result.error ?? "", new RegExp(error));
}

for (const protocol of ["ProtoBuf:1", "MsgPack:1"] as const) {
  // What a consumer looks like once it crossed the wire: ProtoBuf:1's Consumer message has no
  // updated_at; MessagePack-RPC carries the whole entity.
  const wire = (consumer: Record<string, unknown>): Record<string, unknown> => {
    if (protocol === "MsgPack:1") return consumer;
    return Object.fromEntries(Object.entries(consumer).filter(([field]) => field !== "updated_at"));
  };
  // A nil consumer or credential: MessagePack-RPC sends no Data (nil); ProtoBuf:1 the empty
  // message, which decodes as an object without fields.
  const NIL = protocol === "MsgPack:1" ? null : {};

  describe(`kong.client over ${protocol} (client fixture)`, () => {
    let server: PluginServerProcess;
    let plugin: PluginInstance;

    before(async () => {
      server = await spawnPluginServer({
        pluginsDirectory: CLIENT_FIXTURE,
        args: protocol === "MsgPack:1" ? ["--protocol", "msgpack"] : [],
      });
      plugin = await server.startInstance("client");
    });

    after(async () => {
      await server.close();
    });

    it("load_consumer by username finds the consumer; an unknown name is nil", async () => {
      const result = await run(plugin, [
        ["load_consumer", "alice", true],
        ["load_consumer", "bob", true],
      ]);
      assert.deepEqual(seen(result), [wire(ALICE), NIL]);
      assert.equal(result.authenticated, undefined);
    });

    it("load_consumer looks a UUID up by id first, then by username when asked; by id only without", async () => {
      const result = await run(plugin, [
        ["load_consumer", ALICE.id, true],
        ["load_consumer", SHADOW.id, false],
        ["load_consumer", "00000000-0000-4000-8000-000000000000", true],
        ["load_consumer", ALICE.id.toUpperCase(), false],
      ]);
      assert.deepEqual(seen(result), [wire(ALICE), wire(SHADOW), NIL, NIL]);
    });

    it("load_consumer of an id that is not a UUID, without by_username: Kong's Lua error, a 500", async () => {
      assertKong500(
        await run(plugin, [["load_consumer", "alice", false]]),
        "cannot load a consumer with an id that is not a uuid",
      );
    });

    it("a lookup that fails inside Kong ends the request with Kong's 500, nothing proxied", async () => {
      assertKong500(
        await run(plugin, [["load_consumer", "alice", true]], { consumers: FAILING }),
        "consumer lookup failed: lmdb: cannot decode entry",
      );
    });

    it("authenticate records the consumer and credential: get_consumer and get_credential answer them, and the result carries them", async () => {
      const result = await run(plugin, [
        ["get_credential"],
        ["load_consumer", "alice", true],
        ["authenticate", "$loaded", { id: "client-7" }],
        ["get_consumer"],
        ["get_credential"],
      ]);
      assert.deepEqual(seen(result), [NIL, wire(ALICE), null, wire(ALICE), { id: "client-7" }]);
      assert.deepEqual(result.authenticated, { consumer: wire(ALICE), credential: { id: "client-7" } });
    });

    it("authenticate with a credential only: get_consumer is nil", async () => {
      const result = await run(plugin, [
        ["authenticate", null, { id: "user-3", consumer_id: ALICE.id }],
        ["get_consumer"],
        ["get_credential"],
      ]);
      assert.deepEqual(seen(result), [null, NIL, { id: "user-3", consumer_id: ALICE.id }]);
      assert.deepEqual(result.authenticated, { credential: { id: "user-3", consumer_id: ALICE.id } });
    });

    it("authenticate with neither a consumer nor a credential: Kong's Lua error, a 500", async () => {
      assertKong500(
        await run(plugin, [["authenticate", null, null]]),
        "either credential or consumer must be provided",
      );
    });

    it("get_credential answers what an earlier plugin of the request authenticated", async () => {
      const result = await run(plugin, [["get_credential"], ["get_consumer"]], {
        authenticated: { credential: { id: "from-earlier-plugin" } },
      });
      assert.deepEqual(seen(result), [{ id: "from-earlier-plugin" }, NIL]);
      assert.deepEqual(result.authenticated, { credential: { id: "from-earlier-plugin" } });
    });
  });
}

describe("kong.client over MsgPack:1: arguments ProtoBuf:1 cannot carry", () => {
  let server: PluginServerProcess;
  let plugin: PluginInstance;

  before(async () => {
    server = await spawnPluginServer({ pluginsDirectory: CLIENT_FIXTURE, args: ["--protocol", "msgpack"] });
    plugin = await server.startInstance("client");
  });

  after(async () => {
    await server.close();
  });

  it("load_consumer of a non-string id: Kong's Lua error, a 500", async () => {
    assertKong500(await run(plugin, [["load_consumer", 42, true]]), "consumer_id must be a string");
  });

  it("authenticate with a consumer or credential that is not a table: Kong's Lua error, a 500", async () => {
    assertKong500(await run(plugin, [["authenticate", "alice", null]]), "consumer must be a table or nil");
    assertKong500(await run(plugin, [["authenticate", null, "client-7"]]), "credential must be a table or nil");
  });
});
