// Shared by the plugin-server tests: fixture paths, and raw socket clients that write exactly
// the bytes they are given, in the chunks they are given, and read MessagePack messages
// (MsgPack:1) or length-prefixed frames (ProtoBuf:1).
import net from "node:net";
import { fileURLToPath } from "node:url";
import { FrameReader, type Frame } from "../../../plugin/src/server/protobuf/index.ts";
import { MessageReader } from "../../../kong-standin/src/wire/index.ts";

export const FIXTURES = fileURLToPath(new URL("../../fixtures/plugins/", import.meta.url));
export const fixture = (name: string): string => `${FIXTURES}${name}`;

/** The server's flag for MsgPack:1 (ProtoBuf:1 is its default), for the query and start commands alike. */
export const MSGPACK = ["--protocol", "msgpack"];

export interface RawClient<T = unknown> {
  readonly socket: net.Socket;
  /** Resolves once the server closed the connection (or it failed). */
  readonly closed: Promise<void>;
  write(bytes: Uint8Array): Promise<void>;
  /** Waits for `count` messages in total from the server, at most `timeoutMs`. */
  replies(count: number, timeoutMs?: number): Promise<T[]>;
  close(): void;
}

/** A MsgPack:1 client: replies are decoded MessagePack messages. */
export function connectRaw(socketPath: string): Promise<RawClient> {
  return connect(socketPath, new MessageReader());
}

/** A ProtoBuf:1 client: replies are frames (their bytes, or OversizedFrame). */
export function connectFrames(socketPath: string): Promise<RawClient<Frame>> {
  return connect(socketPath, new FrameReader());
}

async function connect<T>(socketPath: string, reader: { push(chunk: Buffer): T[] }): Promise<RawClient<T>> {
  const socket = net.createConnection(socketPath);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const received: T[] = [];
  let wake: (() => void) | undefined;
  socket.on("data", (chunk: Buffer) => {
    received.push(...reader.push(chunk));
    wake?.();
  });
  const closed = new Promise<void>((resolve) => {
    socket.once("close", () => {
      wake?.();
      resolve();
    });
  });
  socket.on("error", () => undefined);
  return {
    socket,
    closed,
    write: (bytes) =>
      new Promise<void>((resolve, reject) => socket.write(bytes, (error) => (error ? reject(error) : resolve()))),
    async replies(count, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (received.length < count) {
        if (socket.destroyed) throw new Error(`connection closed after ${received.length} of ${count} replies`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`only ${received.length} of ${count} replies within ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
      }
      return received.splice(0, count);
    },
    close: () => socket.destroy(),
  };
}

/** Lets the event loop run so that separate writes reach the server as separate reads. */
export const pause = (ms = 1): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves with `promise`, or rejects with `message` after `ms` (the timer never outlives it). */
export async function within<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
