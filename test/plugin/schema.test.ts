// The schema against Kong's metaschema rules (kong/db/schema/metaschema.lua, Kong 3.9), with the
// Lua patterns run by a real Lua (luajit), and the scope-token grammar they share with plugin/src/config.ts.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";
import { resolveConfig } from "../../plugin/src/config.ts";
import { isScopeToken } from "../../plugin/src/core/scope.ts";
import { Schema, SCOPE_TOKEN_PATTERN, type SchemaEntry, type SchemaField } from "../../plugin/src/schema.ts";
import { entries, fillDefaults } from "./helpers/schema.ts";

// metaschema.lua: field_schema + validators + nested attributes; anything else is an "unknown field".
const KNOWN_ATTRIBUTES = new Set([
  "type",
  "required",
  "reference",
  "description",
  "examples",
  "auto",
  "unique",
  "unique_across_ws",
  "on_delete",
  "default",
  "abstract",
  "generate_admin_api",
  "immutable",
  "err",
  "encrypted",
  "referenceable",
  "json_schema",
  "between",
  "eq",
  "ne",
  "gt",
  "len_eq",
  "len_min",
  "len_max",
  "match",
  "not_match",
  "match_all",
  "match_none",
  "match_any",
  "starts_with",
  "one_of",
  "not_one_of",
  "contains",
  "is_regex",
  "timestamp",
  "uuid",
  "custom_validator",
  "mutually_exclusive_subsets",
  "elements",
  "keys",
  "values",
  "fields",
  "entity_checks",
  "shorthand_fields",
]);
// metaschema.lua attribute_types (the ones our schema could use) and required_attributes.
const ATTRIBUTE_TYPES: Record<string, string[]> = {
  between: ["integer", "number"],
  len_eq: ["array", "set", "string", "map"],
  match: ["string"],
  one_of: ["string", "number", "integer"],
  contains: ["array", "set"],
};
const REQUIRED_ATTRIBUTES: Record<string, string[]> = {
  array: ["elements"],
  set: ["elements"],
  map: ["keys", "values"],
  record: ["fields"],
};
const VALID_TYPES = new Set([
  "string",
  "number",
  "integer",
  "boolean",
  "array",
  "set",
  "map",
  "record",
  "foreign",
  "any",
  "json",
]);

function metaCheck(name: string, field: SchemaField, errors: string[], topLevel: boolean): void {
  if (!VALID_TYPES.has(field.type)) errors.push(`${name}: unknown type ${field.type}`);
  for (const attribute of Object.keys(field)) {
    if (!KNOWN_ATTRIBUTES.has(attribute)) errors.push(`${name}: unknown attribute ${attribute}`);
    const allowed = Object.hasOwn(ATTRIBUTE_TYPES, attribute) ? ATTRIBUTE_TYPES[attribute] : undefined;
    if (allowed !== undefined && !allowed.includes(field.type))
      errors.push(`${name}: ${field.type} cannot have ${attribute}`);
  }
  for (const required of REQUIRED_ATTRIBUTES[field.type] ?? []) {
    if ((field as unknown as Record<string, unknown>)[required] === undefined)
      errors.push(`${name}: ${field.type} must declare ${required}`);
  }
  if (field.description !== undefined && (field.description.length < 10 || field.description.length > 500)) {
    errors.push(`${name}: description must be 10-500 characters, is ${field.description.length}`);
  }
  if (topLevel && field.description === undefined) errors.push(`${name}: no description`);
  // metaschema.lua: `between` is two numbers; an integer field's bounds are integers themselves.
  if (field.between !== undefined && field.type === "integer" && !field.between.every(Number.isInteger)) {
    errors.push(`${name}: between must be two integers`);
  }
  if (field.elements !== undefined) metaCheck(`${name}.elements`, field.elements, errors, false);
  for (const [child, childField] of entries(field.fields ?? []))
    metaCheck(`${name}.${child}`, childField, errors, true);
}

