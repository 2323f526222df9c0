// validatePluginConfig: Kong's defaults and validation of a plugin config against a dumped schema.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  PluginConfigError,
  validatePluginConfig,
  type FieldList,
  type PluginInfo,
} from "../../../kong-standin/src/wire/index.ts";

const fields: FieldList = [
  { issuer: { type: "string", required: true } },
  { audience: { type: "array", elements: { type: "string" }, required: true } },
  {
    algorithms: { type: "set", elements: { type: "string", one_of: ["RS256", "ES256"] }, default: ["RS256", "ES256"] },
  },
  { leeway_seconds: { type: "integer", default: 30, between: [0, 300] } },
  { scope_match: { type: "string", default: "all", one_of: ["all", "any"] } },
  { realm: { type: "string" } },
  { prefix: { type: "string", starts_with: "X-" } },
  {
    upstream_headers: {
      type: "record",
      required: true,
      fields: [
        { subject: { type: "string", default: "X-Authenticated-Userid" } },
        { scope: { type: "string", default: "X-Authenticated-Scope" } },
      ],
    },
  },
  { optional_record: { type: "record", fields: [{ inner: { type: "string", default: "x" } }] } },
  {
    rules: {
      type: "array",
      elements: {
        type: "record",
        fields: [
          { path: { type: "string", required: true } },
          { methods: { type: "array", elements: { type: "string" }, default: ["GET"] } },
        ],
      },
    },
  },
  { labels: { type: "map", keys: { type: "string" }, values: { type: "integer" } } },
];

const info: PluginInfo = {
  Name: "example",
  Version: "1",
  Phases: ["access"],
  Priority: 1,
  Schema: { name: "example", fields: [{ config: { type: "record", fields } }] },
};

function violations(config: unknown): Record<string, string> {
  try {
    validatePluginConfig(info, config);
  } catch (error) {
    assert.ok(error instanceof PluginConfigError);
    assert.equal(error.code, "ERR_PLUGIN_CONFIG");
    return { ...error.errors };
  }
  return assert.fail("config was accepted");
}

describe("validatePluginConfig", () => {
  it("fills defaults the way Kong does: nulls for optional fields, nested defaults for a required record", () => {
    assert.deepEqual(validatePluginConfig(info, { issuer: "http://localhost:9000", audience: ["photos"] }), {
      issuer: "http://localhost:9000",
      audience: ["photos"],
      algorithms: ["RS256", "ES256"],
      leeway_seconds: 30,
      scope_match: "all",
      realm: null,
      prefix: null,
      upstream_headers: { subject: "X-Authenticated-Userid", scope: "X-Authenticated-Scope" },
      optional_record: null,
      rules: null,
      labels: null,
    });
  });

  it("keeps given values, fills a partly given record, records inside arrays, and de-duplicates sets", () => {
    const filled = validatePluginConfig(info.Schema, {
      issuer: "i",
      audience: ["a"],
      algorithms: ["ES256", "ES256"],
      upstream_headers: { subject: "X-Sub" },
      optional_record: {},
      rules: [{ path: "/a" }, { path: "/b", methods: ["POST"] }],
      labels: { one: 1 },
    });
    assert.deepEqual(filled.algorithms, ["ES256"]);
    assert.deepEqual(filled.upstream_headers, { subject: "X-Sub", scope: "X-Authenticated-Scope" });
    assert.deepEqual(filled.optional_record, { inner: "x" });
    assert.deepEqual(filled.rules, [
      { path: "/a", methods: ["GET"] },
      { path: "/b", methods: ["POST"] },
    ]);
    assert.deepEqual(filled.labels, { one: 1 });
  });

  it("does not share default objects between configs", () => {
    const one = validatePluginConfig(info, { issuer: "i", audience: ["a"] });
    (one.algorithms as string[]).push("mutated");
    assert.deepEqual(validatePluginConfig(info, { issuer: "i", audience: ["a"] }).algorithms, ["RS256", "ES256"]);
  });

  it("reports every violation by field path", () => {
    assert.deepEqual(
      violations({
        audience: "photos",
        algorithms: ["none"],
        leeway_seconds: 301.5,
        scope_match: "some",
        realm: "",
        prefix: "Y-",
        upstream_headers: { subject: 7, extra: true },
        rules: [{ methods: [] }],
        labels: { one: "1" },
        surprise: 1,
      }),
      {
        "config.issuer": "required field missing",
        "config.audience": "expected an array",
        "config.algorithms[1]": "expected one of: RS256, ES256",
        "config.leeway_seconds": "expected an integer",
        "config.scope_match": "expected one of: all, any",
        "config.realm": "length must be at least 1",
        "config.prefix": "should start with: X-",
        "config.upstream_headers.subject": "expected a string",
        "config.upstream_headers.extra": "unknown field",
        "config.rules[1].path": "required field missing",
        "config.labels.one": "expected an integer",
        "config.surprise": "unknown field",
      },
    );
    assert.deepEqual(violations({ issuer: "i", audience: ["a"], leeway_seconds: 301 }), {
      "config.leeway_seconds": "value should be between 0 and 300",
    });
    assert.deepEqual(violations([]), { config: "expected a record" });
  });

  it("names the plugin and the fields in its message", () => {
    assert.throws(() => validatePluginConfig(info, { audience: ["a"] }), {
      name: "PluginConfigError",
      message: "schema violation for plugin example (config.issuer: required field missing)",
    });
  });
});
