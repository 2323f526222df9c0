// Shared by the plugin-server tests: fixture paths and a raw socket client that writes exactly
// the bytes it is given, in the chunks it is given.
import net from "node:net";
import { fileURLToPath } from "node:url";
import { MessageReader } from "../../../kong-standin/src/wire/index.js";

export const FIXTURES = fileURLToPath(new URL("../../fixtures/plugins/", import.meta.url));
export const fixture = (name: string): string => `${FIXTURES}${name}`;

export interface RawClient {
  readonly socket: net.Socket;
  /** Resolves once the server closed the connection (or it failed). */
  readonly closed: Promise<void>;
  write(bytes: Uint8Array): Promise<void>;
  /** Waits for `count` messages in total from the server, at most `timeoutMs`. */
  replies(count: number, timeoutMs?: number): Promise<unknown[]>;
  close(): void;
}

export async function connectRaw(socketPath: string): Promise<RawClient> {
  const socket = net.createConnection(socketPath);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const reader = new MessageReader();
  const received: unknown[] = [];
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
    write: (bytes) => new Promise<void>((resolve, reject) => socket.write(bytes, (error) => (error ? reject(error) : resolve()))),
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
