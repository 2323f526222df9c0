// The process-wide cache of Kong's load_consumer answers: a found consumer for the configured
// lifetime, "none" for at most 5 s (Kong 3.9.3's plugin server reports a database error the same
// way), at most 10,000 entries with the oldest dropped first, emptied by clear().
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  ConsumerCache,
  DEFAULT_MAX_ENTRIES,
  NEGATIVE_LIFETIME_SECONDS,
} from "../../../plugin/src/core/consumer-cache.ts";
import { asConsumer, type KongConsumer } from "../../../plugin/src/core/kong-identity.ts";

const T0 = 1_700_000_000_000;
const consumer = (username: string): KongConsumer => {
  const found = asConsumer({ id: `id-${username}`, username });
  assert.ok(found);
  return found;
};

describe("ConsumerCache", () => {
  it("counts lookups answered from the cache and lookups that missed, an expired entry among the misses", () => {
    const cache = new ConsumerCache();
    assert.equal(cache.get("username:alice", T0), undefined);
    cache.set("username:alice", consumer("alice"), 60, T0);
    cache.get("username:alice", T0 + 1000);
    cache.get("username:alice", T0 + 2000);
    cache.get("username:alice", T0 + 60_000);
    assert.deepEqual({ hits: cache.hits, misses: cache.misses }, { hits: 2, misses: 2 });
  });

  it("keeps a found consumer for the configured lifetime, and no longer", () => {
    const cache = new ConsumerCache();
    const alice = consumer("alice");
    cache.set("username:alice", alice, 60, T0);
    assert.equal(cache.get("username:alice", T0 + 59_999)?.consumer, alice);
    assert.equal(cache.get("username:alice", T0 + 60_000), undefined);
    assert.equal(cache.size, 0, "an expired entry is dropped when read");
  });

  it('keeps a "none" answer for at most 5 s, or the configured lifetime when shorter', () => {
    assert.equal(NEGATIVE_LIFETIME_SECONDS, 5);
    const cache = new ConsumerCache();
    cache.set("username:ghost", undefined, 60, T0);
    const hit = cache.get("username:ghost", T0 + 4_999);
    assert.ok(hit, "a cached none is a hit");
    assert.equal(hit.consumer, undefined);
    assert.equal(cache.get("username:ghost", T0 + 5_000), undefined);
    cache.set("username:ghost", undefined, 2, T0);
    assert.ok(cache.get("username:ghost", T0 + 1_999));
    assert.equal(cache.get("username:ghost", T0 + 2_000), undefined);
  });

  it("replaces an entry with a later answer", () => {
    const cache = new ConsumerCache();
    cache.set("username:alice", undefined, 60, T0);
    const alice = consumer("alice");
    cache.set("username:alice", alice, 60, T0 + 1_000);
    assert.equal(cache.get("username:alice", T0 + 30_000)?.consumer, alice);
    assert.equal(cache.size, 1);
  });

  it("holds 10,000 entries by default, dropping the oldest first", () => {
    assert.equal(DEFAULT_MAX_ENTRIES, 10_000);
    const cache = new ConsumerCache();
    for (let i = 0; i <= DEFAULT_MAX_ENTRIES; i += 1) cache.set(`username:u${i}`, undefined, 60, T0);
    assert.equal(cache.size, DEFAULT_MAX_ENTRIES);
    assert.equal(cache.get("username:u0", T0), undefined, "the oldest went");
    assert.ok(cache.get("username:u1", T0));
    assert.ok(cache.get(`username:u${DEFAULT_MAX_ENTRIES}`, T0));
  });

  it("counts a rewritten entry as new: the oldest other entry goes first", () => {
    const cache = new ConsumerCache({ maxEntries: 2 });
    cache.set("a", undefined, 60, T0);
    cache.set("b", undefined, 60, T0);
    cache.set("a", undefined, 60, T0);
    cache.set("c", undefined, 60, T0);
    assert.deepEqual(
      ["a", "b", "c"].map((key) => cache.get(key, T0) !== undefined),
      [true, false, true],
    );
  });

  it("forgets everything on clear()", () => {
    const cache = new ConsumerCache();
    cache.set("username:alice", consumer("alice"), 60, T0);
    cache.set("id:x", undefined, 60, T0);
    cache.clear();
    assert.equal(cache.size, 0);
    assert.equal(cache.get("username:alice", T0), undefined);
  });
});
