import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { effectivePlugins, loadKongConfig, parseKongConfig } from "../../../kong-standin/src/gateway/config.ts";
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
        {
          name: "flickr-photos-write",
          service: "http://photos:8080",
          methods: ["POST"],
          strip: false,
          preserve: false,
          plugins: ["pre-function", "oauth2-jwt"],
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
        ["flickr-photos-write", ["pre-function", "oauth2-jwt", "post-function"]],
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
      [`_format_version: "3.0"\nconsumers: []\n`, /does not implement "consumers"/],
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
