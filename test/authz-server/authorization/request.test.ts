import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as oauth from "oauth4webapi";
import { matchRedirectUri, validateAuthorizationRequest } from "../../../authz-server/src/authorization/request.ts";
import { authorizationResponse } from "../../../authz-server/src/authorization/response.ts";
import { verifyS256 } from "../../../authz-server/src/grants/authorization_code.ts";
import { CANON_REDIRECT, PHOTOS_API, seedStorage } from "../fixtures.ts";

// The challenge is computed by oauth4webapi, an implementation independent of ours.
const VERIFIER = oauth.generateRandomCodeVerifier();
const CHALLENGE = await oauth.calculatePKCECodeChallenge(VERIFIER);
const ISSUER = "http://localhost:9000";

const { storage, canon, cli } = await seedStorage();

function request(overrides: Record<string, string | string[] | null> = {}): URLSearchParams {
  const base: Record<string, string | string[] | null> = {
    response_type: "code",
    client_id: canon.clientId,
    redirect_uri: CANON_REDIRECT,
    scope: "photos",
    state: "xyz",
    code_challenge: CHALLENGE,
    code_challenge_method: "S256",
    ...overrides,
  };
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(base)) {
    if (value === null) continue;
    for (const v of Array.isArray(value) ? value : [value]) params.append(name, v);
  }
  return params;
}

const validate = (overrides: Record<string, string | string[] | null> = {}) =>
  validateAuthorizationRequest(request(overrides), storage, ISSUER);

const redirectError = (
  error: string,
  description: string,
  state: { state: string | undefined } = { state: "xyz" },
) => ({
  kind: "redirect",
  redirectUri: CANON_REDIRECT,
  state: state.state,
  error,
  description,
});

