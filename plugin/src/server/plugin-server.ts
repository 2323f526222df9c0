// The plugin server's state, instances and running phases, for both of Kong's protocols: the
// RPC methods Kong calls over MsgPack:1 (`plugin.<Method>` over msgpack-RPC), and the operations
// the ProtoBuf:1 connection (protobuf/connection.ts) drives, `startInstance`, `runEvent` and the
// rest. The MsgPack methods keep the semantics of kong-pdk 0.6.0's server.js, with its event
// bookkeeping fixed:
// - an event is forgotten as soon as its reply is final: "ret", or a non-returning PDK call
//   (`kong.response.exit`/`error`), after which Kong never sends another Step for it — kong-pdk
//   kept those forever (about 25 KB per rejected request);
// - events Kong abandoned (connection lost mid-request) are dropped after `eventIdleMs`;
// - idle instances really expire (kong-pdk's timer was cleared at start-up) when enabled;
// - only the methods below can be called: kong-pdk dispatched to any property of its server.
// Instance ids start at 1: ProtoBuf:1 carries them as proto3 int32, where 0 is not sent and reads
// as missing.
import PipePair from "kong-pdk/lib/pipe.js";
import KongPdk from "kong-pdk/pdk.js";
import type { Logger } from "./logger.js";
import type { PluginInstance, PluginModule } from "./loader.js";

const MSG_RET = "ret";

// pdk.js sends these without waiting for an answer; Kong ends the request on them and never
// replies, so the event can have no further Step (kong-pdk pdk.js NON_RETURN_METHODS).
const NON_RETURNING_METHODS = new Set(["kong.response.exit", "kong.response.error"]);

/** Travels through the event pipe in place of the next PDK call when the phase threw. */
class PhaseFailure {
  constructor(readonly message: string) {}
}

/** An RPC failure sent back to Kong as the error string of the response. */
export class RpcError extends Error {
  override readonly name = "RpcError";
}

export interface PluginServerOptions {
  /** Instances unused for this long are dropped (Kong then restarts them); 0 disables. */
  instanceIdleMs: number;
  /** Events with no Step for this long are dropped (their request is gone). */
  eventIdleMs: number;
  /** Clock in milliseconds, injectable for tests. */
  now?: () => number;
}

export type RpcMethod = (...args: unknown[]) => Promise<unknown>;

/** A synchronous method as an RpcMethod: what it throws becomes a rejection, as an async function's would. */
const settled =
  (method: (...args: unknown[]) => unknown): RpcMethod =>
  (...args) =>
    new Promise((resolve) => {
      resolve(method(...args));
    });

/** What Kong reads about an instance (kong-pdk server.js StartInstance/InstanceStatus). */
export interface InstanceDescription {
  Name: string;
  Id: number;
  Config: unknown;
  /** Seconds since the epoch. */
  StartTime: number;
}

/** What a running phase asks of Kong next. */
export type PhaseStep =
  /** A PDK call; `returns` is false for those after which Kong ends the request (exit, error). */
  | { readonly kind: "call"; readonly method: string; readonly args: unknown[]; readonly returns: boolean }
  /** The phase returned. */
  | { readonly kind: "end" }
  /** The phase threw: the request must not proceed. */
  | { readonly kind: "failure"; readonly message: string };

/** One phase of one instance running for one request, driven step by step by a connection. */
export class PhaseRun {
  constructor(private readonly pipe: PipePair.Pipe) {}

  /** The phase's first step, or the one after the previous call was answered. */
  async next(): Promise<PhaseStep> {
    const data = await this.pipe.get();
    if (data === MSG_RET) return { kind: "end" };
    if (data instanceof PhaseFailure) return { kind: "failure", message: data.message };
    if (isRecord(data) && typeof data.Method === "string") {
      return {
        kind: "call",
        method: data.Method,
        args: Array.isArray(data.Args) ? data.Args : [],
        returns: !NON_RETURNING_METHODS.has(data.Method),
      };
    }
    return { kind: "failure", message: "the PDK bridge passed something that is not a call" };
  }

  /** The result of the returning call `next()` gave. */
  answer(result: unknown): void {
    this.pipe.put([result, undefined]);
  }

