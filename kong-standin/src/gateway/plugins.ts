/**
 * What the gateway needs from the Kong wire harness (kong-standin/src/wire/, contract 4): start a
 * plugin instance with a route's config, then run the access phase of one request through it.
 * Declared structurally here so the HTTP front and the socket driver stay separate.
 */
export interface AccessRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[]>;
}

export type AccessResult =
  | { outcome: "exit"; status: number; body: unknown; headers: Record<string, string | string[]>; roundTrips: number }
  | { outcome: "proceed"; upstreamHeaders: Record<string, string[]>; roundTrips: number }
  | { outcome: "failed-open"; error: string; upstreamHeaders: Record<string, string[]>; roundTrips: number };

export interface PluginInstanceHandle {
  access(request: AccessRequest): Promise<AccessResult>;
}

export interface PluginHost {
  startInstance(name: string, config: Record<string, unknown>): Promise<PluginInstanceHandle>;
}

/** Kong's bundled serverless plugins, which carry the guard; everything else goes to the plugin server. */
export const PRE_FUNCTION = "pre-function";
export const POST_FUNCTION = "post-function";
/** The only external plugin this stand-in serves (one plugin per plugin server, Kong issue #14701). */
export const OAUTH2_JWT = "oauth2-jwt";
