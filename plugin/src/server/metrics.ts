// The plugin server's Prometheus metrics, on a listener of its own (loopback unless the operator
// says otherwise; Kong's socket never serves them). Loaded only when --metrics-port is given.
//
// Requests pay for metrics with plain counters only (core/stats.ts and the caches' own fields):
// every figure here is read from them when Prometheus scrapes, in `collect()`, so a request
// allocates nothing and hashes no label set for the metrics. The registry is this process's own,
// never prom-client's global one.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { collectDefaultMetrics, Counter, Gauge, Registry } from "prom-client";
import { pluginStats, type KeySetStats, type PluginStats, type RevocationFeedStats } from "../core/stats.js";

/** The plugin server's own figures at the time of a scrape. */
export interface ServerFigures {
  /** Kong's sockets open now. */
  readonly connections: number;
  /** Bytes held for incomplete messages over all connections. */
  readonly bufferedBytes: number;
  readonly eventsInFlight: number;
  readonly instances: number;
}

export interface MetricsOptions {
  readonly server: () => ServerFigures;
  /** Default: the process-wide counters the plugin increments. */
  readonly stats?: PluginStats;
  /** Milliseconds since the epoch, for the ages. */
  readonly now?: () => number;
}

const PREFIX = "oauth2_jwt_";

/** A registry of every metric of the plugin server, process metrics included. */
export function metricsRegistry(options: MetricsOptions): Registry {
  const registry = new Registry();
  const stats = options.stats ?? pluginStats;
  const now = options.now ?? Date.now;
  const registers = [registry];
  collectDefaultMetrics({ register: registry });

  new Counter({
    name: `${PREFIX}verdicts_total`,
    help: "Access-phase verdicts by outcome (allowed, refused, unavailable, error, anonymous) and reason.",
    labelNames: ["outcome", "reason"],
    registers,
    collect() {
      this.reset();
      stats.verdicts.forEach((outcome, reason, count) => this.inc({ outcome, reason }, count));
    },
  });

  counterOf(registers, "token_cache_hits_total", "Requests decided from a cached token verification.", () =>
    stats.sources === undefined ? 0 : stats.sources.tokenCache().hits,
  );
  counterOf(
    registers,
    "token_cache_misses_total",
    "Requests whose bearer token was not in the cache, so was checked in full.",
    () => (stats.sources === undefined ? 0 : stats.sources.tokenCache().misses),
  );
  gaugeOf(registers, "token_cache_entries", "Verified tokens held in the token cache.", () =>
    stats.sources === undefined ? 0 : stats.sources.tokenCache().entries,
  );
  counterOf(registers, "consumer_cache_hits_total", "Consumer lookups answered from the cache.", () =>
    stats.sources === undefined ? 0 : stats.sources.consumerCache().hits,
  );
  counterOf(
    registers,
    "consumer_cache_misses_total",
    "Consumer lookups that cost a kong.client.load_consumer call.",
    () => (stats.sources === undefined ? 0 : stats.sources.consumerCache().misses),
  );

  const keySets = (): Map<string, KeySetStats[]> => byIssuer(stats.sources?.keySets(now()) ?? []);
  new Counter({
    name: `${PREFIX}jwks_fetches_total`,
    help: "Key set fetch rounds by issuer and result (ok, failed).",
    labelNames: ["issuer", "result"],
    registers,
    collect() {
      this.reset();
      for (const [issuer, sets] of keySets()) {
        this.inc(
          { issuer, result: "ok" },
          sum(sets, (set) => set.fetchesOk),
        );
        this.inc(
          { issuer, result: "failed" },
          sum(sets, (set) => set.fetchesFailed),
        );
      }
    },
  });
  // Of an issuer's key sets (one per jwks_uri), the one furthest past its freshness lifetime.
  const oldestKeySets = (): Map<string, KeySetStats> => {
    const oldest = new Map<string, KeySetStats>();
    for (const [issuer, sets] of keySets()) {
      let worst: KeySetStats | undefined;
      for (const set of sets)
        if (set.ageSeconds !== undefined && (worst === undefined || overdue(set) > overdue(worst))) worst = set;
      if (worst !== undefined) oldest.set(issuer, worst);
    }
    return oldest;
  };
  new Gauge({
    name: `${PREFIX}jwks_age_seconds`,
    help: "Seconds since the fetch round that brought the issuer's key set in use started.",
    labelNames: ["issuer"],
    registers,
    collect() {
      this.reset();
      for (const [issuer, set] of oldestKeySets()) this.set({ issuer }, set.ageSeconds ?? 0);
    },
  });
  new Gauge({
    name: `${PREFIX}jwks_max_age_seconds`,
    help: "Seconds the issuer's key set in use counts as fresh (jwks_cache_seconds or the key server's max-age).",
    labelNames: ["issuer"],
    registers,
    collect() {
      this.reset();
      for (const [issuer, set] of oldestKeySets()) this.set({ issuer }, set.maxAgeSeconds);
    },
  });

  const feeds = (): Map<string, RevocationFeedStats[]> => byIssuer(stats.sources?.revocationFeeds(now()) ?? []);
  new Gauge({
    name: `${PREFIX}revocation_feed_age_seconds`,
    help: "Seconds since the start of the last good poll of the issuer's revocation feed (absent before the first).",
    labelNames: ["issuer"],
    registers,
    collect() {
      this.reset();
      for (const [issuer, pollers] of feeds()) {
        const ages = pollers.flatMap((poller) => (poller.ageSeconds === undefined ? [] : [poller.ageSeconds]));
        if (ages.length > 0) this.set({ issuer }, Math.max(...ages));
      }
    },
  });
  new Gauge({
    name: `${PREFIX}revocation_entries`,
    help: "Entries of the issuer's revocation set in force.",
    labelNames: ["issuer"],
    registers,
    collect() {
      this.reset();
      for (const [issuer, pollers] of feeds()) this.set({ issuer }, Math.max(...pollers.map((p) => p.entries)));
    },
  });
  new Counter({
    name: `${PREFIX}revocation_polls_total`,
    help: "Polls of the issuer's revocation feed by result (ok, failed).",
    labelNames: ["issuer", "result"],
    registers,
    collect() {
      this.reset();
      for (const [issuer, pollers] of feeds()) {
        this.inc(
          { issuer, result: "ok" },
          sum(pollers, (poller) => poller.pollsOk),
        );
        this.inc(
          { issuer, result: "failed" },
          sum(pollers, (poller) => poller.pollsFailed),
        );
      }
    },
  });

  gaugeOf(
    registers,
    "connections_open",
    "Kong's connections to the plugin server open now.",
    () => options.server().connections,
  );
  gaugeOf(
    registers,
    "buffered_bytes",
    "Bytes held for incomplete messages over all connections (bounded by the listener's limit).",
    () => options.server().bufferedBytes,
  );
  gaugeOf(
    registers,
    "events_in_flight",
    "Kong events (requests) being served now.",
    () => options.server().eventsInFlight,
  );
  gaugeOf(
    registers,
    "instances",
    "Plugin instances Kong started and the server still holds.",
    () => options.server().instances,
  );
  return registry;
}

