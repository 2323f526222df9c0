// The wire form of refusals (RFC 6750 §3): challenge parameters as valid quoted-strings whatever
// text they carry, and the exact bodies.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { refusalResponse, unavailableResponse } from "../../../plugin/src/core/challenge.ts";
import { invalidToken, refuse } from "../../../plugin/src/core/verdict.ts";

describe("refusalResponse", () => {
  it("answers a request without credentials with a bare realm (RFC 6750 §3.1)", () => {
    assert.deepEqual(refusalResponse(refuse(401, "no_token", "a bearer token is required"), "photos"), {
      status: 401,
      body: '{"error_description":"a bearer token is required"}',
      headers: { "WWW-Authenticate": 'Bearer realm="photos"', "Content-Type": "application/json" },
    });
  });

  it("escapes quote and backslash inside every quoted-string (RFC 9110 §5.6.4), so no text can end one early", () => {
    const refusal = refuse(403, "insufficient_scope", 'say "hi" \\ bye', "insufficient_scope", "photos");
    assert.deepEqual(refusalResponse(refusal, 'r"e\\alm'), {
      status: 403,
      body: JSON.stringify({ error: "insufficient_scope", error_description: 'say "hi" \\ bye', scope: "photos" }),
      headers: {
        "WWW-Authenticate":
          'Bearer realm="r\\"e\\\\alm", error="insufficient_scope", error_description="say \\"hi\\" \\\\ bye", scope="photos"',
        "Content-Type": "application/json",
      },
    });
    assert.equal(
      refusalResponse(invalidToken("expired", "the token has expired"), "api").headers["WWW-Authenticate"],
      'Bearer realm="api", error="invalid_token", error_description="the token has expired"',
    );
  });

  it("answers 503 with Retry-After and no challenge when the keys are unavailable", () => {
    assert.deepEqual(
      unavailableResponse(
        { ok: false, status: 503, reason: "keys_unavailable", description: "the token signing keys are unavailable" },
        5,
      ),
      {
        status: 503,
        body: '{"message":"the token signing keys are unavailable"}',
        headers: { "Retry-After": "5", "Content-Type": "application/json" },
      },
    );
  });
});
