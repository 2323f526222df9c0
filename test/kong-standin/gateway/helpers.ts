// A running stand-in over the real kong.yml, the real plugin server (through the wire harness),
// a real authorization server, and an upstream that records what reached it.
import { createServer, type IncomingHttpHeaders } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { digest, generateId, generateSecret } from "../../../authz-server/src/secrets.ts";
import { startServer, type RunningServer } from "../../../authz-server/src/server.ts";
import { startGateway, type RunningGateway } from "../../../kong-standin/src/gateway/gateway.ts";
import { spawnPluginServer, type PluginServerProcess } from "../../../kong-standin/src/wire/index.ts";

export const ROOT = resolve(fileURLToPath(new URL(".", import.meta.url)), "../../..");
export const KONG_YML = join(ROOT, "kong.yml");
/** The declarative file for a MsgPack:1 plugin server: kong.yml's routes inside the fail-closed guard. */
export const KONG_MSGPACK_YML = join(ROOT, "plugin/examples/kong.msgpack.yml");
/** The plugin server's flag for MsgPack:1, given to its query and start commands alike. */
export const MSGPACK_SERVER_ARGS = ["--protocol", "msgpack"];
export const AUDIENCE = "http://localhost:8000/flickr";

export interface Recorded {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Upstream {
  url: string;
  port: number;
  requests: Recorded[];
  close(): Promise<void>;
}

/** Answers 200 `{"upstream":"echo"}` and records every request. */
export async function startRecordingUpstream(): Promise<Upstream> {
  const requests: Recorded[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (d: string) => (body += d));
    req.on("end", () => {
      requests.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ upstream: "echo" }));
    });
  });
  server.listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export interface Stack {
  authz: RunningServer;
  plugins: PluginServerProcess;
  gateway: RunningGateway;
  upstream: Upstream;
  pluginErrors: string[];
  /** A client_credentials token (sub = client id) carrying exactly these scopes. */
  token(scopes: string[]): Promise<string>;
  clientId: string;
  close(): Promise<void>;
}

/**
 * The sidecar runs on the real clock: the plugin server is another process that checks `exp`
 * against its own clock (tokens live 10 minutes, far longer than a test).
 */
export async function startStack(
  options: { upstream?: Upstream; upstreamPort?: number; config?: string; serverArgs?: string[] } = {},
): Promise<Stack> {
  const dir = mkdtempSync(join(tmpdir(), "gateway-test-"));
  const authz = await startServer({
    port: 0,
    host: "127.0.0.1",
    db: join(dir, "authz.db"),
    logger: pino({ level: "silent" }),
  });
  const storage = authz.services.storage;
  for (const name of ["photos", "photos:write", "profile"])
    await storage.scopes.create({ name, description: `demo ${name}`, resource: AUDIENCE });
  const secret = generateSecret();
  const clientId = generateId();
  await storage.clients.create({
    clientId,
    name: "gateway test client",
    secretDigest: digest(secret),
    redirectUris: [],
    grantTypes: ["client_credentials"],
    scopes: ["photos", "photos:write", "profile"],
    tokenEndpointAuthMethod: "client_secret_basic",
    createdAt: Date.now(),
  });
  const upstream = options.upstream ?? (await startRecordingUpstream());
  const plugins = await spawnPluginServer({ args: options.serverArgs ?? [] });
  const pluginErrors: string[] = [];
  let gateway: RunningGateway;
  try {
    gateway = await startGateway({
      config: options.config ?? KONG_YML,
      plugins,
      port: 0,
      // kong.yml's Docker names and fixed ports → this test's free ports (hosts.ts).
      hostTable: {
        "photos:8080": `127.0.0.1:${options.upstreamPort ?? upstream.port}`,
        "authz:9000": `127.0.0.1:${authz.port}`,
        "localhost:9000": `localhost:${authz.port}`,
      },
      onPluginError: (route, error) => pluginErrors.push(`${route}: ${error}`),
    });
  } catch (err) {
    await plugins.close();
    throw err;
  }
  return {
    authz,
    plugins,
    gateway,
    upstream,
    pluginErrors,
    clientId,
    async token(scopes) {
      const response = await fetch(`${authz.url}/token`, {
        method: "POST",
        headers: {
          authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString("base64")}`,
          "content-type": "application/x-www-form-urlencoded",
        },
        body: new URLSearchParams({ grant_type: "client_credentials", scope: scopes.join(" ") }),
      });
      const body = (await response.json()) as { access_token?: string; scope?: string };
      if (response.status !== 200 || body.access_token === undefined)
        throw new Error(`token request failed: ${response.status} ${JSON.stringify(body)}`);
      return body.access_token;
    },
    async close() {
      await gateway.close();
      await plugins.close();
      if (options.upstream === undefined) await upstream.close();
      await authz.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Answer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/** One request through the gateway, with raw header names as given (node:http keeps `_`). */
export async function send(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<Answer> {
  const { request } = await import("node:http");
  const url = new URL(base);
  return new Promise<Answer>((resolvePromise, reject) => {
    const req = request({ host: "127.0.0.1", port: url.port, method, path, headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (text += d));
      res.on("end", () => {
        const h: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === "string") h[k] = v;
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // not JSON: keep the text
        }
        resolvePromise({ status: res.statusCode ?? 0, headers: h, body: parsed });
      });
    });
    req.setTimeout(10_000, () => req.destroy(new Error("request timed out")));
    req.on("error", reject);
    req.end(body);
  });
}

/** The headers that matter in an answer (dates and connection details left out). */
export function pick(headers: Record<string, string>, names: readonly string[]): Record<string, string | undefined> {
  return Object.fromEntries(names.map((n) => [n, headers[n]]));
}
