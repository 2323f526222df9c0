// Kong's handling of a plugin config against the schema the query command dumped
// (kong/db/schema/init.lua: process_auto_fields for "insert", then validate): defaults filled,
// missing optional fields become null (JSON null, Kong's ngx.null), a missing *required*
// record is expanded to its nested defaults, arrays/sets/maps get their elements processed,
// sets are de-duplicated, unknown fields and type/validator violations are refused.
// Not checked: `match`/`not_match` (Lua patterns, which Kong evaluates with Lua's own matcher)
// and custom validators that only exist in Lua.
import { PluginConfigError } from "./errors.js";

export interface FieldDefinition {
  type: string;
  required?: boolean;
  default?: unknown;
  fields?: FieldList;
  elements?: FieldDefinition;
  keys?: FieldDefinition;
  values?: FieldDefinition;
  one_of?: unknown[];
  between?: [number, number];
  gt?: number;
  len_min?: number;
  len_max?: number;
  starts_with?: string;
  match?: string;
  description?: string;
  [attribute: string]: unknown;
}

/** Kong's field list: an array of single-key objects, `[{ issuer: { type: "string" } }]`. */
export type FieldList = Array<Record<string, FieldDefinition>>;

/** One entry of `--dump-all-plugins` (Kong's process.lua reads these keys). */
export interface PluginInfo {
  Name: string;
  Version?: unknown;
  Phases?: string[];
  Priority?: number;
  Schema: { name: string; fields: FieldList };
}

export type PluginConfig = Record<string, unknown>;

/**
 * Validates `config` for the plugin described by `schemaDump` (a dump entry, or its `Schema`)
 * and returns it with Kong's defaults filled; throws PluginConfigError listing every violation.
 */
export function validatePluginConfig(schemaDump: PluginInfo | PluginInfo["Schema"], config: unknown): PluginConfig {
  const schema = "Schema" in schemaDump ? schemaDump.Schema : schemaDump;
  const configField = findField(schema.fields, "config");
  if (configField === undefined || configField.type !== "record" || !Array.isArray(configField.fields)) {
    throw new TypeError(`schema of ${schema.name} has no config record`);
  }
  const input = config === undefined ? {} : config;
  const errors: Record<string, string> = {};
  if (!isPlainObject(input)) {
    throw new PluginConfigError(schema.name, { config: "expected a record" });
  }
  const filled = fillRecord(configField.fields, input);
  validateRecord(configField.fields, filled, "config", errors);
  if (Object.keys(errors).length > 0) throw new PluginConfigError(schema.name, errors);
  return filled;
}

function findField(fields: FieldList, name: string): FieldDefinition | undefined {
  for (const entry of fields) {
    if (Object.hasOwn(entry, name)) return entry[name];
  }
  return undefined;
}

function entries(fields: FieldList): Array<[string, FieldDefinition]> {
  return fields.map((entry) => {
    const names = Object.keys(entry);
    if (names.length !== 1)
      throw new TypeError(`schema field entries must have exactly one key, got ${JSON.stringify(names)}`);
    const name = names[0];
    return [name, entry[name]];
  });
}

// --- defaults (process_auto_fields, context "insert") ---

function fillRecord(fields: FieldList, data: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...data };
  for (const [name, definition] of entries(fields)) {
    const value = adjust(definition, out[name]);
    if (value === undefined) Reflect.deleteProperty(out, name);
    else out[name] = value;
  }
  return out;
}

function adjust(definition: FieldDefinition, value: unknown): unknown {
  if (definition.type === "record") {
    // should_recurse_record: not null, and present or required.
    if (value !== null && (value !== undefined || definition.required === true)) {
      const present = value ?? handleMissing(definition);
      if (isPlainObject(present)) return fillRecord(definition.fields ?? [], present);
      return present;
    }
  } else if (Array.isArray(value) && (definition.type === "array" || definition.type === "set")) {
    const elements = definition.elements;
    const list: unknown[] = value;
    let items = elements === undefined ? [...list] : list.map((item) => adjust(elements, item));
    if (definition.type === "set") items = dedupe(items);
    return items;
  } else if (isPlainObject(value) && definition.type === "map" && definition.values !== undefined) {
    const values = definition.values;
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, adjust(values, item)]));
  }
  if (value === undefined) return handleMissing(definition);
  return value;
}