  /** That call failed: the plugin's PDK promise rejects with `error`. */
  fail(error: string): void {
    this.pipe.put([undefined, error]);
  }
}

interface PendingEvent {
  readonly pipe: PipePair.Pipe;
  lastActive: number;
}

interface InstanceEntry {
  readonly instance: PluginInstance;
  readonly pluginName: string;
  readonly startTime: number;
  lastUsed: number;
}

interface StepData {
  EventId: number;
  Data?: unknown;
}

export class PluginServer {
  private readonly instances = new Map<number, InstanceEntry>();
  private readonly events = new Map<number, PendingEvent>();
  private nextInstanceId = 1;
  private nextEventId = 0;
  private readonly now: () => number;
  private sweepTimer: NodeJS.Timeout | undefined;

  private readonly methods: Map<string, RpcMethod>;

  constructor(
    private readonly plugins: ReadonlyMap<string, PluginModule>,
    private readonly logger: Logger,
    private readonly options: PluginServerOptions,
  ) {
    this.now = options.now ?? Date.now;
    const step = (args: unknown[]): Promise<unknown> => this.step(asStepData(args[0]), false);
    this.methods = new Map<string, RpcMethod>([
      ["GetStatus", settled(() => this.getStatus())],
      ["GetPluginInfo", settled((name) => this.getPluginInfo(name))],
      ["StartInstance", settled((cfg) => this.startInstanceRpc(cfg))],
      ["InstanceStatus", settled((id) => this.instanceStatus(id))],
      ["CloseInstance", settled((id) => this.closeInstance(id))],
      ["HandleEvent", (event) => this.handleEvent(event)],
      ["Step", (...args) => step(args)],
      ["StepError", (data) => this.step(asStepData(data), true)],
      // Kong picks a typed Step variant by PDK method; to a JavaScript plugin they are all data.
      ["StepMultiMap", (...args) => step(args)],
      ["StepCredential", (...args) => step(args)],
      ["StepConsumer", (...args) => step(args)],
      ["StepRoute", (...args) => step(args)],
      ["StepService", (...args) => step(args)],
      ["StepPlugin", (...args) => step(args)],
      ["StepMemoryStats", (...args) => step(args)],
    ]);
  }

  /** The RPC method Kong may call by this name (without the `plugin.` namespace), if any. */
  method(name: string): RpcMethod | undefined {
    return this.methods.get(name);
  }

  /** Adds an RPC method beyond Kong's (diagnostics); Kong's own names cannot be replaced. */
  addMethod(name: string, method: (...args: unknown[]) => unknown): void {
    if (this.methods.has(name)) throw new Error(`RPC method ${name} already exists`);
    this.methods.set(name, settled(method));
  }

  /** Starts the periodic sweep of abandoned events and idle instances (timer does not hold the process). */
  startSweeping(): void {
    const candidates = [this.options.eventIdleMs, this.options.instanceIdleMs].filter((ms) => ms > 0);
    if (candidates.length === 0) return;
    const every = Math.max(100, Math.min(30_000, Math.min(...candidates) / 2));
    this.sweepTimer = setInterval(() => this.sweep(), every);
    this.sweepTimer.unref();
  }

  stopSweeping(): void {
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
  }

  /** Drops abandoned events and idle instances; returns how many of each. */
  sweep(): { events: number; instances: number } {
    const now = this.now();
    let events = 0;
    let instances = 0;
    for (const [id, event] of this.events) {
      if (now - event.lastActive > this.options.eventIdleMs) {
        this.events.delete(id);
        events++;
      }
    }
    if (this.options.instanceIdleMs > 0) {
      for (const [id, entry] of this.instances) {
        if (now - entry.lastUsed > this.options.instanceIdleMs) {
          this.instances.delete(id);
          entry.instance.close();
          instances++;
          this.logger.info(
            `instance #${id} of ${entry.pluginName} expired after ${this.options.instanceIdleMs} ms idle`,
          );
        }
      }
    }
    if (events > 0) this.logger.warn(`dropped ${events} abandoned event(s)`);
    return { events, instances };
  }

  /** Forgets an event Kong will send no further Step for (its reply could not be sent). */
  forgetEvent(eventId: number): void {
    this.events.delete(eventId);
  }

