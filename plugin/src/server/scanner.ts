// Where a MessagePack message ends, found from its type tags and length prefixes alone.
//
// The plugin-server socket delivers a message in as many chunks as it likes. Decoding the
// unfinished message again from its first byte on every chunk made the work quadratic in its
// size (a 2 MB write stalled every connection for about 26 s), so the reader first finds the
// message's end with this scanner, which keeps its place across chunks (the items each open
// array or map still expects, and the offset of the next header), and hands only complete
// messages to @msgpack/msgpack. Values are never decoded here: a str, bin or ext payload is
// skipped by its length without being read.
//
// Format: the MessagePack specification (github.com/msgpack/msgpack/blob/master/spec.md),
// "Formats" — every tag, its header size and where its length sits are in `HEADER_BYTES` and
// `scan` below.

/** Bytes that are not MessagePack, nested too deep, or a message over its limits. */
export class FrameError extends Error {
  override readonly name = "FrameError";
}

/** Arrays and maps nested deeper than this are refused; Kong's deepest message nests 5. */
export const MAX_DEPTH = 64;

/** `scan`'s answer while the message is not complete. */
export const INCOMPLETE = -1;

// Bytes of each tag's header (the tag, its length prefix, an ext's type byte); 0 for 0xc1,
// which the specification marks "never used".
const HEADER_BYTES = new Uint8Array(256).fill(1);
for (const [tag, bytes] of [
  [0xc1, 0],
  [0xc4, 2],
  [0xc5, 3],
  [0xc6, 5], // bin 8/16/32
  [0xc7, 3],
  [0xc8, 4],
  [0xc9, 6], // ext 8/16/32
  [0xca, 5],
  [0xcb, 9], // float 32/64
  [0xcc, 2],
  [0xcd, 3],
  [0xce, 5],
  [0xcf, 9], // uint 8/16/32/64
  [0xd0, 2],
  [0xd1, 3],
  [0xd2, 5],
  [0xd3, 9], // int 8/16/32/64
  [0xd4, 2],
  [0xd5, 2],
  [0xd6, 2],
  [0xd7, 2],
  [0xd8, 2], // fixext 1/2/4/8/16
  [0xd9, 2],
  [0xda, 3],
  [0xdb, 5], // str 8/16/32
  [0xdc, 3],
  [0xdd, 5], // array 16/32
  [0xde, 3],
  [0xdf, 5], // map 16/32
] as const) {
  HEADER_BYTES[tag] = bytes;
}

const FIXEXT_PAYLOAD: Readonly<Record<number, number>> = { 0xd4: 1, 0xd5: 2, 0xd6: 4, 0xd7: 8, 0xd8: 16 };

/** Finds the end of one MessagePack message after another, fed its bytes in any chunks. */
export class MessageScanner {
  /** Items each open array or map still expects (a map of n pairs expects 2n), innermost last. */
  private readonly expected = new Float64Array(MAX_DEPTH);
  private depth = 0;
  /** Items the open arrays and maps announced and that have not begun: one byte each at least. */
  private announced = 0;
  /** Values of the message begun so far, arrays and maps and map keys included. */
  private begun = 0;
  /**
   * Offset in the message of the next header. While a str, bin or ext payload is arriving it
   * lies past the bytes received, so the payload is never looked at.
   */
  private offset = 0;
  private examinedBytes = 0;

  constructor(
    private readonly maxMessageBytes: number,
    private readonly maxMessageValues = Number.POSITIVE_INFINITY,
  ) {}

  /**
   * Header bytes examined so far, over every message; payloads are skipped unread. Each header
   * byte counts once, except the tag of a header a chunk cut, which is read again with each
   * chunk until the header is whole: fewer than twice the bytes fed, however they are chunked.
   */
  get examined(): number {
    return this.examinedBytes;
  }