describe("authorization request validation (RFC 6749 §4.1.1, RFC 7636, RFC 9700)", () => {
  it("accepts the seed story's request", async () => {
    assert.deepEqual(await validate(), {
      kind: "ok",
      client: canon,
      request: {
        clientId: canon.clientId,
        redirectUri: CANON_REDIRECT,
        scopes: ["photos"],
        state: "xyz",
        codeChallenge: CHALLENGE,
        codeChallengeMethod: "S256",
        resources: [],
      },
    });
    const all = await validate({ scope: null, state: null, resource: PHOTOS_API });
    assert.equal(all.kind, "ok");
    assert.deepEqual(
      [all.request.scopes, all.request.state, all.request.resources],
      [["photos", "profile"], undefined, [PHOTOS_API]],
    );
  });

  it("never redirects for an unknown client or an unregistered redirect URI", async () => {
    const page = (title: string) => (r: Awaited<ReturnType<typeof validate>>) =>
      assert.equal(r.kind === "page" && r.title, title);
    page("Unknown application")(await validate({ client_id: "nope" }));
    page("Invalid request")(await validate({ client_id: null }));
    page("Invalid request")(await validate({ redirect_uri: null }));
    page("Invalid request")(await validate({ client_id: [canon.clientId, canon.clientId] }));
    page("Invalid request")(await validate({ redirect_uri: [CANON_REDIRECT, "https://evil.example/"] }));
    for (const uri of [
      `${CANON_REDIRECT}/`, // trailing slash
      "https://CANON.example/callback", // case
      "https://canon.example/Callback",
      "https://canon.example:443/callback", // same URL after normalisation, still not the same string
      "https://canon.example/callback?x=1",
      "https://canon.example/callback#frag",
      "https://evil.example/callback",
      "http://canon.example/callback",
      "https://canon.example/other", // registered with its query only
    ]) {
      page("Unregistered redirect address")(await validate({ redirect_uri: uri }));
    }
    assert.equal((await validate({ redirect_uri: "https://canon.example/other?x=1" })).kind, "ok");
  });

  it("RFC 8252 §7.3: any loopback port for a public native client only", () => {
    assert.equal(matchRedirectUri(cli, "http://127.0.0.1:4000/cb"), true);
    assert.equal(matchRedirectUri(cli, "http://127.0.0.1:53111/cb"), true);
    assert.equal(matchRedirectUri(cli, "http://127.0.0.1/cb"), true);
    assert.equal(matchRedirectUri(cli, "http://127.0.0.1:53111/cb/"), false);
    assert.equal(matchRedirectUri(cli, "http://localhost:53111/cb"), false);
    assert.equal(matchRedirectUri(cli, "http://127.0.0.2:4000/cb"), false);
    assert.equal(
      matchRedirectUri({ ...cli, tokenEndpointAuthMethod: "client_secret_basic" }, "http://127.0.0.1:53111/cb"),
      false,
    );
  });

  it("reports other errors to the registered redirect URI with state", async () => {
    assert.deepEqual(
      await validate({ response_type: "token" }),
      redirectError("unsupported_response_type", "only response_type=code is supported"),
    );
    assert.deepEqual(
      await validate({ response_type: "code id_token" }),
      redirectError("unsupported_response_type", "only response_type=code is supported"),
    );
    assert.deepEqual(
      await validate({ response_type: null }),
      redirectError("invalid_request", "response_type is required"),
    );
    assert.deepEqual(
      await validate({ code_challenge: null }),
      redirectError("invalid_request", "code_challenge is required (PKCE with S256)"),
    );
    assert.deepEqual(
      await validate({ code_challenge_method: null }),
      redirectError("invalid_request", "code_challenge_method must be S256"),
    );
    assert.deepEqual(
      await validate({ code_challenge_method: "plain", code_challenge: VERIFIER }),
      redirectError("invalid_request", "code_challenge_method must be S256"),
    );
    assert.deepEqual(
      await validate({ code_challenge: "short" }),
      redirectError("invalid_request", "code_challenge is not a base64url SHA-256 value"),
    );
    assert.deepEqual(
      await validate({ scope: "photos admin" }),
      redirectError("invalid_scope", "scope not allowed for this client: admin"),
    );
    assert.deepEqual(
      await validate({ scope: "photos\u0001" }),
      redirectError("invalid_scope", "scope contains an invalid character"),
    );
    assert.deepEqual(
      await validate({ resource: "https://other.example/api" }),
      redirectError("invalid_target", "resource is not registered with this server"),
    );
    // Registered, but not the resource server of the requested scope (RFC 8707 §2): consent to
    // Flickr's photos must not yield a token for another audience.
    assert.deepEqual(
      await validate({ resource: ISSUER }),
      redirectError("invalid_target", "resource is not one the requested scopes are for"),
    );
    assert.deepEqual(
      await validate({ state: ["a", "b"] }),
      redirectError("invalid_request", "parameter state is repeated", { state: undefined }),
    );
    assert.deepEqual(
      await validate({ scope: ["photos", "photos"] }),
      redirectError("invalid_request", "parameter scope is repeated"),
    );
    const robot = await validateAuthorizationRequest(
      request({ client_id: "robot-id", redirect_uri: "https://robot.example/cb" }),
      storage,
      ISSUER,
    );
    assert.deepEqual(robot, {
      ...redirectError("unauthorized_client", "the client may not use the authorization code grant"),
      redirectUri: "https://robot.example/cb",
    });
  });

  it("builds responses with state unchanged and iss (RFC 9207), keeping the redirect URI's query", () => {
    assert.equal(
      authorizationResponse(ISSUER, "https://canon.example/other?x=1", "s p&c=é", { code: "abc" }),
      "https://canon.example/other?x=1&code=abc&state=s+p%26c%3D%C3%A9&iss=http%3A%2F%2Flocalhost%3A9000",
    );
    assert.equal(
      authorizationResponse(ISSUER, CANON_REDIRECT, undefined, { error: "access_denied" }),
      `${CANON_REDIRECT}?error=access_denied&iss=http%3A%2F%2Flocalhost%3A9000`,
    );
  });

  it("verifies S256 (RFC 7636 §4.6)", () => {
    assert.equal(verifyS256(VERIFIER, CHALLENGE), true);
    // Change the last character to a different one (appending a fixed "A" was a no-op when the random verifier ended in "A").
    const altered = `${VERIFIER.slice(0, -1)}${VERIFIER.endsWith("A") ? "B" : "A"}`;
    assert.equal(verifyS256(altered, CHALLENGE), false);
    assert.equal(verifyS256(VERIFIER, "short"), false);
  });
});
