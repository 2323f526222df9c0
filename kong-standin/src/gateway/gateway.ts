/**
 * The local stand-in gateway: an HTTP front that routes by the real kong.yml, runs its serverless
 * snippets (mirrored from their Lua: the identity-header stripping, and in the MsgPack deployment
 * the fail-closed guard; serverless.ts), runs the `oauth2-jwt` plugin through the real plugin
 * server in the protocol its query command names, ProtoBuf:1 or MessagePack-RPC (the wire
 * harness), with Kong's answer to each protocol's failures, runs Kong's `rate-limiting`
 * (rate-limiting.ts) on whom the plugin authenticated, and proxies to the upstream. Plugins run in
 * Kong's priority order; kong.yml's consumers are what kong.client.load_consumer finds.
 * It is a local stand-in for tests and the demo; production runs Kong with the same kong.yml.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { consumerDirectory, type Authenticated, type ConsumerDirectory } from "../wire/index.js";
import {
  effectivePlugins,
  KongConfigError,
  loadKongConfig,
  type KongConfig,
  type PluginEntry,
  type RouteDef,
} from "./config.js";
import { headerMapFromRaw, type HeaderMap } from "./headers.js";
import { DEFAULT_HOST_TABLE, mapPluginConfig, mapUrl, type HostTable } from "./hosts.js";
import { newRequestId, type SharedContext } from "./guard.js";
import { BUNDLED_PRIORITY, type PluginHost, type PluginInstanceHandle } from "./plugins.js";
import { proxy } from "./proxy.js";
import { parseRateLimitingConfig, RATE_LIMITING, RateLimiter } from "./rate-limiting.js";
import { matchRoute, normalizePath, upstreamPath } from "./router.js";
import { isServerlessPlugin, runSnippets, serverlessSnippets, type Snippet } from "./serverless.js";

export interface GatewayOptions {
  /** Path of kong.yml, or an already parsed config. */
  config: string | KongConfig;
  /** The plugin server, driven through the wire harness. */
  plugins: PluginHost;
  /** 8000 (Kong's proxy port) by default; 0 picks a free port. */
  port?: number;
  host?: string;
  hostTable?: HostTable;
  /** `ngx.var.request_id`; tests may inject it. */
  requestId?: () => string;
  /** Upstream timeout (Kong's default read timeout is 60 s). */
  upstreamTimeoutMs?: number;
  /**
   * One line per failed plugin call (Kong logs these at error level): failed open over
   * MessagePack-RPC, answered 500 over ProtoBuf:1 (or when an instance cannot start).
   */
  onPluginError?: (route: string, error: string) => void;
  /** An error of the stand-in itself (answered with 500, never proxied). */
  onError?: (error: Error) => void;
  /**
   * The consumers kong.client.load_consumer looks up: kong.yml's `consumers:` by default; tests
   * may pass a store whose lookups fail (wire/consumers.ts).
   */
  consumers?: ConsumerDirectory;
  /** The clock rate-limiting counts by (ms since the epoch; Kong reads ngx.time()). */
  clock?: () => number;
}

export interface RunningGateway {
  url: string;
  port: number;
  close(): Promise<void>;
}

type Step =
  | { kind: "serverless"; snippets: Snippet[] }
  | { kind: "plugin-server"; instance: PluginInstanceHandle }
  | { kind: "rate-limiting"; limiter: RateLimiter };

interface PreparedRoute {
  route: RouteDef;
  upstreamOrigin: string;
  upstreamBase: string;
  steps: Step[];
}

/** Kong runs a phase's plugins by PRIORITY, highest first (kong/db/dao/plugins.lua sort_by_handler_priority). */
function priority(plugins: PluginHost, name: string): number {
  return BUNDLED_PRIORITY[name] ?? plugins.priority(name) ?? 0;
}

function prepare(
  config: KongConfig,
  plugins: PluginHost,
  table: HostTable,
  clock: (() => number) | undefined,
): PreparedRoute[] {
  const prepared: PreparedRoute[] = [];
  // One limiter per plugin entry: a service's or a global entry counts across its routes (rate-limiting.ts).
  const limiters = new Map<PluginEntry, RateLimiter>();
  for (const route of config.routes) {
    const steps: Step[] = [];
    const entries = effectivePlugins(route, config.globalPlugins).sort(
      (a, b) => priority(plugins, b.name) - priority(plugins, a.name),
    );
    for (const entry of entries) {
      if (entry.name === RATE_LIMITING) {
        let limiter = limiters.get(entry);
        if (limiter === undefined) {
          limiter = new RateLimiter(parseRateLimitingConfig(`route ${route.name}`, entry.config), clock);
          limiters.set(entry, limiter);
        }
        steps.push({ kind: "rate-limiting", limiter });
      } else if (isServerlessPlugin(entry.name)) {
        steps.push({ kind: "serverless", snippets: serverlessSnippets(route.name, entry.name, entry.config) });
      } else if (plugins.serves(entry.name)) {
        // Kong's entity ids are UUIDs; the declarative loader derives them, we draw them.
        const ids = { route_id: randomUUID(), service_id: randomUUID() };
        steps.push({
          kind: "plugin-server",
          instance: plugins.configureInstance(entry.name, mapPluginConfig(entry.config, table), ids),
        });
      } else {
        throw new KongConfigError(`route ${route.name}: plugin "${entry.name}" is not served by this stand-in`);
      }
    }
    const upstream = new URL(mapUrl(route.service.url, table));
    if (upstream.protocol !== "http:")
      throw new KongConfigError(`service ${route.service.name}: only http upstreams are implemented`);
    prepared.push({
      route,
      upstreamOrigin: upstream.origin,
      upstreamBase: upstream.pathname === "" ? "/" : upstream.pathname,
      steps,
    });
  }
  return prepared;
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string | string[]>,
): void {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  const hasType = Object.keys(headers).some((h) => h.toLowerCase() === "content-type");
  res.writeHead(status, {
    ...(hasType
      ? {}
      : { "content-type": typeof body === "string" ? "text/plain; charset=utf-8" : "application/json; charset=utf-8" }),
    ...headers,
    "content-length": Buffer.byteLength(text),
    via: "1.1 kong-standin",
  });
  res.end(text);
  // A refused request's body is not read: drop the connection's remaining input.
  res.once("finish", () => res.req.resume());
}

