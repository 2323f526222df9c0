import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  declarativeConsumerId,
  effectivePlugins,
  loadKongConfig,
  parseKongConfig,
  uuidV5,
} from "../../../kong-standin/src/gateway/config.ts";
import { parseRateLimitingConfig } from "../../../kong-standin/src/gateway/rate-limiting.ts";
import { mapPluginConfig, mapUrl } from "../../../kong-standin/src/gateway/hosts.ts";
import { KONG_MSGPACK_YML, KONG_YML } from "./helpers.ts";

describe("kong.yml loading", () => {
  it("reads the real kong.yml into routes with Kong's defaults", () => {
    const config = loadKongConfig(KONG_YML);
    assert.deepEqual(
      config.routes.map((r) => ({
        name: r.name,
        service: r.service.url,
        methods: r.methods,
        strip: r.stripPath,
        preserve: r.preserveHost,
        plugins: effectivePlugins(r, config.globalPlugins).map((p) => p.name),
      })),
      [
        // The service's pre-function (identity-header stripping) runs on every route.
        {
          name: "flickr-photos-read",
          service: "http://photos:8080",
          methods: ["GET"],
          strip: false,
          preserve: false,
          plugins: ["pre-function", "oauth2-jwt"],
        },
        // Uploads are limited per user: Kong's rate-limiting counts the credential oauth2-jwt authenticated.
        {
          name: "flickr-photos-write",
          service: "http://photos:8080",
          methods: ["POST"],
          strip: false,
          preserve: false,
          plugins: ["pre-function", "oauth2-jwt", "rate-limiting"],
        },
        {
          name: "flickr-profile",
          service: "http://photos:8080",
          methods: ["GET"],
          strip: false,
          preserve: false,
          plugins: ["pre-function", "oauth2-jwt"],
        },
        {
          name: "flickr-explore",
          service: "http://photos:8080",
          methods: ["GET"],
          strip: false,
          preserve: false,
          plugins: ["pre-function"],
        },
      ],
    );
  });

  it("reads the MsgPack file: a protected route's own pre-function (stripping + guard) replaces the service's", () => {
    const config = loadKongConfig(KONG_MSGPACK_YML);
    const service = config.services[0].plugins[0];
    assert.deepEqual(
      config.routes.map((r) => [
        r.name,
        effectivePlugins(r, config.globalPlugins).map((p) => `${p.name}${p === service ? " (service)" : ""}`),
      ]),
      [
        ["flickr-photos-read", ["pre-function", "oauth2-jwt", "post-function"]],
        ["flickr-photos-write", ["pre-function", "oauth2-jwt", "rate-limiting", "post-function"]],
        ["flickr-profile", ["pre-function", "oauth2-jwt", "post-function"]],
        ["flickr-explore", ["pre-function (service)"]],
      ],
    );
  });

  it("refuses what the stand-in does not implement instead of ignoring it", () => {
    const base = `_format_version: "3.0"\nservices:\n  - name: s\n    url: http://up:1\n    routes:\n`;
    const cases: [string, RegExp][] = [
      [`_format_version: "1.1"\n`, /_format_version must be "3.0"/],
      [`${base}      - { name: r, paths: [/a], hosts: [x.example] }\n`, /does not implement "hosts"/],
      [`${base}      - { name: r, paths: ["~/a$"] }\n`, /regex paths are not implemented/],
      [`${base}      - { name: r, paths: [/a], path_handling: v1 }\n`, /only path_handling v0/],
      [`${base}      - { name: r, paths: [/a], plugins: [{ name: x, enabled: false }] }\n`, /disabled plugins/],
      [
        `${base}      - { name: r, paths: [/a], protocols: [https] }\n`,
        /routes\[0\]\.protocols: the local stand-in serves plain http only/,
      ],
      [
        `${base}      - { name: r, paths: [/a], plugins: [{ name: x, protocols: [https, grpcs] }] }\n`,
        /plugins\[0\]\.protocols: the local stand-in serves plain http only/,
      ],
      [`_format_version: "3.0"\nconsumers: [{ username: a, jwt_secrets: [] }]\n`, /does not implement "jwt_secrets"/],
      [`_format_version: "3.0"\nplugins: [{ name: x, route: r }]\n`, /does not implement "route"/],
    ];
    for (const [text, message] of cases) assert.throws(() => parseKongConfig(text), message);
    // A list that includes http is Kong's own default and is served as written.
    assert.equal(
      parseKongConfig(
        `${base}      - { name: r, paths: [/a], protocols: [http, https], plugins: [{ name: x, protocols: [http] }] }\n`,
      ).routes.length,
      1,
    );
  });

  it("applies route over service over global plugin configs, as Kong does", () => {
    const config = parseKongConfig(`_format_version: "3.0"
plugins: [{ name: a, config: { from: global } }, { name: b, config: { from: global } }]
services:
  - name: s
    url: http://up:1
    plugins: [{ name: b, config: { from: service } }, { name: c, config: { from: service } }]
    routes:
      - name: r
        paths: [/]
        plugins: [{ name: c, config: { from: route } }]
`);
    assert.deepEqual(
      effectivePlugins(config.routes[0], config.globalPlugins).map((p) => [p.name, p.config["from"]]),
      [
        ["a", "global"],
        ["b", "service"],
        ["c", "route"],
      ],
    );
  });
});

