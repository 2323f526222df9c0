import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";

/** The metrics listener could not listen (the port in use, an address not of this machine). */
export class MetricsListenError extends Error {
  constructor(
    readonly host: string,
    readonly port: number,
    readonly code: string | undefined,
    options: { cause: unknown },
  ) {
    super(
      code === "EADDRINUSE"
        ? `metrics port ${port} on ${host} is in use`
        : `cannot listen for metrics on ${host}:${port}: ${(options.cause as Error).message}`,
      options,
    );
    this.name = "MetricsListenError";
  }
}

export interface MetricsListener {
  /** http://host:port, the listener's own address (never the issuer's). */
  url: string;
  close(): Promise<void>;
}

/**
 * Serves `register` as Prometheus text at GET /metrics on a listener of its own: kept off the issuer's port, which may
 * be published through Kong. Every other path is 404, every other method 405.
 */
export async function listenForMetrics(register: Registry, host: string, port: number): Promise<MetricsListener> {
  const server = createServer((request, response) => void answer(register, request, response));
  server.listen(port, host);
  try {
    await once(server, "listening");
  } catch (error: unknown) {
    throw new MetricsListenError(host, port, (error as NodeJS.ErrnoException).code, { cause: error });
  }
  const bound = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${bound}`,
    async close() {
      server.close();
      server.closeAllConnections();
      await once(server, "close").catch(() => undefined);
    },
  };
}

async function answer(register: Registry, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const path = (request.url ?? "").split("?")[0];
  if (path !== "/metrics") {
    plain(response, 404, "not found");
    return;
  }
  if (request.method !== "GET") {
    response.setHeader("Allow", "GET");
    plain(response, 405, "method not allowed");
    return;
  }
  try {
    // The collectors read memory only (registry.ts): a scrape answers even while the database does not.
    const text = await register.metrics();
    response.writeHead(200, { "Content-Type": register.contentType, "Cache-Control": "no-store" });
    response.end(text);
  } catch {
    plain(response, 500, "metrics could not be collected");
  }
}

function plain(response: ServerResponse, status: number, text: string): void {
  response.writeHead(status, { "Content-Type": "text/plain; charset=utf-8" });
  response.end(`${text}\n`);
}
