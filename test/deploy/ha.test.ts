// docker-compose.ha.yml and kong.ha.yml, checked without a Docker engine: Debian's docker-compose 1.29.2 accepts the
// compose file (`docker-compose config`), and what it resolves describes several authorization-server nodes that are
// one issuer: the same PostgreSQL database, key-encryption key and issuer URL on every sidecar, that URL served by
// Kong, whose upstream balances over exactly those sidecars with health checks on the route the server answers
// readiness on. kong.ha.yml's deck, Lua and plugin-schema checks are kong.yml's (kong-yml.test.ts,
// plugin-config.test.ts). The sidecar's entrypoint runs for real on a PostgreSQL cluster that checks passwords: the
// database password reaches it from the secret's file, never through the URL.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { startTestPostgres, type TestPostgres } from "../helpers/postgres.ts";
import {
  KONG_HA_YML,
  readKongYml,
  resolvedCompose,
  ROOT,
  run,
  withTempDir,
  writeFile,
  type ComposeService,
  type ResolvedCompose,
} from "./helpers.ts";

const COMPOSE_HA_YML = join(ROOT, "docker-compose.ha.yml");
const SIDECAR_DOCKERFILE = "docker/authz-server/Dockerfile";
const ENTRYPOINT = join(ROOT, "docker/authz-server/entrypoint.sh");
const ROLE = "authz_entrypoint";
const PASSWORD = randomBytes(12).toString("hex");

