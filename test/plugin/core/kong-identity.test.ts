// Who called, in Kong's words: which claim values may name a credential or a consumer, which
// load_consumer call a value needs (Kong looks consumers up by id or username only), and which of
// Kong's answers is the consumer the token named.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  anonymousLookup,
  asConsumer,
  claimValue,
  consumerLookup,
  isAuthenticated,
  matchingConsumer,
  noConsumer,
  unidentifiedClaim,
} from "../../../plugin/src/core/kong-identity.ts";

const ID = "0f6ad3b2-5a57-4b8e-9d33-1c2e3f405162";

describe("claimValue", () => {
  it("takes a string of 1–256 characters without control characters", () => {
    const claims = { sub: "alice", client_id: "x".repeat(256), name: "Zoë Ärger ✓", space: "a b" };
    assert.equal(claimValue(claims, "sub"), "alice");
    assert.equal(claimValue(claims, "client_id"), "x".repeat(256));
    assert.equal(claimValue(claims, "name"), "Zoë Ärger ✓");
    assert.equal(claimValue(claims, "space"), "a b");
  });

  it("refuses an absent, empty, non-string, too long or control-character value", () => {
    const claims: Record<string, unknown> = {
      empty: "",
      number: 42,
      list: ["alice"],
      object: { id: "alice" },
      nil: null,
      long: "x".repeat(257),
      newline: "alice\nX-Consumer-ID: admin",
      nul: "a\u0000",
      del: "a\u007f",
      tab: "a\tb",
    };
    for (const name of [...Object.keys(claims), "absent", "__proto__", "toString"])
      assert.equal(claimValue(claims, name), undefined, name);
  });
});

describe("the refusals", () => {
  it("are 401 invalid_token with a fixed description naming the claim, never its value (RFC 6750 §3.1)", () => {
    assert.deepEqual(unidentifiedClaim("sub"), {
      ok: false,
      status: 401,
      reason: "unidentified_claim",
      description: "the token's sub claim cannot identify a credential",
      error: "invalid_token",
    });
    assert.deepEqual(noConsumer("preferred_username"), {
      ok: false,
      status: 401,
      reason: "no_consumer",
      description: "no consumer matches the token's preferred_username claim",
      error: "invalid_token",
    });
  });
});

describe("consumerLookup", () => {
  it("looks a username up by username (Kong tries a UUID-shaped one as an id first)", () => {
    assert.deepEqual(consumerLookup("alice", "username"), { id: "alice", byUsername: true, key: "username:alice" });
    assert.deepEqual(consumerLookup(ID, "username"), { id: ID, byUsername: true, key: `username:${ID}` });
  });

  it("looks an id up only when it is UUID-shaped, either case: anything else would raise a Lua error in Kong", () => {
    assert.deepEqual(consumerLookup(ID, "id"), { id: ID, byUsername: false, key: `id:${ID}` });
    assert.deepEqual(consumerLookup(ID.toUpperCase(), "id")?.byUsername, false);
    for (const value of ["alice", `${ID}x`, ID.slice(1), ID.replaceAll("-", ""), `${ID}\n`])
      assert.equal(consumerLookup(value, "id"), undefined, value);
  });

  it("keeps id and username lookups of one value apart in the cache", () => {
    assert.notEqual(consumerLookup(ID, "id")?.key, consumerLookup(ID, "username")?.key);
  });

  it("loads the anonymous consumer by id or username, as Kong's own plugins do", () => {
    assert.deepEqual(anonymousLookup("guest"), { id: "guest", byUsername: true, key: "username:guest" });
  });
});

describe("asConsumer", () => {
  it("reads Kong's consumer entity, keeping it whole for kong.client.authenticate", () => {
    const entity = { id: ID, username: "alice", custom_id: "c-1", created_at: 1700000000, tags: ["staff"] };
    assert.deepEqual(asConsumer(entity), { id: ID, username: "alice", customId: "c-1", entity });
    assert.deepEqual(asConsumer({ id: ID }), { id: ID, username: undefined, customId: undefined, entity: { id: ID } });
  });

  it("reads nil (MessagePack) and the empty Consumer message (ProtoBuf) as no consumer", () => {
    for (const answer of [null, undefined, {}, { id: "" }, { id: 7 }, "alice", [ID]])
      assert.equal(asConsumer(answer), undefined, JSON.stringify(answer));
  });

  it("reads an empty username or custom_id (ProtoBuf's default string) as none", () => {
    assert.deepEqual(asConsumer({ id: ID, username: "", custom_id: "" }), {
      id: ID,
      username: undefined,
      customId: undefined,
      entity: { id: ID, username: "", custom_id: "" },
    });
  });
});

describe("matchingConsumer", () => {
  const alice = asConsumer({ id: ID, username: "alice" });

  it("accepts a consumer found by username only when its username is exactly the value", () => {
    const byUsername = consumerLookup("alice", "username");
    assert.ok(byUsername);
    assert.equal(matchingConsumer(alice, byUsername), alice);
    // Kong matched the UUID-shaped value against an id: not the consumer whose username it is.
    const byUuid = consumerLookup(ID, "username");
    assert.ok(byUuid);
    assert.equal(matchingConsumer(alice, byUuid), undefined);
    const other = consumerLookup("Alice", "username");
    assert.ok(other);
    assert.equal(matchingConsumer(alice, other), undefined);
    assert.equal(matchingConsumer(undefined, byUsername), undefined);
  });

  it("accepts a consumer found by id only when its id is the value, without regard to case", () => {
    const upper = consumerLookup(ID.toUpperCase(), "id");
    assert.ok(upper);
    assert.equal(matchingConsumer(alice, upper), alice);
    const another = consumerLookup("1f6ad3b2-5a57-4b8e-9d33-1c2e3f405162", "id");
    assert.ok(another);
    assert.equal(matchingConsumer(alice, another), undefined);
  });
});

describe("isAuthenticated", () => {
  it("is true only for a credential with a non-empty id (the empty ProtoBuf message is none)", () => {
    assert.equal(isAuthenticated({ id: "key-1", consumer_id: ID }), true);
    for (const credential of [null, undefined, {}, { id: "" }, { consumer_id: ID }, "key-1"])
      assert.equal(isAuthenticated(credential), false, JSON.stringify(credential));
  });
});
