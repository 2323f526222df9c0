import type { Server } from "node:http";
import { STATUS_CODES } from "node:http";
import type { Duplex, Readable } from "node:stream";
import type { Middleware } from "koa";

/**
 * How long and how much of a request the server still reads, and throws away, when it answers before reading it all.
 *
 * A server that answers early (413 for a body over the limit, 431 for a request head over Node's 16 KiB) and then
 * closes with data unread makes the kernel reset the connection (RFC 9112 §9.6 asks servers to close in stages for
 * this reason). A client still writing its request gets "connection reset" and never reads the answer. So, as nginx's
 * lingering close does, the server reads and discards the rest of the request, says `Connection: close`, and closes
 * only then — within these bounds, so a client that never stops sending holds neither the connection nor memory.
 */
export interface LingerLimits {
  /** Milliseconds spent discarding the rest of the request; then the connection closes, whatever is still arriving. */
  ms: number;
  /** Bytes discarded at most; then the connection closes. */
  bytes: number;
}

/**
 * Koa middleware: an answer decided before the request body was read to its end waits until the rest of the body has
 * been discarded (or `limits` are reached), and says `Connection: close`. Draining before answering, not after: Node
 * destroys a `Connection: close` socket as soon as the answer is written, unread data or not.
 */
export function lingeringClose(limits: LingerLimits): Middleware {
  return async function drainUnreadBody(ctx, next) {
    await next();
    if (ctx.req.complete) return;
    ctx.set("Connection", "close");
    await discard(ctx.req, limits);
  };
}

/**
 * Answers requests Node's HTTP parser refuses before any handler sees them (431 for a head over `maxHeaderSize`, 400
 * for a malformed request) with a small JSON body like every other bodiless answer, then drains within `limits`.
 * Node's default writes the status line alone and destroys the socket at once.
 */
export function answerParseErrors(server: Server, limits: LingerLimits): void {
  // A parser that gave up reports every further chunk of the same connection again: answer once.
  const answered = new WeakSet<Duplex>();
  const responding = new WeakMap<Duplex, number>();
  server.on("request", (req, res) => {
    const socket = req.socket;
    responding.set(socket, (responding.get(socket) ?? 0) + 1);
    res.once("close", () => responding.set(socket, (responding.get(socket) ?? 1) - 1));
  });
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (answered.has(socket)) return;
    answered.add(socket);
    const status = statusOf(error);
    // A response already in progress on this connection (pipelining) would be corrupted by a second one.
    if (status === undefined || !socket.writable || (responding.get(socket) ?? 0) > 0) {
      socket.destroy();
      return;
    }
    const body = JSON.stringify({ message: STATUS_CODES[status] });
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nX-Content-Type-Options: nosniff\r\n\r\n${body}`,
    );
    void discard(socket, limits).then((outcome) => {
      if (outcome === "limit") socket.destroy();
    });
  });
}

/** The status Node's own default would answer with; undefined when the client is gone (nothing to answer). */
function statusOf(error: NodeJS.ErrnoException): number | undefined {
  switch (error.code) {
    case "ECONNRESET":
    case "EPIPE":
      return undefined;
    case "HPE_HEADER_OVERFLOW":
      return 431;
    case "HPE_CHUNK_EXTENSIONS_OVERFLOW":
      return 413;
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return 408;
    default:
      return 400;
  }
}

/** Reads and discards `source` until it ends or closes, or until `limits` are reached. */
function discard(source: Readable, limits: LingerLimits): Promise<"ended" | "limit"> {
  return new Promise((resolve) => {
    let discarded = 0;
    const settle = (outcome: "ended" | "limit") => {
      clearTimeout(timer);
      source.off("data", count).off("end", ended).off("close", ended);
      resolve(outcome);
    };
    const ended = () => settle("ended");
    const count = (chunk: Buffer) => {
      discarded += chunk.length;
      if (discarded > limits.bytes) settle("limit");
    };
    const timer = setTimeout(() => settle("limit"), limits.ms);
    source.on("data", count).once("end", ended).once("close", ended);
    source.resume(); // flowing: what arrives after a limit is dropped, never buffered
  });
}
