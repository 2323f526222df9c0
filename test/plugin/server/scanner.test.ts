// Where a MessagePack message ends, found from tags and lengths only: the scanner agrees with
// @msgpack/msgpack on every boundary and on what is valid (fuzzed over every type tag, random
// bytes and deep nesting, each input fed in random chunks), refuses nesting beyond 64 and a
// message declaring more than the limit at the header that declares it, and reads each header
// byte a bounded number of times however the bytes are chunked.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DataViewIndexOutOfBoundsError, DecodeError, Decoder } from "@msgpack/msgpack";
import { FrameError, INCOMPLETE, MAX_DEPTH, MessageScanner } from "../../../plugin/src/server/scanner.ts";

/** A seeded generator (mulberry32), so that every run fuzzes the same inputs. */
function random(seed: number): (below: number) => number {
  let state = seed >>> 0;
  return (below) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * below);
  };
}

/** The fuzz's bounds: about 10,000 inputs per property, or 5 s, whichever comes first. */
function fuzz(inputs: number, property: (index: number) => void): number {
  const deadline = Date.now() + 5000;
  let index = 0;
  for (; index < inputs && Date.now() < deadline; index++) property(index);
  console.log(`fuzzed with ${index} inputs`);
  return index;
}

const be = (value: number, bytes: number): number[] =>
  Array.from({ length: bytes }, (_, i) => Math.floor(value / 256 ** (bytes - 1 - i)) % 256);

/**
 * Writes MessagePack with every format of the specification, each length in a randomly chosen
 * width that fits (MessagePack allows a wider one than needed; @msgpack/msgpack reads them all).
 * Map keys are strings or integers, the keys @msgpack/msgpack decodes.
 */
class Writer {
  readonly bytes: number[] = [];
  depth = 0;

  constructor(private readonly pick: (below: number) => number) {}

  value(maxDepth: number): void {
    const kinds = maxDepth > 0 ? 9 : 7;
    switch (this.pick(kinds)) {
      case 0: {
        this.scalar();
        return;
      }
      case 1: {
        this.integer();
        return;
      }
      case 2: {
        this.string(this.length());
        return;
      }
      case 3: {
        this.binary(this.length());
        return;
      }
      case 4: {
        this.extension();
        return;
      }
      case 5: {
        this.float();
        return;
      }
      case 6: {
        this.string(this.pick(10));
        return;
      }
      case 7: {
        this.array(this.pick(6), maxDepth);
        return;
      }
      default: {
        this.map(this.pick(5), maxDepth);
        return;
      }
    }
  }

  /** Mostly short, sometimes past 65,535 (lengths of 16 and 32 bits come from `lengthPrefix` too). */
  length(): number {
    return this.pick(60) === 0 ? 256 + this.pick(66_000) : this.pick(40);
  }

  scalar(): void {
    this.bytes.push([0xc0, 0xc2, 0xc3][this.pick(3)]);
  }

  integer(): void {
    const forms = [
      () => [this.pick(0x80)], // positive fixint
      () => [0xe0 + this.pick(32)], // negative fixint
      () => [0xcc, this.pick(256)],
      () => [0xcd, ...be(this.pick(65536), 2)],
      () => [0xce, ...be(this.pick(2 ** 32), 4)],
      () => [0xcf, 0, 0, ...be(this.pick(2 ** 32), 4), this.pick(256), this.pick(256)].slice(0, 9),
      () => [0xd0, this.pick(256)],
      () => [0xd1, ...be(this.pick(65536), 2)],
      () => [0xd2, ...be(this.pick(2 ** 32), 4)],
      () => [0xd3, 0, 0, ...be(this.pick(2 ** 32), 4), this.pick(256), this.pick(256)].slice(0, 9),
    ];
    this.bytes.push(...forms[this.pick(forms.length)]());
  }

  float(): void {
    if (this.pick(2) === 0) this.bytes.push(0xca, ...be(this.pick(2 ** 32), 4));
    else this.bytes.push(0xcb, ...be(this.pick(2 ** 32), 4), ...be(this.pick(2 ** 32), 4));
  }

  string(length: number): void {
    const ascii = Array.from({ length }, () => 0x61 + this.pick(26));
    if (length < 32 && this.pick(2) === 0) this.bytes.push(0xa0 + length);
    else this.bytes.push(...this.lengthPrefix(length, [0xd9, 0xda, 0xdb]));
    this.bytes.push(...ascii);
  }

  binary(length: number): void {
    this.bytes.push(...this.lengthPrefix(length, [0xc4, 0xc5, 0xc6]), ...Array.from({ length }, () => this.pick(256)));
  }

