// One Unix-socket connection to a ProtoBuf:1 plugin server, used as Kong's pb_rpc.lua uses an
// ngx cosocket: whole frames written, whole frames read, each read with its own timeout.
//
// Failures carry the words an ngx cosocket gives, because Kong's handle_event decides on them:
// "closed" when the server ended the connection (Kong resets the instance and retries), "timeout"
// when a read waited longer than the socket's read timeout, and the system's message otherwise
// ("connection refused", "no such file or directory", "connection reset by peer", ...).
import net from "node:net";
import { encodeFrame, FrameReader, OversizedFrame } from "oauth2-jwt/protobuf";
import type { ByteCounts } from "../connection.js";

/** A cosocket operation that did not complete; `reason` is what ngx would return as `err`. */
export class CosocketError extends Error {
  override readonly name = "CosocketError";
  constructor(readonly reason: string) {
    super(reason);
  }
}

interface PendingRead {
  readonly resolve: (frame: Uint8Array) => void;
  readonly reject: (error: CosocketError) => void;
  readonly timer: NodeJS.Timeout;
}

// The reasons nginx reports for these errno values (strerror, lower-cased as ngx_lua does).
const ERRNO_REASONS: Readonly<Record<string, string>> = {
  ECONNREFUSED: "connection refused",
  ENOENT: "no such file or directory",
  ECONNRESET: "connection reset by peer",
  EPIPE: "broken pipe",
  EACCES: "permission denied",
};

function reasonOf(error: NodeJS.ErrnoException): string {
  return (error.code !== undefined ? ERRNO_REASONS[error.code] : undefined) ?? error.message;
}

export class FrameSocket {
  private readonly reader = new FrameReader();
  private readonly frames: Uint8Array[] = [];
  private pending: PendingRead | undefined;
  /** Why the connection ended, once it has. */
  private ended: CosocketError | undefined;
  private parked = false;

  private constructor(
    private readonly socket: net.Socket,
    private readonly counters: ByteCounts,
  ) {
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (error: NodeJS.ErrnoException) => this.end(new CosocketError(reasonOf(error))));
    socket.on("end", () => this.end(new CosocketError("closed")));
    socket.on("close", () => this.end(new CosocketError("closed")));
  }

  /** `ngx.socket.connect("unix:" .. path)`, failing after `timeoutMs` like lua_socket_connect_timeout. */
  static connect(path: string, timeoutMs: number, counters: ByteCounts): Promise<FrameSocket> {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection(path);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new CosocketError("timeout"));
      }, timeoutMs);
      socket.once("connect", () => {
        clearTimeout(timer);
        socket.off("error", onError);
        resolve(new FrameSocket(socket, counters));
      });
      const onError = (error: NodeJS.ErrnoException): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(new CosocketError(reasonOf(error)));
      };
      socket.once("error", onError);
    });
  }

  /** False once the server closed the connection or an operation failed on it. */
  get usable(): boolean {
    return this.ended === undefined;
  }

  /** Whether bytes the server sent are still unread (setkeepalive refuses such a connection). */
  get holdsUnreadData(): boolean {
    return this.frames.length > 0 || this.reader.pendingBytes > 0;
  }

  /** Writes one frame (4-byte little-endian length, then the message). */
  writeFrame(message: Uint8Array): void {
    if (this.ended !== undefined) throw this.ended;
    const bytes = encodeFrame(message);
    this.counters.bytesSent += bytes.length;
    this.socket.write(bytes);
  }

  /** Reads the next frame; rejects with "timeout" when none is complete within `timeoutMs`. */
  readFrame(timeoutMs: number): Promise<Uint8Array> {
    const ready = this.frames.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    if (this.ended !== undefined) return Promise.reject(this.ended);
    if (this.pending !== undefined) return Promise.reject(new Error("FrameSocket: one read at a time"));
    this.socket.resume();
    return new Promise<Uint8Array>((resolve, reject) => {
      // A read that timed out leaves the connection unusable for Kong (the request ends with 500).
      const timer = setTimeout(() => this.fail(new CosocketError("timeout")), timeoutMs);
      this.pending = { resolve, reject, timer };
    });
  }

  /** Between events, in the keepalive pool: the process may exit while it waits there. */
  park(): void {
    this.parked = true;
    this.socket.unref();
  }

  unpark(): void {
    this.parked = false;
    this.socket.ref();
  }

  /** Drops the connection (what nginx does with a cosocket its request no longer holds). */
  destroy(): void {
    this.fail(new CosocketError("closed"));
  }

  private onData(chunk: Buffer): void {
    this.counters.bytesReceived += chunk.length;
    // nginx closes a pooled connection that receives anything while idle.
    if (this.parked) {
      this.fail(new CosocketError("closed"));
      return;
    }
    for (const received of this.reader.push(chunk)) {
      // Kong reads any length it is told; the harness holds at most the plugin server's own
      // frame limit, so that a broken server cannot make a test hold gigabytes.
      if (received instanceof OversizedFrame) {
        this.fail(new CosocketError(`frame of ${received.length} bytes is over the stand-in's limit`));
        return;
      }
      const pending = this.pending;
      if (pending === undefined) {
        this.frames.push(received);
        continue;
      }
      this.pending = undefined;
      clearTimeout(pending.timer);
      pending.resolve(received);
    }
    // Like a cosocket, read no further than asked: frames sent ahead wait in the socket, so a
    // server that floods the connection holds at most one chunk's frames here.
    if (this.frames.length > 0) this.socket.pause();
  }

  private fail(reason: CosocketError): void {
    this.end(reason);
    this.socket.destroy();
  }

  /** Frames already complete stay readable; a read still waiting gets the reason. */
  private end(reason: CosocketError): void {
    this.ended ??= reason;
    const pending = this.pending;
    if (pending === undefined) return;
    this.pending = undefined;
    clearTimeout(pending.timer);
    pending.reject(this.ended);
  }
}
