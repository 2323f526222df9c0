import { OAuthError } from "../errors.js";
import type { Client } from "../storage/types.js";

/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ); a scope is a space-delimited list of them. */
const scopeToken = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

/** Whether `value` is one RFC 6749 §3.3 scope-token: the name a scope may be registered under and requested by. */
export function isScopeToken(value: string): boolean {
  return scopeToken.test(value);
}

/** Splits a `scope` parameter; undefined when absent. Duplicates collapse (the scope is a set). */
export function parseScope(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const tokens = value.split(" ").filter((t) => t !== "");
  for (const token of tokens) {
    if (!isScopeToken(token)) throw new OAuthError("invalid_scope", "scope contains an invalid character");
  }
  return [...new Set(tokens)];
}

/**
 * The scopes a token gets: the requested ones if all are allowed to the client, or all allowed ones when none were
 * requested (RFC 6749 §3.3 lets the server apply a default). A scope outside the allowed set is invalid_scope.
 */
export function grantScopes(client: Client, requested: string[] | undefined): string[] {
  if (requested === undefined || requested.length === 0) return [...client.scopes];
  const allowed = new Set(client.scopes);
  const refused = requested.filter((s) => !allowed.has(s));
  if (refused.length > 0) {
    throw new OAuthError("invalid_scope", `scope not allowed for this client: ${refused.join(" ")}`);
  }
  return requested;
}
