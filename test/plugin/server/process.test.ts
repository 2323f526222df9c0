// The oauth2-jwt-pluginserver process as Kong runs it: connection isolation, events across
// connections, cleanup, restart after SIGKILL, instance and event expiry, handler errors.
import assert from "node:assert/strict";
import fs from "node:fs";
import { after, before, describe, it } from "node:test";
import { encode } from "@msgpack/msgpack";
import { RpcRemoteError, spawnPluginServer, type PluginServerProcess } from "../../../kong-standin/src/wire/index.ts";
import { connectRaw, fixture, MSGPACK, pause, within } from "./helpers.ts";

interface Diagnostics {
  Pid: number;
  Events: number;
  Instances: number;
  TypeScriptLoaded: boolean;
}

const diagnostics = async (server: PluginServerProcess): Promise<Diagnostics> =>
  (await server.rpc("plugin.Diagnostics", [])) as Diagnostics;

const request = (nonce: string, authorization?: string) => ({
  method: "GET",
  path: "/flickr/photos",
  headers: { "x-oauth2-jwt-nonce": nonce, ...(authorization === undefined ? {} : { authorization }) },
});

describe("plugin server process", () => {
  let server: PluginServerProcess;

  before(async () => {
    server = await spawnPluginServer({ pluginsDirectory: fixture("trivial"), args: [...MSGPACK, "--diagnostics"] });
  });

  after(async () => {
    await server.close();
  });

  it("closes only the connection that sends bytes that are not MessagePack", async () => {
    const pid = server.pid;
    const instance = await server.startInstance("trivial");
    const bystander = await connectRaw(server.socketPath);
    const offender = await connectRaw(server.socketPath);
    await offender.write(Buffer.of(0xc1, 0x00));
    await within(offender.closed, 5000, "the server kept the malformed connection open");

    await bystander.write(encode([0, 1, "plugin.GetPluginInfo", ["trivial"]]));
    const [reply] = await bystander.replies(1);
    assert.deepEqual(reply, [
      1,
      1,
      null,
      {
        Name: "trivial",
        Version: "0.1.0",
        Phases: ["access"],
        Priority: 1450,
        Schema: { name: "trivial", fields: [{ config: { type: "record", fields: [] } }] },
      },
    ]);
    bystander.close();
    const result = await instance.access(request("n-1", "Bearer t"));
    assert.equal(result.outcome, "proceed");
    assert.equal(server.pid, pid);
  });

  it("closes a connection that sends MessagePack which is not a msgpack-RPC request", async () => {
    for (const message of ["hello", [0, 1, "plugin.GetStatus"], [1, 1, null, null], { method: "x" }]) {
      const client = await connectRaw(server.socketPath);
      await client.write(encode(message));
      await within(client.closed, 5000, `kept the connection open after ${JSON.stringify(message)}`);
    }
    assert.equal((await diagnostics(server)).Pid, server.pid);
  });

  it("stops reading from a peer that sends without reading its replies, and answers everything once it reads", async () => {
    // Kong reads each reply before it sends the next request on a connection. A peer that keeps
    // sending without reading must not make this process queue its replies without bound.
    const client = await connectRaw(server.socketPath);
    client.socket.pause();
    const count = 60_000;
    const requests = Buffer.concat(
      Array.from({ length: count }, (_, index) => encode([0, index, "plugin.GetPluginInfo", ["trivial"]])),
    );
    client.socket.write(requests);
    // Time enough for the server to have read everything, had it kept reading (bounded: 3 s).
    for (let waited = 0; waited < 3000 && client.socket.writableLength > 0; waited += 100) await pause(100);
    // The server stopped reading, so our own writes back up here instead of in the server.
    assert.ok(
      client.socket.writableLength > requests.length / 4,
      `only ${client.socket.writableLength} of ${requests.length} bytes still unsent`,
    );
    client.socket.resume();
    const replies = await client.replies(count, 60_000);
    assert.equal(replies.length, count);
    assert.deepEqual(replies[count - 1], [1, count - 1, null, (replies[0] as unknown[])[3]]);
    client.close();
    assert.equal((await diagnostics(server)).Pid, server.pid);
  });

  it("answers unknown methods and namespaces with an error, keeping the connection", async () => {
    const client = await connectRaw(server.socketPath);
    await client.write(encode([0, 1, "plugin.constructor", []]));
    await client.write(encode([0, 2, "plugin.sweep", []]));
    await client.write(encode([0, 3, "kong.GetStatus", []]));
    await client.write(encode([0, 4, "plugin.InstanceStatus", [999]]));
    assert.deepEqual(await client.replies(4), [
      [1, 1, "method plugin.constructor not implemented", null],
      [1, 2, "method plugin.sweep not implemented", null],
      [1, 3, "RPC for kong is not supported", null],
      [1, 4, "no plugin instance #999", null],
    ]);
    client.close();
  });

  it("answers an unknown instance id with the wording Kong recovers from", async () => {
    await assert.rejects(
      server.rpc("plugin.HandleEvent", [{ InstanceId: 4242, EventName: "access" }]),
      (error: unknown) => {
        assert.ok(error instanceof RpcRemoteError);
        assert.equal(error.remoteMessage, "no plugin instance #4242");
        return true;
      },
    );
  });

  it("finds an event by id when its Steps arrive on other connections than its HandleEvent", async () => {
    const instance = await server.startInstance("trivial");
    const a = await connectRaw(server.socketPath);
    const b = await connectRaw(server.socketPath);
    const c = await connectRaw(server.socketPath);
    await a.write(encode([0, 1, "plugin.HandleEvent", [{ InstanceId: instance.id, EventName: "access" }]]));
    const [[, , , started]] = (await a.replies(1)) as [[number, number, null, { EventId: number; Data: unknown }]];
    assert.deepEqual(started.Data, { Method: "kong.request.get_headers", Args: [1000] });
    await b.write(
      encode([
        0,
        7,
        "plugin.StepMultiMap",
        [{ EventId: started.EventId, Data: { authorization: ["Bearer t"], "x-oauth2-jwt-nonce": ["n-x"] } }],
      ]),
    );
    const [[, , , set]] = (await b.replies(1)) as [
      [number, number, null, { EventId: number; Data: { Method: string; Args: unknown[] } }],
    ];
    assert.equal(set.EventId, started.EventId);
    assert.equal(set.Data.Method, "kong.service.request.set_headers");
    assert.deepEqual(set.Data.Args, [
      {
        "x-oauth2-jwt-nonce": [],
        "X-Authenticated-Userid": "trivial-user",
        "X-Authenticated-Client-Id": "trivial-client",
        "X-Authenticated-Scope": "photos",
        "x-oauth2-jwt-verdict": "n-x",
      },
    ]);
    await c.write(encode([0, 9, "plugin.Step", [{ EventId: started.EventId }]]));
    assert.deepEqual(await c.replies(1), [[1, 9, null, { Data: "ret", EventId: started.EventId }]]);
    // Finished: the event is gone.
    await a.write(encode([0, 2, "plugin.Step", [{ EventId: started.EventId }]]));
    assert.deepEqual(await a.replies(1), [[1, 2, `event id ${started.EventId} not found`, null]]);
    for (const client of [a, b, c]) client.close();
  });

  it("forgets every event once its request is over, allowed or refused", async () => {
    const instance = await server.startInstance("trivial");
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, index) =>
        instance.access(request(`n-${index}`, index % 2 === 0 ? "Bearer t" : undefined)),
      ),
    );
    results.forEach((result, index) => {
      if (index % 2 === 0) {
        assert.equal(result.outcome, "proceed");
        assert.equal(result.roundTrips, 3);
        assert.deepEqual(result.upstreamHeaders["x-oauth2-jwt-verdict"], [`n-${index}`]);
      } else {
        assert.equal(result.outcome, "exit");
        assert.equal(result.roundTrips, 2);
      }
    });
    assert.equal((await diagnostics(server)).Events, 0);
  });

  it("serves a request carrying a header named __proto__ (any client can send one) instead of failing it open", async () => {
    // @msgpack/msgpack refuses the map key "__proto__"; Kong sends the client's header names as
    // map keys, so without care the connection was dropped and Kong proxied the request unchecked.
    const instance = await server.startInstance("trivial");
    const headers = JSON.parse(
      '{"__proto__": "x", "authorization": "Bearer t", "x-oauth2-jwt-nonce": "n-proto"}',
    ) as Record<string, string>;
    const result = await instance.access({ method: "GET", path: "/flickr/photos", headers });
    assert.deepEqual(result, {
      outcome: "proceed",
      upstreamHeaders: JSON.parse(
        '{"__proto__": ["x"], "authorization": ["Bearer t"], "x-authenticated-userid": ["trivial-user"], "x-authenticated-client-id": ["trivial-client"], "x-authenticated-scope": ["photos"], "x-oauth2-jwt-verdict": ["n-proto"]}',
      ) as Record<string, string[]>,
      roundTrips: 3,
      ctxShared: {},
      logs: [],
    });
    const refused = await instance.access({
      method: "GET",
      path: "/flickr/photos",
      headers: JSON.parse('{"__proto__": "x"}') as Record<string, string>,
    });
    assert.equal(refused.outcome, "exit");
    assert.equal(refused.status, 401);
  });

  it("does not load TypeScript (kong-pdk's ts-node hook is neutralised)", async () => {
    assert.equal((await diagnostics(server)).TypeScriptLoaded, false);
  });
});

