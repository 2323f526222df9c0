import { defaults } from "../config.js";

/**
 * Login throttling against online password guessing (RFC 9700 §4.15: the authorization server must make brute force
 * at its login impractical) without handing anyone a lever to lock a user out. Two limits, checked in this order:
 *
 * 1. Per account and client address: after `maxFailuresPerAccountAndAddress` failures within `windowSeconds`, that
 *    address may not try that account again until the oldest failure leaves the window. Nobody else is affected: the
 *    owner signing in from elsewhere, or other users behind the same address (a NAT, a proxy).
 * 2. Per account, from any address: a burst of `accountBurst` attempts, then one every `accountIntervalSeconds`
 *    (the generic cell rate algorithm, a token bucket). An account under attack is slowed, never shut: the owner
 *    waits at most one interval for the next free attempt — unless many addresses keep taking every free attempt,
 *    which is why a browser where the account's password was once typed correctly (a known device, carrying a signed
 *    cookie, cookie.ts KnownDevice) skips this limit: its attempts are counted under limit 1 with the device in place
 *    of the address, wherever the device is.
 *
 * The resulting bound: in any T seconds an account receives at most `accountBurst + T / accountIntervalSeconds` wrong
 * guesses, however many addresses send them — with the defaults 5 + 3600 / 30 = 125 per hour — and at most
 * `maxFailuresPerAccountAndAddress` per window from one address (20 per hour). Only a stolen known-device cookie adds
 * guesses beyond the 125: 20 per hour per cookie. Attempts refused by either limit are not guesses (the password is
 * not checked) and cost the sender nothing that drains the other limit.
 *
 * Unknown usernames are counted like real ones, so the throttle reveals nothing about which accounts exist. State is
 * in process memory: several server processes each apply the limits (authz-server/README.md, "Browser security of the pages"; docs/login-throttle.md).
 */
export interface ThrottleOptions {
  /** Failures per account from one address within the window before that address is paused for it (default 5). */
  readonly maxFailuresPerAccountAndAddress?: number;
  /** Window of the per account-and-address count, seconds (default 15 minutes). */
  readonly windowSeconds?: number;
  /** Attempts per account, from anywhere, before they are spaced out (default 5). */
  readonly accountBurst?: number;
  /** Spacing of further attempts per account, seconds (default 30). */
  readonly accountIntervalSeconds?: number;
  /** At most this many accounts, and this many account-and-address pairs, are tracked; the least recent go first. */
  readonly maxTrackedKeys?: number;
  readonly now?: () => number;
}

export type ThrottleVerdict =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly scope: ThrottleScope; readonly retryAfterSeconds: number };

/** Which limit refused an attempt: limit 1 (by address, or by known device), or limit 2. */
export type ThrottleScope = "account-and-address" | "account-and-device" | "account";

export class LoginThrottle {
  readonly #maxPairFailures: number;
  readonly #windowMs: number;
  readonly #intervalMs: number;
  /** How far ahead of now an account's schedule may run: the burst minus the attempt being made. */
  readonly #toleranceMs: number;
  readonly #now: () => number;
  /** account-and-address (or account-and-known-device) → failure timestamps (ms), oldest first, at most the limit long. */
  readonly #pairFailures: BoundedMap<number[]>;
  /** account → theoretical arrival time (ms) of its next attempt in the cell rate algorithm; absent = idle. */
  readonly #accountSchedule: BoundedMap<number>;

  constructor(options: ThrottleOptions = {}) {
    const limits = {
      maxFailuresPerAccountAndAddress:
        options.maxFailuresPerAccountAndAddress ?? defaults.loginMaxFailuresPerAccountAndAddress,
      windowSeconds: options.windowSeconds ?? defaults.loginThrottleWindow,
      accountBurst: options.accountBurst ?? defaults.loginAccountBurst,
      accountIntervalSeconds: options.accountIntervalSeconds ?? defaults.loginAccountInterval,
    };
    for (const [name, value] of Object.entries(limits)) {
      if (!Number.isInteger(value) || value < 1)
        throw new TypeError(`login throttle: ${name} must be a positive whole number, got ${value}`);
    }
    this.#maxPairFailures = limits.maxFailuresPerAccountAndAddress;
    this.#windowMs = limits.windowSeconds * 1000;
    this.#intervalMs = limits.accountIntervalSeconds * 1000;
    this.#toleranceMs = (limits.accountBurst - 1) * this.#intervalMs;
    this.#now = options.now ?? Date.now;
    const maxKeys = options.maxTrackedKeys ?? 100_000;
    this.#pairFailures = new BoundedMap(maxKeys);
    this.#accountSchedule = new BoundedMap(maxKeys);
  }

