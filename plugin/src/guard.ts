// The fail-closed guard's contract (see the README, "The fail-closed guard").
//
// Under MsgPack:1 (`--protocol msgpack`), Kong proxies a request as if the plugin had allowed it
// when the plugin server is dead or the handler fails (kong/runloop/plugin_servers/rpc/mp_rpc.lua;
// under the default ProtoBuf:1 Kong answers 500 itself). So that deployment
// (plugin/examples/kong.msgpack.yml) wraps the plugin between two of Kong's bundled serverless
// plugins: the pre-function puts a per-request nonce the client never
// sees (nginx's 128-bit `ngx.var.request_id`, read once) on the request in NONCE_HEADER and keeps
// it in `kong.ctx.shared.oauth2_jwt_nonce`; this plugin, on every positive verdict, echoes it in
// VERDICT_HEADER and removes NONCE_HEADER inside its one `set_headers` call; the post-function
// refuses with 503 + Retry-After unless the two match, then removes both headers.

export const NONCE_HEADER = "X-OAuth2-JWT-Nonce";
export const VERDICT_HEADER = "X-OAuth2-JWT-Verdict";
/** The `kong.ctx.shared` key the pre-function stores the nonce under. */
export const SHARED_NONCE_KEY = "oauth2_jwt_nonce";

/**
 * Header names compared the way nginx with `underscores_in_headers on` lets clients spell them:
 * case-insensitively, with `_` and `-` the same (protocol doc, "underscores_in_headers").
 */
export function foldHeaderName(name: string): string {
  return name.toLowerCase().replaceAll("_", "-");
}
