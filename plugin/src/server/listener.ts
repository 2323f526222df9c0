// The Unix-socket msgpack-RPC listener Kong connects to.
// Request: [0, msgid, "plugin.<Method>", [args...]]; response: [1, msgid, error|nil, result|nil].
// Kong keeps a pool of connections with one request in flight on each, but nothing here relies
// on that: every complete message of a chunk is dispatched, replies carry their msgid, and a
// connection that sends bytes which are not msgpack-RPC is closed without touching the others.
import fs = require("node:fs");
import net = require("node:net");
import { Encoder } from "@msgpack/msgpack";
import { FrameError, MessageReader } from "./framing.js";
import type { Logger } from "./logger.js";
import type { PluginServer } from "./plugin-server.js";

const REQUEST = 0;
const RESPONSE = 1;

export interface ListenerOptions {
  socketPath: string;
  server: PluginServer;
  logger: Logger;
}

export interface RunningListener {
  readonly socketPath: string;
  close(): Promise<void>;
}

/**
 * Listens on `socketPath`, first removing a socket file left by a killed predecessor (Kong
 * restarts the server after a crash and expects it back at once).
 */
export async function listen({ socketPath, server, logger }: ListenerOptions): Promise<RunningListener> {
  removeStaleSocket(socketPath);
  const connections = new Set<net.Socket>();
  const netServer = net.createServer((socket) => {
    connections.add(socket);
    socket.on("close", () => connections.delete(socket));
    serveConnection(socket, server, logger);
  });
  await new Promise<void>((resolve, reject) => {
    netServer.once("error", reject);
    netServer.listen(socketPath, () => {
      netServer.off("error", reject);
      resolve();
    });
  });
  netServer.on("error", (error) => logger.error(`listener error: ${error.message}`));
  logger.info(`listening on ${socketPath}`);
  return {
    socketPath,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of connections) socket.destroy();
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

function serveConnection(socket: net.Socket, server: PluginServer, logger: Logger): void {
  const reader = new MessageReader();
  const encoder = new Encoder();
  const send = (message: Response, method: string): void => {
    // Kong may have given up on the connection (timeout, worker exit); the reply has nowhere to go.
    if (socket.destroyed || !socket.writable) return;
    let bytes: Uint8Array;
    try {
      bytes = encoder.encode(message);
    } catch (error) {
      // What a plugin hands a PDK call travels in the reply (a BigInt, a cycle): answer the RPC
      // with an error now, or Kong waits for a reply until its socket timeout.
      // Kong stops the event on that error and sends no further Step, so the event is over too.
      const reason = `reply cannot be encoded: ${errorText(error)}`;
      logger.error(`${method}: ${reason}`);
      const reply = message[3];
      if (typeof reply === "object" && reply !== null && "EventId" in reply && typeof reply.EventId === "number") server.forgetEvent(reply.EventId);
      bytes = encoder.encode([RESPONSE, message[1], reason, null]);
    }
    // Kong reads each reply before it sends the next request on a connection, so replies queue
    // up only for a peer that keeps sending without reading. Stop reading from it until they
    // drain, or its unread replies would grow in this process without bound.
    if (!socket.write(bytes)) socket.pause();
  };
  socket.on("drain", () => socket.resume());

  // Without a handler a reset by the peer would be an uncaught 'error' event and end the process.
  socket.on("error", (error) => logger.debug(`connection error: ${error.message}`));
  socket.on("data", (chunk: Buffer) => {
    let messages: unknown[];
    try {
      messages = reader.push(chunk);
    } catch (error) {
      logger.warn(`closing connection: ${error instanceof FrameError ? error.message : String(error)}`);
      socket.destroy();
      return;
    }
    for (const message of messages) {
      if (!isRequest(message)) {
        logger.warn(`closing connection: not a msgpack-RPC request: ${preview(message)}`);
        socket.destroy();
        return;
      }
      dispatch(message, server, logger, send);
    }
  });
}

type Request = [typeof REQUEST, number, string, unknown[]];
type Response = [typeof RESPONSE, number, string | null, unknown];
type Send = (message: Response, method: string) => void;

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

function dispatch([, msgid, method, args]: Request, server: PluginServer, logger: Logger, send: Send): void {
  const fail = (error: string): void => send([RESPONSE, msgid, error, null], method);
  const dot = method.indexOf(".");
  const namespace = dot < 0 ? method : method.slice(0, dot);
  if (namespace !== "plugin") {
    fail(`RPC for ${namespace} is not supported`);
    return;
  }
  const handler = server.method(method.slice(dot + 1));
  if (handler === undefined) {
    fail(`method ${method} not implemented`);
    return;
  }
  if (logger.enabled("debug")) logger.debug(`rpc #${msgid} ${method} ${preview(args)}`);
  let result: Promise<unknown>;
  try {
    result = handler(...args);
  } catch (error) {
    fail(errorText(error));
    return;
  }
  result.then(
    (value) => send([RESPONSE, msgid, null, value], method),
    (error: unknown) => {
      if (logger.enabled("debug")) logger.debug(`rpc #${msgid} ${method} failed: ${errorText(error)}`);
      fail(errorText(error));
    },
  );
}

function errorText(error: unknown): string {
  if (typeof error === "string") return error;
  if (error instanceof Error) return error.message;
  return String(error);
}

function preview(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

function isErrno(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && "code" in error;
}