  /**
   * `bytes[start, end)` are the bytes of the current message received so far, from its first.
   * Returns the message's length once they hold all of it (and starts on the next message), or
   * INCOMPLETE. Throws FrameError on a tag MessagePack does not use, nesting deeper than
   * MAX_DEPTH, or a message whose declared lengths and counts need more bytes or values than the
   * limits — as soon as the header saying so has arrived. After a FrameError the stream cannot
   * be resynchronised.
   */
  scan(bytes: Uint8Array, start: number, end: number): number {
    // The state lives in locals while scanning (this loop is the hot path of every message).
    const available = end - start;
    const { expected, maxMessageBytes, maxMessageValues } = this;
    let { offset, depth, announced, begun } = this;
    let examined = 0;
    let complete = false;
    for (;;) {
      if (offset > available) break; // a payload still arriving
      if (offset > 0 && depth === 0) {
        complete = true;
        break;
      }
      if (offset === available) break;
      const at = start + offset;
      const tag = bytes[at];
      examined++;
      let items = 0;
      if (tag <= 0x7f || tag >= 0xe0) {
        offset++; // positive or negative fixint
      } else if (tag <= 0x9f) {
        items = tag <= 0x8f ? 2 * (tag & 0x0f) : tag & 0x0f; // fixmap, fixarray
        offset++;
      } else if (tag <= 0xbf) {
        offset += 1 + (tag & 0x1f); // fixstr
      } else {
        const headerBytes = HEADER_BYTES[tag];
        if (headerBytes === 0) throw this.fail("byte 0xc1, which MessagePack never uses");
        if (offset + headerBytes > available) break; // the header itself is cut
        examined += headerBytes - 1;
        let payload = 0;
        switch (tag) {
          case 0xc4:
          case 0xc7:
          case 0xd9:
            payload = bytes[at + 1];
            break;
          case 0xc5:
          case 0xc8:
          case 0xda:
            payload = uint16(bytes, at + 1);
            break;
          case 0xc6:
          case 0xc9:
          case 0xdb:
            payload = uint32(bytes, at + 1);
            break;
          case 0xd4:
          case 0xd5:
          case 0xd6:
          case 0xd7:
          case 0xd8:
            payload = FIXEXT_PAYLOAD[tag];
            break;
          case 0xdc:
            items = uint16(bytes, at + 1);
            break;
          case 0xdd:
            items = uint32(bytes, at + 1);
            break;
          case 0xde:
            items = 2 * uint16(bytes, at + 1);
            break;
          case 0xdf:
            items = 2 * uint32(bytes, at + 1);
            break;
          default: // nil, booleans, numbers: the header is the whole item
        }
        offset += headerBytes + payload;
      }
      // The item just read counts against its array or map, and opens one if it holds items.
      begun++;
      if (depth > 0) {
        expected[depth - 1]--;
        announced--;
      }
      if (items > 0) {
        if (depth === MAX_DEPTH) throw this.fail(`arrays and maps nested deeper than ${MAX_DEPTH}`);
        expected[depth++] = items;
        announced += items;
      } else {
        while (depth > 0 && expected[depth - 1] === 0) depth--;
      }
      if (offset + announced > maxMessageBytes || begun + announced > maxMessageValues)
        throw this.tooLarge(offset, begun, announced);
    }
    this.examinedBytes += examined;
    this.depth = depth;
    this.announced = announced;
    this.begun = complete ? 0 : begun;
    this.offset = complete ? 0 : offset;
    return complete ? offset : INCOMPLETE;
  }

  private tooLarge(offset: number, begun: number, announced: number): FrameError {
    return offset + announced > this.maxMessageBytes
      ? this.fail(
          `message declares at least ${offset + announced} bytes, more than the limit of ${this.maxMessageBytes}`,
        )
      : this.fail(
          `message declares at least ${begun + announced} values, more than the limit of ${this.maxMessageValues}`,
        );
  }

  private fail(reason: string): FrameError {
    this.depth = 0;
    this.announced = 0;
    this.begun = 0;
    this.offset = 0;
    return new FrameError(reason);
  }
}

function uint16(bytes: Uint8Array, at: number): number {
  return (bytes[at] << 8) | bytes[at + 1];
}

function uint32(bytes: Uint8Array, at: number): number {
  return bytes[at] * 0x1000000 + ((bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]);
}
