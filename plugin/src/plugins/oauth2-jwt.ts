// The module Kong's plugin server loads (the only file in the plugins directory, read by
// plugin/src/server/loader.ts): `Plugin`, `Name`, `Version`, `Priority`, `Schema`.

import { sharedConsumerCache } from "../core/consumer-cache.js";
import { AccessHandler, type KongPdk } from "../handler.js";
import { Schema as PluginSchema } from "../schema.js";
import { PLUGIN_VERSION } from "../version.js";

export class Plugin {
  private readonly handler: AccessHandler;

  /**
   * Kong calls `new Plugin(config)` with the route's configuration, defaults filled in, whenever
   * it rebuilds its plugin configuration (in DB-less mode on every new declarative configuration,
   * consumers included): consumer lookups made before may be stale, so they are forgotten.
   */
  constructor(config: unknown) {
    sharedConsumerCache.clear();
    this.handler = new AccessHandler(config);
  }

  /**
   * The access phase; a method on the prototype is how kong-pdk detects the phases served.
   * Not `async`: the handler's promise is returned as is, one promise fewer per request.
   */
  access(kong: KongPdk): Promise<void> {
    return this.handler.access(kong);
  }
}

export const Name = "oauth2-jwt";
export const Version = PLUGIN_VERSION;
/** Kong's own `jwt` plugin runs at 1450: authenticate before rate limiting and transformations. */
export const Priority = 1450;
export const Schema = PluginSchema;
