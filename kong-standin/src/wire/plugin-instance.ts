// One configured plugin over MessagePack-RPC, as Kong holds it in a worker: its config (defaults filled, plus the
// keys Kong adds), the instance id the plugin server gave it, and the per-request event loop
// of kong/runloop/plugin_servers/rpc/mp_rpc.lua (bridge_loop, handle_event).
import { RpcRemoteError } from "./errors.js";
import { exitOf, RequestContext, type Authenticated, type LogEntry, type WireRequest } from "./pdk.js";
import type { PluginConfig } from "./schema.js";

/** What Kong did with the request after the plugin's `access` phase. */
export type AccessResult = ExitResult | ProceedResult | FailedOpenResult;

export interface ResultBase {
  /**
   * Round trips this request cost, each a message Kong sent and then waited on the server for.
   * MessagePack-RPC: HandleEvent, every Step*, and a StartInstance if one was needed. ProtoBuf:1:
   * the RpcCall (and a cmd_start_instance if one was needed) and every PDK call Kong answered (a
   * call that ends the request, kong.response.exit, is never answered).
   */
  roundTrips: number;
  /** `kong.ctx.shared` after the phase. */
  ctxShared: Record<string, unknown>;
  /** `kong.log.*` calls of the phase. */
  logs: LogEntry[];
  /**
   * The consumer and credential kong.client.authenticate recorded (ngx.ctx), or what the request
   * started with: what later plugins (rate-limiting's limit_by) see. Absent when neither is set.
   */
  authenticated?: Authenticated;
}

/** The plugin ended the request (`kong.response.exit`/`error`); nothing is proxied. */
export interface ExitResult extends ResultBase {
  outcome: "exit";
  status: number;
  /** Parsed JSON when the body is JSON, else the text ("" when there is none). */
  body: unknown;
  /** The body bytes Kong would send, as text. */
  rawBody: string;
  /** Response headers the plugin set (lower-case names), plus Kong's Content-Type for a table body. */
  headers: Record<string, string[]>;
  /** Set when Kong itself ended the request with a 500: a PDK call raised a Lua error, or StartInstance failed. */
  error?: string;
}

/** The phase returned: Kong proxies with these request headers. */
export interface ProceedResult extends ResultBase {
  outcome: "proceed";
  /** Request headers after the plugin's changes, lower-case names. */
  upstreamHeaders: Record<string, string[]>;
}

/**
 * MessagePack-RPC only: anything else went wrong (socket refused, server dead, timeout, handler
 * error surfacing as an RPC error): Kong logs the error and proxies anyway. The deployment's
 * guard must refuse these. (ProtoBuf:1 answers the same failures with 500: an ExitResult.)
 */
export interface FailedOpenResult extends ResultBase {
  outcome: "failed-open";
  error: string;
  upstreamHeaders: Record<string, string[]>;
}

/** A configured plugin as Kong's worker holds it, whichever protocol its plugin server speaks. */
export interface PluginInstance {
  readonly name: string;
  /** The config as validated and filled (without Kong's added keys). */
  readonly config: PluginConfig;
  /** What the instance is started with, as JSON: config plus route_id, __plugin_id, __seq__… */
  readonly kongConfig: PluginConfig;
  /** The plugin server's id for this instance, once started. */
  readonly id: number | undefined;
  /** Starts the instance (Kong does this on the first request of a worker). */
  start(): Promise<number>;
  /** Runs the `access` phase for one request, as Kong would. */
  access(request: WireRequest): Promise<AccessResult>;
  /** Runs any phase the plugin implements. */
  runPhase(phase: string, request: WireRequest): Promise<AccessResult>;
  /** Closes the instance (Kong does this when the plugin's config changes). */
  close(): Promise<void>;
}

/** The transport a MsgPackPluginInstance uses; implemented by PluginServerProcess. */
export interface RpcTransport {
  rpc(method: string, args: unknown[]): Promise<unknown>;
}

// Kong loops until "ret" with no bound; a runaway plugin would hang the test instead.
const MAX_STEPS_PER_EVENT = 10_000;

const NON_RETURNING = new Set(["kong.response.exit", "kong.response.error"]);

interface StepIn {
  EventId: number;
  Data: unknown;
}

export class MsgPackPluginInstance implements PluginInstance {
  private instanceId: number | undefined;
  private starting: Promise<number> | undefined;

  constructor(
    private readonly transport: RpcTransport,
    readonly name: string,
    /** The config as validated and filled (without Kong's added keys). */
    readonly config: PluginConfig,
    /** What StartInstance receives as the `Config` JSON: config plus route_id, __plugin_id, __seq__… */
    readonly kongConfig: PluginConfig,
  ) {}

  /** The plugin server's id for this instance, once started. */
  get id(): number | undefined {
    return this.instanceId;
  }

  /** Sends StartInstance (Kong does this on the first request of a worker). */
  async start(): Promise<number> {
    return this.ensureStarted({ roundTrips: 0 });
  }

  /** Runs the `access` phase for one request, as Kong would. */
  async access(request: WireRequest): Promise<AccessResult> {
    return this.runPhase("access", request);
  }

