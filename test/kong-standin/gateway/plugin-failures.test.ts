// What the stand-in, like Kong, does with a request when the plugin server fails, per protocol,
// through HTTP and the real plugin-server process. ProtoBuf:1 (pb_rpc.lua) answers every failure
// with kong.response.error(500) and never proxies; it retries an event once the server closed the
// connection (a restarted server does not know the instance). MsgPack:1 (mp_rpc.lua) logs a
// failed event and proxies (which is why plugin/examples/kong.msgpack.yml carries the guard),
// except when the instance cannot start: then the request gets 500 with either protocol.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { parseKongConfig } from "../../../kong-standin/src/gateway/config.ts";
import { startGateway, type RunningGateway } from "../../../kong-standin/src/gateway/gateway.ts";
import {
  spawnPluginServer,
  type PluginServerProcess,
  type SpawnOptions,
} from "../../../kong-standin/src/wire/index.ts";
import {
  MSGPACK_SERVER_ARGS,
  send,
  startRecordingUpstream,
  startStack,
  type Answer,
  type Stack,
  type Upstream,
} from "./helpers.ts";

const fixture = (name: string): string => fileURLToPath(new URL(`../../fixtures/plugins/${name}`, import.meta.url));
const BEARER = { authorization: "Bearer t" };

/** One service, a route protected by the fixture plugin and a public one. */
const fixtureConfig = (plugin: string): string => `
_format_version: "3.0"
services:
  - name: api
    url: http://upstream:8080
    routes:
      - name: protected
        paths: [/protected]
        plugins:
          - name: ${plugin}
      - name: public
        paths: [/public]
`;

interface FixtureGateway {
  plugins: PluginServerProcess;
  gateway: RunningGateway;
  upstream: Upstream;
  pluginErrors: string[];
  close(): Promise<void>;
}

async function startFixtureGateway(plugin: string, spawn: SpawnOptions): Promise<FixtureGateway> {
  const upstream = await startRecordingUpstream();
  const plugins = await spawnPluginServer({ pluginsDirectory: fixture(plugin), ...spawn });
  const pluginErrors: string[] = [];
  const gateway = await startGateway({
    config: parseKongConfig(fixtureConfig(plugins.plugins[0]?.Name ?? plugin)),
    plugins,
    port: 0,
    hostTable: { "upstream:8080": `127.0.0.1:${upstream.port}` },
    onPluginError: (route, error) => pluginErrors.push(`${route}: ${error}`),
  });
  return {
    plugins,
    gateway,
    upstream,
    pluginErrors,
    async close() {
      await gateway.close();
      await plugins.close();
      await upstream.close();
    },
  };
}

/** Kong's kong.response.error(500): its default message and a 32-hex-digit request id. */
function assertKong500(answer: Answer): void {
  assert.equal(answer.status, 500);
  assert.equal(answer.headers["content-type"], "application/json; charset=utf-8");
  const body = answer.body as Record<string, unknown>;
  assert.deepEqual(Object.keys(body), ["message", "request_id"]);
  assert.equal(body.message, "An unexpected error occurred");
  assert.match(String(body.request_id), /^[0-9a-f]{32}$/);
}

/** Waits (bounded) until the harness has sent an event to the plugin server. */
async function eventSent(plugins: PluginServerProcess, count: number): Promise<void> {
  for (let waited = 0; (plugins.counters.byMethod.cmd_handle_event ?? 0) < count; waited += 10) {
    if (waited > 5000) throw new Error("the event was never sent");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("ProtoBuf:1: kong.yml's protected routes fail closed without a guard", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack.close();
  });

  it("plugin server killed: 500 and nothing proxied; after a restart the first request passes (the server closes the unknown instance's event, Kong starts a new one and retries)", async () => {
    const token = await stack.token(["photos"]);
    assert.equal(stack.plugins.protocol, "ProtoBuf:1");
    assert.equal(
      (await send(stack.gateway.url, "GET", "/flickr/photos", { authorization: `Bearer ${token}` })).status,
      200,
    );
    await stack.plugins.kill("SIGKILL");
    const before = stack.upstream.requests.length;
    const attempts: Record<string, string>[] = [
      { authorization: `Bearer ${token}` },
      { authorization: `Bearer ${token}`, "X-OAuth2-JWT-Verdict": "guess" },
      {},
    ];
    for (const headers of attempts) {
      assertKong500(await send(stack.gateway.url, "GET", "/flickr/photos", headers));
    }
    assert.equal(stack.upstream.requests.length, before, "nothing reached the upstream while the plugin was down");
    assert.equal(stack.pluginErrors.length, 3);
    assert.equal(
      (await send(stack.gateway.url, "GET", "/flickr/explore")).status,
      200,
      "the public route keeps working",
    );

    await stack.plugins.start();
    const starts = stack.plugins.counters.byMethod.cmd_start_instance ?? 0;
    const again = await send(stack.gateway.url, "GET", "/flickr/photos", { authorization: `Bearer ${token}` });
    assert.equal(again.status, 200);
    assert.equal(stack.plugins.counters.byMethod.cmd_start_instance, starts + 1, "one new instance");
    assert.equal(stack.upstream.requests.at(-1)?.headers["x-authenticated-scope"], "photos");
  });
});

