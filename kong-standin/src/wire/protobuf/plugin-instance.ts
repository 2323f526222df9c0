// One configured plugin over ProtoBuf:1, as Kong holds it in a worker: its config, the instance
// id the plugin server gave it, and Rpc:handle_event of kong/runloop/plugin_servers/rpc/pb_rpc.lua
// with plugin.lua's get_instance_id/reset_instance. Unlike MessagePack-RPC, where Kong logs a
// failed event and proxies, pb_rpc.lua answers every failure with kong.response.error(500): this
// protocol fails closed by itself.
import { decodePdkArgs, encodePdkResult, PDK_METHODS } from "oauth2-jwt/protobuf";
import { exitOf, RequestContext, type WireRequest } from "../pdk.js";
import {
  unexpectedError,
  type AccessResult,
  type ExitResult,
  type PluginInstance,
  type ResultBase,
} from "../plugin-instance.js";
import type { PluginConfig } from "../schema.js";
import { CallFailure, RaisedError, type PdkReply, type ProtobufRpc } from "./rpc.js";

/**
 * Kong retries an event that failed with "closed" or "no plugin instance" by calling handle_event
 * again, without bound: a server that closed every event's connection would make Kong recurse
 * until the Lua stack overflows (a 500) or the client gives up. The harness stops after this many
 * retries and answers the 500 Kong would end with, so a test sees the outcome without the wait.
 */
export const MAX_EVENT_RETRIES = 3;

type Exit = Omit<ExitResult, keyof ResultBase | "outcome">;

interface Counter {
  roundTrips: number;
}

export class ProtobufPluginInstance implements PluginInstance {
  private instanceId: number | undefined;
  private starting: Promise<number> | undefined;

  constructor(
    private readonly rpc: ProtobufRpc,
    readonly name: string,
    /** The config as validated and filled (without Kong's added keys). */
    readonly config: PluginConfig,
    /** What cmd_start_instance carries as `config` JSON: config plus route_id, __plugin_id, __seq__… */
    readonly kongConfig: PluginConfig,
  ) {}

  get id(): number | undefined {
    return this.instanceId;
  }

  /** Sends cmd_start_instance (Kong does this on the first request of a worker). */
  start(): Promise<number> {
    return this.ensureStarted({ roundTrips: 0 });
  }

  access(request: WireRequest): Promise<AccessResult> {
    return this.runPhase("access", request);
  }

  /** Rpc:handle_event(conf, phase). */
  async runPhase(phase: string, request: WireRequest): Promise<AccessResult> {
    const context = new RequestContext(request);
    const counter: Counter = { roundTrips: 0 };
    const base = (): ResultBase => ({
      roundTrips: counter.roundTrips,
      ctxShared: Object.fromEntries(context.ctxShared),
      logs: context.logs,
      ...context.authenticatedResult(),
    });
    for (let retries = 0; ; retries++) {
      let id: number;
      try {
        id = await this.ensureStarted(counter);
      } catch (error) {
        // get_instance_id raises error(err) when the instance cannot start: a 500.
        return unexpectedError(`starting instance: ${describe(error)}`, base());
      }
      const ended: { exit?: Exit } = {};
      try {
        counter.roundTrips++;
        const outcome = await this.rpc.call(
          { cmd_handle_event: { instance_id: id, event_name: phase } },
          (method, args) => {
            const reply = answer(context, method, args);
            if (reply.kind === "ended") ended.exit = reply.exit;
            else if (reply.kind === "reply") counter.roundTrips++;
            return reply;
          },
        );
        if (outcome.kind === "ended" && ended.exit !== undefined) return { outcome: "exit", ...ended.exit, ...base() };
        return { outcome: "proceed", upstreamHeaders: context.upstreamHeaders(), ...base() };
      } catch (error) {
        if (error instanceof CallFailure && retriable(error.err)) {
          // reset_instance, then handle_event again (which starts a new instance).
          if (this.instanceId === id) this.instanceId = undefined;
          if (retries < MAX_EVENT_RETRIES) continue;
          return unexpectedError(`pluginserver error: ${error.err} (still after ${MAX_EVENT_RETRIES} retries)`, base());
        }
        // kong.log.err("pluginserver error: ", err); kong.response.error(500) — or a raised Lua error.
        return unexpectedError(`pluginserver error: ${describe(error)}`, base());
      }
    }
  }

  /** Sends cmd_close_instance (Kong does this when the plugin's config changes). */
  async close(): Promise<void> {
    const id = this.instanceId;
    this.instanceId = undefined;
    if (id !== undefined) await this.rpc.call({ cmd_close_instance: { instance_id: id } });
  }

  private ensureStarted(counter: Counter): Promise<number> {
    if (this.instanceId !== undefined) return Promise.resolve(this.instanceId);
    this.starting ??= (async () => {
      try {
        counter.roundTrips++;
        const outcome = await this.rpc.call({
          cmd_start_instance: { name: this.name, config: JSON.stringify(this.kongConfig) },
        });
        const id = outcome.kind === "returned" ? outcome.value.instance_status?.instance_id : undefined;
        // proto3 leaves a 0 off the wire: an id of 0 (or none) is one Kong reads as nil.
        if (id === undefined || id === 0) throw new Error("cmd_start_instance answered without an instance_id");
        this.instanceId = id;
        return id;
      } finally {
        this.starting = undefined;
      }
    })();
    return this.starting;
  }
}

/** handle_event retries on these words in the lower-cased error. */
function retriable(err: string): boolean {
  const lowered = err.toLowerCase();
  return lowered.includes("no plugin instance") || lowered.includes("closed");
}

type Answer = Exclude<PdkReply, { kind: "ended" }> | { kind: "ended"; exit: Exit };

/** call_pdk: Kong's answer to one PDK call the server makes during the event. */
function answer(context: RequestContext, method: string, argsMessage: Uint8Array): Answer {
  if (!PDK_METHODS.has(method)) return { kind: "failed", err: `method "${method}" not found` };
  // pb.decode of the arguments is an assert: bytes that are not the input type raise (a 500).
  const result = context.answer(method, decodePdkArgs(method, argsMessage));
  switch (result.kind) {
    case "exit":
      return { kind: "ended", exit: exitOf(result) };
    case "lua-error":
      throw new RaisedError(result.message);
    case "step":
      // StepError is how the stand-in reports a PDK function it does not implement.
      if (result.stepMethod === "plugin.StepError") throw new RaisedError(String(result.data));
      return {
        kind: "reply",
        message: encodePdkResult(
          method,
          result.stepMethod === "plugin.StepMultiMap" ? luaMultiMap(result.data) : result.data,
        ),
      };
  }
}

/**
 * A header or query table as the Lua PDK returns it, before pb_wrap turns it into a Struct: one
 * value is a string, several are a list (MessagePack-RPC's fix_mmap makes every value a list;
 * ProtoBuf:1 has no such step).
 */
function luaMultiMap(data: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, values] of Object.entries(data as Record<string, string[]>)) {
    const value = values.length === 1 ? values[0] : values;
    if (name === "__proto__")
      Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true });
    else out[name] = value;
  }
  return out;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
