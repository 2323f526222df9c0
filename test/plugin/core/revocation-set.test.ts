// The revocation set on its own: what each kind of entry covers, when entries are forgotten, and
// the cap that drops the soonest-expiring entries first.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RevocationSet, type RevocationEntry } from "../../../plugin/src/core/revocation-set.ts";

const T = 1_796_061_600;
/** A token of alice through canon-printing, issued at `iat`, signed by key k1. */
const alice = (
  set: RevocationSet,
  iat = T,
  overrides: { jti?: string; sub?: string; clientId?: string; kid?: string } = {},
) =>
  set.covers(
    overrides.jti ?? "jti-1",
    overrides.sub ?? "alice",
    overrides.clientId ?? "canon-printing",
    iat,
    overrides.kid ?? "k1",
  );
const setOf = (...entries: RevocationEntry[]) => {
  const set = new RevocationSet();
  for (const entry of entries) set.add(entry);
  return set;
};

describe("RevocationSet", () => {
  it("covers nothing when empty", () => {
    assert.equal(alice(new RevocationSet()), false);
  });

  it("covers one token by its jti, whatever else it carries", () => {
    const set = setOf({ kind: "token", jti: "jti-1", dropAfter: T + 900 });
    assert.equal(alice(set), true);
    assert.equal(alice(set, T, { jti: "jti-2" }), false);
  });

  it("covers every token a withdrawn key signed", () => {
    const set = setOf({ kind: "key", kid: "k1", dropAfter: T + 900 });
    assert.equal(alice(set, T, { jti: "any" }), true);
    assert.equal(alice(set, T, { kid: "k2" }), false);
  });

  it("covers a user's tokens issued at or before the instant, and none issued after", () => {
    const set = setOf({ kind: "user", sub: "alice", issuedBefore: T, dropAfter: T + 900 });
    assert.deepEqual(
      [alice(set, T - 1), alice(set, T), alice(set, T + 1), alice(set, T, { sub: "bob" })],
      [true, true, false, false],
    );
  });

  it("covers a client's tokens issued at or before the instant, for every user", () => {
    const set = setOf({ kind: "client", clientId: "canon-printing", issuedBefore: T, dropAfter: T + 900 });
    assert.deepEqual(
      [alice(set, T), alice(set, T, { sub: "bob" }), alice(set, T + 1), alice(set, T, { clientId: "other" })],
      [true, true, false, false],
    );
  });

  it("covers one user's tokens for one client only (consent withdrawn)", () => {
    const set = setOf({
      kind: "user_client",
      sub: "alice",
      clientId: "canon-printing",
      issuedBefore: T,
      dropAfter: T + 900,
    });
    assert.deepEqual(
      [alice(set, T), alice(set, T + 1), alice(set, T, { sub: "bob" }), alice(set, T, { clientId: "other" })],
      [true, false, false, false],
    );
  });

  it("widens an entry given twice: the later instant and the later drop_after win, counted once", () => {
    const set = setOf(
      { kind: "user", sub: "alice", issuedBefore: T + 10, dropAfter: T + 910 },
      { kind: "user", sub: "alice", issuedBefore: T, dropAfter: T + 900 },
      { kind: "token", jti: "jti-1", dropAfter: T + 5 },
      { kind: "token", jti: "jti-1", dropAfter: T + 1 },
    );
    assert.equal(set.size, 2);
    assert.equal(alice(set, T + 10, { jti: "x" }), true);
    set.forget(T + 6);
    assert.equal(alice(set, T + 100, { jti: "jti-1" }), false, "the token entry lived until its later drop_after");
    assert.equal(set.forget(T + 910), 0, "kept at its drop_after");
    assert.equal(set.forget(T + 911), 1, "forgotten past it");
    assert.equal(set.size, 0);
  });

  it("forgets every kind past its drop_after, and nothing before", () => {
    const set = setOf(
      { kind: "token", jti: "jti-1", dropAfter: T + 1 },
      { kind: "key", kid: "k9", dropAfter: T + 1 },
      { kind: "user", sub: "bob", issuedBefore: T, dropAfter: T + 1 },
      { kind: "client", clientId: "c", issuedBefore: T, dropAfter: T + 1 },
      { kind: "user_client", sub: "alice", clientId: "canon-printing", issuedBefore: T, dropAfter: T + 1 },
      { kind: "user_client", sub: "alice", clientId: "other", issuedBefore: T, dropAfter: T + 2 },
    );
    assert.equal(set.forget(T + 1), 0);
    assert.equal(set.size, 6);
    assert.equal(set.forget(T + 1.5), 5);
    assert.deepEqual([set.size, alice(set), alice(set, T, { clientId: "other" })], [1, false, true]);
  });

  it("holds at most maxEntries, dropping the soonest-expiring first, and says until when the loss matters", () => {
    const set = new RevocationSet(3);
    for (const [jti, dropAfter] of [
      ["a", T + 50],
      ["b", T + 10],
      ["c", T + 30],
      ["d", T + 20],
      ["e", T + 40],
    ] as const)
      set.add({ kind: "token", jti, dropAfter });
    assert.deepEqual(set.enforceCap(), { dropped: 2, coveredUntil: T + 20 });
    assert.equal(set.size, 3);
    assert.deepEqual(
      ["a", "b", "c", "d", "e"].map((jti) => alice(set, T, { jti })),
      [true, false, true, false, true],
    );
    assert.deepEqual(set.enforceCap(), { dropped: 0, coveredUntil: 0 });
  });

  it("drops exactly the excess among entries that expire at the same instant, across kinds", () => {
    const set = new RevocationSet(2);
    set.add({ kind: "token", jti: "a", dropAfter: T });
    set.add({ kind: "user", sub: "bob", issuedBefore: T, dropAfter: T });
    set.add({ kind: "user_client", sub: "alice", clientId: "canon-printing", issuedBefore: T, dropAfter: T });
    set.add({ kind: "key", kid: "k7", dropAfter: T + 1 });
    assert.deepEqual(set.enforceCap(), { dropped: 2, coveredUntil: T });
    assert.equal(set.size, 2);
    assert.equal(alice(set, T, { kid: "k7", jti: "x" }), true, "the latest-expiring entry stays");
  });
});