/** Lua `string.find(subject, pattern) ~= nil` for each case, by luajit. */
function luaMatches(cases: { pattern: string; subject: string }[]): boolean[] {
  const long = (text: string): string => {
    assert.ok(!text.includes("]==]"));
    return `[==[${text}]==]`;
  };
  const script = cases.map((c) => `print(string.find(${long(c.subject)}, ${long(c.pattern)}) ~= nil)`).join("\n");
  const output = execFileSync("luajit", ["-"], { input: script, encoding: "utf8", timeout: 10_000 });
  return output
    .trim()
    .split("\n")
    .map((line) => line === "true");
}

type Rule = { pattern: string; subject: string; name: string };
/** Collects a value's checks against its field's rules; `match` patterns are returned for luajit. */
function valueErrors(name: string, field: SchemaField, value: unknown, patterns: Rule[]): string[] {
  const errors: string[] = [];
  const typeOk =
    field.type === "string"
      ? typeof value === "string"
      : field.type === "integer"
        ? Number.isInteger(value)
        : field.type === "number"
          ? typeof value === "number"
          : field.type === "boolean"
            ? typeof value === "boolean"
            : field.type === "array" || field.type === "set"
              ? Array.isArray(value)
              : field.type === "record"
                ? typeof value === "object" && value !== null && !Array.isArray(value)
                : false;
  if (!typeOk) return [`${name}: ${JSON.stringify(value)} is not a ${field.type}`];
  if (field.one_of !== undefined && !field.one_of.includes(value as string)) errors.push(`${name}: not one of`);
  if (field.between !== undefined && ((value as number) < field.between[0] || (value as number) > field.between[1]))
    errors.push(`${name}: out of range`);
  const length = typeof value === "string" || Array.isArray(value) ? value.length : undefined;
  if (field.len_min !== undefined && length !== undefined && length < field.len_min) errors.push(`${name}: too short`);
  if (field.len_max !== undefined && length !== undefined && length > field.len_max) errors.push(`${name}: too long`);
  if (field.match !== undefined) patterns.push({ name, pattern: field.match, subject: value as string });
  const elements = field.elements;
  if (elements !== undefined) {
    (value as unknown[]).forEach((element, index) =>
      errors.push(...valueErrors(`${name}[${index}]`, elements, element, patterns)),
    );
  }
  for (const [child, childField] of entries(field.fields ?? [])) {
    errors.push(...valueErrors(`${name}.${child}`, childField, (value as Record<string, unknown>)[child], patterns));
  }
  return errors;
}

