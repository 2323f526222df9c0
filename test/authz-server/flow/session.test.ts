import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SessionCodec } from "../../../authz-server/src/session/cookie.js";
import { describeRetry, LoginThrottle } from "../../../authz-server/src/session/throttle.js";

const key = Buffer.alloc(32, 7);

describe("session cookie", () => {
  const codec = new SessionCodec(key);
  const data = { sid: "sid-1", userId: "u1", username: "alice", authTime: 1000, credential: codec.credentialStamp("scrypt$h1"), exp: 2000 };

  it("round-trips and rejects tampering, foreign keys, expiry and garbage", () => {
    const value = codec.encode(data);
    assert.deepEqual(codec.decode(value, 1999), data);
    assert.equal(codec.decode(value, 2000), undefined, "expired at exp");
    const [payload, sig] = value.split(".") as [string, string];
    const forged = Buffer.from(JSON.stringify({ ...data, userId: "admin" })).toString("base64url");
    assert.equal(codec.decode(`${forged}.${sig}`, 1500), undefined);
    assert.equal(codec.decode(`${payload}.${sig.slice(0, -2)}AA`, 1500), undefined);
    assert.equal(new SessionCodec(Buffer.alloc(32, 8)).decode(value, 1500), undefined);
    for (const junk of ["", ".", "a.b.c", "%%%", `${payload}`]) assert.equal(codec.decode(junk, 1500), undefined);
    assert.throws(() => new SessionCodec(Buffer.alloc(16)), TypeError);
    // A signed-in session without its credential stamp (a cookie of an older version) is not accepted.
    const { credential: _dropped, ...unstamped } = data;
    assert.equal(codec.decode(codec.encode(unstamped), 1500), undefined);
  });

  it("credential stamps match only the password hash they were made from", () => {
    const stamp = codec.credentialStamp("scrypt$h1");
    assert.match(stamp, /^[A-Za-z0-9_-]{22}$/);
    assert.equal(codec.matchesCredential(stamp, "scrypt$h1"), true);
    assert.equal(codec.matchesCredential(stamp, "scrypt$h2"), false);
    assert.equal(new SessionCodec(Buffer.alloc(32, 8)).matchesCredential(stamp, "scrypt$h1"), false);
  });

  it("CSRF tokens are bound to the session id", () => {
    const token = codec.csrfToken("sid-1");
    assert.equal(codec.verifyCsrf("sid-1", token), true);
    assert.equal(codec.verifyCsrf("sid-2", token), false);
    assert.equal(codec.verifyCsrf("sid-1", ""), false);
    assert.equal(codec.verifyCsrf("sid-1", undefined), false);
    assert.equal(codec.verifyCsrf("sid-1", `${token}x`), false);
  });
});

describe("login throttle", () => {
  it("locks an account after 5 failures from any addresses, until the window slides", () => {
    let now = 1_000_000;
    const t = new LoginThrottle({ now: () => now, windowSeconds: 900 });
    for (let i = 0; i < 5; i++) {
      assert.deepEqual(t.check("Alice", `10.0.0.${i}`), { allowed: true });
      t.recordFailure("Alice", `10.0.0.${i}`);
      now += 1000;
    }
    // Case-insensitive: the account is the same whatever the spelling.
    assert.deepEqual(t.check("alice", "10.9.9.9"), { allowed: false, scope: "account", retryAfterSeconds: 895 });
    assert.deepEqual(t.check("bob", "10.9.9.9"), { allowed: true });
    now = 1_000_000 + 900_000 + 1;
    assert.deepEqual(t.check("alice", "10.9.9.9"), { allowed: true }, "oldest failure aged out");
  });

  it("locks an address after 20 failures across accounts; success clears only the account", () => {
    let now = 0;
    const t = new LoginThrottle({ now: () => now });
    for (let i = 0; i < 20; i++) t.recordFailure(`user${i}`, "192.0.2.1");
    assert.deepEqual(t.check("someone", "192.0.2.1"), { allowed: false, scope: "address", retryAfterSeconds: 900 });
    assert.deepEqual(t.check("someone", "192.0.2.2"), { allowed: true });
    for (let i = 0; i < 4; i++) t.recordFailure("carol", "198.51.100.1");
    t.recordSuccess("carol");
    t.recordFailure("carol", "198.51.100.1");
    assert.deepEqual(t.check("carol", "198.51.100.2"), { allowed: true });
    now += 60_000;
    assert.deepEqual(t.check("x", "192.0.2.1"), { allowed: false, scope: "address", retryAfterSeconds: 840 });
  });

  it("begin() counts the attempt before the password check; a success takes it back from the address", () => {
    const t = new LoginThrottle({ maxFailuresPerAccount: 2, maxFailuresPerAddress: 3, now: () => 0 });
    assert.deepEqual(t.begin("dave", "203.0.113.1"), { allowed: true });
    assert.deepEqual(t.begin("dave", "203.0.113.1"), { allowed: true });
    // Two attempts in flight: a third for the same account is refused before either finishes.
    assert.deepEqual(t.begin("dave", "203.0.113.1"), { allowed: false, scope: "account", retryAfterSeconds: 900 });
    t.recordSuccess("dave", "203.0.113.1");
    assert.deepEqual(t.begin("erin", "203.0.113.1"), { allowed: true });
    // dave's successful attempt no longer counts: the address holds 2 of 3, so one more is allowed, then none.
    assert.deepEqual(t.begin("frank", "203.0.113.1"), { allowed: true });
    assert.deepEqual(t.begin("grace", "203.0.113.1"), { allowed: false, scope: "address", retryAfterSeconds: 900 });
  });

  it("forgets the least recently failing keys beyond its bound", () => {
    const t = new LoginThrottle({ maxTrackedKeys: 3, maxFailuresPerAccount: 1, now: () => 0 });
    t.recordFailure("a", "1"); // keys u:a, a:1
    t.recordFailure("b", "2"); // u:b, then a:2 evicts u:a (the oldest)
    assert.deepEqual(t.check("a", "9"), { allowed: true });
    assert.equal(t.check("b", "9").allowed, false);
  });

  it("describes the wait", () => {
    assert.equal(describeRetry(1), "1 second");
    assert.equal(describeRetry(59), "59 seconds");
    assert.equal(describeRetry(60), "1 minute");
    assert.equal(describeRetry(61), "2 minutes");
  });
});