/** The paths the authorization server routes (authz-server/src/app.ts), read from its router. */
function serverPaths(): string[] {
  const app = readFileSync(join(ROOT, "authz-server/src/app.ts"), "utf8");
  return [...app.matchAll(/router\.(?:get|post)\("([^"]+)"/g)].map((m) => m[1]);
}

/** The value after `flag` in a command line. */
function flag(command: readonly string[] | undefined, name: string): string | undefined {
  const at = (command ?? []).indexOf(name);
  return at === -1 ? undefined : command?.[at + 1];
}

/** The file a `/run/secrets/<name>` path names, checked to be a secret the service mounts and the file defines. */
function secretFile(compose: ResolvedCompose, service: ComposeService, path: string | undefined): string {
  const name = /^\/run\/secrets\/([a-z0-9-]+)$/.exec(path ?? "")?.[1];
  assert.ok(name !== undefined, `${String(path)} is a Docker secret`);
  assert.ok(
    (service.secrets ?? []).some((s) => s.source === name),
    `the service mounts the secret ${name}`,
  );
  const file = compose.secrets?.[name]?.file;
  assert.ok(file !== undefined, `the compose file defines the secret ${name}`);
  return file;
}

describe("docker-compose.ha.yml: two sidecars on one PostgreSQL database behind Kong", () => {
  const compose = resolvedCompose(COMPOSE_HA_YML);
  const { services } = compose;
  const sidecars = Object.entries(services).filter(([, s]) => s.build?.dockerfile === SIDECAR_DOCKERFILE);
  const kong = services["kong"];
  const upstream = readKongYml(KONG_HA_YML).doc.upstreams ?? [];

  it("is accepted by `docker-compose config` (1.29.2), and a broken copy is not", () => {
    const text = readFileSync(COMPOSE_HA_YML, "utf8");
    withTempDir((dir) => {
      const broken = writeFile(
        dir,
        "docker-compose.ha.yml",
        text.replace("      condition: service_healthy\n", "      condition: service_ready\n"),
      );
      const result = run("docker-compose", ["-f", broken, "config"], { cwd: dir });
      assert.notEqual(result.status, 0);
      assert.match(result.stderr, /depends_on\.postgres\.condition contains "service_ready", which is an invalid type/);
    });
  });

  it("runs exactly two sidecars, authz-1 and authz-2, from the sidecar's image, reachable only on the compose network", () => {
    assert.deepEqual(
      sidecars.map(([name]) => name),
      ["authz-1", "authz-2"],
    );
    for (const [name, s] of sidecars) {
      assert.equal(s.ports, undefined, `${name} publishes no port: the issuer is served through Kong`);
      assert.deepEqual(s.expose, [flag(s.command, "--port")], name);
      // Kong is the one proxy in front: the login throttle counts by the address Kong saw, not by Kong's.
      assert.equal(flag(s.command, "--trusted-proxies"), "1", name);
    }
  });

  it("PostgreSQL is the official image, major version 15 or later, on a named volume, with pg_isready as its health check", () => {
    const postgres = services["postgres"];
    const major = Number(/^postgres:(\d+)(?:[.-]|$)/.exec(postgres.image ?? "")?.[1]);
    assert.ok(major >= 15, `${String(postgres.image)} is PostgreSQL 15 or later`);
    assert.deepEqual(postgres.volumes, ["postgres-data:/var/lib/postgresql/data:rw"]);
    assert.ok("postgres-data" in compose.volumes);
    assert.equal(postgres.healthcheck?.test[1], "pg_isready");
    assert.equal(postgres.ports, undefined, "only the sidecars reach the database");
  });

  it("both sidecars use one database URL on the postgres service, started once it is healthy, with no password in it", () => {
    const urls = new Set(sidecars.map(([, s]) => s.environment?.["AUTHZ_DB"]));
    assert.equal(urls.size, 1);
    const url = new URL([...urls][0] ?? "");
    const postgres = services["postgres"];
    assert.deepEqual(
      { protocol: url.protocol, user: url.username, password: url.password, host: url.hostname, path: url.pathname },
      {
        protocol: "postgres:",
        user: postgres.environment?.["POSTGRES_USER"],
        password: "",
        host: "postgres",
        path: `/${postgres.environment?.["POSTGRES_DB"] ?? ""}`,
      },
    );
    for (const [name, s] of sidecars)
      assert.deepEqual(s.depends_on, { postgres: { condition: "service_healthy" } }, name);
  });

  it("the database password and the key-encryption key are Docker secrets: the same files on every node, git-ignored, never in the repository", () => {
    const postgres = services["postgres"];
    const password = secretFile(compose, postgres, postgres.environment?.["POSTGRES_PASSWORD_FILE"]);
    for (const [, s] of sidecars) {
      assert.equal(secretFile(compose, s, s.environment?.["AUTHZ_DB_PASSWORD_FILE"]), password);
    }
    const keks = new Set(sidecars.map(([, s]) => secretFile(compose, s, s.environment?.["AUTHZ_KEK_FILE"])));
    assert.equal(keks.size, 1, "one key-encryption key for every node");
    for (const file of [password, ...keks]) {
      assert.ok(file.startsWith(`${ROOT}/secrets/`), file);
      const ignored = run("git", ["check-ignore", "--quiet", file.slice(ROOT.length + 1)]);
      assert.equal(ignored.status, 0, `${file} is git-ignored`);
    }
    assert.equal(run("git", ["ls-files", "secrets"]).stdout, "secrets/.gitignore\n");
  });

  it("no password, key or secret is written in the file: every such setting names a file", () => {
    const inline = Object.entries(services).flatMap(([name, s]) =>
      Object.keys(s.environment ?? {})
        .filter((key) => /PASSWORD|KEK|SECRET/.test(key) && !key.endsWith("_FILE"))
        .map((key) => `${name} ${key}`),
    );
    assert.deepEqual(inline, []);
  });

  it("both sidecars have one issuer: the public URL Kong serves, which the plugin and Canon name too", () => {
    const issuers = new Set(sidecars.map(([, s]) => flag(s.command, "--issuer")));
    assert.equal(issuers.size, 1);
    const proxyPort = /:(\d+)$/.exec(kong.environment?.["KONG_PROXY_LISTEN"] ?? "")?.[1];
    assert.deepEqual(kong.ports, [{ published: Number(proxyPort), target: Number(proxyPort) }]);
    const publicUrl = `http://localhost:${String(proxyPort)}`;
    assert.deepEqual([...issuers], [publicUrl]);
    assert.equal(services["canon"].environment?.["AUTHZ_ISSUER"], publicUrl);
    const { doc } = readKongYml(KONG_HA_YML);
    const plugins = doc.services
      .flatMap((s) => s.routes.flatMap((r) => r.plugins ?? []))
      .filter((p) => p.name === "oauth2-jwt");
    assert.equal(plugins.length, 3);
    for (const p of plugins) {
      assert.equal(p.config["issuer"], publicUrl);
      // The keys through Kong itself: its own name on the compose network and its proxy port.
      assert.equal(p.config["jwks_uri"], `http://kong:${String(proxyPort)}/jwks.json`);
    }
  });

  it("Kong runs kong.ha.yml with docker-compose.yml's plugin server settings", () => {
    const single = resolvedCompose(join(ROOT, "docker-compose.yml")).services["kong"];
    assert.deepEqual(kong.environment, single.environment);
    assert.deepEqual(kong.build, single.build);
    assert.deepEqual(kong.volumes, [`${KONG_HA_YML}:${String(kong.environment?.["KONG_DECLARATIVE_CONFIG"])}:ro`]);
  });

  it("kong.ha.yml's upstream has exactly the two sidecars as targets, each on the port it serves", () => {
    assert.deepEqual(
      upstream.map((u) => ({ name: u.name, targets: u.targets })),
      [
        {
          name: "authz-sidecars",
          targets: sidecars.map(([name, s]) => ({ target: `${name}:${String(flag(s.command, "--port"))}` })),
        },
      ],
    );
  });

  it("its health checks probe /readyz actively and count failures passively; every value within Kong 3.9's upstream schema", () => {
    assert.ok(serverPaths().includes("/readyz"), "the server routes /readyz");
    assert.deepEqual(upstream[0].healthchecks, {
      active: {
        type: "http",
        http_path: "/readyz",
        timeout: 2,
        healthy: { interval: 5, http_statuses: [200], successes: 2 },
        unhealthy: { interval: 2, http_statuses: [500, 502, 503, 504], tcp_failures: 2, timeouts: 2, http_failures: 2 },
      },
      passive: {
        type: "http",
        healthy: { successes: 5 },
        unhealthy: { http_statuses: [500, 503], tcp_failures: 2, timeouts: 2, http_failures: 3 },
      },
    });
    // Bounds of kong/db/schema/entities/upstreams.lua (deck 1.4.0 checks names, not ranges): seconds 0–65535,
    // counters 0–255, statuses 100–999. An interval or counter of 0 switches that check off.
    const walk = (value: unknown, key: string): void => {
      if (Array.isArray(value)) for (const s of value) assert.ok(Number.isInteger(s) && s >= 100 && s <= 999, key);
      else if (typeof value === "object" && value !== null)
        for (const [k, v] of Object.entries(value)) walk(v, `${key}.${k}`);
      else if (/\.(interval|timeout)$/.test(key)) assert.ok(typeof value === "number" && value > 0 && value <= 65535);
      else if (/\.(successes|tcp_failures|timeouts|http_failures)$/.test(key))
        assert.ok(Number.isInteger(value) && (value as number) > 0 && (value as number) <= 255, key);
    };
    walk(upstream[0].healthchecks, "healthchecks");
  });

  it("Kong routes every public path of the issuer to the upstream, and none of the health paths", () => {
    const { doc } = readKongYml(KONG_HA_YML);
    const authz = doc.services.filter((s) => new URL(s.url).hostname === upstream[0].name);
    assert.equal(authz.length, 1);
    const prefixes = authz[0].routes.flatMap((r) => {
      assert.equal(r.strip_path, false, `${r.name} keeps the path the server routes`);
      return r.paths;
    });
    // Kong matches a plain path as a prefix.
    const routed = (path: string) => prefixes.some((p) => path.startsWith(p));
    const health = ["/livez", "/readyz", "/healthz"];
    const paths = serverPaths();
    assert.deepEqual(
      paths.filter((p) => !health.includes(p) && !routed(p)),
      [],
    );
    assert.deepEqual(
      paths.filter((p) => health.includes(p) && routed(p)),
      [],
    );
    assert.ok(routed("/jwks.json") && routed("/.well-known/oauth-authorization-server"));
  });
});

describe("the sidecar's entrypoint with AUTHZ_DB_PASSWORD_FILE", () => {
  let postgres: TestPostgres | undefined;
  let url = "";
  before(async () => {
    // Its own cluster, whatever AUTHZ_TEST_POSTGRES_URL says: it checks every role's password but the superuser's
    // (SCRAM), and the role below is the cluster's, not a shared server's.
    postgres = await startTestPostgres({ own: true });
    const name = new URL(postgres.url).pathname.slice(1);
    const client = new pg.Client(postgres.url);
    await client.connect();
    try {
      await client.query(`CREATE ROLE ${ROLE} LOGIN PASSWORD '${PASSWORD}'; ALTER DATABASE ${name} OWNER TO ${ROLE}`);
    } finally {
      await client.end();
    }
    url = `postgres://${ROLE}@127.0.0.1:${String(postgres.port)}/${name}`;
  });
  after(async () => {
    await postgres?.close();
  });

  /**
   * The entrypoint as the image holds it, with the image's /app mapped to this checkout (`npx tsc -b` builds the
   * CLI), on the test cluster. It execs `serve` last: an invalid `--port` makes that last step stop at once, after `init` has opened the
   * database.
   */
  const entrypoint = (dir: string, env: Record<string, string>) => {
    const script = writeFile(dir, "entrypoint.sh", readFileSync(ENTRYPOINT, "utf8").replaceAll("/app/", `${ROOT}/`));
    const kek = writeFile(dir, "authz-kek", randomBytes(32).toString("hex"));
    return run("sh", [script, "--port", "none"], {
      env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", AUTHZ_DB: url, AUTHZ_KEK_FILE: kek, ...env },
    });
  };

  it("hands the file's password to PostgreSQL, which the URL does not hold: a wrong one is refused, the right one opens the database", () => {
    withTempDir((dir) => {
      const wrong = entrypoint(dir, { AUTHZ_DB_PASSWORD_FILE: writeFile(dir, "wrong", "not-the-password\n") });
      assert.deepEqual(
        { status: wrong.status, stdout: wrong.stdout, stderr: wrong.stderr },
        {
          status: 1,
          stdout: "",
          stderr: `authz-server: cannot open PostgreSQL database ${url}: password authentication failed for user ${ROLE}\n`,
        },
      );
      const right = entrypoint(dir, { AUTHZ_DB_PASSWORD_FILE: writeFile(dir, "right", `${PASSWORD}\n`) });
      assert.deepEqual(
        { status: right.status, stdout: right.stdout, stderr: right.stderr },
        {
          status: 1,
          stdout: `created the schema in database ${url}\n`,
          stderr: 'authz-server: --port must be a whole number from 0 to 65535; got "none"\n',
        },
      );
    });
  });

  it("refuses a missing or empty password file with one line, before running anything", () => {
    withTempDir((dir) => {
      const empty = writeFile(dir, "postgres-password", "");
      for (const file of [join(dir, "missing"), empty]) {
        const result = entrypoint(dir, { AUTHZ_DB_PASSWORD_FILE: file });
        assert.deepEqual(
          { status: result.status, stdout: result.stdout, stderr: result.stderr },
          {
            status: 1,
            stdout: "",
            stderr: `authz-entrypoint: AUTHZ_DB_PASSWORD_FILE ${file} is missing, empty or unreadable\n`,
          },
        );
      }
    });
  });
});
