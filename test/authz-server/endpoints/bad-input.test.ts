import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, describe, it } from "node:test";
import { basic, createClient, form, post, startTestServer, type TestClient, type TestServer } from "../helpers.ts";

/** Every bad input of the token, introspection and revocation endpoints, each with its exact status, headers and RFC 6749 §5.2 body. */
describe("token, introspection and revocation endpoints refuse bad input", () => {
  let server: TestServer;
  let client: TestClient;
  let token: string;
  let tokenUrl: string;

  before(async () => {
    server = await startTestServer({ bodyLimit: 1024 });
    await server.storage.scopes.create({
      name: "photos",
      description: "Read your photos",
      resource: "http://localhost:8080/",
    });
    await server.storage.scopes.create({ name: "admin", description: "Administer", resource: null });
    client = await createClient(server.storage, { scopes: ["photos"] });
    tokenUrl = `${server.url}/token`;
  });
  after(() => server.close());

  const auth = () => ({ authorization: basic(client.clientId, client.clientSecret) });

  function assertError(
    result: { status: number; headers: Headers; body: unknown },
    status: number,
    error: string,
    description: string,
  ): void {
    assert.deepEqual(
      { status: result.status, body: result.body },
      { status, body: { error, error_description: description } },
    );
    assert.equal(result.headers.get("cache-control"), "no-store");
    assert.equal(result.headers.get("content-type"), "application/json; charset=utf-8");
    if (error === "invalid_client") {
      assert.equal(result.headers.get("www-authenticate"), 'Basic realm="token", charset="UTF-8"');
    } else {
      assert.equal(result.headers.get("www-authenticate"), null);
    }
  }

  it("issues a token for a correct request (the baseline the others vary)", async () => {
    const result = await post(tokenUrl, form({ grant_type: "client_credentials" }), auth());
    assert.equal(result.status, 200);
    token = (result.body as { access_token: string }).access_token;
  });

  it("duplicate parameter → 400 invalid_request (RFC 6749 §3.1)", async () => {
    const result = await post(tokenUrl, "grant_type=client_credentials&scope=photos&scope=photos", auth());
    assertError(result, 400, "invalid_request", "parameter scope is included more than once");
  });

  it("JSON body → 400 invalid_request", async () => {
    const result = await post(tokenUrl, JSON.stringify({ grant_type: "client_credentials" }), {
      ...auth(),
      "content-type": "application/json",
    });
    assertError(result, 400, "invalid_request", "the request body must be application/x-www-form-urlencoded");
  });

  it("wrong content type → 400 invalid_request", async () => {
    const result = await post(tokenUrl, "grant_type=client_credentials", { ...auth(), "content-type": "text/plain" });
    assertError(result, 400, "invalid_request", "the request body must be application/x-www-form-urlencoded");
  });

  it("oversized body → 413 before parsing", async () => {
    const result = await post(tokenUrl, `grant_type=client_credentials&pad=${"a".repeat(2000)}`, auth());
    assertError(result, 413, "invalid_request", "the request body exceeds 1024 bytes");
  });

  it("empty body → 400 invalid_request (missing grant_type)", async () => {
    const result = await post(tokenUrl, "", auth());
    assertError(result, 400, "invalid_request", "missing grant_type");
  });

  it("unsupported grant type → 400 unsupported_grant_type", async () => {
    const result = await post(tokenUrl, form({ grant_type: "password", username: "a", password: "b" }), auth());
    assertError(result, 400, "unsupported_grant_type", "unsupported grant_type: password");
  });

  it("malformed Basic header → 400 invalid_request", async () => {
    for (const header of ["Basic", "Basic !!!", `Basic ${Buffer.from("no-colon").toString("base64")}`]) {
      const result = await post(tokenUrl, form({ grant_type: "client_credentials" }), { authorization: header });
      assertError(result, 400, "invalid_request", "malformed Basic authorization header");
    }
  });

  it("wrong secret → 401 invalid_client with WWW-Authenticate", async () => {
    const result = await post(tokenUrl, form({ grant_type: "client_credentials" }), {
      authorization: basic(client.clientId, `${client.clientSecret}x`),
    });
    assertError(result, 401, "invalid_client", "client authentication failed");
  });

  it("unknown client → 401 invalid_client, same answer as a wrong secret", async () => {
    const result = await post(
      tokenUrl,
      form({ grant_type: "client_credentials", client_id: "nobody", client_secret: "x" }),
    );
    assertError(result, 401, "invalid_client", "client authentication failed");
  });

  it("no client authentication at all → 401 invalid_client", async () => {
    const result = await post(tokenUrl, form({ grant_type: "client_credentials" }));
    assertError(result, 401, "invalid_client", "client authentication failed");
  });

  it("confidential client naming itself without a secret → 401 invalid_client", async () => {
    const result = await post(tokenUrl, form({ grant_type: "client_credentials", client_id: client.clientId }));
    assertError(result, 401, "invalid_client", "client authentication failed");
  });

  it("two authentication methods at once → 400 invalid_request (RFC 6749 §2.3)", async () => {
    const result = await post(
      tokenUrl,
      form({ grant_type: "client_credentials", client_id: client.clientId, client_secret: client.clientSecret }),
      auth(),
    );
    assertError(result, 400, "invalid_request", "more than one client authentication method was used");
  });

  it("scope not allowed to the client → 400 invalid_scope", async () => {
    const result = await post(tokenUrl, form({ grant_type: "client_credentials", scope: "photos admin" }), auth());
    assertError(result, 400, "invalid_scope", "scope not allowed for this client: admin");
  });

  it("grant type not allowed to the client → 400 unauthorized_client", async () => {
    const codeOnly = await createClient(server.storage, {
      scopes: ["photos"],
      grantTypes: ["authorization_code"],
      redirectUris: ["https://canon.example/callback"],
    });
    const result = await post(tokenUrl, form({ grant_type: "client_credentials" }), {
      authorization: basic(codeOnly.clientId, codeOnly.clientSecret),
    });
    assertError(result, 400, "unauthorized_client", "the client is not allowed the grant type client_credentials");
  });

  it("unregistered or malformed resource → 400 invalid_target (RFC 8707 §2)", async () => {
    const cases: [string, string][] = [
      ["https://other.example/", "resource is not registered with this server"],
      ["not a uri", "resource must be an absolute URI"],
      ["http://localhost:8080/#frag", "resource must not contain a fragment"],
      // Registered (the default audience), but `photos` belongs to the API at :8080: no token of photos for another audience.
      [server.issuer, "resource is not one the requested scopes are for"],
    ];
    for (const [resource, description] of cases) {
      const result = await post(tokenUrl, form({ grant_type: "client_credentials", resource }), auth());
      assertError(result, 400, "invalid_target", description);
    }
  });

  it("GET /token → 405; unknown route → 404; unknown method → 501: small JSON bodies without an OAuth error code", async () => {
    // Not RFC 6749 errors (no `error` member: only RFC codes go there), but JSON like every other non-page answer.
    const cases: [string, string, number, string, string | null][] = [
      ["GET", "/token", 405, "Method Not Allowed", "POST"],
      ["DELETE", "/authorize", 405, "Method Not Allowed", "HEAD, GET"],
      ["GET", "/no/such/route", 404, "Not Found", null],
      ["POST", "/jwks.json/extra", 404, "Not Found", null],
      ["PROPFIND", "/token", 501, "Not Implemented", "POST"],
    ];
    for (const [method, path, status, message, allow] of cases) {
      const response = await fetch(`${server.url}${path}`, { method });
      assert.deepEqual(
        {
          status: response.status,
          type: response.headers.get("content-type"),
          allow: response.headers.get("allow"),
          body: (await response.json()) as unknown,
        },
        { status, type: "application/json; charset=utf-8", allow, body: { message } },
        `${method} ${path}`,
      );
    }
  });

  it("a request body cut short → 400, never 500", async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(tokenUrl, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", "content-length": "100", ...auth() },
      });
      req.on("response", (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      req.write("grant_type=client_credentials");
      setTimeout(() => req.destroy(), 100).unref();
    }).catch(() => 0);
    // Either the server answers 400 or, having seen the connection die, cannot answer at all; 500 is never acceptable.
    assert.ok(status === 400 || status === 0, `status ${status}`);
  });

  it("introspection requires client authentication", async () => {
    const result = await post(`${server.url}/introspect`, form({ token }));
    assertError(result, 401, "invalid_client", "client authentication failed");
  });

  it("introspection without token → 400 invalid_request", async () => {
    const result = await post(`${server.url}/introspect`, "", auth());
    assertError(result, 400, "invalid_request", "missing token");
  });

  it("public clients (auth method none): may revoke, may not introspect, may not send a secret", async () => {
    const publicId = "public-phone-app";
    await server.storage.clients.create({
      clientId: publicId,
      name: "Phone app",
      secretDigest: null,
      redirectUris: ["http://127.0.0.1/callback"],
      grantTypes: ["authorization_code", "refresh_token"],
      scopes: ["photos"],
      tokenEndpointAuthMethod: "none",
      createdAt: 0,
    });
    const revoked = await post(`${server.url}/revoke`, form({ token: "unknown", client_id: publicId }));
    assert.deepEqual({ status: revoked.status, body: revoked.body }, { status: 200, body: "" });
    assertError(
      await post(`${server.url}/introspect`, form({ token, client_id: publicId })),
      401,
      "invalid_client",
      "client authentication failed",
    );
    assertError(
      await post(tokenUrl, form({ grant_type: "client_credentials", client_id: publicId, client_secret: "made-up" })),
      401,
      "invalid_client",
      "client authentication failed",
    );
    assertError(
      await post(tokenUrl, form({ grant_type: "client_credentials", client_id: publicId })),
      400,
      "unauthorized_client",
      "the client is not allowed the grant type client_credentials",
    );
  });

  it("revocation with a JSON body → 400; with a wrong secret → 401", async () => {
    const json = await post(`${server.url}/revoke`, JSON.stringify({ token }), {
      ...auth(),
      "content-type": "application/json",
    });
    assertError(json, 400, "invalid_request", "the request body must be application/x-www-form-urlencoded");
    const wrong = await post(`${server.url}/revoke`, form({ token }), {
      authorization: basic(client.clientId, "wrong"),
    });
    assertError(wrong, 401, "invalid_client", "client authentication failed");
  });
});
