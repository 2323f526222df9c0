import { OAuthError, type OAuthErrorCode } from "../errors.js";
import type { Client, ScopeCatalog, Storage } from "../storage/types.js";
import { checkResources, permittedResources, RESOURCE_NOT_IN_SCOPES } from "../tokens/audience.js";
import { grantScopes, parseScope } from "../tokens/scope.js";

/** A validated authorization request (RFC 6749 §4.1.1 with PKCE, RFC 7636 §4.3, and RFC 8707 §2). */
export interface AuthorizationRequest {
  readonly clientId: string;
  readonly redirectUri: string;
  /** Requested scopes, deduplicated, in request order. */
  readonly scopes: readonly string[];
  readonly state: string | undefined;
  readonly codeChallenge: string;
  readonly codeChallengeMethod: "S256";
  readonly resources: readonly string[];
}

export type AuthorizationValidation =
  /** The redirect URI cannot be trusted: show a page, never redirect (RFC 6749 §4.1.2.1, RFC 9700 §4.11). */
  | { readonly kind: "page"; readonly title: string; readonly message: string }
  /** The redirect URI is registered: report the error to the client there (RFC 6749 §4.1.2.1). */
  | {
      readonly kind: "redirect";
      readonly redirectUri: string;
      readonly state: string | undefined;
      readonly error: OAuthErrorCode;
      readonly description: string;
    }
  | { readonly kind: "ok"; readonly client: Client; readonly request: AuthorizationRequest };

type ValidationStore = Pick<Storage, "clients" | "scopes">;

/** The parameters this endpoint reads; each may appear at most once (RFC 6749 §3.1). */
const PARAMETERS = [
  "response_type",
  "client_id",
  "redirect_uri",
  "scope",
  "state",
  "code_challenge",
  "code_challenge_method",
] as const;

/** RFC 7636 §4.2: BASE64URL(SHA256(verifier)) is always 43 characters of the base64url alphabet. */
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

/**
 * Validates an authorization request in named steps: first the client and its redirect URI, whose failures are
 * pages; then, once errors may be sent back to a registered redirect URI, the parameters, response type, PKCE,
 * scope and resources, whose failures are redirects.
 */
export async function validateAuthorizationRequest(
  params: URLSearchParams,
  storage: ValidationStore,
  defaultAudience: string,
): Promise<AuthorizationValidation> {
  const established = await establishClient(params, storage);
  if (established.kind === "page") return established;
  const { client, redirectUri } = established;
  const states = params.getAll("state");
  const state = states.length === 1 ? states[0] : undefined;
  try {
    checkSingleParameters(params);
    checkResponseType(params, client);
    const codeChallenge = checkCodeChallenge(params);
    const catalog = await storage.scopes.catalog(client.scopes);
    const scopes = checkScopes(params, client, catalog);
    const resources = checkRequestedResources(params, scopes, catalog, defaultAudience);
    return {
      kind: "ok",
      client,
      request: {
        clientId: client.clientId,
        redirectUri,
        scopes,
        state,
        codeChallenge,
        codeChallengeMethod: "S256",
        resources,
      },
    };
  } catch (error: unknown) {
    if (!(error instanceof OAuthError)) throw error;
    return { kind: "redirect", redirectUri, state, error: error.code, description: error.description };
  }
}

/** A failure shown as a page, before the redirect URI can be trusted. */
type PageFailure = Extract<AuthorizationValidation, { kind: "page" }>;

interface Established {
  readonly kind: "established";
  readonly client: Client;
  readonly redirectUri: string;
}

function page(title: string, message: string): PageFailure {
  return { kind: "page", title, message };
}

/** Client and redirect URI; until both are established, every error is a page (RFC 6749 §4.1.2.1). */
async function establishClient(params: URLSearchParams, storage: ValidationStore): Promise<Established | PageFailure> {
  if (duplicated(params, "client_id") || duplicated(params, "redirect_uri")) {
    return page("Invalid request", "The request repeats client_id or redirect_uri.");
  }
  const clientId = params.get("client_id");
  if (!clientId) return page("Invalid request", "The request names no application (client_id is missing).");
  const client = await storage.clients.find(clientId);
  if (!client) return page("Unknown application", "The application that sent you here is not registered.");
  const redirectUri = params.get("redirect_uri");
  // Required even when one URI is registered (OAuth 2.1 §4.1.1 keeps the RFC 6749 option, but the exact binding at
  // the token endpoint is simpler to reason about when always present).
  if (!redirectUri) return page("Invalid request", "The request has no redirect_uri.");
  if (!matchRedirectUri(client, redirectUri)) {
    return page(
      "Unregistered redirect address",
      `${client.name} asked to send you to an address it has not registered, so you were not sent anywhere.`,
    );
  }
  return { kind: "established", client, redirectUri };
}

