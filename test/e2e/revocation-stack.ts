// The revocation feed end to end: a real `authz-server serve` process on a SQLite file (the CLI run beside it on the
// same file), the Flickr photos API, and gateways: the local stand-in routing by the real kong.yml, running oauth2-jwt
// in the real plugin-server process, whose poller reads the server's feed. The gateway's feed credential reaches the
// plugin as in the demo: kong.yml's `{vault://env/…}` references, resolved from the gateway's environment.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startPhotosApi, type RunningPhotosApi } from "../../examples/photos-api/src/server.ts";
import { loadKongConfig, type KongConfig, type PluginEntry } from "../../kong-standin/src/gateway/config.ts";
import { startGateway, type RunningGateway } from "../../kong-standin/src/gateway/gateway.ts";
import { spawnPluginServer, type PluginServerProcess } from "../../kong-standin/src/wire/index.ts";
import { gatewayEnvironment } from "../../scripts/seed-demo.mjs";
import type { TestClient } from "../authz-server/helpers.ts";
import { cli, closedPort, json, serve, type Run, type ServeProcess } from "../authz-server/cli/helpers.ts";
import { PHOTOS_RESOURCE } from "../authz-server/code-flow.ts";
import { Closers } from "../helpers/closers.ts";
import { buildServer, seedFlow } from "../multi-node/helpers.ts";
import { ROOT } from "./stack.ts";

/** The poll interval the tests give the gateway (the default is 2 s). */
export const POLL_SECONDS = 0.2;
/** How soon after a revoking request's answer the gateway must refuse: the poll interval plus half a second. */
export const REFUSED_WITHIN_MS = POLL_SECONDS * 1000 + 500;

export interface Answer {
  status: number;
  /** WWW-Authenticate (RFC 6750 §3), or null. */
  challenge: string | null;
  body: string;
}

export interface FeedGateway {
  plugins: PluginServerProcess;
  gateway: RunningGateway;
  /** GET /flickr/photos through the gateway with `token` as the bearer token. */
  photos(token: string): Promise<Answer>;
}

export interface RevocationStack {
  authz: ServeProcess;
  /** The issuer, http://localhost:<port> (kong.yml's http://localhost:9000, mapped). */
  issuer: string;
  canon: TestClient;
  /** The gateway's resource-server client (the feed credential). */
  feedClient: TestClient;
  /** A CLI command on the server's database. */
  cli(args: string[], options?: { input?: string }): Promise<Run>;
  /**
   * A gateway over kong.yml, each oauth2-jwt config with `overrides` (the test's poll interval is always among them)
   * and the feed credential in the environment its vault references read, unless `environment` replaces it.
   */
  startGateway(overrides?: Record<string, unknown>, environment?: Record<string, string>): Promise<FeedGateway>;
  /** Stops the server (SIGTERM): the feed is down. */
  stopAuthz(): Promise<void>;
  /** Starts the server again on the same port and database. */
  restartAuthz(): Promise<void>;
  close(): Promise<void>;
}

/** kong.yml with every oauth2-jwt config given `overrides`. */
function kongYmlWith(overrides: Record<string, unknown>): KongConfig {
  const config = loadKongConfig(join(ROOT, "kong.yml"));
  const override = (plugin: PluginEntry): PluginEntry =>
    plugin.name === "oauth2-jwt" ? { ...plugin, config: { ...plugin.config, ...overrides } } : plugin;
  const services = config.services.map((service) => ({ ...service, plugins: service.plugins.map(override) }));
  const routes = config.routes.map((route) => ({
    ...route,
    service: services[config.services.indexOf(route.service)],
    plugins: route.plugins.map(override),
  }));
  return { ...config, services, routes, globalPlugins: config.globalPlugins.map(override) };
}

