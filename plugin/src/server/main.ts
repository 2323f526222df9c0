// oauth2-jwt-pluginserver: the process Kong starts (pluginserver_<name>_start_cmd) and queries
// (pluginserver_<name>_query_cmd). Same flags as kong-pdk's kong-js-pluginserver; depends on no
// environment variable and no working directory, because Kong starts it from a worker with
// nginx's cleared environment.
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { Encoder } from "@msgpack/msgpack";
import { createLogger, errorText, type LogLevel, type Logger } from "./logger.js";
import { listen, type Protocol, type RunningListener } from "./listener.js";
import { loadPlugins } from "./loader.js";
import type { MetricsListener, ServerFigures } from "./metrics.js";
import { PluginServer, RpcError } from "./plugin-server.js";

// Kong parses the query command's stdout as JSON, and a plugin module may print while it loads.
// Keep the real stdout for our JSON and send everything else that targets stdout to stderr.
const writeStdout = process.stdout.write.bind(process.stdout);
process.stdout.write = process.stderr.write.bind(process.stderr);
console.log = console.error;
console.info = console.error;
console.debug = console.error;

/** The plugins directory built next to this file: dist/server/main.js → dist/plugins. */
const DEFAULT_PLUGINS_DIRECTORY = path.resolve(__dirname, "..", "plugins");

const OPTIONS = {
  "kong-prefix": { type: "string", short: "p", default: "/usr/local/kong" },
  "sock-name": { type: "string", default: "js_pluginserver.sock" },
  "plugins-directory": { type: "string", short: "d", default: DEFAULT_PLUGINS_DIRECTORY },
  "dump-all-plugins": { type: "boolean", default: false },
  "dump-plugin-info": { type: "string" },
  verbose: { type: "boolean", short: "v", multiple: true },
  version: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
  // Ours, beyond kong-js-pluginserver's flags.
  protocol: { type: "string", default: "protobuf" },
  "instance-idle-ttl": { type: "string", default: "3600" },
  "event-idle-ttl": { type: "string", default: "60" },
  diagnostics: { type: "boolean", default: false },
  "metrics-host": { type: "string" },
  "metrics-port": { type: "string" },
  "metrics-optional": { type: "boolean", default: false },
} as const;

// kong-js-pluginserver also accepts Go-style single-dash long flags (`-kong-prefix DIR`).
const SINGLE_DASH_LONG = new Set(["-kong-prefix", "-plugins-directory", "-dump-plugin-info", "-dump-all-plugins"]);

const USAGE = `Usage: oauth2-jwt-pluginserver [options]
  -p, --kong-prefix <dir>        directory of the socket (default /usr/local/kong)
      --sock-name <name>         socket file name (default js_pluginserver.sock)
  -d, --plugins-directory <dir>  plugins to serve (default: this package's dist/plugins)
      --dump-all-plugins         print every plugin's info as JSON on stdout and exit
      --dump-plugin-info <name>  print one plugin's info as MessagePack on stdout and exit
  -v, --verbose                  debug logging (per RPC); logs always go to stderr
      --version                  print the version and exit
      --protocol <name>          protobuf (Kong's ProtoBuf:1, default) or msgpack (MsgPack:1, as
                                 kong-js-pluginserver); give the same to the query and start commands
      --instance-idle-ttl <s>    drop instances unused for this long, 0 = never (default 3600)
      --event-idle-ttl <s>       drop events Kong abandoned after this long, > 0 (default 60)
      --diagnostics              expose plugin.Diagnostics (memory, forced GC) for tests
      --metrics-port <port>      serve Prometheus metrics at GET /metrics on this port (off unless
                                 given; 0 = any free port, logged)
      --metrics-host <host>      address of the metrics listener (default 127.0.0.1)
      --metrics-optional         if the metrics port cannot be bound, warn and run without metrics
                                 (default: say so and exit 1)
`;

function fail(message: string): never {
  process.stderr.write(`oauth2-jwt-pluginserver: ${message}\n${USAGE}`);
  process.exit(2);
}

function seconds(name: string, value: string, zero: "allowed" | "refused"): number {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < 0 || (zero === "refused" && parsed === 0)) {
    fail(`--${name} must be a ${zero === "refused" ? "positive" : "non-negative"} number of seconds`);
  }
  return parsed * 1000;
}

/** Where to serve metrics, when asked to. */
interface MetricsFlags {
  readonly host: string;
  readonly port: number;
  readonly optional: boolean;
}

