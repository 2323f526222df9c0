import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseKongConfig, type RouteDef } from "../../../kong-standin/src/gateway/config.ts";
import { matchRoute, normalizePath, upstreamPath } from "../../../kong-standin/src/gateway/router.ts";

function routes(yaml: string): RouteDef[] {
  return parseKongConfig(`_format_version: "3.0"\nservices:\n  - name: s\n    url: http://up:1\n    routes:\n${yaml}`)
    .routes;
}

describe("normalizePath (RFC 3986 §6.2.2, before routing as Kong does)", () => {
  const cases: [string, string | undefined][] = [
    ["/flickr/photos", "/flickr/photos"],
    ["/flickr/%70hotos", "/flickr/photos"],
    ["/flickr/%7Euser", "/flickr/~user"],
    ["/flickr/explore/../photos", "/flickr/photos"],
    ["/flickr/explore/%2e%2e/photos", "/flickr/photos"],
    ["/flickr/./photos/.", "/flickr/photos/"],
    ["//flickr///photos", "/flickr/photos"],
    ["/../../etc", "/etc"],
    // Reserved characters stay encoded: %2F is data, not a separator.
    ["/flickr/explore%2F..%2Fphotos", "/flickr/explore%2F..%2Fphotos"],
    ["/a%20b", "/a%20b"],
    ["relative", undefined],
    ["*", undefined],
  ];
  for (const [input, expected] of cases) {
    it(`${input} → ${String(expected)}`, () => assert.equal(normalizePath(input), expected));
  }
});

describe("matchRoute (prefix paths; method-specific first, then longest path)", () => {
  const table = routes(`      - { name: any, paths: [/flickr] }
      - { name: get-photos, paths: [/flickr/photos], methods: [GET] }
      - { name: post-photos, paths: [/flickr/photos], methods: [post] }
      - { name: all-photos, paths: [/flickr/photos/archive] }
`);
  const cases: [string, string, string | undefined][] = [
    ["GET", "/flickr/photos", "get-photos"],
    ["POST", "/flickr/photos", "post-photos"],
    ["DELETE", "/flickr/photos", "any"],
    ["GET", "/flickr/photos/archive", "get-photos"],
    ["PUT", "/flickr/photos/archive", "all-photos"],
    ["GET", "/flickrx", "any"],
    ["GET", "/other", undefined],
  ];
  for (const [method, path, expected] of cases) {
    it(`${method} ${path} → ${String(expected)}`, () =>
      assert.equal(matchRoute(table, method, path)?.route.name, expected));
  }
});

describe("upstreamPath (Kong's get_upstream_uri_v0)", () => {
  const cases: [boolean, string, string, string, string][] = [
    // strip_path, route path, service path, request path, upstream path
    [false, "/flickr/photos", "/", "/flickr/photos", "/flickr/photos"],
    [false, "/flickr/photos", "/", "/flickr/photos/1", "/flickr/photos/1"],
    [false, "/flickr", "/api", "/flickr/photos", "/api/flickr/photos"],
    [false, "/flickr", "/api/", "/flickr/photos", "/api/flickr/photos"],
    [true, "/flickr", "/", "/flickr", "/"],
    [true, "/flickr", "/", "/flickr/photos", "/photos"],
    [true, "/flickr/", "/", "/flickr/photos", "/photos"],
    [true, "/flickr", "/api", "/flickr", "/api"],
    [true, "/flickr", "/api", "/flickr/photos", "/api/photos"],
    [true, "/flickr", "/api/", "/flickr/", "/api/"],
    [true, "/flickr", "/api/", "/flickr", "/api"],
    [true, "/flickr", "/api/", "/flickrx", "/api/x"],
    [true, "/flickr", "/api", "/flickrx", "/api/x"],
  ];
  for (const [strip, routePath, base, path, expected] of cases) {
    it(`strip_path ${strip}, route ${routePath}, service ${base}: ${path} → ${expected}`, () => {
      const [route] = routes(`      - { name: r, paths: ["${routePath}"], strip_path: ${strip} }\n`);
      assert.equal(upstreamPath({ route: route, matchedPath: routePath }, path, base), expected);
    });
  }
});
