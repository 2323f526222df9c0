// The cost model's wire listing: a recorded request shown message by message, ProtoBuf:1 frames
// found by their 4-byte little-endian length prefix however the reads cut them.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { RecordedChunk } from "../../../bench/lib/socket-tap.ts";
import { wireSequence } from "../../../bench/sections/cost-model.ts";

const frame = (body: string): Buffer => {
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32LE(Buffer.byteLength(body), 0);
  return Buffer.concat([prefix, Buffer.from(body)]);
};
const sent = (bytes: Buffer): RecordedChunk => ({ direction: "sent", bytes });
const received = (bytes: Buffer): RecordedChunk => ({ direction: "received", bytes });

describe("wireSequence", () => {
  it("lists ProtoBuf:1 frames as prefix+body, two frames in one read or one frame over two reads", () => {
    const call = frame("rpc-call");
    const name = frame("kong.request.get_headers");
    const args = frame("int");
    const reply = frame("headers");
    const chunks = [
      sent(call),
      // The server's method name and argument, read together.
      received(Buffer.concat([name, args])),
      // Kong's reply, and the end of the event read in pieces: a prefix cut in two.
      sent(reply),
      received(Buffer.concat([frame(""), frame("ret").subarray(0, 2)])),
      received(frame("ret").subarray(2)),
    ];
    assert.equal(wireSequence({ protocol: "ProtoBuf:1", chunks }), ">4+8 <4+24 <4+3 >4+7 <4+0 <4+3");
  });

  it("lists MessagePack-RPC messages as the chunks they travelled in", () => {
    const chunks = [
      sent(Buffer.alloc(55)),
      received(Buffer.alloc(65)),
      sent(Buffer.alloc(124)),
      received(Buffer.alloc(178)),
    ];
    assert.equal(wireSequence({ protocol: "MsgPack:1", chunks }), ">55 <65 >124 <178");
  });
});
