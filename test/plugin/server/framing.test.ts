// The plugin server's incremental framing, alone: every chunking of a byte stream yields the
// same messages with work linear in its bytes; malformed bytes, nesting deeper than 64 and
// messages over 1 MiB or 16,384 values are refused, the oversized ones as soon as their header
// arrives.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { encode } from "@msgpack/msgpack";
import {
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_MAX_MESSAGE_VALUES,
  FrameError,
  MessageReader,
} from "../../../plugin/src/server/framing.ts";

const MESSAGES: unknown[] = [
  [0, 1, "plugin.HandleEvent", [{ InstanceId: 0, EventName: "access" }]],
  [
    0,
    2,
    "plugin.StepMultiMap",
    [{ EventId: 7, Data: { authorization: ["Bearer " + "x".repeat(300)], "x-many": ["a", "b"] } }],
  ],
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
    assert.deepEqual(reader.push(Buffer.concat([first, STREAM.subarray(first.length, first.length + 3)])), [
      MESSAGES[0],
    ]);
    assert.equal(reader.pendingBytes, 3);
  });

  it('decodes a map keyed "__proto__" (a header name any HTTP client can send) as an own property', () => {
    // Kong's StepMultiMap for `__proto__: x`; JSON.parse makes "__proto__" an own key, which the
    // encoder writes like any other.
    const data = JSON.parse('{"__proto__": ["x"], "\\u0000nul": ["y"], "authorization": ["Bearer t"]}') as Record<
      string,
      unknown
    >;
    const bytes = Buffer.from(encode([0, 9, "plugin.StepMultiMap", [{ EventId: 7, Data: data }]]));
    for (const chunks of [[bytes], [bytes.subarray(0, 20), bytes.subarray(20)]]) {
      const [message] = feed(chunks) as [
        [number, number, string, [{ EventId: number; Data: Record<string, unknown> }]],
      ];
      const decoded = message[3][0].Data;
      assert.deepEqual(Object.keys(decoded), ["__proto__", "\u0000nul", "authorization"]);
      assert.deepEqual(Object.getOwnPropertyDescriptor(decoded, "__proto__"), {
        value: ["x"],
        writable: true,
        enumerable: true,
        configurable: true,
      });
      assert.equal(Object.getPrototypeOf(decoded), Object.prototype);
      assert.deepEqual(decoded["\u0000nul"], ["y"]);
      assert.deepEqual(decoded.authorization, ["Bearer t"]);
      assert.deepEqual(message.slice(0, 3), [0, 9, "plugin.StepMultiMap"]);
    }
  });

  it("takes a large message arriving in many chunks in linear time (each chunk copied once)", () => {
    // 16 MiB in 64 KiB chunks, as a Unix socket delivers it. Copying the whole tail again on
    // every chunk took 5–6 s here (98 s for 63 MiB), blocking every other connection meanwhile.
    const size = 16 * 1024 * 1024;
    const message = Buffer.from(encode([0, 1, "plugin.Step", [{ EventId: 1, Data: "a".repeat(size) }]]));
    const reader = new MessageReader(32 * 1024 * 1024);
    const started = process.hrtime.bigint();
    const out: unknown[] = [];
    for (let offset = 0; offset < message.length; offset += 65536)
      out.push(...reader.push(message.subarray(offset, offset + 65536)));
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    assert.equal(out.length, 1);
    assert.equal(((out[0] as unknown[])[3] as [{ Data: string }])[0].Data.length, size);
    assert.equal(reader.pendingBytes, 0);
    assert.ok(ms < 2000, `took ${ms.toFixed(0)} ms`);
  });

  it("never overwrites bytes a decoded bin value still refers to", () => {
    // A decoded bin is a view into the bytes it came from; the tail that follows it in the same
    // chunk must be kept elsewhere, or the next chunk would overwrite the first message's value.
    const first = Buffer.from(
      encode([0, 1, "plugin.Step", [{ EventId: 1, Data: Uint8Array.from({ length: 300 }, (_, i) => i % 251) }]]),
    );
    const second = Buffer.from(
      encode([0, 2, "plugin.Step", [{ EventId: 2, Data: Uint8Array.from({ length: 300 }, () => 0xee) }]]),
    );
    const reader = new MessageReader();
    const [split] = [first.length - 10];
    assert.deepEqual(reader.push(first.subarray(0, split)), []);
    const [one] = reader.push(Buffer.concat([first.subarray(split), second.subarray(0, 100)])) as [
      [number, number, string, [{ Data: Uint8Array }]],
    ];
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

  it("refuses at its header a string, bin, array, map or ext announcing more than the 1 MiB limit (a 4 GB length prefix)", () => {
    assert.equal(DEFAULT_MAX_MESSAGE_BYTES, 1024 * 1024);
    const FOUR_GB = [0xff, 0xff, 0xff, 0xff];
    const headers: Array<[string, Buffer, number]> = [
      ["str32", Buffer.of(0xdb, ...FOUR_GB), 5 + 0xffffffff],
      ["bin32", Buffer.of(0xc6, ...FOUR_GB), 5 + 0xffffffff],
      ["array32", Buffer.of(0xdd, ...FOUR_GB), 5 + 0xffffffff],
      ["map32", Buffer.of(0xdf, ...FOUR_GB), 5 + 2 * 0xffffffff],
      ["ext32", Buffer.of(0xc9, ...FOUR_GB, 0x01), 6 + 0xffffffff],
      // Inside a request, as a Step's Data would be: the request's items still to come count too.
      [
        "nested str32",
        Buffer.concat([Buffer.of(0x94, 0x00, 0x01), encode("plugin.Step"), Buffer.of(0x91, 0xdb, ...FOUR_GB)]),
        21 + 0xffffffff,
      ],
      // 2 MB of an array of a million nils, then a million more: refused at the 5-byte header.
      [
        "array32 of 2,000,000 items",
        Buffer.concat([Buffer.of(0xdd, 0x00, 0x1e, 0x84, 0x80), Buffer.alloc(2_000_000, 0xc0)]),
        2_000_005,
      ],
    ];
    for (const [label, bytes, least] of headers) {
      // A fresh reader each time: after a FrameError the stream cannot be resynchronised.
      const reader = new MessageReader();
      assert.throws(
        () => reader.push(bytes),
        (error: unknown) => {
          assert.ok(error instanceof FrameError, label);
          assert.equal(
            error.message,
            `message declares at least ${least} bytes, more than the limit of 1048576`,
            label,
          );
          return true;
        },
      );
      assert.equal(reader.pendingBytes, 0, label);
      // The header alone is enough, and is all that was examined.
      const early = new MessageReader();
      const headerEnd = bytes.length - (label.startsWith("array32 of") ? 2_000_000 : 0);
      assert.throws(() => early.push(bytes.subarray(0, headerEnd)), FrameError, label);
    }
  });

  it("still accepts a string of exactly the limit", () => {
    const reader = new MessageReader(1024);
    // 34 bytes around the string: the request's items, the Step's map and the str16 header.
    const message = [0, 1, "plugin.Step", [{ EventId: 1, Data: "a".repeat(1024 - 34) }]];
    assert.equal(encode(message).length, 1024);
    assert.deepEqual(reader.push(Buffer.from(encode(message))), [message]);
    const over = [0, 1, "plugin.Step", [{ EventId: 1, Data: "a".repeat(1024 - 33) }]];
    assert.throws(() => new MessageReader(1024).push(Buffer.from(encode(over))), {
      name: "FrameError",
      message: "message declares at least 1025 bytes, more than the limit of 1024",
    });
  });

  it("refuses a message of many small parts once the parts received and announced exceed the limit", () => {
    const reader = new MessageReader(1024);
    // Each part within the limit (an array of 500 short strings), the whole not: refused at the
    // 53rd string, when 3 + 53 × 11 bytes received plus 447 strings announced exceed 1,024.
    const message = Buffer.from(encode(Array.from({ length: 500 }, () => "a".repeat(10))));
    assert.deepEqual(reader.push(message.subarray(0, 3 + 52 * 11)), []);
    assert.throws(() => reader.push(message.subarray(3 + 52 * 11, 3 + 53 * 11)), {
      name: "FrameError",
      message: "message declares at least 1033 bytes, more than the limit of 1024",
    });
  });

  it("refuses arrays and maps nested deeper than 64, at the 65th header, and decodes 64", () => {
    const nest = (depth: number): unknown =>
      depth === 0 ? "leaf" : depth % 2 === 0 ? [nest(depth - 1)] : { k: nest(depth - 1) };
    // The request nests 3 (the message, its argument list, the Step's map), Data another 61.
    const inner = nest(61);
    const request = [0, 1, "plugin.Step", [{ EventId: 1, Data: inner }]];
    assert.deepEqual(new MessageReader().push(Buffer.from(encode(request))), [request]);
    const deeper = [0, 1, "plugin.Step", [{ EventId: 1, Data: [inner] }]];
    assert.throws(() => new MessageReader().push(Buffer.from(encode(deeper))), {
      name: "FrameError",
      message: "arrays and maps nested deeper than 64",
    });
    // 4,000 levels in 4 KB, as a hostile peer sends them: refused after 65 bytes.
    const reader = new MessageReader();
    assert.deepEqual(reader.push(Buffer.alloc(64, 0x91)), []);
    assert.throws(() => reader.push(Buffer.alloc(4000 - 64, 0x91)), {
      name: "FrameError",
      message: "arrays and maps nested deeper than 64",
    });
    assert.equal(reader.pendingBytes, 0);
  });

  it("refuses at its header a message declaring more than 16,384 values (an array of a million nils, 1 MB)", () => {
    assert.equal(DEFAULT_MAX_MESSAGE_VALUES, 16_384);
    const reader = new MessageReader();
    assert.throws(() => reader.push(Buffer.of(0xdd, 0x00, 0x0f, 0x42, 0x40)), {
      name: "FrameError",
      message: "message declares at least 1000001 values, more than the limit of 16384",
    });
    // 16,384 in all is accepted: the array and 16,383 nils.
    const [largest] = new MessageReader().push(
      Buffer.concat([Buffer.of(0xdc, 0x3f, 0xff), Buffer.alloc(16_383, 0xc0)]),
    ) as [unknown[]];
    assert.equal(largest.length, 16_383);
    assert.throws(() => new MessageReader().push(Buffer.of(0xdc, 0x40, 0x00)), {
      name: "FrameError",
      message: "message declares at least 16385 values, more than the limit of 16384",
    });
  });

  it("does work linear in the bytes received: a 256 KB map fed byte by byte is examined once and decoded once", () => {
    // 8,191 keys of 30 bytes, within both limits: re-decoding from its first byte on every
    // chunk made this quadratic.
    const map = Object.fromEntries(
      Array.from({ length: 8_191 }, (_, i) => [`${"k".repeat(24)}${String(i).padStart(6, "0")}`, 1]),
    );
    const message = Buffer.from(encode(map));
    const reader = new MessageReader();
    const out: unknown[] = [];
    for (let offset = 0; offset < message.length; offset++)
      out.push(...reader.push(message.subarray(offset, offset + 1)));
    assert.deepEqual(out, [map]);
    // map16's 3-byte header: its tag read 3 times, then its 2-byte length. Then per pair, the
    // key's fixstr tag (its length inside; the 30 bytes skipped unread) and the 1-byte value.
    assert.deepEqual(reader.work, { examined: 3 + 2 + 8_191 * 2, decoded: message.length });
  });

  it("examines fewer than two header bytes per byte of any stream, however it is chunked", () => {
    for (const size of [1, 2, 3, 7, 64, 4096]) {
      const reader = new MessageReader();
      const out: unknown[] = [];
      for (let offset = 0; offset < STREAM.length; offset += size)
        out.push(...reader.push(STREAM.subarray(offset, offset + size)));
      assert.deepEqual(out, MESSAGES);
      assert.ok(
        reader.work.examined < 2 * STREAM.length,
        `${reader.work.examined} examined for ${STREAM.length} bytes in chunks of ${size}`,
      );
      assert.equal(reader.work.decoded, STREAM.length);
    }
  });

  it("refuses a value @msgpack/msgpack will not build (a map keyed by an array) as a frame error", () => {
    const reader = new MessageReader();
    assert.throws(() => reader.push(Buffer.of(0x81, 0x90, 0x01)), {
      name: "FrameError",
      message: "malformed MessagePack at byte 0: The type of key must be string or number but object",
    });
  });
});
