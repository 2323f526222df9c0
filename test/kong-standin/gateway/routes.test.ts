// Every route of the real kong.yml (and of its MsgPack twin with the fail-closed guard) through the
// local stand-in: the real oauth2-jwt plugin in the real plugin server (over Kong's socket
// protocol), the serverless snippets mirrored from their Lua, a real authorization server issuing
// the tokens, and an upstream that records what reached it.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { KONG_MSGPACK_YML, MSGPACK_SERVER_ARGS, pick, send, startStack, type Stack } from "./helpers.ts";

const CHALLENGE = ["www-authenticate", "content-type", "retry-after"] as const;

const PROTECTED = [
  {
    route: "flickr-photos-read",
    method: "GET",
    path: "/flickr/photos",
    scope: "photos",
    other: ["profile", "photos:write"],
  },
  {
    route: "flickr-photos-write",
    method: "POST",
    path: "/flickr/photos",
    scope: "photos:write",
    other: ["photos", "profile"],
  },
  {
    route: "flickr-profile",
    method: "GET",
    path: "/flickr/profile",
    scope: "profile",
    other: ["photos", "photos:write"],
  },
] as const;

describe("kong.yml through the stand-in gateway", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack.close();
  });

  for (const r of PROTECTED) {
    describe(`${r.method} ${r.path} (route ${r.route}, scope ${r.scope})`, () => {
      it("without a token: 401 with a bare Bearer challenge, nothing proxied", async () => {
        const before = stack.upstream.requests.length;
        const answer = await send(stack.gateway.url, r.method, r.path);
        assert.deepEqual(
          { status: answer.status, headers: pick(answer.headers, CHALLENGE), body: answer.body },
          {
            status: 401,
            headers: {
              "www-authenticate": 'Bearer realm="api"',
              "content-type": "application/json",
              "retry-after": undefined,
            },
            body: { error_description: "a bearer token is required" },
          },
        );
        assert.equal(stack.upstream.requests.length, before);
      });

      it("with a token lacking the scope: 403 insufficient_scope naming it, nothing proxied", async () => {
        const before = stack.upstream.requests.length;
        const token = await stack.token([...r.other]);
        const answer = await send(stack.gateway.url, r.method, r.path, { authorization: `Bearer ${token}` });
        const description = "the token lacks a scope this resource requires";
        assert.deepEqual(
          { status: answer.status, headers: pick(answer.headers, CHALLENGE), body: answer.body },
          {
            status: 403,
            headers: {
              "www-authenticate": `Bearer realm="api", error="insufficient_scope", error_description="${description}", scope="${r.scope}"`,
              "content-type": "application/json",
              "retry-after": undefined,
            },
            body: { error: "insufficient_scope", error_description: description, scope: r.scope },
          },
        );
        assert.equal(stack.upstream.requests.length, before);
      });

      it("with the scope: proxied with the identity headers, the guard's headers gone", async () => {
        const token = await stack.token([r.scope]);
        const before = stack.upstream.requests.length;
        const answer = await send(
          stack.gateway.url,
          r.method,
          `${r.path}?page=2`,
          { authorization: `Bearer ${token}`, "content-type": "application/json" },
          r.method === "POST" ? JSON.stringify({ title: "Kyoto at night" }) : undefined,
        );
        assert.deepEqual(
          { status: answer.status, body: answer.body, via: answer.headers["via"] },
          { status: 200, body: { upstream: "echo" }, via: "1.1 kong-standin" },
        );
        assert.equal(stack.upstream.requests.length, before + 1);
        const seen = stack.upstream.requests.at(-1);
        assert.ok(seen);
        assert.deepEqual(
          {
            method: seen.method,
            url: seen.url,
            body: seen.body,
            host: seen.headers.host,
            userid: seen.headers["x-authenticated-userid"],
            client: seen.headers["x-authenticated-client-id"],
            scope: seen.headers["x-authenticated-scope"],
            guard: Object.keys(seen.headers).filter((h) => h.replace(/_/g, "-").startsWith("x-oauth2-jwt")),
          },
          {
            method: r.method,
            // strip_path: false, service path "/": Kong passes the path through unchanged.
            url: `${r.path}?page=2`,
            body: r.method === "POST" ? JSON.stringify({ title: "Kyoto at night" }) : "",
            host: `127.0.0.1:${stack.upstream.port}`,
            userid: stack.clientId,
            client: stack.clientId,
            scope: r.scope,
            guard: [],
          },
        );
      });
    });
  }

  it("GET /flickr/explore (public route, no plugin): proxied without a token", async () => {
    const answer = await send(stack.gateway.url, "GET", "/flickr/explore");
    assert.deepEqual({ status: answer.status, body: answer.body }, { status: 200, body: { upstream: "echo" } });
    const seen = stack.upstream.requests.at(-1);
    assert.ok(seen);
    assert.equal(seen.url, "/flickr/explore");
    assert.equal(seen.headers["x-authenticated-userid"], undefined);
  });

  it("unrouted paths and methods: Kong's 404, nothing proxied", async () => {
    const before = stack.upstream.requests.length;
    for (const [method, path] of [
      ["GET", "/"],
      ["DELETE", "/flickr/photos"],
      ["GET", "/flickr"],
      ["PUT", "/flickr/profile"],
    ] as const) {
      const answer = await send(stack.gateway.url, method, path);
      // Kong 3.9's error template adds the request id (kong/tools/http.lua): 32 hex digits.
      const requestId = (answer.body as { request_id?: unknown }).request_id;
      assert.match(String(requestId), /^[0-9a-f]{32}$/, `${method} ${path}`);
      assert.deepEqual(
        { status: answer.status, body: answer.body },
        { status: 404, body: { message: "no Route matched with those values", request_id: requestId } },
        `${method} ${path}`,
      );
    }
    assert.equal(stack.upstream.requests.length, before);
  });

  it("dot segments and encoded letters are normalized before routing: no way around the plugin", async () => {
    const before = stack.upstream.requests.length;
    for (const path of [
      "/flickr/explore/../photos",
      "/flickr/%70hotos",
      "/flickr/explore/%2e%2e/photos",
      "//flickr//photos",
    ]) {
      const answer = await send(stack.gateway.url, "GET", path);
      assert.equal(answer.status, 401, path);
    }
    assert.equal(stack.upstream.requests.length, before);
  });

  it("identity and guard headers a client sends itself never reach the upstream, in any spelling", async () => {
    const token = await stack.token(["photos"]);
    const answer = await send(stack.gateway.url, "GET", "/flickr/photos", {
      authorization: `Bearer ${token}`,
      "X-Authenticated-Userid": "mallory",
      X_Authenticated_Userid: "mallory",
      "x-authenticated-scope": "photos photos:write profile",
      "X-OAuth2-JWT-Verdict": "forged",
      X_OAuth2_JWT_Verdict: "forged",
      x_oauth2_jwt_nonce: "forged",
    });
    assert.equal(answer.status, 200);
    const seen = stack.upstream.requests.at(-1);
    assert.ok(seen);
    const names = Object.keys(seen.headers).sort();
    assert.deepEqual(
      names.filter((h) => /^x[-_](authenticated|oauth2)/.test(h)),
      ["x-authenticated-client-id", "x-authenticated-scope", "x-authenticated-userid"],
    );
    assert.equal(seen.headers["x-authenticated-userid"], stack.clientId);
    assert.equal(seen.headers["x-authenticated-scope"], "photos");
  });
});

