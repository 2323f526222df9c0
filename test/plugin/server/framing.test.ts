// The plugin server's incremental framing, alone: every chunking of a byte stream yields the
// same messages, malformed bytes and oversized messages are refused.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Decoder, encode } from "@msgpack/msgpack";
import { FrameError, MessageReader, assertDecoderPositions } from "../../../plugin/src/server/framing.js";

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

  it("decodes a map keyed \"__proto__\" (a header name any HTTP client can send) as an own property", () => {
    // Kong's StepMultiMap for `__proto__: x`; JSON.parse makes "__proto__" an own key, which the
    // encoder writes like any other.
    const data = JSON.parse('{"__proto__": ["x"], "\\u0000nul": ["y"], "authorization": ["Bearer t"]}') as Record<string, unknown>;
    const bytes = Buffer.from(encode([0, 9, "plugin.StepMultiMap", [{ EventId: 7, Data: data }]]));
    for (const chunks of [[bytes], [bytes.subarray(0, 20), bytes.subarray(20)]]) {
      const [message] = feed(chunks) as [[number, number, string, [{ EventId: number; Data: Record<string, unknown> }]]];
      const decoded = message[3][0].Data;
      assert.deepEqual(Object.keys(decoded), ["__proto__", "\u0000nul", "authorization"]);
      assert.deepEqual(Object.getOwnPropertyDescriptor(decoded, "__proto__"), { value: ["x"], writable: true, enumerable: true, configurable: true });
      assert.equal(Object.getPrototypeOf(decoded), Object.prototype);
      assert.deepEqual(decoded["\u0000nul"], ["y"]);
      assert.deepEqual(decoded.authorization, ["Bearer t"]);
      assert.deepEqual(message.slice(0, 3), [0, 9, "plugin.StepMultiMap"]);
    }
  });

  it("checks at load that the Decoder reports message ends, and fails loudly when it does not", () => {
    assert.doesNotThrow(() => assertDecoderPositions(new Decoder()));
    // A Decoder whose read position is gone or moves differently (an incompatible upgrade).
    const fake = (positions: unknown[]) => {
      const probe = {
        pos: undefined as unknown,
        *decodeMulti(): Generator<unknown, void, unknown> {
          for (const position of positions) {
            probe.pos = position;
            yield position;
          }
        },
      };
      return probe as unknown as Decoder;
    };
    assert.throws(() => assertDecoderPositions(fake([undefined])), {
      message: "@msgpack/msgpack Decoder no longer exposes its read position; framing cannot work",
    });
    assert.throws(() => assertDecoderPositions(fake([5, 9])), {
      message: "@msgpack/msgpack Decoder positions changed (got [5,9]); framing cannot work",
    });
    assert.throws(() => assertDecoderPositions(fake([1])), {
      message: "@msgpack/msgpack Decoder positions changed (got [1]); framing cannot work",
    });
  });

  it("takes a large message arriving in many chunks in linear time (each chunk copied once)", () => {
    // 16 MiB in 64 KiB chunks, as a Unix socket delivers it. Copying the whole tail again on
    // every chunk took 5–6 s here (98 s for 63 MiB), blocking every other connection meanwhile.
    const size = 16 * 1024 * 1024;
    const message = Buffer.from(encode([0, 1, "plugin.Step", [{ EventId: 1, Data: "a".repeat(size) }]]));
    const reader = new MessageReader();
    const started = process.hrtime.bigint();
    const out: unknown[] = [];
    for (let offset = 0; offset < message.length; offset += 65536) out.push(...reader.push(message.subarray(offset, offset + 65536)));
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    assert.equal(out.length, 1);
    assert.equal(((out[0] as unknown[])[3] as [{ Data: string }])[0].Data.length, size);
    assert.equal(reader.pendingBytes, 0);
    assert.ok(ms < 2000, `took ${ms.toFixed(0)} ms`);
  });

  it("never overwrites bytes a decoded bin value still refers to", () => {
    // A decoded bin is a view into the bytes it came from; the tail that follows it in the same
    // chunk must be kept elsewhere, or the next chunk would overwrite the first message's value.
    const first = Buffer.from(encode([0, 1, "plugin.Step", [{ EventId: 1, Data: Uint8Array.from({ length: 300 }, (_, i) => i % 251) }]]));
    const second = Buffer.from(encode([0, 2, "plugin.Step", [{ EventId: 2, Data: Uint8Array.from({ length: 300 }, () => 0xee) }]]));
    const reader = new MessageReader();
    const [split] = [first.length - 10];
    assert.deepEqual(reader.push(first.subarray(0, split)), []);
    const [one] = reader.push(Buffer.concat([first.subarray(split), second.subarray(0, 100)])) as [[number, number, string, [{ Data: Uint8Array }]]];
    const snapshot = Buffer.from(one[3][0].Data);
    const [two] = reader.push(second.subarray(100)) as [[number, number, string, [{ Data: Uint8Array }]]];
    assert.deepEqual(Buffer.from(one[3][0].Data), snapshot);
    assert.deepEqual(Buffer.from(one[3][0].Data), Buffer.from(Uint8Array.from({ length: 300 }, (_, i) => i % 251)));
    assert.deepEqual(Buffer.from(two[3][0].Data), Buffer.alloc(300, 0xee));
  });

  it("refuses bytes that are not MessagePack (0xc1 is never used)", () => {
    const reader = new MessageReader();
    assert.throws(() => reader.push(Buffer.concat([encode(MESSAGES[0]), Buffer.of(0xc1)])), FrameError);
  });

  it("refuses at its header a string, bin, array, map or ext announcing more than the limit (a 4 GB length prefix)", () => {
    const FOUR_GB = [0xff, 0xff, 0xff, 0xff];
    const headers: Array<[string, Buffer]> = [
      ["str32", Buffer.of(0xdb, ...FOUR_GB)],
      ["bin32", Buffer.of(0xc6, ...FOUR_GB)],
      ["array32", Buffer.of(0xdd, ...FOUR_GB)],
      ["map32", Buffer.of(0xdf, ...FOUR_GB)],
      ["ext32", Buffer.of(0xc9, ...FOUR_GB, 0x01)],
      // Inside a request, as a Step's Data would be.
      ["nested str32", Buffer.concat([Buffer.of(0x94, 0x00, 0x01), encode("plugin.Step"), Buffer.of(0x91, 0xdb, ...FOUR_GB)])],
    ];
    for (const [label, header] of headers) {
      // A fresh reader each time: after a FrameError the stream cannot be resynchronised.
      const reader = new MessageReader();
      assert.throws(() => reader.push(header), (error: unknown) => {
        assert.ok(error instanceof FrameError, label);
        assert.match(error.message, /^malformed MessagePack at byte 0: Max length exceeded: .*\(4294967295\) > max\w+ \(67108864\)$/, label);
        return true;
      });
      assert.equal(reader.pendingBytes, 0, label);
    }
  });

  it("still accepts a string of exactly the limit", () => {
    const reader = new MessageReader(1024);
    const message = [0, 1, "plugin.Step", [{ EventId: 1, Data: "a".repeat(1024) }]];
    assert.deepEqual(reader.push(Buffer.from(encode(message))), [message]);
  });

  it("refuses an incomplete message larger than the limit", () => {
    const reader = new MessageReader(1024);
    // Each part within the limit (an array of 500 short strings), the whole not: its first 2 KiB.
    const message = Buffer.from(encode(Array.from({ length: 500 }, () => "a".repeat(10))));
    assert.throws(() => reader.push(message.subarray(0, 2048)), (error: unknown) => {
      assert.ok(error instanceof FrameError);
      assert.equal(error.message, "incomplete message exceeds 1024 bytes");
      return true;
    });
  });
});
