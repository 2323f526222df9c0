// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). One definition (authz-server/src/tokens/scope.ts)
// checks the names `scopes create` registers and the `scope` parameters clients send.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { OAuthError } from "../../../authz-server/src/errors.ts";
import { isScopeToken, parseScope } from "../../../authz-server/src/tokens/scope.ts";

describe("the scope-token grammar", () => {
  it("admits every visible ASCII character but the double quote and the backslash", () => {
    const admitted = Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i)).filter(
      (c) => c !== '"' && c !== "\\",
    );
    for (const c of admitted) assert.equal(isScopeToken(c), true, `0x${c.charCodeAt(0).toString(16)}`);
    assert.equal(isScopeToken(admitted.join("")), true);
  });

  it("refuses the empty string, the double quote, the backslash, space, controls, DEL and non-ASCII", () => {
    for (const token of ["", '"', "\\", " ", "a b", "\t", "\u007f", "é", "photos\n"])
      assert.equal(isScopeToken(token), false, JSON.stringify(token));
  });

  it("parses a scope parameter into its set of tokens, and refuses one with a character outside the grammar", () => {
    assert.deepEqual(parseScope("photos  profile photos"), ["photos", "profile"]);
    assert.equal(parseScope(undefined), undefined);
    assert.throws(
      () => parseScope('photos "profile"'),
      (error: unknown) =>
        error instanceof OAuthError &&
        error.code === "invalid_scope" &&
        error.description === "scope contains an invalid character",
    );
  });
});
