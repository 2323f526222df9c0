// Oversized requests get their answer. A server that answers 413 (a body over the limit) or 431 (a request head over
// Node's 16 KiB) while the client is still sending, and then closes with the rest unread, makes the kernel reset the
// connection: a client that writes its whole request before reading sees "connection reset" instead of the status.
// The server reads and discards the rest for a bounded time and size before it closes (nginx's "lingering close").
import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { startTestServer, type TestServer } from "../helpers.ts";

interface Exchange {
  /** The raw response bytes read once everything was written (or the server closed). */
  response: string;
  /** A socket error (ECONNRESET, EPIPE), if any. */
  error: string | undefined;
  /** Body bytes the client managed to write. */
  sent: number;
  /** Milliseconds from the first byte written until the server closed the connection. */
  closedAfter: number;
}

/**
 * Writes `head`, then up to `bodyBytes` in 64 KiB chunks, each awaited (pausing `pauseMs` between them), and reads
 * nothing until it has written everything or the server has closed: a client that writes its request before reading.
 * Gives up writing after `maxMs`. Then reads until the connection closes.
 */
async function writeThenRead(
  port: number,
  head: string,
  options: { bodyBytes: number; pauseMs?: number; maxMs?: number },
): Promise<Exchange> {
  const started = Date.now();
  const socket = connect(port, "127.0.0.1");
  socket.pause();
  let error: string | undefined;
  let closedAt: number | undefined;
  socket.on("error", (e: NodeJS.ErrnoException) => (error ??= e.code ?? e.message));
  const closed = new Promise<void>((resolve) =>
    socket.once("close", () => {
      closedAt = Date.now();
      resolve();
    }),
  );
  const write = (data: string | Buffer) =>
    new Promise<void>((resolve, reject) => socket.write(data, (e) => (e ? reject(e) : resolve())));
  const chunk = Buffer.alloc(64 * 1024, "a");
  let sent = 0;
  try {
    await write(head);
    while (sent < options.bodyBytes && closedAt === undefined && Date.now() - started < (options.maxMs ?? 10_000)) {
      await write(chunk.subarray(0, Math.min(chunk.length, options.bodyBytes - sent)));
      sent += Math.min(chunk.length, options.bodyBytes - sent);
      if (options.pauseMs !== undefined) await sleep(options.pauseMs);
    }
  } catch {
    // the error event says which
  }
  const chunks: Buffer[] = [];
  socket.on("data", (data: Buffer) => chunks.push(data));
  socket.resume();
  const timer = setTimeout(() => socket.destroy(), 10_000);
  await closed;
  clearTimeout(timer);
  return {
    response: Buffer.concat(chunks).toString("utf8"),
    error,
    sent,
    closedAfter: (closedAt ?? Date.now()) - started,
  };
}

/** Status line, lower-cased header names, body. */
function parse(response: string): { statusLine: string; headers: Map<string, string>; body: string } {
  const end = response.indexOf("\r\n\r\n");
  assert.ok(end > 0, `no complete response head in ${JSON.stringify(response.slice(0, 200))}`);
  const [statusLine = "", ...lines] = response.slice(0, end).split("\r\n");
  const headers = new Map(
    lines.map((line) => [line.slice(0, line.indexOf(":")).toLowerCase(), line.slice(line.indexOf(":") + 1).trim()]),
  );
  return { statusLine, headers, body: response.slice(end + 4) };
}

const formHead = (path: string, length: number) =>
  `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${length}\r\n\r\n`;

const MiB = 1024 * 1024;