describe("plugin server restart after SIGKILL", () => {
  it("removes the stale socket and listens again at once; the harness restarts the instance", async () => {
    const server = await spawnPluginServer({ pluginsDirectory: fixture("reject"), args: MSGPACK });
    try {
      const instance = await server.startInstance("reject-401");
      assert.equal((await instance.access(request("n"))).outcome, "exit");
      const firstPid = server.pid;
      await server.kill("SIGKILL");
      assert.ok(fs.existsSync(server.socketPath), "a SIGKILLed server leaves its socket file");
      const killed = await instance.access(request("n"));
      assert.equal(killed.outcome, "failed-open");
      // Refused connection, or a pooled connection that died with the process: either way the
      // HandleEvent got no answer and Kong would proxy.
      assert.match(
        killed.error,
        /^plugin\.HandleEvent: (cannot connect to .*ECONNREFUSED|connection closed by the plugin server|write EPIPE)/,
      );

      const started = Date.now();
      await server.start();
      const listeningAfter = Date.now() - started;
      assert.notEqual(server.pid, firstPid);
      const recovered = await instance.access(request("n"));
      assert.equal(recovered.outcome, "exit");
      assert.equal(recovered.status, 401);
      // HandleEvent ("no plugin instance #0"), StartInstance, HandleEvent, StepMultiMap.
      assert.equal(recovered.roundTrips, 4);
      console.log(`# listening again ${listeningAfter} ms after spawn (process start included)`);
    } finally {
      await server.close();
    }
  });

  it("removes its socket on SIGTERM", async () => {
    const server = await spawnPluginServer({ pluginsDirectory: fixture("reject"), args: MSGPACK });
    try {
      await server.kill("SIGTERM");
      assert.equal(fs.existsSync(server.socketPath), false);
    } finally {
      await server.close();
    }
  });
});

