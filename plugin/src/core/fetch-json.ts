// One GET of a JSON object from the authorization server, shared by the key-set cache
// (jwks-cache.ts) and the revocation feed (revocation-feed.ts): a timeout covering headers and
// body alike, no redirects, and a size cap counted while reading. Also the RFC 8414 metadata
// lookup both use to discover their endpoint when it is not configured.

export interface JsonFetchOptions {
  readonly fetch: typeof fetch;
  /** Per HTTP request, headers and body together. */
  readonly timeoutMs: number;
  /** Largest document accepted; a larger one is a failure, never buffered whole. */
  readonly maxBytes: number;
  /** Extra request header fields (e.g. Authorization). */
  readonly headers?: Readonly<Record<string, string>>;
}

/** A response other than 200, with its status for callers that tell them apart (401 from others). */
export class HttpStatusError extends Error {
  override readonly name = "HttpStatusError";
  constructor(
    readonly url: string,
    readonly status: number,
  ) {
    super(`${url}: HTTP ${status}`);
  }
}

/** An error's message, with the cause node's fetch hides behind "fetch failed" (e.g. ECONNREFUSED). */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause;
  const detail = cause instanceof Error ? ((cause as NodeJS.ErrnoException).code ?? cause.message) : undefined;
  return detail === undefined ? error.message : `${error.message} (${detail})`;
}

/** The JSON object at `url`; throws an Error naming the URL on any failure. */
export async function getJson(
  url: string,
  options: JsonFetchOptions,
): Promise<{ document: Record<string, unknown>; headers: Headers }> {
  const signal = AbortSignal.timeout(options.timeoutMs);
  let response: Response;
  try {
    response = await options.fetch(url, {
      headers: { accept: "application/json", ...options.headers },
      signal,
      redirect: "error",
    });
  } catch (error) {
    throw new Error(`${url}: ${describeError(error)}`);
  }
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => undefined);
    throw new HttpStatusError(url, response.status);
  }
  const tooLarge = new Error(`${url}: document larger than ${options.maxBytes} bytes`);
  const declared = Number(response.headers.get("content-length") ?? "0");
  if (declared > options.maxBytes) {
    await response.body?.cancel().catch(() => undefined);
    throw tooLarge;
  }
  // Counted while reading, not after: a body without Content-Length (chunked) could otherwise
  // be buffered whole — a hostile key server streamed 300 MB into 1 GB of memory before the cap
  // applied. The timeout's signal also aborts this read.
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader: ReadableStreamDefaultReader<Uint8Array> | undefined = response.body?.getReader();
  try {
    for (let read = await reader?.read(); read !== undefined && !read.done; read = await reader?.read()) {
      size += read.value.byteLength;
      if (size > options.maxBytes) {
        // Cancelling the body closes the connection: nothing more is read.
        await reader?.cancel();
        throw tooLarge;
      }
      chunks.push(read.value);
    }
  } catch (error) {
    throw error === tooLarge ? tooLarge : new Error(`${url}: ${describeError(error)}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks, size).toString("utf8"));
  } catch {
    throw new Error(`${url}: not JSON`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error(`${url}: not a JSON object`);
  return { document: value as Record<string, unknown>, headers: response.headers };
}

/** RFC 8414 §3: the well-known suffix goes between the host and the issuer's path. */
export function metadataUrl(issuer: string): string {
  const url = new URL(issuer);
  const path = url.pathname === "/" ? "" : url.pathname.replace(/\/$/, "");
  return `${url.origin}/.well-known/oauth-authorization-server${path}`;
}

/**
 * The http(s) URL the issuer's RFC 8414 metadata gives for `name` (`jwks_uri`,
 * `revocation_feed_endpoint`); throws when the metadata names another issuer (§3.3) or has none.
 */
export async function discoverEndpoint(issuer: string, name: string, options: JsonFetchOptions): Promise<string> {
  const { document: metadata } = await getJson(metadataUrl(issuer), { ...options, headers: {} });
  // RFC 8414 §3.3: the metadata's issuer must be identical to the one we asked about.
  if (metadata.issuer !== issuer)
    throw new Error(`metadata issuer ${JSON.stringify(metadata.issuer)} is not ${issuer}`);
  const endpoint = metadata[name];
  if (typeof endpoint !== "string" || !/^https?:\/\//.test(endpoint))
    throw new Error(`metadata has no http(s) ${name}`);
  return endpoint;
}