function handleMissing(definition: FieldDefinition): unknown {
  if (definition.default !== undefined) return structuredClone(definition.default);
  if (definition.required !== true) return null; // ngx.null, sent to the plugin as JSON null
  if (definition.type === "record") return fillRecord(definition.fields ?? [], {});
  return undefined; // required: reported by validation
}

function dedupe(items: unknown[]): unknown[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    const key = JSON.stringify(item);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

// --- validation (Schema:validate) ---

function validateRecord(
  fields: FieldList,
  data: Record<string, unknown>,
  path: string,
  errors: Record<string, string>,
): void {
  const known = new Set<string>();
  for (const [name, definition] of entries(fields)) {
    known.add(name);
    const value = data[name];
    const at = `${path}.${name}`;
    if (value === null || value === undefined) {
      if (definition.required === true) errors[at] = "required field missing";
      continue;
    }
    validateValue(definition, value, at, errors);
  }
  for (const name of Object.keys(data)) {
    if (!known.has(name)) errors[`${path}.${name}`] = "unknown field";
  }
}

function validateValue(
  definition: FieldDefinition,
  value: unknown,
  path: string,
  errors: Record<string, string>,
): void {
  const typeError = checkType(definition, value, path, errors);
  if (typeError !== undefined) {
    errors[path] = typeError;
    return;
  }
  const problem = checkValidators(definition, value);
  if (problem !== undefined) errors[path] = problem;
}

function checkType(
  definition: FieldDefinition,
  value: unknown,
  path: string,
  errors: Record<string, string>,
): string | undefined {
  switch (definition.type) {
    case "string":
      return typeof value === "string" ? undefined : "expected a string";
    case "number":
      return typeof value === "number" && Number.isFinite(value) ? undefined : "expected a number";
    case "integer":
      return Number.isInteger(value) ? undefined : "expected an integer";
    case "boolean":
      return typeof value === "boolean" ? undefined : "expected a boolean";
    case "array":
    case "set": {
      if (!Array.isArray(value)) return `expected ${definition.type === "set" ? "a set" : "an array"}`;
      const elements = definition.elements;
      if (elements !== undefined) {
        value.forEach((item, index) => {
          if (item === null || item === undefined) errors[`${path}[${index + 1}]`] = "required field missing";
          else validateValue(elements, item, `${path}[${index + 1}]`, errors);
        });
      }
      return undefined;
    }
    case "map": {
      if (!isPlainObject(value)) return "expected a map";
      for (const [key, item] of Object.entries(value)) {
        if (definition.keys !== undefined) validateValue(definition.keys, key, `${path}.${key}`, errors);
        if (definition.values !== undefined && item !== null && item !== undefined)
          validateValue(definition.values, item, `${path}.${key}`, errors);
      }
      return undefined;
    }
    case "record":
      if (!isPlainObject(value)) return "expected a record";
      validateRecord(definition.fields ?? [], value, path, errors);
      return undefined;
    default:
      return `unknown type ${definition.type}`;
  }
}

function checkValidators(definition: FieldDefinition, value: unknown): string | undefined {
  if (definition.between !== undefined && typeof value === "number") {
    const [low, high] = definition.between;
    if (value < low || value > high) return `value should be between ${low} and ${high}`;
  }
  if (definition.gt !== undefined && typeof value === "number" && !(value > definition.gt)) {
    return `value must be greater than ${definition.gt}`;
  }
  // Kong counts UTF-8 characters (utf8.len); code points, as Array.from counts them.
  const length = typeof value === "string" ? Array.from(value).length : Array.isArray(value) ? value.length : undefined;
  if (length !== undefined) {
    // Kong refuses empty strings unless a schema says otherwise (implicit len_min = 1).
    const min = definition.len_min ?? (typeof value === "string" ? 1 : undefined);
    if (min !== undefined && length < min) return `length must be at least ${min}`;
    if (definition.len_max !== undefined && length > definition.len_max)
      return `length must be at most ${definition.len_max}`;
  }
  if (definition.one_of !== undefined && !definition.one_of.includes(value)) {
    return `expected one of: ${definition.one_of.map(String).join(", ")}`;
  }
  if (definition.starts_with !== undefined && typeof value === "string" && !value.startsWith(definition.starts_with)) {
    return `should start with: ${definition.starts_with}`;
  }
  return undefined;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
