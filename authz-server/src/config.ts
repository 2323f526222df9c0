import type { SigningAlgorithm } from "./keys/algorithms.js";

/**
 * Every tunable of the server in one object, with its default and the reason for it.
 * `serve` flags and `startServer` options override these; `resolveConfig` checks the result.
 */
export const defaults = {
  /** TCP port of `serve`. The gateway (Kong) is 8000, the sidecar 9000 in every environment. */
  port: 9000,
  /** Listen address. Loopback by default: the sidecar sits beside Kong, not on the open network. */
  host: "127.0.0.1",
  /** SQLite database file; overridden by `--db` or the AUTHZ_DB environment variable. */
  db: "./data/authz.db",
  /**
   * Access-token lifetime in seconds: 10 minutes by default, never above limits.accessTokenTtl. Short-lived, since a
   * gateway that verified a token accepts it until exp (RFC 9068 §5, RFC 9700 §4.10.2).
   */
  accessTokenTtl: 600,
  /** Authorization-code lifetime in seconds: 60 s by default, at most 10 minutes (RFC 6749 §4.1.2). */
  authorizationCodeTtl: 60,
  /** Refresh-token idle lifetime in seconds: unused for this long, the token expires (RFC 9700 §4.14.2). */
  refreshTokenIdleTtl: 14 * 24 * 3600,
  /** Refresh-token absolute lifetime in seconds, counted from the first token of the family. */
  refreshTokenAbsoluteTtl: 90 * 24 * 3600,
  /** Seconds a rotated refresh token may still be presented by a concurrent request without revoking the family. */
  refreshTokenGraceSeconds: 2,
  /**
   * Signing algorithm of generated keys. ES256 signs ~10x faster than RSA (the token endpoint's throughput) while a
   * gateway verifies each token once and caches it (docs/es256.md).
   */
  signingAlgorithm: "ES256" as SigningAlgorithm,
  /** JWKS `Cache-Control: max-age` in seconds; gateways may hold the key set this long. */
  jwksMaxAge: 300,
  /** Server metadata (RFC 8414) `Cache-Control: max-age` in seconds: it changes only when the server is reconfigured. */
  metadataMaxAge: 300,
  /** Default delay before a rotated key signs (seconds); exceeds jwksMaxAge so every cached JWKS already holds the key. */
  keyActivateAfter: 600,
  /**
   * Seconds a rotated key waits beyond jwksMaxAge at the least (`keys rotate` refuses less without --force): the
   * running server publishes it only at its next key poll, and a gateway's refetch and its clock may lag a little.
   */
  keyActivateMargin: 60,
  /** Seconds of clock skew allowed to verifiers; a retired key stays published accessTokenTtl + this after its last signature. */
  clockSkew: 60,
  /** How often (ms) the server re-reads the keys table, so a `keys rotate` run beside it is noticed within seconds. */
  keyPollInterval: 2000,
  /** How often (ms) expired codes, refresh tokens, revoked jtis and retired keys are deleted. */
  purgeInterval: 60_000,
  /**
   * Reverse proxies in front of the server whose X-Forwarded-For entry is believed (0: none, the peer's address is the
   * client's). Behind Kong, 1: Kong appends the address that connected to it as the right-most entry; anything to its
   * left was written by the client and is not believed.
   */
  trustedProxies: 0,
  /** Largest accepted form body in bytes; larger bodies get 413 before they are parsed. */
  bodyLimit: 16 * 1024,
  /**
   * After answering a request it has not read to its end (413, 431), the server reads and discards the rest for at
   * most this many milliseconds and bytes before it closes, so the client gets the answer (lingering-close.ts).
   */
  lingerMs: 2000,
  lingerBytes: 4 * 1024 * 1024,
  /** Product name on the login, consent and consents pages (the seed story's authorization server is Flickr's). */
  siteName: "Flickr",
  /** Browser session idle lifetime in seconds: the login and consent pages' session ends after this long unused. */
  sessionIdleTtl: 30 * 60,
  /** Browser session absolute lifetime in seconds, counted from sign-in. */
  sessionAbsoluteTtl: 12 * 3600,
  /**
   * Seconds a browser stays known to the login throttle after a correct password is typed in it (session/sessions.ts):
   * its own failures are then counted apart from its address's.
   */
  knownDeviceTtl: 90 * 24 * 3600,
  /**
   * Failed sign-ins for one account from one client address within loginThrottleWindow before that address is paused
   * for that account; nobody else is (see session/throttle.ts for the bound on guesses these settings give).
   */
  loginMaxFailuresPerAccountAndAddress: 5,
  /** Sign-in attempts per account, from any address, before further ones are spaced out (slowed, never refused for good). */
  loginAccountBurst: 5,
  /** Seconds between further attempts per account: at most 5 + 3600 / 30 = 125 wrong guesses per account per hour. */
  loginAccountInterval: 30,
  /** Sliding window of the login throttle, seconds. */
  loginThrottleWindow: 15 * 60,
  /** Lowest log level written (pino levels); "silent" disables logging. */
  logLevel: "info",
} as const;

/** Hard ceilings no configuration may exceed; a configuration above them fails at start-up naming the key. */
export const limits = {
  accessTokenTtl: 3600,
  authorizationCodeTtl: 600,
} as const;

export interface Lifetimes {
  accessTokenTtl: number;
  authorizationCodeTtl: number;
  refreshTokenIdleTtl: number;
  refreshTokenAbsoluteTtl: number;
  refreshTokenGraceSeconds: number;
}

/** Throws a clear error naming the key when a lifetime is out of range: the operator learns which setting to fix. */
export function checkLifetimes(lifetimes: Lifetimes): Lifetimes {
  for (const [key, value] of Object.entries(lifetimes)) {
    if (!Number.isInteger(value) || value < 0 || (value === 0 && key !== "refreshTokenGraceSeconds")) {
      throw new TypeError(`configuration: ${key} must be a positive whole number of seconds, got ${String(value)}`);
    }
  }
  if (lifetimes.accessTokenTtl > limits.accessTokenTtl) {
    throw new TypeError(
      `configuration: accessTokenTtl must not exceed ${limits.accessTokenTtl} s (got ${lifetimes.accessTokenTtl})`,
    );
  }
  if (lifetimes.authorizationCodeTtl > limits.authorizationCodeTtl) {
    throw new TypeError(
      `configuration: authorizationCodeTtl must not exceed ${limits.authorizationCodeTtl} s (got ${lifetimes.authorizationCodeTtl})`,
    );
  }
  if (lifetimes.refreshTokenIdleTtl > lifetimes.refreshTokenAbsoluteTtl) {
    throw new TypeError("configuration: refreshTokenIdleTtl must not exceed refreshTokenAbsoluteTtl");
  }
  return lifetimes;
}

/** The shortest `keys rotate --activate-after` that no gateway's cached key set can outlast. */
export function minimumKeyActivateAfter(jwksMaxAge: number = defaults.jwksMaxAge): number {
  return jwksMaxAge + defaults.keyActivateMargin;
}

export function defaultLifetimes(): Lifetimes {
  return {
    accessTokenTtl: defaults.accessTokenTtl,
    authorizationCodeTtl: defaults.authorizationCodeTtl,
    refreshTokenIdleTtl: defaults.refreshTokenIdleTtl,
    refreshTokenAbsoluteTtl: defaults.refreshTokenAbsoluteTtl,
    refreshTokenGraceSeconds: defaults.refreshTokenGraceSeconds,
  };
}
