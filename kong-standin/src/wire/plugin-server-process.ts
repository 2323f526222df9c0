// Kong's management of a plugin server (kong/runloop/plugin_servers/process.lua): start it with
// the configured command (cleared environment, a working directory of its own), ask it for its
// plugins with the query command and parse stdout as JSON, then talk to it over its Unix socket
// in the protocol the dump names (kong/runloop/plugin_servers/rpc/init.lua): MessagePack-RPC
// through a pool of connections with one request in flight each (mp_rpc.lua), or ProtoBuf:1 with
// one connection per call from a keepalive pool (pb_rpc.lua).
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { PluginServerStartError } from "./errors.js";
import { MsgPackPluginInstance, type PluginInstance, type RpcTransport } from "./plugin-instance.js";
import { ConnectionPool } from "./pool.js";
import { ProtobufPluginInstance } from "./protobuf/plugin-instance.js";
import { ProtobufRpc, type RpcCommand } from "./protobuf/rpc.js";
import type { RpcReturn } from "oauth2-jwt/protobuf";
import { validatePluginConfig, type PluginConfig, type PluginInfo } from "./schema.js";
import { resolveReferences, type VaultEnvironment } from "./vault.js";

const REPOSITORY = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

/** Our server's committed bin shim (needs `npm run build` of plugin/). */
export const DEFAULT_SERVER_COMMAND = path.join(REPOSITORY, "plugin", "bin", "oauth2-jwt-pluginserver.js");
/** kong-pdk 0.6.0's own server, for comparisons. */
export const STOCK_SERVER_COMMAND = path.join(REPOSITORY, "node_modules", "kong-pdk", "bin", "kong-js-pluginserver");
/** The compiled oauth2-jwt plugin. */
export const DEFAULT_PLUGINS_DIRECTORY = path.join(REPOSITORY, "plugin", "dist", "plugins");

export interface SpawnOptions {
  /** A Node.js script to run as the server (default: our oauth2-jwt-pluginserver). */
  command?: string;
  /** Extra arguments for the server, before Kong's (e.g. `["--diagnostics", "-vv"]`). */
  args?: string[];
  pluginsDirectory?: string;
  /** Node.js flags for the running server (not the query command), e.g. `["--expose-gc"]`. */
  nodeArgs?: string[];
  /** Pooled connections, each with one request in flight (default 4). */
  connections?: number;
  /** Kong prefix: the socket's directory (default: a fresh temporary directory, removed on close). */
  prefix?: string;
  /** Socket file name (default `oauth2_jwt.sock`). */
  sockName?: string;
  /**
   * Kong's cosocket timeout for each read (and the connect): nginx's lua_socket_read_timeout,
   * which Kong's template leaves at its 60 s default. A read that waits longer fails the event:
   * open over MessagePack-RPC, with a 500 over ProtoBuf:1. Tests set a short one.
   */
  rpcTimeoutMs?: number;
  /** How long to wait for the socket to accept connections after a start (default 15000). */
  startTimeoutMs?: number;
  /** Called with every line the server writes (Kong logs them at INFO). */
  onLog?: (line: string) => void;
  /**
   * The gateway's own environment, where Kong's env vault resolves `{vault://env/…}` references
   * in referenceable config fields (default: this process's environment; vault.ts).
   */
  vaultEnvironment?: VaultEnvironment;
  /** Called with Kong's warning for each reference it could not resolve (the field becomes ""). */
  onConfigWarning?: (line: string) => void;
}

export interface InstanceIds {
  route_id?: string;
  service_id?: string;
  consumer_id?: string;
  /** Kong's plugin entity id (default: a random UUID). */
  plugin_id?: string;
}

export interface RpcCounters {
  /** RPCs sent, all methods. */
  total: number;
  byMethod: Partial<Record<string, number>>;
  /** RPCs answered with an error or not answered. */
  failed: number;
  /** MessagePack-RPC: RPCs per pooled connection (a live view of the pool's counts). */
  byConnection: readonly number[];
  /** Bytes Kong's side wrote to the socket, and read from it (ProtoBuf:1 length prefixes included). */
  bytesSent: number;
  bytesReceived: number;
}

/** The protocols Kong 3.9 implements (kong/runloop/plugin_servers/rpc/init.lua). */
export type PluginServerProtocol = "MsgPack:1" | "ProtoBuf:1";
const PROTOCOLS: readonly string[] = ["MsgPack:1", "ProtoBuf:1"] satisfies PluginServerProtocol[];

/** Kong's cosocket timeouts when nothing sets them (nginx's lua_socket_*_timeout). */
export const KONG_SOCKET_TIMEOUT_MS = 60_000;

/** Spawns the plugin server, queries its plugins and waits until its socket accepts connections. */
export async function spawnPluginServer(options: SpawnOptions = {}): Promise<PluginServerProcess> {
  const server = new PluginServerProcess(options);
  try {
    await server.query();
    await server.start();
  } catch (error) {
    await server.close();
    throw error;
  }
  return server;
}

