/**
 * Login throttling against password guessing (oauth-requirements item 8, RFC 9700 §4.15
 * on brute force at the authorization server): failures are counted per account and per
 * client address in a sliding window; once either count reaches its limit, further
 * attempts for that account (from anywhere) or from that address (for any account) are
 * refused without checking the password until the oldest failure leaves the window.
 * Unknown usernames are counted like real ones, so the throttle reveals nothing about
 * which accounts exist.
 */
export interface ThrottleOptions {
  /** Failures per account within the window before the account is locked (default 5). */
  readonly maxFailuresPerAccount?: number;
  /** Failures per client address within the window before the address is locked (default 20). */
  readonly maxFailuresPerAddress?: number;
  /** Window length in seconds (default 15 minutes). */
  readonly windowSeconds?: number;
  /** At most this many accounts/addresses are tracked; the oldest are forgotten first. */
  readonly maxTrackedKeys?: number;
  readonly now?: () => number;
}

export type ThrottleVerdict =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly scope: "account" | "address"; readonly retryAfterSeconds: number };

export class LoginThrottle {
  readonly #maxAccount: number;
  readonly #maxAddress: number;
  readonly #windowMs: number;
  readonly #maxKeys: number;
  readonly #now: () => number;
  /** key → failure timestamps (ms), oldest first, at most the limit long. */
  readonly #failures = new Map<string, number[]>();

  constructor(options: ThrottleOptions = {}) {
    this.#maxAccount = options.maxFailuresPerAccount ?? 5;
    this.#maxAddress = options.maxFailuresPerAddress ?? 20;
    this.#windowMs = (options.windowSeconds ?? 15 * 60) * 1000;
    this.#maxKeys = options.maxTrackedKeys ?? 100_000;
    this.#now = options.now ?? Date.now;
  }

  check(username: string, address: string): ThrottleVerdict {
    const account = this.#retryAfter(accountKey(username), this.#maxAccount);
    if (account > 0) return { allowed: false, scope: "account", retryAfterSeconds: account };
    const addr = this.#retryAfter(addressKey(address), this.#maxAddress);
    if (addr > 0) return { allowed: false, scope: "address", retryAfterSeconds: addr };
    return { allowed: true };
  }

  /**
   * Checks and, when allowed, counts this attempt as a failure at once, before the (slow,
   * asynchronous) password check: guesses sent concurrently then see each other, so the limit
   * bounds parallel guessing as well as sequential. A correct password undoes it (recordSuccess).
   */
  begin(username: string, address: string): ThrottleVerdict {
    const verdict = this.check(username, address);
    if (verdict.allowed) this.recordFailure(username, address);
    return verdict;
  }

  recordFailure(username: string, address: string): void {
    this.#record(accountKey(username), this.#maxAccount);
    this.#record(addressKey(address), this.#maxAddress);
  }

  /**
   * A successful login clears the account's count (not the address's: one known password
   * must not reset an attacker's budget for guessing others from the same address). With
   * `address`, the attempt counted by begin() is taken back from the address's count.
   */
  recordSuccess(username: string, address?: string): void {
    this.#failures.delete(accountKey(username));
    if (address === undefined) return;
    const list = this.#failures.get(addressKey(address));
    list?.pop();
    if (list?.length === 0) this.#failures.delete(addressKey(address));
  }

  #live(key: string): number[] {
    const list = this.#failures.get(key);
    if (!list) return [];
    const cutoff = this.#now() - this.#windowMs;
    while (list.length > 0 && (list[0] ?? 0) <= cutoff) list.shift();
    if (list.length === 0) this.#failures.delete(key);
    return list;
  }

  #retryAfter(key: string, max: number): number {
    const list = this.#live(key);
    if (list.length < max) return 0;
    // Locked until enough failures have aged out to fall below the limit.
    const freeAt = (list[list.length - max] ?? 0) + this.#windowMs;
    return Math.max(1, Math.ceil((freeAt - this.#now()) / 1000));
  }

  #record(key: string, max: number): void {
    const list = this.#live(key);
    list.push(this.#now());
    if (list.length > max) list.splice(0, list.length - max);
    this.#failures.delete(key);
    this.#failures.set(key, list); // re-insert: Map order = least recently failed first
    while (this.#failures.size > this.#maxKeys) {
      const oldest = this.#failures.keys().next();
      if (oldest.done) break;
      this.#failures.delete(oldest.value);
    }
  }
}

function accountKey(username: string): string {
  return `u:${username.normalize("NFC").toLowerCase()}`;
}

function addressKey(address: string): string {
  return `a:${address}`;
}

/** "Try again in 4 minutes" text for the login page. */
export function describeRetry(seconds: number): string {
  if (seconds < 60) return `${seconds} second${seconds === 1 ? "" : "s"}`;
  const minutes = Math.ceil(seconds / 60);
  return `${minutes} minute${minutes === 1 ? "" : "s"}`;
}