/**
 * kong.response.error(status): its JSON template carries the request id (kong/tools/http.lua,
 * Kong 3.9.3). Kong's $kong_request_id is 32 hex digits; the stand-in draws one the same shape.
 */
function sendKongError(
  res: ServerResponse,
  status: number,
  message: string,
  headers: Record<string, string | string[]> = {},
): void {
  sendJson(res, status, { message, request_id: randomBytes(16).toString("hex") }, headers);
}

/** Kong's default message for 500 (kong/tools/http.lua get_default_exit_body). */
const KONG_500_MESSAGE = "An unexpected error occurred";

/** A plugin's `kong.response.exit`: the bytes and headers Kong would send. */
function sendRaw(res: ServerResponse, status: number, body: string, headers: Record<string, string | string[]>): void {
  res.writeHead(status, { ...headers, "content-length": Buffer.byteLength(body), via: "1.1 kong-standin" });
  res.end(body);
  res.once("finish", () => res.req.resume());
}

export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const config = typeof options.config === "string" ? loadKongConfig(options.config) : options.config;
  const table = options.hostTable ?? DEFAULT_HOST_TABLE;
  const routes = prepare(config, options.plugins, table, options.clock);
  const consumers = options.consumers ?? consumerDirectory(config.consumers);
  const byRoute = new Map(routes.map((r) => [r.route, r]));
  const requestId = options.requestId ?? newRequestId;
  const timeoutMs = options.upstreamTimeoutMs ?? 60_000;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = (req.method ?? "GET").toUpperCase();
    const target = req.url ?? "/";
    const queryAt = target.indexOf("?");
    const rawPath = queryAt === -1 ? target : target.slice(0, queryAt);
    const query = queryAt === -1 ? "" : target.slice(queryAt);
    const path = normalizePath(rawPath);
    if (path === undefined) {
      sendJson(res, 400, { message: "Bad request" }, {});
      return;
    }
    const match = matchRoute(config.routes, method, path);
    const prepared = match === undefined ? undefined : byRoute.get(match.route);
    if (match === undefined || prepared === undefined) {
      // Kong's answer when no route matches: kong.response.error(404, …) (kong/runloop/handler.lua).
      sendKongError(res, 404, "no Route matched with those values");
      return;
    }
    let headers: HeaderMap = headerMapFromRaw(req.rawHeaders);
    const shared: SharedContext = new Map();
    // ngx.ctx.authenticated_consumer/credential: what plugins told kong.client.authenticate.
    let authenticated: Authenticated | undefined;
    // Response headers a plugin set with ngx.header during the phase (rate-limiting's): they go
    // out with whatever response ends the request.
    const responseHeaders: Record<string, string> = {};
    for (const step of prepared.steps) {
      if (step.kind === "serverless") {
        const verdict = runSnippets(step.snippets, headers, shared, requestId);
        if (verdict.outcome === "exit") {
          sendJson(res, verdict.status, verdict.body, { ...responseHeaders, ...verdict.headers });
          return;
        }
        headers = verdict.headers;
        continue;
      }
      if (step.kind === "rate-limiting") {
        const verdict = step.limiter.access({ authenticated, forwardedIp: req.socket.remoteAddress ?? "" });
        Object.assign(responseHeaders, verdict.headers);
        if (verdict.outcome === "exit") {
          sendKongError(res, verdict.status, verdict.message, responseHeaders);
          return;
        }
        continue;
      }
      const result = await step.instance.access({
        method,
        path,
        headers,
        ctxShared: Object.fromEntries(shared),
        consumers,
        ...(authenticated === undefined ? {} : { authenticated }),
      });
      for (const [key, value] of Object.entries(result.ctxShared))
        if (typeof value === "string") shared.set(key, value);
      authenticated = result.authenticated;
      if (result.outcome === "exit" && result.error !== undefined) {
        // Kong's own 500 (kong.response.error): the event failed over ProtoBuf:1, or the instance
        // could not start, or a PDK call raised a Lua error. Never proxied.
        options.onPluginError?.(match.route.name, result.error);
        sendKongError(res, result.status, KONG_500_MESSAGE, responseHeaders);
        return;
      }
      if (result.outcome === "exit") {
        sendRaw(res, result.status, result.rawBody, { ...responseHeaders, ...result.headers });
        return;
      }
      if (result.outcome === "failed-open") {
        // What Kong does: log, and carry on as if the plugin had allowed the request. Only the
        // guard's post-function stands between this and the upstream.
        options.onPluginError?.(match.route.name, result.error);
      }
      headers = result.upstreamHeaders;
    }
    proxy(
      req,
      res,
      headers,
      {
        origin: prepared.upstreamOrigin,
        pathAndQuery: upstreamPath(match, path, prepared.upstreamBase) + query,
        preserveHost: match.route.preserveHost,
        timeoutMs,
      },
      { ...responseHeaders, via: "1.1 kong-standin" },
    );
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      // A bug in the stand-in itself must never proxy: answer 500.
      options.onError?.(err as Error);
      if (!res.headersSent) sendJson(res, 500, { message: KONG_500_MESSAGE }, {});
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 8000, options.host ?? "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://localhost:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
