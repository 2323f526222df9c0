// bench/lua/msgpack-cost.lua, Kong's MessagePack work on one recorded request: it reads what Kong
// sent and received back to back, splits it into messages, and re-encodes Kong's requests byte
// for byte before timing anything. Needs Debian's `luajit` and `lua-messagepack`; skipped, saying
// so, when they are missing.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Encoder } from "@msgpack/msgpack";

const SCRIPT = fileURLToPath(new URL("../../../bench/lua/msgpack-cost.lua", import.meta.url));
const probe = spawnSync("luajit", ["-e", 'require "MessagePack"'], { encoding: "utf8" });
const missing =
  probe.error !== undefined || probe.status !== 0
    ? "needs luajit and Debian's lua-messagepack (Kong's MessagePack module)"
    : false;

const encoder = new Encoder();
const pack = (message: unknown): Buffer => Buffer.from(encoder.encode(message));

// A refused request as Kong and the plugin server exchange it: HandleEvent, then the header map.
const SENT = Buffer.concat([
  pack([0, 1, "plugin.HandleEvent", [{ InstanceId: 1, EventName: "access" }]]),
  pack([0, 2, "plugin.StepMultiMap", [{ EventId: 7, Data: { host: ["localhost:8000"], "user-agent": ["bench"] } }]]),
]);
const RECEIVED = Buffer.concat([
  pack([1, 1, null, { EventId: 7, Data: { Method: "kong.request.get_headers", Args: [1000] } }]),
  pack([
    1,
    2,
    null,
    {
      EventId: 7,
      Data: { Method: "kong.response.exit", Args: [401, '{"error":"x"}', { "WWW-Authenticate": ["Bearer"] }] },
    },
  ]),
]);

describe("Kong-side MessagePack cost script", { skip: missing }, () => {
  let directory: string;
  const file = (name: string, bytes: Buffer): string => {
    const target = path.join(directory, name);
    fs.writeFileSync(target, bytes);
    return target;
  };
  const run = (args: string[]): ReturnType<typeof spawnSync> =>
    spawnSync("luajit", [SCRIPT, ...args], { encoding: "utf8", timeout: 30_000 });

  before(() => {
    directory = fs.mkdtempSync(path.join(os.tmpdir(), "msgpack-cost-test-"));
  });
  after(() => {
    fs.rmSync(directory, { recursive: true, force: true });
  });

  it("prints one line per request: its messages, the bytes Kong packs for them, and µs per request", () => {
    const result = run(["1", "10", "refused", file("sent", SENT), file("received", RECEIVED)]);
    assert.equal(result.status, 0, String(result.stderr));
    const lines = String(result.stdout).trimEnd().split("\n");
    assert.equal(lines.length, 1);
    const figures = JSON.parse(lines[0]) as Record<string, unknown>;
    const { encodeUs, decodeUs, library, ...exact } = figures;
    assert.deepEqual(exact, {
      label: "refused",
      messagesSent: 2,
      messagesReceived: 2,
      // Kong's lua-MessagePack packs the same tables into exactly the bytes the harness sent.
      bytesPackedByLua: SENT.length,
      rounds: 1,
      iterations: 10,
    });
    assert.equal(typeof library, "string");
    for (const us of [encodeUs, decodeUs])
      assert.ok(typeof us === "number" && us >= 0 && Number.isFinite(us), String(us));
  });

  it("refuses a reply stream that is not msgpack-RPC replies", () => {
    const result = run(["1", "10", "bad", file("sent2", SENT), file("not-replies", SENT)]);
    assert.notEqual(result.status, 0);
    assert.match(String(result.stderr), /not a msgpack-RPC reply/);
  });

  it("answers a wrong command line with its usage and exit status 2", () => {
    const result = run(["1", "10", "lonely-label"]);
    assert.equal(result.status, 2);
    assert.equal(result.stderr, "usage: luajit msgpack-cost.lua ROUNDS ITERATIONS LABEL SENT_FILE RECEIVED_FILE ...\n");
    assert.equal(result.stdout, "");
  });
});
