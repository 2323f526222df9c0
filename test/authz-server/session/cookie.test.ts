import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SessionCodec } from "../../../authz-server/src/session/cookie.ts";

const key = Buffer.alloc(32, 7);

describe("session cookie", () => {
  const codec = new SessionCodec(key);
  const data = { sid: "sid-1", exp: 2000 };

  it("round-trips and rejects tampering, foreign keys, expiry and garbage", () => {
    const value = codec.encode(data);
    assert.deepEqual(codec.decode(value, 1999), data);
    assert.equal(codec.decode(value, 2000), undefined, "expired at exp");
    const [payload, sig] = value.split(".") as [string, string];
    const forged = Buffer.from(JSON.stringify({ ...data, sid: "sid-2" })).toString("base64url");
    assert.equal(codec.decode(`${forged}.${sig}`, 1500), undefined);
    assert.equal(codec.decode(`${payload}.${sig.slice(0, -2)}AA`, 1500), undefined);
    assert.equal(new SessionCodec(Buffer.alloc(32, 8)).decode(value, 1500), undefined);
    for (const junk of ["", ".", "a.b.c", "%%%", payload]) assert.equal(codec.decode(junk, 1500), undefined);
    assert.throws(() => new SessionCodec(Buffer.alloc(16)), TypeError);
  });

  it("carries no identity: a signed cookie naming a user (an older version's) is read as its session id only", () => {
    const older = codec.encode({ ...data, userId: "u1", username: "alice", authTime: 1000 } as typeof data);
    assert.deepEqual(codec.decode(older, 1500), data);
  });

  it("known-device cookies round-trip, expire, and are never taken for a session cookie or the reverse", () => {
    const device = { account: "alice", device: "dev-1", exp: 2000 };
    const value = codec.encodeDevice(device);
    assert.deepEqual(codec.decodeDevice(value, 1999), device);
    assert.equal(codec.decodeDevice(value, 2000), undefined);
    assert.equal(codec.decode(value, 1500), undefined);
    assert.equal(codec.decodeDevice(codec.encode(data), 1500), undefined);
    assert.equal(new SessionCodec(Buffer.alloc(32, 8)).decodeDevice(value, 1500), undefined);
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
