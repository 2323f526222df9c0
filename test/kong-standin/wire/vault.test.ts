// Kong's secret references in a plugin config: a referenceable field's `{vault://env/…}` is read
// from the gateway's environment the way Kong's env vault reads it, the reference is kept under
// `$refs`, and a missing variable becomes "" with a warning (Kong loads the config regardless).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  isReference,
  PluginConfigError,
  resolveReferences,
  validatePluginConfig,
  type PluginInfo,
} from "../../../kong-standin/src/wire/index.ts";

const info: PluginInfo = {
  Name: "example",
  Schema: {
    name: "example",
    fields: [
      {
        config: {
          type: "record",
          fields: [
            { client_id: { type: "string", referenceable: true } },
            { client_secret: { type: "string", referenceable: true, encrypted: true } },
            { realm: { type: "string" } },
          ],
        },
      },
    ],
  },
};

const resolve = (config: Record<string, unknown>, environment: Record<string, string>) =>
  resolveReferences(info, validatePluginConfig(info, config), environment);

describe("resolveReferences (Kong's env vault)", () => {
  it("reads the variable named by the resource, '-' as '_', upper-cased, and keeps the reference under $refs", () => {
    const { config, warnings } = resolve(
      { client_id: "{vault://env/feed-client-id}", client_secret: "{vault://env/oauth2-jwt-feed-secret}" },
      { FEED_CLIENT_ID: "gateway", OAUTH2_JWT_FEED_SECRET: "s3cret" },
    );
    assert.deepEqual(config, {
      client_id: "gateway",
      client_secret: "s3cret",
      realm: null,
      $refs: { client_id: "{vault://env/feed-client-id}", client_secret: "{vault://env/oauth2-jwt-feed-secret}" },
    });
    assert.deepEqual(warnings, []);
  });

  it("puts the prefix query argument in front of the name", () => {
    const { config } = resolve({ client_secret: "{vault://env/feed-secret?prefix=kong_}" }, { KONG_FEED_SECRET: "p" });
    assert.equal(config["client_secret"], "p");
  });

  it("turns a variable that is not set into an empty string and one warning, as Kong does", () => {
    const { config, warnings } = resolve({ client_secret: "{vault://env/absent}" }, {});
    assert.equal(config["client_secret"], "");
    assert.deepEqual(warnings, ["unable to resolve reference {vault://env/absent}"]);
  });

  it("leaves plain values and fields not marked referenceable as written, without $refs", () => {
    const { config } = resolve({ client_id: "gateway", realm: "{vault://env/realm}" }, { REALM: "x" });
    assert.deepEqual(config, { client_id: "gateway", client_secret: null, realm: "{vault://env/realm}" });
  });

  it("refuses another vault, or a JSON key inside the variable, rather than misread them", () => {
    for (const [reference, message] of [
      ["{vault://aws/feed-secret}", 'the local stand-in implements only the env vault, not "aws"'],
      ["{vault://env/feed/secret}", "the env vault reference must name one variable"],
    ] as const) {
      assert.throws(
        () => resolve({ client_secret: reference }, {}),
        (error: unknown) => {
          assert.ok(error instanceof PluginConfigError);
          assert.match(error.errors["config.client_secret"] ?? "", new RegExp(`^${message}`.replace(/[()]/g, "\\$&")));
          return true;
        },
      );
    }
  });

  it("recognises references the way Kong's is_reference does", () => {
    assert.equal(isReference("{vault://env/x}"), true);
    assert.equal(isReference("vault://env/x"), false);
    assert.equal(isReference(42), false);
  });
});
