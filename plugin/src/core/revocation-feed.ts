// The revocation feed of an authorization server, polled per process: one poller per issuer, feed
// URL and credential, shared by every route and plugin instance naming them, holding that
// issuer's revocation set (revocation-set.ts). A request only reads the set; it never waits for
// the feed, except for the first poll after a start.
//
// Wire format (the authorization server's `GET /revocations?after=<cursor>`, HTTP Basic with a
// resource server's client credentials, RFC 6749 §2.3.1):
//   { "entries": [...], "cursor": "<opaque>", "has_more": false, "reset": true? }
// `has_more` is followed at once; `reset: true` starts a full snapshot, built aside and swapped in
// whole once its last page arrived. A page is applied whole or not at all: one malformed entry
// fails the page. On any failure the last good set stays in force and the cursor where it was;
// the next poll retries at the interval. The state (healthy, failing) is logged once per change,
// never per request.

import { describeError, discoverEndpoint, getJson, HttpStatusError, type JsonFetchOptions } from "./fetch-json.js";
import { DEFAULT_MAX_ENTRIES, RevocationSet, type Eviction, type RevocationEntry } from "./revocation-set.js";
import type { RevocationFeedStats } from "./stats.js";
import { invalidToken, type Refusal, type Unavailable } from "./verdict.js";

/** Where a route's revocations come from (the plugin configuration, in the core's terms). */
export interface RevocationFeedSource {
  readonly issuer: string;
  /** null: discovered from the issuer's RFC 8414 metadata (`revocation_feed_endpoint`). */
  readonly feedUrl: string | null;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly pollSeconds: number;
}

/** What a route does with the set (the plugin configuration). */
export interface RevocationPolicy {
  readonly maxStaleSeconds: number;
  /** `accept`: enforce the last known set; `refuse`: 503 while it is out of date or incomplete. */
  readonly staleAction: "accept" | "refuse";
}

/** Timers, injectable so that tests drive the poller by hand. */
export interface Scheduler {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface RevocationFeedOptions {
  /** Milliseconds since the epoch. */
  readonly now?: () => number;
  readonly fetch?: typeof fetch;
  /** Per HTTP request, headers and body together (default 5 s). */
  readonly timeoutMs?: number;
  /** Largest page accepted (default 16 MiB; the server's largest page of 1,000 entries is far below). */
  readonly maxBytes?: number;
  /** Entries a set holds at most (default 500,000). */
  readonly maxEntries?: number;
  /** Pages one poll follows at most (default 1,000: a million entries at the server's page size). */
  readonly maxPages?: number;
  /** A poller no request used for this long stops, and is started again by the next (default 10 min). */
  readonly idleMs?: number;
  /** One line per state change (default: stderr, which Kong logs). */
  readonly log?: (message: string) => void;
  /** Told of signing keys a page withdrew (default: none; the handler wires the key-set cache). */
  readonly onKeysRevoked?: (issuer: string, kids: readonly string[]) => void;
  readonly scheduler?: Scheduler;
}

/**
 * Where a token's last clean lookup is remembered (the verified-token cache entry): the set and its
 * version then. A repeated token is looked up again only once the set has had an addition.
 */
export interface RevocationMemo {
  revocationSet?: RevocationSet | undefined;
  revocationVersion?: number | undefined;
}

/** A page of the feed, checked. */
export interface FeedPage {
  readonly entries: readonly RevocationEntry[];
  readonly cursor: string;
  readonly hasMore: boolean;
  readonly reset: boolean;
}

const REVOKED: Refusal = invalidToken("revoked", "the token has been revoked");
const REVOCATIONS_UNAVAILABLE: Unavailable = {
  ok: false,
  status: 503,
  reason: "revocations_unavailable",
  description: "the token revocation list is unavailable",
};

/** Opaque, but bounded: the server's cursors are about a hundred characters. */
const MAX_CURSOR_LENGTH = 1024;
/** Identifiers (jti, sub, client_id, kid) longer than this are not the authorization server's. */
const MAX_IDENTIFIER_LENGTH = 1024;

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);
const isIdentifier = (value: unknown): value is string =>
  typeof value === "string" && value.length > 0 && value.length <= MAX_IDENTIFIER_LENGTH;
