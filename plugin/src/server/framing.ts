// Incremental MessagePack framing for the plugin-server socket.
//
// Kong writes one msgpack-RPC request per call, but a Unix stream socket delivers bytes, not
// messages: one `data` event can hold several messages, or part of one split at any byte.
// kong-pdk 0.6.0's listener decoded exactly one message per event and crashed the process on
// the other cases (see the README, "Why our own server"). This reader keeps the undecoded tail of
// each chunk and yields every complete message, using @msgpack/msgpack's synchronous Decoder
// (its async decodeMultiStream halves throughput: one promise per message).
import { DataViewIndexOutOfBoundsError, Decoder } from "@msgpack/msgpack";
// Not re-exported by the package index, but its own typed module (no "exports" map restricts
// it); the Decoder's default key decoder is an instance of it.
import { CachedKeyDecoder, type KeyDecoder } from "@msgpack/msgpack/dist/CachedKeyDecoder.js";

/** A byte sequence that is not MessagePack, or an incomplete message larger than the limit. */
export class FrameError extends Error {
  override readonly name = "FrameError";
}

/** Kong's messages are small (a header map is the largest); anything bigger is a broken peer. */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

// The public Decoder API yields complete messages but not where each ended. `decodeMulti`
// pauses at each `yield` with the decoder's `pos` just past the message it returned, so reading
// `pos` there gives the boundary without a second parser. `pos` is private to the TypeScript
// declarations only; `assertDecoderPositions` checks at load time that it still behaves as relied
// upon, so an incompatible @msgpack/msgpack upgrade fails loudly instead of mis-framing.
interface DecoderPosition {
  readonly pos: unknown;
}

function positionOf(decoder: object): number {
  const pos = (decoder as unknown as DecoderPosition).pos;
  if (typeof pos !== "number") {
    throw new Error("@msgpack/msgpack Decoder no longer exposes its read position; framing cannot work");
  }
  return pos;
}

/**
 * Throws unless `probe`, a fresh Decoder, reports each message's end through `pos` as framing
 * relies on. Runs at load; exported so that its failure is tested too.
 */
export function assertDecoderPositions(probe: Pick<Decoder, "decodeMulti">): void {
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

assertDecoderPositions(new Decoder());

// Kong's header and query maps are keyed by names the HTTP client chose (Kong runs nginx with
// `underscores_in_headers on`, so `__proto__: x` is a valid request header). @msgpack/msgpack
// refuses the map key "__proto__" with a DecodeError (its guard against prototype poisoning):
// the connection would be dropped and Kong would proxy that request unchecked — any client could
// opt out of authentication wherever no fail-closed guard runs. Map keys reach the map through
// the Decoder's key decoder (a constructor parameter), so ours hands "__proto__", and any key
// that already starts with the escape character, over with one ESCAPE prepended, and
// `restoreKeys` turns them back into own properties after the message is decoded.
const ESCAPE = "\u0000";

class EscapingKeyDecoder implements KeyDecoder {
  /** Whether a key was escaped since the last `takeEscaped()`. */
  private escaped = false;
  private readonly cache = new CachedKeyDecoder();
  private readonly utf8 = new TextDecoder();

  // Always true, so that every string key passes through `decode` (long ones skip the cache).
  canBeCached(): boolean {
    return true;
  }

  decode(bytes: Uint8Array, inputOffset: number, byteLength: number): string {
    const key = this.cache.canBeCached(byteLength)
      ? this.cache.decode(bytes, inputOffset, byteLength)
      : this.utf8.decode(bytes.subarray(inputOffset, inputOffset + byteLength));
    if (key !== "__proto__" && !key.startsWith(ESCAPE)) return key;
    this.escaped = true;
    return ESCAPE + key;
  }

  takeEscaped(): boolean {
    const escaped = this.escaped;
    this.escaped = false;
    return escaped;
  }
}

/** The decoded message with every escaped map key restored, as an own property. */
function restoreKeys(value: unknown): unknown {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = restoreKeys(value[i]);
    return value;
  }
  if (typeof value !== "object" || value === null || ArrayBuffer.isView(value)) return value;
  const map = value as Record<string, unknown>;
  let escaped = false;
  for (const key of Object.keys(map)) {
    map[key] = restoreKeys(map[key]);
    if (key.startsWith(ESCAPE)) escaped = true;
  }
  if (!escaped) return map;
  const restored: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(map)) {
    // defineProperty: assigning "__proto__" would set the prototype instead of a key.
    Object.defineProperty(restored, key.startsWith(ESCAPE) ? key.slice(ESCAPE.length) : key, { value: item, enumerable: true, writable: true, configurable: true });
  }
  return restored;
}

