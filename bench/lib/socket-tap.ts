// Counts, and on demand records, the bytes Kong's side of the plugin-server socket writes and
// reads, without changing the wire harness: the harness opens its connections with
// `net.createConnection(path)` (or `net.connect`), so wrapping those two functions for the watched
// socket paths sees every connection it makes, whatever protocol it speaks over them. Each
// matching socket gets its `write` wrapped (what Kong sends) and its `emit("data")` (what Kong
// receives, in flowing or paused mode alike, without changing either).
import net from "node:net";
import { syncBuiltinESMExports } from "node:module";

/** Bytes on the socket as seen from Kong's side. */
export interface Traffic {
  /** Kong → plugin server. */
  sent: number;
  /** Plugin server → Kong. */
  received: number;
  /** Connections opened (Kong's ProtoBuf:1 drops one whenever a request ends inside a PDK call). */
  connections: number;
}

/** One recorded chunk, in the order the harness wrote or received it. */
export interface RecordedChunk {
  direction: "sent" | "received";
  bytes: Buffer;
}

export interface SocketTap {
  /** Starts counting the connections the harness opens to this socket path from now on. */
  watch(socketPath: string): void;
  /** Bytes counted so far over every watched connection. */
  totals(): Traffic;
  /** Runs `fn` while keeping every chunk each way; meant for one request at a time. */
  record<T>(fn: () => Promise<T>): Promise<{ result: T; chunks: RecordedChunk[] }>;
  /** Puts `net.createConnection` and `net.connect` back. */
  dispose(): void;
}

type Connect = typeof net.createConnection;

/** The socket path a `createConnection` call names, if it names one (not a TCP port). */
function pathOf(args: unknown[]): string | undefined {
  const first = args[0];
  if (typeof first === "string") return first;
  if (typeof first === "object" && first !== null && "path" in first && typeof first.path === "string")
    return first.path;
  return undefined;
}

function toBuffer(chunk: unknown, encoding?: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  return Buffer.from(String(chunk), typeof encoding === "string" ? (encoding as BufferEncoding) : "utf8");
}

/** Installs the tap; only one at a time (a second would count every byte twice). */
export function installSocketTap(): SocketTap {
  const originalCreate: Connect = net.createConnection;
  const originalConnect: Connect = net.connect;
  if ((originalCreate as { tapped?: boolean }).tapped) throw new Error("a socket tap is already installed");
  const watched = new Set<string>();
  const totals: Traffic = { sent: 0, received: 0, connections: 0 };
  let recording: RecordedChunk[] | undefined;

  const count = (direction: "sent" | "received", bytes: Buffer): void => {
    totals[direction] += bytes.length;
    // A copy: the harness may reuse or slice the buffer it wrote.
    recording?.push({ direction, bytes: Buffer.from(bytes) });
  };

  const tapSocket = (socket: net.Socket): void => {
    totals.connections++;
    const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
    socket.write = (chunk: unknown, ...rest: unknown[]): boolean => {
      count("sent", toBuffer(chunk, rest[0]));
      return write(chunk, ...rest);
    };
    const emit = socket.emit.bind(socket) as (event: string | symbol, ...args: unknown[]) => boolean;
    socket.emit = ((event: string | symbol, ...args: unknown[]): boolean => {
      if (event === "data") count("received", toBuffer(args[0]));
      return emit(event, ...args);
    }) as typeof socket.emit;
  };

  const tapped = function (this: unknown, ...args: unknown[]): net.Socket {
    const socket = (originalCreate as (...args: unknown[]) => net.Socket).apply(this, args);
    const socketPath = pathOf(args);
    if (socketPath !== undefined && watched.has(socketPath)) tapSocket(socket);
    return socket;
  } as Connect;
  (tapped as { tapped?: boolean }).tapped = true;
  net.createConnection = tapped;
  net.connect = tapped;
  // Modules that imported `{ createConnection }` by name see the wrapped function too.
  syncBuiltinESMExports();

  return {
    watch: (socketPath) => void watched.add(socketPath),
    totals: () => ({ ...totals }),
    async record(fn) {
      if (recording !== undefined) throw new Error("already recording");
      const chunks: RecordedChunk[] = [];
      recording = chunks;
      try {
        return { result: await fn(), chunks };
      } finally {
        recording = undefined;
      }
    },
    dispose() {
      net.createConnection = originalCreate;
      net.connect = originalConnect;
      syncBuiltinESMExports();
    },
  };
}

/** The recorded bytes of one direction, concatenated in order. */
export function joinDirection(chunks: RecordedChunk[], direction: RecordedChunk["direction"]): Buffer {
  return Buffer.concat(chunks.filter((c) => c.direction === direction).map((c) => c.bytes));
}
