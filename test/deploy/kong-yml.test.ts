// kong.yml: Debian's deck accepts it, its guard Lua compiles, its routes carry the scopes the
// story needs, and its guard snippets are exactly what the local stand-in mirrors.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { NONCE_HEADER as PLUGIN_NONCE, VERDICT_HEADER as PLUGIN_VERDICT, SHARED_NONCE_KEY as PLUGIN_SHARED } from "../../plugin/src/guard.ts";
import {
  NONCE_HEADER,
  POST_FUNCTION_LUA,
  PRE_FUNCTION_LUA,
  SHARED_NONCE_KEY,
  VERDICT_HEADER,
} from "../../kong-standin/src/gateway/guard.ts";
import { guardSnippets, KONG_YML, readKongYml, run, withTempDir, writeFile } from "./helpers.ts";

describe("kong.yml", () => {
  it("passes `deck validate` (Debian's deck 1.4.0)", () => {
    const result = run("deck", ["validate", "-s", KONG_YML]);
    assert.equal(result.stderr, "");
    assert.equal(result.status, 0);
  });

  it("deck validate does reject a broken copy (the check can fail)", () => {
    const { text } = readKongYml();
    withTempDir((dir) => {
      const broken = writeFile(dir, "kong.yml", text.replace("strip_path: false", "strip_paths: false"));
      const result = run("deck", ["validate", "-s", broken]);
      assert.equal(result.status, 1);
      assert.match(result.stderr, /Additional property strip_paths is not allowed/);
    });
  });

  it("every guard snippet compiles with luajit -bl, and a broken one does not", () => {
    const { doc } = readKongYml();
    const snippets = guardSnippets(doc);
    assert.equal(snippets.length, 6); // three protected routes × (pre, post)
    withTempDir((dir) => {
      for (const s of snippets) {
        const file = writeFile(dir, "snippet.lua", s.code);
        const result = run("luajit", ["-bl", file]);
        assert.equal(result.status, 0, `${s.where}: ${result.stderr}`);
      }
      const broken = writeFile(dir, "broken.lua", PRE_FUNCTION_LUA.replace("then\n  return", "\n  return"));
      const result = run("luajit", ["-bl", broken]);
      assert.equal(result.status, 1);
      assert.match(result.stderr, /'then' expected/);
    });
  });

  it("declares the flickr service and the story's routes, each protected one with its scope", () => {
    const { doc } = readKongYml();
    assert.equal(doc._format_version, "3.0");
    assert.equal(doc.services.length, 1);
    const service = doc.services[0]!;
    assert.equal(service.name, "flickr");
    assert.equal(service.url, "http://photos:8080");
    const summary = service.routes.map((r) => ({
      name: r.name,
      paths: r.paths,
      methods: r.methods,
      strip_path: r.strip_path,
      plugins: (r.plugins ?? []).map((p) => p.name),
      scopes: (r.plugins ?? []).find((p) => p.name === "oauth2-jwt")?.config["scopes_required"] ?? null,
    }));
    const guarded = ["pre-function", "oauth2-jwt", "post-function"];
    assert.deepEqual(summary, [
      { name: "flickr-photos-read", paths: ["/flickr/photos"], methods: ["GET"], strip_path: false, plugins: guarded, scopes: ["photos"] },
      { name: "flickr-photos-write", paths: ["/flickr/photos"], methods: ["POST"], strip_path: false, plugins: guarded, scopes: ["photos:write"] },
      { name: "flickr-profile", paths: ["/flickr/profile"], methods: ["GET"], strip_path: false, plugins: guarded, scopes: ["profile"] },
      { name: "flickr-explore", paths: ["/flickr/explore"], methods: ["GET"], strip_path: false, plugins: [], scopes: null },
    ]);
  });

  it("every oauth2-jwt config names the public issuer, the internal jwks_uri and the photos audience", () => {
    const { doc } = readKongYml();
    for (const route of doc.services[0]!.routes) {
      for (const plugin of route.plugins ?? []) {
        if (plugin.name !== "oauth2-jwt") continue;
        const { scopes_required: _scopes, ...rest } = plugin.config;
        assert.deepEqual(rest, {
          issuer: "http://localhost:9000",
          jwks_uri: "http://authz:9000/jwks.json",
          audience: ["http://localhost:8000/flickr"],
        }, route.name);
      }
    }
  });

  it("its guard snippets are byte for byte the Lua the stand-in mirrors", () => {
    const { doc } = readKongYml();
    for (const s of guardSnippets(doc)) {
      assert.equal(s.code, s.plugin === "pre-function" ? PRE_FUNCTION_LUA : POST_FUNCTION_LUA, s.where);
    }
  });

  it("the guard's header names and shared key agree with the plugin's (contract 3)", () => {
    assert.deepEqual([NONCE_HEADER, VERDICT_HEADER, SHARED_NONCE_KEY], [PLUGIN_NONCE, PLUGIN_VERDICT, PLUGIN_SHARED]);
    for (const name of [NONCE_HEADER, VERDICT_HEADER]) {
      assert.ok(PRE_FUNCTION_LUA.includes(name.toLowerCase()), `pre-function folds ${name}`);
      assert.ok(POST_FUNCTION_LUA.includes(`"${name}"`), `post-function clears ${name}`);
    }
    assert.ok(PRE_FUNCTION_LUA.includes(`kong.ctx.shared.${SHARED_NONCE_KEY} = nonce`));
    assert.ok(POST_FUNCTION_LUA.includes(`kong.ctx.shared.${SHARED_NONCE_KEY}`));
  });
});
