// Incremental MessagePack framing for the plugin-server socket.
//
// Kong writes one msgpack-RPC request per call, but a Unix stream socket delivers bytes, not
// messages: one `data` event can hold several messages, or part of one split at any byte.
// kong-pdk 0.6.0's listener decoded exactly one message per event and crashed the process on
// the other cases (see docs/readme/plugin-server.md). This reader keeps the undecoded tail of
// each chunk and yields every complete message, using @msgpack/msgpack's synchronous Decoder
// (its async decodeMultiStream halves throughput: one promise per message).
import { DataViewIndexOutOfBoundsError, Decoder } from "@msgpack/msgpack";

/** A byte sequence that is not MessagePack, or an incomplete message larger than the limit. */
export class FrameError extends Error {
  override readonly name = "FrameError";
}

/** Kong's messages are small (a header map is the largest); anything bigger is a broken peer. */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

// The public Decoder API yields complete messages but not where each ended. `decodeMulti`
// pauses at each `yield` with the decoder's `pos` just past the message it returned, so reading
// `pos` there gives the boundary without a second parser. `pos` is private to the TypeScript
// declarations only; `assertDecoderLayout` checks at load time that it still behaves as relied
// upon, so an incompatible @msgpack/msgpack upgrade fails loudly instead of mis-framing.
interface DecoderPosition {
  readonly pos: unknown;
}

function positionOf(decoder: Decoder): number {
  const pos = (decoder as unknown as DecoderPosition).pos;
  if (typeof pos !== "number") {
    throw new Error("@msgpack/msgpack Decoder no longer exposes its read position; framing cannot work");
  }
  return pos;
}

function assertDecoderLayout(): void {
  const probe = new Decoder();
  // 0x01 (fixint 1), then 0x92 0x02 0x03 (array [2, 3]), then 0xa1 (fixstr of length 1, cut).
  const ends: number[] = [];
  try {
    for (const _ of probe.decodeMulti(Uint8Array.of(0x01, 0x92, 0x02, 0x03, 0xa1))) {
      ends.push(positionOf(probe));
    }
  } catch (error) {
    if (!(error instanceof DataViewIndexOutOfBoundsError)) throw error;
  }
  if (ends.length !== 2 || ends[0] !== 1 || ends[1] !== 4) {
    throw new Error(`@msgpack/msgpack Decoder positions changed (got ${JSON.stringify(ends)}); framing cannot work`);
  }
}

assertDecoderLayout();

/** Reassembles MessagePack messages from arbitrarily chunked bytes of one stream. */
export class MessageReader {
  private readonly decoder: Decoder;
  private pending: Buffer | undefined;

  constructor(private readonly maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES) {
    // No string, bin, array, map or ext of a message within the limit can announce more
    // elements or bytes than the limit, so a length prefix above it is refused at its header
    // (5 bytes) instead of being buffered up to the limit first, with a copy per chunk.
    const max = maxMessageBytes;
    this.decoder = new Decoder(undefined, undefined, max, max, max, max, max);
  }

  /** Bytes held back because they do not yet form a complete message. */
  get pendingBytes(): number {
    return this.pending?.length ?? 0;
  }

  /**
   * Feeds one chunk and returns every message it completes, in order.
   * Throws FrameError on bytes that are not MessagePack; the stream cannot be resynchronised
   * after that, so the caller must drop the connection (the process keeps serving others).
   */
  push(chunk: Buffer): unknown[] {
    const data = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    const messages: unknown[] = [];
    let consumed = 0;
    try {
      for (const message of this.decoder.decodeMulti(data)) {
        messages.push(message);
        consumed = positionOf(this.decoder);
      }
    } catch (error) {
      // Running out of bytes mid-message is the only expected failure: keep the tail.
      if (!(error instanceof DataViewIndexOutOfBoundsError)) {
        this.pending = undefined;
        throw new FrameError(`malformed MessagePack at byte ${consumed}: ${describe(error)}`);
      }
    }
    const rest = data.length - consumed;
    if (rest === 0) {
      this.pending = undefined;
    } else if (rest > this.maxMessageBytes) {
      this.pending = undefined;
      throw new FrameError(`incomplete message exceeds ${this.maxMessageBytes} bytes`);
    } else {
      // Copy so a small tail does not pin a large chunk in memory.
      this.pending = Buffer.from(data.subarray(consumed));
    }
    return messages;
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