function counterOf(registers: Registry[], name: string, help: string, read: () => number): void {
  new Counter({
    name: `${PREFIX}${name}`,
    help,
    registers,
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

function gaugeOf(registers: Registry[], name: string, help: string, read: () => number): void {
  new Gauge({
    name: `${PREFIX}${name}`,
    help,
    registers,
    collect() {
      this.set(read());
    },
  });
}

function byIssuer<T extends { readonly issuer: string }>(items: readonly T[]): Map<string, T[]> {
  const grouped = new Map<string, T[]>();
  for (const item of items) {
    const group = grouped.get(item.issuer);
    if (group === undefined) grouped.set(item.issuer, [item]);
    else group.push(item);
  }
  return grouped;
}

const sum = <T>(items: readonly T[], value: (item: T) => number): number =>
  items.reduce((total, item) => total + value(item), 0);

const overdue = (set: KeySetStats): number => (set.ageSeconds ?? 0) - set.maxAgeSeconds;

export interface MetricsListener {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Serves `registry` as Prometheus text at `GET /metrics` on host:port; every other path is 404,
 * another method on /metrics 405. Rejects with the listen error (EADDRINUSE, …).
 */
export async function serveMetrics(registry: Registry, host: string, port: number): Promise<MetricsListener> {
  const server = http.createServer((request, response) => {
    const path = (request.url ?? "/").split("?", 1)[0];
    if (path !== "/metrics") {
      answer(response, 404, "not found\n");
      return;
    }
    if (request.method !== "GET") {
      answer(response, 405, "method not allowed\n", { allow: "GET" });
      return;
    }
    registry.metrics().then(
      (text) => answer(response, 200, text, { "content-type": registry.contentType }),
      (error: unknown) => answer(response, 500, `${error instanceof Error ? error.message : String(error)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  return {
    host: address.address,
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function answer(
  response: http.ServerResponse,
  status: number,
  body: string,
  headers: Record<string, string> = {},
): void {
  response.writeHead(status, { "content-type": "text/plain; charset=utf-8", ...headers });
  response.end(body);
}
