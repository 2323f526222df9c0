// Kong's side of the ProtoBuf:1 plugin-server protocol (kong/runloop/plugin_servers/rpc/pb_rpc.lua,
// Kong 3.9), the `Rpc` object of one plugin:
//  - each call takes a connection from the worker's keepalive pool (or connects), sends one
//    RpcCall frame with an increasing sequence, and, for an event, answers the PDK calls the
//    server makes on that same connection (a method-name frame, then an argument frame; the reply
//    is one frame) until an empty method-name frame, then reads the RpcReturn frame;
//  - a connection goes back to the pool only after a complete call (`c:setkeepalive()`); one
//    that failed, or whose request ended inside a PDK call, is dropped;
//  - failures come back the two ways pb_rpc.lua has: `return nil, err` (CallFailure, which
//    handle_event reads) or a Lua error raised by an `assert` (RaisedError, a 500 at once).
import type { RpcCounters } from "../plugin-server-process.js";
import { CosocketError, FrameSocket } from "./frame-socket.js";
import { decodeRpcReturn, encodeRpcCall, type RpcCall, type RpcReturn } from "oauth2-jwt/protobuf";

/** `return nil, err` from Rpc:call: handle_event matches `err` against "closed"/"no plugin instance". */
export class CallFailure extends Error {
  override readonly name = "CallFailure";
  constructor(readonly err: string) {
    super(err);
  }
}

/** A Lua error raised during the call (pb_rpc.lua asserts): Kong answers the request with 500. */
export class RaisedError extends Error {
  override readonly name = "RaisedError";
}

/** How the PDK answers one call from the server during an event. */
export type PdkReply =
  /** The reply frame (empty for Empty or nil). */
  | { kind: "reply"; message: Uint8Array }
  /** The call ended the request (kong.response.exit): Kong never answers it. */
  | { kind: "ended" }
  /** call_pdk's `return nil, err` (an unknown method). */
  | { kind: "failed"; err: string };

export type PdkHandler = (method: string, args: Uint8Array) => PdkReply;

/** One command of an RpcCall (`{ cmd_handle_event = {...} }`); the sequence is the Rpc's. */
export type RpcCommand = Omit<RpcCall, "sequence">;

export type CallOutcome = { kind: "returned"; value: RpcReturn } | { kind: "ended" };

export interface ProtobufRpcOptions {
  socketPath: string;
  /** Kong's cosocket timeouts (connect, each read): nginx's lua_socket_*_timeout, 60 s unless set. */
  timeoutMs: number;
  /** Kong's `lua_socket_pool_size` (256 in Kong's nginx template): idle connections kept. */
  poolSize?: number;
  /**
   * `total` counts what Kong sends and then waits on: each RpcCall and each PDK reply. `byMethod`
   * counts RpcCalls by command (`cmd_handle_event`) and PDK calls by name (`kong.request.get_headers`).
   */
  counters: RpcCounters;
}

const utf8 = new TextDecoder();

export class ProtobufRpc {
  private msgId = 0;
  private readonly idle: FrameSocket[] = [];

  constructor(private readonly options: ProtobufRpcOptions) {}

  /** Rpc:call(method, data, do_bridge_loop). */
  async call(command: RpcCommand, pdk?: PdkHandler): Promise<CallOutcome> {
    // pb_rpc.lua increments msg_id on the object, then its local copy once more before sending,
    // and asserts the reply carries that second value: the sequences are 2, 3, 4, ...
    const sequence = ++this.msgId + 1;
    this.count(Object.keys(command)[0] ?? "rpc_call");
    try {
      return await this.exchange(sequence, command, pdk);
    } catch (error) {
      this.options.counters.failed++;
      throw error;
    }
  }

  /** Drops every idle connection. */
  close(): void {
    for (const socket of this.idle.splice(0)) socket.destroy();
  }

  private async exchange(sequence: number, command: RpcCommand, pdk: PdkHandler | undefined): Promise<CallOutcome> {
    const socket = await this.take();
    try {
      socket.writeFrame(encodeRpcCall({ sequence, ...command }));
      if (pdk !== undefined && (await this.bridge(socket, pdk)) === "ended") {
        socket.destroy();
        return { kind: "ended" };
      }
      const value = decodeRpcReturn(await this.read(socket));
      if (value.sequence !== sequence)
        throw new RaisedError(`assertion failed! (RpcReturn sequence ${value.sequence}, expected ${sequence})`);
      this.release(socket);
      return { kind: "returned", value };
    } catch (error) {
      socket.destroy();
      if (error instanceof CallFailure || error instanceof RaisedError) throw error;
      // pb.decode/pb.encode failures are asserts in pb_rpc.lua.
      throw new RaisedError(error instanceof Error ? error.message : String(error));
    }
  }

  /** The bridge loop of Rpc:call; "ended" when a PDK call ended the request. */
  private async bridge(socket: FrameSocket, pdk: PdkHandler): Promise<"done" | "ended"> {
    for (;;) {
      const methodName = await this.read(socket);
      if (methodName.length === 0) return "done";
      const args = await this.read(socket);
      const method = utf8.decode(methodName);
      this.options.counters.byMethod[method] = (this.options.counters.byMethod[method] ?? 0) + 1;
      const reply = pdk(method, args);
      if (reply.kind === "ended") return "ended";
      if (reply.kind === "failed") throw new CallFailure(reply.err);
      this.options.counters.total++;
      socket.writeFrame(reply.message);
    }
  }

  /** read_frame: a read error is `return nil, err`. */
  private async read(socket: FrameSocket): Promise<Uint8Array> {
    try {
      return await socket.readFrame(this.options.timeoutMs);
    } catch (error) {
      if (error instanceof CosocketError) throw new CallFailure(error.reason);
      throw error;
    }
  }

  private count(command: string): void {
    this.options.counters.total++;
    this.options.counters.byMethod[command] = (this.options.counters.byMethod[command] ?? 0) + 1;
  }

  private async take(): Promise<FrameSocket> {
    for (let socket = this.idle.pop(); socket !== undefined; socket = this.idle.pop()) {
      if (socket.usable) {
        socket.unpark();
        return socket;
      }
    }
    try {
      return await FrameSocket.connect(this.options.socketPath, this.options.timeoutMs, this.options.counters);
    } catch (error) {
      // "trying to connect: <err>", then `return nil, err`.
      if (error instanceof CosocketError) throw new CallFailure(error.reason);
      throw error;
    }
  }

  /**
   * c:setkeepalive(): back to the pool; closed instead when the pool is full, or when the server
   * sent more than the call read (ngx_lua refuses with "unread data in buffer" and closes it).
   */
  private release(socket: FrameSocket): void {
    if (socket.holdsUnreadData || this.idle.length >= (this.options.poolSize ?? 256)) {
      socket.destroy();
      return;
    }
    socket.park();
    this.idle.push(socket);
  }
}
