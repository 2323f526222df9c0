// Kong's side of the socket reads replies with lua-MessagePack's streaming unpacker fed by
// `receiveany(4096)`: a reply may arrive in pieces. This reader keeps the undecoded tail and
// yields every complete message, with @msgpack/msgpack's synchronous Decoder.
import { DataViewIndexOutOfBoundsError, Decoder } from "@msgpack/msgpack";

export class FrameError extends Error {
  override readonly name = "FrameError";
}

// `decodeMulti` pauses at each `yield` with the decoder's (TypeScript-private) `pos` just past
// the message it returned; checked once at load so a library change fails loudly.
function positionOf(decoder: Decoder): number {
  const pos = (decoder as unknown as { readonly pos: unknown }).pos;
  if (typeof pos !== "number") throw new Error("@msgpack/msgpack Decoder no longer exposes its read position");
  return pos;
}

{
  const probe = new Decoder();
  const ends: number[] = [];
  try {
    for (const _ of probe.decodeMulti(Uint8Array.of(0x01, 0x92, 0x02, 0x03, 0xa1))) ends.push(positionOf(probe));
  } catch (error) {
    if (!(error instanceof DataViewIndexOutOfBoundsError)) throw error;
  }
  if (ends.join() !== "1,4") throw new Error(`@msgpack/msgpack Decoder positions changed (${ends.join()})`);
}

export class MessageReader {
  private readonly decoder = new Decoder();
  private pending: Buffer | undefined;

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
      if (!(error instanceof DataViewIndexOutOfBoundsError)) {
        this.pending = undefined;
        throw new FrameError(`malformed MessagePack from plugin server: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    this.pending = consumed === data.length ? undefined : Buffer.from(data.subarray(consumed));
    return messages;
  }
}
