// The Unix-socket listener Kong connects to, speaking the protocol the server was started for:
// ProtoBuf:1 (protobuf/connection.ts) or MsgPack:1, whose connections are handled here.
// MsgPack:1 request: [0, msgid, "plugin.<Method>", [args...]]; response: [1, msgid, error|nil, result|nil].
// Kong keeps a pool of connections with one request in flight on each, but nothing here relies
// on that: every complete message of a chunk is dispatched, replies carry their msgid, and a
// connection that sends bytes which are not msgpack-RPC is closed without touching the others.
// Nothing a peer sends can end the process: whatever goes wrong while serving a connection
// closes that connection only.
import fs from "node:fs";
import net from "node:net";
import { Encoder } from "@msgpack/msgpack";
import { DEFAULT_MAX_MESSAGE_BYTES, FrameError, MessageReader } from "./framing.js";
import { HeldBuffers, type HoldingConnection } from "./held-buffers.js";
import { errorText, preview, type Logger } from "./logger.js";
import type { PluginServer } from "./plugin-server.js";
import { MSGPACK_PEER_MESSAGE, ProtobufConnection } from "./protobuf/connection.js";
import { DEFAULT_MAX_FRAME_BYTES } from "./protobuf/framing.js";

/**
 * Bytes of incomplete messages held over all connections. Each connection holds at most one
 * message's worth (1 MiB by default); this bounds what many connections hold together.
 */
export const DEFAULT_MAX_BUFFERED_BYTES = 16 * 1024 * 1024;

const REQUEST = 0;
const RESPONSE = 1;

/** Kong's two plugin-server protocols; Kong picks one from the query command's answer. */
export type Protocol = "ProtoBuf:1" | "MsgPack:1";

/** The line a ProtoBuf:1 peer gets logged with by a server started for MsgPack:1. */
export const PROTOBUF_PEER_MESSAGE =
  "Kong speaks ProtoBuf:1 but this server was started for MsgPack:1: give --protocol msgpack to both pluginserver_<name>_start_cmd and pluginserver_<name>_query_cmd, or to neither";

export interface ListenerOptions {
  socketPath: string;
  server: PluginServer;
  logger: Logger;
  /** Default ProtoBuf:1. */
  protocol?: Protocol;
  /**
   * A MsgPack:1 message larger than this closes its connection; a ProtoBuf:1 frame larger than
   * this is skipped unread (default 1 MiB).
   */
  maxMessageBytes?: number;
  /**
   * Over this many bytes of incomplete messages held in all, the connection holding the most is
   * closed (default DEFAULT_MAX_BUFFERED_BYTES).
   */
  maxBufferedBytes?: number;
}

export interface RunningListener {
  readonly socketPath: string;
  /** Bytes of incomplete messages held now, over all connections. */
  readonly bufferedBytes: number;
  /** Kong's connections open now. */
  readonly connections: number;
  close(): Promise<void>;
}

/**
 * Listens on `socketPath`, first removing a socket file left by a killed predecessor (Kong
 * restarts the server after a crash and expects it back at once).
 */
export async function listen(options: ListenerOptions): Promise<RunningListener> {
  const { socketPath, logger } = options;
  removeStaleSocket(socketPath);
  const connections = new Set<{ readonly socket: net.Socket }>();
  const buffers = new HeldBuffers(options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES);
  // Kong retries on every request, so a protocol mismatch would log a line per connection: the
  // first says what is wrong and how to fix it, the rest are the same news.
  let mismatchLogged = false;
  const onPeerMismatch = (message: string) => (): void => {
    if (mismatchLogged) {
      logger.debug(message);
      return;
    }
    mismatchLogged = true;
    logger.error(message);
  };
  const protobuf = (options.protocol ?? "ProtoBuf:1") === "ProtoBuf:1";
  const netServer = net.createServer((socket) => {
    const connection = protobuf
      ? new ProtobufConnection(socket, {
          server: options.server,
          logger,
          buffers,
          maxFrameBytes: options.maxMessageBytes ?? DEFAULT_MAX_FRAME_BYTES,
          onMsgPackPeer: onPeerMismatch(MSGPACK_PEER_MESSAGE),
        })
      : new Connection(socket, options, buffers, onPeerMismatch(PROTOBUF_PEER_MESSAGE));
    connections.add(connection);
    socket.on("close", () => {
      connections.delete(connection);
      buffers.release(connection);
    });
  });
  await new Promise<void>((resolve, reject) => {
    netServer.once("error", reject);
    netServer.listen(socketPath, () => {
      netServer.off("error", reject);
      resolve();
    });
  });
  netServer.on("error", (error) => logger.error(`listener error: ${error.message}`));
  logger.info(`listening on ${socketPath} (${options.protocol ?? "ProtoBuf:1"})`);
  return {
    socketPath,
    get bufferedBytes() {
      return buffers.total;
    },
    get connections() {
      return connections.size;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const connection of connections) connection.socket.destroy();
        // Closing a Unix-socket server unlinks its file.
        netServer.close(() => resolve());
      }),
  };
}

function removeStaleSocket(socketPath: string): void {
  try {
    const stat = fs.lstatSync(socketPath);
    if (!stat.isSocket()) throw new Error(`${socketPath} exists and is not a socket; refusing to remove it`);
    fs.unlinkSync(socketPath);
  } catch (error) {
    if (!(isErrno(error) && error.code === "ENOENT")) throw error;
  }
}

/** One socket Kong connected over MsgPack:1: reads its requests, dispatches them, writes the replies. */
class Connection implements HoldingConnection {
  /** Bytes of its incomplete message counted in HeldBuffers' total. */
  heldBytes = 0;
  private firstChunk = true;
  private readonly reader: MessageReader;
  private readonly encoder = new Encoder();
  private readonly server: PluginServer;
  private readonly logger: Logger;

