// The plugin server process over ProtoBuf:1, driven frame by frame as Kong's pb_rpc.lua drives
// it: instances, an allowed and a refused request with the exact PDK calls, an event for an
// instance the server does not know, failures Kong must answer with 500, bad bytes, memory held
// across connections, and a peer speaking the other protocol. Needs `npx tsc -b` first.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { inspect } from "node:util";
import { encode } from "@msgpack/msgpack";
import { spawnPluginServer, type PluginServerProcess } from "../../../../kong-standin/src/wire/index.ts";
import { PROTOBUF_PEER_MESSAGE } from "../../../../plugin/src/server/listener.ts";
import { MSGPACK_PEER_MESSAGE } from "../../../../plugin/src/server/protobuf/connection.ts";
import {
  decodePdkArgs,
  decodeRpcReturn,
  encodeFrame,
  encodePdkResult,
  encodeRpcCall,
  PDK_METHODS,
  type Frame,
  type RpcCall,
  type RpcReturn,
} from "../../../../plugin/src/server/protobuf/index.ts";
import { JwksServer } from "../../helpers/jwks-server.ts";
import { AUDIENCE, generateTestKey, ISSUER, signAccessToken, type TestKey } from "../../helpers/tokens.ts";
import { connectFrames, connectRaw, fixture, MSGPACK, pause, within, type RawClient } from "../helpers.ts";

type FrameClient = RawClient<Frame>;

const bytesOf = (frame: Frame | undefined): Uint8Array => {
  assert.ok(frame instanceof Uint8Array, `expected a frame, got ${inspect(frame)}`);
  return frame;
};
const textOf = (frame: Frame | undefined): string => Buffer.from(bytesOf(frame)).toString("utf8");

async function send(client: FrameClient, call: RpcCall): Promise<void> {
  await client.write(encodeFrame(encodeRpcCall(call)));
}

/** One command and its RpcReturn (not for cmd_handle_event). */
async function command(client: FrameClient, call: RpcCall): Promise<RpcReturn> {
  await send(client, call);
  const [reply] = await client.replies(1);
  return decodeRpcReturn(bytesOf(reply));
}

/** What the server sends next during an event: a PDK call (two frames), or the end of the event. */
type Next = { method: string; args: unknown[] } | { end: RpcReturn };

async function next(client: FrameClient): Promise<Next> {
  const [name, second] = await client.replies(2);
  const method = textOf(name);
  if (method === "") return { end: decodeRpcReturn(bytesOf(second)) };
  return { method, args: PDK_METHODS.has(method) ? decodePdkArgs(method, bytesOf(second)) : [textOf(second)] };
}

async function reply(client: FrameClient, method: string, value: unknown): Promise<void> {
  await client.write(encodeFrame(encodePdkResult(method, value)));
}

