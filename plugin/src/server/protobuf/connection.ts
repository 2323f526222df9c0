// One connection Kong opened to the plugin server, speaking ProtoBuf:1 (Kong 3.x pb_rpc.lua).
//
// Kong sends one RpcCall and reads until its RpcReturn; for cmd_handle_event the whole event
// runs on this connection: each PDK call the plugin makes goes out as two frames (method name,
// arguments), Kong runs the PDK function and replies with one frame (except to an exit that ends
// the request, see handleEvent), and an empty method-name frame ends the event before the
// RpcReturn.
//
// How Kong reads what goes wrong decides every answer here (pb_rpc.lua Rpc:handle_event):
// - an error containing "closed" or "no plugin instance" makes Kong forget its instance, start
//   a new one and call again, without any bound. So the connection is closed for exactly one
//   case: an event for an instance this process does not know (it restarted). The retry then
//   succeeds.
// - any other error makes Kong log it and answer the request with 500: it fails closed. A
//   failure during an event (the phase threw, a PDK call's arguments cannot be encoded, a reply
//   that cannot be read) is sent as a PDK call of a method Kong does not have, named with the
//   reason: Kong's call_pdk answers `method "…" not found`, and Kong logs that and answers 500
//   without replying to us. An RpcReturn without a result would not do: Kong ignores the
//   result of an event, so the request would proceed.
// - a command that fails outside an event (start_instance for an unknown plugin, a
//   configuration the plugin refuses) gets an RpcReturn without a result: Kong reads the
//   missing instance_status as a Lua error, and the request that needed the instance gets 500.
// - bytes that are not an RpcCall, or a frame over the length limit (skipped unread), get an
//   RpcReturn with sequence 0 and no result; Kong checks the sequence, so that is an error too.
// Nothing a peer sends ends the process or touches another connection; every failure of this
// code closes this connection only.
import type net from "node:net";
import type { HeldBuffers, HoldingConnection } from "../held-buffers.js";
import { errorText, preview, type Logger } from "../logger.js";
import type { InstanceDescription, PhaseRun, PluginServer } from "../plugin-server.js";
import {
  decodePdkResult,
  decodeRpcCall,
  encodePdkArgs,
  encodeRpcReturn,
  ProtocolError,
  type InstanceStatusMessage,
  type RpcCall,
  type RpcReturn,
} from "./codec.js";
import { DEFAULT_MAX_FRAME_BYTES, encodeFrame, FrameReader, OversizedFrame, type Frame } from "./framing.js";

/** The line a MsgPack:1 peer gets logged with (Kong's query and start commands disagree). */
export const MSGPACK_PEER_MESSAGE =
  "Kong speaks MsgPack:1 but this server was started for ProtoBuf:1: give --protocol msgpack to both pluginserver_<name>_start_cmd and pluginserver_<name>_query_cmd, or to neither";

/** Characters of a failure reason put into the method name Kong logs. */
const MAX_REASON_CHARS = 300;

const EMPTY = new Uint8Array(0);
const END_OF_EVENT = encodeFrame(EMPTY);

export interface ProtobufConnectionOptions {
  server: PluginServer;
  logger: Logger;
  buffers: HeldBuffers;
  /** A frame longer than this is skipped unread (default DEFAULT_MAX_FRAME_BYTES). */
  maxFrameBytes?: number;
  /** Called once when a MsgPack:1 peer is detected, to log MSGPACK_PEER_MESSAGE at most once. */
  onMsgPackPeer(): void;
}

export class ProtobufConnection implements HoldingConnection {
  heldBytes = 0;
  private readonly reader: FrameReader;
  /** Frames received and not yet handled, from `next` on; reading pauses while there are any. */
  private frames: Frame[] = [];
  private next = 0;
  private wake: (() => void) | undefined;
  /** Whether this connection's bytes were already reported as not Kong's (later ones: debug). */
  private complained = false;
  private readonly server: PluginServer;
  private readonly logger: Logger;