/** Reassembles MessagePack messages from arbitrarily chunked bytes of one stream. */
export class MessageReader {
  private readonly decoder: Decoder;
  private readonly keyDecoder = new EscapingKeyDecoder();
  // The bytes of a message not yet complete, at the start of a buffer with room to grow, so that
  // each chunk is copied once (concatenating the whole tail again on every chunk was quadratic:
  // 98 s of blocked event loop for a 63 MB message in 64 KB chunks). Once a message has been
  // decoded out of a buffer, that buffer is never written again: a decoded bin is a view into it.
  private pending: Buffer | undefined;
  private pendingLength = 0;

  constructor(private readonly maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES) {
    // No string, bin, array, map or ext of a message within the limit can announce more
    // elements or bytes than the limit, so a length prefix above it is refused at its header
    // (5 bytes) instead of being buffered up to the limit first, with a copy per chunk.
    const max = maxMessageBytes;
    this.decoder = new Decoder(undefined, undefined, max, max, max, max, max, this.keyDecoder);
  }

  /** Bytes held back because they do not yet form a complete message. */
  get pendingBytes(): number {
    return this.pendingLength;
  }

  /**
   * Feeds one chunk and returns every message it completes, in order.
   * Throws FrameError on bytes that are not MessagePack; the stream cannot be resynchronised
   * after that, so the caller must drop the connection (the process keeps serving others).
   */
  push(chunk: Buffer): unknown[] {
    const data = this.pending === undefined ? chunk : this.append(chunk);
    const messages: unknown[] = [];
    const escaped: number[] = [];
    let consumed = 0;
    this.keyDecoder.takeEscaped();
    try {
      for (const message of this.decoder.decodeMulti(data)) {
        if (this.keyDecoder.takeEscaped()) escaped.push(messages.length);
        messages.push(message);
        consumed = positionOf(this.decoder);
      }
    } catch (error) {
      // Running out of bytes mid-message is the only expected failure: keep the tail.
      if (!(error instanceof DataViewIndexOutOfBoundsError)) {
        this.clear();
        throw new FrameError(`malformed MessagePack at byte ${consumed}: ${describe(error)}`);
      }
    }
    for (const index of escaped) messages[index] = restoreKeys(messages[index]);
    const rest = data.length - consumed;
    if (rest === 0) {
      this.clear();
    } else if (rest > this.maxMessageBytes) {
      this.clear();
      throw new FrameError(`incomplete message exceeds ${this.maxMessageBytes} bytes`);
    } else if (consumed > 0 || this.pending === undefined) {
      // The tail moves to a buffer of its own: the one it sits in holds decoded bins, or is the
      // caller's chunk (and a small tail must not pin a large chunk in memory).
      this.pending = Buffer.allocUnsafe(Math.max(2 * rest, 1024));
      data.copy(this.pending, 0, consumed);
      this.pendingLength = rest;
    }
    // Otherwise nothing was decoded and the tail is already all of `pending`.
    return messages;
  }

  /** Appends `chunk` to the pending bytes, growing their buffer geometrically; returns them. */
  private append(chunk: Buffer): Buffer {
    let target = this.pending as Buffer;
    const length = this.pendingLength + chunk.length;
    if (length > target.length) {
      target = Buffer.allocUnsafe(Math.max(length, Math.min(2 * target.length, this.maxMessageBytes)));
      (this.pending as Buffer).copy(target, 0, 0, this.pendingLength);
      this.pending = target;
    }
    chunk.copy(target, this.pendingLength);
    this.pendingLength = length;
    return target.subarray(0, length);
  }

  private clear(): void {
    this.pending = undefined;
    this.pendingLength = 0;
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