// The MsgPack:1 deployment: under MsgPack:1 Kong proxies when the plugin server fails (it fails
// open), so plugin/examples/kong.msgpack.yml wraps each protected route in the fail-closed guard.
describe("plugin/examples/kong.msgpack.yml through the stand-in gateway (the fail-closed guard)", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ config: KONG_MSGPACK_YML, serverArgs: MSGPACK_SERVER_ARGS });
  });
  after(async () => {
    await stack.close();
  });

  it("with the scope: proxied with the identity headers, the guard's headers gone", async () => {
    assert.equal(stack.plugins.protocol, "MsgPack:1");
    const token = await stack.token(["photos"]);
    const answer = await send(stack.gateway.url, "GET", "/flickr/photos", {
      authorization: `Bearer ${token}`,
      "X-Consumer-ID": "forged",
      X_OAuth2_JWT_Verdict: "forged",
    });
    assert.equal(answer.status, 200);
    const seen = stack.upstream.requests.at(-1);
    assert.ok(seen);
    assert.deepEqual(
      Object.keys(seen.headers)
        .filter((h) => /^x[-_](authenticated|oauth2|consumer)/.test(h))
        .sort(),
      ["x-authenticated-client-id", "x-authenticated-scope", "x-authenticated-userid"],
    );
  });

  it("a forged verdict without a plugin verdict is refused (the client never saw the nonce)", async () => {
    // An invalid token: the plugin exits 401 itself; the forged verdict changes nothing.
    const answer = await send(stack.gateway.url, "GET", "/flickr/photos", {
      authorization: "Bearer not-a-jwt",
      "X-OAuth2-JWT-Verdict": "guess",
    });
    assert.equal(answer.status, 401);
  });

  // Last: kills the plugin server after traffic has flowed (Kong fails open only on a worker that
  // already holds a started instance), then restarts it.
  it("plugin server killed: the guard refuses with 503 + Retry-After; after a restart, requests pass again", async () => {
    const token = await stack.token(["photos"]);
    assert.equal(
      (await send(stack.gateway.url, "GET", "/flickr/photos", { authorization: `Bearer ${token}` })).status,
      200,
    );
    await stack.plugins.kill("SIGKILL");
    const before = stack.upstream.requests.length;
    const attempts: Record<string, string>[] = [
      { authorization: `Bearer ${token}` },
      { authorization: `Bearer ${token}`, "X-OAuth2-JWT-Verdict": "guess" },
      {},
    ];
    for (const headers of attempts) {
      const answer = await send(stack.gateway.url, "GET", "/flickr/photos", headers);
      assert.deepEqual(
        { status: answer.status, headers: pick(answer.headers, ["retry-after", "content-type"]), body: answer.body },
        {
          status: 503,
          headers: { "retry-after": "5", "content-type": "application/json; charset=utf-8" },
          body: { message: "authorization is temporarily unavailable" },
        },
      );
    }
    assert.equal(stack.upstream.requests.length, before, "nothing reached the upstream while the plugin was down");
    assert.ok(stack.pluginErrors.length >= 3, "the stand-in, like Kong, saw the plugin fail and would have proxied");
    // The public route has no plugin, so it keeps working.
    assert.equal((await send(stack.gateway.url, "GET", "/flickr/explore")).status, 200);

    await stack.plugins.start();
    const again = await send(stack.gateway.url, "GET", "/flickr/photos", { authorization: `Bearer ${token}` });
    assert.equal(again.status, 200);
  });
});
