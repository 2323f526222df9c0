// The key sets of the authorization servers, cached per process and shared by every plugin
// instance (Kong starts one instance per route configuration and worker; they must not each
// fetch). Requirements item 25: fetched on first use; refreshed in the background before they go
// stale; one fetch at a time per key set (single-flight); a token naming an unknown `kid` causes
// at most one refetch per cooldown; when the key server is unreachable the last good keys keep
// working. No timers: refreshes ride on requests, so an idle gateway makes no calls.

import { parseJwks, type KeySet } from "./jwks.js";

/** Where a route's keys come from, and how long they count as fresh (the plugin configuration). */
export interface JwksSource {
  readonly issuer: string;
  /** null: discovered from the issuer's RFC 8414 metadata. */
  readonly jwksUri: string | null;
  readonly cacheSeconds: number;
  readonly minRefreshSeconds: number;
}

export interface JwksCacheOptions {
  /** Milliseconds since the epoch. */
  readonly now?: () => number;
  readonly fetch?: typeof fetch;
  /** Per HTTP request. */
  readonly timeoutMs?: number;
  /** Largest metadata or key set document accepted. */
  readonly maxBytes?: number;
  /** Told about each failed fetch round (default: one line on stderr, which Kong logs). */
  readonly onError?: (message: string) => void;
}

export interface JwksStats {
  /** Fetch rounds started (each: discovery when needed, then the key set). */
  readonly fetches: number;
  readonly fetchedAt: number | undefined;
  readonly lastError: string | undefined;
  readonly jwksUri: string | undefined;
}

interface Entry {
  keys: KeySet | undefined;
  /** When the keys in use were fetched (ms). */
  fetchedAt: number;
  /** When the last fetch round started (ms), successful or not. */
  lastAttemptAt: number;
  inflight: Promise<void> | undefined;
  lastError: string | undefined;
  jwksUri: string | undefined;
  fetches: number;
}

/** Keys are refreshed once this share of their lifetime has passed, so requests never wait for it. */
const REFRESH_AHEAD = 0.8;

/** An error's message, with the cause node's fetch hides behind "fetch failed" (e.g. ECONNREFUSED). */
function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause;
  const detail = cause instanceof Error ? ((cause as NodeJS.ErrnoException).code ?? cause.message) : undefined;
  return detail === undefined ? error.message : `${error.message} (${detail})`;
}

/** RFC 8414 §3: the well-known suffix goes between the host and the issuer's path. */
export function metadataUrl(issuer: string): string {
  const url = new URL(issuer);
  const path = url.pathname === "/" ? "" : url.pathname.replace(/\/$/, "");
  return `${url.origin}/.well-known/oauth-authorization-server${path}`;
}

export class JwksCache {
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;
  private readonly fetchFunction: typeof fetch;
  private readonly timeoutMs: number;
  private readonly maxBytes: number;
  private readonly onError: (message: string) => void;

  constructor(options: JwksCacheOptions = {}) {
    this.now = options.now ?? Date.now;
    this.fetchFunction = options.fetch ?? ((input, init) => fetch(input, init));
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.maxBytes = options.maxBytes ?? 512 * 1024;
    this.onError = options.onError ?? ((message) => console.error(`[oauth2-jwt] key set fetch failed: ${message}`));
  }

  /** The cache key: one entry per key set URL, or per issuer whose metadata names it. */
  static keyOf(source: JwksSource): string {
    return source.jwksUri ?? `discover:${source.issuer}`;
  }

  /**
   * The keys at hand, without waiting; starts a background refresh when they near staleness.
   * Stale keys are still returned (the key server may be down; issued tokens stay verifiable).
   */
  cachedKeys(source: JwksSource, key: string = JwksCache.keyOf(source)): KeySet | undefined {
    const entry = this.entries.get(key);
    if (entry?.keys === undefined) return undefined;
    const now = this.now();
    const dueAt = entry.fetchedAt + source.cacheSeconds * 1000 * REFRESH_AHEAD;
    // While the key server is down, retry at most once per cooldown rather than on every request.
    const retryAllowed = now - entry.lastAttemptAt >= Math.min(source.minRefreshSeconds, source.cacheSeconds) * 1000;
    if (now >= dueAt && entry.inflight === undefined && retryAllowed) void this.startFetch(source, entry);
    return entry.keys;
  }

  /** The keys, fetching them on first use; undefined when none could ever be fetched. */
  async getKeys(source: JwksSource): Promise<KeySet | undefined> {
    const cached = this.cachedKeys(source);
    if (cached !== undefined) return cached;
    const entry = this.entryFor(source);
    if (entry.inflight === undefined) {
      // Never fetched successfully: after a failure, wait for the cooldown before trying again,
      // so that requests arriving while the key server is down do not each cause a fetch.
      if (this.now() - entry.lastAttemptAt < source.minRefreshSeconds * 1000) return undefined;
      void this.startFetch(source, entry);
    }
    await entry.inflight;
    return entry.keys;
  }

