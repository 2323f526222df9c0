// One Unix-socket connection to the plugin server, used as Kong uses each pooled cosocket:
// one msgpack-RPC request in flight, `[0, msgid, method, [args]]` → `[1, msgid, error, result]`.
import net from "node:net";
import { Encoder } from "@msgpack/msgpack";
import { RpcRemoteError, RpcTransportError } from "./errors.js";
// The plugin server's own reader: any chunking, a length cap, `__proto__` keys kept as plain keys.
import { MessageReader } from "oauth2-jwt/framing";

/** Bytes written to and read from the plugin server, shared by the connections of one harness. */
export interface ByteCounts {
  bytesSent: number;
  bytesReceived: number;
}

interface InFlight {
  readonly msgid: number;
  readonly method: string;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export class RpcConnection {
  private socket: net.Socket | undefined;
  private connecting: Promise<net.Socket> | undefined;
  private reader = new MessageReader();
  private readonly encoder = new Encoder();
  private inFlight: InFlight | undefined;
  private nextMsgid = 0;

  constructor(
    private readonly socketPath: string,
    private readonly timeoutMs: number,
    private readonly bytes: ByteCounts,
  ) {}

  get busy(): boolean {
    return this.inFlight !== undefined;
  }

  /** Sends one request and resolves with its result; rejects with RpcRemoteError or RpcTransportError. */
  async call(method: string, args: unknown[]): Promise<unknown> {
    if (this.inFlight !== undefined) throw new Error("RpcConnection: one request in flight per connection");
    const socket = await this.connect(method);
    const msgid = ++this.nextMsgid;
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(new RpcTransportError(method, `no reply within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.inFlight = { msgid, method, resolve, reject, timer };
      const request = this.encoder.encode([0, msgid, method, args]);
      this.bytes.bytesSent += request.length;
      socket.write(request);
    });
  }

  close(): void {
    this.fail(new RpcTransportError(this.inFlight?.method ?? "close", "connection closed by the harness"));
  }

  private async connect(method: string): Promise<net.Socket> {
    if (this.socket !== undefined) return this.socket;
    this.connecting ??= new Promise<net.Socket>((resolve, reject) => {
      const socket = net.createConnection(this.socketPath);
      socket.once("connect", () => {
        socket.off("error", onError);
        socket.on("error", (error) => this.fail(new RpcTransportError(this.inFlight?.method ?? method, error.message)));
        socket.on("close", () =>
          this.fail(new RpcTransportError(this.inFlight?.method ?? method, "connection closed by the plugin server")),
        );
        socket.on("data", (chunk: Buffer) => this.onData(chunk));
        this.socket = socket;
        resolve(socket);
      });
      const onError = (error: Error): void => {
        socket.destroy();
        reject(new RpcTransportError(method, `cannot connect to ${this.socketPath}: ${error.message}`));
      };
      socket.once("error", onError);
    }).finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private onData(chunk: Buffer): void {
    this.bytes.bytesReceived += chunk.length;
    let messages: unknown[];
    try {
      messages = this.reader.push(chunk);
    } catch (error) {
      this.fail(
        new RpcTransportError(this.inFlight?.method ?? "read", error instanceof Error ? error.message : String(error)),
      );
      return;
    }
    for (const message of messages) {
      const current = this.inFlight;
      // Kong asserts the same (mp_rpc.lua Rpc:call); notifications [2, label, args] are skipped.
      if (Array.isArray(message) && message[0] === 2) continue;
      if (current === undefined || !Array.isArray(message) || message[0] !== 1 || message[1] !== current.msgid) {
        this.fail(
          new RpcTransportError(
            current?.method ?? "read",
            `unexpected message from plugin server: ${JSON.stringify(message)}`,
          ),
        );
        return;
      }
      clearTimeout(current.timer);
      this.inFlight = undefined;
      const [, , error, result] = message as [number, number, unknown, unknown];
      if (error !== null && error !== undefined)
        current.reject(new RpcRemoteError(current.method, typeof error === "string" ? error : JSON.stringify(error)));
      else current.resolve(result);
    }
  }

  /** Drops the connection (the next call reconnects) and fails the request in flight, if any. */
  private fail(error: RpcTransportError): void {
    const socket = this.socket;
    this.socket = undefined;
    this.reader = new MessageReader();
    socket?.destroy();
    const current = this.inFlight;
    this.inFlight = undefined;
    if (current !== undefined) {
      clearTimeout(current.timer);
      current.reject(error);
    }
  }
}
