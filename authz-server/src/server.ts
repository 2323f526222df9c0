import type Koa from "koa";
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { pino, type Logger } from "pino";
import { createApp } from "./app.js";
import { systemClock, type Clock } from "./clock.js";
import { checkLifetimes, defaultLifetimes, defaults, type Lifetimes } from "./config.js";
import type { SigningAlgorithm } from "./keys/algorithms.js";
import { KeyRing } from "./keys/keyring.js";
import { answerParseErrors, type LingerLimits } from "./lingering-close.js";
import { AuthzCounters } from "./metrics/counters.js";
import { listenForMetrics, type MetricsListener, MetricsListenError } from "./metrics/listener.js";
import { createMetricsRegistry } from "./metrics/registry.js";
import type { InteractionSettings, Services } from "./services.js";
import type { KeyEncryptionKey } from "./storage/encryption.js";
import { openStorage } from "./storage/index.js";
import type { PostgresOptions } from "./storage/postgres/index.js";
import type { Storage } from "./storage/types.js";

/** The levels `logLevel` accepts: pino's own, and "silent", which logs nothing. */
export const logLevels: readonly string[] = [...Object.keys(pino.levels.values), "silent"];

export interface ServerOptions {
  /**
   * A SQLite file or a `postgres://` / `postgresql://` URL (storage/index.ts; default AUTHZ_DB, else ./data/authz.db);
   * ignored when `storage` is given.
   */
  db?: string;
  /** Encrypts the private signing keys and server secrets at rest (storage/encryption.ts); ignored with `storage`. */
  keyEncryptionKey?: KeyEncryptionKey;
  /** For a PostgreSQL `db`: the connection pool's size and timeouts (storage/postgres/connection.ts); ignored with `storage`. */
  postgres?: PostgresOptions;
  /** An already-open storage (tests); the server then does not close it. */
  storage?: Storage;
  /** 0 picks a free port. */
  port?: number;
  host?: string;
  /** Default http://localhost:<port> (the listening port, also when 0 was asked). */
  issuer?: string;
  /** Default: the issuer. */
  defaultAudience?: string;
  clock?: Clock;
  lifetimes?: Partial<Lifetimes>;
  signingAlgorithm?: SigningAlgorithm;
  jwksMaxAge?: number;
  clockSkew?: number;
  /** Reverse proxies in front whose X-Forwarded-For entry gives the client's address (config.ts). */
  trustedProxies?: number;
  keyPollInterval?: number;
  purgeInterval?: number;
  bodyLimit?: number;
  /** After an early answer (413, 431): how long and how much of the rest of the request is drained (lingering-close.ts). */
  linger?: Partial<LingerLimits>;
  /** Login, consent and consents pages: product name, browser-session lifetimes, login throttle (defaults in config.ts). */
  interaction?: Partial<InteractionSettings>;
  /** A Prometheus listener of its own (metrics/listener.ts); none unless given. */
  metrics?: MetricsOptions;
  /** A pino logger, or a level for a new one writing JSON lines to stdout; default "info". */
  logger?: Logger;
  logLevel?: string;
}

export interface MetricsOptions {
  /** Default 127.0.0.1 (config.ts defaults.host): metrics stay on this machine unless an address is given. */
  host?: string;
  /** 0 picks a free port. */
  port: number;
  /**
   * Called when the listener cannot listen, the server then running without metrics; without it, the start fails
   * with the MetricsListenError.
   */
  onUnavailable?: (error: MetricsListenError) => void;
}

export interface RunningServer {
  url: string;
  /** The metrics listener's http://host:port; undefined when metrics are off (or could not listen). */
  metricsUrl: string | undefined;
  issuer: string;
  port: number;
  services: Services;
  server: Server;
  close(): Promise<void>;
}

