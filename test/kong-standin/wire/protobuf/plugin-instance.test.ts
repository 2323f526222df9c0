// The harness over ProtoBuf:1 (Kong's pb_rpc.lua) against the real plugin server process: it
// speaks the protocol the query command names, answers the PDK calls of an event on the event's
// connection, and answers every failure with Kong's 500, retrying an event once the server has
// forgotten the instance.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import net from "node:net";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeRpcCall, encodeFrame, encodeRpcReturn, FrameReader, type RpcCall } from "oauth2-jwt/protobuf";
import {
  MAX_EVENT_RETRIES,
  ProtobufPluginInstance,
  ProtobufRpc,
  spawnPluginServer,
  type PluginServerProcess,
  type RpcCounters,
} from "../../../../kong-standin/src/wire/index.ts";

const fixture = (name: string): string => fileURLToPath(new URL(`../../../fixtures/plugins/${name}`, import.meta.url));

/** Kong's kong.response.error(500) as the harness reports it, with the error Kong would log. */
const kong500 = (error: string, roundTrips: number): unknown => ({
  outcome: "exit",
  status: 500,
  body: { message: "An unexpected error occurred" },
  rawBody: '{"message":"An unexpected error occurred"}',
  headers: { "content-type": ["application/json; charset=utf-8"] },
  error,
  roundTrips,
  ctxShared: {},
  logs: [],
});

interface ScriptedServer {
  rpc: ProtobufRpc;
  calls: RpcCall[];
  /** Connections the harness opened. */
  connections: number;
  close(): Promise<void>;
}