describe("kong.yml consumers", () => {
  const consumers = (list: string) => parseKongConfig(`_format_version: "3.0"\nconsumers:\n${list}`).consumers;

  it("reads username, custom_id, id and tags; an absent id is the UUID Kong's declarative loader derives from the username", () => {
    const [alice, given, crm] = consumers(
      `  - { username: alice, custom_id: crm-1, tags: [staff] }
  - { username: bob, id: 0b6a0f7e-3c1d-4e2f-9a8b-7c6d5e4f3a2b }
  - { custom_id: crm-2 }
`,
    );
    // declarative_config.lua generate_ids: UUIDv5(UUIDv5(fd02801f-…, "consumers"), username).
    assert.equal(alice.id, "b32379d9-3d28-5683-a79c-72139be6e34f");
    assert.equal(declarativeConsumerId("alice"), alice.id);
    assert.deepEqual(
      { ...alice, created_at: 0, updated_at: 0 },
      {
        id: "b32379d9-3d28-5683-a79c-72139be6e34f",
        username: "alice",
        custom_id: "crm-1",
        tags: ["staff"],
        created_at: 0,
        updated_at: 0,
      },
    );
    assert.equal(given.id, "0b6a0f7e-3c1d-4e2f-9a8b-7c6d5e4f3a2b");
    // Only a custom_id: no key for a deterministic id, so a random one (process_auto_fields).
    assert.match(crm.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(typeof alice.created_at, "number");
  });

  it("computes version 5 UUIDs as lua-resty-jit-uuid's factory_v5 (its documented examples)", () => {
    assert.equal(uuidV5("e6ebd542-06ae-11e6-8e82-bba81706b27d", "hello"), "4850816f-1658-5890-8bfd-1ed14251f1f0");
    assert.equal(uuidV5("e6ebd542-06ae-11e6-8e82-bba81706b27d", "foobar"), "c9be99fc-326b-5066-bdba-dcd31a6d01ab");
  });

  it("refuses consumers Kong would refuse, and consumer features the stand-in does not implement", () => {
    const cases: [string, RegExp][] = [
      [
        "  - { tags: [x] }\n",
        /consumers\[0\]: at least one of these fields must be non-empty: 'custom_id', 'username'/,
      ],
      ['  - { username: "" }\n', /consumers\[0\]\.username: expected a non-empty string/],
      ["  - { username: 7 }\n", /consumers\[0\]\.username: expected a non-empty string/],
      ["  - { username: a, id: not-a-uuid }\n", /consumers\[0\]\.id: expected a valid UUID/],
      ["  - { username: a }\n  - { username: a }\n", /consumers\[1\]\.username: "a" is not unique/],
      [
        "  - { username: a, custom_id: c }\n  - { username: b, custom_id: c }\n",
        /consumers\[1\]\.custom_id: "c" is not unique/,
      ],
      [
        "  - { username: a, id: 0b6a0f7e-3c1d-4e2f-9a8b-7c6d5e4f3a2b }\n  - { username: b, id: 0b6a0f7e-3c1d-4e2f-9a8b-7c6d5e4f3a2b }\n",
        /consumers\[1\]\.id: "0b6a0f7e-3c1d-4e2f-9a8b-7c6d5e4f3a2b" is not unique/,
      ],
      ["  - { username: a, tags: x }\n", /consumers\[0\]\.tags: expected a list of strings/],
      ["  - { username: a, plugins: [] }\n", /consumers\[0\]: the local stand-in does not implement "plugins"/],
      ["  - { username: a, keyauth_credentials: [{ key: k }] }\n", /does not implement "keyauth_credentials"/],
      ["  - nope\n", /consumers\[0\]: expected an object/],
    ];
    for (const [list, message] of cases) assert.throws(() => consumers(list), message);
    assert.throws(() => parseKongConfig(`_format_version: "3.0"\nconsumers: {}\n`), /consumers: expected a list/);
  });
});

describe("kong.yml rate-limiting plugins", () => {
  const route = (config: string) =>
    parseKongConfig(`_format_version: "3.0"
services:
  - name: s
    url: http://up:1
    routes:
      - name: r
        paths: [/]
        plugins: [{ name: rate-limiting, config: ${config} }]
`);

  it("accepts Kong's schema with its defaults", () => {
    const config = route("{ minute: 5, limit_by: credential }").routes[0]?.plugins[0]?.config ?? {};
    assert.deepEqual(parseRateLimitingConfig("r", config), {
      limits: { minute: 5 },
      limitBy: "credential",
      hideClientHeaders: false,
      errorCode: 429,
      errorMessage: "API rate limit exceeded",
    });
    assert.deepEqual(
      parseRateLimitingConfig("r", {
        second: 1,
        hour: 100,
        day: 1000,
        policy: "local",
        hide_client_headers: true,
        error_code: 503,
        error_message: "slow down",
        fault_tolerant: false,
      }),
      {
        limits: { second: 1, hour: 100, day: 1000 },
        limitBy: "consumer",
        hideClientHeaders: true,
        errorCode: 503,
        errorMessage: "slow down",
      },
    );
  });

  it("refuses what Kong's schema refuses and what the stand-in does not implement", () => {
    const cases: [string, RegExp][] = [
      [
        "{}",
        /at least one of these fields must be non-empty: 'config.second', 'config.minute', 'config.hour', 'config.day', 'config.month', 'config.year'/,
      ],
      ["{ limit_by: ip }", /at least one of these fields must be non-empty/],
      ["{ minute: 0 }", /config\.minute: value must be greater than 0/],
      ["{ minute: -1 }", /config\.minute: value must be greater than 0/],
      ['{ minute: "5" }', /config\.minute: expected a number/],
      ["{ minute: 10, hour: 5 }", /The limit for hour\(5\.0\) cannot be lower than the limit for minute\(10\.0\)/],
      [
        "{ minute: 5, limit_by: user }",
        /config\.limit_by: expected one of: consumer, credential, ip, service, header, path/,
      ],
      ["{ minute: 5, limit_by: header, header_name: x-user }", /"header" is not implemented by the local stand-in/],
      ["{ minute: 5, limit_by: service }", /"service" is not implemented by the local stand-in/],
      ["{ minute: 5, policy: redis }", /only the "local" policy is implemented/],
      ["{ minute: 5, policy: cluster }", /only the "local" policy is implemented/],
      ["{ minute: 5, policy: memcached }", /config\.policy: expected one of: local, cluster, redis/],
      ["{ minute: 5, sync_rate: 1 }", /sync_rate can only be used with the redis policy/],
      ["{ minute: 5, error_code: 0 }", /config\.error_code: value must be greater than 0/],
      ["{ minute: 5, hide_client_headers: yes please }", /config\.hide_client_headers: expected a boolean/],
      ["{ minute: 5, per_user: true }", /config\.per_user: unknown field/],
    ];
    for (const [config, message] of cases) assert.throws(() => route(config), message);
  });
});

describe("host table (Docker names → local addresses)", () => {
  const table = {
    "photos:8080": "127.0.0.1:18080",
    "authz:9000": "127.0.0.1:19000",
    "localhost:9000": "localhost:19000",
  };
  it("maps host:port and keeps everything else as written", () => {
    assert.equal(mapUrl("http://photos:8080", table), "http://127.0.0.1:18080");
    assert.equal(mapUrl("http://authz:9000/jwks.json", table), "http://127.0.0.1:19000/jwks.json");
    assert.equal(mapUrl("http://localhost:9000", table), "http://localhost:19000");
    assert.equal(mapUrl("http://authz:9001/jwks.json", table), "http://authz:9001/jwks.json");
    assert.equal(mapUrl("https://photos:8080/x", table), "https://127.0.0.1:18080/x");
    assert.equal(mapUrl("not a url", table), "not a url");
  });
  it("rewrites only the plugin's URL fields", () => {
    assert.deepEqual(
      mapPluginConfig(
        {
          issuer: "http://localhost:9000",
          jwks_uri: "http://authz:9000/jwks.json",
          audience: ["http://localhost:9000"],
          realm: "http://authz:9000",
        },
        table,
      ),
      {
        issuer: "http://localhost:19000",
        jwks_uri: "http://127.0.0.1:19000/jwks.json",
        audience: ["http://localhost:9000"],
        realm: "http://authz:9000",
      },
    );
  });
});