/** Whole seconds since the epoch. */
const isInstant = (value: unknown): value is number =>
  typeof value === "number" && Number.isSafeInteger(value) && value >= 0;

/** One wire entry in the set's terms, or undefined when its shape is not the feed's. */
function parseEntry(raw: unknown): RevocationEntry | undefined {
  if (!isRecord(raw) || !isInstant(raw.drop_after)) return undefined;
  const dropAfter = raw.drop_after;
  const { sub, client_id: clientId, issued_before: issuedBefore } = raw;
  switch (raw.kind) {
    case "token":
      return isIdentifier(raw.jti) && isInstant(raw.exp) ? { kind: "token", jti: raw.jti, dropAfter } : undefined;
    case "key":
      return isIdentifier(raw.kid) ? { kind: "key", kid: raw.kid, dropAfter } : undefined;
    case "user":
      return isIdentifier(sub) && isInstant(issuedBefore) ? { kind: "user", sub, issuedBefore, dropAfter } : undefined;
    case "client":
      return isIdentifier(clientId) && isInstant(issuedBefore)
        ? { kind: "client", clientId, issuedBefore, dropAfter }
        : undefined;
    case "user_client":
      return isIdentifier(sub) && isIdentifier(clientId) && isInstant(issuedBefore)
        ? { kind: "user_client", sub, clientId, issuedBefore, dropAfter }
        : undefined;
    default:
      return undefined;
  }
}

/** A feed answer checked whole: the page, or why it is not one. */
export function parsePage(document: Record<string, unknown>): FeedPage | string {
  const { entries, cursor, has_more: hasMore, reset } = document;
  if (!Array.isArray(entries)) return "no `entries` array";
  if (typeof cursor !== "string" || cursor.length === 0 || cursor.length > MAX_CURSOR_LENGTH)
    return "no usable `cursor`";
  if (typeof hasMore !== "boolean") return "`has_more` is not a boolean";
  if (reset !== undefined && typeof reset !== "boolean") return "`reset` is not a boolean";
  const parsed: RevocationEntry[] = [];
  for (let i = 0; i < entries.length; i++) {
    const entry = parseEntry(entries[i]);
    if (entry === undefined) return `entry ${i} is malformed`;
    parsed.push(entry);
  }
  return { entries: parsed, cursor, hasMore, reset: reset === true };
}

/** RFC 6749 §2.3.1: client_id and secret are form-encoded before Basic (RFC 7617) encoding. */
export function basicCredentials(clientId: string, clientSecret: string): string {
  const encode = (value: string) => new URLSearchParams({ v: value }).toString().slice(2);
  return `Basic ${Buffer.from(`${encode(clientId)}:${encode(clientSecret)}`).toString("base64")}`;
}

