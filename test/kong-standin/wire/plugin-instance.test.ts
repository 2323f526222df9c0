// The harness's event loop (Kong's bridge_loop) against a scripted transport and against the
// real plugin server with fixture plugins.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import {
  PluginConfigError,
  MsgPackPluginInstance,
  RpcRemoteError,
  spawnPluginServer,
  type PluginServerProcess,
  type RpcTransport,
} from "../../../kong-standin/src/wire/index.ts";

const fixture = (name: string): string => fileURLToPath(new URL(`../../fixtures/plugins/${name}`, import.meta.url));
/** Given to the query and the start command alike: the server speaks MessagePack-RPC. */
const MSGPACK = ["--protocol", "msgpack"];

/** A transport that answers from a script and records what it was sent. */
class ScriptedTransport implements RpcTransport {
  readonly sent: Array<{ method: string; args: unknown[] }> = [];
  constructor(private readonly answer: (method: string, args: unknown[]) => unknown) {}
  rpc(method: string, args: unknown[]): Promise<unknown> {
    this.sent.push({ method, args });
    return Promise.resolve(this.answer(method, args));
  }
}

describe("harness event loop (scripted plugin server)", () => {
  it("retries once after 'no plugin instance', then fails open", async () => {
    let nextId = 0;
    const transport = new ScriptedTransport((method) => {
      if (method === "plugin.StartInstance") return { Id: nextId++ };
      throw new RpcRemoteError(method, `no plugin instance #${nextId - 1}`);
    });
    const instance = new MsgPackPluginInstance(transport, "p", {}, { __seq__: 1 });
    await instance.start();
    const result = await instance.access({ method: "GET", path: "/", headers: {} });
    assert.deepEqual(result, {
      outcome: "failed-open",
      error: "plugin.HandleEvent: no plugin instance #1",
      upstreamHeaders: {},
      roundTrips: 3,
      ctxShared: {},
      logs: [],
    });
    assert.deepEqual(
      transport.sent.map(({ method, args }) => [method, args]),
      [
        ["plugin.StartInstance", [{ Name: "p", Config: '{"__seq__":1}' }]],
        ["plugin.HandleEvent", [{ InstanceId: 0, EventName: "access" }]],
        ["plugin.StartInstance", [{ Name: "p", Config: '{"__seq__":1}' }]],
        ["plugin.HandleEvent", [{ InstanceId: 1, EventName: "access" }]],
      ],
    );
  });

  it("answers 500 when StartInstance fails during a request, as Kong's get_instance_id raises", async () => {
    let starts = 0;
    const transport = new ScriptedTransport((method) => {
      if (method === "plugin.StartInstance" && starts++ === 0) return { Id: 0 };
      if (method === "plugin.StartInstance") throw new RpcRemoteError(method, "plugin constructor failed");
      throw new RpcRemoteError(method, "no plugin instance #0");
    });
    const instance = new MsgPackPluginInstance(transport, "p", {}, {});
    await instance.start();
    assert.deepEqual(await instance.access({ method: "GET", path: "/", headers: { a: "1" } }), {
      outcome: "exit",
      status: 500,
      body: { message: "An unexpected error occurred" },
      rawBody: '{"message":"An unexpected error occurred"}',
      headers: { "content-type": ["application/json; charset=utf-8"] },
      error: "starting instance: plugin.StartInstance: plugin constructor failed",
      roundTrips: 2,
      ctxShared: {},
      logs: [],
    });
  });

  it("sends a nil result without the Data key, header maps with StepMultiMap, and never answers exit", async () => {
    const script: unknown[] = [
      { Method: "kong.request.get_header", Args: ["x-absent"] },
      { Method: "kong.request.get_headers", Args: [1000] },
      { Method: "kong.response.exit", Args: [401, { error: "x" }] },
    ];
    const transport = new ScriptedTransport((method) =>
      method === "plugin.StartInstance" ? { Id: 5 } : { EventId: 9, Data: script.shift() },
    );
    const instance = new MsgPackPluginInstance(transport, "p", {}, {});
    const result = await instance.access({ method: "GET", path: "/", headers: { A: "1" } });
    assert.equal(result.outcome, "exit");
    assert.equal(result.roundTrips, 4); // StartInstance on the first request, HandleEvent, two Steps
    assert.deepEqual(
      transport.sent.slice(1).map(({ method, args }) => [method, args]),
      [
        ["plugin.HandleEvent", [{ InstanceId: 5, EventName: "access" }]],
        ["plugin.Step", [{ EventId: 9 }]],
        ["plugin.StepMultiMap", [{ EventId: 9, Data: { a: ["1"] } }]],
      ],
    );
  });

  it("fails open when the server answers something that is not an event", async () => {
    const transport = new ScriptedTransport((method) =>
      method === "plugin.StartInstance" ? { Id: 0 } : { EventId: 1, Data: 42 },
    );
    const result = await new MsgPackPluginInstance(transport, "p", {}, {}).access({
      method: "GET",
      path: "/",
      headers: {},
    });
    assert.equal(result.outcome, "failed-open");
    assert.equal(result.error, 'plugin server sent neither "ret" nor a PDK call: 42');
  });
});

