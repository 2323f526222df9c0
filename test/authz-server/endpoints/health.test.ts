// Health over HTTP: /livez says the process answers (no I/O), /readyz says it can issue tokens (the database answers
// and a signing key is active), /healthz answers as /readyz. Not ready is 503 with a small JSON body, never a 500.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, afterEach, beforeEach, describe, it } from "node:test";
import { openStorage } from "../../../authz-server/src/storage/index.ts";
import type { Storage } from "../../../authz-server/src/storage/types.ts";
import { startTestServer, tempDir, type TestServer } from "../helpers.ts";

async function get(url: string): Promise<{ status: number; cacheControl: string | null; body: unknown }> {
  const response = await fetch(url);
  return { status: response.status, cacheControl: response.headers.get("cache-control"), body: await response.json() };
}

const ok = { status: 200, cacheControl: "no-store", body: { status: "ok" } };
const unavailable = (reason: string) => ({
  status: 503,
  cacheControl: "no-store",
  body: { status: "unavailable", reason },
});

describe("health endpoints", () => {
  const temp = tempDir();
  let storage: Storage;
  let server: TestServer;

  beforeEach(async () => {
    // The test's own storage, so it can break the database under the running server.
    storage = await openStorage(join(temp.dir, `health-${Date.now()}-${Math.random()}.db`));
    server = await startTestServer({ storage });
  });
  afterEach(async () => {
    await server.close();
    await storage.close();
  });
  after(() => temp.remove());

  it("answers 200 on /livez, /readyz and /healthz when the database answers and a key signs", async () => {
    for (const path of ["/livez", "/readyz", "/healthz"]) assert.deepEqual(await get(`${server.url}${path}`), ok, path);
  });

  it("is not ready when the database does not answer, and still live", async () => {
    await storage.close();
    assert.deepEqual(await get(`${server.url}/readyz`), unavailable("the database does not answer"));
    assert.deepEqual(await get(`${server.url}/healthz`), unavailable("the database does not answer"));
    assert.deepEqual(await get(`${server.url}/livez`), ok);
  });

  it("is not ready when no signing key is active", async () => {
    for (const key of await storage.keys.list()) await storage.keys.delete(key.kid);
    await server.running.services.keys.refresh(); // what the key poll does within keyPollInterval
    assert.deepEqual(await get(`${server.url}/readyz`), unavailable("no active signing key"));
    assert.deepEqual(await get(`${server.url}/healthz`), unavailable("no active signing key"));
    assert.deepEqual(await get(`${server.url}/livez`), ok);
  });
});
