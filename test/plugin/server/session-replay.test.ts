// A real Kong session (recorded from the wire harness: one allowed and one refused request
// through the trivial fixture plugin) replayed byte for byte against the real server process,
// with the stream cut at every byte offset, byte by byte, and all messages in one chunk.
// kong-pdk 0.6.0's own server is shown dying on the one-chunk replay.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { encode } from "@msgpack/msgpack";
import {
  STOCK_SERVER_COMMAND,
  spawnPluginServer,
  type PluginServerProcess,
} from "../../../kong-standin/src/wire/index.ts";
import { connectRaw, fixture, MSGPACK, pause, within } from "./helpers.ts";

interface Recorded {
  method: string;
  args: unknown[];
  result: unknown;
}

const ALLOWED = {
  method: "GET",
  path: "/flickr/photos",
  headers: { authorization: "Bearer abc", "x-oauth2-jwt-nonce": "nonce-1", X_Authenticated_Userid: "mallory" },
};
const REFUSED = { method: "GET", path: "/flickr/photos", headers: { "x-oauth2-jwt-nonce": "nonce-2" } };

/** Records the RPCs (method, args, result) the harness exchanges for one allowed and one refused request. */
async function record(
  server: PluginServerProcess,
  instanceName: string,
): Promise<{ recorded: Recorded[]; instanceId: number }> {
  const instance = await server.startInstance(instanceName);
  const recorded: Recorded[] = [];
  const rpc = server.rpc.bind(server);
  server.rpc = async (method, args) => {
    const result = await rpc(method, args);
    recorded.push({ method, args: structuredClone(args), result: structuredClone(result) });
    return result;
  };
  try {
    assert.equal((await instance.access(ALLOWED)).outcome, "proceed");
    assert.equal((await instance.access(REFUSED)).outcome, "exit");
  } finally {
    server.rpc = rpc;
  }
  return { recorded, instanceId: instance.id as number };
}

/** The recording with its event ids moved by `shift` (the server numbers events globally). */
function renumber(recorded: Recorded[], shift: number): Recorded[] {
  const move = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(move);
    if (typeof value === "object" && value !== null) {
      return Object.fromEntries(
        Object.entries(value).map(([key, item]) => [
          key,
          key === "EventId" && typeof item === "number" ? item + shift : move(item),
        ]),
      );
    }
    return value;
  };
  return recorded.map(({ method, args, result }) => ({ method, args: move(args) as unknown[], result: move(result) }));
}

function sessionBytes(recorded: Recorded[]): Buffer {
  return Buffer.concat(recorded.map(({ method, args }, index) => encode([0, index + 1, method, args])));
}

function expectedReplies(recorded: Recorded[]): unknown[] {
  return recorded.map(({ result }, index) => [1, index + 1, null, result]);
}

describe("plugin server: a recorded session under every chunking", () => {
  let server: PluginServerProcess;
  let recorded: Recorded[];
  let eventsPerSession: number;
  let replays = 0;

  before(async () => {
    server = await spawnPluginServer({
      pluginsDirectory: fixture("trivial"),
      args: [...MSGPACK, "--diagnostics"],
      connections: 2,
    });
    ({ recorded } = await record(server, "trivial"));
    eventsPerSession = recorded.filter(({ method }) => method === "plugin.HandleEvent").length;
    assert.deepEqual(
      recorded.map(({ method }) => method),
      ["plugin.HandleEvent", "plugin.StepMultiMap", "plugin.Step", "plugin.HandleEvent", "plugin.StepMultiMap"],
    );
    // The last reply of each request is final: "ret", then kong.response.exit.
    assert.equal((recorded[2]?.result as { Data: unknown }).Data, "ret");
    assert.equal((recorded[4]?.result as { Data: { Method: string } }).Data.Method, "kong.response.exit");
  });

  after(async () => {
    await server.close();
  });

  /** Replays the session on a fresh connection in the given chunks; checks every reply. */
  async function replay(chunksOf: (bytes: Buffer) => Buffer[]): Promise<void> {
    replays++;
    const session = renumber(recorded, replays * eventsPerSession);
    const client = await connectRaw(server.socketPath);
    try {
      for (const chunk of chunksOf(sessionBytes(session))) {
        await client.write(chunk);
        await pause(0);
      }
      const replies = await client.replies(session.length);
      assert.deepEqual(replies, expectedReplies(session));
    } finally {
      client.close();
    }
  }

  it("answers every message when all of them arrive in one chunk", async () => {
    await replay((bytes) => [bytes]);
  });

  it("answers every message when the stream is cut in two at each byte offset", async () => {
    const length = sessionBytes(recorded).length;
    assert.ok(length > 150, `session is ${length} bytes`);
    for (let offset = 1; offset < length; offset++) {
      await replay((bytes) => [bytes.subarray(0, offset), bytes.subarray(offset)]);
    }
  });

  it("answers every message when the stream arrives one byte at a time", async () => {
    await replay((bytes) => [...bytes].map((byte) => Buffer.of(byte)));
  });

  it("is still the same process and holds no event afterwards", async () => {
    const diagnostics = (await server.rpc("plugin.Diagnostics", [])) as {
      Pid: number;
      Events: number;
      Instances: number;
    };
    assert.equal(diagnostics.Pid, server.pid);
    assert.equal(diagnostics.Events, 0);
    assert.equal(diagnostics.Instances, 1);
  });
});

/** Resolves once the server process has exited; rejects with `message` after 10 s. */
async function exitOf(server: PluginServerProcess, message: string): Promise<void> {
  let poll: NodeJS.Timeout | undefined;
  try {
    await within(
      new Promise<void>((resolve) => {
        poll = setInterval(() => {
          if (server.pid === undefined) resolve();
        }, 10);
      }),
      10_000,
      message,
    );
  } finally {
    clearInterval(poll);
  }
}

describe("kong-pdk 0.6.0's own server on the same session (contrast)", () => {
  it("dies when two messages arrive in one chunk", async () => {
    const stock = await spawnPluginServer({
      command: STOCK_SERVER_COMMAND,
      pluginsDirectory: fixture("trivial"),
      connections: 1,
    });
    try {
      const { recorded } = await record(stock, "trivial");
      const session = renumber(recorded, 2);
      const client = await connectRaw(stock.socketPath);
      await client.write(sessionBytes(session));
      await exitOf(stock, "kong-pdk's server survived the one-chunk session");
      assert.equal(stock.pid, undefined);
      assert.ok(
        stock.logs().some((line) => line.includes("RangeError")),
        stock.logs().join("\n"),
      );
    } finally {
      await stock.close();
    }
  });

  it("dies on one request carrying a header named __proto__ (ours serves it: process.test.ts)", async () => {
    const stock = await spawnPluginServer({
      command: STOCK_SERVER_COMMAND,
      pluginsDirectory: fixture("trivial"),
      connections: 1,
    });
    try {
      const instance = await stock.startInstance("trivial");
      const headers = JSON.parse('{"__proto__": "x", "authorization": "Bearer t"}') as Record<string, string>;
      const result = await instance.access({ method: "GET", path: "/flickr/photos", headers });
      assert.equal(result.outcome, "failed-open");
      assert.equal(result.error, "plugin.StepMultiMap: connection closed by the plugin server");
      await exitOf(stock, "kong-pdk's server survived the __proto__ header");
      assert.ok(
        stock.logs().some((line) => line.includes("DecodeError: The key __proto__ is not allowed")),
        stock.logs().join("\n"),
      );
    } finally {
      await stock.close();
    }
  });
});
