import { type Command, Option } from "commander";
import { checkLifetimes, defaultLifetimes, defaults, type Lifetimes, limits } from "../config.js";
import { parseSigningAlgorithm, signingAlgorithms } from "../keys/algorithms.js";
import type { MetricsListenError } from "../metrics/listener.js";
import type { MetricsOptions } from "../server.js";
import {
  checkDb,
  common,
  countOption,
  type CommonOptions,
  intervalOption,
  print,
  secondsOption,
  storageOptions,
  UsageError,
  withoutPassword,
} from "./options.js";

interface ServeOptions extends CommonOptions {
  port: number;
  host: string;
  issuer?: string;
  defaultAudience?: string;
  accessTokenTtl: number;
  codeTtl: number;
  refreshIdleTtl: number;
  refreshAbsoluteTtl: number;
  refreshGrace: number;
  clockSkew: number;
  keyPollInterval: number;
  purgeInterval: number;
  trustedProxies: number;
  siteName: string;
  alg: string;
  logLevel: string;
  metricsHost: string;
  metricsPort?: number;
  metricsOptional?: boolean;
}

/** A TCP port for `flag`; 0 lets the system pick a free one. Checked here, or Node's RangeError would be the message. */
const portNumber = (flag: string) => (value: string) => {
  const port = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  if (!(port <= 65535))
    throw new UsageError(`${flag} must be a whole number from 0 to 65535; got ${JSON.stringify(value)}`);
  return port;
};

/** An empty host would make Node listen on every interface, the opposite of the loopback default. */
const hostName = (flag: string) => (value: string) => {
  if (value.trim() === "") throw new UsageError(`${flag} must name an address or a host name`);
  return value;
};

/** The metrics listener's address in the CLI's words: the flag, the port, the host. */
const metricsWhere = (error: MetricsListenError) =>
  error.code === "EADDRINUSE"
    ? `--metrics-port ${error.port} on ${error.host} is in use`
    : `--metrics-host ${error.host} --metrics-port ${error.port}: ${error.message}`;

/** The metrics listener's options: none without --metrics-port; with --metrics-optional, a failure is one warning. */
function metricsOf(options: ServeOptions): MetricsOptions | undefined {
  if (options.metricsPort === undefined) {
    if (options.metricsOptional === true) throw new UsageError("--metrics-optional needs --metrics-port");
    return undefined;
  }
  return {
    host: options.metricsHost,
    port: options.metricsPort,
    ...(options.metricsOptional === true
      ? {
          onUnavailable: (error: MetricsListenError) =>
            process.stderr.write(`authz-server: ${metricsWhere(error)}; running without metrics\n`),
        }
      : {}),
  };
}

/** Node's listen errors in the CLI's words, naming the flag that fixes them; any other error as it is. */
function listenFailure(error: unknown, host: string, port: number): unknown {
  const where = `cannot listen on ${host.includes(":") ? `[${host}]` : host}:${port}`;
  switch ((error as NodeJS.ErrnoException).code) {
    case "EADDRINUSE":
      return new UsageError(`${where}: the port is in use (choose another with --port)`);
    case "EADDRNOTAVAIL":
      return new UsageError(`${where}: it is not an address of this machine (check --host)`);
    case "ENOTFOUND":
      return new UsageError(`${where}: no such host (check --host)`);
    default:
      return error;
  }
}

function checkIssuer(issuer: string | undefined): void {
  if (issuer === undefined) return;
  try {
    new URL(issuer);
  } catch {
    throw new UsageError(`--issuer must be an absolute URL, got ${JSON.stringify(issuer)}`);
  }
}

/** The lifetime flags, checked against config.ts's limits; a violation is the user's mistake, named by its key. */
function lifetimesOf(options: ServeOptions): Lifetimes {
  try {
    return checkLifetimes({
      ...defaultLifetimes(),
      accessTokenTtl: options.accessTokenTtl,
      authorizationCodeTtl: options.codeTtl,
      refreshTokenIdleTtl: options.refreshIdleTtl,
      refreshTokenAbsoluteTtl: options.refreshAbsoluteTtl,
      refreshTokenGraceSeconds: options.refreshGrace,
    });
  } catch (error: unknown) {
    throw new UsageError((error as Error).message);
  }
}

