/**
 * What the gateway needs from the Kong wire harness (kong-standin/src/wire/): configure a plugin
 * instance with a route's config when kong.yml is loaded, then run the access phase of one request
 * through it (the instance starts on its first request, as in Kong's worker). `PluginServerProcess`
 * satisfies this; the narrow interface keeps the HTTP front and the socket driver separate.
 */
import type { AccessResult, InstanceIds, WireRequest } from "../wire/index.js";
import { RATE_LIMITING } from "./rate-limiting.js";

export type { AccessResult, WireRequest };

export interface PluginInstanceHandle {
  access(request: WireRequest): Promise<AccessResult>;
}

export interface PluginHost {
  /** Whether the plugin server serves this plugin (its query command's dump names it). */
  serves(name: string): boolean;
  /** The plugin's priority from the dump (kong/runloop/plugin_servers/init.lua: PRIORITY = Priority). */
  priority(name: string): number | undefined;
  /** Validates the config against the dumped schema; the instance is started when first needed. */
  configureInstance(name: string, config: Record<string, unknown>, ids?: InstanceIds): PluginInstanceHandle;
}

/** Kong's bundled serverless plugins, which carry the guard; everything else goes to the plugin server. */
export const PRE_FUNCTION = "pre-function";
export const POST_FUNCTION = "post-function";
/** The external plugin kong.yml configures (one plugin per plugin server, the setup this repository ships and tests). */
export const OAUTH2_JWT = "oauth2-jwt";

/**
 * The PRIORITY of Kong's bundled plugins the stand-in runs (kong/plugins/pre-function/handler.lua,
 * rate-limiting/handler.lua, post-function/handler.lua); an external plugin's comes from the
 * plugin server's dump (oauth2-jwt: 1450). Kong runs a phase's plugins highest first.
 */
export const BUNDLED_PRIORITY: Readonly<Partial<Record<string, number>>> = {
  [PRE_FUNCTION]: 1_000_000,
  [RATE_LIMITING]: 910,
  [POST_FUNCTION]: -1000,
};
