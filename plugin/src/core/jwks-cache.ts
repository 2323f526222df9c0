// The key sets of the authorization servers, cached per process and shared by every plugin
// instance (Kong starts one instance per route configuration and worker; they must not each
// fetch). Fetched on first use; fresh for jwks_cache_seconds or the key set response's own
// max-age, whichever is shorter; refreshed in the background before they go stale; one fetch at a
// time per key set (single-flight); at most one fetch per cooldown, whoever asks for it, so a
// token naming an unknown `kid` waits at most one cooldown for a key the key server has just
// published; when the key server is unreachable the last good keys keep working. No timers:
// refreshes ride on requests, so an idle gateway makes no calls.

import { freshnessLifetime } from "./cache-control.js";
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
  /** When the fetch round that brought the keys in use started (ms). */
  fetchedAt: number;
  /** How long the key server said those keys may be used (seconds, cache-control.ts); undefined: no bound. */
  maxAgeSeconds: number | undefined;
  /** When the last fetch round started (ms), successful or not. */
  lastAttemptAt: number;
  inflight: Promise<void> | undefined;
  lastError: string | undefined;
  jwksUri: string | undefined;
  fetches: number;
}

/** Keys are refreshed once this share of their lifetime has passed, so requests never wait for it. */
const REFRESH_AHEAD = 0.8;

/** The keys of one fetch round, with the freshness lifetime their response announced. */
interface FetchedKeys {
  readonly keys: KeySet;
  readonly maxAgeSeconds: number | undefined;
}

/** The shortest interval between two fetch rounds of a key set for `source` (ms). */
const cooldownMs = (source: JwksSource): number => Math.min(source.minRefreshSeconds, source.cacheSeconds) * 1000;

/**
 * How long the keys of `entry` count as fresh for `source` (ms): jwks_cache_seconds, or the key
 * set response's own lifetime when shorter, so that a cached key set never outlives what the
 * authorization server announced — its key rotation delay is planned against that max-age. A
 * shorter lifetime than the cooldown (no-store, no-cache, max-age=0) counts as one cooldown: what
 * a key server says cannot turn every request into a fetch.
 */
function lifetimeMs(source: JwksSource, entry: Entry): number {
  const announced = Math.min(source.cacheSeconds * 1000, (entry.maxAgeSeconds ?? Number.POSITIVE_INFINITY) * 1000);
  return Math.max(announced, cooldownMs(source));
}

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
    const dueAt = entry.fetchedAt + lifetimeMs(source, entry) * REFRESH_AHEAD;
    // While the key server is down, retry at most once per cooldown rather than on every request.
    const retryAllowed = now - entry.lastAttemptAt >= cooldownMs(source);
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
   * round started less than `minRefreshSeconds` ago, whoever started it (a flood of random kids
   * must not become a flood of fetches); join a fetch already under way. So a key published at T
   * is fetched by T + one cooldown however many random kids came first: the round that follows
   * the last one before T is allowed by then, and the first request after it starts or joins it.
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
        maxAgeSeconds: undefined,
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
    const startedAt = this.now();
    entry.lastAttemptAt = startedAt;
    entry.fetches += 1;
    entry.inflight = this.fetchRound(source, entry)
      .then(
        (fetched) => {
          entry.keys = fetched.keys;
          // Freshness counts from the request, not the response (RFC 9111 §4.2.3, response_delay).
          entry.fetchedAt = startedAt;
          entry.maxAgeSeconds = fetched.maxAgeSeconds;
          entry.lastError = undefined;
        },
        (error: unknown) => {
          // Keep the last good keys: tokens they verify stay valid while the key server is down.
          entry.lastError = describeError(error);
          this.onError(entry.lastError);
        },
      )
      .finally(() => {
        entry.inflight = undefined;
      });
    return entry.inflight;
  }

  private async fetchRound(source: JwksSource, entry: Entry): Promise<FetchedKeys> {
    let jwksUri = source.jwksUri;
    if (jwksUri === null) {
      const { document: metadata } = await this.getJson(metadataUrl(source.issuer));
      // RFC 8414 §3.3: the metadata's issuer must be identical to the one we asked about.
      if (metadata.issuer !== source.issuer)
        throw new Error(`metadata issuer ${JSON.stringify(metadata.issuer)} is not ${source.issuer}`);
      const discovered = metadata.jwks_uri;
      if (typeof discovered !== "string" || !/^https?:\/\//.test(discovered))
        throw new Error("metadata has no http(s) jwks_uri");
      jwksUri = discovered;
    }
    entry.jwksUri = jwksUri;
    const { document, headers } = await this.getJson(jwksUri);
    const parsed = parseJwks(document, entry.keys);
    if ("error" in parsed) throw new Error(`${jwksUri}: ${parsed.error}`);
    if (parsed.keys.size === 0) throw new Error(`${jwksUri}: no usable key (${parsed.skipped.join("; ")})`);
    return { keys: parsed, maxAgeSeconds: freshnessLifetime(headers) };
  }

  private async getJson(url: string): Promise<{ document: Record<string, unknown>; headers: Headers }> {
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
    const reader: ReadableStreamDefaultReader<Uint8Array> | undefined = response.body?.getReader();
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
    if (typeof value !== "object" || value === null || Array.isArray(value))
      throw new Error(`${url}: not a JSON object`);
    return { document: value as Record<string, unknown>, headers: response.headers };
  }
}

/** The process-wide cache every plugin instance shares. */
export const sharedJwksCache = new JwksCache();
