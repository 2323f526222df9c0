// The configuration reader (plugin/src/config.ts) on what Kong hands the plugin: Kong-filled
// configurations, the `{}` cjson writes for an empty array, every refusal, and the defaults and
// integer bounds it reads from Kong's schema.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { resolveConfig } from "../../plugin/src/config.ts";
import { Schema } from "../../plugin/src/schema.ts";
import { entries, fillDefaults, SCHEMA_DEFAULTS } from "./helpers/schema.ts";

describe("resolveConfig", () => {
  const minimal = { issuer: "http://localhost:9000", audience: ["http://localhost:8000/flickr"] };

  it("reads a Kong-filled config into the typed options", () => {
    assert.deepEqual(resolveConfig(fillDefaults(minimal)), {
      ok: true,
      warnings: [],
      config: {
        ...SCHEMA_DEFAULTS,
        issuer: "http://localhost:9000",
        audience: ["http://localhost:8000/flickr"],
      },
    });
  });

  it("accepts the `{}` Lua's cjson writes for an empty array, and Kong's extra __ keys", () => {
    const result = resolveConfig({ ...fillDefaults(minimal), scopes_required: {}, __plugin_id: "x", route_id: null });
    assert.equal(result.ok, true);
    assert.deepEqual(result.config.scopes_required, []);
  });

  it("refuses invalid values with an error naming the key", () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ issuer: "not a url" }, "config.issuer must be an http(s) URL"],
      [{ audience: [] }, "config.audience must be a non-empty list of non-empty strings"],
      [{ audience: "x" }, "config.audience must be a non-empty list of non-empty strings"],
      [{ algorithms: ["HS256"] }, "config.algorithms holds an unsupported algorithm: HS256"],
      [{ algorithms: ["none"] }, "config.algorithms holds an unsupported algorithm: none"],
      [{ scope_match: "some" }, "config.scope_match must be `all` or `any`"],
      [{ leeway_seconds: 301 }, "config.leeway_seconds must be an integer between 0 and 300"],
      [{ jwks_min_refresh_seconds: 0 }, "config.jwks_min_refresh_seconds must be an integer between 1 and 3600"],
      [{ scopes_required: ["a b"] }, "config.scopes_required must be a list of RFC 6749 §3.3 scope tokens"],
      [{ upstream_headers: { subject: "X User" } }, "config.upstream_headers.subject must be an HTTP header name"],
      [{ realm: 'a"' }, "config.realm must be a non-empty string without quotes, backslashes or control characters"],
      [{ hide_credentials: "yes" }, "config.hide_credentials must be a boolean"],
      [{ revocation_feed_url: "ftp://x" }, "config.revocation_feed_url must be an http(s) URL or unset"],
      [{ revocation_client_id: "" }, "config.revocation_client_id must be a non-empty string or unset"],
      [
        { revocation_client_id: "gateway" },
        "config.revocation_client_secret must be a non-empty string when revocation_client_id is set",
      ],
      [{ revocation_poll_seconds: 0.05 }, "config.revocation_poll_seconds must be a number between 0.1 and 60"],
      [{ revocation_poll_seconds: "2" }, "config.revocation_poll_seconds must be a number between 0.1 and 60"],
      [
        { revocation_max_stale_seconds: 0.5 },
        "config.revocation_max_stale_seconds must be a number between 1 and 86400",
      ],
      [
        { revocation_poll_seconds: 10, revocation_max_stale_seconds: 5 },
        "config.revocation_max_stale_seconds must be at least revocation_poll_seconds",
      ],
      [{ revocation_stale_action: "ignore" }, "config.revocation_stale_action must be `accept` or `refuse`"],
      [{ authenticate_credential: "yes" }, "config.authenticate_credential must be a boolean"],
      [{ credential_claim: "" }, "config.credential_claim must be a claim name"],
      [{ credential_claim: "a b" }, "config.credential_claim must be a claim name"],
      [{ credential_claim: "x".repeat(65) }, "config.credential_claim must be a claim name"],
      [{ consumer_claim: 7 }, "config.consumer_claim must be a claim name or unset"],
      [{ consumer_claim: "a\nb" }, "config.consumer_claim must be a claim name or unset"],
      [{ consumer_by: "custom_id" }, "config.consumer_by must be `username` or `id`"],
      [{ anonymous: "" }, "config.anonymous must be a non-empty string or unset"],
      [{ anonymous: "x".repeat(256) }, "config.anonymous must be a non-empty string or unset"],
      [{ consumer_cache_seconds: 0 }, "config.consumer_cache_seconds must be an integer between 1 and 3600"],
      [
        {
          authenticate_credential: true,
          upstream_headers: { subject: "x_consumer_username", scope: "X-Scope", client_id: "X-Client" },
        },
        "config.upstream_headers.subject must not be one of Kong's consumer headers when the plugin tells Kong who called",
      ],
      [
        {
          anonymous: "guest",
          upstream_headers: { subject: "X-Sub", scope: "X-Scope", client_id: "X-Credential-Identifier" },
        },
        "config.upstream_headers.client_id must not be one of Kong's consumer headers when the plugin tells Kong who called",
      ],
    ];
    for (const [override, error] of cases) {
      assert.deepEqual(
        resolveConfig({ ...fillDefaults(minimal), ...override }),
        { ok: false, error },
        JSON.stringify(override),
      );
    }
    assert.deepEqual(resolveConfig(null), { ok: false, error: "configuration is not an object" });
  });

  it("reads the revocation feed's fields: on with a client, a fractional poll interval", () => {
    const result = resolveConfig({
      ...fillDefaults(minimal),
      revocation_client_id: "gateway",
      revocation_client_secret: "s3cret",
      revocation_poll_seconds: 0.2,
      revocation_stale_action: "refuse",
    });
    assert.equal(result.ok, true);
    const { revocation_client_id, revocation_client_secret, revocation_poll_seconds, revocation_stale_action } =
      result.config;
    assert.deepEqual(
      { revocation_client_id, revocation_client_secret, revocation_poll_seconds, revocation_stale_action },
      {
        revocation_client_id: "gateway",
        revocation_client_secret: "s3cret",
        revocation_poll_seconds: 0.2,
        revocation_stale_action: "refuse",
      },
    );
  });

  it("a feed credential whose vault reference Kong could not resolve: the feed off under accept (one warning), refused under refuse", () => {
    // What Kong hands the plugin then (kong/db/schema/init.lua resolve_reference): "" and the reference in $refs.
    const unresolved = {
      ...fillDefaults(minimal),
      revocation_client_id: "",
      revocation_client_secret: "",
      $refs: {
        revocation_client_id: "{vault://env/oauth2-jwt-feed-client-id}",
        revocation_client_secret: "{vault://env/oauth2-jwt-feed-secret}",
      },
    };
    const accepted = resolveConfig(unresolved);
    assert.equal(accepted.ok, true);
    assert.equal(accepted.config.revocation_client_id, null);
    assert.equal(accepted.config.revocation_client_secret, null);
    assert.deepEqual(accepted.warnings, [
      "the revocation feed is off: Kong could not resolve the vault reference {vault://env/oauth2-jwt-feed-client-id} of revocation_client_id (revocation_stale_action accept: tokens are accepted as when the feed is unreachable)",
      "the revocation feed is off: Kong could not resolve the vault reference {vault://env/oauth2-jwt-feed-secret} of revocation_client_secret (revocation_stale_action accept: tokens are accepted as when the feed is unreachable)",
    ]);
    // Only the secret's reference unresolved: the feed is off too, never polled with a half credential.
    const secretOnly = resolveConfig({ ...unresolved, revocation_client_id: "gateway" });
    assert.equal(secretOnly.ok, true);
    assert.equal(secretOnly.config.revocation_client_id, null);
    assert.deepEqual(resolveConfig({ ...unresolved, revocation_stale_action: "refuse" }), {
      ok: false,
      error:
        "config.revocation_client_id holds the vault reference {vault://env/oauth2-jwt-feed-client-id}, which Kong could not resolve",
    });
    // Resolved references read as the values they resolved to; "" without a reference is still refused.
    const resolved = resolveConfig({
      ...unresolved,
      revocation_client_id: "gateway",
      revocation_client_secret: "s3cret",
    });
    assert.equal(resolved.ok, true);
    assert.deepEqual([resolved.config.revocation_client_id, resolved.warnings], ["gateway", []]);
    assert.deepEqual(resolveConfig({ ...unresolved, $refs: {} }), {
      ok: false,
      error: "config.revocation_client_id must be a non-empty string or unset",
    });
  });

  it("reads the fields that tell Kong who called", () => {
    const result = resolveConfig({
      ...fillDefaults(minimal),
      authenticate_credential: true,
      credential_claim: "sub",
      consumer_claim: "urn:example:consumer",
      consumer_by: "id",
      anonymous: "guest",
      consumer_cache_seconds: 3600,
    });
    assert.equal(result.ok, true);
    const {
      authenticate_credential,
      credential_claim,
      consumer_claim,
      consumer_by,
      anonymous,
      consumer_cache_seconds,
    } = result.config;
    assert.deepEqual(
      { authenticate_credential, credential_claim, consumer_claim, consumer_by, anonymous, consumer_cache_seconds },
      {
        authenticate_credential: true,
        credential_claim: "sub",
        consumer_claim: "urn:example:consumer",
        consumer_by: "id",
        anonymous: "guest",
        consumer_cache_seconds: 3600,
      },
    );
    // Without any of them, a consumer header may still be configured as an identity header.
    assert.equal(
      resolveConfig({
        ...fillDefaults(minimal),
        upstream_headers: { subject: "X-Consumer-Username", scope: "X-Scope", client_id: "X-Client" },
      }).ok,
      true,
    );
  });

  it("reads every default and integer bound from Kong's schema", () => {
    const minimal = { issuer: "http://localhost:9000", audience: ["http://localhost:8000/flickr"] };
    // config.ts reads its defaults from Schema when a key is missing.
    assert.deepEqual(resolveConfig(minimal), resolveConfig(fillDefaults(minimal)));
    for (const [name, field] of entries(Schema).filter(([, f]) => f.type === "integer")) {
      assert.ok(field.between, name);
      const [min, max] = field.between;
      const results = [min - 1, min, max, max + 1].map(
        (value) => resolveConfig({ ...fillDefaults(minimal), [name]: value }).ok,
      );
      assert.deepEqual(results, [false, true, true, false], name);
    }
  });
});