  /** `knownDevice`: this browser's id when it is known for this account (Sessions.knownDevice). */
  check(username: string, address: string, knownDevice?: string): ThrottleVerdict {
    const pair = this.#pairRetryAfterMs(pairKey(username, address, knownDevice));
    if (pair > 0) return refused(knownDevice === undefined ? "account-and-address" : "account-and-device", pair);
    if (knownDevice !== undefined) return { allowed: true };
    const account = this.#accountRetryAfterMs(accountName(username));
    if (account > 0) return refused("account", account);
    return { allowed: true };
  }

  /**
   * Checks and, when allowed, counts this attempt as a failure at once, before the (slow, asynchronous) password
   * check: guesses sent concurrently then see each other, so the limits bound parallel guessing as well as
   * sequential. A correct password takes the attempt back (recordSuccess).
   */
  begin(username: string, address: string, knownDevice?: string): ThrottleVerdict {
    const verdict = this.check(username, address, knownDevice);
    if (!verdict.allowed) return verdict;
    const pair = pairKey(username, address, knownDevice);
    const failures = this.#livePairFailures(pair);
    failures.push(this.#now());
    this.#pairFailures.set(pair, failures.slice(-this.#maxPairFailures));
    if (knownDevice !== undefined) return verdict;
    const account = accountName(username);
    const now = this.#now();
    this.#accountSchedule.set(account, Math.max(this.#accountSchedule.get(account) ?? now, now) + this.#intervalMs);
    return verdict;
  }

  /**
   * The password was right: the address's (or known device's) failures for the account are forgiven, and the attempt
   * begin() counted goes back to the account (its earlier failures stay: they were guesses, and the bound counts them).
   */
  recordSuccess(username: string, address: string, knownDevice?: string): void {
    this.#pairFailures.delete(pairKey(username, address, knownDevice));
    if (knownDevice !== undefined) return;
    const account = accountName(username);
    const next = this.#accountSchedule.get(account);
    if (next === undefined) return;
    if (next - this.#intervalMs <= this.#now()) this.#accountSchedule.delete(account);
    else this.#accountSchedule.set(account, next - this.#intervalMs);
  }

  #livePairFailures(key: string): number[] {
    const cutoff = this.#now() - this.#windowMs;
    return (this.#pairFailures.get(key) ?? []).filter((at) => at > cutoff);
  }

  /** 0 while the pair has fewer failures in the window than the limit; else until enough have aged out. */
  #pairRetryAfterMs(key: string): number {
    const failures = this.#livePairFailures(key);
    if (failures.length < this.#maxPairFailures) return 0;
    return (failures[failures.length - this.#maxPairFailures] ?? 0) + this.#windowMs - this.#now();
  }

  /** 0 while the account's schedule is within the burst tolerance of now; else until it is. */
  #accountRetryAfterMs(key: string): number {
    const next = this.#accountSchedule.get(key);
    if (next === undefined) return 0;
    if (next <= this.#now()) {
      this.#accountSchedule.delete(key); // idle again: nothing to remember
      return 0;
    }
    return Math.max(0, next - this.#toleranceMs - this.#now());
  }
}

function refused(scope: ThrottleScope, retryAfterMs: number): ThrottleVerdict {
  return { allowed: false, scope, retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)) };
}

/** The account as a person would name it: case and Unicode normalisation do not make a new account to guess at. */
export function accountName(username: string): string {
  return username.normalize("NFC").toLowerCase();
}

/** The account with where the attempt comes from: the known device if any (it may roam), else the address. */
function pairKey(username: string, address: string, knownDevice: string | undefined): string {
  return knownDevice === undefined
    ? `${accountName(username)}\0${address}`
    : `${accountName(username)}\0device\0${knownDevice}`;
}

/**
 * A Map that forgets its least recently written keys beyond `max`, so a flood of distinct usernames or addresses
 * cannot exhaust memory (Map iteration order is insertion order; writing a key moves it to the end).
 */
class BoundedMap<V> {
  readonly #entries = new Map<string, V>();

  constructor(readonly max: number) {}

  get(key: string): V | undefined {
    return this.#entries.get(key);
  }

  set(key: string, value: V): void {
    this.#entries.delete(key);
    this.#entries.set(key, value);
    while (this.#entries.size > this.max) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
    }
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }
}

/** "Try again in 4 minutes" text for the login page. */
export function describeRetry(seconds: number): string {
  if (seconds < 60) return `${seconds} second${seconds === 1 ? "" : "s"}`;
  const minutes = Math.ceil(seconds / 60);
  return `${minutes} minute${minutes === 1 ? "" : "s"}`;
}