describe("ProtoBuf:1 failure modes (fixture plugins, no guard)", () => {
  it("the instance cannot start when first needed (server gone): 500, nothing proxied", async () => {
    const running = await startFixtureGateway("trivial", {});
    try {
      await running.plugins.kill("SIGKILL");
      assertKong500(await send(running.gateway.url, "GET", "/protected", BEARER));
      assert.equal(running.upstream.requests.length, 0);
      assert.deepEqual(running.pluginErrors, ["protected: starting instance: connection refused"]);
    } finally {
      await running.close();
    }
  });

  it("a slow server (the event never ends): 500 after the socket's read timeout, nothing proxied", async () => {
    const running = await startFixtureGateway("hangs", { rpcTimeoutMs: 300 });
    try {
      const started = Date.now();
      assertKong500(await send(running.gateway.url, "GET", "/protected", BEARER));
      assert.ok(Date.now() - started >= 300);
      assert.equal(running.upstream.requests.length, 0);
      assert.deepEqual(running.pluginErrors, ["protected: pluginserver error: timeout"]);
      assert.equal((await send(running.gateway.url, "GET", "/public")).status, 200);
    } finally {
      await running.close();
    }
  });

  it("the server dies in the middle of an event: 500, nothing proxied", async () => {
    const running = await startFixtureGateway("hangs", {});
    try {
      const pending = send(running.gateway.url, "GET", "/protected", BEARER);
      await eventSent(running.plugins, 1);
      await running.plugins.kill("SIGKILL");
      assertKong500(await pending);
      assert.equal(running.upstream.requests.length, 0);
    } finally {
      await running.close();
    }
  });
});

describe("MsgPack:1 failure modes (fixture plugins, no guard)", () => {
  it("the instance cannot start when first needed (server gone): 500, nothing proxied", async () => {
    const running = await startFixtureGateway("trivial", { args: MSGPACK_SERVER_ARGS });
    try {
      assert.equal(running.plugins.protocol, "MsgPack:1");
      await running.plugins.kill("SIGKILL");
      assertKong500(await send(running.gateway.url, "GET", "/protected", BEARER));
      assert.equal(running.upstream.requests.length, 0);
    } finally {
      await running.close();
    }
  });

  it("a slow server: fails open after the timeout and proxies the request (why kong.msgpack.yml carries the guard)", async () => {
    const running = await startFixtureGateway("hangs", { args: MSGPACK_SERVER_ARGS, rpcTimeoutMs: 300 });
    try {
      const answer = await send(running.gateway.url, "GET", "/protected", BEARER);
      assert.deepEqual({ status: answer.status, body: answer.body }, { status: 200, body: { upstream: "echo" } });
      assert.equal(running.upstream.requests.length, 1);
      assert.deepEqual(running.pluginErrors, ["protected: plugin.HandleEvent: no reply within 300 ms"]);
    } finally {
      await running.close();
    }
  });

  it("the server killed after the instance started: fails open and proxies", async () => {
    const running = await startFixtureGateway("trivial", { args: MSGPACK_SERVER_ARGS });
    try {
      const first = await send(running.gateway.url, "GET", "/protected", BEARER);
      await running.plugins.kill("SIGKILL");
      const second = await send(running.gateway.url, "GET", "/protected", BEARER);
      assert.deepEqual(
        {
          statuses: [first.status, second.status],
          proxied: running.upstream.requests.length,
          failures: running.pluginErrors.length,
        },
        { statuses: [200, 200], proxied: 2, failures: 1 },
        `plugin errors: ${JSON.stringify(running.pluginErrors)}`,
      );
    } finally {
      await running.close();
    }
  });
});