  /**
   * A token named a `kid` we do not have: maybe the key server rotated. Refetch unless a fetch
   * round started less than `minRefreshSeconds` ago (a flood of random kids must not become a
   * flood of fetches, requirements item 25); join a fetch already under way.
   */
  async refreshForUnknownKid(source: JwksSource): Promise<KeySet | undefined> {
    const entry = this.entryFor(source);
    if (entry.inflight === undefined && this.now() - entry.lastAttemptAt >= source.minRefreshSeconds * 1000) {
      void this.startFetch(source, entry);
    }
    if (entry.inflight !== undefined) await entry.inflight;
    return entry.keys;
  }

  stats(source: JwksSource): JwksStats {
    const entry = this.entries.get(JwksCache.keyOf(source));
    return {
      fetches: entry?.fetches ?? 0,
      fetchedAt: entry?.keys === undefined ? undefined : entry.fetchedAt,
      lastError: entry?.lastError,
      jwksUri: entry?.jwksUri,
    };
  }

  private entryFor(source: JwksSource): Entry {
    const key = JwksCache.keyOf(source);
    let entry = this.entries.get(key);
    if (entry === undefined) {
      entry = {
        keys: undefined,
        fetchedAt: 0,
        lastAttemptAt: Number.NEGATIVE_INFINITY,
        inflight: undefined,
        lastError: undefined,
        jwksUri: source.jwksUri ?? undefined,
        fetches: 0,
      };
      this.entries.set(key, entry);
    }
    return entry;
  }

  /** Starts one fetch round; the promise never rejects (failures land in `lastError`). */
  private startFetch(source: JwksSource, entry: Entry): Promise<void> {
    entry.lastAttemptAt = this.now();
    entry.fetches += 1;
    entry.inflight = this.fetchRound(source, entry)
      .then(
        (keys) => {
          entry.keys = keys;
          entry.fetchedAt = this.now();
          entry.lastError = undefined;
        },
        (error: unknown) => {
          // Keep the last good keys (requirements item 25).
          entry.lastError = describeError(error);
          this.onError(entry.lastError);
        },
      )
      .finally(() => {
        entry.inflight = undefined;
      });
    return entry.inflight;
  }

  private async fetchRound(source: JwksSource, entry: Entry): Promise<KeySet> {
    let jwksUri = source.jwksUri;
    if (jwksUri === null) {
      const metadata = await this.getJson(metadataUrl(source.issuer));
      // RFC 8414 §3.3: the metadata's issuer must be identical to the one we asked about.
      if (metadata.issuer !== source.issuer) throw new Error(`metadata issuer ${JSON.stringify(metadata.issuer)} is not ${source.issuer}`);
      const discovered = metadata.jwks_uri;
      if (typeof discovered !== "string" || !/^https?:\/\//.test(discovered)) throw new Error("metadata has no http(s) jwks_uri");
      jwksUri = discovered;
    }
    entry.jwksUri = jwksUri;
    const parsed = parseJwks(await this.getJson(jwksUri), entry.keys);
    if ("error" in parsed) throw new Error(`${jwksUri}: ${parsed.error}`);
    if (parsed.keys.size === 0) throw new Error(`${jwksUri}: no usable key (${parsed.skipped.join("; ")})`);
    return parsed;
  }

  private async getJson(url: string): Promise<Record<string, unknown>> {
    let response: Response;
    try {
      response = await this.fetchFunction(url, {
        headers: { accept: "application/json" },
        signal: AbortSignal.timeout(this.timeoutMs),
        redirect: "error",
      });
    } catch (error) {
      throw new Error(`${url}: ${describeError(error)}`);
    }
    if (response.status !== 200) {
      await response.body?.cancel();
      throw new Error(`${url}: HTTP ${response.status}`);
    }
    const tooLarge = new Error(`${url}: document larger than ${this.maxBytes} bytes`);
    const declared = Number(response.headers.get("content-length") ?? "0");
    if (declared > this.maxBytes) {
      await response.body?.cancel();
      throw tooLarge;
    }
    // Counted while reading, not after: a body without Content-Length (chunked) could otherwise
    // be buffered whole — a hostile key server streamed 300 MB into 1 GB of memory before the cap
    // applied. The timeout's signal also aborts this read.
    const chunks: Uint8Array[] = [];
    let size = 0;
    const reader = response.body?.getReader();
    try {
      for (let read = await reader?.read(); read !== undefined && !read.done; read = await reader?.read()) {
        size += read.value.byteLength;
        if (size > this.maxBytes) {
          // Cancelling the body closes the connection: nothing more is read.
          await reader?.cancel();
          throw tooLarge;
        }
        chunks.push(read.value);
      }
    } catch (error) {
      throw error === tooLarge ? tooLarge : new Error(`${url}: ${describeError(error)}`);
    }
    const value: unknown = JSON.parse(Buffer.concat(chunks, size).toString("utf8"));
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error(`${url}: not a JSON object`);
    return value as Record<string, unknown>;
  }
}

/** The process-wide cache every plugin instance shares. */
export const sharedJwksCache = new JwksCache();