export class PluginServerProcess implements RpcTransport {
  readonly command: string;
  readonly pluginsDirectory: string;
  readonly prefix: string;
  readonly socketPath: string;
  readonly counters: RpcCounters;
  /** The query command's dump: one entry per plugin (Kong's `dump.Plugins or dump`). */
  plugins: PluginInfo[] = [];
  /** The protocol the dump names (Kong's `dump.Protocol or "MsgPack:1"`). */
  protocol: PluginServerProtocol = "MsgPack:1";

  private readonly ownsPrefix: boolean;
  private readonly pool: ConnectionPool;
  private readonly protobuf: ProtobufRpc;
  private child: ChildProcess | undefined;
  private exitPromise: Promise<void> | undefined;
  private readonly logLines: string[] = [];
  private seq = 0;

  constructor(private readonly options: SpawnOptions = {}) {
    this.command = options.command ?? DEFAULT_SERVER_COMMAND;
    this.pluginsDirectory = options.pluginsDirectory ?? DEFAULT_PLUGINS_DIRECTORY;
    this.ownsPrefix = options.prefix === undefined;
    this.prefix = options.prefix ?? fs.mkdtempSync(path.join(os.tmpdir(), "kong-prefix-"));
    this.socketPath = path.join(this.prefix, options.sockName ?? "oauth2_jwt.sock");
    const timeoutMs = options.rpcTimeoutMs ?? KONG_SOCKET_TIMEOUT_MS;
    this.counters = { total: 0, byMethod: {}, failed: 0, byConnection: [], bytesSent: 0, bytesReceived: 0 };
    this.pool = new ConnectionPool(this.socketPath, options.connections ?? 4, timeoutMs, this.counters);
    this.counters.byConnection = this.pool.callsPerConnection;
    this.protobuf = new ProtobufRpc({ socketPath: this.socketPath, timeoutMs, counters: this.counters });
  }

  /** The running server's process id. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The last lines the server wrote on stdout and stderr. */
  logs(): string[] {
    return [...this.logLines];
  }

