/**
 * Kong's route semantics for the subset kong.yml uses (Kong 3.x, `traditional_compatible` router,
 * `path_handling` v0):
 *  - the request path is normalized before matching and proxying (RFC 3986 §6.2.2: percent-encoded
 *    unreserved characters decoded, dot segments removed; repeated slashes merged), so
 *    `/flickr/explore/../photos` is routed as `/flickr/photos`, never smuggled past a route;
 *  - a path without `~` is a prefix;
 *  - among matches, a route that also matches on method wins over one that does not, then the
 *    longest matching path wins, then the first in the file;
 *  - the upstream path follows Kong's `get_upstream_uri_v0` (kong/router/utils.lua), including
 *    `strip_path`.
 */
import type { RouteDef } from "./config.js";

const UNRESERVED = /%(2[DdEe]|5[Ff]|7[Ee]|3[0-9]|[46][1-9A-Fa-f]|[57][0-9Aa])/g;

/** The normalized path, or undefined when the path cannot be a request target. */
export function normalizePath(rawPath: string): string | undefined {
  if (!rawPath.startsWith("/")) return undefined;
  // Decode only percent-encoded unreserved characters (ALPHA DIGIT - . _ ~), RFC 3986 §2.3.
  const decoded = rawPath.replace(UNRESERVED, (escape) => String.fromCharCode(parseInt(escape.slice(1), 16)));
  let resolved: string;
  try {
    // WHATWG URL removes dot segments (RFC 3986 §5.2.4), also their %2e spellings.
    resolved = new URL(decoded.replace(/\/{2,}/g, "/"), "http://stand-in.invalid").pathname;
  } catch {
    return undefined;
  }
  return resolved.replace(/\/{2,}/g, "/");
}

export interface RouteMatch {
  route: RouteDef;
  /** The route path that matched (a prefix of the request path). */
  matchedPath: string;
}

export function matchRoute(routes: readonly RouteDef[], method: string, path: string): RouteMatch | undefined {
  let best: { match: RouteMatch; score: [number, number] } | undefined;
  for (const route of routes) {
    if (route.methods !== undefined && !route.methods.includes(method)) continue;
    for (const prefix of route.paths) {
      if (!path.startsWith(prefix)) continue;
      const score: [number, number] = [route.methods === undefined ? 0 : 1, prefix.length];
      if (best === undefined || score[0] > best.score[0] || (score[0] === best.score[0] && score[1] > best.score[1])) {
        best = { match: { route, matchedPath: prefix }, score };
      }
    }
  }
  return best?.match;
}

/** Kong's `get_upstream_uri_v0` (kong/router/utils.lua), `upstreamBase` being the service's path or "/". */
export function upstreamPath(match: RouteMatch, path: string, upstreamBase: string): string {
  const postfix = path.slice(match.matchedPath.length);
  const strip = match.route.stripPath;
  if (upstreamBase.endsWith("/")) {
    if (strip) {
      if (postfix === "") {
        if (upstreamBase === "/") return "/";
        if (path.endsWith("/")) return upstreamBase;
        return upstreamBase.slice(0, -1);
      }
      if (postfix.startsWith("/")) return upstreamBase.slice(0, -1) + postfix;
      return upstreamBase + postfix;
    }
    return upstreamBase + path.slice(1);
  }
  if (strip) {
    if (postfix === "") {
      if (path.length > 1 && path.endsWith("/")) return `${upstreamBase}/`;
      return upstreamBase;
    }
    if (postfix.startsWith("/")) return upstreamBase + postfix;
    return `${upstreamBase}/${postfix}`;
  }
  if (path === "/") return upstreamBase;
  return upstreamBase + path;
}