const alive = (pid: number | undefined): boolean => {
  assert.ok(pid !== undefined);
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

describe("plugin server over ProtoBuf:1", () => {
  let server: PluginServerProcess;
  let jwks: JwksServer;
  let key: TestKey;
  let sequence = 1;
  const config = () => ({
    issuer: ISSUER,
    jwks_uri: jwks.jwksUri,
    audience: [AUDIENCE],
    scopes_required: ["photos"],
    realm: "photos",
  });

  async function startInstance(client: FrameClient): Promise<number> {
    const started = await command(client, {
      sequence: ++sequence,
      cmd_start_instance: { name: "oauth2-jwt", config: JSON.stringify(config()) },
    });
    assert.ok(started.instance_status !== undefined, JSON.stringify(started));
    return started.instance_status.instance_id;
  }

  before(async () => {
    key = await generateTestKey("ES256", "es");
    jwks = await new JwksServer([key.jwk]).start();
    server = await spawnPluginServer();
    assert.equal(server.protocol, "ProtoBuf:1");
  });

  after(async () => {
    await server.close();
    await jwks.stop();
  });

  it("starts instances with ids from 1 (proto3 does not send 0), reports and closes them", async () => {
    const client = await connectFrames(server.socketPath);
    const before = nowSeconds();
    const started = await command(client, {
      sequence: 2,
      cmd_start_instance: { name: "oauth2-jwt", config: JSON.stringify(config()) },
    });
    const startedAt = started.instance_status?.started_at ?? 0;
    assert.ok(startedAt >= before && startedAt <= nowSeconds() + 1, `started_at ${startedAt}`);
    assert.deepEqual(started, {
      sequence: 2,
      instance_status: { name: "oauth2-jwt", instance_id: 1, config: config(), started_at: startedAt },
    });
    assert.equal(
      (await command(client, { sequence: 3, cmd_start_instance: { name: "oauth2-jwt", config: "{}" } })).instance_status
        ?.instance_id,
      2,
    );

    assert.deepEqual(await command(client, { sequence: 4, cmd_get_instance_status: { instance_id: 1 } }), {
      sequence: 4,
      instance_status: started.instance_status,
    });
    assert.deepEqual(
      (await command(client, { sequence: 5, cmd_close_instance: { instance_id: 2 } })).instance_status?.instance_id,
      2,
    );
    // Gone: answered without a result, as for any command that fails outside an event.
    assert.deepEqual(await command(client, { sequence: 6, cmd_get_instance_status: { instance_id: 2 } }), {
      sequence: 6,
    });
    assert.deepEqual(await command(client, { sequence: 7, cmd_get_plugin_names: {} }), {
      sequence: 7,
      plugin_names: { names: ["oauth2-jwt"] },
    });
    const info = await command(client, { sequence: 8, cmd_get_plugin_info: { name: "oauth2-jwt" } });
    assert.equal(info.plugin_info?.name, "oauth2-jwt");
    assert.deepEqual(info.plugin_info.phases, ["access"]);
    assert.equal(info.plugin_info.priority, 1450);
    assert.equal((JSON.parse(info.plugin_info.schema) as { name: string }).name, "oauth2-jwt");
    // An unknown plugin, or a configuration that is not JSON: no instance_status, which Kong
    // reads as a Lua error (the request that needed the instance gets 500).
    assert.deepEqual(
      await command(client, { sequence: 9, cmd_start_instance: { name: "no-such-plugin", config: "{}" } }),
      { sequence: 9 },
    );
    assert.deepEqual(await command(client, { sequence: 10, cmd_start_instance: { name: "oauth2-jwt", config: "{" } }), {
      sequence: 10,
    });
    sequence = 10;
    client.close();
  });

  it("passes a valid token: get_headers, then one set_headers with the identity headers and every client-sent spelling removed, then the end of the event", async () => {
    const client = await connectFrames(server.socketPath);
    const instanceId = await startInstance(client);
    const token = await signAccessToken(
      key,
      { sub: "alice", client_id: "canon-printing", scope: "photos openid" },
      {},
      nowSeconds(),
    );
    const eventSequence = ++sequence;
    await send(client, {
      sequence: eventSequence,
      cmd_handle_event: { instance_id: instanceId, event_name: "access" },
    });

    assert.deepEqual(await next(client), { method: "kong.request.get_headers", args: [1000] });
    await reply(client, "kong.request.get_headers", {
      authorization: `Bearer ${token}`,
      host: "localhost:8000",
      "x-oauth2-jwt-nonce": "3f2a9c0e",
      "x-authenticated-userid": "mallory",
      x_authenticated_scope: ["admin", "root"],
    });
    assert.deepEqual(await next(client), {
      method: "kong.service.request.set_headers",
      args: [
        {
          // The canonical spelling, in any case, is replaced by the value set below.
          x_authenticated_scope: [],
          "X-Authenticated-Userid": "alice",
          "X-Authenticated-Client-Id": "canon-printing",
          "X-Authenticated-Scope": "photos openid",
          "X-OAuth2-JWT-Verdict": "3f2a9c0e",
          "X-OAuth2-JWT-Nonce": [],
        },
      ],
    });
    await reply(client, "kong.service.request.set_headers", undefined);
    assert.deepEqual(await next(client), { end: { sequence: eventSequence } });
    client.close();
  });

  it("tells Kong who called across the socket: get_credential, load_consumer and authenticate in Kong's messages, an empty Consumer read as no consumer", async () => {
    const client = await connectFrames(server.socketPath);
    const started = await command(client, {
      sequence: ++sequence,
      cmd_start_instance: {
        name: "oauth2-jwt",
        config: JSON.stringify({ ...config(), consumer_claim: "sub", anonymous: "guest" }),
      },
    });
    assert.ok(started.instance_status !== undefined, JSON.stringify(started));
    const instanceId = started.instance_status.instance_id;
    const alice = {
      id: "0f6ad3b2-5a57-4b8e-9d33-1c2e3f405162",
      created_at: 1_700_000_000,
      username: "alice",
      custom_id: "emp-7",
      tags: ["staff"],
    };
    const guest = { id: "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d", created_at: 1_700_000_000, username: "guest" };
    const event = async (sub: string, nonce: string): Promise<number> => {
      const token = await signAccessToken(key, { sub, client_id: "canon-printing", scope: "photos" }, {}, nowSeconds());
      const eventSequence = ++sequence;
      await send(client, {
        sequence: eventSequence,
        cmd_handle_event: { instance_id: instanceId, event_name: "access" },
      });
      assert.deepEqual(await next(client), { method: "kong.request.get_headers", args: [1000] });
      await reply(client, "kong.request.get_headers", {
        authorization: `Bearer ${token}`,
        "x-oauth2-jwt-nonce": nonce,
      });
      assert.deepEqual(await next(client), { method: "kong.client.get_credential", args: [] });
      // Kong's nil: the empty AuthenticatedCredential message.
      await reply(client, "kong.client.get_credential", null);
      return eventSequence;
    };

    const allowed = await event("alice", "n1");
    assert.deepEqual(await next(client), { method: "kong.client.load_consumer", args: ["alice", true] });
    await reply(client, "kong.client.load_consumer", alice);
    assert.deepEqual(await next(client), {
      method: "kong.client.authenticate",
      args: [alice, { id: "canon-printing", consumer_id: alice.id }],
    });
    await reply(client, "kong.client.authenticate", undefined);
    assert.deepEqual(await next(client), {
      method: "kong.service.request.set_headers",
      args: [
        {
          "X-Authenticated-Userid": "alice",
          "X-Authenticated-Client-Id": "canon-printing",
          "X-Authenticated-Scope": "photos",
          "X-OAuth2-JWT-Verdict": "n1",
          "X-OAuth2-JWT-Nonce": [],
          "X-Consumer-ID": alice.id,
          "X-Consumer-Custom-ID": "emp-7",
          "X-Consumer-Username": "alice",
          "X-Credential-Identifier": "canon-printing",
          "X-Anonymous-Consumer": [],
        },
      ],
    });
    await reply(client, "kong.service.request.set_headers", undefined);
    assert.deepEqual(await next(client), { end: { sequence: allowed } });

    // Kong's nil for a username no consumer has: the empty Consumer message.
    const anonymous = await event("mallory", "n2");
    assert.deepEqual(await next(client), { method: "kong.client.load_consumer", args: ["mallory", true] });
    await reply(client, "kong.client.load_consumer", null);
    assert.deepEqual(await next(client), { method: "kong.client.load_consumer", args: ["guest", true] });
    await reply(client, "kong.client.load_consumer", guest);
    assert.deepEqual(await next(client), { method: "kong.client.authenticate", args: [guest, undefined] });
    await reply(client, "kong.client.authenticate", undefined);
    assert.deepEqual(await next(client), {
      method: "kong.service.request.set_headers",
      args: [
        {
          "X-Authenticated-Userid": [],
          "X-Authenticated-Client-Id": [],
          "X-Authenticated-Scope": [],
          "X-OAuth2-JWT-Verdict": "n2",
          "X-OAuth2-JWT-Nonce": [],
          "X-Consumer-ID": guest.id,
          "X-Consumer-Custom-ID": [],
          "X-Consumer-Username": "guest",
          "X-Credential-Identifier": [],
          "X-Anonymous-Consumer": "true",
        },
      ],
    });
    await reply(client, "kong.service.request.set_headers", undefined);
    assert.deepEqual(await next(client), { end: { sequence: anonymous } });
    client.close();
  });

  /** Starts an access event of a fresh instance for a request without a token; returns its exit call. */
  async function refusedEvent(
    client: FrameClient,
    eventSequence: number,
  ): Promise<{ method: string; args: unknown[] }> {
    const instanceId = await startInstance(client);
    await send(client, {
      sequence: eventSequence,
      cmd_handle_event: { instance_id: instanceId, event_name: "access" },
    });
    assert.deepEqual(await next(client), { method: "kong.request.get_headers", args: [1000] });
    await reply(client, "kong.request.get_headers", { host: "localhost:8000" });
    const exit = await next(client);
    assert.ok("method" in exit, JSON.stringify(exit));
    return exit;
  }

  it("refuses a request without a token with kong.response.exit 401 and the RFC 6750 challenge; Kong ends the request there and drops the connection", async () => {
    const client = await connectFrames(server.socketPath);
    const exit = await refusedEvent(client, ++sequence);
    assert.equal(exit.method, "kong.response.exit");
    const [status, body, headers] = exit.args as [number, string, Record<string, unknown>];
    assert.equal(status, 401);
    // RFC 6750 §3.1: no error code when the request carried no token at all.
    assert.equal(headers["WWW-Authenticate"], 'Bearer realm="photos"');
    assert.equal(typeof body, "string");
    // In the access phase Kong's exit yields the plugin's coroutine: no reply, and the
    // connection goes with the request. The server lets the event go and serves the next one.
    client.close();
    const following = await connectFrames(server.socketPath);
    assert.deepEqual(await command(following, { sequence: ++sequence, cmd_get_plugin_names: {} }), {
      sequence,
      plugin_names: { names: ["oauth2-jwt"] },
    });
    following.close();
  });

  it("reads Kong's empty reply to exit where Kong replies (a phase without delayed responses), then ends the event", async () => {
    const client = await connectFrames(server.socketPath);
    const eventSequence = ++sequence;
    assert.equal((await refusedEvent(client, eventSequence)).method, "kong.response.exit");
    await pause(20);
    assert.equal(client.socket.destroyed, false);
    await reply(client, "kong.response.exit", undefined);
    assert.deepEqual(await next(client), { end: { sequence: eventSequence } });
    client.close();
  });

  it("closes the connection on an event for an instance it does not know (Kong then starts it again), and serves the retry", async () => {
    const client = await connectFrames(server.socketPath);
    await send(client, { sequence: ++sequence, cmd_handle_event: { instance_id: 999, event_name: "access" } });
    await within(client.closed, 5000, "the connection stayed open");
    assert.deepEqual(await client.replies(0), []);

    const retry = await connectFrames(server.socketPath);
    const instanceId = await startInstance(retry);
    await send(retry, { sequence: ++sequence, cmd_handle_event: { instance_id: instanceId, event_name: "access" } });
    assert.deepEqual(await next(retry), { method: "kong.request.get_headers", args: [1000] });
    retry.close();
  });

  it("answers bytes that are not an RpcCall, a command it does not know and a frame over the limit with no result, on the same connection, and serves the others", async () => {
    const pid = server.pid;
    const bystander = await connectFrames(server.socketPath);
    const offender = await connectFrames(server.socketPath);
    // A truncated varint: not an RpcCall. The sequence is unknown, so it answers 0, which Kong's
    // assert on the sequence turns into an error (500), not a retry.
    await offender.write(encodeFrame(Buffer.of(0x08, 0xff, 0xff)));
    assert.deepEqual(decodeRpcReturn(bytesOf((await offender.replies(1))[0])), { sequence: 0 });
    // sequence 5 and field 40, a command this protocol does not define.
    await offender.write(encodeFrame(Buffer.of(0x08, 0x05, 0xc2, 0x02, 0x00)));
    assert.deepEqual(decodeRpcReturn(bytesOf((await offender.replies(1))[0])), { sequence: 5 });
    // 2 MiB announced, over the 1 MiB limit: answered at once, its bytes skipped as they come.
    const header = Buffer.alloc(4);
    header.writeUInt32LE(2 * 1024 * 1024);
    await offender.write(header);
    assert.deepEqual(decodeRpcReturn(bytesOf((await offender.replies(1))[0])), { sequence: 0 });
    for (let sent = 0; sent < 2 * 1024 * 1024; sent += 256 * 1024) await offender.write(Buffer.alloc(256 * 1024, 0x08));
    // The stream is still in step: the next frame is read as the next RpcCall.
    assert.deepEqual(await command(offender, { sequence: 6, cmd_get_plugin_names: {} }), {
      sequence: 6,
      plugin_names: { names: ["oauth2-jwt"] },
    });
    assert.deepEqual(await command(bystander, { sequence: 7, cmd_get_plugin_names: {} }), {
      sequence: 7,
      plugin_names: { names: ["oauth2-jwt"] },
    });
    offender.close();
    bystander.close();
    assert.equal(server.pid, pid);
    assert.ok(alive(pid));
  });

  it("answers a chunk of 4,000 empty frames one by one, in order, with one warning in the log", async () => {
    const client = await connectFrames(server.socketPath);
    const logged = server.logs().length;
    await client.write(Buffer.alloc(4 * 4000));
    const replies = await client.replies(4000, 10_000);
    assert.ok(replies.every((frame) => frame instanceof Uint8Array && frame.length === 0));
    assert.deepEqual(await command(client, { sequence: 4, cmd_get_plugin_names: {} }), {
      sequence: 4,
      plugin_names: { names: ["oauth2-jwt"] },
    });
    const warnings = server
      .logs()
      .slice(logged)
      .filter((line) => line.includes("[warn]"));
    assert.equal(warnings.length, 1, warnings.join("\n"));
    assert.match(warnings[0] ?? "", /RpcCall #0 carries no command this server knows; answered without a result/);
    client.close();
  });

  it("survives random frames, truncated frames and huge lengths on many connections, serving a bystander throughout", async () => {
    const pid = server.pid;
    const bystander = await connectFrames(server.socketPath);
    // A deterministic stream of bytes (xorshift32), so a failure can be replayed.
    let state = 0x2545f491;
    const random = (): number => {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return (state >>> 0) / 0x100000000;
    };
    const randomBytes = (length: number): Buffer =>
      Buffer.from(Array.from({ length }, () => Math.floor(random() * 256)));
    for (let round = 0; round < 40; round++) {
      const client = await connectFrames(server.socketPath);
      for (let frame = 0; frame < 10; frame++) {
        const body = randomBytes(Math.floor(random() * 40));
        // Whole frames, frames cut short, and lengths from 0 to 4 GiB.
        const kind = Math.floor(random() * 3);
        if (kind === 0) await client.write(encodeFrame(body));
        else if (kind === 1)
          await client.write(encodeFrame(body).subarray(0, 2 + Math.floor(random() * (body.length + 2))));
        else await client.write(Buffer.concat([randomBytes(4), body]));
      }
      client.close();
    }
    assert.deepEqual(await command(bystander, { sequence: 3, cmd_get_plugin_names: {} }), {
      sequence: 3,
      plugin_names: { names: ["oauth2-jwt"] },
    });
    bystander.close();
    assert.equal(server.pid, pid);
  });

  it("bounds the bytes of incomplete frames held over all connections, closing the connection holding the most", async () => {
    // Each connection announces a frame of 1 MiB and sends one byte of it: the frame's buffer is
    // held. 20 of them are more than the 16 MiB all connections may hold together.
    const header = Buffer.alloc(5);
    header.writeUInt32LE(1024 * 1024);
    const clients: FrameClient[] = [];
    for (let index = 0; index < 20; index++) {
      const client = await connectFrames(server.socketPath);
      await client.write(header);
      clients.push(client);
    }
    // The server handles the 20 headers in its own time (a loaded machine may take a while): wait for the closes.
    const closedCount = () => clients.filter((client) => client.socket.destroyed).length;
    for (let waited = 0; closedCount() < 4 && waited < 5000; waited += 50) await pause(50);
    assert.ok(closedCount() >= 4, `${closedCount()} of 20 connections closed`);
    const bystander = await connectFrames(server.socketPath);
    assert.deepEqual(await command(bystander, { sequence: 3, cmd_get_plugin_names: {} }), {
      sequence: 3,
      plugin_names: { names: ["oauth2-jwt"] },
    });
    for (const client of [...clients, bystander]) client.close();
  });

  it("names Kong speaking MsgPack:1 in one error line and closes that connection", async () => {
    for (let attempt = 0; attempt < 3; attempt++) {
      const client = await connectRaw(server.socketPath);
      await client.write(encode([0, 1, "plugin.StartInstance", [{ Name: "oauth2-jwt", Config: "{}" }]]));
      await within(client.closed, 5000, "the connection stayed open");
    }
    await pause(50);
    const lines = server.logs().filter((line) => line.includes(MSGPACK_PEER_MESSAGE));
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.match(
      lines[0] ?? "",
      /\[error\] Kong speaks MsgPack:1 but this server was started for ProtoBuf:1: give --protocol msgpack to both/,
    );
  });
});

describe("plugin server over ProtoBuf:1, failures Kong must answer with 500", () => {
  it("ends the event of a phase that throws with a call of a method Kong does not have, naming the failure", async () => {
    const server = await spawnPluginServer({ pluginsDirectory: fixture("throws") });
    try {
      const client = await connectFrames(server.socketPath);
      const started = await command(client, { sequence: 2, cmd_start_instance: { name: "throws", config: "{}" } });
      await send(client, {
        sequence: 3,
        cmd_handle_event: { instance_id: started.instance_status?.instance_id ?? 0, event_name: "access" },
      });
      assert.deepEqual(await next(client), { method: "kong.request.get_headers", args: [1000] });
      await reply(client, "kong.request.get_headers", {});
      const failure = await next(client);
      // Kong's call_pdk answers `method "…" not found` and handle_event answers 500: neither
      // word that would make Kong retry instead ("closed", "no plugin instance") may appear.
      assert.deepEqual(failure, {
        method: "oauth2-jwt-pluginserver failure: unhandled exception in throws.access: fixture failure",
        args: [""],
      });
      assert.equal(PDK_METHODS.has((failure as { method: string }).method), false);
      // The connection stays: closing would make Kong retry the event.
      await pause(50);
      assert.equal(client.socket.destroyed, false);
      client.close();
    } finally {
      await server.close();
    }
  });

  it("gives the plugin an error for a PDK call whose arguments a message cannot carry, and Kong a failure when the plugin does not handle it", async () => {
    const server = await spawnPluginServer({ pluginsDirectory: fixture("unencodable") });
    try {
      const client = await connectFrames(server.socketPath);
      const started = await command(client, { sequence: 2, cmd_start_instance: { name: "unencodable", config: "{}" } });
      await send(client, {
        sequence: 3,
        cmd_handle_event: { instance_id: started.instance_status?.instance_id ?? 0, event_name: "access" },
      });
      assert.deepEqual(await next(client), { method: "kong.request.get_headers", args: [1000] });
      await reply(client, "kong.request.get_headers", {});
      const failure = await next(client);
      assert.ok(
        "method" in failure &&
          failure.method.startsWith("oauth2-jwt-pluginserver failure: unhandled exception in unencodable.access: "),
        JSON.stringify(failure),
      );
      assert.match(
        (failure as { method: string }).method,
        /cannot send kong\.service\.request\.set_headers: a bigint cannot travel in a google\.protobuf\.Value/,
      );
      client.close();
    } finally {
      await server.close();
    }
  });
});

describe("plugin server started for MsgPack:1", () => {
  it("names Kong speaking ProtoBuf:1 in one error line and closes that connection", async () => {
    const server = await spawnPluginServer({ pluginsDirectory: fixture("trivial"), args: MSGPACK });
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        const client = await connectFrames(server.socketPath);
        await send(client, { sequence: 2, cmd_start_instance: { name: "trivial", config: "{}" } });
        await within(client.closed, 5000, "the connection stayed open");
        assert.equal((await client.replies(0)).length, 0);
      }
      await pause(50);
      const lines = server.logs().filter((line) => line.includes(PROTOBUF_PEER_MESSAGE));
      assert.equal(lines.length, 1, lines.join("\n"));
      assert.match(
        lines[0] ?? "",
        /\[error\] Kong speaks ProtoBuf:1 but this server was started for MsgPack:1: give --protocol msgpack to both/,
      );
      // Its own protocol is still served.
      const instance = await server.startInstance("trivial");
      assert.equal((await instance.access({ method: "GET", path: "/", headers: {} })).outcome, "exit");
    } finally {
      await server.close();
    }
  });
});