function metricsFlags(flags: {
  "metrics-host"?: string;
  "metrics-port"?: string;
  "metrics-optional": boolean;
}): MetricsFlags | undefined {
  const port = flags["metrics-port"];
  if (port === undefined) {
    if (flags["metrics-host"] !== undefined) fail("--metrics-host needs --metrics-port");
    if (flags["metrics-optional"]) fail("--metrics-optional needs --metrics-port");
    return undefined;
  }
  const parsed = Number(port);
  if (!/^\d+$/.test(port) || parsed > 65535)
    fail(`--metrics-port must be a port number (0-65535), not ${JSON.stringify(port)}`);
  const host = flags["metrics-host"] ?? "127.0.0.1";
  if (host === "") fail("--metrics-host must not be empty");
  return { host, port: parsed, optional: flags["metrics-optional"] };
}

/** Kong picks the protocol from the query command's answer, so both commands need the same flag. */
const PROTOCOLS: Readonly<Partial<Record<string, Protocol>>> = { protobuf: "ProtoBuf:1", msgpack: "MsgPack:1" };

function protocolOf(name: string): Protocol {
  const protocol = PROTOCOLS[name];
  if (protocol === undefined) fail(`--protocol must be protobuf or msgpack, not ${JSON.stringify(name)}`);
  return protocol;
}

function readVersion(): string {
  const manifest: unknown = JSON.parse(fs.readFileSync(path.resolve(__dirname, "..", "..", "package.json"), "utf8"));
  return typeof manifest === "object" && manifest !== null && "version" in manifest
    ? String(manifest.version)
    : "unknown";
}

function writeAndExit(data: string | Uint8Array): void {
  writeStdout(data, () => process.exit(0));
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args: process.argv.slice(2).map((arg) => (SINGLE_DASH_LONG.has(arg) ? `-${arg}` : arg)),
      options: OPTIONS,
      allowPositionals: false,
      strict: true,
    });
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  const flags = parsed.values;
  const protocol = protocolOf(flags.protocol);
  const metrics = metricsFlags(flags);
  if (flags.help) {
    writeAndExit(USAGE);
    return;
  }
  if (flags.version) {
    writeAndExit(`${readVersion()}\n`);
    return;
  }

  // kong-js-pluginserver's levels: "info" by default, "debug" from -v on. Kong logs every line
  // we write at INFO, so nothing is logged per request below debug.
  const verbosity = flags.verbose?.length ?? 0;
  const level: LogLevel = verbosity >= 1 ? "debug" : "info";
  const logger: Logger = createLogger(level);
  handleUncaught(logger);
  const pluginsDirectory = path.resolve(flags["plugins-directory"]);
  if (!fs.existsSync(pluginsDirectory)) fail(`plugins directory ${pluginsDirectory} does not exist`);

  const plugins = loadPlugins(pluginsDirectory, logger);
  const server = new PluginServer(plugins, logger, {
    instanceIdleMs: seconds("instance-idle-ttl", flags["instance-idle-ttl"], "allowed"), // 0 = never
    // 0 would drop every event in flight at the next sweep, not only those Kong abandoned.
    eventIdleMs: seconds("event-idle-ttl", flags["event-idle-ttl"], "refused"),
  });

  if (flags["dump-all-plugins"]) {
    // Kong's process.lua decodes this as JSON and speaks the `Protocol` it names, MsgPack:1 when
    // the answer is the bare array of plugin infos.
    const infos = server.pluginNames().map((name) => server.getPluginInfo(name));
    writeAndExit(`${JSON.stringify(protocol === "MsgPack:1" ? infos : { Protocol: protocol, Plugins: infos })}\n`);
    return;
  }
  const one = flags["dump-plugin-info"];
  if (one !== undefined) {
    // kong-pdk's intent for this flag (its own copy never fires): the info as MessagePack.
    try {
      writeAndExit(new Encoder().encode(server.getPluginInfo(one)));
    } catch (error) {
      fail(error instanceof RpcError ? error.message : String(error));
    }
    return;
  }

  let listener: RunningListener | undefined = undefined;
  if (flags.diagnostics) enableDiagnostics(server, () => listener?.bufferedBytes ?? 0);
  // Bound before Kong's socket exists: a port in use ends the process before Kong can connect.
  const metricsListener =
    metrics === undefined
      ? undefined
      : await startMetrics(metrics, logger, () => ({
          connections: listener?.connections ?? 0,
          bufferedBytes: listener?.bufferedBytes ?? 0,
          eventsInFlight: server.stats.events,
          instances: server.stats.instances,
        }));
  if (plugins.size === 0) logger.warn(`no plugin loaded from ${pluginsDirectory}`);
  const socketPath = path.resolve(flags["kong-prefix"], flags["sock-name"]);
  // The handlers go in before the socket exists: a SIGTERM arriving between the socket's
  // creation and the end of `listen` would otherwise take Node's default action and leave the
  // socket file behind.
  // A record, not a local: the signal handler sets it while `listen` is awaited below.
  const state = { closing: false };
  const shutdown = (signal: NodeJS.Signals): void => {
    if (state.closing) return;
    state.closing = true;
    logger.info(`${signal}: closing ${socketPath}`);
    server.stopSweeping();
    void Promise.all([listening.then((listener) => listener.close()), metricsListener?.close()]).then(() =>
      process.exit(0),
    );
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
  const listening = listen({ socketPath, server, logger, protocol });
  listener = await listening;
  if (!state.closing) server.startSweeping();
}

