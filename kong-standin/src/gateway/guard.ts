/**
 * The fail-closed guard, mirrored in TypeScript for the local stand-in.
 *
 * Why it exists: with a plugin server speaking MsgPack:1 (`--protocol msgpack`), Kong proxies a
 * request as if the plugin had allowed it whenever the plugin server is dead or throws (fail-open:
 * kong/runloop/plugin_servers/rpc/mp_rpc.lua). Under the default ProtoBuf:1 Kong answers 500
 * itself (pb_rpc.lua), so kong.yml has no guard; plugin/examples/kong.msgpack.yml, the MsgPack
 * deployment, does. In Kong the guard is two snippets of Lua in the bundled `pre-function` /
 * `post-function` plugins, whose one source is plugin/guard/ (with the names they share in
 * plugin/src/guard/index.ts). Kong cannot run on the development machines, so this module runs the
 * same steps in TypeScript, and the stand-in refuses a declarative file whose snippets differ from
 * that source (serverless.ts):
 *
 *  pre-function (priority 1000000, before oauth2-jwt; after the identity-header stripping that
 *    the same `access` list runs first, identity-headers.ts): remove any client-sent nonce or verdict
 *    header in every spelling, take `ngx.var.request_id` once (128 bits from OpenSSL's
 *    RAND_bytes), keep it in `kong.ctx.shared.oauth2_jwt_nonce`, put it on the request.
 *  oauth2-jwt (priority between): on a positive verdict, echoes the nonce in the verdict header
 *    and removes the nonce header in its single `set_headers` call.
 *  post-function (priority -1000, after oauth2-jwt): compare, remove both headers, and refuse
 *    with 503 + Retry-After unless the verdict equals the nonce. A client cannot forge a value
 *    it never saw; a dead plugin never echoes it.
 *
 * Checked against Kong 3.9.3's source: the snippets run in the default `untrusted_lua = sandbox`
 * (kong/tools/sandbox.lua, kong/tools/kong-lua-sandbox.lua), whose environment holds `pairs` and
 * the string library, plus the `kong` PDK and the real `ngx` that the serverless handler passes in
 * explicitly (kong/plugins/pre-function/_handler.lua: `env = { kong = sandbox_kong, ngx = ngx }`),
 * so `ngx.var.request_id`, `kong.ctx.shared`, `kong.request.*`, `kong.service.request.*` and
 * `kong.response.exit` are all reachable. Each snippet is a plain chunk returning no function,
 * which that handler runs whole on every request. In the access phase `kong.response.exit` records
 * a delayed response and yields (kong/pdk/response.lua); Kong's plugin iterator then runs no later
 * plugin (kong/init.lua, `execute_collecting_plugins_iterator`), so a refusal by oauth2-jwt never
 * reaches the post-function, while a plugin-server failure is only logged
 * (kong/runloop/plugin_servers/rpc/mp_rpc.lua, `Rpc:handle_event`) and the post-function runs.
 */
import { randomBytes } from "node:crypto";
import {
  MAX_REQUEST_HEADERS,
  NONCE_HEADER,
  RETRY_AFTER_SECONDS,
  SHARED_NONCE_KEY,
  VERDICT_HEADER,
} from "oauth2-jwt/guard";
import { foldHeaderName, withoutHeaders, type HeaderMap } from "./headers.js";

export interface GuardExit {
  outcome: "exit";
  status: number;
  body: { message: string };
  headers: Record<string, string>;
}

export interface GuardContinue {
  outcome: "continue";
  headers: HeaderMap;
}

/** Per-request state shared between the two functions (Kong's `kong.ctx.shared`). */
export type SharedContext = Map<string, string>;

/** `ngx.var.request_id`: 16 random bytes as 32 hexadecimal digits. */
export function newRequestId(): string {
  return randomBytes(16).toString("hex");
}

const GUARD_HEADERS = new Set([foldHeaderName(NONCE_HEADER), foldHeaderName(VERDICT_HEADER)]);

/**
 * The pre-functions' first step: `kong.request.get_headers(1000)` answers a "truncated" error
 * beyond that many header lines, and the snippet exits with 400 (a forged header could hide past them).
 */
export function refuseTooManyHeaders(request: HeaderMap): GuardExit | undefined {
  const count = Object.values(request).reduce((n, values) => n + values.length, 0);
  if (count <= MAX_REQUEST_HEADERS) return undefined;
  return { outcome: "exit", status: 400, body: { message: "too many request headers" }, headers: {} };
}

/** Mirrors plugin/guard/pre-function.lua, line by line. */
export function preFunction(
  request: HeaderMap,
  shared: SharedContext,
  requestId: () => string = newRequestId,
): GuardExit | GuardContinue {
  const tooMany = refuseTooManyHeaders(request);
  if (tooMany !== undefined) return tooMany;
  const headers = withoutHeaders(request, (name) => GUARD_HEADERS.has(foldHeaderName(name)));
  const nonce = requestId();
  shared.set(SHARED_NONCE_KEY, nonce);
  // kong.service.request.set_header replaces every value of that (case-insensitive) name.
  headers[NONCE_HEADER.toLowerCase()] = [nonce];
  return { outcome: "continue", headers };
}

/** `ngx.req.get_headers()` without a maximum: `lua_max_req_headers`, 100 by default. */
const DEFAULT_MAX_REQ_HEADERS = 100;

/**
 * `kong.request.get_header(name)`, which is `kong.tools.http.get_header` (Kong 3.9.3,
 * kong/tools/http.lua; Kong commit 14cc90f "get the first http header value after bumping to
 * OpenResty 1.25.3.1"): nginx's `$http_<name>` matches the name case-insensitively with `-` and
 * `_` equal and, since nginx 1.23, joins repeated lines with ", ". When that value holds ", ",
 * Kong re-reads `ngx.req.get_headers()` (the first 100 lines, names lower-cased as sent) and
 * returns the first value under the name lower-cased with `_` folded to `-` (the table's __index,
 * lua-resty-core). Nil when absent.
 */
function getHeader(headers: HeaderMap, name: string): string | undefined {
  const wanted = foldHeaderName(name);
  const values = Object.entries(headers)
    .filter(([n]) => foldHeaderName(n) === wanted)
    .flatMap(([, v]) => v);
  if (values.length === 0) return undefined;
  const joined = values.join(", ");
  if (!joined.includes(", ")) return joined;
  let lines = DEFAULT_MAX_REQ_HEADERS;
  for (const [n, lineValues] of Object.entries(headers)) {
    for (const value of lineValues) {
      if (lines-- === 0) return undefined;
      if (n === wanted) return value;
    }
  }
  return undefined;
}

/** `kong.service.request.clear_header(name)`: every value of that name, case-insensitively. */
function clearHeader(headers: HeaderMap, name: string): HeaderMap {
  const lower = name.toLowerCase();
  return withoutHeaders(headers, (n) => n.toLowerCase() === lower);
}

/** Mirrors plugin/guard/post-function.lua, line by line. */
export function postFunction(request: HeaderMap, shared: SharedContext): GuardExit | GuardContinue {
  const expected = shared.get(SHARED_NONCE_KEY);
  const verdict = getHeader(request, VERDICT_HEADER);
  const headers = clearHeader(clearHeader(request, VERDICT_HEADER), NONCE_HEADER);
  if (expected === undefined || verdict === undefined || verdict !== expected) {
    return {
      outcome: "exit",
      status: 503,
      body: { message: "authorization is temporarily unavailable" },
      headers: { "Retry-After": RETRY_AFTER_SECONDS },
    };
  }
  return { outcome: "continue", headers };
}