describe("oversized requests", () => {
  let server: TestServer;
  let port: number;
  const linger = { ms: 500, bytes: 4 * MiB };

  before(async () => {
    server = await startTestServer({ linger });
    port = server.running.port;
  });
  after(() => server.close());

  it("a 2 MB body at the token endpoint: the whole 413 reaches a client that writes everything before reading", async () => {
    // At loopback speed, and paced like a network (32 writes 5 ms apart), within the time bound.
    for (const pauseMs of [undefined, 5]) {
      const exchange = await writeThenRead(port, formHead("/token", 2 * MiB), {
        bodyBytes: 2 * MiB,
        ...(pauseMs && { pauseMs }),
      });
      assert.equal(exchange.error, undefined);
      assert.equal(exchange.sent, 2 * MiB);
      const { statusLine, headers, body } = parse(exchange.response);
      assert.equal(statusLine, "HTTP/1.1 413 Payload Too Large");
      assert.equal(headers.get("connection"), "close");
      assert.deepEqual(JSON.parse(body), {
        error: "invalid_request",
        error_description: "the request body exceeds 16384 bytes",
      });
    }
  });

  it("a 2 MB form at the login page: the 413 page arrives, not a reset", async () => {
    const exchange = await writeThenRead(port, formHead("/login", 2 * MiB), { bodyBytes: 2 * MiB });
    assert.equal(exchange.error, undefined);
    const { statusLine, headers } = parse(exchange.response);
    assert.equal(statusLine, "HTTP/1.1 413 Payload Too Large");
    assert.equal(headers.get("connection"), "close");
  });

  it("a 100 KB query at /authorize: 431 with a JSON body reaches the client", async () => {
    const exchange = await writeThenRead(
      port,
      `GET /authorize?state=${"a".repeat(100_000)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`,
      {
        bodyBytes: 0,
      },
    );
    assert.equal(exchange.error, undefined);
    const { statusLine, headers, body } = parse(exchange.response);
    assert.equal(statusLine, "HTTP/1.1 431 Request Header Fields Too Large");
    assert.equal(headers.get("connection"), "close");
    assert.equal(headers.get("content-type"), "application/json; charset=utf-8");
    assert.deepEqual(JSON.parse(body), { message: "Request Header Fields Too Large" });
  });

  it("a request Node's parser cannot read at all: 400 with a JSON body", async () => {
    const exchange = await writeThenRead(port, "NOT HTTP AT ALL\r\n\r\n", { bodyBytes: 0 });
    assert.equal(exchange.error, undefined);
    const { statusLine, headers, body } = parse(exchange.response);
    assert.equal(statusLine, "HTTP/1.1 400 Bad Request");
    assert.equal(headers.get("connection"), "close");
    assert.deepEqual(JSON.parse(body), { message: "Bad Request" });
  });

  it("a client that never stops sending is cut off once the server has discarded its byte bound", async () => {
    const exchange = await writeThenRead(port, formHead("/token", 1024 * MiB), { bodyBytes: 1024 * MiB });
    assert.ok(exchange.closedAfter < 5_000, `closed after ${exchange.closedAfter} ms`);
    // The byte bound, plus what the two kernels' socket buffers hold on loopback.
    assert.ok(exchange.sent < linger.bytes + 32 * MiB, `sent ${exchange.sent} bytes`);
  });

  it("a client that trickles its body forever is cut off after the time bound", async () => {
    for (const head of [
      formHead("/token", 1024 * MiB),
      `GET /authorize?state=${"a".repeat(100_000)} HTTP/1.1\r\nX-Trickle: `,
    ]) {
      const exchange = await writeThenRead(port, head, { bodyBytes: 1024 * MiB, pauseMs: 50, maxMs: 5_000 });
      assert.ok(
        exchange.closedAfter >= linger.ms && exchange.closedAfter < linger.ms + 2_000,
        `${head.slice(0, 20)}: closed after ${exchange.closedAfter} ms`,
      );
    }
  });

  it("a body read to its end keeps the connection open for the next request", async () => {
    const response = await fetch(`${server.url}/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "grant_type=client_credentials",
    });
    assert.equal(response.status, 401);
    assert.equal(response.headers.get("connection"), "keep-alive");
    assert.equal((await fetch(`${server.url}/livez`)).headers.get("connection"), "keep-alive");
  });
});