/** Opens storage, loads (or creates) the signing keys, listens, and starts the key poll and purge timers. */
export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  const lifetimes = checkLifetimes({ ...defaultLifetimes(), ...options.lifetimes });
  const clock = options.clock ?? systemClock;
  const logger =
    options.logger ?? pino({ level: options.logLevel ?? defaults.logLevel, base: { service: "authz-server" } });
  const host = options.host ?? defaults.host;
  const ownStorage = options.storage === undefined;
  const storage =
    options.storage ??
    (await openStorage(options.db ?? process.env["AUTHZ_DB"] ?? defaults.db, {
      ...(options.keyEncryptionKey === undefined ? {} : { keyEncryptionKey: options.keyEncryptionKey }),
      ...(options.postgres === undefined ? {} : { postgres: options.postgres }),
      warn: (message) => logger.warn(message),
    }));
  const clockSkew = options.clockSkew ?? defaults.clockSkew;
  const keys = new KeyRing(storage.keys, clock, {
    algorithm: options.signingAlgorithm ?? defaults.signingAlgorithm,
    accessTokenTtl: lifetimes.accessTokenTtl,
    clockSkew,
  });
  const server = createServer();
  const linger = { ms: options.linger?.ms ?? defaults.lingerMs, bytes: options.linger?.bytes ?? defaults.lingerBytes };
  answerParseErrors(server, linger);
  try {
    await keys.initialize();
    server.listen(options.port ?? defaults.port, host);
    await once(server, "listening");
  } catch (error: unknown) {
    server.close();
    if (ownStorage) await storage.close();
    throw error;
  }
  const port = (server.address() as AddressInfo).port;
  const issuer = options.issuer ?? `http://localhost:${port}`;
  const services: Services = {
    storage,
    keys,
    clock,
    logger,
    issuer,
    defaultAudience: options.defaultAudience ?? issuer,
    lifetimes,
    clockSkew,
    jwksMaxAge: options.jwksMaxAge ?? defaults.jwksMaxAge,
    bodyLimit: options.bodyLimit ?? defaults.bodyLimit,
    counters: new AuthzCounters({ observeLatency: options.metrics !== undefined }),
    trustedProxies: options.trustedProxies ?? defaults.trustedProxies,
    interaction: {
      siteName: defaults.siteName,
      sessionIdleTtl: defaults.sessionIdleTtl,
      sessionAbsoluteTtl: defaults.sessionAbsoluteTtl,
      loginMaxFailuresPerAccountAndAddress: defaults.loginMaxFailuresPerAccountAndAddress,
      loginAccountBurst: defaults.loginAccountBurst,
      loginAccountInterval: defaults.loginAccountInterval,
      loginThrottleWindow: defaults.loginThrottleWindow,
      ...options.interaction,
    },
  };
  let handle: ReturnType<Koa["callback"]>;
  let metrics: MetricsListener | undefined;
  try {
    // Reads the session key from the database: a server that cannot do so refuses to start rather than half-start.
    handle = (await createApp(services, linger)).callback();
    if (options.metrics) metrics = await startMetrics(services, options.metrics);
  } catch (error: unknown) {
    server.close();
    if (ownStorage) await storage.close();
    throw error;
  }
  // Koa's handler settles every request itself (its error middleware answers, then it ends the response): nothing is
  // left for the caller of a "request" listener to await.
  server.on("request", (request, response) => {
    void handle(request, response);
  });
  keys.startPolling(options.keyPollInterval ?? defaults.keyPollInterval, (error) =>
    logger.error({ err: error }, "signing keys could not be reloaded"),
  );
  /** A purge still waiting for the database: the next tick is skipped rather than queued behind it. */
  let purging = false;
  const purge = async () => {
    if (purging) return;
    purging = true;
    try {
      const now = clock.now();
      const purged = await storage.purgeExpired(now);
      if (purged.skipped) {
        // Another process on the database holds the purge lock: it deletes the same rows, this one need not.
        logger.debug({ skipped: true }, "purge skipped: another process is purging the database");
        return;
      }
      const keysDeleted = await keys.deleteExpired(now);
      logger.debug({ ...purged, keys: keysDeleted.length }, "purged expired rows");
    } catch (error: unknown) {
      logger.error({ err: error }, "purge failed");
    } finally {
      purging = false;
    }
  };
  const purgeTimer = setInterval(() => void purge(), options.purgeInterval ?? defaults.purgeInterval);
  purgeTimer.unref();
  if (ownStorage && options.keyEncryptionKey === undefined) {
    // Said once, at start: authz-server/README.md ("The database at rest") says what such a copy yields.
    logger.warn(
      "no key-encryption key: the signing keys and server secrets are stored in the clear, a copy of the database can sign tokens",
    );
  }
  logger.info(
    { url: `http://${host}:${port}`, issuer, ...(metrics === undefined ? {} : { metrics: metrics.url }) },
    "listening",
  );
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    issuer,
    port,
    metricsUrl: metrics?.url,
    services,
    server,
    close() {
      closing ??= (async () => {
        keys.stopPolling();
        clearInterval(purgeTimer);
        server.close();
        server.closeAllConnections();
        await once(server, "close").catch(() => undefined);
        await metrics?.close();
        if (ownStorage) await storage.close();
      })();
      return closing;
    },
  };
}

/** The metrics listener over this server's counters, key ring and storage; undefined when it may not listen. */
async function startMetrics(services: Services, options: MetricsOptions): Promise<MetricsListener | undefined> {
  const register = createMetricsRegistry({
    counters: services.counters,
    keys: services.keys,
    storage: services.storage,
    clock: services.clock,
  });
  try {
    // The server's own loopback default (config.ts): metrics leave the machine only when an address is given.
    return await listenForMetrics(register, options.host ?? defaults.host, options.port);
  } catch (error: unknown) {
    if (options.onUnavailable === undefined || !(error instanceof MetricsListenError)) throw error;
    options.onUnavailable(error);
    return undefined;
  }
}