  /** Counts for diagnostics and tests: events in flight, live instances. */
  get stats(): { events: number; instances: number } {
    return { events: this.events.size, instances: this.instances.size };
  }

  /** The plugin description Kong's query command and GetPluginInfo return. */
  getPluginInfo(name: unknown): PluginInfo {
    const plugin = typeof name === "string" ? this.plugins.get(name) : undefined;
    if (plugin === undefined) throw new RpcError(`${String(name)} not initialized`);
    return describePlugin(plugin);
  }

  /** When plugin `name`'s file was last modified and when it was loaded, in seconds since the epoch. */
  pluginTimes(name: string): { updatedAt: number; loadedAt: number } {
    const plugin = this.plugins.get(name);
    if (plugin === undefined) throw new RpcError(`${name} not initialized`);
    return { updatedAt: plugin.getMTime(), loadedAt: plugin.getLoadTime() };
  }

  private getStatus(): unknown {
    const plugins: Record<string, unknown> = {};
    for (const [name, plugin] of this.plugins) {
      const instances = [...this.instances.entries()]
        .filter(([, entry]) => entry.pluginName === name)
        .map(([id, entry]) => this.describeInstance(id, entry));
      plugins[name] = {
        Name: name,
        Modtime: plugin.getMTime(),
        LoadTime: plugin.getLoadTime(),
        Instances: instances,
        LastStartInstance: plugin.getLastStartInstanceTime(),
        LastCloseInstance: plugin.getLastCloseInstanceTime(),
      };
    }
    return { Pid: process.pid, Plugins: plugins };
  }

  /** The names of the plugins served. */
  pluginNames(): string[] {
    return [...this.plugins.keys()];
  }

  /**
   * Starts an instance of plugin `name` with `configJson`; throws RpcError for an unknown plugin
   * or a configuration that is not JSON, and whatever the plugin's constructor throws.
   */
  startInstance(name: string, configJson: string): InstanceDescription {
    const plugin = this.plugins.get(name);
    if (plugin === undefined) throw new RpcError(`${name} not initialized`);
    let config: unknown;
    try {
      config = JSON.parse(configJson);
    } catch (error) {
      throw new RpcError(`StartInstance: Config is not JSON: ${describe(error)}`);
    }
    const instance = plugin.new(config); // a throwing constructor is reported to Kong as the error
    const id = this.nextInstanceId++;
    const now = this.now();
    this.instances.set(id, { instance, pluginName: plugin.name, startTime: now, lastUsed: now });
    this.logger.info(`instance #${id} of ${plugin.name} started`);
    return { Name: plugin.name, Id: id, Config: config, StartTime: now / 1000 };
  }

  /** Throws RpcError "no plugin instance #id" for an id this process does not know. */
  instanceStatus(id: unknown): InstanceDescription {
    const entry = this.requireInstance(id);
    return this.describeInstance(id as number, entry);
  }

  /** Throws RpcError "no plugin instance #id" for an id this process does not know. */
  closeInstance(id: unknown): InstanceDescription {
    const entry = this.requireInstance(id);
    entry.instance.close();
    this.instances.delete(id as number);
    this.logger.info(`instance #${String(id)} of ${entry.pluginName} closed`);
    return this.describeInstance(id as number, entry);
  }

  /**
   * Starts `phase` of instance `instanceId` for one request, for a connection to drive with
   * `next`/`answer` (ProtoBuf:1 keeps the whole event on one connection, so it needs no event
   * id). Throws RpcError "no plugin instance #id" for an id this process does not know.
   */
  runEvent(instanceId: unknown, phase: string): PhaseRun {
    return new PhaseRun(this.startPhase(this.requireInstance(instanceId), phase));
  }

  private startInstanceRpc(cfg: unknown): InstanceDescription {
    if (!isRecord(cfg) || typeof cfg.Name !== "string" || typeof cfg.Config !== "string") {
      throw new RpcError("StartInstance expects {Name: string, Config: JSON string}");
    }
    return this.startInstance(cfg.Name, cfg.Config);
  }

