// Frames of the ProtoBuf:1 socket: a 4-byte little-endian length, then that many bytes (Kong's
// pb_rpc.lua reads `c:receive(4)` as lua_pack "I", then the message). Every message travels in
// one frame; a PDK call is two (its method name, then its arguments) and an empty method-name
// frame ends an event.
//
// The reader reassembles frames from arbitrarily chunked bytes, copying each byte at most once,
// and never holds more than one frame's worth: a length over the limit is reported as soon as
// its 4 bytes have arrived, and the bytes it announces are then skipped unread as they arrive
// (frames are length-delimited, so the stream stays in step and the connection can answer).

/**
 * Kong's frames are small: its largest is a start_instance carrying the instance's configuration
 * as JSON, or a header table of at most 1,000 lines. A larger one is a broken or hostile peer.
 */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;

/** Bytes of a frame's length prefix. */
export const FRAME_HEADER_BYTES = 4;

/** A frame whose announced length is over the limit; its bytes are skipped, never held. */
export class OversizedFrame {
  constructor(
    /** The announced length. */
    readonly length: number,
    /** The 4 bytes that announced it (a MessagePack peer's first bytes read as a huge length). */
    readonly header: Uint8Array,
  ) {}
}

export type Frame = Uint8Array | OversizedFrame;

/** `message` with its length prefix, ready to write. */
export function encodeFrame(message: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + message.length);
  frame.writeUInt32LE(message.length, 0);
  frame.set(message, FRAME_HEADER_BYTES);
  return frame;
}

/** Splits a byte stream into frames, fed in chunks of any size. */
export class FrameReader {
  /** The length prefix received so far, while it is incomplete. */
  private readonly header = Buffer.alloc(FRAME_HEADER_BYTES);
  private headerLength = 0;
  /** The frame being received: its buffer (exactly its length) and the bytes filled. */
  private body: Buffer | undefined;
  private bodyLength = 0;
  /** Bytes of an oversized frame still to skip. */
  private skipping = 0;

  constructor(private readonly maxFrameBytes = DEFAULT_MAX_FRAME_BYTES) {}

  /** Bytes held for the frame not yet complete: its prefix so far, and its body's buffer. */
  get pendingBytes(): number {
    return this.headerLength + (this.body?.length ?? 0);
  }

  /**
   * Feeds one chunk and returns the frames it completes, in order: each frame's bytes (a view
   * into `chunk` when the chunk holds all of it), or an OversizedFrame as soon as an over-limit
   * length is read. The caller must not modify `chunk` while it uses the frames.
   */
  push(chunk: Uint8Array): Frame[] {
    const frames: Frame[] = [];
    let at = 0;
    const end = chunk.length;
    while (at < end) {
      if (this.skipping > 0) {
        const skipped = Math.min(this.skipping, end - at);
        this.skipping -= skipped;
        at += skipped;
        continue;
      }
      if (this.body !== undefined) {
        const copied = Math.min(this.body.length - this.bodyLength, end - at);
        this.body.set(chunk.subarray(at, at + copied), this.bodyLength);
        this.bodyLength += copied;
        at += copied;
        if (this.bodyLength === this.body.length) {
          frames.push(this.body);
          this.body = undefined;
          this.bodyLength = 0;
        }
        continue;
      }
      let length: number;
      if (this.headerLength === 0 && end - at >= FRAME_HEADER_BYTES) {
        length = readUInt32LE(chunk, at);
        at += FRAME_HEADER_BYTES;
        if (length > this.maxFrameBytes) {
          frames.push(new OversizedFrame(length, chunk.slice(at - FRAME_HEADER_BYTES, at)));
          this.skipping = length;
          continue;
        }
        if (end - at >= length) {
          frames.push(chunk.subarray(at, at + length));
          at += length;
          continue;
        }
      } else {
        const copied = Math.min(FRAME_HEADER_BYTES - this.headerLength, end - at);
        this.header.set(chunk.subarray(at, at + copied), this.headerLength);
        this.headerLength += copied;
        at += copied;
        if (this.headerLength < FRAME_HEADER_BYTES) break;
        this.headerLength = 0;
        length = this.header.readUInt32LE(0);
        if (length > this.maxFrameBytes) {
          frames.push(new OversizedFrame(length, Uint8Array.from(this.header)));
          this.skipping = length;
          continue;
        }
      }
      if (length === 0) {
        frames.push(new Uint8Array(0));
        continue;
      }
      // The frame continues in later chunks: its buffer is allocated once, at its final size.
      this.body = Buffer.allocUnsafe(length);
      this.bodyLength = 0;
    }
    return frames;
  }

  /** Drops whatever is held (the connection is being closed). */
  clear(): void {
    this.headerLength = 0;
    this.body = undefined;
    this.bodyLength = 0;
    this.skipping = 0;
  }
}

function readUInt32LE(bytes: Uint8Array, at: number): number {
  return (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16)) + bytes[at + 3] * 0x1000000;
}
