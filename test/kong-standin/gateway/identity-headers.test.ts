// The service-level pre-function that keeps client-sent identity headers from the upstream: its
// TypeScript mirror against the Lua itself (plugin/guard/strip-identity-headers.lua, as kong.yml carries it, run under Debian's luajit with the PDK
// model of lua-pdk.ts). For each case both must reach the same exit or the same remaining headers.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { HeaderMap } from "../../../kong-standin/src/gateway/headers.ts";
import { runSnippets, serverlessSnippets } from "../../../kong-standin/src/gateway/serverless.ts";
import { PRE_FUNCTION_LUA, STRIP_IDENTITY_HEADERS_LUA } from "../../../plugin/src/guard/snippets.ts";
import { luaPdkModel, luaString, NONCE_BASE, runLuajit } from "./lua-pdk.ts";

interface Case {
  name: string;
  headers: [string, string][];
  expect: string;
}

/** The snippets of one pre-function, in the order of its `access` list. */
const SERVICE = [STRIP_IDENTITY_HEADERS_LUA];
const MSGPACK_ROUTE = [STRIP_IDENTITY_HEADERS_LUA, PRE_FUNCTION_LUA];

function runTs(access: readonly string[], c: Case): string {
  const headers: HeaderMap = {};
  for (const [name, value] of c.headers) (headers[name.toLowerCase()] ??= []).push(value);
  let reads = 0;
  const requestId = () => (++reads + NONCE_BASE).toString(16).padStart(32, "0");
  const result = runSnippets(
    serverlessSnippets("r", "pre-function", { access: [...access] }),
    headers,
    new Map(),
    requestId,
  );
  if (result.outcome === "exit")
    return `EXIT ${result.status} ${result.body.message} ${result.headers["Retry-After"] ?? "-"}`;
  const lines = Object.entries(result.headers).flatMap(([n, vs]) => vs.map((v) => `${n}=${v}`));
  return ["PASS", ...lines.sort()].join("\n");
}

function runLua(access: readonly string[], c: Case, dir: string): string {
  // Kong's serverless handler runs the access list in order and stops at an exit.
  const calls = access.map((code) => `run(${luaString(code)})\nif exited then print_result() return end\n`).join("");
  return runLuajit(dir, `${luaPdkModel(c.headers)}${calls}print_result()\n`);
}

const FORGED: [string, string][] = [
  ["X-Authenticated-Userid", "mallory"],
  ["x_authenticated_userid", "mallory"],
  ["X_AUTHENTICATED-SCOPE", "admin"],
  ["x-authenticated-client_id", "evil"],
  ["X-Authenticated-Groups", "admins"],
  ["X-Consumer-ID", "0f6ad3b2"],
  ["x_consumer_username", "admin"],
  ["X-Consumer-Custom-ID", "root"],
  ["X-CONSUMER-GROUPS", "admins"],
  ["X-Credential-Identifier", "key"],
  ["x_credential_identifier", "key"],
  ["X-Anonymous-Consumer", "false"],
  ["x_anonymous_consumer", "false"],
];
const many = (n: number): [string, string][] => Array.from({ length: n }, (_, i) => [`x-h${i}`, "v"]);

const CASES: Case[] = [
  {
    name: "every spelling of every identity header is removed, everything else kept",
    headers: [["Accept", "*/*"], ...FORGED, ["Authorization", "Bearer t"]],
    expect: "PASS\naccept=*/*\nauthorization=Bearer t",
  },
  {
    name: "repeated lines of a forged header are all removed",
    headers: [
      ["X-Authenticated-Userid", "a"],
      ["X-Authenticated-Userid", "b"],
      ["x-authenticated-userid", "c"],
    ],
    expect: "PASS",
  },
  {
    name: "near misses are not identity headers",
    headers: [
      ["X-Authenticated", "1"],
      ["X-Consumer", "2"],
      ["X-Consumers-ID", "3"],
      ["X-Credential-Identifiers", "4"],
      ["X-Anonymous", "5"],
      ["Authenticated-Userid", "6"],
    ],
    expect:
      "PASS\nauthenticated-userid=6\nx-anonymous=5\nx-authenticated=1\nx-consumer=2\nx-consumers-id=3\nx-credential-identifiers=4",
  },
  {
    name: "more than 1000 header lines: 400, where a forged one could hide",
    headers: [...many(1000), ["X-Consumer-ID", "x"]],
    expect: "EXIT 400 too many request headers -",
  },
  {
    name: "exactly 1000 header lines: the last one, forged, is still removed",
    headers: [...many(999), ["X_Consumer_ID", "x"]],
    expect: [
      "PASS",
      ...many(999)
        .map(([n, v]) => `${n}=${v}`)
        .sort(),
    ].join("\n"),
  },
];

describe("identity-header stripping: the TypeScript mirror agrees with kong.yml's Lua", () => {
  const dir = mkdtempSync(join(tmpdir(), "identity-lua-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  for (const c of CASES) {
    it(c.name, () => {
      assert.equal(runTs(SERVICE, c), c.expect, "TypeScript mirror");
      assert.equal(runLua(SERVICE, c, dir), c.expect, "Lua in luajit");
    });
  }

  it("the MsgPack file's route pre-function (stripping, then the guard's part 1) strips too, then sets the nonce", () => {
    const c: Case = {
      name: "",
      headers: [["Accept", "*/*"], ...FORGED, ["X_OAuth2_JWT_Verdict", "forged"]],
      expect: "",
    };
    const expected = `PASS\naccept=*/*\nx-oauth2-jwt-nonce=${(1 + NONCE_BASE).toString(16).padStart(32, "0")}`;
    assert.equal(runTs(MSGPACK_ROUTE, c), expected, "TypeScript mirror");
    assert.equal(runLua(MSGPACK_ROUTE, c, dir), expected, "Lua in luajit");
  });
});

describe("serverless snippets in the stand-in", () => {
  it("refuses a pre-function whose Lua it does not mirror, or a snippet in the wrong plugin", () => {
    const cases: [string, Record<string, unknown>][] = [
      ["pre-function", { access: [`${STRIP_IDENTITY_HEADERS_LUA}-- edited\n`] }],
      ["pre-function", { access: [] }],
      ["pre-function", { access: [STRIP_IDENTITY_HEADERS_LUA], header_filter: [STRIP_IDENTITY_HEADERS_LUA] }],
      ["post-function", { access: [STRIP_IDENTITY_HEADERS_LUA] }],
    ];
    for (const [plugin, config] of cases) {
      assert.throws(
        () => serverlessSnippets("r", plugin, config),
        new RegExp(`route r: its ${plugin} is not Lua this stand-in mirrors`),
      );
    }
  });
});