  /** Runs any phase the plugin implements (Kong sends the phase name as EventName). */
  async runPhase(phase: string, request: WireRequest): Promise<AccessResult> {
    const context = new RequestContext(request);
    const counter = { roundTrips: 0 };
    const base = (): ResultBase => ({
      roundTrips: counter.roundTrips,
      ctxShared: Object.fromEntries(context.ctxShared),
      logs: context.logs,
      ...context.authenticatedResult(),
    });
    try {
      return await this.bridge(phase, context, counter, base, true);
    } catch (error) {
      return { outcome: "failed-open", error: describe(error), upstreamHeaders: context.upstreamHeaders(), ...base() };
    }
  }

  /** Sends CloseInstance (Kong does this when the plugin's config changes). */
  async close(): Promise<void> {
    const id = this.instanceId;
    this.instanceId = undefined;
    if (id !== undefined) await this.transport.rpc("plugin.CloseInstance", [id]);
  }

  private async bridge(
    phase: string,
    context: RequestContext,
    counter: { roundTrips: number },
    base: () => ResultBase,
    mayRetry: boolean,
  ): Promise<AccessResult> {
    let id: number | undefined;
    try {
      try {
        id = await this.ensureStarted(counter);
      } catch (error) {
        // plugin.lua get_instance_id raises error() when StartInstance fails: unlike a failed
        // event, that ends the request with a 500 (a worker without an instance never proxies).
        return unexpectedError(`starting instance: ${describe(error)}`, base());
      }
      let stepIn = asStepIn(await this.call("plugin.HandleEvent", { InstanceId: id, EventName: phase }, counter));
      const eventId = stepIn.EventId;
      for (let steps = 0; steps <= MAX_STEPS_PER_EVENT; steps++) {
        if (stepIn.Data === "ret") {
          return { outcome: "proceed", upstreamHeaders: context.upstreamHeaders(), ...base() };
        }
        const { Method: method, Args: args } = asPdkCall(stepIn.Data);
        const answer = context.answer(method, args);
        if (answer.kind === "exit") {
          // Kong ends the request inside the PDK call and never answers this step.
          return { outcome: "exit", ...exitOf(answer), ...base() };
        }
        if (answer.kind === "lua-error") return unexpectedError(answer.message, base());
        if (NON_RETURNING.has(method)) throw new Error(`unreachable: ${method} answered as a step`);
        // A nil result travels without the Data key (a Lua table cannot hold nil).
        const payload =
          answer.data === undefined || answer.data === null
            ? { EventId: eventId }
            : { EventId: eventId, Data: answer.data };
        stepIn = asStepIn(await this.call(answer.stepMethod, payload, counter));
      }
      throw new Error(`more than ${MAX_STEPS_PER_EVENT} PDK calls in one ${phase} phase`);
    } catch (error) {
      // mp_rpc.lua handle_event: this wording makes Kong start the instance again and retry.
      if (
        mayRetry &&
        error instanceof RpcRemoteError &&
        error.remoteMessage.toLowerCase().includes("no plugin instance")
      ) {
        if (this.instanceId === id) this.instanceId = undefined;
        return this.bridge(phase, context, counter, base, false);
      }
      throw error;
    }
  }

  private async call(method: string, payload: unknown, counter: { roundTrips: number }): Promise<unknown> {
    counter.roundTrips++;
    return this.transport.rpc(method, [payload]);
  }

  private ensureStarted(counter: { roundTrips: number }): Promise<number> {
    if (this.instanceId !== undefined) return Promise.resolve(this.instanceId);
    this.starting ??= (async () => {
      try {
        const status = await this.call(
          "plugin.StartInstance",
          { Name: this.name, Config: JSON.stringify(this.kongConfig) },
          counter,
        );
        const id = isRecord(status) ? status.Id : undefined;
        if (typeof id !== "number") throw new Error(`StartInstance answered without an Id: ${JSON.stringify(status)}`);
        this.instanceId = id;
        return id;
      } finally {
        this.starting = undefined;
      }
    })();
    return this.starting;
  }
}

/** A Lua error() raised in the access phase: Kong answers 500 with its default body. */
export function unexpectedError(error: string, base: ResultBase): ExitResult {
  const body = { message: "An unexpected error occurred" };
  return {
    outcome: "exit",
    status: 500,
    body,
    rawBody: JSON.stringify(body),
    headers: { "content-type": ["application/json; charset=utf-8"] },
    error,
    ...base,
  };
}

function asStepIn(value: unknown): StepIn {
  if (!isRecord(value) || typeof value.EventId !== "number") {
    throw new Error(`plugin server answered an event with ${JSON.stringify(value)}`);
  }
  return { EventId: value.EventId, Data: value.Data };
}

function asPdkCall(data: unknown): { Method: string; Args: unknown[] } {
  if (!isRecord(data) || typeof data.Method !== "string") {
    throw new Error(`plugin server sent neither "ret" nor a PDK call: ${JSON.stringify(data)}`);
  }
  const args = data.Args;
  return { Method: data.Method, Args: Array.isArray(args) ? args : args === undefined || args === null ? [] : [args] };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
