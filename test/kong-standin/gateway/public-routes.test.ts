// No route of the flickr service forwards a client-sent identity header, whatever the path: the
// photos API trusts X-Authenticated-* (and, as any upstream behind Kong may, Kong's consumer
// headers). Through the stand-in over the real kong.yml, whose service-level pre-function strips
// them on every route, and the real plugin server on the protected ones; the upstream records
// what reached it.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { send, startStack, type Recorded, type Stack } from "./helpers.ts";

/** Every identity header in several spellings (case, `_` for `-`), each a forged value. */
const FORGED: Record<string, string> = {
  "X-Authenticated-Userid": "mallory",
  x_authenticated_userid: "mallory",
  "X-AUTHENTICATED_SCOPE": "photos photos:write profile",
  "x-authenticated-client_id": "canon-printing",
  "X-Authenticated-Groups": "admins",
  "X-Consumer-ID": "0f6ad3b2-5a57-4b8e-9d33-1c2e3f405162",
  x_consumer_username: "admin",
  "X-Consumer-Custom-ID": "root",
  X_Consumer_Groups: "admins",
  "X-Credential-Identifier": "admin-key",
  x_credential_identifier: "admin-key",
  "X-Anonymous-Consumer": "false",
  "x_anonymous-consumer": "false",
};

/** The identity headers that reached the upstream, by name as node:http gives it (lower case, `_` kept). */
function identityHeaders(seen: Recorded): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(seen.headers).filter(([name]) =>
      /^x[-_](authenticated[-_]|consumer[-_]|credential[-_]identifier$|anonymous[-_]consumer$)/.test(name),
    ),
  );
}

describe("kong.yml: client-sent identity headers never reach the upstream, on any route, by any path", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack.close();
  });

  it("GET /flickr/explore (public) with every identity header forged in every spelling: proxied without any of them", async () => {
    const answer = await send(stack.gateway.url, "GET", "/flickr/explore?page=1", {
      ...FORGED,
      accept: "application/json",
      "x-request-note": "kept",
    });
    assert.deepEqual({ status: answer.status, body: answer.body }, { status: 200, body: { upstream: "echo" } });
    const seen = stack.upstream.requests.at(-1);
    assert.ok(seen);
    assert.deepEqual(
      {
        url: seen.url,
        identity: identityHeaders(seen),
        accept: seen.headers["accept"],
        note: seen.headers["x-request-note"],
      },
      { url: "/flickr/explore?page=1", identity: {}, accept: "application/json", note: "kept" },
    );
  });

  // Paths an upstream might normalise differently from Kong (decoding %2f, %5c or %25 first, or
  // treating `..;` as `..`): Kong routes them to the public route, which forwards them as they came.
  // Whatever the upstream makes of them, no forged identity comes along.
  for (const [path, forwarded] of [
    ["/flickr/explore/..%2fphotos", "/flickr/explore/..%2fphotos"],
    ["/flickr/explore/..%2Fprofile", "/flickr/explore/..%2Fprofile"],
    ["/flickr/explore/..;/photos", "/flickr/explore/..;/photos"],
    ["/flickr/explore/%252e%252e/photos", "/flickr/explore/%252e%252e/photos"],
    // %2e is an encoded unreserved character, decoded before routing (RFC 3986 §6.2.2.2); %2f is not.
    ["/flickr/explore/%2e%2e%2fphotos", "/flickr/explore/..%2fphotos"],
    ["/flickr/explore/..%5cphotos", "/flickr/explore/..%5cphotos"],
  ] as const) {
    it(`GET ${path}: the public route, forwarded as ${forwarded} without a forged identity`, async () => {
      const before = stack.upstream.requests.length;
      const answer = await send(stack.gateway.url, "GET", path, FORGED);
      assert.equal(answer.status, 200);
      assert.equal(stack.upstream.requests.length, before + 1);
      const seen = stack.upstream.requests.at(-1);
      assert.ok(seen);
      assert.deepEqual({ url: seen.url, identity: identityHeaders(seen) }, { url: forwarded, identity: {} });
    });
  }

  // Dot segments, however spelled, resolve before routing: these are the protected routes.
  for (const path of [
    "/flickr/explore/../photos",
    "/flickr/explore/%2e%2e/photos",
    "/flickr/explore/.%2E/profile",
    "/flickr/explore;/../photos",
    "/flickr/explore/..\\photos",
  ]) {
    it(`GET ${path}: a protected route, refused without a token, nothing proxied`, async () => {
      const before = stack.upstream.requests.length;
      const answer = await send(stack.gateway.url, "GET", path, FORGED);
      assert.deepEqual(
        { status: answer.status, body: answer.body },
        { status: 401, body: { error_description: "a bearer token is required" } },
      );
      assert.equal(stack.upstream.requests.length, before);
    });
  }

  it("a protected route with a valid token: only the plugin's identity headers reach the upstream", async () => {
    const token = await stack.token(["photos"]);
    const answer = await send(stack.gateway.url, "GET", "/flickr/explore/%2e%2e/photos", {
      ...FORGED,
      authorization: `Bearer ${token}`,
    });
    assert.equal(answer.status, 200);
    const seen = stack.upstream.requests.at(-1);
    assert.ok(seen);
    assert.deepEqual(
      { url: seen.url, identity: identityHeaders(seen) },
      {
        url: "/flickr/photos",
        identity: {
          "x-authenticated-userid": stack.clientId,
          "x-authenticated-client-id": stack.clientId,
          "x-authenticated-scope": "photos",
        },
      },
    );
  });
});