export async function startRevocationStack(serveArgs: string[] = []): Promise<RevocationStack> {
  await buildServer();
  const closers = new Closers();
  const dir = mkdtempSync(join(tmpdir(), "e2e-revocation-"));
  closers.add(() => rmSync(dir, { recursive: true, force: true }));
  try {
    const db = join(dir, "authz.db");
    const run = (args: string[], options: { input?: string } = {}) => cli([...args, "--db", db], options);
    const initialised = await run(["init"]);
    assert.equal(initialised.code, 0, initialised.stderr);
    const canon = await seedFlow(run);
    const created = json<{ client_id: string; client_secret: string }>(
      await run(["clients", "create", "--name", "Flickr gateway", "--resource-server-for", PHOTOS_RESOURCE, "--json"]),
    );
    const feedClient = { clientId: created.client_id, clientSecret: created.client_secret };

    const port = await closedPort();
    const issuer = `http://localhost:${port}`;
    // Key poll 1 s: a `keys revoke` beside the server reaches its JWKS and its signing within a second. No refresh
    // grace: a rotated refresh token presented again is a reuse at once.
    const args = ["--db", db, "--port", String(port), "--issuer", issuer, "--key-poll-interval", "1"];
    const startAuthz = () => serve([...args, "--refresh-grace", "0", ...serveArgs]);
    let authz = await startAuthz();
    let running = true;
    closers.add(async () => {
      if (running) await authz.stop();
    });
    const photos: RunningPhotosApi = await startPhotosApi({ port: 0 });
    closers.add(() => photos.close());

    const stack: RevocationStack = {
      get authz() {
        return authz;
      },
      issuer,
      canon,
      feedClient,
      cli: run,
      async startGateway(overrides = {}, environment) {
        const plugins = await spawnPluginServer({
          vaultEnvironment:
            environment ??
            gatewayEnvironment({
              client_id: feedClient.clientId,
              client_secret: feedClient.clientSecret,
            }),
        });
        closers.add(() => plugins.close());
        const gateway = await startGateway({
          // kong.yml's own feed credential (vault references, read from the environment above).
          config: kongYmlWith({ revocation_poll_seconds: POLL_SECONDS, ...overrides }),
          plugins,
          port: 0,
          hostTable: {
            "photos:8080": `127.0.0.1:${photos.port}`,
            "authz:9000": `127.0.0.1:${port}`,
            "localhost:9000": `localhost:${port}`,
          },
        });
        closers.add(() => gateway.close());
        return {
          plugins,
          gateway,
          async photos(token) {
            const response = await fetch(`${gateway.url}/flickr/photos`, {
              headers: { authorization: `Bearer ${token}` },
            });
            return {
              status: response.status,
              challenge: response.headers.get("www-authenticate"),
              body: await response.text(),
            };
          },
        };
      },
      async stopAuthz() {
        running = false;
        assert.equal(await authz.stop(), 0);
      },
      async restartAuthz() {
        authz = await startAuthz();
        running = true;
      },
      close: () => closers.closeAll(),
    };
    return stack;
  } catch (error) {
    await closers.closeAll();
    throw error;
  }
}

/** How the gateway describes the refusal of a revoked token. */
export const REVOKED = /error_description="the token has been revoked"/;
/**
 * A withdrawn signing key: the feed's key entry puts it in the revocation set and drops it from the gateway's key set
 * at once, so its tokens are refused as revoked or, once the key set no longer holds the key, as signed by an unknown
 * key; both are RFC 6750 invalid_token.
 */
export const KEY_WITHDRAWN = /error_description="the token (has been revoked|was signed with an unknown key)"/;

/** The gateway's RFC 6750 refusal of a revoked token. */
export function assertRevokedAnswer(answer: Answer, description: RegExp = REVOKED): void {
  assert.equal(answer.status, 401, answer.body);
  assert.match(answer.challenge ?? "", /^Bearer .*error="invalid_token"/);
  assert.match(answer.challenge ?? "", description);
}

/**
 * Asks the gateway every 25 ms until it stops serving `token`, from the moment the revoking request was answered;
 * returns the milliseconds it took, and fails past `withinMs` or on an answer other than the revocation's 401.
 */
export async function refusedWithin(
  gateway: FeedGateway,
  token: string,
  description: RegExp = REVOKED,
  withinMs = REFUSED_WITHIN_MS,
): Promise<number> {
  const start = Date.now();
  for (;;) {
    const answer = await gateway.photos(token);
    const elapsed = Date.now() - start;
    if (answer.status !== 200) {
      assertRevokedAnswer(answer, description);
      assert.ok(elapsed <= withinMs, `refused after ${elapsed} ms, more than ${withinMs} ms`);
      return elapsed;
    }
    assert.ok(elapsed <= withinMs, `still served ${elapsed} ms after the revocation`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The gateway proxies `token`'s request to the photos API. */
export async function assertServed(gateway: FeedGateway, token: string, message?: string): Promise<void> {
  const answer = await gateway.photos(token);
  assert.equal(answer.status, 200, `${message ?? "served"}: ${answer.status} ${answer.challenge ?? ""} ${answer.body}`);
}

/** Waits for the next whole second: a token issued in the second of a user- or client-wide revocation is covered. */
export async function nextSecond(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 20));
}
