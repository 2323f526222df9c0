import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import {
  checkLifetimes,
  defaultLifetimes,
  defaults,
  minimumKeyActivateAfter,
} from "../../../authz-server/src/config.ts";
import { basic, createClient, form, post, startTestServer, type TestClient, type TestServer } from "../helpers.ts";

describe("logs and configuration invariants", () => {
  const lines: string[] = [];
  let server: TestServer;
  let client: TestClient;

  before(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        lines.push(chunk.toString());
        callback();
      },
    });
    server = await startTestServer({ logger: pino({ level: "debug" }, sink) });
    client = await createClient(server.storage, { scopes: [] });
  });
  after(() => server.close());

  it("writes JSON request logs that never contain secrets or tokens", async () => {
    const auth = { authorization: basic(client.clientId, client.clientSecret) };
    const issued = await post(
      `${server.url}/token?secret-in-query=1`,
      form({ grant_type: "client_credentials" }),
      auth,
    );
    assert.equal(issued.status, 200);
    const token = (issued.body as { access_token: string }).access_token;
    assert.equal((await post(`${server.url}/introspect`, form({ token }), auth)).status, 200);
    assert.equal((await post(`${server.url}/revoke`, form({ token }), auth)).status, 200);
    assert.equal(
      (
        await post(
          `${server.url}/token`,
          form({ grant_type: "client_credentials", client_id: client.clientId, client_secret: "guess" }),
        )
      ).status,
      401,
    );
    const log = lines.join("");
    for (const secret of [client.clientSecret, token, token.split(".")[2], "guess", "secret-in-query"]) {
      assert.equal(log.includes(secret), false, `log contains ${secret.slice(0, 12)}…`);
    }
    const requests = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l["msg"] === "request");
    assert.deepEqual(
      requests.map((r) => [r["method"], r["path"], r["status"]]),
      [
        ["POST", "/token", 200],
        ["POST", "/introspect", 200],
        ["POST", "/revoke", 200],
        ["POST", "/token", 401],
      ],
    );
  });

  it("by default, activates rotated keys only after gateways' cached JWKS has expired, within the lifetime limits", () => {
    assert.ok(defaults.keyActivateAfter >= minimumKeyActivateAfter());
    assert.deepEqual(checkLifetimes(defaultLifetimes()), defaultLifetimes());
  });
});
