// Section 2 compares our plugin server with the trivial fixture and with kong-pdk's stock server:
// each ratio means something only if both sides speak the same protocol to Kong.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { spawnPluginServer } from "../../../kong-standin/src/wire/index.ts";
import { SECTION_PROTOCOL, serverKinds } from "../../../bench/sections/plugin-server.ts";

describe("bench section 2: the servers compared", () => {
  it("all speak MessagePack-RPC, the one protocol kong-pdk's stock server knows", async () => {
    assert.equal(SECTION_PROTOCOL, "MsgPack:1");
    const named: Record<string, string> = {};
    for (const kind of serverKinds()) {
      // The query command's answer, as Kong reads it to choose the protocol.
      const server = await spawnPluginServer(kind.spawn);
      try {
        named[kind.name] = server.protocol;
      } finally {
        await server.close();
      }
    }
    assert.deepEqual(named, { ours: "MsgPack:1", trivial: "MsgPack:1", stock: "MsgPack:1" });
  });
});
