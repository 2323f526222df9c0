// The rules a client registration must meet, whoever registers it (today the `clients create` command): a name users
// can read on the consent page, redirect URIs an attacker cannot intercept (RFC 9700 §2.1), RFC 8707 resource
// indicators, and grant types a client of its kind may use (RFC 6749 §2.1).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  checkClientName,
  checkRedirectUri,
  checkResourceIndicator,
  clientGrantTypes,
  type ClientRequest,
  RegistrationError,
  registerClient,
} from "../../../authz-server/src/clients/registration.ts";
import { digest } from "../../../authz-server/src/secrets.ts";
import { openStorage } from "../../../authz-server/src/storage/index.ts";
import type { Storage } from "../../../authz-server/src/storage/types.ts";

const refused = (message: string) => (error: unknown) =>
  error instanceof RegistrationError && error.message === message;

describe("client registration", () => {
  describe("the client's name", () => {
    it("is trimmed", () => {
      assert.equal(checkClientName("  Photo printer "), "Photo printer");
    });
    it("must not be blank: users read it on the consent page", () => {
      assert.throws(
        () => checkClientName(" \t"),
        refused("--name must not be empty: it is shown to users on the consent page"),
      );
    });
    it("must not hold control characters", () => {
      assert.throws(() => checkClientName("a\u0007b"), refused("--name must not contain control characters"));
    });
  });

  describe("a redirect URI", () => {
    it("uses https, or http on a loopback host only", () => {
      for (const uri of [
        "https://app.example/cb",
        "http://localhost:8080/cb",
        "http://127.0.0.1/cb",
        "http://[::1]/cb",
      ])
        assert.equal(checkRedirectUri(uri), uri);
      assert.throws(
        () => checkRedirectUri("http://app.example/cb"),
        refused("redirect URI must use https (http only for loopback hosts): http://app.example/cb"),
      );
    });
    it("is absolute and has no fragment", () => {
      assert.throws(() => checkRedirectUri("/cb"), refused("redirect URI is not an absolute URI: /cb"));
      assert.throws(
        () => checkRedirectUri("https://app.example/cb#"),
        refused("redirect URI must not contain a fragment: https://app.example/cb#"),
      );
    });
  });

  it("a resource indicator is an absolute URI without a fragment, named by the flag that gave it", () => {
    assert.equal(checkResourceIndicator("--resource", "https://api.example/"), "https://api.example/");
    for (const uri of ["api", "https://api.example/#x"])
      assert.throws(
        () => checkResourceIndicator("--resource", uri),
        refused(`--resource must be an absolute URI without fragment: ${uri}`),
      );
  });

  describe("grant types", () => {
    const none = { redirectUris: [], resourceServerFor: [], isPublic: false };
    const web = { ...none, redirectUris: ["https://app.example/cb"] };
    it("default to the code flow with refresh tokens for a client with a redirect URI", () => {
      assert.deepEqual(clientGrantTypes([], web), ["authorization_code", "refresh_token"]);
    });
    it("default to none for a resource server: it only introspects", () => {
      assert.deepEqual(clientGrantTypes([], { ...none, resourceServerFor: ["https://api.example/"] }), []);
    });
    it("default to client_credentials otherwise", () => {
      assert.deepEqual(clientGrantTypes([], none), ["client_credentials"]);
    });
    it("are known ones", () => {
      assert.throws(
        () => clientGrantTypes(["password"], none),
        refused("unknown grant type: password (one of authorization_code, refresh_token, client_credentials)"),
      );
    });
    it("include the code flow for a public client, never client_credentials", () => {
      const spa = { ...web, isPublic: true };
      assert.deepEqual(clientGrantTypes([], spa), ["authorization_code", "refresh_token"]);
      assert.throws(
        () => clientGrantTypes(["client_credentials"], spa),
        refused("a public client cannot use client_credentials (RFC 6749 §4.4)"),
      );
      assert.throws(
        () => clientGrantTypes(["refresh_token"], spa),
        refused("a public client needs the authorization_code grant"),
      );
      assert.throws(
        () => clientGrantTypes([], { ...none, isPublic: true }),
        refused(
          "a public client needs --redirect-uri (the authorization code flow is the only grant a public client may use)",
        ),
      );
    });
    it("name the code flow only with a redirect URI", () => {
      assert.throws(
        () => clientGrantTypes(["authorization_code"], none),
        refused("authorization_code needs at least one --redirect-uri"),
      );
    });
  });

  describe("registering a client", () => {
    let storage: Storage;
    before(async () => {
      storage = await openStorage(":memory:");
      await storage.scopes.create({ name: "photos", description: "your photos", resource: null });
    });
    after(() => storage.close());
    const request: ClientRequest = {
      name: "Printer",
      redirectUris: ["https://printer.example/cb", "https://printer.example/cb"],
      scopes: ["photos", "photos"],
      grantTypes: [],
      isPublic: false,
      resourceServerFor: [],
    };

    it("stores the client with its secret's digest and returns the secret once", async () => {
      const { client, secret } = await registerClient(storage, request, 1_000);
      assert.ok(secret !== null);
      assert.deepEqual(await storage.clients.find(client.clientId), {
        clientId: client.clientId,
        name: "Printer",
        secretDigest: digest(secret),
        redirectUris: ["https://printer.example/cb"],
        grantTypes: ["authorization_code", "refresh_token"],
        scopes: ["photos"],
        tokenEndpointAuthMethod: "client_secret_basic",
        createdAt: 1_000,
      });
    });
    it("refuses a name another client has: users could not tell them apart", async () => {
      const [namesake] = await storage.clients.list();
      assert.ok(namesake);
      await assert.rejects(
        async () => registerClient(storage, { ...request, name: " Printer" }, 2_000),
        refused(`a client named "Printer" already exists: ${namesake.clientId}`),
      );
    });
    it("refuses a scope that is not registered", async () => {
      await assert.rejects(
        async () => registerClient(storage, { ...request, name: "Other", scopes: ["videos"] }, 2_000),
        refused("unknown scope: videos (create it with scopes create)"),
      );
    });
    it("gives a public client no secret and refuses to make it a resource server", async () => {
      const spa = { ...request, name: "SPA", isPublic: true };
      await assert.rejects(
        async () => registerClient(storage, { ...spa, resourceServerFor: ["https://api.example/"] }, 2_000),
        refused(
          "a public client cannot be a resource server: introspection needs client authentication (RFC 7662 §2.1)",
        ),
      );
      const { client, secret } = await registerClient(storage, spa, 2_000);
      assert.equal(secret, null);
      assert.equal(client.secretDigest, null);
      assert.equal(client.tokenEndpointAuthMethod, "none");
    });
    it("stores a resource server's resources, checked and without duplicates", async () => {
      const { client } = await registerClient(
        storage,
        {
          ...request,
          name: "API",
          redirectUris: [],
          resourceServerFor: ["https://api.example/", "https://api.example/"],
        },
        3_000,
      );
      assert.deepEqual((await storage.clients.find(client.clientId))?.resourceServerFor, ["https://api.example/"]);
      assert.deepEqual(client.grantTypes, []);
    });
  });
});