describe("harness against the real plugin server over MessagePack-RPC (trivial fixture)", () => {
  let server: PluginServerProcess;

  before(async () => {
    server = await spawnPluginServer({ pluginsDirectory: fixture("trivial"), args: MSGPACK, connections: 4 });
  });

  after(async () => {
    await server.close();
  });

  it("counts 3 round trips for an allowed request and 2 for a refused one", async () => {
    const instance = await server.startInstance("trivial");
    const allowed = await instance.access({
      method: "GET",
      path: "/flickr/photos",
      headers: {
        Authorization: "Bearer t",
        "X-OAuth2-JWT-Nonce": "n-allowed",
        "X-Authenticated-Userid": "mallory",
        X_Authenticated_Userid: "mallory",
        "x-authenticated-scope": "admin",
        "X-OAuth2-JWT-Verdict": "forged",
      },
    });
    assert.deepEqual(allowed, {
      outcome: "proceed",
      upstreamHeaders: {
        authorization: ["Bearer t"],
        "x-authenticated-userid": ["trivial-user"],
        "x-authenticated-client-id": ["trivial-client"],
        "x-authenticated-scope": ["photos"],
        "x-oauth2-jwt-verdict": ["n-allowed"],
      },
      roundTrips: 3,
      ctxShared: {},
      logs: [],
    });
    const refused = await instance.access({
      method: "GET",
      path: "/flickr/photos",
      headers: { "X-OAuth2-JWT-Nonce": "n-refused" },
    });
    assert.deepEqual(refused, {
      outcome: "exit",
      status: 401,
      body: { error: "unauthorized" },
      rawBody: '{"error":"unauthorized"}',
      headers: { "www-authenticate": ['Bearer realm="trivial"'], "content-type": ["application/json; charset=utf-8"] },
      roundTrips: 2,
      ctxShared: {},
      logs: [],
    });
  });

  it("sends the RPCs of one request over different pooled connections", async () => {
    const instance = await server.startInstance("trivial");
    const before = [...server.counters.byConnection];
    await instance.access({ method: "GET", path: "/", headers: { authorization: "Bearer t" } });
    const used = server.counters.byConnection.map((count, index) => count - (before[index] ?? 0));
    assert.equal(
      used.reduce((sum, count) => sum + count, 0),
      3,
    );
    assert.equal(used.filter((count) => count === 1).length, 3, `per connection: ${JSON.stringify(used)}`);
  });

  it("keeps concurrent requests apart (each verdict echoes its own nonce)", async () => {
    const instance = await server.startInstance("trivial");
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, index) =>
        instance.access({
          method: "GET",
          path: "/",
          headers: { authorization: `Bearer ${index}`, "x-oauth2-jwt-nonce": `nonce-${index}` },
        }),
      ),
    );
    results.forEach((result, index) => {
      assert.equal(result.outcome, "proceed");
      assert.deepEqual(result.upstreamHeaders["x-oauth2-jwt-verdict"], [`nonce-${index}`]);
      assert.deepEqual(result.upstreamHeaders.authorization, [`Bearer ${index}`]);
    });
  });

  it("starts the instance with the config as JSON plus the keys Kong adds", async () => {
    const instance = await server.startInstance(
      "trivial",
      {},
      { route_id: "r-1", service_id: "s-1", plugin_id: "p-1" },
    );
    const status = (await server.rpc("plugin.InstanceStatus", [instance.id])) as {
      Name: string;
      Id: number;
      Config: unknown;
    };
    assert.equal(status.Name, "trivial");
    assert.deepEqual(status.Config, instance.kongConfig);
    assert.deepEqual(instance.kongConfig, {
      route_id: "r-1",
      service_id: "s-1",
      __plugin_id: "p-1",
      __seq__: instance.kongConfig.__seq__,
      __key__: "plugins:trivial:r-1:s-1:::p-1",
    });
    assert.equal(typeof instance.kongConfig.__seq__, "number");
  });

  it("refuses a config the schema refuses, and a plugin the server does not serve", async () => {
    await assert.rejects(server.startInstance("trivial", { unexpected: true }), PluginConfigError);
    await assert.rejects(server.startInstance("nope"), {
      name: "PluginServerStartError",
      message: "plugin nope is not served here (dump has trivial)",
    });
  });

  it("sends CloseInstance when an instance is replaced", async () => {
    const instance = await server.startInstance("trivial");
    const id = instance.id;
    await instance.close();
    await assert.rejects(server.rpc("plugin.InstanceStatus", [id]), { remoteMessage: `no plugin instance #${id}` });
  });
});

describe("harness fail-open reporting over MessagePack-RPC", () => {
  it("fails open when the plugin server never answers (RPC timeout)", async () => {
    const server = await spawnPluginServer({
      pluginsDirectory: fixture("hangs"),
      args: MSGPACK,
      rpcTimeoutMs: 1500,
      connections: 2,
    });
    try {
      const instance = await server.startInstance("hangs");
      const result = await instance.access({ method: "GET", path: "/", headers: { "x-oauth2-jwt-nonce": "n" } });
      assert.deepEqual(result, {
        outcome: "failed-open",
        error: "plugin.HandleEvent: no reply within 1500 ms",
        upstreamHeaders: { "x-oauth2-jwt-nonce": ["n"] },
        roundTrips: 1,
        ctxShared: {},
        logs: [],
      });
    } finally {
      await server.close();
    }
  });
});