  constructor(
    readonly socket: net.Socket,
    options: ListenerOptions,
    private readonly buffers: HeldBuffers,
    private readonly onProtobufPeer: () => void,
  ) {
    this.server = options.server;
    this.logger = options.logger;
    this.reader = new MessageReader(options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES);
    socket.on("drain", () => socket.resume());
    // Without a handler a reset by the peer would be an uncaught 'error' event and end the process.
    socket.on("error", (error) => this.logger.debug(`connection error: ${errorText(error)}`));
    socket.on("data", (chunk: Buffer) => {
      try {
        this.receive(chunk);
      } catch (error) {
        // Every known failure is handled below; this one is not known, so its state is not
        // either: the connection goes, the process and every other connection stay.
        this.close(`unexpected failure: ${errorText(error, { stack: true })}`);
      }
    });
  }

  /** Closes this connection only, saying why. */
  close(reason: string): void {
    if (this.socket.destroyed) return;
    this.logger.warn(`closing connection: ${reason}`);
    this.reader.clear();
    this.buffers.release(this);
    this.socket.destroy();
  }

  private receive(chunk: Buffer): void {
    if (this.firstChunk) {
      this.firstChunk = false;
      if (isProtobufFrameStart(chunk)) {
        this.onProtobufPeer();
        this.reader.clear();
        this.socket.destroy();
        return;
      }
    }
    let messages: unknown[];
    try {
      messages = this.reader.push(chunk);
    } catch (error) {
      if (!(error instanceof FrameError)) throw error;
      this.close(error.message);
      return;
    }
    this.buffers.update(this, this.reader.pendingBytes);
    for (const message of messages) {
      // Closed when over the limit of all connections together, or by a request just served.
      if (this.socket.destroyed) return;
      if (!isRequest(message)) {
        this.close(`not a msgpack-RPC request: ${preview(message)}`);
        return;
      }
      this.dispatch(message);
    }
  }

  private dispatch([, msgid, method, args]: Request): void {
    const fail = (error: string): void => this.send([RESPONSE, msgid, error, null], method);
    const dot = method.indexOf(".");
    const namespace = dot < 0 ? method : method.slice(0, dot);
    if (namespace !== "plugin") {
      fail(`RPC for ${namespace} is not supported`);
      return;
    }
    const handler = this.server.method(method.slice(dot + 1));
    if (handler === undefined) {
      fail(`method ${method} not implemented`);
      return;
    }
    const logger = this.logger;
    if (logger.enabled("debug")) logger.debug(`rpc #${msgid} ${method} ${preview(args)}`);
    let result: Promise<unknown>;
    try {
      result = handler(...args);
    } catch (error) {
      fail(errorText(error));
      return;
    }
    result.then(
      (value) => this.send([RESPONSE, msgid, null, value], method),
      (error: unknown) => {
        if (logger.enabled("debug")) logger.debug(`rpc #${msgid} ${method} failed: ${errorText(error)}`);
        fail(errorText(error));
      },
    );
  }

  private send(message: Response, method: string): void {
    const socket = this.socket;
    // Kong may have given up on the connection (timeout, worker exit); the reply has nowhere to go.
    if (socket.destroyed || !socket.writable) return;
    try {
      // Kong reads each reply before it sends the next request on a connection, so replies
      // queue up only for a peer that keeps sending without reading. Stop reading from it until
      // they drain, or its unread replies would grow in this process without bound.
      if (!socket.write(this.encode(message, method))) socket.pause();
    } catch (error) {
      // Closing tells Kong at once, where a lost reply would leave it waiting for its timeout.
      this.close(`cannot send the reply to ${method}: ${errorText(error)}`);
    }
  }

  private encode(message: Response, method: string): Uint8Array {
    try {
      return this.encoder.encode(message);
    } catch (error) {
      // What a plugin hands a PDK call travels in the reply (a BigInt, a cycle): answer the RPC
      // with an error now, or Kong waits for a reply until its socket timeout.
      // Kong stops the event on that error and sends no further Step, so the event is over too.
      const reason = `reply cannot be encoded: ${errorText(error)}`;
      this.logger.error(`${method}: ${reason}`);
      const reply = message[3];
      if (typeof reply === "object" && reply !== null && "EventId" in reply && typeof reply.EventId === "number")
        this.server.forgetEvent(reply.EventId);
      return this.encoder.encode([RESPONSE, message[1], reason, null]);
    }
  }
}

type Request = [typeof REQUEST, number, string, unknown[]];
type Response = [typeof RESPONSE, number, string | null, unknown];

function isRequest(message: unknown): message is Request {
  return (
    Array.isArray(message) &&
    message.length === 4 &&
    message[0] === REQUEST &&
    typeof message[1] === "number" &&
    typeof message[2] === "string" &&
    Array.isArray(message[3])
  );
}

/**
 * Whether a connection's first bytes are a ProtoBuf:1 frame: a 4-byte little-endian length
 * within the frame limit, then (when it came in the same read) an RpcCall, whose first field is
 * its sequence (tag 0x08). A msgpack-RPC request's first 4 bytes never read as such a length:
 * its fourth byte is the method name's str tag (0xa0 and up), which makes gigabytes.
 */
function isProtobufFrameStart(chunk: Buffer): boolean {
  if (chunk.length < 4) return false;
  const length = chunk.readUInt32LE(0);
  return length > 0 && length <= DEFAULT_MAX_FRAME_BYTES && (chunk.length === 4 || chunk[4] === 0x08);
}

function isErrno(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && "code" in error;
}
