// Kong's answers to kong.client.load_consumer, kept per process so a mapped consumer costs one
// round trip per lifetime instead of one per request. Bounded: keys come from token claims.
//
// A "no such consumer" answer lives at most NEGATIVE_LIFETIME_SECONDS: through the plugin server
// Kong 3.9.3 drops load_consumer's error (only the first return value crosses), so a database
// error reads exactly like a missing consumer and must not be remembered for long. Kong starts
// new plugin instances whenever it rebuilds its plugin configuration (in DB-less mode, on every
// new declarative configuration, consumers included): the handler clears this cache then. In
// database mode consumer edits do not restart instances, and the lifetime bounds staleness.

import type { KongConsumer } from "./kong-identity.js";

/** The longest a "no such consumer" answer is believed. */
export const NEGATIVE_LIFETIME_SECONDS = 5;
export const DEFAULT_MAX_ENTRIES = 10_000;

/** A cached answer of Kong's. */
export interface CachedConsumer {
  /** undefined: Kong found no consumer. */
  readonly consumer: KongConsumer | undefined;
  readonly expiresAtMs: number;
}

export class ConsumerCache {
  // A Map iterates in insertion order: the first key is the oldest entry.
  private readonly entries = new Map<string, CachedConsumer>();
  private readonly maxEntries: number;
  /** Lookups answered from the cache, and lookups that cost a load_consumer call. */
  hits = 0;
  misses = 0;

  constructor(options: { readonly maxEntries?: number } = {}) {
    this.maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Kong's answer cached under `key`, or undefined on a miss (an expired entry is dropped). */
  get(key: string, nowMs: number): CachedConsumer | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) {
      this.misses += 1;
      return undefined;
    }
    if (nowMs >= entry.expiresAtMs) {
      this.entries.delete(key);
      this.misses += 1;
      return undefined;
    }
    this.hits += 1;
    return entry;
  }

  /** Remembers Kong's answer for `lifetimeSeconds` (a "none" for at most NEGATIVE_LIFETIME_SECONDS). */
  set(key: string, consumer: KongConsumer | undefined, lifetimeSeconds: number, nowMs: number): void {
    const seconds = consumer === undefined ? Math.min(NEGATIVE_LIFETIME_SECONDS, lifetimeSeconds) : lifetimeSeconds;
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
    this.entries.set(key, { consumer, expiresAtMs: nowMs + seconds * 1000 });
  }

  clear(): void {
    this.entries.clear();
  }
}

/** The process-wide cache every plugin instance shares. */
export const sharedConsumerCache = new ConsumerCache();