const DEFAULT_SCHEDULER: Scheduler = {
  setTimeout: (callback, ms) => setTimeout(callback, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export class RevocationFeed {
  /** The set in force: replaced whole by a snapshot, extended page by page otherwise. */
  private set: RevocationSet;
  private cursor: string | undefined;
  private feedUrl: string | undefined;
  /** When the last good poll started (ms); staleness counts from there. */
  private lastGoodAt = Number.NEGATIVE_INFINITY;
  /** The set lost live entries to its cap; they would all have been forgotten by then (seconds). */
  private incompleteUntil = 0;
  private health: "starting" | "healthy" | "failing" = "starting";
  private overflowLogged = false;
  private timer: unknown;
  /** Counts starts, so that a poll chain from before a stop never schedules again. */
  private generation = 0;
  /** The poll under way: one at a time, whoever asks for it. */
  private inflight: Promise<void> | undefined;
  private lastUsedAt: number;
  /** Milliseconds between the starts of two polls. */
  private pollMs: number;
  /** Whether the poller runs (a timer is set or a poll is under way). */
  polling = false;
  /** Polls that brought the set up to date, and polls that failed (for the metrics). */
  pollsOk = 0;
  pollsFailed = 0;
  /**
   * The first poll after a start, bounded by one request timeout: a request arriving meanwhile
   * waits for it instead of meeting an empty or out-of-date set. Undefined once it settled.
   */
  starting: Promise<void> | undefined;

  private readonly now: () => number;
  private readonly http: JsonFetchOptions;
  private readonly maxEntries: number;
  private readonly maxPages: number;
  private readonly idleMs: number;
  private readonly log: (message: string) => void;
  private readonly onKeysRevoked: (issuer: string, kids: readonly string[]) => void;
  private readonly scheduler: Scheduler;

  constructor(
    readonly source: RevocationFeedSource,
    options: RevocationFeedOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.http = {
      fetch: options.fetch ?? ((input, init) => fetch(input, init)),
      timeoutMs: options.timeoutMs ?? 5000,
      maxBytes: options.maxBytes ?? 16 * 1024 * 1024,
      headers: { authorization: basicCredentials(source.clientId, source.clientSecret) },
    };
    this.maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
    this.maxPages = options.maxPages ?? 1000;
    this.idleMs = options.idleMs ?? 10 * 60 * 1000;
    this.log = options.log ?? ((message) => console.error(`[oauth2-jwt] ${message}`));
    this.onKeysRevoked = options.onKeysRevoked ?? (() => undefined);
    this.scheduler = options.scheduler ?? DEFAULT_SCHEDULER;
    this.set = new RevocationSet(this.maxEntries);
    this.pollMs = source.pollSeconds * 1000;
    this.lastUsedAt = this.now();
  }

  /** Entries in force. */
  get size(): number {
    return this.set.size;
  }

  /**
   * The verdict of the set on a token that passed every other check: undefined (it stands), 401
   * revoked, or 503 under `refuse` while the set is out of date or incomplete. Marks the poller
   * used. No allocation; with a `memo` that saw this very set version, no lookup either.
   */
  check(
    jti: string,
    sub: string,
    clientId: string,
    iat: number,
    kid: string,
    policy: RevocationPolicy,
    nowMs: number,
    memo?: RevocationMemo,
  ): Refusal | Unavailable | undefined {
    this.lastUsedAt = nowMs;
    if (policy.staleAction === "refuse" && !this.current(policy, nowMs)) return REVOCATIONS_UNAVAILABLE;
    const set = this.set;
    if (memo !== undefined && memo.revocationSet === set && memo.revocationVersion === set.version) return undefined;
    if (set.covers(jti, sub, clientId, iat, kid)) return REVOKED;
    if (memo !== undefined) {
      memo.revocationSet = set;
      memo.revocationVersion = set.version;
    }
    return undefined;
  }

  /** Size, age and poll counts, for the metrics. */
  stats(nowMs: number): RevocationFeedStats {
    return {
      issuer: this.source.issuer,
      entries: this.set.size,
      ageSeconds: this.lastGoodAt === Number.NEGATIVE_INFINITY ? undefined : (nowMs - this.lastGoodAt) / 1000,
      pollsOk: this.pollsOk,
      pollsFailed: this.pollsFailed,
    };
  }

  /** The set is recent enough for `policy` and lost no live entry to its cap. */
  current(policy: RevocationPolicy, nowMs: number): boolean {
    return nowMs - this.lastGoodAt <= policy.maxStaleSeconds * 1000 && nowMs / 1000 > this.incompleteUntil;
  }

  /** Polls at least every `pollSeconds` from now on (the smallest interval any route asked for). */
  use(pollSeconds: number): void {
    this.pollMs = Math.min(this.pollMs, pollSeconds * 1000);
    this.lastUsedAt = this.now();
    if (!this.polling) this.start();
  }

  /** Stops polling (the set is kept). */
  stop(): void {
    this.polling = false;
    if (this.timer !== undefined) this.scheduler.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private start(): void {
    this.polling = true;
    const first = this.cycle(++this.generation);
    const bounded = new Promise<void>((resolve) => {
      const timer = this.scheduler.setTimeout(resolve, this.http.timeoutMs);
      void first.finally(() => {
        this.scheduler.clearTimeout(timer);
        resolve();
      });
    });
    this.starting = bounded;
    void bounded.then(() => {
      if (this.starting === bounded) this.starting = undefined;
    });
  }

  /** One poll, then the next one scheduled, unless no request used the feed for `idleMs`. */
  private async cycle(generation: number): Promise<void> {
    this.timer = undefined;
    const startedAt = this.now();
    await this.poll();
    if (!this.polling || generation !== this.generation) return;
    if (this.now() - this.lastUsedAt > this.idleMs) {
      this.polling = false;
      return;
    }
    const delay = Math.max(0, this.pollMs - (this.now() - startedAt));
    this.timer = this.scheduler.setTimeout(() => void this.cycle(generation), delay);
  }

  /**
   * One poll: every page up to `has_more: false`; joins the poll under way, if any. Never
   * rejects; a failure keeps the last good set.
   */
  poll(): Promise<void> {
    this.inflight ??= this.pollOnce().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async pollOnce(): Promise<void> {
    const startedAt = this.now();
    try {
      this.feedUrl ??=
        this.source.feedUrl ?? (await discoverEndpoint(this.source.issuer, "revocation_feed_endpoint", this.http));
      await this.followPages(this.feedUrl);
      this.lastGoodAt = startedAt;
      this.pollsOk += 1;
      if (this.health === "failing")
        this.log(`revocation feed of ${this.source.issuer} is healthy again: ${this.set.size} entries in force`);
      this.health = "healthy";
    } catch (error) {
      this.pollsFailed += 1;
      if (this.health !== "failing") this.log(this.failureMessage(error));
      this.health = "failing";
    }
  }

  private async followPages(url: string): Promise<void> {
    let snapshot: RevocationSet | undefined;
    /** What the snapshot's cap dropped so far, applied with the snapshot. */
    let snapshotEviction: Eviction = NOTHING_DROPPED;
    let cursor = this.cursor;
    for (let pages = 0; ; pages++) {
      if (pages === this.maxPages) throw new Error(`${url}: more than ${this.maxPages} pages in one poll`);
      const location = pageUrl(url, cursor);
      const page = parsePage((await getJson(location, this.http)).document);
      if (typeof page === "string") throw new Error(`${location}: ${page}`);
      if (page.reset) {
        snapshot = new RevocationSet(this.maxEntries);
        snapshotEviction = NOTHING_DROPPED;
      }
      const target = snapshot ?? this.set;
      const kids: string[] = [];
      for (const entry of page.entries) {
        if (entry.kind === "key" && !this.set.hasKid(entry.kid)) kids.push(entry.kid);
        target.add(entry);
      }
      target.forget(this.now() / 1000);
      const eviction = target.enforceCap();
      if (snapshot === undefined) {
        this.noteEviction(eviction);
        // An applied page is never asked for again, even if a later page fails.
        this.cursor = page.cursor;
      } else snapshotEviction = combined(snapshotEviction, eviction);
      if (kids.length > 0) this.onKeysRevoked(this.source.issuer, kids);
      cursor = page.cursor;
      if (!page.hasMore) break;
    }
    if (snapshot !== undefined) {
      this.set = snapshot;
      this.cursor = cursor;
      this.incompleteUntil = 0;
      this.overflowLogged = false;
      this.noteEviction(snapshotEviction);
    }
    if (this.overflowLogged && this.now() / 1000 > this.incompleteUntil) this.overflowLogged = false;
  }

  private noteEviction(eviction: Eviction): void {
    if (eviction.dropped === 0) return;
    this.incompleteUntil = Math.max(this.incompleteUntil, eviction.coveredUntil);
    if (this.overflowLogged) return;
    this.overflowLogged = true;
    this.log(
      `revocation set of ${this.source.issuer} is full (${this.maxEntries} entries): live entries were dropped, ` +
        `soonest-expiring first; it is incomplete until ${new Date(this.incompleteUntil * 1000).toISOString()} ` +
        `(under revocation_stale_action "refuse", requests on this issuer are answered 503 until then)`,
    );
  }

  private failureMessage(error: unknown): string {
    const consequence =
      this.lastGoodAt === Number.NEGATIVE_INFINITY
        ? "no revocation set yet"
        : `the last good set (${this.set.size} entries, as of ${new Date(this.lastGoodAt).toISOString()}) stays in force`;
    const why =
      error instanceof HttpStatusError && error.status === 401
        ? `${error.url} refused the credential of revocation_client_id ${JSON.stringify(this.source.clientId)} ` +
          "(HTTP 401): check revocation_client_id and revocation_client_secret, and that the client is registered as a resource server"
        : describeError(error);
    return `revocation feed of ${this.source.issuer} is failing: ${why}; ${consequence}, retrying every ${this.pollMs / 1000} s`;
  }
}

const NOTHING_DROPPED: Eviction = { dropped: 0, coveredUntil: 0 };
const combined = (a: Eviction, b: Eviction): Eviction => ({
  dropped: a.dropped + b.dropped,
  coveredUntil: Math.max(a.coveredUntil, b.coveredUntil),
});

function pageUrl(feedUrl: string, cursor: string | undefined): string {
  if (cursor === undefined) return feedUrl;
  const url = new URL(feedUrl);
  url.searchParams.set("after", cursor);
  return url.href;
}

/** The process-wide pollers, one per issuer, feed URL and credential. */
export class RevocationFeeds {
  private readonly feeds = new Map<string, RevocationFeed>();

  constructor(private readonly options: RevocationFeedOptions = {}) {}

  static keyOf(source: RevocationFeedSource): string {
    return JSON.stringify([source.issuer, source.feedUrl, source.clientId, source.clientSecret]);
  }

  /** The poller for `source`, started if it was not running. */
  acquire(source: RevocationFeedSource): RevocationFeed {
    const key = RevocationFeeds.keyOf(source);
    let feed = this.feeds.get(key);
    if (feed === undefined) {
      this.forgetSuperseded(source);
      this.feeds.set(key, (feed = new RevocationFeed(source, this.options)));
    }
    feed.use(source.pollSeconds);
    return feed;
  }

  /**
   * A new credential for a feed (a rotated secret, another gateway client) leaves the old
   * credential's poller unused: once it has stopped for idleness, its set serves no route and is
   * forgotten, instead of being held, with its entries, until the process ends. A poller still
   * polling is kept: another route may use that credential.
   */
  private forgetSuperseded(source: RevocationFeedSource): void {
    for (const [key, feed] of this.feeds) {
      if (!feed.polling && feed.source.issuer === source.issuer && feed.source.feedUrl === source.feedUrl)
        this.feeds.delete(key);
    }
  }

  /** Every poller started and not forgotten, for the metrics. */
  feedStats(nowMs: number): RevocationFeedStats[] {
    return [...this.feeds.values()].map((feed) => feed.stats(nowMs));
  }

  /** Stops every poller (tests, shutdown). */
  stopAll(): void {
    for (const feed of this.feeds.values()) feed.stop();
  }
}

/**
 * A route's view of its feed: the poller and the route's policy. A request on a route whose poller
 * stopped for want of use starts it again.
 */
export class RouteRevocations {
  private feed: RevocationFeed;

  constructor(
    private readonly feeds: RevocationFeeds,
    private readonly source: RevocationFeedSource,
    readonly policy: RevocationPolicy,
  ) {
    this.feed = feeds.acquire(source);
  }

  /** The first poll after a start, for a request to wait on (see RevocationFeed.starting). */
  get starting(): Promise<void> | undefined {
    if (!this.feed.polling) this.feed = this.feeds.acquire(this.source);
    return this.feed.starting;
  }

  check(
    jti: string,
    sub: string,
    clientId: string,
    iat: number,
    kid: string,
    nowMs: number,
    memo?: RevocationMemo,
  ): Refusal | Unavailable | undefined {
    return this.feed.check(jti, sub, clientId, iat, kid, this.policy, nowMs, memo);
  }
}