describe("plugin server expiry", () => {
  it("drops instances idle longer than --instance-idle-ttl; Kong's retry starts them again", async () => {
    // Real timers here (the sweep itself is tested with an injected clock in plugin-server.test.ts).
    const server = await spawnPluginServer({
      pluginsDirectory: fixture("reject"),
      args: [...MSGPACK, "--diagnostics", "--instance-idle-ttl", "0.3"],
    });
    try {
      const instance = await server.startInstance("reject-401");
      const firstId = instance.id;
      await pause(1500);
      assert.equal((await diagnostics(server)).Instances, 0);
      const result = await instance.access(request("n"));
      assert.equal(result.outcome, "exit");
      assert.equal(result.roundTrips, 4);
      assert.notEqual(instance.id, firstId);
    } finally {
      await server.close();
    }
  });

  it("drops events Kong abandoned after --event-idle-ttl", async () => {
    const server = await spawnPluginServer({
      pluginsDirectory: fixture("reject"),
      args: [...MSGPACK, "--diagnostics", "--event-idle-ttl", "0.3"],
    });
    try {
      const instance = await server.startInstance("reject-401");
      const started = (await server.rpc("plugin.HandleEvent", [{ InstanceId: instance.id, EventName: "access" }])) as {
        EventId: number;
      };
      await pause(1500);
      assert.equal((await diagnostics(server)).Events, 0);
      await assert.rejects(server.rpc("plugin.StepMultiMap", [{ EventId: started.EventId, Data: {} }]), {
        name: "RpcRemoteError",
        remoteMessage: `event id ${started.EventId} not found`,
      });
    } finally {
      await server.close();
    }
  });
});