  extension(): void {
    // Any type but -1 (0xff), which @msgpack/msgpack decodes as a timestamp with sizes of its own.
    const type = this.pick(255);
    const fixed = [1, 2, 4, 8, 16];
    if (this.pick(2) === 0) {
      const which = this.pick(fixed.length);
      const length = fixed[which];
      this.bytes.push(0xd4 + which, type, ...Array.from({ length }, () => this.pick(256)));
      return;
    }
    const length = this.pick(300);
    const [tag, ...size] = this.lengthPrefix(length, [0xc7, 0xc8, 0xc9]);
    this.bytes.push(tag, ...size, type, ...Array.from({ length }, () => this.pick(256)));
  }

  array(count: number, maxDepth: number): void {
    if (count < 16 && this.pick(2) === 0) this.bytes.push(0x90 + count);
    else this.bytes.push(...this.countPrefix(count, [0xdc, 0xdd]));
    this.depth++;
    for (let i = 0; i < count; i++) this.value(maxDepth - 1);
  }

  map(count: number, maxDepth: number): void {
    if (count < 16 && this.pick(2) === 0) this.bytes.push(0x80 + count);
    else this.bytes.push(...this.countPrefix(count, [0xde, 0xdf]));
    this.depth++;
    for (let i = 0; i < count; i++) {
      if (this.pick(2) === 0) this.string(1 + this.pick(12));
      else this.integer();
      this.value(maxDepth - 1);
    }
  }

  /** str/bin/ext 8, 16 or 32: the narrowest that fits, or a wider one at random. */
  private lengthPrefix(length: number, [eight, sixteen, thirtyTwo]: [number, number, number]): number[] {
    const width = Math.max(length < 256 ? 0 : length < 65536 ? 1 : 2, this.pick(3));
    return width === 0 ? [eight, length] : width === 1 ? [sixteen, ...be(length, 2)] : [thirtyTwo, ...be(length, 4)];
  }

  private countPrefix(count: number, [sixteen, thirtyTwo]: [number, number]): number[] {
    return this.pick(2) === 0 ? [sixteen, ...be(count, 2)] : [thirtyTwo, ...be(count, 4)];
  }
}

interface Scanned {
  /** Where each message ended. */
  ends: number[];
  /** What ended the scan early, if anything. */
  error?: FrameError;
}

/** Feeds `bytes` in random chunks: 1 to 8 bytes or up to 4 KiB at a time. */
function scanInChunks(scanner: MessageScanner, bytes: Uint8Array, pick: (below: number) => number): Scanned {
  const ends: number[] = [];
  let messageStart = 0;
  let received = 0;
  try {
    while (received < bytes.length) {
      received = Math.min(bytes.length, received + 1 + pick(pick(2) === 0 ? 8 : 4096));
      for (;;) {
        const length = scanner.scan(bytes, messageStart, received);
        if (length === INCOMPLETE) break;
        messageStart += length;
        ends.push(messageStart);
      }
    }
  } catch (error) {
    if (error instanceof FrameError) return { ends, error };
    throw error;
  }
  return { ends };
}

type Verdict = { end: number } | "incomplete" | "invalid" | "value refused";

/**
 * @msgpack/msgpack's verdict on the first message of `bytes`: the shortest prefix it decodes
 * whole is the message; running out of bytes on every prefix means incomplete. Its DecodeErrors
 * split in two: a byte that is not MessagePack (structure, which the scanner must refuse too),
 * and a value it will not build (a map key that is neither string nor number, "__proto__", a
 * malformed timestamp), where the structure may still be sound.
 */
function decoderVerdict(bytes: Uint8Array): Verdict {
  const decoder = new Decoder();
  for (let end = 1; end <= bytes.length; end++) {
    // Most prefixes end in a thrown error; without stack traces the fuzz runs several times faster.
    const { stackTraceLimit } = Error;
    Error.stackTraceLimit = 0;
    try {
      decoder.decode(bytes.subarray(0, end));
      return { end };
    } catch (error) {
      if (
        error instanceof DataViewIndexOutOfBoundsError ||
        (error instanceof RangeError && /outside the bounds|Insufficient data/.test(error.message))
      )
        continue;
      if (error instanceof DecodeError)
        return /Unrecognized type byte/.test(error.message) ? "invalid" : "value refused";
      throw error;
    } finally {
      Error.stackTraceLimit = stackTraceLimit;
    }
  }
  return "incomplete";
}

