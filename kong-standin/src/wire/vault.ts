// Kong's secret references in a plugin config (Kong 3.9.3): a string field the schema marks
// `referenceable` may hold `{vault://<vault>/<resource>}`, which Kong resolves when it reads the
// config for a worker (kong/db/schema/init.lua, process_auto_fields in the "select" context), so
// the plugin server only ever sees the secret itself. The original reference is kept beside the
// values under `$refs` (the config record's own key, sent to the plugin server as part of the
// config's JSON); a reference that cannot be resolved becomes "" with a warning, it never stops
// the config from loading (`resolve_reference`). Fields not marked referenceable keep the text as
// it is written.
//
// Only Kong's `env` vault is implemented (kong/vaults/env/init.lua): the resource's "-" become
// "_", an optional `prefix` query argument goes in front, the whole is upper-cased, and the value
// is read from the gateway's own environment (Kong reads it at start-up, before nginx clears it;
// the plugin server, started with an empty environment, never sees it). Another vault, or a JSON
// key inside the value (`{vault://env/name/key}`), is refused rather than misread.
import { PluginConfigError } from "./errors.js";
import type { FieldDefinition, FieldList, PluginConfig, PluginInfo } from "./schema.js";

/** Where the env vault reads: the gateway's environment. */
export type VaultEnvironment = Readonly<Partial<Record<string, string>>>;

export interface ResolvedConfig {
  config: PluginConfig;
  /** One line per reference that could not be resolved (Kong logs these at warn level). */
  warnings: string[];
}

/** Kong's `is_reference` (kong/pdk/vault.lua): a string of the form `{vault://…}`. */
export function isReference(value: unknown): value is string {
  return typeof value === "string" && value.startsWith("{vault://") && value.endsWith("}");
}

/**
 * The config with every reference in a referenceable top-level string field resolved, and
 * `$refs` naming the references it held.
 */
export function resolveReferences(
  schemaDump: PluginInfo | PluginInfo["Schema"],
  config: PluginConfig,
  environment: VaultEnvironment,
): ResolvedConfig {
  const schema = "Schema" in schemaDump ? schemaDump.Schema : schemaDump;
  const fields = configFields(schema.fields);
  const resolved: PluginConfig = { ...config };
  const refs: Record<string, string> = {};
  const warnings: string[] = [];
  for (const [name, definition] of fields) {
    const value = config[name];
    if (definition.type !== "string" || definition["referenceable"] !== true || !isReference(value)) continue;
    const secret = readEnvVault(schema.name, name, value, environment);
    refs[name] = value;
    if (secret === undefined) warnings.push(`unable to resolve reference ${value}`);
    resolved[name] = secret ?? "";
  }
  if (Object.keys(refs).length > 0) resolved["$refs"] = refs;
  return { config: resolved, warnings };
}

function configFields(fields: FieldList): Array<[string, FieldDefinition]> {
  const config = fields.find((entry) => Object.hasOwn(entry, "config"))?.["config"];
  return (config?.fields ?? []).map((entry) => {
    const [name] = Object.keys(entry);
    return [name, entry[name]];
  });
}

/** The env vault's lookup of `reference`; undefined when the variable is not set. */
function readEnvVault(
  plugin: string,
  field: string,
  reference: string,
  environment: VaultEnvironment,
): string | undefined {
  const match = /^\{vault:\/\/([^/?}]+)\/([^?}]*)\??([^}]*)\}$/.exec(reference);
  const refuse = (why: string): never => {
    throw new PluginConfigError(plugin, { [`config.${field}`]: `${why}: ${reference}` });
  };
  if (match === null) return refuse("not a vault reference Kong can parse");
  const [, vault, resource, query] = match;
  if (vault !== "env") return refuse(`the local stand-in implements only the env vault, not "${vault}"`);
  if (resource === "" || resource.includes("/"))
    return refuse("the env vault reference must name one variable (a JSON key inside it is not implemented)");
  const prefix = new URLSearchParams(query).get("prefix") ?? "";
  return environment[`${prefix}${resource}`.replaceAll("-", "_").toUpperCase()];
}
