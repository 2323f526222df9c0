// A tiny cookie-keeping HTTP client for the login and consent pages: what a browser does,
// minus rendering. It stores cookies by name (one host per test server), follows no redirects
// by itself (tests assert each 303), and extracts forms from the server's own HTML.
import assert from "node:assert/strict";
import { request } from "node:http";

export interface PageResponse {
  status: number;
  headers: Headers;
  body: string;
  /** The Location header of a redirect, resolved against the request URL. */
  location: string | undefined;
}

export interface StoredCookie {
  value: string;
  /** The raw Set-Cookie line, for attribute assertions. */
  raw: string;
}

export class CookieJar {
  readonly cookies = new Map<string, StoredCookie>();

  store(headers: Headers): void {
    for (const line of headers.getSetCookie()) {
      const first = line.split(";", 1)[0] ?? "";
      const eq = first.indexOf("=");
      if (eq <= 0) continue;
      this.cookies.set(first.slice(0, eq).trim(), { value: first.slice(eq + 1).trim(), raw: line });
    }
  }

  header(): string {
    return [...this.cookies].map(([name, c]) => `${name}=${c.value}`).join("; ");
  }
}

export class BrowserClient {
  readonly jar = new CookieJar();

  constructor(readonly base: string) {}

  async request(
    method: "GET" | "POST",
    pathOrUrl: string,
    form?: URLSearchParams,
    headers: Record<string, string> = {},
  ): Promise<PageResponse> {
    const url = new URL(pathOrUrl, this.base);
    const response = await fetch(url, {
      method,
      redirect: "manual",
      headers: {
        ...(this.jar.cookies.size > 0 ? { cookie: this.jar.header() } : {}),
        ...(form ? { "content-type": "application/x-www-form-urlencoded" } : {}),
        ...headers,
      },
      ...(form ? { body: form.toString() } : {}),
    });
    this.jar.store(response.headers);
    const location = response.headers.get("location");
    return {
      status: response.status,
      headers: response.headers,
      body: await response.text(),
      location: location === null ? undefined : new URL(location, url).href,
    };
  }

  get(pathOrUrl: string): Promise<PageResponse> {
    return this.request("GET", pathOrUrl);
  }

  post(path: string, form: URLSearchParams): Promise<PageResponse> {
    return this.request("POST", path, form);
  }
}

/**
 * A browser on its own loopback address (127.0.0.0/8 is all loopback on Linux): the server sees it as a distinct TCP
 * peer, the address the throttle keys on, as it would see two machines.
 */
export class PeerBrowser extends BrowserClient {
  constructor(
    base: string,
    /** Where the browser is: change it to move it (a laptop taken to a café). */
    public localAddress: string,
    /** The X-Forwarded-For header a reverse proxy in front of the server would send for this browser, if any. */
    public forwardedFor?: string,
  ) {
    super(base);
  }

  override request(method: "GET" | "POST", pathOrUrl: string, form?: URLSearchParams): Promise<PageResponse> {
    const url = new URL(pathOrUrl, this.base);
    const body = form?.toString();
    const headers: Record<string, string> = {
      ...(this.jar.cookies.size > 0 ? { cookie: this.jar.header() } : {}),
      ...(this.forwardedFor !== undefined ? { "x-forwarded-for": this.forwardedFor } : {}),
      ...(body !== undefined
        ? { "content-type": "application/x-www-form-urlencoded", "content-length": String(Buffer.byteLength(body)) }
        : {}),
    };
    return new Promise((resolve, reject) => {
      const outgoing = request(url, { method, headers, localAddress: this.localAddress }, (incoming) => {
        let text = "";
        incoming.setEncoding("utf8");
        incoming.on("data", (chunk: string) => (text += chunk));
        incoming.on("end", () => {
          const received = new Headers();
          for (const [name, value] of Object.entries(incoming.headers)) {
            for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) received.append(name, v);
          }
          this.jar.store(received);
          const location = received.get("location");
          resolve({
            status: incoming.statusCode ?? 0,
            headers: received,
            body: text,
            location: location === null ? undefined : new URL(location, url).href,
          });
        });
      });
      outgoing.on("error", reject);
      outgoing.end(body);
    });
  }
}

/** Decodes the five entities views/html.ts produces. */
function unescape(text: string): string {
  return text.replace(
    /&(amp|lt|gt|quot|#39);/g,
    (_m, e: string) => ({ amp: "&", lt: "<", gt: ">", quot: '"', "#39": "'" })[e] ?? "",
  );
}

export interface PageForm {
  action: string;
  /** Hidden fields in document order (names may repeat). */
  fields: URLSearchParams;
}

/** The forms of a page rendered by our views (one attribute order, double quotes). */
export function formsOf(body: string): PageForm[] {
  const forms: PageForm[] = [];
  for (const match of body.matchAll(/<form method="post" action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/g)) {
    const fields = new URLSearchParams();
    for (const input of match[2].matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)) {
      fields.append(unescape(input[1]), unescape(input[2]));
    }
    forms.push({ action: unescape(match[1]), fields });
  }
  return forms;
}

export function onlyForm(body: string, action: string): PageForm {
  const forms = formsOf(body).filter((f) => f.action === action);
  assert.equal(forms.length, 1, `exactly one form posting to ${action}`);
  return forms[0];
}

export function withFields(form: PageForm, extra: Record<string, string>): URLSearchParams {
  const params = new URLSearchParams(form.fields);
  for (const [name, value] of Object.entries(extra)) params.set(name, value);
  return params;
}

/** The headers every HTML page must carry (RFC 9700 §4.16 framing, §4.2.4 Referer; views/page-response.ts). */
export function assertPageHeaders(headers: Headers): void {
  assert.match(
    headers.get("content-security-policy") ?? "",
    /^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/=]+'; form-action 'self'[^;]*; frame-ancestors 'none'; base-uri 'none'$/,
  );
  assert.equal(headers.get("x-frame-options"), "DENY");
  assert.equal(headers.get("referrer-policy"), "no-referrer");
  assert.equal(headers.get("cache-control"), "no-store");
  assert.equal(headers.get("x-content-type-options"), "nosniff");
  assert.equal(headers.get("content-type"), "text/html; charset=utf-8");
}