/** A plugin server played by `answer`, for each RpcCall it receives, and the harness's Rpc to it. */
async function startScriptedServer(answer: (call: RpcCall, socket: net.Socket) => void): Promise<ScriptedServer> {
  const dir = mkdtempSync(join(tmpdir(), "pb-scripted-"));
  const scripted = { calls: [] as RpcCall[], connections: 0 };
  const server = net.createServer((socket) => {
    scripted.connections++;
    const reader = new FrameReader();
    socket.on("data", (chunk: Buffer) => {
      for (const frame of reader.push(chunk)) {
        const call = decodeRpcCall(frame as Uint8Array);
        scripted.calls.push(call);
        answer(call, socket);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(join(dir, "p.sock"), resolve));
  const counters: RpcCounters = { total: 0, byMethod: {}, failed: 0, byConnection: [], bytesSent: 0, bytesReceived: 0 };
  const rpc = new ProtobufRpc({ socketPath: join(dir, "p.sock"), timeoutMs: 5000, counters });
  return Object.assign(scripted, {
    rpc,
    async close() {
      rpc.close();
      await new Promise((resolve) => server.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    },
  });
}

const instanceStatus = (sequence: number, instance_id: number): Uint8Array =>
  encodeFrame(encodeRpcReturn({ sequence, instance_status: { name: "p", instance_id, config: {}, started_at: 0 } }));

describe("harness event loop over ProtoBuf:1 (scripted plugin server)", () => {
  it("retries an event whose connection the server closes, starting a new instance each time, and gives up with Kong's 500 after the bound", async () => {
    let nextId = 1;
    // Starts every instance and closes the connection of every event.
    const scripted = await startScriptedServer((call, socket) => {
      if (call.cmd_handle_event !== undefined) socket.end();
      else socket.write(instanceStatus(call.sequence, nextId++));
    });
    const { calls, rpc } = scripted;
    try {
      const result = await new ProtobufPluginInstance(rpc, "p", {}, { __seq__: 1 }).access({
        method: "GET",
        path: "/",
        headers: {},
      });
      assert.deepEqual(
        result,
        kong500(`pluginserver error: closed (still after ${MAX_EVENT_RETRIES} retries)`, 2 * (MAX_EVENT_RETRIES + 1)),
      );
      assert.deepEqual(
        calls.map((call) => [call.sequence, call.cmd_start_instance?.config ?? call.cmd_handle_event?.instance_id]),
        // pb_rpc.lua's sequences start at 2; each retry starts a new instance first.
        [
          [2, '{"__seq__":1}'],
          [3, 1],
          [4, '{"__seq__":1}'],
          [5, 2],
          [6, '{"__seq__":1}'],
          [7, 3],
          [8, '{"__seq__":1}'],
          [9, 4],
        ],
      );
    } finally {
      await scripted.close();
    }
  });

  it("keeps a connection for the next call only when the call read everything the server sent (setkeepalive)", async () => {
    // The first answer comes with one frame too many.
    const scripted = await startScriptedServer((call, socket) => {
      const answer = instanceStatus(call.sequence, 1);
      socket.write(call.sequence === 2 ? Buffer.concat([answer, encodeFrame(new Uint8Array([1, 2, 3]))]) : answer);
    });
    try {
      const status = { cmd_get_instance_status: { instance_id: 1 } };
      const opened: number[] = [];
      for (let i = 0; i < 3; i++) {
        assert.equal((await scripted.rpc.call(status)).kind, "returned");
        opened.push(scripted.connections);
      }
      assert.deepEqual(opened, [1, 2, 2]);
    } finally {
      await scripted.close();
    }
  });
});

describe("the query command's dump decides the protocol", () => {
  it("a protocol Kong does not implement is refused, with Kong's words", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pb-dump-"));
    const command = join(dir, "server.js");
    writeFileSync(
      command,
      `console.log(JSON.stringify({ Protocol: "Thrift:1", Plugins: [{ Name: "p", Schema: { name: "p", fields: [] } }] }));\n`,
    );
    try {
      await assert.rejects(spawnPluginServer({ command, prefix: dir }), {
        name: "PluginServerStartError",
        message: "unknown protocol implementation: Thrift:1",
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("harness over ProtoBuf:1 (trivial fixture)", () => {
  let server: PluginServerProcess;

  before(async () => {
    server = await spawnPluginServer({ pluginsDirectory: fixture("trivial") });
  });

  after(async () => {
    await server.close();
  });

  it("speaks ProtoBuf:1 because the query command's dump says so; MsgPack:1 when told --protocol msgpack", async () => {
    assert.equal(server.protocol, "ProtoBuf:1");
    const msgpack = await spawnPluginServer({ pluginsDirectory: fixture("trivial"), args: ["--protocol", "msgpack"] });
    try {
      assert.equal(msgpack.protocol, "MsgPack:1");
    } finally {
      await msgpack.close();
    }
  });

  it("answers the PDK calls of an event: 3 round trips for an allowed request and 2 for a refused one", async () => {
    const instance = await server.startInstance("trivial");
    const before = { ...server.counters, byMethod: { ...server.counters.byMethod } };
    const allowed = await instance.access({
      method: "GET",
      path: "/flickr/photos",
      headers: {
        Authorization: "Bearer t",
        "X-OAuth2-JWT-Nonce": "n-allowed",
        X_Authenticated_Userid: "mallory",
        "X-Authenticated-Userid": "mallory",
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
      // The RpcCall, then the replies to get_headers and set_headers.
      roundTrips: 3,
      ctxShared: {},
      logs: [],
    });
    const refused = await instance.access({ method: "GET", path: "/flickr/photos", headers: {} });
    assert.deepEqual(refused, {
      outcome: "exit",
      status: 401,
      body: { error: "unauthorized" },
      rawBody: '{"error":"unauthorized"}',
      headers: { "www-authenticate": ['Bearer realm="trivial"'], "content-type": ["application/json; charset=utf-8"] },
      // The RpcCall and the reply to get_headers; kong.response.exit is never answered.
      roundTrips: 2,
      ctxShared: {},
      logs: [],
    });
    const calls = (name: string): number => (server.counters.byMethod[name] ?? 0) - (before.byMethod[name] ?? 0);
    assert.deepEqual(
      ["cmd_handle_event", "kong.request.get_headers", "kong.service.request.set_headers", "kong.response.exit"].map(
        calls,
      ),
      [2, 2, 1, 1],
    );
    assert.equal(server.counters.total - before.total, 5);
    assert.ok(server.counters.bytesSent > before.bytesSent && server.counters.bytesReceived > before.bytesReceived);
  });

  it("keeps concurrent events apart, each on its own connection", async () => {
    const instance = await server.startInstance("trivial");
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, index) =>
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
    });
  });

  it("starts the instance with its config as JSON, the keys Kong adds included", async () => {
    const instance = await server.startInstance(
      "trivial",
      {},
      { route_id: "r-1", service_id: "s-1", plugin_id: "p-1" },
    );
    assert.ok(instance.id !== undefined && instance.id >= 1, "instance ids start at 1: proto3 leaves 0 off the wire");
    const answer = await server.rpcCall({ cmd_get_instance_status: { instance_id: instance.id } });
    assert.equal(answer.instance_status?.name, "trivial");
    assert.equal(answer.instance_status.instance_id, instance.id);
    assert.deepEqual(answer.instance_status.config, instance.kongConfig);
  });

  it("an event for an instance the server no longer has: the server closes, the harness starts a new instance and retries", async () => {
    const instance = await server.startInstance("trivial");
    const forgotten = instance.id as number;
    await server.rpcCall({ cmd_close_instance: { instance_id: forgotten } });
    const starts = server.counters.byMethod.cmd_start_instance ?? 0;
    const result = await instance.access({ method: "GET", path: "/", headers: { authorization: "Bearer t" } });
    assert.equal(result.outcome, "proceed");
    // The failed RpcCall, cmd_start_instance, the RpcCall again and its two PDK replies.
    assert.equal(result.roundTrips, 5);
    assert.equal(server.counters.byMethod.cmd_start_instance, starts + 1);
    assert.notEqual(instance.id, forgotten);
  });
});

describe("harness over ProtoBuf:1 (pdk-tour fixture)", () => {
  it("answers get_header, ctx.shared and log calls; a PDK function the stand-in does not answer ends the request with Kong's 500 naming it", async () => {
    const server = await spawnPluginServer({ pluginsDirectory: fixture("pdk-tour") });
    try {
      const instance = await server.startInstance("pdk-tour");
      const result = await instance.access({ method: "GET", path: "/tour", headers: { "x-probe": "p" } });
      assert.deepEqual(result, {
        ...(kong500(
          "pluginserver error: PDK method kong.request.get_raw_body is not implemented by the Kong stand-in",
          9,
        ) as object),
        ctxShared: { tour: "visited" },
        logs: [{ level: "info", message: "pdk-tour was here" }],
      });
    } finally {
      await server.close();
    }
  });
});

describe("harness over ProtoBuf:1 when the plugin server fails", () => {
  it("a server that never finishes the event: 500 after the socket's read timeout, never a proceed", async () => {
    const server = await spawnPluginServer({ pluginsDirectory: fixture("hangs"), rpcTimeoutMs: 300 });
    try {
      const instance = await server.startInstance("hangs");
      const started = Date.now();
      const result = await instance.access({ method: "GET", path: "/", headers: {} });
      assert.ok(Date.now() - started >= 300, "waited for the timeout");
      assert.deepEqual(result, kong500("pluginserver error: timeout", 1));
    } finally {
      await server.close();
    }
  });

  it("a server that is gone when the instance must start: 500 (Kong's get_instance_id raises)", async () => {
    const server = await spawnPluginServer({ pluginsDirectory: fixture("trivial") });
    try {
      const instance = server.configureInstance("trivial");
      await server.kill("SIGKILL");
      const result = await instance.access({ method: "GET", path: "/", headers: { authorization: "Bearer t" } });
      assert.deepEqual(result, kong500("starting instance: connection refused", 1));
    } finally {
      await server.close();
    }
  });

  it("a server killed after the instance started: the event fails with 500, and after a restart the first event succeeds", async () => {
    const server = await spawnPluginServer({ pluginsDirectory: fixture("trivial") });
    try {
      const instance = await server.startInstance("trivial");
      await server.kill("SIGKILL");
      assert.deepEqual(
        await instance.access({ method: "GET", path: "/", headers: { authorization: "Bearer t" } }),
        kong500("pluginserver error: connection refused", 1),
      );
      await server.start();
      const result = await instance.access({ method: "GET", path: "/", headers: { authorization: "Bearer t" } });
      assert.equal(result.outcome, "proceed");
      // The RpcCall the new server closes (it does not know the instance), cmd_start_instance,
      // the RpcCall again and its two PDK replies.
      assert.equal(result.roundTrips, 5);
    } finally {
      await server.close();
    }
  });
});
