/**
 * Kong's bundled `rate-limiting` plugin (Kong 3.9.3, kong/plugins/rate-limiting/): the schema
 * (schema.lua), the access phase (handler.lua, PRIORITY 910) and the `local` policy
 * (policies/init.lua: one counter per identifier and period window in the node's shared memory).
 * What the stand-in does not implement is refused when kong.yml is loaded: the `cluster` and
 * `redis` policies, and `limit_by` service, header or path.
 */
import { KongConfigError } from "./errors.js";
import type { Authenticated } from "../wire/index.js";

export const RATE_LIMITING = "rate-limiting";

/** Kong's periods, shortest first (schema.lua ORDERED_PERIODS). */
const PERIODS = ["second", "minute", "hour", "day", "month", "year"] as const;
export type Period = (typeof PERIODS)[number];

/** Seconds a period's counter lives (kong/plugins/rate-limiting/expiration.lua). */
const EXPIRATION: Record<Period, number> = {
  second: 1,
  minute: 60,
  hour: 3600,
  day: 86400,
  month: 2592000,
  year: 31536000,
};

const LIMIT_BY = ["consumer", "credential", "ip"] as const;
type LimitBy = (typeof LIMIT_BY)[number];
const LIMIT_BY_NOT_IMPLEMENTED = ["service", "header", "path"];

/** handler.lua's header names. */
const X_RATELIMIT_LIMIT = (period: Period): string => `X-RateLimit-Limit-${capitalised(period)}`;
const X_RATELIMIT_REMAINING = (period: Period): string => `X-RateLimit-Remaining-${capitalised(period)}`;

export interface RateLimitingConfig {
  limits: Partial<Record<Period, number>>;
  limitBy: LimitBy;
  hideClientHeaders: boolean;
  errorCode: number;
  errorMessage: string;
}

type Obj = Record<string, unknown>;

const FIELDS = [
  ...PERIODS,
  "limit_by",
  "policy",
  "fault_tolerant",
  "hide_client_headers",
  "error_code",
  "error_message",
  "sync_rate",
  "header_name",
  "path",
  "redis",
];

/**
 * Validates a `rate-limiting` config as Kong's schema does (schema.lua), with its defaults:
 * limit_by consumer, policy local, hide_client_headers false, error_code 429, error_message
 * "API rate limit exceeded", sync_rate -1.
 */
export function parseRateLimitingConfig(where: string, config: Obj): RateLimitingConfig {
  for (const key of Object.keys(config)) {
    if (!FIELDS.includes(key)) throw new KongConfigError(`${where}.config.${key}: unknown field`);
  }
  const limits: Partial<Record<Period, number>> = {};
  for (const period of PERIODS) {
    const value = config[period];
    if (value === undefined || value === null) continue;
    // { type = "number", gt = 0 }
    if (typeof value !== "number" || !Number.isFinite(value))
      throw new KongConfigError(`${where}.config.${period}: expected a number`);
    if (value <= 0) throw new KongConfigError(`${where}.config.${period}: value must be greater than 0`);
    limits[period] = value;
  }
  // entity_checks: at_least_one_of the six periods.
  if (Object.keys(limits).length === 0) {
    throw new KongConfigError(
      `${where}.config: at least one of these fields must be non-empty: ${PERIODS.map((p) => `'config.${p}'`).join(", ")}`,
    );
  }
  periodsInOrder(where, limits);
  const limitBy = oneOf(where, "limit_by", config["limit_by"] ?? "consumer", [
    ...LIMIT_BY,
    ...LIMIT_BY_NOT_IMPLEMENTED,
  ]);
  if (!isLimitBy(limitBy))
    throw new KongConfigError(`${where}.config.limit_by: "${limitBy}" is not implemented by the local stand-in`);
  const policy = oneOf(where, "policy", config["policy"] ?? "local", ["local", "cluster", "redis"]);
  if (policy !== "local")
    throw new KongConfigError(`${where}.config.policy: only the "local" policy is implemented by the local stand-in`);
  for (const field of ["redis", "header_name", "path"]) {
    if (config[field] !== undefined && config[field] !== null)
      throw new KongConfigError(`${where}.config.${field}: not implemented by the local stand-in`);
  }
  const syncRate = config["sync_rate"] ?? -1;
  if (typeof syncRate !== "number") throw new KongConfigError(`${where}.config.sync_rate: expected a number`);
  // validate_periods_order: sync_rate belongs to the redis policy.
  if (syncRate !== -1) throw new KongConfigError(`${where}.config: sync_rate can only be used with the redis policy`);
  boolean(where, "fault_tolerant", config["fault_tolerant"] ?? true);
  const errorCode = config["error_code"] ?? 429;
  if (typeof errorCode !== "number" || !Number.isFinite(errorCode))
    throw new KongConfigError(`${where}.config.error_code: expected a number`);
  if (errorCode <= 0) throw new KongConfigError(`${where}.config.error_code: value must be greater than 0`);
  const errorMessage = config["error_message"] ?? "API rate limit exceeded";
  if (typeof errorMessage !== "string" || errorMessage === "")
    throw new KongConfigError(`${where}.config.error_message: expected a non-empty string`);
  return {
    limits,
    limitBy,
    hideClientHeaders: boolean(where, "hide_client_headers", config["hide_client_headers"] ?? false),
    errorCode,
    errorMessage,
  };
}