  constructor(
    readonly socket: net.Socket,
    private readonly options: ProtobufConnectionOptions,
  ) {
    this.server = options.server;
    this.logger = options.logger;
    this.reader = new FrameReader(options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
    // Without a handler a reset by the peer would be an uncaught 'error' event and end the process.
    socket.on("error", (error) => this.logger.debug(`connection error: ${errorText(error)}`));
    socket.on("data", (chunk: Buffer) => this.receive(chunk));
    socket.on("close", () => this.wakeUp());
    this.serve().catch((error: unknown) => this.close(`unexpected failure: ${errorText(error, { stack: true })}`));
  }

  /** Closes this connection only, saying why. */
  close(reason: string): void {
    if (this.socket.destroyed) return;
    this.logger.warn(`closing connection: ${reason}`);
    this.drop();
  }

  private drop(): void {
    this.reader.clear();
    this.frames = [];
    this.next = 0;
    this.options.buffers.release(this);
    this.socket.destroy();
    this.wakeUp();
  }

  private receive(chunk: Buffer): void {
    let frames: Frame[];
    try {
      frames = this.reader.push(chunk);
    } catch (error) {
      this.close(`unexpected failure reading frames: ${errorText(error, { stack: true })}`);
      return;
    }
    this.options.buffers.update(this, this.reader.pendingBytes);
    if (frames.length === 0) return;
    if (this.next === this.frames.length) {
      this.frames = frames;
      this.next = 0;
    } else {
      for (const frame of frames) this.frames.push(frame);
    }
    // Kong sends nothing more until it is answered, so frames queue only for a peer that keeps
    // sending: stop reading from it until they are handled, which bounds what it makes us hold.
    this.socket.pause();
    this.wakeUp();
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** The next frame, or undefined once the connection is gone. */
  private async nextFrame(): Promise<Frame | undefined> {
    for (;;) {
      if (this.next < this.frames.length) return this.frames[this.next++];
      // Handled frames are views of the chunks they came in: let those go while waiting.
      this.frames = [];
      this.next = 0;
      if (this.socket.destroyed) return undefined;
      this.socket.resume();
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  /** Handles one RpcCall after another, until the connection closes. */
  private async serve(): Promise<void> {
    for (let frame = await this.nextFrame(); frame !== undefined; frame = await this.nextFrame()) {
      if (frame instanceof OversizedFrame) {
        if (isMsgPackRequestStart(frame.header)) {
          this.options.onMsgPackPeer();
          this.drop();
          return;
        }
        this.complain(`skipped a frame of ${frame.length} bytes, more than the limit; answered with sequence 0`);
        await this.send(encodeFrame(encodeRpcReturn({ sequence: 0 })));
        continue;
      }
      let call: RpcCall;
      try {
        call = decodeRpcCall(frame);
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
        this.complain(`${error.message}; answered with sequence 0`);
        await this.send(encodeFrame(encodeRpcReturn({ sequence: 0 })));
        continue;
      }
      if (this.logger.enabled("debug")) this.logger.debug(`rpc ${preview(call)}`);
      if (call.cmd_handle_event !== undefined) await this.handleEvent(call.sequence, call.cmd_handle_event);
      else await this.send(encodeFrame(encodeRpcReturn(this.command(call))));
    }
  }

  /** The answer to a command other than cmd_handle_event. */
  private command(call: RpcCall): RpcReturn {
    const { sequence } = call;
    try {
      if (call.cmd_get_plugin_names !== undefined)
        return { sequence, plugin_names: { names: this.server.pluginNames() } };
      if (call.cmd_get_plugin_info !== undefined) {
        const info = this.server.getPluginInfo(call.cmd_get_plugin_info.name);
        const times = this.server.pluginTimes(info.Name);
        return {
          sequence,
          plugin_info: {
            name: info.Name,
            updated_at: Math.trunc(times.updatedAt),
            loaded_at: Math.trunc(times.loadedAt),
            phases: info.Phases,
            version: versionText(info.Version),
            priority: info.Priority,
            schema: JSON.stringify(info.Schema),
          },
        };
      }
      if (call.cmd_start_instance !== undefined) {
        return {
          sequence,
          instance_status: status(
            this.server.startInstance(call.cmd_start_instance.name, call.cmd_start_instance.config),
          ),
        };
      }
      if (call.cmd_get_instance_status !== undefined) {
        return {
          sequence,
          instance_status: status(this.server.instanceStatus(call.cmd_get_instance_status.instance_id)),
        };
      }
      if (call.cmd_close_instance !== undefined) {
        return { sequence, instance_status: status(this.server.closeInstance(call.cmd_close_instance.instance_id)) };
      }
      this.complain(`RpcCall #${sequence} carries no command this server knows; answered without a result`);
    } catch (error) {
      this.logger.warn(`RpcCall #${sequence} failed, answered without a result: ${errorText(error)}`);
    }
    return { sequence };
  }

  private async handleEvent(
    sequence: number,
    event: { readonly instance_id: number; readonly event_name: string },
  ): Promise<void> {
    let run: PhaseRun;
    try {
      run = this.server.runEvent(event.instance_id, event.event_name);
    } catch (error) {
      // The only unknown is the instance (Kong's own event names are all we are sent): closing
      // makes Kong start a new instance and call again (see the header comment).
      this.logger.info(`${errorText(error)}: closing the connection for Kong to start the instance again`);
      this.drop();
      return;
    }
    for (;;) {
      const step = await run.next();
      if (step.kind === "end") {
        await this.send(END_OF_EVENT, encodeFrame(encodeRpcReturn({ sequence })));
        return;
      }
      if (step.kind === "failure") {
        await this.failEvent(step.message);
        return;
      }
      let args: Uint8Array;
      try {
        args = encodePdkArgs(step.method, step.args);
      } catch (error) {
        const reason = `cannot send ${step.method}: ${errorText(error)}`;
        // The plugin is waiting for a returning call's result: it gets the error, as from Kong.
        if (step.returns) {
          run.fail(reason);
          continue;
        }
        await this.failEvent(reason);
        return;
      }
      if (this.logger.enabled("debug")) this.logger.debug(`rpc #${sequence} ${step.method} ${preview(step.args)}`);
      await this.send(encodeFrame(Buffer.from(step.method, "utf8")), encodeFrame(args));
      const reply = await this.nextFrame();
      if (reply === undefined) return; // Kong gave up on the request; the phase is dropped with it.
      if (reply instanceof OversizedFrame) {
        await this.failEvent(`Kong's reply to ${step.method} has ${reply.length} bytes, more than the limit`);
        return;
      }
      // exit and error: the plugin does not wait for them. In the access phase Kong never replies
      // (its exit yields the plugin's coroutine for a delayed response, kong/pdk/response.lua):
      // the request ends and the connection with it, and nextFrame above resolves undefined. In a
      // phase where exit returns, Kong replies with an empty frame and the phase goes on to its end.
      if (!step.returns) continue;
      let result: unknown;
      try {
        result = decodePdkResult(step.method, reply);
      } catch (error) {
        run.fail(errorText(error));
        continue;
      }
      run.answer(result);
    }
  }

  /**
   * Logs bytes Kong would not send: at warn level once per connection, then at debug level, so
   * that a peer sending thousands of empty frames cannot flood Kong's log.
   */
  private complain(message: string): void {
    if (this.complained) {
      this.logger.debug(message);
      return;
    }
    this.complained = true;
    this.logger.warn(message);
  }

  /** Ends the event so that Kong answers the request with 500 (see the header comment). */
  private async failEvent(reason: string): Promise<void> {
    this.logger.warn(`event failed, Kong will answer 500: ${reason}`);
    await this.send(encodeFrame(Buffer.from(failureMethodName(reason), "utf8")), encodeFrame(EMPTY));
  }

  /**
   * Writes the frames in one write (a PDK call's two frames cost one system call, not two);
   * resolves once the socket can take more (a peer that does not read waits).
   */
  private async send(...frames: Buffer[]): Promise<void> {
    const socket = this.socket;
    if (socket.destroyed || !socket.writable) return;
    if (socket.write(frames.length === 1 ? frames[0] : Buffer.concat(frames))) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        socket.off("drain", done);
        socket.off("close", done);
        resolve();
      };
      socket.on("drain", done);
      socket.on("close", done);
    });
  }
}

/**
 * The name of the method Kong cannot find, carrying the reason into Kong's error log. Kong would
 * retry, not fail, on an error containing "closed" or "no plugin instance": those words are
 * rewritten so that the reason cannot turn the failure into a retry.
 */
function failureMethodName(reason: string): string {
  const line = reason.replace(/\s+/g, " ").slice(0, MAX_REASON_CHARS);
  return `oauth2-jwt-pluginserver failure: ${line.replace(/closed/gi, "clos(ed)").replace(/no plugin instance/gi, "no instance")}`;
}

function status(instance: InstanceDescription): InstanceStatusMessage {
  return {
    name: instance.Name,
    instance_id: instance.Id,
    config: instance.Config,
    started_at: Math.trunc(instance.StartTime),
  };
}

/**
 * Kong's MsgPack:1 requests are `[0, msgid, "plugin.<Method>", args]`: fixarray 4, then 0. Read
 * as a frame length those bytes announce gigabytes (the method name's str tag is the high byte),
 * so they always arrive as an OversizedFrame.
 */
function isMsgPackRequestStart(header: Uint8Array): boolean {
  return header[0] === 0x94 && header[1] === 0x00;
}

/** A plugin's `Version` export as PluginInfo's string: itself when a string, "" when absent. */
function versionText(version: unknown): string {
  if (typeof version === "string") return version;
  return version === undefined || version === null ? "" : JSON.stringify(version);
}