describe("plugin schema", () => {
  it("passes Kong's metaschema rules", () => {
    const errors: string[] = [];
    for (const [name, field] of entries(Schema)) metaCheck(name, field, errors, true);
    assert.deepEqual(errors, []);
  });

  it("gives every field a default except the required issuer and audience, the discovered URLs, the feed's credential and the optional consumer mapping", () => {
    const withoutDefault = entries(Schema)
      .filter(([, field]) => field.default === undefined)
      .map(([name]) => name);
    assert.deepEqual(withoutDefault, [
      "issuer",
      "jwks_uri",
      "audience",
      "revocation_feed_url",
      "revocation_client_id",
      "revocation_client_secret",
      "consumer_claim",
      "anonymous",
    ]);
    assert.deepEqual(
      entries(Schema)
        .filter(([, field]) => field.required === true && field.default === undefined)
        .map(([name]) => name),
      ["issuer", "audience"],
    );
  });

  it("has defaults that pass their own rules, patterns included (checked by luajit)", () => {
    const patterns: Rule[] = [];
    const errors: string[] = [];
    for (const [name, field] of entries(Schema)) {
      if (field.default !== undefined) errors.push(...valueErrors(name, field, field.default, patterns));
    }
    assert.deepEqual(errors, []);
    assert.ok(patterns.length >= 4);
    assert.deepEqual(
      luaMatches(patterns),
      patterns.map(() => true),
      JSON.stringify(patterns),
    );
  });

  it("uses Lua patterns that accept and refuse what they claim to", () => {
    const field = (path: string): SchemaField => {
      let current: SchemaField | undefined;
      let fields: readonly SchemaEntry[] = Schema;
      for (const part of path.split(".")) {
        current = part === "elements" ? current?.elements : fields.find((entry) => Object.hasOwn(entry, part))?.[part];
        assert.ok(current, path);
        fields = current.fields ?? [];
      }
      assert.ok(current, path);
      return current;
    };
    const cases: [string, string, boolean][] = [
      ["issuer", "http://localhost:9000", true],
      ["issuer", "https://auth.example.com/tenant", true],
      ["issuer", "ftp://auth.example.com", false],
      ["issuer", "https://auth example", false],
      ["jwks_uri", "http://authz:9000/jwks.json", true],
      ["revocation_feed_url", "http://authz:9000/revocations", true],
      ["revocation_feed_url", "file:///etc/passwd", false],
      ["scopes_required.elements", "photos", true],
      ["scopes_required.elements", "photos:read", true],
      ["scopes_required.elements", "https://api.example.com/x~y[1]{2}^|`", true],
      ["scopes_required.elements", "two words", false],
      ["scopes_required.elements", 'quo"te', false],
      ["scopes_required.elements", "back\\slash", false],
      ["scopes_required.elements", "", false],
      ["upstream_headers.subject", "X-Authenticated-Userid", true],
      ["upstream_headers.subject", "x_user.id~1", true],
      ["upstream_headers.subject", "X User", false],
      ["upstream_headers.subject", "X:User", false],
      ["realm", "api", true],
      ["realm", "photos API (v1)", true],
      ["realm", 'a"b', false],
      ["realm", "a\\b", false],
      ["realm", "a\nb", false],
      ["credential_claim", "client_id", true],
      ["credential_claim", "sub", true],
      ["credential_claim", "urn:example:tenant-id.v2", true],
      ["credential_claim", "", false],
      ["credential_claim", "two words", false],
      ["credential_claim", 'quo"te', false],
      ["credential_claim", "a/b", false],
      ["consumer_claim", "preferred_username", true],
      ["consumer_claim", "é", false],
    ];
    const rules = cases.map(([path, subject]) => ({ name: path, pattern: field(path).match ?? "", subject }));
    assert.deepEqual(
      luaMatches(rules),
      cases.map(([, , expected]) => expected),
    );
    // The plugin's own re-check (config.ts, regular expressions) draws the same lines.
    const minimal = fillDefaults({ issuer: "http://localhost:9000", audience: ["http://localhost:8000/flickr"] });
    const override = (path: string, value: string): Record<string, unknown> =>
      path === "scopes_required.elements"
        ? { scopes_required: [value] }
        : path === "upstream_headers.subject"
          ? { upstream_headers: { ...(minimal.upstream_headers as object), subject: value } }
          : { [path]: value };
    assert.deepEqual(
      cases.map(([path, subject]) => resolveConfig({ ...minimal, ...override(path, subject) }).ok),
      cases.map(([, , expected]) => expected),
    );
  });
});

describe("the revocation feed's fields", () => {
  const field = (name: string): SchemaField => {
    const entry = Schema.find((e) => Object.hasOwn(e, name));
    assert.ok(entry, name);
    return entry[name];
  };

  it("marks the feed's credential referenceable (Kong vault references) and its secret encrypted (Kong's keyring)", () => {
    assert.deepEqual(
      entries(Schema)
        .filter(([, f]) => f.referenceable === true || f.encrypted === true)
        .map(([name, f]) => [name, f.referenceable, f.encrypted]),
      [
        ["revocation_client_id", true, undefined],
        ["revocation_client_secret", true, true],
      ],
    );
  });

  it("polls every 2 s by default (0.1–60), tolerates 30 s of staleness, and accepts when stale", () => {
    assert.deepEqual(
      ["revocation_poll_seconds", "revocation_max_stale_seconds", "revocation_stale_action"].map((name) => {
        const { type, default: value, between, one_of: oneOf } = field(name);
        return { type, value, between, oneOf };
      }),
      [
        { type: "number", value: 2, between: [0.1, 60], oneOf: undefined },
        { type: "number", value: 30, between: [1, 86400], oneOf: undefined },
        { type: "string", value: "accept", between: undefined, oneOf: ["accept", "refuse"] },
      ],
    );
  });
});

