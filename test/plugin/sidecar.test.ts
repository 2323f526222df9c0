// The plugin, in the real plugin server, validating tokens the real sidecar issues: client
// credentials from authz-server's /token, keys discovered through its RFC 8414 metadata.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { freePort } from "../helpers/ports.ts";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { pino } from "pino";
import { rotateKey } from "../../authz-server/src/keys/keyring.ts";
import { digest, generateId, generateSecret } from "../../authz-server/src/secrets.ts";
import { startServer, type RunningServer } from "../../authz-server/src/server.ts";
import { spawnPluginServer, type PluginServerProcess } from "../../kong-standin/src/wire/index.ts";

const PHOTOS_API = "http://localhost:8000/flickr";

let sidecar: RunningServer;
let plugins: PluginServerProcess;
let directory: string;
const clientId = generateId();
const secret = generateSecret();

before(async () => {
  directory = mkdtempSync(join(tmpdir(), "plugin-sidecar-"));
  const port = await freePort();
  sidecar = await startServer({
    port,
    host: "127.0.0.1",
    issuer: `http://127.0.0.1:${port}`,
    db: join(directory, "authz.db"),
    logger: pino({ level: "silent" }),
  });
  const storage = sidecar.services.storage;
  await storage.scopes.create({ name: "photos", description: "View your photos", resource: PHOTOS_API });
  await storage.clients.create({
    clientId,
    name: "Printer robot",
    secretDigest: digest(secret),
    redirectUris: [],
    grantTypes: ["client_credentials"],
    scopes: ["photos"],
    tokenEndpointAuthMethod: "client_secret_basic",
    createdAt: Date.now(),
  });
  plugins = await spawnPluginServer();
});
after(async () => {
  await plugins.close();
  await sidecar.close();
  rmSync(directory, { recursive: true, force: true });
});

async function clientCredentialsToken(): Promise<string> {
  const response = await fetch(`${sidecar.issuer}/token`, {
    method: "POST",
    headers: {
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString("base64")}`,
      "content-type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams({ grant_type: "client_credentials", scope: "photos", resource: PHOTOS_API }),
  });
  const body = (await response.json()) as { access_token?: string };
  assert.equal(response.status, 200, JSON.stringify(body));
  assert.ok(typeof body.access_token === "string");
  return body.access_token;
}

describe("oauth2-jwt against the real sidecar", () => {
  it("accepts the sidecar's access token, with keys discovered from its metadata", async () => {
    const instance = await plugins.startInstance("oauth2-jwt", {
      issuer: sidecar.issuer,
      audience: [PHOTOS_API],
      scopes_required: ["photos"],
    });
    const token = await clientCredentialsToken();
    const result = await instance.access({
      method: "GET",
      path: "/flickr/photos",
      headers: { authorization: `Bearer ${token}`, "x-oauth2-jwt-nonce": "n" },
    });
    assert.equal(result.outcome, "proceed", JSON.stringify(result));
    assert.deepEqual(result.upstreamHeaders, {
      authorization: [`Bearer ${token}`],
      "x-authenticated-userid": [clientId], // RFC 9068 §2.2: a client-credentials token's sub is the client
      "x-authenticated-client-id": [clientId],
      "x-authenticated-scope": ["photos"],
      "x-oauth2-jwt-verdict": ["n"],
    });
    assert.equal(result.roundTrips, 3);
  });

  it("accepts every token across a key rotation at the sidecar (new key published before it signs)", async () => {
    const instance = await plugins.startInstance("oauth2-jwt", {
      issuer: sidecar.issuer,
      audience: [PHOTOS_API],
      scopes_required: ["photos"],
      jwks_cache_seconds: 1,
      jwks_min_refresh_seconds: 1,
    });
    const kidOf = (token: string) =>
      (JSON.parse(Buffer.from(token.split(".")[0], "base64url").toString()) as { kid: string }).kid;
    const before = await clientCredentialsToken();
    assert.equal(
      (await instance.access({ method: "GET", path: "/flickr/photos", headers: { authorization: `Bearer ${before}` } }))
        .outcome,
      "proceed",
    );
    const [current] = sidecar.services.keys.status().filter((key) => key.state === "active");
    const next = await rotateKey(sidecar.services.storage.keys, current.alg, 2, Date.now());
    await sidecar.services.keys.refresh();
    const outcomes: string[] = [];
    const kids = new Set<string>();
    const started = Date.now();
    while (Date.now() - started < 3500) {
      const token = await clientCredentialsToken();
      kids.add(kidOf(token));
      const result = await instance.access({
        method: "GET",
        path: "/flickr/photos",
        headers: { authorization: `Bearer ${token}` },
      });
      outcomes.push(result.outcome);
      // The token issued before the rotation stays valid too.
      outcomes.push(
        (
          await instance.access({
            method: "GET",
            path: "/flickr/photos",
            headers: { authorization: `Bearer ${before}` },
          })
        ).outcome,
      );
      await sleep(100);
    }
    assert.deepEqual(new Set(outcomes), new Set(["proceed"]));
    assert.deepEqual(kids, new Set([kidOf(before), next.kid]), "tokens were signed by both keys");
  });

  it("refuses the same token on a route for another API, and one that needs another scope", async () => {
    const token = await clientCredentialsToken();
    const other = await plugins.startInstance("oauth2-jwt", {
      issuer: sidecar.issuer,
      audience: ["http://localhost:8000/other"],
    });
    const wrongAudience = await other.access({
      method: "GET",
      path: "/other",
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(wrongAudience.outcome === "exit" && wrongAudience.status, 401);
    const write = await plugins.startInstance("oauth2-jwt", {
      issuer: sidecar.issuer,
      audience: [PHOTOS_API],
      scopes_required: ["photos:write"],
    });
    const noScope = await write.access({
      method: "POST",
      path: "/flickr/photos",
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(noScope.outcome === "exit" && noScope.status, 403);
  });
});
