// Shared fixtures of the authorization-code-flow tests: the seed story's Canon Printing client,
// Flickr's `photos` scope, and a user, in an in-memory SQLite storage.
import { openStorage } from "../../authz-server/src/storage/index.ts";
import type { Client, Storage } from "../../authz-server/src/storage/types.ts";

export const CANON_REDIRECT = "https://canon.example/callback";
export const PHOTOS_API = "http://localhost:8000/flickr";

export interface Seed {
  storage: Storage;
  canon: Client;
  /** A public native client (no secret), loopback redirect URI. */
  cli: Client;
  /** A client that may only use client_credentials. */
  robot: Client;
}

export async function seedStorage(now = Date.UTC(2026, 0, 1)): Promise<Seed> {
  const storage = await openStorage(":memory:");
  await storage.scopes.create({ name: "photos", description: "View your photos and albums", resource: PHOTOS_API });
  await storage.scopes.create({
    name: "profile",
    description: "See your name and profile picture",
    resource: PHOTOS_API,
  });
  await storage.scopes.create({ name: "admin", description: "Administer the service", resource: null });
  const canon: Client = {
    clientId: "canon-printing-id",
    name: "Canon Printing",
    secretDigest: "00".repeat(32),
    redirectUris: [CANON_REDIRECT, "https://canon.example/other?x=1"],
    grantTypes: ["authorization_code", "refresh_token"],
    scopes: ["photos", "profile"],
    tokenEndpointAuthMethod: "client_secret_basic",
    createdAt: now,
  };
  const cli: Client = {
    clientId: "photo-cli-id",
    name: "Photo CLI",
    secretDigest: null,
    redirectUris: ["http://127.0.0.1:4000/cb"],
    grantTypes: ["authorization_code", "refresh_token"],
    scopes: ["photos"],
    tokenEndpointAuthMethod: "none",
    createdAt: now,
  };
  const robot: Client = {
    clientId: "robot-id",
    name: "Robot",
    secretDigest: "11".repeat(32),
    redirectUris: ["https://robot.example/cb"],
    grantTypes: ["client_credentials"],
    scopes: ["photos"],
    tokenEndpointAuthMethod: "client_secret_basic",
    createdAt: now,
  };
  for (const c of [canon, cli, robot]) await storage.clients.create(c);
  return { storage, canon, cli, robot };
}