describe("plugin server and a reply MessagePack cannot carry", () => {
  it("answers an RPC error at once instead of no reply until Kong's timeout", async () => {
    const server = await spawnPluginServer({
      pluginsDirectory: fixture("unencodable"),
      args: [...MSGPACK, "--diagnostics"],
      rpcTimeoutMs: 20_000,
    });
    try {
      const instance = await server.startInstance("unencodable");
      const started = Date.now();
      const result = await instance.access(request("n", "Bearer t"));
      assert.deepEqual(result, {
        outcome: "failed-open",
        error: "plugin.StepMultiMap: reply cannot be encoded: Unrecognized object: [object BigInt]",
        upstreamHeaders: { "x-oauth2-jwt-nonce": ["n"], authorization: ["Bearer t"] },
        roundTrips: 2,
        ctxShared: {},
        logs: [],
      });
      assert.ok(Date.now() - started < 10_000, `answered after ${Date.now() - started} ms`);
      assert.deepEqual(await diagnostics(server).then(({ Pid, Events }) => ({ Pid, Events })), {
        Pid: server.pid,
        Events: 0,
      });
      assert.ok(
        server
          .logs()
          .some((line) =>
            line.includes("[error] plugin.StepMultiMap: reply cannot be encoded: Unrecognized object: [object BigInt]"),
          ),
        server.logs().join("\n"),
      );
    } finally {
      await server.close();
    }
  });
});

describe("plugin server and a throwing handler", () => {
  it("answers an RPC error (Kong logs it and fails open) and forgets the event", async () => {
    const server = await spawnPluginServer({
      pluginsDirectory: fixture("throws"),
      args: [...MSGPACK, "--diagnostics"],
    });
    try {
      const instance = await server.startInstance("throws");
      const result = await instance.access(request("n", "Bearer t"));
      assert.deepEqual(result, {
        outcome: "failed-open",
        error: "plugin.StepMultiMap: unhandled exception in throws.access: fixture failure",
        upstreamHeaders: { "x-oauth2-jwt-nonce": ["n"], authorization: ["Bearer t"] },
        roundTrips: 2,
        ctxShared: {},
        logs: [],
      });
      assert.equal((await diagnostics(server)).Events, 0);
      assert.ok(
        server
          .logs()
          .some((line) => line.includes("[warn] unhandled exception in throws.access: Error: fixture failure")),
      );
    } finally {
      await server.close();
    }
  });
});

describe("plugin server and a failure nothing caught", () => {
  it("logs a rejected promise nothing awaited, even one String() cannot convert, and keeps serving", async () => {
    const server = await spawnPluginServer({
      pluginsDirectory: fixture("faults"),
      args: [...MSGPACK, "--diagnostics"],
    });
    try {
      const instance = await server.startInstance("faults");
      const result = await instance.access({ method: "GET", path: "/", headers: { "x-fault": "rejection" } });
      assert.equal(result.outcome, "proceed");
      await pause(200);
      assert.ok(
        server.logs().some((line) => line.endsWith("[error] unhandled rejection: <unprintable object>")),
        server.logs().join("\n"),
      );
      assert.equal((await diagnostics(server)).Pid, server.pid);
      assert.equal((await instance.access({ method: "GET", path: "/", headers: {} })).outcome, "proceed");
    } finally {
      await server.close();
    }
  });

  it("logs an uncaught exception and exits, for Kong to restart a server whose state is known", async () => {
    const server = await spawnPluginServer({ pluginsDirectory: fixture("faults"), args: MSGPACK });
    try {
      const pid = server.pid as number;
      const instance = await server.startInstance("faults");
      await instance.access({ method: "GET", path: "/", headers: { "x-fault": "exception" } });
      const exited = async (): Promise<boolean> => {
        for (let waited = 0; waited < 5000; waited += 50) {
          if (server.pid === undefined) return true;
          await pause(50);
        }
        return false;
      };
      assert.ok(await exited(), `process ${pid} still runs`);
      assert.ok(
        server
          .logs()
          .some((line) =>
            line.endsWith(
              "[error] uncaught exception, exiting for Kong to restart a clean server: <unprintable object>",
            ),
          ),
        server.logs().join("\n"),
      );
    } finally {
      await server.close();
    }
  });
});
