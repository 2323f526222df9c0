import { digest, generateId, generateSecret } from "../secrets.js";
import type { Client, Storage } from "../storage/types.js";

/** A registration the server refuses; its message names the rule and, where it helps, the flag that fixes it. */
export class RegistrationError extends Error {}

export const knownGrantTypes = ["authorization_code", "refresh_token", "client_credentials"] as const;

/** What an operator asks for when registering a client (the `clients create` flags, before any check). */
export interface ClientRequest {
  name: string;
  redirectUris: readonly string[];
  scopes: readonly string[];
  grantTypes: readonly string[];
  isPublic: boolean;
  resourceServerFor: readonly string[];
}

/** The consent page asks "Do you want to allow <name> to access …?": a name users can read is required. */
export function checkClientName(name: string): string {
  const trimmed = name.trim();
  if (trimmed === "") throw new RegistrationError("--name must not be empty: it is shown to users on the consent page");
  if (/\p{Cc}/u.test(trimmed)) throw new RegistrationError("--name must not contain control characters");
  return trimmed;
}

/** RFC 9700 §2.1: https, or http only on a loopback host (RFC 8252 §7.3); absolute (RFC 6749 §3.1.2), no fragment. */
export function checkRedirectUri(uri: string): string {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new RegistrationError(`redirect URI is not an absolute URI: ${uri}`);
  }
  if (url.hash !== "" || uri.includes("#"))
    throw new RegistrationError(`redirect URI must not contain a fragment: ${uri}`);
  const loopback = ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname);
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback)) {
    throw new RegistrationError(`redirect URI must use https (http only for loopback hosts): ${uri}`);
  }
  return uri;
}

/** The redirect URIs of a registration, each checked, duplicates dropped. */
export function checkRedirectUris(uris: readonly string[]): string[] {
  return [...new Set(uris.map(checkRedirectUri))];
}

/** RFC 8707 §2: a resource indicator is an absolute URI without a fragment; `flag` names where it was given. */
export function checkResourceIndicator(flag: string, uri: string): string {
  try {
    if (new URL(uri).hash === "" && !uri.includes("#")) return uri;
  } catch {
    // not a URI at all: the same answer as for a fragment
  }
  throw new RegistrationError(`${flag} must be an absolute URI without fragment: ${uri}`);
}

/**
 * A new client's grant types: those given, else the code flow (with refresh tokens) for a client with a redirect URI
 * or a public one, none for a resource server (it only introspects), else client_credentials. A public client cannot
 * keep a secret (RFC 6749 §2.1): the code flow with PKCE is the only grant it may use.
 */
export function clientGrantTypes(
  given: readonly string[],
  registration: { redirectUris: readonly string[]; resourceServerFor: readonly string[]; isPublic: boolean },
): string[] {
  const { redirectUris, resourceServerFor, isPublic } = registration;
  const grantTypes =
    given.length > 0
      ? [...new Set(given)]
      : redirectUris.length > 0 || isPublic
        ? ["authorization_code", "refresh_token"]
        : resourceServerFor.length > 0
          ? []
          : ["client_credentials"];
  for (const type of grantTypes) {
    if (!(knownGrantTypes as readonly string[]).includes(type)) {
      throw new RegistrationError(`unknown grant type: ${type} (one of ${knownGrantTypes.join(", ")})`);
    }
  }
  if (isPublic) {
    if (grantTypes.includes("client_credentials"))
      throw new RegistrationError("a public client cannot use client_credentials (RFC 6749 §4.4)");
    if (redirectUris.length === 0) {
      throw new RegistrationError(
        "a public client needs --redirect-uri (the authorization code flow is the only grant a public client may use)",
      );
    }
    if (!grantTypes.includes("authorization_code"))
      throw new RegistrationError("a public client needs the authorization_code grant");
  }
  if (grantTypes.includes("authorization_code") && redirectUris.length === 0) {
    throw new RegistrationError("authorization_code needs at least one --redirect-uri");
  }
  return grantTypes;
}

/**
 * Checks a registration against every rule and stores the client. Returns it with its secret, which exists only
 * here: the storage keeps its SHA-256 digest (RFC 6749 §2.3.1), and a public client has none (`token_endpoint_auth_method`
 * "none", RFC 7591 §2).
 */
export async function registerClient(
  storage: Storage,
  request: ClientRequest,
  now: number,
): Promise<{ client: Client; secret: string | null }> {
  const name = checkClientName(request.name);
  const redirectUris = checkRedirectUris(request.redirectUris);
  for (const scope of request.scopes) {
    if (!(await storage.scopes.find(scope)))
      throw new RegistrationError(`unknown scope: ${scope} (create it with scopes create)`);
  }
  const resourceServerFor = [
    ...new Set(request.resourceServerFor.map((uri) => checkResourceIndicator("--resource-server-for", uri))),
  ];
  const { isPublic } = request;
  if (isPublic && resourceServerFor.length > 0) {
    throw new RegistrationError(
      "a public client cannot be a resource server: introspection needs client authentication (RFC 7662 §2.1)",
    );
  }
  const grantTypes = clientGrantTypes(request.grantTypes, { redirectUris, resourceServerFor, isPublic });
  const secret = isPublic ? null : generateSecret();
  const client: Client = {
    clientId: generateId(),
    name,
    secretDigest: secret === null ? null : digest(secret),
    redirectUris,
    grantTypes,
    scopes: [...new Set(request.scopes)],
    tokenEndpointAuthMethod: isPublic ? "none" : "client_secret_basic",
    createdAt: now,
    ...(resourceServerFor.length > 0 ? { resourceServerFor } : {}),
  };
  await storage.transaction(async (tx) => {
    // Two clients users cannot tell apart on the consent page would let one pass for the other.
    const namesake = await tx.clients.findByName(name);
    if (namesake)
      throw new RegistrationError(
        `a client named ${JSON.stringify(namesake.name)} already exists: ${namesake.clientId}`,
      );
    await tx.clients.create(client);
  });
  return { client, secret };
}