describe("the fields that tell Kong who called", () => {
  it("are off by default: no credential, no consumer mapping, no anonymous; lookups cached 60 s (1–3600)", () => {
    const names = [
      "authenticate_credential",
      "credential_claim",
      "consumer_claim",
      "consumer_by",
      "anonymous",
      "consumer_cache_seconds",
    ];
    assert.deepEqual(
      entries(Schema)
        .filter(([name]) => names.includes(name))
        .map(([name, f]) => ({
          name,
          type: f.type,
          required: f.required,
          value: f.default,
          between: f.between,
          oneOf: f.one_of,
          len: [f.len_min, f.len_max],
        })),
      [
        {
          name: "authenticate_credential",
          type: "boolean",
          required: true,
          value: false,
          between: undefined,
          oneOf: undefined,
          len: [undefined, undefined],
        },
        {
          name: "credential_claim",
          type: "string",
          required: true,
          value: "client_id",
          between: undefined,
          oneOf: undefined,
          len: [1, 64],
        },
        {
          name: "consumer_claim",
          type: "string",
          required: false,
          value: undefined,
          between: undefined,
          oneOf: undefined,
          len: [1, 64],
        },
        {
          name: "consumer_by",
          type: "string",
          required: true,
          value: "username",
          between: undefined,
          oneOf: ["username", "id"],
          len: [undefined, undefined],
        },
        {
          name: "anonymous",
          type: "string",
          required: false,
          value: undefined,
          between: undefined,
          oneOf: undefined,
          len: [1, 255],
        },
        {
          name: "consumer_cache_seconds",
          type: "integer",
          required: true,
          value: 60,
          between: [1, 3600],
          oneOf: undefined,
          len: [undefined, undefined],
        },
      ],
    );
  });

  it("says that Kong looks consumers up by id or username only", () => {
    const consumerBy = Schema.find((e) => Object.hasOwn(e, "consumer_by"))?.consumer_by;
    assert.match(consumerBy?.description ?? "", /by id or username only, never by custom_id/);
  });
});

describe("the scope-token grammar (RFC 6749 §3.3), written once in plugin/src/core/scope.ts", () => {
  const ascii = Array.from({ length: 0x80 }, (_, code) => String.fromCharCode(code));
  const subjects = [...ascii, "photos", "photos:write", "a b", 'a"b', "a\\b", "", "é", "https://x/y~z[1]^|`"];

  it("accepts exactly %x21 / %x23-5B / %x5D-7E: printable ASCII without space, quote and backslash", () => {
    const accepted = ascii.filter(isScopeToken).map((c) => c.charCodeAt(0));
    const expected = [0x21, ...Array.from({ length: 0x5b - 0x23 + 1 }, (_, i) => 0x23 + i)];
    expected.push(...Array.from({ length: 0x7e - 0x5d + 1 }, (_, i) => 0x5d + i));
    assert.deepEqual(accepted, expected);
  });

  it("the schema's Lua pattern (run by luajit) and the configuration check accept and refuse the same strings", () => {
    const lua = luaMatches(subjects.map((subject) => ({ pattern: SCOPE_TOKEN_PATTERN, subject })));
    const resolved = subjects.map(
      (subject) => resolveConfig({ issuer: "http://localhost:9000", audience: ["a"], scopes_required: [subject] }).ok,
    );
    assert.deepEqual(lua, subjects.map(isScopeToken));
    assert.deepEqual(resolved, subjects.map(isScopeToken));
  });
});
