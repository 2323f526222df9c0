// The shipped declarative files: kong.yml (the plugin server's default ProtoBuf:1, where Kong fails
// closed by itself: no guard) and plugin/examples/kong.msgpack.yml (MsgPack:1, where Kong fails
// open: the fail-closed guard on every protected route). Debian's deck accepts both, their Lua
// compiles, their routes carry the scopes the story needs, and every snippet is byte for byte its
// one source in plugin/guard/, which names the constants plugin/src/guard/index.ts holds.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  IDENTITY_HEADER_NAMES,
  IDENTITY_HEADER_PREFIXES,
  MAX_REQUEST_HEADERS,
  NONCE_HEADER,
  RETRY_AFTER_SECONDS,
  SHARED_NONCE_KEY,
  VERDICT_HEADER,
} from "../../plugin/src/guard/index.ts";
import { POST_FUNCTION_LUA, PRE_FUNCTION_LUA, STRIP_IDENTITY_HEADERS_LUA } from "../../plugin/src/guard/snippets.ts";
import {
  DECLARATIVE_FILES,
  KONG_HA_YML,
  KONG_MSGPACK_YML,
  KONG_YML,
  readKongYml,
  run,
  serverlessSnippets,
  withTempDir,
  writeFile,
  type KongYml,
} from "./helpers.ts";

/** Each route's name, paths, methods, strip_path, plugin names and required scopes. */
function routeSummary(doc: KongYml) {
  return doc.services[0].routes.map((r) => ({
    name: r.name,
    paths: r.paths,
    methods: r.methods,
    strip_path: r.strip_path,
    plugins: (r.plugins ?? []).map((p) => p.name),
    scopes: (r.plugins ?? []).find((p) => p.name === "oauth2-jwt")?.config["scopes_required"] ?? null,
  }));
}

/** Each route and, besides oauth2-jwt on the protected ones, Kong's bundled plugins it carries. */
const ROUTES = [
  { name: "flickr-photos-read", paths: ["/flickr/photos"], methods: ["GET"], strip_path: false, scopes: ["photos"] },
  {
    name: "flickr-photos-write",
    paths: ["/flickr/photos"],
    methods: ["POST"],
    strip_path: false,
    scopes: ["photos:write"],
    bundled: ["rate-limiting"],
  },
  { name: "flickr-profile", paths: ["/flickr/profile"], methods: ["GET"], strip_path: false, scopes: ["profile"] },
  { name: "flickr-explore", paths: ["/flickr/explore"], methods: ["GET"], strip_path: false, scopes: null },
];

