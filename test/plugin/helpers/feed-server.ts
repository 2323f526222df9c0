// A revocation feed on 127.0.0.1:0 for the plugin's tests, speaking the authorization server's
// wire format (GET <feed>?after=<cursor>, HTTP Basic of one client; pages of `pageSize` entries
// with `has_more`; `reset: true` without a cursor or with one it did not issue) and serving RFC 8414
// metadata that names it. Entries are appended by the test; the cursor is the position, in clear.
import type { IncomingMessage, ServerResponse } from "node:http";
import { LocalServer } from "./local-server.ts";

export interface FeedServerOptions {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly pageSize: number;
}

export class FeedServer extends LocalServer {
  /** Wire entries in position order (position = index + 1). */
  readonly entries: unknown[] = [];
  /** Request URLs, in order. */
  readonly requests: string[] = [];

  constructor(private readonly options: FeedServerOptions) {
    super();
  }

  get feedUrl(): string {
    return `${this.origin}/revocations`;
  }

  append(...entries: unknown[]): void {
    this.entries.push(...entries);
  }

  protected handle(request: IncomingMessage, response: ServerResponse): void {
    this.requests.push(request.url ?? "/");
    const url = new URL(request.url ?? "/", this.origin);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      response.writeHead(status, { "content-type": "application/json", "cache-control": "no-store", ...headers });
      response.end(JSON.stringify(body));
    };
    if (url.pathname === "/.well-known/oauth-authorization-server") {
      send(200, { issuer: this.origin, revocation_feed_endpoint: this.feedUrl });
      return;
    }
    if (url.pathname !== "/revocations") {
      send(404, { error: "not_found" });
      return;
    }
    const expected = `Basic ${Buffer.from(`${encode(this.options.clientId)}:${encode(this.options.clientSecret)}`).toString("base64")}`;
    if (request.headers.authorization !== expected) {
      send(401, { error: "invalid_client" }, { "www-authenticate": "Basic" });
      return;
    }
    const after = url.searchParams.get("after");
    const position = after === null ? NaN : Number(after);
    const issued = Number.isSafeInteger(position) && position >= 0 && position <= this.entries.length;
    const from = issued ? position : 0;
    const to = Math.min(this.entries.length, from + this.options.pageSize);
    send(200, {
      entries: this.entries.slice(from, to),
      cursor: String(to),
      has_more: to < this.entries.length,
      ...(issued ? {} : { reset: true }),
    });
  }
}

/** RFC 6749 §2.3.1 form encoding of a credential. */
const encode = (value: string): string => new URLSearchParams({ v: value }).toString().slice(2);
