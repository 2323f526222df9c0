// Kong's answers to PDK calls for one request (the harness's RequestContext), without a server.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { consumerDirectory } from "../../../kong-standin/src/wire/consumers.ts";
import { RequestContext } from "../../../kong-standin/src/wire/pdk.ts";

const request = () =>
  new RequestContext({
    method: "get",
    path: "/flickr/photos?size=large&size=small",
    headers: {
      Authorization: "Bearer t",
      "X-Authenticated-Userid": "mallory",
      X_Authenticated_Userid: "mallory2",
      Accept: ["application/json", "text/html"],
    },
    ctxShared: { oauth2_jwt_nonce: "n-1" },
  });

describe("Kong stand-in PDK answers", () => {
  it("kong.request.get_headers: lower-case names, every value an array (StepMultiMap), at most `max` lines", () => {
    const context = request();
    assert.deepEqual(context.answer("kong.request.get_headers", [1000]), {
      kind: "step",
      stepMethod: "plugin.StepMultiMap",
      data: {
        authorization: ["Bearer t"],
        "x-authenticated-userid": ["mallory"],
        x_authenticated_userid: ["mallory2"],
        accept: ["application/json", "text/html"],
      },
    });
    assert.deepEqual(context.answer("kong.request.get_headers", [2]), {
      kind: "step",
      stepMethod: "plugin.StepMultiMap",
      data: { authorization: ["Bearer t"], "x-authenticated-userid": ["mallory"] },
    });
    assert.deepEqual(context.answer("kong.request.get_headers", [1001]), {
      kind: "lua-error",
      message: "kong.request.get_headers: max_headers must be <= 1000",
    });
  });

  it("kong.request.get_header: case-insensitive, `-` and `_` alike, the first of several lines; nil when absent", () => {
    const context = new RequestContext({
      method: "GET",
      path: "/",
      headers: { "X-Under_Score": "u", "X-Another": ["foo bar", "baz"], "X-Listy": "a, b", "X-Dup": "1", X_Dup: "2" },
    });
    const header = (name: string): unknown => {
      const answer = context.answer("kong.request.get_header", [name]);
      assert.equal(answer.kind === "step" && answer.stepMethod, "plugin.Step");
      return answer.kind === "step" ? answer.data : assert.fail(JSON.stringify(answer));
    };
    assert.equal(header("x-under-score"), "u");
    assert.equal(header("X_UNDER_SCORE"), "u");
    assert.equal(header("X-Another"), "foo bar"); // Kong's documented example
    assert.equal(header("x-listy"), "a, b");
    assert.equal(header("x-dup"), "1");
    assert.equal(header("x_dup"), "2"); // the table's own key "x_dup" before normalisation
    assert.equal(header("X_Dup"), "1"); // no key "X_Dup": normalised to "x-dup"
    assert.equal(header("x-absent"), undefined);
  });

  it("names a client chooses, such as __proto__, are ordinary keys in header and query maps", () => {
    // JSON.parse makes "__proto__" an own key, as Kong's Lua tables hold it.
    const own = (json: string): Record<string, unknown> => JSON.parse(json) as Record<string, unknown>;
    const context = new RequestContext({
      method: "GET",
      path: "/?__proto__=q&constructor=c",
      headers: own('{"__proto__": "x", "Constructor": ["y", "z"]}') as Record<string, string | string[]>,
    });
    assert.deepEqual(context.answer("kong.request.get_headers", [1000]), {
      kind: "step",
      stepMethod: "plugin.StepMultiMap",
      data: own('{"__proto__": ["x"], "constructor": ["y", "z"]}'),
    });
    assert.deepEqual(context.answer("kong.request.get_query", []), {
      kind: "step",
      stepMethod: "plugin.StepMultiMap",
      data: own('{"__proto__": ["q"], "constructor": ["c"]}'),
    });
    assert.deepEqual(context.answer("kong.request.get_header", ["__proto__"]), {
      kind: "step",
      stepMethod: "plugin.Step",
      data: "x",
    });
    assert.deepEqual(context.upstreamHeaders(), own('{"__proto__": ["x"], "constructor": ["y", "z"]}'));
    const exit = context.answer("kong.response.exit", [401, null, own('{"__proto__": "p"}')]);
    assert.deepEqual(exit.kind === "exit" && exit.headers, own('{"__proto__": ["p"]}'));
  });

  it("method, path and query", () => {
    const context = request();
    assert.deepEqual(context.answer("kong.request.get_method", []), {
      kind: "step",
      stepMethod: "plugin.Step",
      data: "GET",
    });
    assert.deepEqual(context.answer("kong.request.get_path", []), {
      kind: "step",
      stepMethod: "plugin.Step",
      data: "/flickr/photos",
    });
    assert.deepEqual(context.answer("kong.request.get_raw_query", []), {
      kind: "step",
      stepMethod: "plugin.Step",
      data: "size=large&size=small",
    });
    assert.deepEqual(context.answer("kong.request.get_query", []), {
      kind: "step",
      stepMethod: "plugin.StepMultiMap",
      data: { size: ["large", "small"] },
    });
  });

  it('kong.service.request.set_headers: [] removes, "" becomes a space, names replace case-insensitively but `_` stays distinct', () => {
    const context = request();
    const answer = context.answer("kong.service.request.set_headers", [
      {
        "x-authenticated-userid": [],
        "X-Authenticated-Scope": "photos",
        "X-Empty": "",
        "X-Multi": ["a", ""],
        AUTHORIZATION: "Bearer replaced",
      },
    ]);
    assert.deepEqual(answer, { kind: "step", stepMethod: "plugin.Step", data: undefined });
    assert.deepEqual(context.upstreamHeaders(), {
      x_authenticated_userid: ["mallory2"],
      accept: ["application/json", "text/html"],
      "x-authenticated-scope": ["photos"],
      "x-empty": [" "],
      "x-multi": ["a", " "],
      authorization: ["Bearer replaced"],
    });
    assert.equal(context.answer("kong.service.request.set_headers", [{ "X-Bad": { nested: true } }]).kind, "lua-error");
  });

  it("set_header, add_header and clear_header", () => {
    const context = request();
    context.answer("kong.service.request.clear_header", ["authorization"]);
    context.answer("kong.service.request.set_header", ["Accept", "*/*"]);
    context.answer("kong.service.request.add_header", ["X-Add", "1"]);
    context.answer("kong.service.request.add_header", ["x-add", "2"]);
    assert.deepEqual(context.upstreamHeaders(), {
      "x-authenticated-userid": ["mallory"],
      x_authenticated_userid: ["mallory2"],
      accept: ["*/*"],
      "x-add": ["1", "2"],
    });
    assert.deepEqual(context.answer("kong.service.request.set_header", ["X-Table", ["a"]]), {
      kind: "lua-error",
      message:
        'kong.service.request.set_header: invalid header value for "X-Table": got object, expected string, number or boolean',
    });
  });

  it("kong.response.exit: a table body is JSON with Kong's content type; a string body is sent as is", () => {
    const context = request();
    assert.deepEqual(
      context.answer("kong.response.exit", [
        401,
        { error: "invalid_token" },
        { "WWW-Authenticate": 'Bearer realm="photos"' },
      ]),
      {
        kind: "exit",
        status: 401,
        body: { error: "invalid_token" },
        rawBody: '{"error":"invalid_token"}',
        headers: { "www-authenticate": ['Bearer realm="photos"'], "content-type": ["application/json; charset=utf-8"] },
      },
    );
    assert.deepEqual(context.answer("kong.response.exit", [403, "no", { "Content-Type": "text/plain" }]), {
      kind: "exit",
      status: 403,
      body: "no",
      rawBody: "no",
      headers: { "content-type": ["text/plain"] },
    });
    assert.deepEqual(context.answer("kong.response.exit", [99]), {
      kind: "lua-error",
      message: "kong.response.exit: code must be between 100 and 599",
    });
  });

  it("kong.response.error: Kong's default message", () => {
    const answer = request().answer("kong.response.error", [503]);
    assert.equal(answer.kind, "exit");
    assert.deepEqual(answer.body, {
      message: "The upstream server is currently unavailable",
    });
  });

  it("kong.ctx.shared, kong.log and unknown methods", () => {
    const context = request();
    assert.deepEqual(context.answer("kong.ctx.shared.get", ["oauth2_jwt_nonce"]), {
      kind: "step",
      stepMethod: "plugin.Step",
      data: "n-1",
    });
    context.answer("kong.ctx.shared.set", ["verdict", "ok"]);
    assert.equal(context.ctxShared.get("verdict"), "ok");
    context.answer("kong.log.err", ["token ", { kid: "k" }]);
    assert.deepEqual(context.logs, [{ level: "err", message: 'token {"kid":"k"}' }]);
    assert.deepEqual(context.answer("kong.client.get_ip", []), {
      kind: "step",
      stepMethod: "plugin.StepError",
      data: "PDK method kong.client.get_ip is not implemented by the Kong stand-in",
    });
  });

  it("kong.client.*: consumers go back as StepConsumer, credentials and authenticate's nil as StepCredential (mp_rpc.lua get_step_method)", () => {
    const alice = { id: "4c1c5d6e-8f0a-4b6c-9d2e-0f1a2b3c4d5e", created_at: 1, updated_at: 1, username: "alice" };
    const context = new RequestContext({
      method: "GET",
      path: "/",
      headers: {},
      consumers: consumerDirectory([alice]),
    });
    assert.deepEqual(context.answer("kong.client.load_consumer", ["alice", true]), {
      kind: "step",
      stepMethod: "plugin.StepConsumer",
      data: alice,
    });
    assert.deepEqual(context.answer("kong.client.get_credential", []), {
      kind: "step",
      stepMethod: "plugin.StepCredential",
      data: undefined,
    });
    assert.deepEqual(context.answer("kong.client.authenticate", [alice, { id: "k" }]), {
      kind: "step",
      stepMethod: "plugin.StepCredential",
      data: undefined,
    });
    assert.deepEqual(context.answer("kong.client.get_consumer", []), {
      kind: "step",
      stepMethod: "plugin.StepConsumer",
      data: alice,
    });
    assert.deepEqual(context.authenticatedResult(), { authenticated: { consumer: alice, credential: { id: "k" } } });
  });
});
