/**
 * What the gateway needs from the Kong wire harness (kong-standin/src/wire/, contract 4): start a
 * plugin instance with a route's config, then run the access phase of one request through it.
 * `PluginServerProcess` satisfies this; the narrow interface keeps the HTTP front and the socket
 * driver separate.
 */
import type { AccessResult, InstanceIds, WireRequest } from "../wire/index.js";

export type { AccessResult, WireRequest };

export interface PluginInstanceHandle {
  access(request: WireRequest): Promise<AccessResult>;
}

export interface PluginHost {
  startInstance(name: string, config: Record<string, unknown>, ids?: InstanceIds): Promise<PluginInstanceHandle>;
}

/** Kong's bundled serverless plugins, which carry the guard; everything else goes to the plugin server. */
export const PRE_FUNCTION = "pre-function";
export const POST_FUNCTION = "post-function";
/** The only external plugin this stand-in serves (one plugin per plugin server, Kong issue #14701). */
export const OAUTH2_JWT = "oauth2-jwt";