  private async handleEvent(event: unknown): Promise<unknown> {
    if (!isRecord(event) || typeof event.EventName !== "string") {
      throw new RpcError("HandleEvent expects {InstanceId, EventName}");
    }
    const pipe = this.startPhase(this.requireInstance(event.InstanceId), event.EventName);
    const eventId = this.nextEventId++;
    this.events.set(eventId, { pipe, lastActive: this.now() });
    return this.reply(eventId, await pipe.get());
  }

  /** Runs `phase` of the instance on a later turn; returns the RPC side of its PDK pipe. */
  private startPhase(entry: InstanceEntry, phase: string): PipePair.Pipe {
    entry.lastUsed = this.now();
    const [pipe, pluginSide] = new PipePair().getPair();
    // Run the phase on a later turn, as kong-pdk does, so one event cannot starve socket I/O.
    setImmediate(() => {
      void this.runPhase(entry, phase, pluginSide);
    });
    return pipe;
  }

  private async runPhase(entry: InstanceEntry, phase: string, pluginSide: PipePair.Pipe): Promise<void> {
    try {
      await entry.instance.executePhase(phase, new KongPdk(pluginSide).kong);
    } catch (error) {
      const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
      this.logger.warn(`unhandled exception in ${entry.pluginName}.${phase}: ${detail}`);
      // kong-pdk answers "ret" here, so Kong sees a plugin that simply allowed the request.
      // We answer an RPC error instead: Kong still proxies (it fails open on any error), but it
      // logs the failure at error level, and the deployment's guard refuses the request.
      pluginSide.put(
        new PhaseFailure(
          `unhandled exception in ${entry.pluginName}.${phase}: ${error instanceof Error ? error.message : String(error)}`,
        ),
      );
      return;
    }
    pluginSide.put(MSG_RET);
  }

  private async step(data: StepData, isError: boolean): Promise<unknown> {
    const event = this.events.get(data.EventId);
    if (event === undefined) throw new RpcError(`event id ${String(data.EventId)} not found`);
    event.lastActive = this.now();
    // pdk.js expects [result, error]; a nil result arrives without Data and reads as undefined.
    event.pipe.put(isError ? [undefined, data.Data] : [data.Data, undefined]);
    return this.reply(data.EventId, await event.pipe.get());
  }

  private reply(eventId: number, data: unknown): { Data: unknown; EventId: number } {
    if (data instanceof PhaseFailure) {
      this.events.delete(eventId);
      throw new RpcError(data.message);
    }
    if (
      data === MSG_RET ||
      (isRecord(data) && typeof data.Method === "string" && NON_RETURNING_METHODS.has(data.Method))
    ) {
      this.events.delete(eventId);
    } else {
      const event = this.events.get(eventId);
      if (event !== undefined) event.lastActive = this.now();
    }
    return { Data: data, EventId: eventId };
  }

  private requireInstance(id: unknown): InstanceEntry {
    const entry = typeof id === "number" ? this.instances.get(id) : undefined;
    // Kong matches this wording to start the instance again and retry (mp_rpc.lua handle_event).
    if (entry === undefined) throw new RpcError(`no plugin instance #${String(id)}`);
    return entry;
  }

  private describeInstance(id: number, entry: InstanceEntry): InstanceDescription {
    return { Name: entry.pluginName, Id: id, Config: entry.instance.getConfig(), StartTime: entry.startTime / 1000 };
  }
}

/** What Kong reads for one plugin (kong-pdk server.js GetPluginInfo). */
export interface PluginInfo {
  Name: string;
  Version: unknown;
  Phases: string[];
  Priority: number;
  Schema: { name: string; fields: [{ config: { type: "record"; fields: unknown } }] };
}

function describePlugin(plugin: PluginModule): PluginInfo {
  return {
    Name: plugin.name,
    Version: plugin.getVersion(),
    Phases: plugin.getPhases(),
    Priority: plugin.getPriority(),
    Schema: { name: plugin.name, fields: [{ config: { type: "record", fields: plugin.getSchema() } }] },
  };
}

function asStepData(value: unknown): StepData {
  if (!isRecord(value) || typeof value.EventId !== "number") {
    throw new RpcError("Step expects {EventId, Data}");
  }
  return value as unknown as StepData;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
