// docker-compose.yml and the Dockerfiles, checked without a Docker engine: Debian's
// docker-compose 1.29.2 must accept the file (`docker-compose config`), and what it resolves must
// hold the Kong settings from the protocol notes, pointing at files the Kong image really has.
import assert from "node:assert/strict";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { resolvedCompose as resolve, ROOT, run, withTempDir, writeFile } from "./helpers.ts";

const resolvedCompose = () => resolve(join(ROOT, "docker-compose.yml"));

describe("docker-compose.yml", () => {
  it("is accepted by `docker-compose config` (1.29.2), and a broken copy is not", () => {
    resolvedCompose();
    const text = readFileSync(join(ROOT, "docker-compose.yml"), "utf8");
    withTempDir((dir) => {
      const broken = writeFile(
        dir,
        "docker-compose.yml",
        text.replace("    restart: unless-stopped\n", "    restart: unless-stopped\n    restarts: 3\n"),
      );
      const result = run("docker-compose", ["-f", broken, "config"], { cwd: dir });
      assert.notEqual(result.status, 0);
      assert.match(result.stderr, /Unsupported config option for services\.authz: 'restarts'/);
    });
  });

  it("runs Kong DB-less with the oauth2-jwt plugin server configured with absolute paths", () => {
    const { services } = resolvedCompose();
    const kong = services["kong"];
    const env = kong.environment;
    assert.ok(env, "kong has an environment");
    const server = "/usr/local/kong-plugins/oauth2-jwt/bin/oauth2-jwt-pluginserver.js";
    assert.deepEqual(
      Object.fromEntries(
        Object.entries(env).filter(
          ([k]) =>
            k.startsWith("KONG_PLUGINSERVER_") ||
            ["KONG_PLUGINS", "KONG_DATABASE", "KONG_DECLARATIVE_CONFIG", "KONG_PROXY_LISTEN"].includes(k),
        ),
      ),
      {
        KONG_DATABASE: "off",
        KONG_DECLARATIVE_CONFIG: "/kong/declarative/kong.yml",
        KONG_PLUGINS: "bundled,oauth2-jwt",
        KONG_PLUGINSERVER_NAMES: "oauth2_jwt",
        KONG_PLUGINSERVER_OAUTH2_JWT_SOCKET: "/usr/local/kong/oauth2_jwt.sock",
        KONG_PLUGINSERVER_OAUTH2_JWT_START_CMD: `/usr/local/bin/node ${server} --kong-prefix /usr/local/kong --sock-name oauth2_jwt.sock`,
        KONG_PLUGINSERVER_OAUTH2_JWT_QUERY_CMD: `/usr/local/bin/node ${server} --dump-all-plugins`,
        KONG_PROXY_LISTEN: "0.0.0.0:8000",
      },
    );
    // The socket Kong connects to is the one the server listens on: <kong-prefix>/<sock-name>.
    assert.equal(env["KONG_PLUGINSERVER_OAUTH2_JWT_SOCKET"], "/usr/local/kong/oauth2_jwt.sock");
    assert.ok((kong.volumes ?? []).some((v) => JSON.stringify(v).includes("/kong/declarative/kong.yml")));
    assert.deepEqual(kong.ports, [{ published: 8000, target: 8000 }]);
    assert.deepEqual(kong.depends_on, {
      authz: { condition: "service_healthy" },
      photos: { condition: "service_healthy" },
    });
    assert.deepEqual(kong.healthcheck?.test, ["CMD", "kong", "health"]);
  });

  it("builds Kong from kong:3.9 with Node.js copied from the official node image, and the paths Kong runs exist in it", () => {
    const { services } = resolvedCompose();
    const { build } = services["kong"];
    assert.ok(build, "kong is built from a Dockerfile");
    const dockerfile = readFileSync(join(ROOT, build.dockerfile), "utf8");
    assert.match(dockerfile, /^FROM kong:3\.9$/m);
    assert.match(dockerfile, /^ARG NODE_IMAGE=node:20-bookworm-slim$/m);
    assert.match(dockerfile, /^COPY --from=node \/usr\/local\/bin\/node \/usr\/local\/bin\/node$/m);
    assert.match(dockerfile, /^COPY --from=build \/out \/usr\/local\/kong-plugins\/oauth2-jwt$/m);
    // /out holds the plugin's bin/ and dist/ and only its production dependencies, installed from
    // the lockfile (the versions the tests ran), without the workspace's dangling self-link.
    assert.match(dockerfile, /^ && npm ci --omit=dev --workspace plugin --ignore-scripts /m);
    assert.match(dockerfile, /cp -r plugin\/bin plugin\/dist plugin\/package\.json node_modules \/out\//);
    assert.match(dockerfile, /find \/out\/node_modules -maxdepth 1 -type l -delete/);
    assert.doesNotMatch(dockerfile, /npm install|--no-package-lock/);
    assert.match(dockerfile, /^USER kong$/m);
  });

  it("keeps the public issuer in tokens while containers use the internal address", () => {
    const { services, volumes } = resolvedCompose();
    const authz = services["authz"];
    assert.deepEqual(authz.command, ["--host", "0.0.0.0", "--port", "9000", "--issuer", "http://localhost:9000"]);
    assert.equal(authz.environment?.["AUTHZ_DB"], "/var/lib/authz/authz.db");
    assert.ok(
      (authz.volumes ?? []).some((v) => JSON.stringify(v).includes("authz-data")),
      "SQLite on a named volume",
    );
    assert.ok("authz-data" in volumes);
    const canon = services["canon"];
    assert.deepEqual(
      {
        issuer: canon.environment?.["AUTHZ_ISSUER"],
        internal: canon.environment?.["AUTHZ_INTERNAL_URL"],
        gateway: canon.environment?.["GATEWAY_URL"],
      },
      { issuer: "http://localhost:9000", internal: "http://authz:9000", gateway: "http://kong:8000" },
    );
    const kongYml = readFileSync(join(ROOT, "kong.yml"), "utf8");
    assert.ok(kongYml.includes("jwks_uri: http://authz:9000/jwks.json"));
    assert.ok(kongYml.includes("issuer: http://localhost:9000"));
  });

  it("publishes the gateway, the sidecar and Canon, but not the photos API", () => {
    const { services } = resolvedCompose();
    const published = Object.fromEntries(Object.entries(services).map(([name, s]) => [name, s.ports ?? []]));
    assert.deepEqual(published, {
      authz: [{ published: 9000, target: 9000 }],
      canon: [{ published: 3000, target: 3000 }],
      kong: [{ published: 8000, target: 8000 }],
      photos: [],
    });
    assert.deepEqual(services["photos"].expose, ["8080"]);
    for (const name of ["authz", "photos", "kong", "canon"])
      assert.ok(services[name].healthcheck !== undefined, `${name} has a health check`);
    assert.deepEqual(services["canon"].depends_on, {
      authz: { condition: "service_healthy" },
      kong: { condition: "service_healthy" },
    });
  });

  it("the volumes are node's (uid 1000) whichever image mounts them first", () => {
    const { services } = resolvedCompose();
    // `docker-compose config` writes each mount as "source:target:mode"; a named volume's source is no path.
    const named = Object.entries(services).flatMap(([name, s]) =>
      (s.volumes ?? []).filter((v) => typeof v === "string" && !v.startsWith("/")).map((v) => `${name} ${String(v)}`),
    );
    assert.deepEqual(named.sort(), [
      "authz authz-data:/var/lib/authz:rw",
      "authz demo-credentials:/run/demo:rw",
      "canon demo-credentials:/run/demo:ro",
    ]);
    const authz = readFileSync(join(ROOT, "docker/authz-server/Dockerfile"), "utf8");
    const examples = readFileSync(join(ROOT, "docker/examples/Dockerfile"), "utf8");
    assert.match(
      authz,
      /^RUN mkdir -p \/var\/lib\/authz \/run\/demo && chown node:node \/var\/lib\/authz \/run\/demo && chmod 0700 \/var\/lib\/authz /m,
    );
    assert.match(examples, /^RUN mkdir -p \/run\/demo && chown node:node \/run\/demo$/m);
    for (const text of [authz, examples]) assert.match(text, /^USER node$/m);
  });

  it("the sidecar's entrypoint is valid POSIX sh, executable, seeds only when asked, and execs the server", () => {
    const entrypoint = join(ROOT, "docker/authz-server/entrypoint.sh");
    const check = run("sh", ["-n", entrypoint]);
    assert.equal(check.status, 0, check.stderr);
    assert.equal(statSync(entrypoint).mode & 0o111, 0o111);
    const text = readFileSync(entrypoint, "utf8");
    // The database exists before anything else runs: every command but init and serve refuses a missing one.
    assert.match(
      text,
      /^set -eu\nnode \/app\/authz-server\/bin\/authz-server\.js init --db "\$AUTHZ_DB"\nif \[ "\$\{DEMO_SEED:-0\}" = "1" \]; then$/m,
    );
    assert.match(text, /^exec node \/app\/authz-server\/bin\/authz-server\.js serve --db "\$AUTHZ_DB" "\$@"$/m);
    const dockerfile = readFileSync(join(ROOT, "docker/authz-server/Dockerfile"), "utf8");
    // The paths the entrypoint runs are the ones the image holds.
    assert.match(dockerfile, /^COPY --from=build \/app\/authz-server\/bin authz-server\/bin$/m);
    assert.match(dockerfile, /^COPY scripts\/seed-demo\.mjs scripts\/$/m);
    assert.match(dockerfile, /^WORKDIR \/app$/m);
  });
});
