/**
 * `node kong-standin/dist/gateway/main.js --config kong.yml [--port 8000] [--host 127.0.0.1]
 *   [--map photos:8080=127.0.0.1:8080]... [--protocol msgpack]`
 *
 * The local stand-in for Kong used by `npm start`: spawns the oauth2-jwt plugin server as Kong
 * would, then serves kong.yml's routes. Like Kong's worker 0, it starts the plugin server again
 * when it dies (at most once a second). In between, over ProtoBuf:1 (the server's default)
 * protected requests get 500; with `--protocol msgpack` (given to the server's query and start
 * commands, as plugin/examples/kong.msgpack.yml's deployment needs) they fail open at the plugin
 * and the guard refuses them with 503.
 */
import { parseArgs } from "node:util";
import { spawnPluginServer, type PluginServerProcess } from "../wire/index.js";
import { startGateway } from "./gateway.js";
import { DEFAULT_HOST_TABLE } from "./hosts.js";

const { values } = parseArgs({
  options: {
    config: { type: "string", default: "kong.yml" },
    port: { type: "string", default: "8000" },
    host: { type: "string", default: "127.0.0.1" },
    map: { type: "string", multiple: true },
    // Passed on to the plugin server, which refuses a value it does not know.
    protocol: { type: "string" },
  },
});

const table: Partial<Record<string, string>> = { ...DEFAULT_HOST_TABLE };
for (const entry of values.map ?? []) {
  const [from = "", to = ""] = entry.split("=");
  if (from === "" || to === "") {
    console.error(`kong-standin: --map expects host:port=host:port, got ${entry}`);
    process.exit(2);
  }
  table[from] = to;
}

let plugins: PluginServerProcess;
try {
  plugins = await spawnPluginServer({
    args: values.protocol === undefined ? [] : ["--protocol", values.protocol],
    onLog: (line) => console.log(`[plugin-server] ${line}`),
    // Kong's env vault reads the gateway's environment: `{vault://env/…}` references resolve here.
    onConfigWarning: (line) => console.error(`[kong-standin] ${line}`),
  });
} catch (err) {
  console.error(`kong-standin: ${(err as Error).message}`);
  process.exit(1);
}
let gateway;
try {
  gateway = await startGateway({
    config: values.config,
    plugins,
    port: Number(values.port),
    host: values.host,
    hostTable: table,
    onPluginError: (route, error) =>
      console.error(`[kong-standin] route ${route}: plugin call failed (${plugins.protocol}): ${error}`),
    onError: (error) => console.error(`[kong-standin] internal error: ${error.stack ?? error.message}`),
  });
} catch (err) {
  console.error(`kong-standin: ${(err as Error).message}`);
  await plugins.close();
  process.exit(1);
}
console.log(
  `kong-standin (local stand-in for Kong) proxying on ${gateway.url}, routes from ${values.config}, plugin server speaking ${plugins.protocol}`,
);

let restarting = false;
const watchdog = setInterval(() => {
  if (plugins.pid !== undefined || restarting) return;
  restarting = true;
  console.error("[kong-standin] plugin server is not running; starting it again");
  plugins
    .start()
    .catch((err: unknown) => console.error(`[kong-standin] restart failed: ${(err as Error).message}`))
    .finally(() => {
      restarting = false;
    });
}, 1000);

const stop = (): void => {
  clearInterval(watchdog);
  void gateway
    .close()
    .then(() => plugins.close())
    .then(() => process.exit(0));
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