describe("plugin server message scanner", () => {
  it("finds the same message boundaries as @msgpack/msgpack decodes, over every type tag, in any chunking", () => {
    const pick = random(1);
    const decoder = new Decoder();
    const ran = fuzz(10_000, (index) => {
      const writer = new Writer(pick);
      const ends: number[] = [];
      for (let count = 1 + pick(4); count > 0; count--) {
        writer.value(1 + pick(6));
        ends.push(writer.bytes.length);
      }
      const bytes = Uint8Array.from(writer.bytes);
      assert.deepEqual(
        scanInChunks(new MessageScanner(Number.POSITIVE_INFINITY), bytes, pick),
        { ends },
        `input ${index}`,
      );
      let start = 0;
      for (const end of ends) {
        assert.doesNotThrow(
          () => decoder.decode(bytes.subarray(start, end)),
          `input ${index}, message ending at ${end}`,
        );
        start = end;
      }
    });
    assert.ok(ran >= 1000, `only ${ran} inputs within 5 s`);
  });

  it("agrees with @msgpack/msgpack on random bytes: same end, incomplete, or refused", () => {
    const pick = random(2);
    const ran = fuzz(10_000, (index) => {
      // Bytes biased towards tags and short lengths, so that structures form and nest.
      const bytes = Uint8Array.from({ length: 1 + pick(48) }, () =>
        pick(3) === 0
          ? pick(256)
          : [0x90, 0x80, 0xdc, 0xde, 0xc4, 0xd9, 0xc7, 0xd4, 0x00, 0x01, 0x02, 0xa1, 0xc1][pick(13)],
      );
      const verdict = decoderVerdict(bytes);
      const scanned = scanInChunks(new MessageScanner(Number.POSITIVE_INFINITY), bytes, pick);
      const label = `input ${index}: ${Buffer.from(bytes).toString("hex")}`;
      if (verdict === "value refused") {
        // The structure is the scanner's to judge, the values the decoder's: either is fine here.
        return;
      }
      if (verdict === "invalid") {
        assert.deepEqual(scanned.ends, [], label);
        assert.equal(scanned.error?.message, "byte 0xc1, which MessagePack never uses", label);
      } else if (verdict === "incomplete") {
        assert.deepEqual(scanned, { ends: [] }, label);
      } else {
        assert.equal(scanned.ends[0], verdict.end, `${label}: ${scanned.error?.message ?? "no error"}`);
      }
    });
    assert.ok(ran >= 1000, `only ${ran} inputs within 5 s`);
  });

  it("refuses arrays and maps nested deeper than 64, at the header of the 65th, and accepts 64", () => {
    assert.equal(MAX_DEPTH, 64);
    const pick = random(3);
    const decoder = new Decoder();
    const ran = fuzz(2000, (index) => {
      const depth = 1 + pick(100);
      const writer = new Writer(pick);
      const headers: number[] = [];
      for (let level = 0; level < depth; level++) {
        headers.push(writer.bytes.length);
        // One item per level, after a few scalar siblings that complete before it.
        const siblings = pick(3);
        const count = siblings + 1;
        if (pick(2) === 0) {
          const forms = [[0x90 + count], [0xdc, 0, count], [0xdd, 0, 0, 0, count]];
          writer.bytes.push(...forms[pick(forms.length)]);
          for (let s = 0; s < siblings; s++) writer.value(0);
        } else {
          writer.bytes.push(0x80 + count);
          for (let s = 0; s < siblings; s++) {
            writer.string(3);
            writer.value(0);
          }
          writer.string(3);
        }
      }
      writer.value(0);
      const bytes = Uint8Array.from(writer.bytes);
      assert.doesNotThrow(() => decoder.decode(bytes), `input ${index}`);
      const scanned = scanInChunks(new MessageScanner(Number.POSITIVE_INFINITY), bytes, pick);
      if (depth <= MAX_DEPTH) {
        assert.deepEqual(scanned, { ends: [bytes.length] }, `input ${index}, depth ${depth}`);
      } else {
        assert.deepEqual(scanned.ends, [], `input ${index}, depth ${depth}`);
        assert.equal(scanned.error?.message, "arrays and maps nested deeper than 64", `input ${index}, depth ${depth}`);
        // Refused once the 65th header arrived, without the bytes after it.
        const scanner = new MessageScanner(Number.POSITIVE_INFINITY);
        const sixtyFifth = headers[MAX_DEPTH];
        assert.equal(scanner.scan(bytes, 0, sixtyFifth), INCOMPLETE, `input ${index}`);
        assert.throws(() => scanner.scan(bytes, 0, Math.min(bytes.length, sixtyFifth + 5)), FrameError);
      }
    });
    assert.ok(ran >= 200, `only ${ran} inputs within 5 s`);
  });

  it("refuses a message whose declared lengths and counts need more than the limit, at that header", () => {
    const limit = 1024;
    const cases: Array<[string, number[], number]> = [
      // label, bytes up to and including the header that gives the size away, the least size.
      ["str32 of 4 GB", [0xdb, 0xff, 0xff, 0xff, 0xff], 5 + 0xffffffff],
      ["bin16 of 1,020 bytes after a 5-byte header", [0x92, 0x00, 0xc5, 0x03, 0xfc], 5 + 1020],
      ["ext32 of 1,019 bytes", [0xc9, 0x00, 0x00, 0x03, 0xfb, 0x01], 6 + 1019],
      ["array32 of 2,000,000 items", [0xdd, 0x00, 0x1e, 0x84, 0x80], 5 + 2_000_000],
      ["map16 of 600 pairs", [0xde, 0x02, 0x58], 3 + 1200],
      // Every count fits on its own; together they cannot: 500 items, the first of which holds 600.
      ["nested arrays", [0xdc, 0x01, 0xf4, 0xdc, 0x02, 0x58], 6 + 499 + 600],
    ];
    for (const [label, header, least] of cases) {
      const scanner = new MessageScanner(limit);
      assert.equal(scanner.scan(Uint8Array.from(header), 0, header.length - 1), INCOMPLETE, label);
      assert.throws(
        () => scanner.scan(Uint8Array.from(header), 0, header.length),
        {
          name: "FrameError",
          message: `message declares at least ${least} bytes, more than the limit of 1024`,
        },
        label,
      );
    }
    // Exactly the limit is accepted: a str16 of 1,021 bytes after its 3-byte header.
    const exact = Uint8Array.from([0xda, 0x03, 0xfd, ...new Uint8Array(1021)]);
    assert.equal(new MessageScanner(limit).scan(exact, 0, exact.length), 1024);
  });

  it("refuses a message whose counts announce more values than the limit, at that header, and takes exactly the limit", () => {
    const values = 100;
    const cases: Array<[string, number[], number]> = [
      ["array16 of 100 items", [0xdc, 0x00, 0x64], 101],
      ["map of 50 pairs", [0xde, 0x00, 0x32], 101],
      // An array of 30 whose first item, 40 nils, fits; its second, 40 more, does not: 43 values
      // begun when its header arrives, 28 + 40 announced.
      ["nested", [0xdc, 0x00, 0x1e, 0xdc, 0x00, 0x28, ...Array<number>(40).fill(0xc0), 0xdc, 0x00, 0x28], 111],
    ];
    for (const [label, header, least] of cases) {
      const scanner = new MessageScanner(Number.POSITIVE_INFINITY, values);
      assert.equal(scanner.scan(Uint8Array.from(header), 0, header.length - 1), INCOMPLETE, label);
      assert.throws(
        () => scanner.scan(Uint8Array.from(header), 0, header.length),
        {
          name: "FrameError",
          message: `message declares at least ${least} values, more than the limit of 100`,
        },
        label,
      );
    }
    // An array of a map of 15 pairs and an array of 67 nils: 1 + (1 + 30) + (1 + 67) = 100 values.
    const one = Uint8Array.from([
      0x92,
      0x80 + 15,
      ...Array<number>(30).fill(0x01),
      0xdc,
      0x00,
      0x43,
      ...Array<number>(67).fill(0xc0),
    ]);
    assert.equal(new MessageScanner(Number.POSITIVE_INFINITY, values).scan(one, 0, one.length), one.length);
  });

  it("examines fewer than two header bytes per byte received, even fed one byte at a time", () => {
    const pick = random(4);
    const writer = new Writer(pick);
    while (writer.bytes.length < 200_000) writer.value(4);
    // And the worst case for re-reads: headers of 5 and 9 bytes with nothing after them.
    for (let i = 0; i < 1000; i++) writer.bytes.push(0xdb, 0, 0, 0, 0, 0xcb, 0, 0, 0, 0, 0, 0, 0, 0);
    const bytes = Uint8Array.from(writer.bytes);
    const scanner = new MessageScanner(Number.POSITIVE_INFINITY);
    let start = 0;
    let messages = 0;
    for (let received = 1; received <= bytes.length; received++) {
      for (
        let length = scanner.scan(bytes, start, received);
        length !== INCOMPLETE;
        length = scanner.scan(bytes, start, received)
      ) {
        start += length;
        messages++;
      }
    }
    assert.equal(start, bytes.length);
    assert.ok(messages > 2000);
    assert.ok(
      scanner.examined < 2 * bytes.length,
      `${scanner.examined} header bytes examined for ${bytes.length} bytes`,
    );
  });
});
