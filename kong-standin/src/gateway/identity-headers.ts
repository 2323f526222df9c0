/**
 * No client-sent identity header reaches an upstream that trusts them, whatever the route.
 *
 * Why: the photos upstream reads who the caller is from `X-Authenticated-*` (set by oauth2-jwt on
 * protected routes) and, as any upstream behind Kong may, from Kong's consumer headers
 * (`X-Consumer-*`, `X-Credential-Identifier`, `X-Anonymous-Consumer`). A route without oauth2-jwt
 * (the public explore page) would otherwise pass a client's forged copy straight through; and an
 * upstream that normalises paths differently from Kong (`..%2f`, `..;/`, `%252e`) could take such
 * a public request for a protected path. So kong.yml puts a `pre-function` on the service: it runs
 * on every route of the service and removes every header whose folded name (lower case, `_` as
 * `-`, as nginx with `underscores_in_headers on` lets clients spell it) is an identity header.
 * `request-transformer` cannot do this: its `remove.headers` names exact headers and cannot match
 * the underscore spellings or the open-ended `X-Consumer-` family.
 *
 * Checked against Kong 3.9.3's source: `kong.request.get_headers(1000)` returns the names as
 * received, lower-cased, `_` kept (ngx.req.get_headers), with a "truncated" error past the
 * maximum — a forged header could hide beyond it, so the request is refused with 400 as the
 * guard's pre-function does; `kong.service.request.clear_header(name)` is `ngx.req.clear_header`
 * (kong/pdk/service/request.lua), which removes every line of that exact name, case-insensitively,
 * so the received spelling is removed. Kong runs one configuration per plugin name, the most
 * specific one (route over service: kong/runloop/plugins_iterator.lua, `lookup_cfg`): where a
 * route has a `pre-function` of its own — the fail-closed guard in plugin/examples/kong.msgpack.yml —
 * that one replaces this, so the guard's pre-function lists this snippet first in its own
 * `access` array (the serverless handler runs the array in order, kong/plugins/pre-function/_handler.lua).
 */
import { IDENTITY_HEADER_NAMES, IDENTITY_HEADER_PREFIXES } from "oauth2-jwt/guard";
import { refuseTooManyHeaders, type GuardContinue, type GuardExit } from "./guard.js";
import { foldHeaderName, withoutHeaders, type HeaderMap } from "./headers.js";

/** A header name, in any spelling, that an upstream behind this gateway may take as an identity. */
function isIdentityHeader(name: string): boolean {
  const folded = foldHeaderName(name);
  return IDENTITY_HEADER_PREFIXES.some((prefix) => folded.startsWith(prefix)) || IDENTITY_HEADER_NAMES.includes(folded);
}

/** Mirrors plugin/guard/strip-identity-headers.lua, line by line. */
export function stripIdentityHeaders(request: HeaderMap): GuardExit | GuardContinue {
  return refuseTooManyHeaders(request) ?? { outcome: "continue", headers: withoutHeaders(request, isIdentityHeader) };
}
