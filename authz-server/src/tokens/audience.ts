import { OAuthError } from "../errors.js";
import type { ScopeStore } from "../storage/types.js";

/**
 * RFC 8707 §2: each `resource` must be an absolute URI without a fragment and, here, one the server knows
 * (a scope's registered resource or the default audience); anything else is invalid_target.
 */
export function checkResources(resources: string[], scopes: ScopeStore, defaultAudience: string): string[] {
  const known = new Set([...scopes.resources(), defaultAudience]);
  for (const resource of resources) {
    let url: URL;
    try {
      url = new URL(resource);
    } catch {
      throw new OAuthError("invalid_target", "resource must be an absolute URI");
    }
    if (url.hash !== "" || resource.includes("#")) throw new OAuthError("invalid_target", "resource must not contain a fragment");
    if (!known.has(resource)) throw new OAuthError("invalid_target", "resource is not registered with this server");
  }
  return [...new Set(resources)];
}

/**
 * The token's `aud` (RFC 9068 §3, requirement 13): the requested resources; without any, the union of the granted
 * scopes' resources; when no scope has one, the server's default audience.
 */
export function resolveAudience(
  resources: string[],
  grantedScopes: string[],
  scopes: ScopeStore,
  defaultAudience: string,
): string[] {
  if (resources.length > 0) return resources;
  const fromScopes = new Set<string>();
  for (const name of grantedScopes) {
    const resource = scopes.find(name)?.resource;
    if (resource) fromScopes.add(resource);
  }
  return fromScopes.size > 0 ? [...fromScopes].sort() : [defaultAudience];
}
