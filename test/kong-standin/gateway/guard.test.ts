// The fail-closed guard: its TypeScript mirror, and the mirror against the Lua itself. The Lua
// snippets (plugin/guard/*.lua, as plugin/examples/kong.msgpack.yml carries them) run in Debian's luajit against a small model of the
// Kong PDK calls they use (lua-pdk.ts); for each case the Lua and the TypeScript must reach the
// same verdict and the same headers.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { postFunction, preFunction } from "../../../kong-standin/src/gateway/guard.ts";
import type { HeaderMap } from "../../../kong-standin/src/gateway/headers.ts";
import { SHARED_NONCE_KEY } from "../../../plugin/src/guard/index.ts";
import { POST_FUNCTION_LUA, PRE_FUNCTION_LUA } from "../../../plugin/src/guard/snippets.ts";
import { luaPdkModel, luaString, NONCE_BASE, runLuajit } from "./lua-pdk.ts";

type Plugin = "echo" | "dead" | "wrong" | "echo-twice" | "wrong-then-echo";

interface Case {
  name: string;
  headers: [string, string][];
  plugin: Plugin;
  expect: string;
}

/** ngx.var.request_id: 32 hex digits, a new value on every read. */
function requestIds(): () => string {
  let reads = 0;
  return () => (++reads + NONCE_BASE).toString(16).padStart(32, "0");
}
const FIRST_ID = (1 + NONCE_BASE).toString(16).padStart(32, "0");

/** What the oauth2-jwt plugin does to the request headers in its one set_headers call. */
function pluginTs(headers: HeaderMap, plugin: Plugin): HeaderMap {
  const nonce = Object.hasOwn(headers, "x-oauth2-jwt-nonce") ? headers["x-oauth2-jwt-nonce"][0] : "";
  const out = { ...headers };
  if (plugin === "echo") out["x-oauth2-jwt-verdict"] = [nonce];
  if (plugin === "wrong") out["x-oauth2-jwt-verdict"] = ["0".repeat(32)];
  if (plugin === "echo-twice") out["x-oauth2-jwt-verdict"] = [nonce, nonce];
  if (plugin === "wrong-then-echo") out["x-oauth2-jwt-verdict"] = ["0".repeat(32), nonce];
  if (plugin !== "dead") delete out["x-oauth2-jwt-nonce"];
  return out;
}

function runTs(c: Case): string {
  const headers: HeaderMap = {};
  for (const [name, value] of c.headers) (headers[name.toLowerCase()] ??= []).push(value);
  const shared = new Map<string, string>();
  const pre = preFunction(headers, shared, requestIds());
  if (pre.outcome === "exit") return `EXIT ${pre.status} ${pre.body.message} ${pre.headers["Retry-After"] ?? "-"}`;
  const post = postFunction(pluginTs(pre.headers, c.plugin), shared);
  if (post.outcome === "exit") return `EXIT ${post.status} ${post.body.message} ${post.headers["Retry-After"] ?? "-"}`;
  const lines = Object.entries(post.headers).flatMap(([n, vs]) => vs.map((v) => `${n}=${v}`));
  return ["PASS", ...lines.sort()].join("\n");
}

const LUA_SEQUENCE = `
run(PRE)
if exited then print(exited) return end
local nonce
for _, h in ipairs(H) do if h[1]:lower() == "x-oauth2-jwt-nonce" then nonce = h[2] end end
if PLUGIN == "echo" then kong.service.request.set_header("x-oauth2-jwt-verdict", nonce) end
if PLUGIN == "wrong" then kong.service.request.set_header("x-oauth2-jwt-verdict", string.rep("0", 32)) end
if PLUGIN == "echo-twice" then
  kong.service.request.set_header("x-oauth2-jwt-verdict", nonce)
  H[#H + 1] = { "x-oauth2-jwt-verdict", nonce }
end
if PLUGIN == "wrong-then-echo" then
  kong.service.request.set_header("x-oauth2-jwt-verdict", string.rep("0", 32))
  H[#H + 1] = { "x-oauth2-jwt-verdict", nonce }
end
if PLUGIN ~= "dead" then kong.service.request.clear_header("x-oauth2-jwt-nonce") end
run(POST)
print_result()
`;

function runLua(c: Case, dir: string): string {
  return runLuajit(
    dir,
    `local PRE = ${luaString(PRE_FUNCTION_LUA)}\nlocal POST = ${luaString(POST_FUNCTION_LUA)}\nlocal PLUGIN = ${luaString(c.plugin)}\n${luaPdkModel(c.headers)}${LUA_SEQUENCE}`,
  );
}

