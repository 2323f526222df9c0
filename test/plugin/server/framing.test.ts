// The plugin server's incremental framing, alone: every chunking of a byte stream yields the
// same messages, malformed bytes and oversized messages are refused.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { encode } from "@msgpack/msgpack";
import { FrameError, MessageReader } from "../../../plugin/src/server/framing.js";

const MESSAGES: unknown[] = [
  [0, 1, "plugin.HandleEvent", [{ InstanceId: 0, EventName: "access" }]],
  [0, 2, "plugin.StepMultiMap", [{ EventId: 7, Data: { authorization: ["Bearer " + "x".repeat(300)], "x-many": ["a", "b"] } }]],
  [0, 3, "plugin.Step", [{ EventId: 7 }]],
  [0, 4, "plugin.GetPluginInfo", ["trivial"]],
  [0, 5, "plugin.Step", [{ EventId: 7, Data: "é€😀" }]],
];
const STREAM = Buffer.concat(MESSAGES.map((message) => encode(message)));

function feed(chunks: Buffer[]): unknown[] {
  const reader = new MessageReader();
  const out: unknown[] = [];
  for (const chunk of chunks) out.push(...reader.push(chunk));
  assert.equal(reader.pendingBytes, 0);
  return out;
}

describe("plugin server framing", () => {
  it("decodes several messages arriving in one chunk", () => {
    assert.deepEqual(feed([STREAM]), MESSAGES);
  });

  it("decodes the stream split in two at every byte offset", () => {
    for (let offset = 1; offset < STREAM.length; offset++) {
      assert.deepEqual(feed([STREAM.subarray(0, offset), STREAM.subarray(offset)]), MESSAGES, `split at ${offset}`);
    }
  });

  it("decodes the stream delivered one byte at a time", () => {
    const bytes = [...STREAM].map((byte) => Buffer.of(byte));
    assert.deepEqual(feed(bytes), MESSAGES);
  });

  it("keeps an incomplete tail without yielding it", () => {
    const reader = new MessageReader();
    const first = encode(MESSAGES[0]);
    assert.deepEqual(reader.push(Buffer.concat([first, STREAM.subarray(first.length, first.length + 3)])), [MESSAGES[0]]);
    assert.equal(reader.pendingBytes, 3);
  });

  it("refuses bytes that are not MessagePack (0xc1 is never used)", () => {
    const reader = new MessageReader();
    assert.throws(() => reader.push(Buffer.concat([encode(MESSAGES[0]), Buffer.of(0xc1)])), FrameError);
  });

  it("refuses an incomplete message larger than the limit", () => {
    const reader = new MessageReader(1024);
    // str32 header announcing 1 MiB, followed by 2 KiB of it.
    const header = Buffer.of(0xdb, 0x00, 0x10, 0x00, 0x00);
    assert.throws(() => reader.push(Buffer.concat([header, Buffer.alloc(2048, 0x61)])), (error: unknown) => {
      assert.ok(error instanceof FrameError);
      assert.equal(error.message, "incomplete message exceeds 1024 bytes");
      return true;
    });
  });
});
