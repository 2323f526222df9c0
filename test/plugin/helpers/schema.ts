// Kong's schema as the tests read it: its entries, and the defaults Kong fills in before it hands
// a configuration to the plugin (kong/db/schema/init.lua, process_auto_fields).
import assert from "node:assert/strict";
import { resolveConfig } from "../../../plugin/src/config.ts";
import { Schema, type PluginConfig, type SchemaEntry, type SchemaField } from "../../../plugin/src/schema.ts";

/** A fields array as [name, definition] pairs, checking Kong's one-key-per-entry shape. */
export function entries(fields: readonly SchemaEntry[]): [string, SchemaField][] {
  return fields.map((entry) => {
    const keys = Object.keys(entry);
    assert.equal(keys.length, 1, `each schema entry has exactly one key: ${keys.join(",")}`);
    return [keys[0], entry[keys[0]]];
  });
}

/** Kong's default filling for a plugin config (top-level and record defaults). */
export function fillDefaults(config: Record<string, unknown>): Record<string, unknown> {
  const filled: Record<string, unknown> = {};
  for (const [name, field] of entries(Schema)) {
    filled[name] = config[name] ?? (field.default === undefined ? null : structuredClone(field.default));
  }
  return filled;
}

/** Every field's value when a configuration gives only the required `issuer` and `audience`, as Kong fills it. */
export const SCHEMA_DEFAULTS: Readonly<Record<string, unknown>> = {
  jwks_uri: null,
  scopes_required: [],
  scope_match: "all",
  algorithms: ["PS256", "RS256", "ES256", "EdDSA"],
  leeway_seconds: 30,
  upstream_headers: {
    subject: "X-Authenticated-Userid",
    scope: "X-Authenticated-Scope",
    client_id: "X-Authenticated-Client-Id",
  },
  hide_credentials: false,
  run_on_preflight: true,
  realm: "api",
  jwks_cache_seconds: 300,
  jwks_min_refresh_seconds: 10,
  revocation_feed_url: null,
  revocation_client_id: null,
  revocation_client_secret: null,
  revocation_poll_seconds: 2,
  revocation_max_stale_seconds: 30,
  revocation_stale_action: "accept",
  authenticate_credential: false,
  credential_claim: "client_id",
  consumer_claim: null,
  consumer_by: "username",
  anonymous: null,
  consumer_cache_seconds: 60,
};

/**
 * A complete configuration as the plugin receives it: `fields` with Kong's defaults filled in,
 * through the plugin's own resolution (plugin/src/config.ts), which must accept it.
 */
export function pluginConfig(fields: Record<string, unknown>): PluginConfig {
  const resolved = resolveConfig(fillDefaults(fields));
  if (!resolved.ok) throw new Error(`test configuration refused: ${resolved.error}`);
  return resolved.config;
}