/**
 * The metrics listener, or undefined when --metrics-optional lets the process run without it.
 * prom-client is loaded only here: without the flag the server pays nothing for metrics.
 */
async function startMetrics(
  flags: MetricsFlags,
  logger: Logger,
  figures: () => ServerFigures,
): Promise<MetricsListener | undefined> {
  const { metricsRegistry, serveMetrics } = await import("./metrics.js");
  try {
    const served = await serveMetrics(metricsRegistry({ server: figures }), flags.host, flags.port);
    logger.info(`metrics at http://${hostPort(served.host, served.port)}/metrics`);
    return served;
  } catch (error) {
    const why =
      isErrno(error) && error.code === "EADDRINUSE"
        ? "is in use"
        : `cannot be listened on: ${isErrno(error) ? (error.code ?? error.message) : String(error)}`;
    const message = `--metrics-port ${flags.port} on ${flags.host} ${why}`;
    if (!flags.optional) {
      process.stderr.write(`oauth2-jwt-pluginserver: ${message}\n`);
      process.exit(1);
    }
    logger.warn(`${message}; running without metrics (--metrics-optional)`);
    return undefined;
  }
}

const hostPort = (host: string, port: number): string => (host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`);

function isErrno(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && "code" in error;
}

/**
 * The last resort, for what no handler of ours caught (the listener catches everything a
 * connection can cause, so this is a plugin's own timer or promise).
 *
 * A forgotten rejected promise unwound nothing of ours: the server keeps serving, as ending it
 * would fail open every request until Kong restarts it. A synchronous uncaught exception may have
 * stopped code of ours or of the plugin halfway through updating shared state (the event map, a
 * key cache); serving on could give a wrong verdict, which the fail-closed guard cannot catch, so
 * the process logs it and ends instead — Kong restarts it within a second, and meanwhile the
 * guard refuses the requests Kong proxies unchecked. Both log lines are total: a thrown value
 * whose toString throws would otherwise end the process from inside its own handler.
 */
function handleUncaught(logger: Logger): void {
  process.on("unhandledRejection", (reason) => {
    logger.error(`unhandled rejection: ${errorText(reason, { stack: true })}`);
  });
  process.on("uncaughtException", (error) => {
    logger.error(
      `uncaught exception, exiting for Kong to restart a clean server: ${errorText(error, { stack: true })}`,
    );
    process.exit(70); // EX_SOFTWARE
  });
}

/**
 * plugin.Diagnostics, only with --diagnostics: forces a full garbage collection when Node runs
 * with --expose-gc and reports memory and bookkeeping sizes, so a test can check that memory
 * stays flat under load without guessing what is garbage not yet collected.
 */
function enableDiagnostics(server: PluginServer, bufferedBytes: () => number): void {
  server.addMethod("Diagnostics", () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc !== undefined) {
      gc();
      gc();
    }
    const memory = process.memoryUsage();
    return {
      Pid: process.pid,
      GcForced: gc !== undefined,
      Rss: memory.rss,
      HeapTotal: memory.heapTotal,
      HeapUsed: memory.heapUsed,
      External: memory.external,
      ArrayBuffers: memory.arrayBuffers,
      Events: server.stats.events,
      Instances: server.stats.instances,
      // Bytes of incomplete messages the listener holds over all connections.
      Buffered: bufferedBytes(),
      // Whether TypeScript (kong-pdk's ts-node hook) was loaded into this process.
      TypeScriptLoaded: Object.keys(require.cache).some((file) => /[\\/]node_modules[\\/]typescript[\\/]/.test(file)),
    };
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`oauth2-jwt-pluginserver: ${errorText(error, { stack: true })}\n`);
  process.exit(1);
});
