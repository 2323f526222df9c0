// A key server on 127.0.0.1:0 for the cache and plugin tests: serves RFC 8414 metadata and a JWK
// Set whose keys the test changes at will, counts requests per path, and can be stopped and
// started again on the same port.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { JWK } from "jose";
import { LocalServer } from "./local-server.ts";

export class JwksServer extends LocalServer {
  keys: JWK[];
  /** Requests per path, e.g. hits.get("/jwks.json"). */
  readonly hits = new Map<string, number>();
  /** When set, every request gets this status instead. */
  failWith: number | undefined;
  /** When set, the metadata names this issuer instead of the server's own. */
  metadataIssuer: string | undefined;
  /** Extra response header fields of the key set, e.g. { "cache-control": "max-age=60" }. */
  jwksHeaders: Record<string, string> = {};

  constructor(keys: JWK[]) {
    super();
    this.keys = keys;
  }

  get jwksUri(): string {
    return `${this.origin}/jwks.json`;
  }
  count(path = "/jwks.json"): number {
    return this.hits.get(path) ?? 0;
  }

  protected handle(request: IncomingMessage, response: ServerResponse): void {
    const path = request.url ?? "/";
    this.hits.set(path, (this.hits.get(path) ?? 0) + 1);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      response.writeHead(status, { "content-type": "application/json", connection: "close", ...headers });
      response.end(JSON.stringify(body));
    };
    if (this.failWith !== undefined) {
      send(this.failWith, { error: "unavailable" });
      return;
    }
    if (path === "/jwks.json") {
      send(200, { keys: this.keys }, this.jwksHeaders);
      return;
    }
    if (path === "/.well-known/oauth-authorization-server") {
      send(200, {
        issuer: this.metadataIssuer ?? this.origin,
        jwks_uri: this.jwksUri,
        token_endpoint: `${this.origin}/token`,
      });
      return;
    }
    send(404, { error: "not_found" });
  }
}

/** A settable clock (milliseconds). */
export class TestClock {
  constructor(public ms: number) {}
  readonly now = (): number => this.ms;
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}
