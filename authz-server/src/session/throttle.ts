import { createHmac } from "node:crypto";
import { defaults } from "../config.js";
import type { LoginThrottleRecord, Storage } from "../storage/types.js";

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
 * Unknown usernames are counted like real ones, so the throttle reveals nothing about which accounts exist. The state
 * is in the database (LoginThrottleStore), read and written in one transaction per attempt, so the limits hold whichever
 * server process on the database each guess reaches, and across a restart (docs/login-throttle.md). ThrottleRules is the
 * algorithm alone: a record and the time in, a verdict and the next record out.
 */
export interface ThrottleLimits {
  /** Failures per account from one address within the window before that address is paused for it (default 5). */
  readonly maxFailuresPerAccountAndAddress?: number;
  /** Window of the per account-and-address count, seconds (default 15 minutes). */
  readonly windowSeconds?: number;
  /** Attempts per account, from anywhere, before they are spaced out (default 5). */
  readonly accountBurst?: number;
  /** Spacing of further attempts per account, seconds (default 30). */
  readonly accountIntervalSeconds?: number;
}

export interface ThrottleOptions extends ThrottleLimits {
  /**
   * Keys the digests the rows are stored under (HMAC-SHA-256): without it, a copy of the database could be searched
   * for a known username or address by hashing candidates. Every process on the database must use the same key.
   */
  readonly key: Uint8Array;
  readonly now?: () => number;
}

export type ThrottleVerdict =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly scope: ThrottleScope; readonly retryAfterSeconds: number };

/** Which limit refused an attempt: limit 1 (by address, or by known device), or limit 2. */
export type ThrottleScope = "account-and-address" | "account-and-device" | "account";

/** What an attempt decides: the verdict, and the record to store in place of the one read. */
export interface ThrottleOutcome {
  readonly verdict: ThrottleVerdict;
  readonly record: LoginThrottleRecord;
}

/** The two limits as pure functions of a record and the time: no state, no clock, no storage. */
export class ThrottleRules {
  readonly #maxPairFailures: number;
  readonly #windowMs: number;
  readonly #intervalMs: number;
  /** How far ahead of now an account's schedule may run: the burst minus the attempt being made. */
  readonly #toleranceMs: number;

  constructor(options: ThrottleLimits = {}) {
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
  }

  /**
   * An attempt at `now`: refused by the first limit it exceeds, else counted at once as a failure (a correct password
   * takes it back: succeed). A known device's attempt is counted under limit 1 only.
   */
  attempt(record: LoginThrottleRecord, now: number, knownDevice: boolean): ThrottleOutcome {
    const failures = record.failures.filter((at) => at > now - this.#windowMs);
    const accountNextAttemptAt =
      record.accountNextAttemptAt !== null && record.accountNextAttemptAt > now ? record.accountNextAttemptAt : null;
    const current = { failures, accountNextAttemptAt }; // what is still remembered: idle schedules and old failures go
    if (failures.length >= this.#maxPairFailures) {
      const oldest = failures[failures.length - this.#maxPairFailures] ?? now;
      return refused(
        current,
        knownDevice ? "account-and-device" : "account-and-address",
        oldest + this.#windowMs - now,
      );
    }
    const counted = [...failures, now].slice(-this.#maxPairFailures);
    if (knownDevice) return { verdict: { allowed: true }, record: { ...current, failures: counted } };
    const accountWait = accountNextAttemptAt === null ? 0 : accountNextAttemptAt - this.#toleranceMs - now;
    if (accountWait > 0) return refused(current, "account", accountWait);
    return {
      verdict: { allowed: true },
      record: { failures: counted, accountNextAttemptAt: (accountNextAttemptAt ?? now) + this.#intervalMs },
    };
  }

  /**
   * The password was right: the address's (or known device's) failures for the account are forgiven, and the attempt
   * `attempt` counted goes back to the account (its earlier failures stay: they were guesses, and the bound counts them).
   */
  succeed(record: LoginThrottleRecord, now: number, knownDevice: boolean): LoginThrottleRecord {
    const next = record.accountNextAttemptAt;
    if (knownDevice || next === null) return { failures: [], accountNextAttemptAt: next };
    return { failures: [], accountNextAttemptAt: next - this.#intervalMs <= now ? null : next - this.#intervalMs };
  }

  /** When the record's failures have all left the window, and its row can go (purgeExpired). */
  failuresExpireAt(record: LoginThrottleRecord): number {
    return (record.failures.at(-1) ?? 0) + this.#windowMs;
  }
}

/**
 * The throttle the login endpoint uses: each attempt reads, decides and writes its record in one storage transaction,
 * so concurrent guesses, on this process or another on the database, see each other. A database that cannot be
 * reached fails the attempt (the page answers 503): never an unthrottled guess.
 */
export class LoginThrottle {
  readonly #storage: Pick<Storage, "transaction">;
  readonly #rules: ThrottleRules;
  readonly #key: Uint8Array;
  readonly #now: () => number;

  constructor(storage: Pick<Storage, "transaction">, options: ThrottleOptions) {
    this.#storage = storage;
    this.#rules = new ThrottleRules(options);
    this.#key = options.key;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Checks and, when allowed, counts this attempt as a failure at once, before the (slow, asynchronous) password
   * check: guesses sent concurrently then see each other, so the limits bound parallel guessing as well as
   * sequential. A correct password takes the attempt back (recordSuccess).
   * `knownDevice`: this browser's id when it is known for this account (Sessions.knownDevice).
   */
  begin(username: string, address: string, knownDevice?: string): Promise<ThrottleVerdict> {
    return this.#update(username, address, knownDevice, (record, now) =>
      this.#rules.attempt(record, now, knownDevice !== undefined),
    );
  }

  /** The password was right (ThrottleRules.succeed). */
  async recordSuccess(username: string, address: string, knownDevice?: string): Promise<void> {
    await this.#update(username, address, knownDevice, (record, now) => ({
      verdict: { allowed: true },
      record: this.#rules.succeed(record, now, knownDevice !== undefined),
    }));
  }

  #update(
    username: string,
    address: string,
    knownDevice: string | undefined,
    decide: (record: LoginThrottleRecord, now: number) => ThrottleOutcome,
  ): Promise<ThrottleVerdict> {
    const account = this.#digest(accountName(username));
    const pair = this.#digest(pairKey(username, address, knownDevice));
    return this.#storage.transaction(async (tx) => {
      const { verdict, record } = decide(await tx.loginThrottle.lock(pair, account), this.#now());
      await tx.loginThrottle.save(pair, account, record, this.#rules.failuresExpireAt(record));
      return verdict;
    });
  }

  #digest(name: string): string {
    return createHmac("sha256", this.#key).update(name, "utf8").digest("hex");
  }
}

function refused(record: LoginThrottleRecord, scope: ThrottleScope, retryAfterMs: number): ThrottleOutcome {
  return {
    verdict: { allowed: false, scope, retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)) },
    record,
  };
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

/** "Try again in 4 minutes" text for the login page. */
export function describeRetry(seconds: number): string {
  if (seconds < 60) return `${seconds} second${seconds === 1 ? "" : "s"}`;
  const minutes = Math.ceil(seconds / 60);
  return `${minutes} minute${minutes === 1 ? "" : "s"}`;
}