describe("the declarative files", () => {
  for (const file of [...DECLARATIVE_FILES, KONG_HA_YML]) {
    it(`${file.slice(file.lastIndexOf("/") + 1)} passes \`deck validate\` (Debian's deck 1.4.0)`, () => {
      const result = run("deck", ["validate", "-s", file]);
      assert.equal(result.stderr, "");
      assert.equal(result.status, 0);
    });
  }

  it("deck validate does reject a broken copy (the check can fail)", () => {
    const { text } = readKongYml(KONG_MSGPACK_YML);
    withTempDir((dir) => {
      const broken = writeFile(dir, "kong.yml", text.replace("strip_path: false", "strip_paths: false"));
      const result = run("deck", ["validate", "-s", broken]);
      assert.equal(result.status, 1);
      assert.match(result.stderr, /Additional property strip_paths is not allowed/);
    });
  });

  it("every Lua snippet compiles with luajit -bl, and a broken one does not", () => {
    const snippets = [...DECLARATIVE_FILES, KONG_HA_YML].flatMap((file) => serverlessSnippets(readKongYml(file).doc));
    // kong.yml: the service's stripping; the MsgPack file: the same, plus three protected routes ×
    // (stripping + guard part 1, guard part 2); kong.ha.yml: the service's stripping.
    assert.equal(snippets.length, 1 + 1 + 3 * 3 + 1);
    withTempDir((dir) => {
      for (const s of snippets) {
        const file = writeFile(dir, "snippet.lua", s.code);
        const result = run("luajit", ["-bl", file]);
        assert.equal(result.status, 0, `${s.where}: ${result.stderr}`);
      }
      const broken = writeFile(dir, "broken.lua", STRIP_IDENTITY_HEADERS_LUA.replace("then\n  return", "\n  return"));
      const result = run("luajit", ["-bl", broken]);
      assert.equal(result.status, 1);
      assert.match(result.stderr, /'then' expected/);
    });
  });

  it("kong.yml: the flickr service strips identity headers; each protected route carries oauth2-jwt alone (ProtoBuf:1 fails closed)", () => {
    const { doc, text } = readKongYml(KONG_YML);
    assert.equal(doc._format_version, "3.0");
    assert.deepEqual(
      doc.services.map((s) => ({ name: s.name, url: s.url, plugins: (s.plugins ?? []).map((p) => p.name) })),
      [{ name: "flickr", url: "http://photos:8080", plugins: ["pre-function"] }],
    );
    assert.deepEqual(
      routeSummary(doc),
      ROUTES.map(({ bundled, ...r }) => ({
        ...r,
        plugins: r.scopes === null ? [] : ["oauth2-jwt", ...(bundled ?? [])],
      })),
    );
    assert.ok(!text.includes(NONCE_HEADER) && !text.includes(SHARED_NONCE_KEY), "no trace of the guard");
  });

  it("kong.msgpack.yml: the same service and routes, each protected one inside the fail-closed guard", () => {
    const shipped = readKongYml(KONG_YML).doc;
    const { doc } = readKongYml(KONG_MSGPACK_YML);
    assert.equal(doc._format_version, "3.0");
    assert.deepEqual(
      doc.services.map((s) => ({ name: s.name, url: s.url, plugins: s.plugins })),
      shipped.services.map((s) => ({ name: s.name, url: s.url, plugins: s.plugins })),
    );
    assert.deepEqual(
      routeSummary(doc),
      ROUTES.map(({ bundled, ...r }) => ({
        ...r,
        plugins: r.scopes === null ? [] : ["pre-function", "oauth2-jwt", ...(bundled ?? []), "post-function"],
      })),
    );
    // The oauth2-jwt configs are kong.yml's, entry for entry.
    const configs = (d: KongYml) =>
      d.services[0].routes.map((r) => r.plugins?.find((p) => p.name === "oauth2-jwt") ?? null);
    assert.deepEqual(configs(doc), configs(shipped));
  });

  it("kong.ha.yml: kong.yml's flickr service and routes first, oauth2-jwt alone on each protected one; then the issuer's service", () => {
    const shipped = readKongYml(KONG_YML).doc;
    const { doc, text } = readKongYml(KONG_HA_YML);
    assert.equal(doc._format_version, "3.0");
    assert.deepEqual(
      doc.services.map((s) => ({ name: s.name, url: s.url, plugins: s.plugins })),
      [
        ...shipped.services.map((s) => ({ name: s.name, url: s.url, plugins: s.plugins })),
        { name: "authz", url: "http://authz-sidecars", plugins: undefined },
      ],
    );
    assert.deepEqual(routeSummary(doc), routeSummary(shipped));
    assert.ok(!text.includes(NONCE_HEADER) && !text.includes(SHARED_NONCE_KEY), "no trace of the guard");
  });

  it("kong.ha.yml: every oauth2-jwt config is kong.yml's with the issuer, its keys and its revocation feed served through Kong", () => {
    const configs = (d: KongYml) =>
      d.services[0].routes.map((r) => r.plugins?.find((p) => p.name === "oauth2-jwt")?.config ?? null);
    const throughKong = configs(readKongYml(KONG_YML).doc).map((c) =>
      c === null
        ? null
        : {
            ...c,
            issuer: "http://localhost:8000",
            jwks_uri: "http://kong:8000/jwks.json",
            revocation_feed_url: "http://kong:8000/revocations",
          },
    );
    assert.deepEqual(configs(readKongYml(KONG_HA_YML).doc), throughKong);
  });

  it("every file limits uploads per user: oauth2-jwt tells Kong the token's sub as the credential, rate-limiting counts per credential", () => {
    for (const file of DECLARATIVE_FILES) {
      const write = readKongYml(file).doc.services[0].routes.find((r) => r.name === "flickr-photos-write");
      const plugin = (name: string) => write?.plugins?.find((p) => p.name === name)?.config;
      assert.equal(plugin("oauth2-jwt")?.["authenticate_credential"], true, file);
      assert.equal(plugin("oauth2-jwt")?.["credential_claim"], "sub", file);
      assert.deepEqual(plugin("rate-limiting"), { minute: 30, limit_by: "credential", policy: "local" }, file);
    }
  });

  it("every oauth2-jwt config names the public issuer, the internal jwks_uri and revocation feed, and the photos audience", () => {
    for (const file of DECLARATIVE_FILES) {
      const { doc } = readKongYml(file);
      for (const route of doc.services[0].routes) {
        for (const plugin of route.plugins ?? []) {
          if (plugin.name !== "oauth2-jwt") continue;
          // The route's scopes, and the credential the upload limit counts by (checked above), vary by route.
          const perRoute = ["scopes_required", "authenticate_credential", "credential_claim"];
          const rest = Object.fromEntries(Object.entries(plugin.config).filter(([key]) => !perRoute.includes(key)));
          assert.deepEqual(
            rest,
            {
              issuer: "http://localhost:9000",
              jwks_uri: "http://authz:9000/jwks.json",
              audience: ["http://localhost:8000/flickr"],
              revocation_feed_url: "http://authz:9000/revocations",
              // The feed's credential as Kong vault references, never the values (the file's header).
              revocation_client_id: "{vault://env/oauth2-jwt-feed-client-id}",
              revocation_client_secret: "{vault://env/oauth2-jwt-feed-secret}",
            },
            `${file}: ${route.name}`,
          );
        }
      }
    }
  });

  it("their snippets are byte for byte plugin/guard/*.lua: the stripping first in every pre-function, then the guard", () => {
    const expected: Record<string, string> = {
      "service flickr pre-function access[0]": STRIP_IDENTITY_HEADERS_LUA,
    };
    for (const route of ["flickr-photos-read", "flickr-photos-write", "flickr-profile"]) {
      expected[`route ${route} pre-function access[0]`] = STRIP_IDENTITY_HEADERS_LUA;
      expected[`route ${route} pre-function access[1]`] = PRE_FUNCTION_LUA;
      expected[`route ${route} post-function access[0]`] = POST_FUNCTION_LUA;
    }
    const actual = (file: string) =>
      Object.fromEntries(serverlessSnippets(readKongYml(file).doc).map((s) => [s.where, s.code]));
    assert.deepEqual(actual(KONG_YML), { "service flickr pre-function access[0]": STRIP_IDENTITY_HEADERS_LUA });
    assert.deepEqual(actual(KONG_HA_YML), { "service flickr pre-function access[0]": STRIP_IDENTITY_HEADERS_LUA });
    assert.deepEqual(actual(KONG_MSGPACK_YML), expected);
  });

  it("the guard's Lua names the header names, shared key and limits of plugin/src/guard/index.ts", () => {
    for (const name of [NONCE_HEADER, VERDICT_HEADER]) {
      assert.ok(PRE_FUNCTION_LUA.includes(`"${name.toLowerCase()}"`), `pre-function folds ${name}`);
      assert.ok(POST_FUNCTION_LUA.includes(`clear_header("${name}")`), `post-function clears ${name}`);
    }
    assert.ok(PRE_FUNCTION_LUA.includes(`kong.ctx.shared.${SHARED_NONCE_KEY} = nonce`));
    assert.ok(PRE_FUNCTION_LUA.includes(`set_header("${NONCE_HEADER}", nonce)`));
    assert.ok(POST_FUNCTION_LUA.includes(`local expected = kong.ctx.shared.${SHARED_NONCE_KEY}`));
    assert.ok(POST_FUNCTION_LUA.includes(`get_header("${VERDICT_HEADER}")`));
    assert.ok(POST_FUNCTION_LUA.includes(`{ ["Retry-After"] = "${RETRY_AFTER_SECONDS}" }`));
    for (const lua of [PRE_FUNCTION_LUA, STRIP_IDENTITY_HEADERS_LUA]) {
      assert.ok(lua.includes(`kong.request.get_headers(${String(MAX_REQUEST_HEADERS)})`));
    }
  });

  it("the stripping's Lua names exactly the identity header families of plugin/src/guard/index.ts", () => {
    const prefixes = [...STRIP_IDENTITY_HEADERS_LUA.matchAll(/folded:find\("\^([^"]+)"\)/g)].map((m) =>
      m[1].replaceAll("%-", "-"),
    );
    const names = [...STRIP_IDENTITY_HEADERS_LUA.matchAll(/folded == "([^"]+)"/g)].map((m) => m[1]);
    assert.deepEqual(prefixes, IDENTITY_HEADER_PREFIXES);
    assert.deepEqual(names, IDENTITY_HEADER_NAMES);
  });
});
