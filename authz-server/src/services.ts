import type { Logger } from "pino";
import type { Clock } from "./clock.js";
import type { Lifetimes } from "./config.js";
import type { KeyRing } from "./keys/keyring.js";
import type { AuthzCounters } from "./metrics/counters.js";
import type { Storage } from "./storage/types.js";

/** What endpoints and grants depend on; app.ts builds it once. No endpoint or grant imports better-sqlite3. */
export interface Services {
  storage: Storage;
  keys: KeyRing;
  clock: Clock;
  logger: Logger;
  /** RFC 8414 §2 issuer identifier, also the `iss` claim (RFC 9068 §2.2). */
  issuer: string;
  /** `aud` when neither a `resource` parameter nor a granted scope names one. */
  defaultAudience: string;
  lifetimes: Lifetimes;
  /** Seconds a token's `iat` may lie ahead of this server's clock (another node's clock may run ahead). */
  clockSkew: number;
  /** JWKS Cache-Control max-age, seconds. */
  jwksMaxAge: number;
  /** Reverse proxies whose X-Forwarded-For entries give the client's address (config.ts trustedProxies). */
  trustedProxies: number;
  /** Largest accepted form body, bytes. */
  bodyLimit: number;
  /** What the endpoints count for the metrics listener (metrics/counters.ts); counted whether or not it listens. */
  counters: AuthzCounters;
  /** The browser-facing pages (login, consent, consents): product name, session and throttle settings. */
  interaction: InteractionSettings;
}

export interface InteractionSettings {
  siteName: string;
  /** Seconds. */
  sessionIdleTtl: number;
  /** Seconds. */
  sessionAbsoluteTtl: number;
  loginMaxFailuresPerAccountAndAddress: number;
  loginAccountBurst: number;
  /** Seconds. */
  loginAccountInterval: number;
  /** Seconds. */
  loginThrottleWindow: number;
}