async function serve(options: ServeOptions): Promise<void> {
  checkIssuer(options.issuer);
  const lifetimes = lifetimesOf(options);
  // Loaded here, not at the top: the HTTP stack (koa, pino, jose) would double every other command's start-up.
  const { startServer, logLevels } = await import("../server.js");
  const { MetricsListenError } = await import("../metrics/listener.js");
  const metrics = metricsOf(options);
  if (!logLevels.includes(options.logLevel)) {
    throw new UsageError(`--log-level must be one of ${logLevels.join(", ")}; got ${JSON.stringify(options.logLevel)}`);
  }
  const running = await startServer({
    db: checkDb(options.db),
    ...storageOptions(options),
    port: options.port,
    host: options.host,
    ...(options.issuer === undefined ? {} : { issuer: options.issuer }),
    ...(options.defaultAudience === undefined ? {} : { defaultAudience: options.defaultAudience }),
    lifetimes,
    clockSkew: options.clockSkew,
    keyPollInterval: options.keyPollInterval * 1000,
    purgeInterval: options.purgeInterval * 1000,
    trustedProxies: options.trustedProxies,
    signingAlgorithm: parseSigningAlgorithm(options.alg, "--alg"),
    interaction: { siteName: options.siteName },
    ...(metrics === undefined ? {} : { metrics }),
    logLevel: options.json ? "silent" : options.logLevel,
  }).catch((error: unknown) => {
    if (error instanceof MetricsListenError) throw new UsageError(metricsWhere(error));
    throw listenFailure(withoutPassword(error, options.db), options.host, options.port);
  });
  if (options.json)
    print(
      options,
      {
        url: running.url,
        issuer: running.issuer,
        ...(running.metricsUrl === undefined ? {} : { metrics: running.metricsUrl }),
      },
      "",
    );
  const stop = () => void running.close().then(() => process.exit(0));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

export function addServeCommand(program: Command): void {
  common(program.command("serve").description("run the HTTP server"))
    .addOption(new Option("--port <port>", "TCP port").default(defaults.port).argParser(portNumber("--port")))
    .addOption(new Option("--host <host>", "listen address").default(defaults.host).argParser(hostName("--host")))
    .option("--issuer <url>", "issuer identifier (default http://localhost:<port>)")
    .option("--default-audience <uri>", "aud when no resource or scope names one (default: the issuer)")
    .addOption(
      secondsOption(
        "--access-token-ttl",
        `access token lifetime (at most ${limits.accessTokenTtl})`,
        defaults.accessTokenTtl,
      ),
    )
    .addOption(
      secondsOption(
        "--code-ttl",
        `authorization code lifetime (at most ${limits.authorizationCodeTtl})`,
        defaults.authorizationCodeTtl,
      ),
    )
    .addOption(
      secondsOption("--refresh-idle-ttl", "a refresh token unused this long expires", defaults.refreshTokenIdleTtl),
    )
    .addOption(
      secondsOption(
        "--refresh-absolute-ttl",
        "a refresh-token family expires this long after the code exchange",
        defaults.refreshTokenAbsoluteTtl,
      ),
    )
    .addOption(
      secondsOption(
        "--refresh-grace",
        "a rotated refresh token may be presented again this long (concurrent refresh); 0 disables",
        defaults.refreshTokenGraceSeconds,
      ),
    )
    .addOption(
      secondsOption(
        "--clock-skew",
        "verifiers' clock-skew allowance: a retired key stays published the access-token lifetime plus this",
        defaults.clockSkew,
      ),
    )
    .addOption(
      intervalOption(
        "--key-poll-interval",
        "how often the signing keys are re-read (a `keys rotate` run beside this server, or on another node)",
        defaults.keyPollInterval / 1000,
      ),
    )
    .addOption(
      intervalOption(
        "--purge-interval",
        "how often expired codes, tokens, revocations, login-throttle counts and keys are deleted",
        defaults.purgeInterval / 1000,
      ),
    )
    .addOption(
      countOption(
        "--trusted-proxies",
        "reverse proxies in front whose X-Forwarded-For entry gives the client address (1 behind Kong)",
        defaults.trustedProxies,
      ),
    )
    .option("--site-name <name>", "product name on the login, consent and consents pages", defaults.siteName)
    .addOption(
      new Option("--alg <alg>", "algorithm of the key generated on first start (later: keys rotate --alg)")
        .choices(signingAlgorithms)
        .default(defaults.signingAlgorithm),
    )
    .addOption(new Option("--log-level <level>", "pino log level, or silent").default(defaults.logLevel))
    .addOption(
      new Option(
        "--metrics-port <port>",
        "serve Prometheus metrics at GET /metrics on this port (off unless given)",
      ).argParser(portNumber("--metrics-port")),
    )
    .addOption(
      new Option("--metrics-host <host>", "the metrics listener's address (never the issuer's port)")
        .default(defaults.host)
        .argParser(hostName("--metrics-host")),
    )
    .option("--metrics-optional", "if the metrics port cannot be used, say so and run without metrics")
    .action(serve);
}