/** RFC 6749 §3.1: request parameters must not be included more than once. */
function checkSingleParameters(params: URLSearchParams): void {
  for (const name of PARAMETERS) {
    if (duplicated(params, name)) throw new OAuthError("invalid_request", `parameter ${name} is repeated`);
  }
}

/** Only the code flow: no implicit grant (RFC 9700 §2.1.2), and no hybrid types. */
function checkResponseType(params: URLSearchParams, client: Client): void {
  const responseType = params.get("response_type");
  if (!responseType) throw new OAuthError("invalid_request", "response_type is required");
  if (responseType !== "code") {
    throw new OAuthError("unsupported_response_type", "only response_type=code is supported");
  }
  if (!client.grantTypes.includes("authorization_code")) {
    throw new OAuthError("unauthorized_client", "the client may not use the authorization code grant");
  }
}

/**
 * PKCE with S256 for every client (RFC 9700 §2.1.1, OAuth 2.1 §4.1.1); plain is refused, and a missing method would
 * mean plain (RFC 7636 §4.3), so it is refused too. Returns the challenge.
 */
function checkCodeChallenge(params: URLSearchParams): string {
  const codeChallenge = params.get("code_challenge");
  if (!codeChallenge) throw new OAuthError("invalid_request", "code_challenge is required (PKCE with S256)");
  if (params.get("code_challenge_method") !== "S256") {
    throw new OAuthError("invalid_request", "code_challenge_method must be S256");
  }
  if (!S256_CHALLENGE.test(codeChallenge)) {
    throw new OAuthError("invalid_request", "code_challenge is not a base64url SHA-256 value");
  }
  return codeChallenge;
}

/** Scope (RFC 6749 §3.3): absent means every scope the client may request; each must be a scope we know. */
function checkScopes(params: URLSearchParams, client: Client, catalog: ScopeCatalog): string[] {
  const scopes = grantScopes(client, parseScope(params.get("scope") ?? undefined));
  if (scopes.length === 0) throw new OAuthError("invalid_scope", "no scope requested and the client has none");
  const unknown = scopes.filter((name) => !catalog.find(name));
  if (unknown.length > 0) throw new OAuthError("invalid_scope", `unknown scope: ${unknown.join(" ")}`);
  return scopes;
}

/** RFC 8707 §2: each resource is an absolute URI without fragment, one we serve, and one the scopes are for. */
function checkRequestedResources(
  params: URLSearchParams,
  scopes: readonly string[],
  catalog: ScopeCatalog,
  defaultAudience: string,
): string[] {
  const permitted = permittedResources([], scopes, catalog, defaultAudience);
  return checkResources(params.getAll("resource"), catalog, defaultAudience, permitted, RESOURCE_NOT_IN_SCOPES);
}

/** `uri` parsed, if it is an http URI on a loopback IP literal (RFC 8252 §7.3); else undefined. */
function httpLoopback(uri: string): URL | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return undefined;
  }
  return url.protocol === "http:" && (url.hostname === "127.0.0.1" || url.hostname === "[::1]") ? url : undefined;
}

/**
 * Exact string comparison with the registered redirect URIs (RFC 9700 §4.1.3: no pattern,
 * no prefix, no case folding, a trailing slash matters). The single exception: a public
 * (native) client registered with an http loopback IP URI may use any port, since the port
 * is chosen by the operating system at run time (RFC 8252 §7.3). Never for a confidential client.
 */
export function matchRedirectUri(client: Client, redirectUri: string): boolean {
  if (client.redirectUris.includes(redirectUri)) return true;
  if (client.tokenEndpointAuthMethod !== "none") return false;
  const requested = httpLoopback(redirectUri);
  if (!requested) return false;
  // Compare everything but the port, on the serialized strings so nothing is normalised away.
  const strip = (u: URL, raw: string): string =>
    raw.replace(`${u.protocol}//${u.host}`, `${u.protocol}//${u.hostname}`);
  return client.redirectUris.some((registered) => {
    const r = httpLoopback(registered);
    return r !== undefined && strip(r, registered) === strip(requested, redirectUri);
  });
}

function duplicated(params: URLSearchParams, name: string): boolean {
  return params.getAll(name).length > 1;
}

/** The request as form fields, to carry it through the login and consent forms (and back to /authorize). */
export function requestFields(request: AuthorizationRequest): URLSearchParams {
  const fields = new URLSearchParams({
    response_type: "code",
    client_id: request.clientId,
    redirect_uri: request.redirectUri,
    scope: request.scopes.join(" "),
    code_challenge: request.codeChallenge,
    code_challenge_method: request.codeChallengeMethod,
  });
  if (request.state !== undefined) fields.set("state", request.state);
  for (const resource of request.resources) fields.append("resource", resource);
  return fields;
}

/** Hidden-field form of requestFields. */
export function hiddenRequestFields(request: AuthorizationRequest): [string, string][] {
  return [...requestFields(request)];
}
