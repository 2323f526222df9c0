// Each oauth2-jwt config in kong.yml, plugin/examples/kong.msgpack.yml and kong.ha.yml is valid for the plugin Kong would load: the schema comes from
// the plugin server's own query command (`oauth2-jwt-pluginserver --dump-all-plugins`, what Kong
// runs as pluginserver_oauth2_jwt_query_cmd), and is checked the way Kong checks it
// (kong-standin/src/wire/schema.ts).
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { PluginConfigError, validatePluginConfig, type PluginInfo } from "../../kong-standin/src/wire/index.ts";
import { DECLARATIVE_FILES, KONG_HA_YML, readKongYml, ROOT, run } from "./helpers.ts";

function dump(): PluginInfo[] {
  const result = run(process.execPath, [join(ROOT, "plugin/bin/oauth2-jwt-pluginserver.js"), "--dump-all-plugins"]);
  assert.equal(result.status, 0, result.stderr);
  const parsed = JSON.parse(result.stdout) as PluginInfo[] | { Plugins: PluginInfo[] };
  return Array.isArray(parsed) ? parsed : parsed.Plugins;
}

describe("the declarative files' oauth2-jwt configs against the plugin's dumped schema", () => {
  const infos = dump();
  const info = infos.find((p) => p.Name === "oauth2-jwt");
  assert.ok(info, "the dump holds oauth2-jwt");

  it("the query command dumps exactly the oauth2-jwt plugin (one plugin per server)", () => {
    assert.deepEqual(
      infos.map((p) => p.Name),
      ["oauth2-jwt"],
    );
  });

  const files = [...DECLARATIVE_FILES, KONG_HA_YML];
  const configs = files.flatMap((file) => {
    const { doc } = readKongYml(file);
    const at = file.slice(ROOT.length + 1);
    return doc.services.flatMap((s) =>
      s.routes.flatMap((r) =>
        (r.plugins ?? [])
          .filter((p) => p.name === "oauth2-jwt")
          .map((p) => ({ route: `${at} ${r.name}`, config: p.config })),
      ),
    );
  });

  it("each file configures the plugin on three routes", () => assert.equal(configs.length, files.length * 3));

  for (const { route, config } of configs) {
    it(`route ${route}: valid, with Kong's defaults filled in`, () => {
      const filled = validatePluginConfig(info, config);
      for (const [key, value] of Object.entries(config)) assert.deepEqual(filled[key], value, key);
      // Defaults the story relies on: identity headers named after Kong's conventions.
      assert.deepEqual(filled["upstream_headers"], {
        subject: "X-Authenticated-Userid",
        scope: "X-Authenticated-Scope",
        client_id: "X-Authenticated-Client-Id",
      });
    });
  }

  it("the same check rejects a broken config (it can fail)", () => {
    const config: Record<string, unknown> = { ...configs[0].config, scopes_required: "photos" };
    delete config["audience"];
    assert.throws(
      () => validatePluginConfig(info, config),
      (err: unknown) => {
        assert.ok(err instanceof PluginConfigError);
        assert.deepEqual(Object.keys(err.errors).sort(), ["config.audience", "config.scopes_required"]);
        return true;
      },
    );
  });
});
