// ProtoBuf:1 frames: a 4-byte little-endian length, then the message, reassembled from any
// chunking, with a limit on the length that skips an oversized frame without holding it.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  encodeFrame,
  FrameReader,
  OversizedFrame,
  type Frame,
} from "../../../../plugin/src/server/protobuf/framing.ts";

const frames = (...messages: string[]): Buffer =>
  Buffer.concat(messages.map((message) => encodeFrame(Buffer.from(message))));
const texts = (found: Frame[]): string[] =>
  found.map((frame) => (frame instanceof OversizedFrame ? `<${frame.length}>` : Buffer.from(frame).toString()));

/** A deterministic source of numbers in [0, 1) (xorshift32), so a failing input can be replayed. */
function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 0x100000000;
  };
}

describe("ProtoBuf:1 framing", () => {
  it('prefixes a message with its length, little-endian (Kong\'s lua_pack "I")', () => {
    assert.deepEqual([...encodeFrame(Buffer.from("kong.request.get_headers"))].slice(0, 4), [24, 0, 0, 0]);
    assert.deepEqual([...encodeFrame(new Uint8Array(0x0102))].slice(0, 4), [0x02, 0x01, 0, 0]);
    assert.deepEqual([...encodeFrame(new Uint8Array(0))], [0, 0, 0, 0]);
  });

  it("yields every frame of a chunk, the empty ones included, as views of it", () => {
    const chunk = frames("kong.request.get_headers", "", "x");
    const found = new FrameReader().push(chunk);
    assert.deepEqual(texts(found), ["kong.request.get_headers", "", "x"]);
    assert.equal((found[0] as Uint8Array).buffer, chunk.buffer);
  });

  it("reassembles frames split at every byte, and from one-byte chunks", () => {
    const stream = frames("first", "", "the third frame", "4");
    for (let cut = 0; cut <= stream.length; cut++) {
      const reader = new FrameReader();
      const found = [...reader.push(stream.subarray(0, cut)), ...reader.push(stream.subarray(cut))];
      assert.deepEqual(texts(found), ["first", "", "the third frame", "4"], `cut at ${cut}`);
      assert.equal(reader.pendingBytes, 0);
    }
    const reader = new FrameReader();
    const found: Frame[] = [];
    for (const byte of stream) found.push(...reader.push(Buffer.of(byte)));
    assert.deepEqual(texts(found), ["first", "", "the third frame", "4"]);
  });

  it("holds a frame's prefix and its buffer while it is incomplete, nothing once it is", () => {
    const reader = new FrameReader();
    const frame = encodeFrame(Buffer.alloc(1000, 7));
    reader.push(frame.subarray(0, 2));
    assert.equal(reader.pendingBytes, 2);
    reader.push(frame.subarray(2, 10));
    assert.equal(reader.pendingBytes, 1000);
    assert.deepEqual(
      reader.push(frame.subarray(10)).map((found) => (found as Uint8Array).length),
      [1000],
    );
    assert.equal(reader.pendingBytes, 0);
  });

  it("reports a length over the limit as soon as its prefix arrives and skips the frame's bytes unread, staying in step", () => {
    const reader = new FrameReader(16);
    const big = encodeFrame(Buffer.alloc(100, 1));
    const stream = Buffer.concat([frames("ok"), big, frames("after")]);
    const first = reader.push(stream.subarray(0, 6 + 4));
    assert.deepEqual(texts(first), ["ok", "<100>"]);
    assert.deepEqual([...(first[1] as OversizedFrame).header], [100, 0, 0, 0]);
    assert.equal(reader.pendingBytes, 0);
    assert.deepEqual(texts(reader.push(stream.subarray(10, 60))), []);
    assert.equal(reader.pendingBytes, 0);
    assert.deepEqual(texts(reader.push(stream.subarray(60))), ["after"]);
  });

  it("reads a length up to 4 GiB - 1 without holding anything (a MessagePack request read as a length)", () => {
    const reader = new FrameReader();
    const found = reader.push(Buffer.of(0x94, 0x00, 0x01, 0xaf, 0x70, 0x6c));
    assert.equal(found.length, 1);
    assert.ok(found[0] instanceof OversizedFrame);
    assert.equal(found[0].length, 0xaf010094);
    assert.deepEqual([...found[0].header], [0x94, 0x00, 0x01, 0xaf]);
    assert.equal(reader.pendingBytes, 0);
  });

  it("yields exactly the frames written, whatever the chunking, for 5,000 random streams (within 3 s)", () => {
    const random = seeded(0x1f2e3d4c);
    const deadline = Date.now() + 3000;
    for (let round = 0; round < 5000 && Date.now() < deadline; round++) {
      const limit = 1 + Math.floor(random() * 64);
      const messages = Array.from({ length: Math.floor(random() * 6) }, () =>
        Buffer.alloc(Math.floor(random() * 80), Math.floor(random() * 256)),
      );
      const stream = Buffer.concat(messages.map((message) => encodeFrame(message)));
      const reader = new FrameReader(limit);
      const found: Frame[] = [];
      for (let at = 0; at < stream.length;) {
        const size = 1 + Math.floor(random() * 40);
        found.push(...reader.push(stream.subarray(at, at + size)));
        at += size;
      }
      const expected = messages.map((message) =>
        message.length > limit ? `<${message.length}>` : message.toString("latin1"),
      );
      assert.deepEqual(
        found.map((frame) =>
          frame instanceof OversizedFrame ? `<${frame.length}>` : Buffer.from(frame).toString("latin1"),
        ),
        expected,
        `round ${round}`,
      );
      assert.equal(reader.pendingBytes, 0);
      // Random bytes never throw, and never make it hold more than one frame's worth.
      const noise = new FrameReader(limit);
      noise.push(Buffer.from(Array.from({ length: Math.floor(random() * 64) }, () => Math.floor(random() * 256))));
      assert.ok(noise.pendingBytes <= limit + 4);
    }
  });
});
