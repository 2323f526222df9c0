import type { Context } from "koa";
import { OAuthError, type OAuthErrorCode } from "../errors.js";
import { digest, generateSecret } from "../secrets.js";
import { checkResources, permittedResources, RESOURCE_NOT_IN_SCOPES } from "../tokens/audience.js";
import { grantScopes, parseScope } from "../tokens/scope.js";
import { seeOther, sendPage } from "../session/headers.js";
import { currentUser, sendErrorPage, type InteractionDependencies } from "../session/interaction.js";
import type { SessionData } from "../session/cookie.js";
import type { Client, Storage } from "../storage/types.js";
import { renderConsent } from "../views/consent.js";
import { renderLogin } from "../views/login.js";

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

export function validateAuthorizationRequest(
  params: URLSearchParams,
  storage: Pick<Storage, "clients" | "scopes">,
  defaultAudience: string,
): AuthorizationValidation {
  // Until client and redirect URI are established, every error is a page (RFC 6749 §4.1.2.1).
  if (duplicated(params, "client_id") || duplicated(params, "redirect_uri")) {
    return { kind: "page", title: "Invalid request", message: "The request repeats client_id or redirect_uri." };
  }
  const clientId = params.get("client_id");
  if (!clientId) {
    return {
      kind: "page",
      title: "Invalid request",
      message: "The request names no application (client_id is missing).",
    };
  }
  const client = storage.clients.find(clientId);
  if (!client) {
    return {
      kind: "page",
      title: "Unknown application",
      message: "The application that sent you here is not registered.",
    };
  }
  const redirectUri = params.get("redirect_uri");
  if (!redirectUri) {
    // Required even when one URI is registered (OAuth 2.1 §4.1.1 keeps the RFC 6749 option,
    // but the exact binding at the token endpoint is simpler to reason about when always present).
    return { kind: "page", title: "Invalid request", message: "The request has no redirect_uri." };
  }
  if (!matchRedirectUri(client, redirectUri)) {
    return {
      kind: "page",
      title: "Unregistered redirect address",
      message: `${client.name} asked to send you to an address it has not registered, so you were not sent anywhere.`,
    };
  }

  const states = params.getAll("state");
  const state = states.length === 1 ? states[0] : undefined;
  const fail = (error: OAuthErrorCode, description: string): AuthorizationValidation => ({
    kind: "redirect",
    redirectUri,
    state,
    error,
    description,
  });

  for (const name of PARAMETERS) {
    if (duplicated(params, name)) return fail("invalid_request", `parameter ${name} is repeated`);
  }
  const responseType = params.get("response_type");
  if (!responseType) return fail("invalid_request", "response_type is required");
  // Only the code flow: no implicit grant (RFC 9700 §2.1.2), and no hybrid types.
  if (responseType !== "code") return fail("unsupported_response_type", "only response_type=code is supported");
  if (!client.grantTypes.includes("authorization_code")) {
    return fail("unauthorized_client", "the client may not use the authorization code grant");
  }

  // PKCE with S256 for every client (RFC 9700 §2.1.1, OAuth 2.1 §4.1.1); plain is refused,
  // and a missing method would mean plain (RFC 7636 §4.3), so it is refused too.
  const codeChallenge = params.get("code_challenge");
  if (!codeChallenge) return fail("invalid_request", "code_challenge is required (PKCE with S256)");
  const method = params.get("code_challenge_method");
  if (method !== "S256") return fail("invalid_request", "code_challenge_method must be S256");
  if (!S256_CHALLENGE.test(codeChallenge))
    return fail("invalid_request", "code_challenge is not a base64url SHA-256 value");

  // Scope (RFC 6749 §3.3): absent means every scope the client may request.
  let scopes: string[];
  try {
    scopes = grantScopes(client, parseScope(params.get("scope") ?? undefined));
  } catch (error: unknown) {
    if (error instanceof OAuthError) return fail(error.code, error.description);
    throw error;
  }
  if (scopes.length === 0) return fail("invalid_scope", "no scope requested and the client has none");
  const unknown = scopes.filter((name) => !storage.scopes.find(name));
  if (unknown.length > 0) return fail("invalid_scope", `unknown scope: ${unknown.join(" ")}`);

  // RFC 8707 §2: each resource is an absolute URI without fragment, one we serve, and one the requested scopes are for.
  let resources: string[];
  try {
    const permitted = permittedResources([], scopes, storage.scopes, defaultAudience);
    resources = checkResources(
      params.getAll("resource"),
      storage.scopes,
      defaultAudience,
      permitted,
      RESOURCE_NOT_IN_SCOPES,
    );
  } catch (error: unknown) {
    if (error instanceof OAuthError) return fail(error.code, error.description);
    throw error;
  }

  return {
    kind: "ok",
    client,
    request: { clientId, redirectUri, scopes, state, codeChallenge, codeChallengeMethod: "S256", resources },
  };
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

/**
 * An authorization response URL: the registered redirect URI (its own query kept, RFC 6749
 * §3.1.2) plus the response parameters, `state` unchanged and `iss` always (RFC 9207 §2,
 * which defends clients that talk to several servers against mix-up attacks).
 */
export function authorizationResponse(
  issuer: string,
  redirectUri: string,
  state: string | undefined,
  parameters: Record<string, string>,
): string {
  const url = new URL(redirectUri);
  for (const [name, value] of Object.entries(parameters)) url.searchParams.append(name, value);
  if (state !== undefined) url.searchParams.append("state", state);
  url.searchParams.append("iss", issuer);
  return url.href;
}

function errorResponse(issuer: string, failure: Extract<AuthorizationValidation, { kind: "redirect" }>): string {
  return authorizationResponse(issuer, failure.redirectUri, failure.state, {
    error: failure.error,
    error_description: failure.description,
  });
}

/**
 * Issues an authorization code: 256 random bits, stored only as its SHA-256 digest
 * (requirement 15), bound to client, redirect URI, PKCE challenge, user, scope and resources,
 * valid for `authorizationCodeTtl` seconds (RFC 6749 §4.1.2: short-lived, single use).
 */
export function issueCode(
  deps: Pick<InteractionDependencies, "storage" | "clock" | "lifetimes" | "issuer">,
  userId: string,
  request: AuthorizationRequest,
): string {
  const code = generateSecret();
  const now = deps.clock.now();
  deps.storage.codes.create({
    codeDigest: digest(code),
    clientId: request.clientId,
    userId,
    redirectUri: request.redirectUri,
    codeChallenge: request.codeChallenge,
    codeChallengeMethod: request.codeChallengeMethod,
    scope: request.scopes.join(" "),
    resources: [...request.resources],
    createdAt: now,
    expiresAt: now + deps.lifetimes.authorizationCodeTtl * 1000,
    consumedAt: null,
  });
  return authorizationResponse(deps.issuer, request.redirectUri, request.state, { code });
}

/** Origin of the redirect URI, for the pages' CSP form-action (see views/layout.ts). */
export function redirectOrigin(redirectUri: string): string[] {
  try {
    return [new URL(redirectUri).origin];
  } catch {
    return [];
  }
}

/**
 * Next step of a valid request for this browser: the login form, the consent form (only for
 * scopes the user has not granted this client yet, requirement 7), or the code itself.
 */
export function continueAuthorization(
  ctx: Context,
  deps: InteractionDependencies,
  session: SessionData,
  client: Client,
  request: AuthorizationRequest,
): void {
  const user = currentUser(deps, session);
  const formActionOrigins = redirectOrigin(request.redirectUri);
  if (!user) {
    sendPage(
      ctx,
      renderLogin({
        siteName: deps.siteName,
        clientName: client.name,
        csrfToken: deps.sessions.csrfToken(session),
        hidden: hiddenRequestFields(request),
        formActionOrigins,
      }),
    );
    return;
  }
  const granted = new Set(deps.storage.consents.grantedScopes(user.userId, client.clientId));
  if (request.scopes.every((s) => granted.has(s))) {
    seeOther(ctx, issueCode(deps, user.userId, request));
    return;
  }
  sendPage(
    ctx,
    renderConsent({
      siteName: deps.siteName,
      clientName: client.name,
      username: user.username,
      scopes: request.scopes.map((name) => ({
        name,
        description: deps.storage.scopes.find(name)?.description ?? name,
        granted: granted.has(name),
      })),
      redirectUri: request.redirectUri,
      csrfToken: deps.sessions.csrfToken(session),
      hidden: hiddenRequestFields(request),
      formActionOrigins,
    }),
  );
}

/** Handles a request already read into `params` (GET query, or the fields posted by login/consent). */
export function handleAuthorization(
  ctx: Context,
  deps: InteractionDependencies,
  params: URLSearchParams,
): AuthorizationValidation {
  const result = validateAuthorizationRequest(params, deps.storage, deps.defaultAudience);
  if (result.kind === "page") {
    sendErrorPage(ctx, deps, 400, result.title, result.message);
  } else if (result.kind === "redirect") {
    seeOther(ctx, errorResponse(deps.issuer, result));
  }
  return result;
}

/** `GET /authorize` (RFC 6749 §4.1.1). */
export function authorizeEndpoint(deps: InteractionDependencies) {
  return async function authorize(ctx: Context): Promise<void> {
    const session = deps.sessions.load(ctx);
    const params = new URLSearchParams(ctx.querystring);
    const result = handleAuthorization(ctx, deps, params);
    if (result.kind === "ok") continueAuthorization(ctx, deps, session, result.client, result.request);
  };
}
