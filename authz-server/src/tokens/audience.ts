import { OAuthError } from "../errors.js";
import type { ScopeCatalog } from "../storage/types.js";

/** invalid_target description for a registered resource that none of the requested scopes is for. */
export const RESOURCE_NOT_IN_SCOPES = "resource is not one the requested scopes are for";

/**
 * RFC 8707 §2: each `resource` must be an absolute URI without a fragment, one the server knows (a scope's registered
 * resource or the default audience), and one of `permitted`, the resources the grant is for (see permittedResources);
 * anything else is invalid_target, the last case with `refusal` as its description.
 */
export function checkResources(
  resources: string[],
  scopes: ScopeCatalog,
  defaultAudience: string,
  permitted: readonly string[],
  refusal: string,
): string[] {
  const known = new Set([...scopes.resources(), defaultAudience]);
  for (const resource of resources) {
    let url: URL;
    try {
      url = new URL(resource);
    } catch {
      throw new OAuthError("invalid_target", "resource must be an absolute URI");
    }
    if (url.hash !== "" || resource.includes("#"))
      throw new OAuthError("invalid_target", "resource must not contain a fragment");
    if (!known.has(resource)) throw new OAuthError("invalid_target", "resource is not registered with this server");
    if (!permitted.includes(resource)) throw new OAuthError("invalid_target", refusal);
  }
  return [...new Set(resources)];
}

/**
 * The resources a grant may name (RFC 8707 §2: the server decides which resources a grant covers).
 * A grant whose authorization request named resources covers exactly those. Otherwise, when every granted scope
 * belongs to a resource server, only those servers: consent to the photos API's `photos` must never yield a token
 * that another registered API would accept. A scope registered without a resource is tied to no server, so a grant
 * including one may name any registered resource or the default audience.
 */
export function permittedResources(
  grantResources: readonly string[],
  grantedScopes: readonly string[],
  scopes: ScopeCatalog,
  defaultAudience: string,
): string[] {
  if (grantResources.length > 0) return [...grantResources];
  const unbound = grantedScopes.some((name) => !scopes.find(name)?.resource);
  return unbound ? [...scopes.resources(), defaultAudience] : resourcesOf(grantedScopes, scopes);
}

/** The distinct registered resources of `grantedScopes`, sorted; a scope without one adds nothing. */
function resourcesOf(grantedScopes: readonly string[], scopes: ScopeCatalog): string[] {
  const found = new Set<string>();
  for (const name of grantedScopes) {
    const resource = scopes.find(name)?.resource;
    if (resource) found.add(resource);
  }
  return [...found].sort();
}

/**
 * The token's `aud` (RFC 9068 §3): the requested resources; without any, the union of the granted
 * scopes' resources; when no scope has one, the server's default audience.
 */
export function resolveAudience(
  resources: readonly string[],
  grantedScopes: readonly string[],
  scopes: ScopeCatalog,
  defaultAudience: string,
): string[] {
  if (resources.length > 0) return [...resources];
  const fromScopes = resourcesOf(grantedScopes, scopes);
  return fromScopes.length > 0 ? fromScopes : [defaultAudience];
}