/** schema.lua validate_periods_order: a longer period's limit may not be lower than a shorter one's. */
function periodsInOrder(where: string, limits: Partial<Record<Period, number>>): void {
  PERIODS.forEach((lower, i) => {
    const v1 = limits[lower];
    if (v1 === undefined) return;
    for (const upper of PERIODS.slice(i + 1)) {
      const v2 = limits[upper];
      if (v2 !== undefined && v2 < v1) {
        throw new KongConfigError(
          `${where}.config: The limit for ${upper}(${v2.toFixed(1)}) cannot be lower than the limit for ${lower}(${v1.toFixed(1)})`,
        );
      }
    }
  });
}

function oneOf(where: string, field: string, value: unknown, allowed: readonly string[]): string {
  if (typeof value !== "string" || !allowed.includes(value))
    throw new KongConfigError(`${where}.config.${field}: expected one of: ${allowed.join(", ")}`);
  return value;
}

function boolean(where: string, field: string, value: unknown): boolean {
  if (typeof value !== "boolean") throw new KongConfigError(`${where}.config.${field}: expected a boolean`);
  return value;
}

function isLimitBy(value: string): value is LimitBy {
  return (LIMIT_BY as readonly string[]).includes(value);
}

function capitalised(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

/** Who the request is, as handler.lua's get_identifier asks Kong. */
export interface RateLimitedRequest {
  /** ngx.ctx's authenticated consumer and credential (kong.client.authenticate). */
  authenticated: Authenticated | undefined;
  /** kong.client.get_forwarded_ip(): ngx.var.remote_addr. */
  forwardedIp: string;
}

export type RateLimitVerdict =
  | { outcome: "proceed"; headers: Record<string, string> }
  | { outcome: "exit"; status: number; message: string; headers: Record<string, string> };

interface Counter {
  count: number;
  expiresAt: number;
}

/**
 * One `rate-limiting` plugin entry of kong.yml and its counters. Kong's local policy keys a
 * counter by the plugin's route and service ids (`ratelimit:<route>:<service>:<identifier>:
 * <period start>:<period>`), so a route's plugin counts on its route, a service's on all its routes,
 * a global one everywhere: the same as one limiter per plugin entry, which is what the gateway
 * holds. The clock is injectable for tests (Kong reads ngx.time(), whole seconds).
 */
export class RateLimiter {
  private readonly counters = new Map<string, Counter>();
  private prunedAt = 0;

  constructor(
    readonly config: RateLimitingConfig,
    private readonly clock: () => number = Date.now,
  ) {}

  /** handler.lua RateLimitingHandler:access. */
  access(request: RateLimitedRequest): RateLimitVerdict {
    const now = Math.floor(this.clock() / 1000) * 1000;
    this.prune(now);
    const identifier = this.identifier(request);
    const starts = periodStarts(now);
    let stop: Period | undefined;
    const usage: Array<{ period: Period; limit: number; remaining: number }> = [];
    for (const period of PERIODS) {
      const limit = this.config.limits[period];
      if (limit === undefined) continue;
      const remaining = limit - (this.counters.get(counterKey(identifier, starts[period], period))?.count ?? 0);
      usage.push({ period, limit, remaining });
      if (remaining <= 0) stop = period;
    }
    const headers: Record<string, string> = {};
    let reset = 0;
    if (!this.config.hideClientHeaders) {
      // The limit closest to running out (ties: the longer window) names RateLimit-*.
      let chosen: { limit: number; window: number; remaining: number } | undefined;
      for (const { period, limit, remaining: left } of usage) {
        const window = EXPIRATION[period];
        const remaining = Math.max(0, stop === undefined || stop === period ? left - 1 : left);
        if (
          chosen === undefined ||
          remaining < chosen.remaining ||
          (remaining === chosen.remaining && window > chosen.window)
        ) {
          chosen = { limit, window, remaining };
          reset = Math.max(1, window - Math.floor((now - starts[period]) / 1000));
        }
        headers[X_RATELIMIT_LIMIT(period)] = String(limit);
        headers[X_RATELIMIT_REMAINING(period)] = String(remaining);
      }
      if (chosen !== undefined) {
        headers["RateLimit-Limit"] = String(chosen.limit);
        headers["RateLimit-Remaining"] = String(chosen.remaining);
        headers["RateLimit-Reset"] = String(reset);
      }
    }
    if (stop !== undefined) {
      if (!this.config.hideClientHeaders) headers["Retry-After"] = String(reset);
      // kong.response.error(conf.error_code, conf.error_message); a refused request is not counted.
      // A code kong.response.error refuses (outside 400–599) raises a Lua error: Kong's 500.
      const status = this.config.errorCode;
      return status >= 400 && status <= 599 && Number.isInteger(status)
        ? { outcome: "exit", status, message: this.config.errorMessage, headers }
        : { outcome: "exit", status: 500, message: "An unexpected error occurred", headers };
    }
    // The local policy's increment (run by a zero-delay timer after the phase in Kong).
    for (const { period } of usage) {
      const key = counterKey(identifier, starts[period], period);
      const counter = this.counters.get(key);
      if (counter === undefined) this.counters.set(key, { count: 1, expiresAt: now + EXPIRATION[period] * 1000 });
      else counter.count++;
    }
    return { outcome: "proceed", headers };
  }

  /**
   * get_identifier: consumer → (get_consumer() or get_credential()).id; credential →
   * get_credential().id; either falls back to the client's address, as ip does.
   */
  private identifier({ authenticated, forwardedIp }: RateLimitedRequest): string {
    const entity =
      this.config.limitBy === "consumer"
        ? (authenticated?.consumer ?? authenticated?.credential)
        : this.config.limitBy === "credential"
          ? authenticated?.credential
          : undefined;
    const id = entity !== undefined && !Array.isArray(entity) ? entity["id"] : undefined;
    // Lua's `identifier or ip`: any id but nil (and false) is used, as string.format("%s") shows it.
    return typeof id === "string" || typeof id === "number" ? String(id) : forwardedIp;
  }

  /** The shared memory's TTLs: a counter lives for its period (shm:incr's init_ttl). */
  private prune(now: number): void {
    if (now === this.prunedAt) return;
    this.prunedAt = now;
    for (const [key, counter] of this.counters) if (counter.expiresAt <= now) this.counters.delete(key);
  }
}

function counterKey(identifier: string, start: number, period: Period): string {
  return `${identifier}:${start}:${period}`;
}

/** kong/tools/timestamp.lua get_timestamps: the UTC start of each period containing `now`, in ms. */
export function periodStarts(now: number): Record<Period, number> {
  const t = new Date(now);
  const y = t.getUTCFullYear();
  const mo = t.getUTCMonth();
  const d = t.getUTCDate();
  const h = t.getUTCHours();
  const mi = t.getUTCMinutes();
  return {
    second: Math.floor(now / 1000) * 1000,
    minute: Date.UTC(y, mo, d, h, mi),
    hour: Date.UTC(y, mo, d, h),
    day: Date.UTC(y, mo, d),
    month: Date.UTC(y, mo, 1),
    year: Date.UTC(y, 0, 1),
  };
}