const many: [string, string][] = Array.from({ length: 1001 }, (_, i) => [`x-h${i}`, "v"]);

const CASES: Case[] = [
  {
    name: "plugin echoes the nonce: proxied, both guard headers removed",
    headers: [["Authorization", "Bearer t"]],
    plugin: "echo",
    expect: "PASS\nauthorization=Bearer t",
  },
  {
    name: "plugin dead (fail-open): 503",
    headers: [["Authorization", "Bearer t"]],
    plugin: "dead",
    expect: "EXIT 503 authorization is temporarily unavailable 5",
  },
  {
    name: "plugin echoes something else: 503",
    headers: [],
    plugin: "wrong",
    expect: "EXIT 503 authorization is temporarily unavailable 5",
  },
  // Kong 3.9's kong.request.get_header returns the first of repeated values (kong/tools/http.lua),
  // so the post-function judges the first verdict line: proxied when it is the nonce, refused when not.
  {
    name: "verdict header repeated, first is the nonce: proxied as Kong does",
    headers: [],
    plugin: "echo-twice",
    expect: "PASS",
  },
  {
    name: "verdict header repeated, first is not the nonce: 503",
    headers: [],
    plugin: "wrong-then-echo",
    expect: "EXIT 503 authorization is temporarily unavailable 5",
  },
  {
    name: "client-forged verdict, plugin dead: 503",
    headers: [
      ["X-OAuth2-JWT-Verdict", FIRST_ID],
      ["X_OAuth2_JWT_Verdict", FIRST_ID],
      ["x-oauth2-jwt-nonce", FIRST_ID],
    ],
    plugin: "dead",
    expect: "EXIT 503 authorization is temporarily unavailable 5",
  },
  {
    name: "client-sent guard headers in every spelling are dropped before the plugin runs",
    headers: [
      ["X_OAUTH2_JWT_NONCE", "a"],
      ["x_oauth2-jwt_verdict", "b"],
      ["Accept", "*/*"],
    ],
    plugin: "echo",
    expect: "PASS\naccept=*/*",
  },
  {
    name: "more than 1000 header lines: 400",
    headers: many,
    plugin: "echo",
    expect: "EXIT 400 too many request headers -",
  },
  {
    name: "exactly 1000 header lines: proxied",
    headers: many.slice(0, 1000),
    plugin: "echo",
    expect: [
      "PASS",
      ...many
        .slice(0, 1000)
        .map(([n, v]) => `${n}=${v}`)
        .sort(),
    ].join("\n"),
  },
];

describe("fail-closed guard: the TypeScript mirror agrees with the Lua of plugin/examples/kong.msgpack.yml", () => {
  const dir = mkdtempSync(join(tmpdir(), "guard-lua-"));
  for (const c of CASES) {
    it(c.name, () => {
      assert.equal(runTs(c), c.expect, "TypeScript mirror");
      assert.equal(runLua(c, dir), c.expect, "Lua in luajit");
    });
  }
  after(() => rmSync(dir, { recursive: true, force: true }));
});

describe("fail-closed guard: TypeScript mirror details", () => {
  it("the pre-function reads request_id once and stores it in kong.ctx.shared", () => {
    const shared = new Map<string, string>();
    const ids = requestIds();
    const pre = preFunction({ "x-oauth2-jwt-nonce": ["client"] }, shared, ids);
    assert.deepEqual(pre, { outcome: "continue", headers: { "x-oauth2-jwt-nonce": [FIRST_ID] } });
    assert.deepEqual([...shared], [[SHARED_NONCE_KEY, FIRST_ID]]);
  });
  it("the post-function refuses when its own nonce is missing, even with a matching-looking verdict", () => {
    assert.equal(postFunction({ "x-oauth2-jwt-verdict": [""] }, new Map()).outcome, "exit");
    assert.equal(postFunction({}, new Map([[SHARED_NONCE_KEY, "n"]])).outcome, "exit");
    assert.deepEqual(postFunction({ "x-oauth2-jwt-verdict": ["n"], a: ["1"] }, new Map([[SHARED_NONCE_KEY, "n"]])), {
      outcome: "continue",
      headers: { a: ["1"] },
    });
  });
  it("does not modify the caller's header map", () => {
    const input: HeaderMap = { x_oauth2_jwt_verdict: ["v"] };
    preFunction(input, new Map(), requestIds());
    assert.deepEqual(input, { x_oauth2_jwt_verdict: ["v"] });
  });
});
