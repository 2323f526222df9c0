/**
 * Forwards a request that passed the access phase to its upstream, as Kong's proxy does for
 * HTTP services: the request headers after the plugins' changes, minus hop-by-hop headers
 * (RFC 9110 §7.6.1), plus X-Forwarded-*; the request body streamed; the response streamed back.
 */
import { request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import type { HeaderMap } from "./headers.js";

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "proxy-authorization",
  "proxy-authenticate",
]);

export interface ProxyTarget {
  /** e.g. `http://127.0.0.1:8080` */
  origin: string;
  /** Path and query string for the upstream request. */
  pathAndQuery: string;
  preserveHost: boolean;
  timeoutMs: number;
}

function forwardable(headers: HeaderMap): HeaderMap {
  const connectionTokens = new Set(
    (headers["connection"] ?? []).flatMap((v) => v.split(",")).map((t) => t.trim().toLowerCase()),
  );
  const out: HeaderMap = {};
  for (const [name, values] of Object.entries(headers)) {
    if (HOP_BY_HOP.has(name) || connectionTokens.has(name)) continue;
    out[name] = values;
  }
  return out;
}

export function proxy(
  req: IncomingMessage,
  res: ServerResponse,
  headers: HeaderMap,
  target: ProxyTarget,
  extraResponseHeaders: Record<string, string>,
): void {
  const upstream = new URL(target.origin);
  const out = forwardable(headers);
  const clientHost = req.headers.host ?? "";
  if (!target.preserveHost) out["host"] = [upstream.host];
  out["x-forwarded-for"] = [
    [...(out["x-forwarded-for"] ?? []), req.socket.remoteAddress ?? ""].filter((v) => v !== "").join(", "),
  ];
  out["x-forwarded-proto"] = ["http"];
  out["x-forwarded-host"] = [clientHost.replace(/:\d+$/, "")];
  out["x-forwarded-port"] = [String(req.socket.localPort ?? "")];
  out["x-forwarded-path"] = [(req.url ?? "/").split("?")[0] ?? "/"];

  // Node takes repeated headers as arrays, but a single Host as a string.
  const outgoing: Record<string, string | string[]> = {};
  for (const [name, values] of Object.entries(out))
    outgoing[name] = name === "host" || values.length === 1 ? (values[0] ?? "") : values;
  const upstreamReq = httpRequest(
    {
      host: upstream.hostname,
      port: upstream.port === "" ? 80 : Number(upstream.port),
      method: req.method,
      path: target.pathAndQuery,
      headers: outgoing,
      timeout: target.timeoutMs,
    },
    (upstreamRes) => {
      const responseHeaders: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(upstreamRes.headers)) {
        if (value !== undefined && !HOP_BY_HOP.has(name)) responseHeaders[name] = value;
      }
      res.writeHead(upstreamRes.statusCode ?? 502, { ...responseHeaders, ...extraResponseHeaders });
      upstreamRes.pipe(res);
    },
  );
  const fail = (): void => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    // Kong's answer when the upstream cannot be reached.
    const body = JSON.stringify({ message: "An invalid response was received from the upstream server" });
    res.writeHead(502, {
      "content-type": "application/json; charset=utf-8",
      "content-length": Buffer.byteLength(body),
      ...extraResponseHeaders,
    });
    res.end(body);
  };
  upstreamReq.on("timeout", () => upstreamReq.destroy(new Error("upstream timeout")));
  upstreamReq.on("error", fail);
  req.pipe(upstreamReq);
}
