// How long a key set response may be used, from its Cache-Control and Age header fields
// (RFC 9111 §5.2, §5.1, §4.2.1): the reading the key set cache relies on.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { freshnessLifetime } from "../../../plugin/src/core/cache-control.ts";

const lifetime = (fields: Record<string, string>): number | undefined => freshnessLifetime(new Headers(fields));

describe("freshnessLifetime", () => {
  it("is the max-age of the response, as the authorization server's /jwks.json sends it", () => {
    assert.equal(lifetime({ "cache-control": "public, max-age=300" }), 300);
    assert.equal(lifetime({ "cache-control": "max-age=0" }), 0);
    // Directive names are case-insensitive, the argument may be quoted, unknown directives and
    // empty list elements are ignored (RFC 9111 §5.2, §5.2.3; RFC 9110 §5.6.1).
    assert.equal(lifetime({ "cache-control": 'MAX-AGE="60"' }), 60);
    assert.equal(
      lifetime({ "cache-control": ' , private,, max-age=60 ,must-revalidate, ext="a, \\"b\\"", immutable' }),
      60,
    );
  });

  it("sets no bound when the response has no max-age (jwks_cache_seconds then applies alone)", () => {
    assert.equal(lifetime({}), undefined);
    assert.equal(lifetime({ "cache-control": "public" }), undefined);
    assert.equal(lifetime({ "cache-control": "s-maxage=10" }), undefined, "s-maxage is for shared caches");
    assert.equal(lifetime({ expires: "Thu, 01 Jan 1970 00:00:00 GMT" }), undefined, "Expires is not read");
  });

  it("counts the time the response already spent in a cache on the way (Age)", () => {
    assert.equal(lifetime({ "cache-control": "max-age=300", age: "120" }), 180);
    assert.equal(lifetime({ "cache-control": "max-age=300", age: "400" }), 0);
    // RFC 9111 §5.1: the first member of a list counts; an invalid Age is ignored.
    assert.equal(lifetime({ "cache-control": "max-age=300", age: "100, 7" }), 200);
    assert.equal(lifetime({ "cache-control": "max-age=300", age: "-5" }), 300);
  });

  it("is 0 when the response may not be reused: no-store, no-cache, or freshness it cannot read", () => {
    const stale = [
      "no-store",
      "no-cache",
      "max-age=300, no-store",
      "no-cache, max-age=300",
      "max-age=300, max-age=60", // repeated (RFC 9111 §4.2.1)
      "max-age",
      "max-age=",
      "max-age=1.5",
      "max-age=-1",
      "max-age=abc",
      "max-age = 60", // no whitespace around "=" in a cache-directive
      'max-age="60',
      "max-age=60 x",
      "max-age=60; private",
      "max-age=60,\u00e9",
    ];
    for (const value of stale) assert.equal(lifetime({ "cache-control": value }), 0, value);
  });

  it("keeps the key set when no-cache names header fields only (RFC 9111 §5.2.2.4)", () => {
    assert.equal(lifetime({ "cache-control": 'no-cache="set-cookie", max-age=60' }), 60);
  });

  it("reads a huge max-age as 2^31 seconds rather than failing (RFC 9111 §1.2.2)", () => {
    assert.equal(lifetime({ "cache-control": `max-age=${"9".repeat(400)}` }), 2 ** 31);
  });
});
