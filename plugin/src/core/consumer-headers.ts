// Kong's own consumer headers: what its authentication plugins (jwt, key-auth, oauth2, basic-auth…)
// set for the upstream once they have identified a consumer, and what the ACL plugin adds (Kong
// 3.9.3, kong/constants.lua `HEADERS`: X-Consumer-ID, X-Consumer-Custom-ID, X-Consumer-Username,
// X-Consumer-Groups, X-Credential-Identifier, X-Anonymous-Consumer). An upstream behind Kong may
// trust them as it trusts this plugin's identity headers, and Kong's plugins clear a client's copy
// (kong/plugins/jwt/handler.lua, `set_consumer`). On a protected route this plugin removes every
// client-sent one, in every spelling; when it tells Kong who called, it sets the ones Kong's
// authentication plugins set (KONG_CONSUMER_HEADERS) in the same call.

/** Every `X-Consumer-*` name, present and future (Kong has added to the family before). */
export const CONSUMER_HEADER_PREFIX = "x-consumer-";
/** The consumer headers outside the `X-Consumer-` family, lower case. */
export const CONSUMER_HEADERS: readonly string[] = ["x-credential-identifier", "x-anonymous-consumer"];

/** The consumer headers Kong's authentication plugins set, in Kong's spelling (kong/constants.lua). */
export const KONG_CONSUMER_HEADERS: readonly string[] = [
  "X-Consumer-ID",
  "X-Consumer-Custom-ID",
  "X-Consumer-Username",
  "X-Credential-Identifier",
  "X-Anonymous-Consumer",
];

/** A folded header name (lower case, `_` as `-`) is one of Kong's consumer headers. */
export function isConsumerHeader(folded: string): boolean {
  return folded.startsWith(CONSUMER_HEADER_PREFIX) || CONSUMER_HEADERS.includes(folded);
}

/**
 * A cheap first test on an unfolded name: only a name starting with "x" (either case) and at least
 * as long as the prefix can be in the `X-Consumer-` family. Most request headers (Host, Accept,
 * User-Agent, Authorization…) fail it at once, so the per-request scan stays flat.
 */
export function mayBeConsumerFamily(name: string): boolean {
  return name.length >= CONSUMER_HEADER_PREFIX.length && (name.charCodeAt(0) | 0x20) === 0x78;
}