  /** Runs the query command (`--dump-all-plugins`) and keeps the parsed dump in `plugins`. */
  async query(): Promise<PluginInfo[]> {
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        [
          this.command,
          ...(this.options.args ?? []),
          "--plugins-directory",
          this.pluginsDirectory,
          "--dump-all-plugins",
        ],
        { env: {}, cwd: this.prefix, maxBuffer: 16 * 1024 * 1024, timeout: 60_000 },
        (error, out, err) => {
          if (error === null) {
            resolve(out);
            return;
          }
          // The server's own one-line complaint comes first on stderr (its usage text follows).
          const complaint = `${err}\n${error.message}`.split("\n").find((line) => line.trim() !== "");
          reject(new PluginServerStartError(`query command failed: ${complaint}`));
        },
      );
    });
    let dump: unknown;
    try {
      dump = JSON.parse(stdout);
    } catch {
      throw new PluginServerStartError(
        `query command printed something other than JSON on stdout: ${stdout.slice(0, 500)}`,
      );
    }
    const infos = isRecord(dump) && Array.isArray(dump.Plugins) ? dump.Plugins : dump;
    if (!Array.isArray(infos)) throw new PluginServerStartError(`not a plugin info table: ${stdout.slice(0, 500)}`);
    const protocol = isRecord(dump) && dump.Protocol !== undefined ? dump.Protocol : "MsgPack:1";
    if (typeof protocol !== "string" || !PROTOCOLS.includes(protocol)) {
      throw new PluginServerStartError(
        `unknown protocol implementation: ${typeof protocol === "string" ? protocol : JSON.stringify(protocol)}`,
      );
    }
    this.protocol = protocol as PluginServerProtocol;
    this.plugins = infos as PluginInfo[];
    return this.plugins;
  }

  /** Starts the server process (Kong's start command) and waits for its socket. */
  async start(): Promise<void> {
    if (this.child !== undefined) throw new Error("plugin server already running");
    const args = [
      ...(this.options.nodeArgs ?? []),
      this.command,
      ...(this.options.args ?? []),
      "--kong-prefix",
      this.prefix,
      "--sock-name",
      path.basename(this.socketPath),
      "--plugins-directory",
      this.pluginsDirectory,
    ];
    // Kong starts it from a worker with nginx's cleared environment; so do we.
    const child = spawn(process.execPath, args, { env: {}, cwd: this.prefix, stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    this.exitPromise = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    for (const stream of [child.stdout, child.stderr]) {
      let partial = "";
      stream.setEncoding("utf8");
      stream.on("data", (text: string) => {
        const lines = (partial + text).split("\n");
        partial = lines.pop() ?? "";
        for (const line of lines) this.log(line);
      });
    }
    child.once("exit", () => {
      if (this.child === child) this.child = undefined;
    });
    await this.waitForSocket(child);
  }

  /** Sends a signal and waits for the process to exit (default SIGKILL, as in a crash). */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const child = this.child;
    const exited = this.exitPromise;
    if (child === undefined || exited === undefined) return;
    child.kill(signal);
    await exited;
    // The kernel closed the process's sockets before it reported the exit; let the harness see
    // those closes too (Kong's keepalive pool drops a connection its peer closed while idle).
    await new Promise((resolve) => setImmediate(resolve));
  }

  /** Stops the server (SIGTERM) if it still runs and starts it again on the same socket. */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Stops the server, closes the connections and removes a temporary prefix. */
  async close(): Promise<void> {
    this.pool.close();
    this.protobuf.close();
    await this.stop();
    if (this.ownsPrefix) fs.rmSync(this.prefix, { recursive: true, force: true });
  }

  /**
   * Validates `config` against the dumped schema, fills defaults the way Kong does, adds the
   * keys Kong adds, and starts the instance (StartInstance with the config as a JSON string).
   */
  async startInstance(name: string, config: unknown = {}, ids: InstanceIds = {}): Promise<PluginInstance> {
    const instance = this.configureInstance(name, config, ids);
    await instance.start();
    return instance;
  }

  /** Whether the query command's dump names this plugin. */
  serves(name: string): boolean {
    return this.plugins.some((plugin) => plugin.Name === name);
  }

  /** The plugin's `Priority` as the dump gives it (Kong orders an external plugin by it). */
  priority(name: string): number | undefined {
    return this.plugins.find((plugin) => plugin.Name === name)?.Priority;
  }

  /**
   * What Kong does when it loads a plugin's configuration: validated and filled, the keys Kong
   * adds added, but not started; the instance starts on its first request, as in Kong's worker.
   */
  configureInstance(name: string, config: unknown = {}, ids: InstanceIds = {}): PluginInstance {
    const info = this.plugins.find((plugin) => plugin.Name === name);
    if (info === undefined) {
      throw new PluginServerStartError(
        `plugin ${name} is not served here (dump has ${this.plugins.map((plugin) => plugin.Name).join(", ") || "none"})`,
      );
    }
    const validated = validatePluginConfig(info, config);
    const { config: filled, warnings } = resolveReferences(
      info,
      validated,
      this.options.vaultEnvironment ?? process.env,
    );
    for (const warning of warnings) this.options.onConfigWarning?.(warning);
    const pluginId = ids.plugin_id ?? randomUUID();
    const seq = ++this.seq;
    // kong/runloop/plugins_iterator.lua adds these to the conf before the plugin server sees it.
    const kongConfig: PluginConfig = {
      ...filled,
      ...(ids.route_id === undefined ? {} : { route_id: ids.route_id }),
      ...(ids.service_id === undefined ? {} : { service_id: ids.service_id }),
      ...(ids.consumer_id === undefined ? {} : { consumer_id: ids.consumer_id }),
      __plugin_id: pluginId,
      __seq__: seq,
      __key__: `plugins:${name}:${ids.route_id ?? ""}:${ids.service_id ?? ""}:${ids.consumer_id ?? ""}::${pluginId}`,
    };
    return this.protocol === "ProtoBuf:1"
      ? new ProtobufPluginInstance(this.protobuf, name, filled, kongConfig)
      : new MsgPackPluginInstance(this, name, filled, kongConfig);
  }

  /** One raw MessagePack-RPC over the pool, e.g. `rpc("plugin.GetStatus", [])`. Counted. */
  async rpc(method: string, args: unknown[]): Promise<unknown> {
    if (this.protocol !== "MsgPack:1")
      throw new Error(`rpc(): this plugin server speaks ${this.protocol}; use rpcCall()`);
    this.counters.total++;
    this.counters.byMethod[method] = (this.counters.byMethod[method] ?? 0) + 1;
    try {
      return await this.pool.call(method, args);
    } catch (error) {
      this.counters.failed++;
      throw error;
    }
  }

  /** One raw ProtoBuf:1 RpcCall, e.g. `rpcCall({ cmd_get_instance_status: { instance_id: 1 } })`. Counted. */
  async rpcCall(command: RpcCommand): Promise<RpcReturn> {
    if (this.protocol !== "ProtoBuf:1")
      throw new Error(`rpcCall(): this plugin server speaks ${this.protocol}; use rpc()`);
    const outcome = await this.protobuf.call(command);
    if (outcome.kind !== "returned") throw new Error("unreachable: an RpcCall without an event cannot end a request");
    return outcome.value;
  }

  private async stop(): Promise<void> {
    const child = this.child;
    const exited = this.exitPromise;
    if (child === undefined || exited === undefined) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
    await exited;
    clearTimeout(timer);
  }

  private log(line: string): void {
    this.logLines.push(line);
    if (this.logLines.length > 1000) this.logLines.shift();
    this.options.onLog?.(line);
  }

  private async waitForSocket(child: ChildProcess): Promise<void> {
    const deadline = Date.now() + (this.options.startTimeoutMs ?? 15_000);
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new PluginServerStartError(
          `plugin server exited during start-up (${child.exitCode ?? child.signalCode}):\n${this.logLines.slice(-20).join("\n")}`,
        );
      }
      if (await canConnect(this.socketPath)) return;
      if (Date.now() > deadline) {
        throw new PluginServerStartError(
          `plugin server did not listen on ${this.socketPath} in time:\n${this.logLines.slice(-20).join("\n")}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

function canConnect(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.createConnection(socketPath);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => {
      socket.destroy();
      resolve(false);
    });
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
