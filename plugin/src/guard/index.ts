// The fail-closed guard's contract, shared by the plugin, its Lua (plugin/guard/*.lua) and the
// local stand-in that mirrors that Lua (kong-standin/src/gateway/guard.ts, identity-headers.ts).
//
// Under MsgPack:1 (`--protocol msgpack`), Kong proxies a request as if the plugin had allowed it
// when the plugin server is dead or the handler fails (kong/runloop/plugin_servers/rpc/mp_rpc.lua;
// under the default ProtoBuf:1 Kong answers 500 itself). So that deployment
// (plugin/examples/kong.msgpack.yml) wraps the plugin between two of Kong's bundled serverless
// plugins: the pre-function (plugin/guard/pre-function.lua) puts a per-request nonce the client
// never sees (nginx's 128-bit `ngx.var.request_id`, read once) on the request in NONCE_HEADER and
// keeps it in `kong.ctx.shared` under SHARED_NONCE_KEY; this plugin, on every positive verdict,
// echoes it in VERDICT_HEADER and removes NONCE_HEADER inside its one `set_headers` call; the
// post-function (plugin/guard/post-function.lua) refuses with 503 + Retry-After unless the two
// match, then removes both headers. test/deploy/kong-yml.test.ts checks the Lua names these.

import { CONSUMER_HEADER_PREFIX, CONSUMER_HEADERS } from "../core/consumer-headers.js";

export const NONCE_HEADER = "X-OAuth2-JWT-Nonce";
export const VERDICT_HEADER = "X-OAuth2-JWT-Verdict";
/** The `kong.ctx.shared` key the pre-function stores the nonce under. */
export const SHARED_NONCE_KEY = "oauth2_jwt_nonce";
/**
 * `kong.request.get_headers(1000)` in the pre-functions: past this many header lines the request
 * is refused with 400, since a forged header could hide beyond what the snippet reads.
 */
export const MAX_REQUEST_HEADERS = 1000;
/** The post-function's Retry-After on its 503 (RFC 9110 §10.2.3), in seconds. */
export const RETRY_AFTER_SECONDS = "5";

/**
 * The identity headers the service-level pre-function (plugin/guard/strip-identity-headers.lua)
 * removes, as folded names: this plugin's `X-Authenticated-*` family and Kong's consumer headers.
 */
export const IDENTITY_HEADER_PREFIXES: readonly string[] = ["x-authenticated-", CONSUMER_HEADER_PREFIX];
export const IDENTITY_HEADER_NAMES: readonly string[] = CONSUMER_HEADERS;

/**
 * Header names compared the way nginx with `underscores_in_headers on` lets clients spell them:
 * case-insensitively, with `_` and `-` the same.
 */
export function foldHeaderName(name: string): string {
  return name.toLowerCase().replaceAll("_", "-");
}
