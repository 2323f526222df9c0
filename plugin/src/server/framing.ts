// Incremental MessagePack framing for the plugin-server socket.
//
// Kong writes one msgpack-RPC request per call, but a Unix stream socket delivers bytes, not
// messages: one `data` event can hold several messages, or part of one split at any byte.
// kong-pdk 0.6.0's listener decoded exactly one message per event and crashed the process on
// the other cases (docs/plugin-server.md). This reader keeps the undecoded tail of
// each chunk and yields every complete message: `MessageScanner` (scanner.ts) finds where each
// message ends, resuming where the previous chunk left it, and @msgpack/msgpack's synchronous
// Decoder decodes each complete message once (its async decodeMultiStream halves throughput:
// one promise per message). The work is linear in the bytes received, however they are chunked.
import { Decoder } from "@msgpack/msgpack";
// Not re-exported by the package index, but its own typed module (no "exports" map restricts
// it); the Decoder's default key decoder is an instance of it.
import { CachedKeyDecoder, type KeyDecoder } from "@msgpack/msgpack/dist/CachedKeyDecoder.js";
import { FrameError, INCOMPLETE, MessageScanner } from "./scanner.js";

export { FrameError, MAX_DEPTH } from "./scanner.js";

/**
 * Kong's messages are small (a header map of at most 1,000 lines is the largest), so a larger
 * one is a broken or hostile peer; refusing it early bounds what one connection can make us hold.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;

/**
 * Values in one message (arrays, maps, map keys and scalars alike). Kong's largest message, a
 * header or query map of at most 1,000 lines (the most `kong.request.get_headers` and
 * `get_query` return), has about 3,000, and takes 2 ms to decode. Decoding costs per value: a
 * megabyte of one-byte values blocked the event loop for 12 ms (nils) to 120 ms (empty maps);
 * within this limit the costliest message found, a map of 8,191 distinct 30-byte keys, takes 4 ms.
 */
export const DEFAULT_MAX_MESSAGE_VALUES = 16_384;

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
    Object.defineProperty(restored, key.startsWith(ESCAPE) ? key.slice(ESCAPE.length) : key, {
      value: item,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return restored;
}

/** Reassembles MessagePack messages from arbitrarily chunked bytes of one stream. */
export class MessageReader {
  private readonly decoder: Decoder;
  private readonly keyDecoder = new EscapingKeyDecoder();
  private readonly scanner: MessageScanner;
  // The bytes of a message not yet complete, at the start of a buffer with room to grow, so that
  // each chunk is copied once (concatenating the whole tail again on every chunk was quadratic:
  // 98 s of blocked event loop for a 63 MB message in 64 KB chunks). Once a message has been
  // decoded out of a buffer, that buffer is never written again: a decoded bin is a view into it.
  private pending: Buffer | undefined;
  private pendingLength = 0;
  private decodedBytes = 0;

  constructor(
    private readonly maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES,
    maxMessageValues = DEFAULT_MAX_MESSAGE_VALUES,
  ) {
    this.scanner = new MessageScanner(maxMessageBytes, maxMessageValues);
    // The scanner refuses any length beyond the limit first; the Decoder's own limits agree.
    const max = maxMessageBytes;
    this.decoder = new Decoder(undefined, undefined, max, max, max, max, max, this.keyDecoder);
  }

  /** Bytes held back because they do not yet form a complete message. */
  get pendingBytes(): number {
    return this.pendingLength;
  }

  /** Work done so far: header bytes the scanner examined, and bytes of the messages decoded. */
  get work(): { readonly examined: number; readonly decoded: number } {
    return { examined: this.scanner.examined, decoded: this.decodedBytes };
  }

  /**
   * Feeds one chunk and returns every message it completes, in order.
   * Throws FrameError on bytes that are not MessagePack, nesting deeper than MAX_DEPTH, or a
   * message over the limits (as soon as its declared lengths and counts show it); the stream
   * cannot be resynchronised after that, so the caller must drop the connection (the process
   * keeps serving others).
   */
  push(chunk: Buffer): unknown[] {
    const data = this.pending === undefined ? chunk : this.append(chunk);
    const messages: unknown[] = [];
    let start = 0;
    try {
      while (start < data.length) {
        const length = this.scanner.scan(data, start, data.length);
        if (length === INCOMPLETE) break;
        // Kong's usual chunk is exactly one message: decoded in place, without a view of it.
        messages.push(this.decode(length === data.length ? data : data.subarray(start, start + length), start));
        start += length;
      }
    } catch (error) {
      this.clear();
      throw error;
    }
    const rest = data.length - start;
    if (rest === 0) {
      this.clear();
    } else if (start > 0 || this.pending === undefined) {
      // The tail moves to a buffer of its own: the one it sits in holds decoded bins, or is the
      // caller's chunk (and a small tail must not pin a large chunk in memory).
      this.pending = Buffer.allocUnsafe(Math.max(2 * rest, 1024));
      data.copy(this.pending, 0, start);
      this.pendingLength = rest;
    }
    // Otherwise nothing was decoded and the tail is already all of `pending`.
    return messages;
  }

  /** Drops the pending bytes (the connection is being closed). */
  clear(): void {
    this.pending = undefined;
    this.pendingLength = 0;
  }

  /** Decodes one complete message, `at` bytes into the chunk, with its escaped map keys restored. */
  private decode(bytes: Buffer, at: number): unknown {
    let message: unknown;
    try {
      message = this.decoder.decode(bytes);
    } catch (error) {
      this.keyDecoder.takeEscaped();
      // Structure is the scanner's; what is left for the Decoder to refuse is a value it cannot
      // represent (a map key that is an array, a malformed timestamp extension).
      throw new FrameError(
        `malformed MessagePack at byte ${at}: ${error instanceof Error ? error.message : "undecodable"}`,
      );
    }
    this.decodedBytes += bytes.length;
    return this.keyDecoder.takeEscaped() ? restoreKeys(message) : message;
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
}
