import type { Context } from "koa";
import { issueCode } from "../authorization/issue-code.js";
import {
  hiddenRequestFields,
  validateAuthorizationRequest,
  type AuthorizationRequest,
} from "../authorization/request.js";
import { authorizationErrorResponse, redirectOrigin } from "../authorization/response.js";
import { PageError } from "../errors.js";
import type { SessionData } from "../session/cookie.js";
import { currentUser, type InteractionDependencies } from "../session/interaction.js";
import type { Client } from "../storage/types.js";
import { renderConsent } from "../views/consent.js";
import { renderLogin } from "../views/login.js";
import { seeOther, sendPage } from "../views/page-response.js";

/** A request that passed validation: its client and the request as validated. */
export interface ValidAuthorization {
  readonly client: Client;
  readonly request: AuthorizationRequest;
}

/**
 * Validates a request already read into `params` (the GET query, or the fields posted by login and consent). An
 * untrusted redirect URI throws a PageError; an error the client may hear is redirected to it and the result is
 * undefined (RFC 6749 §4.1.2.1).
 */
export async function authorizeOrAnswer(
  ctx: Context,
  deps: InteractionDependencies,
  params: URLSearchParams,
): Promise<ValidAuthorization | undefined> {
  const result = await validateAuthorizationRequest(params, deps.storage, deps.defaultAudience);
  switch (result.kind) {
    case "page":
      throw new PageError(400, result.title, result.message);
    case "redirect":
      seeOther(
        ctx,
        authorizationErrorResponse(deps.issuer, result.redirectUri, result.state, result.error, result.description),
      );
      return undefined;
    case "ok":
      return { client: result.client, request: result.request };
  }
}

/**
 * Next step of a valid request for this browser: the login form, the consent form (only for scopes the user has not
 * granted this client yet), or the code itself.
 */
export async function continueAuthorization(
  ctx: Context,
  deps: InteractionDependencies,
  session: SessionData,
  { client, request }: ValidAuthorization,
): Promise<void> {
  const user = await currentUser(deps, session);
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
  const granted = new Set(await deps.storage.consents.grantedScopes(user.userId, client.clientId));
  if (request.scopes.every((s) => granted.has(s))) {
    seeOther(ctx, await issueCode(deps, user.userId, request));
    return;
  }
  const catalog = await deps.storage.scopes.catalog();
  sendPage(
    ctx,
    renderConsent({
      siteName: deps.siteName,
      clientName: client.name,
      username: user.username,
      scopes: request.scopes.map((name) => ({
        name,
        description: catalog.find(name)?.description ?? name,
        granted: granted.has(name),
      })),
      redirectUri: request.redirectUri,
      csrfToken: deps.sessions.csrfToken(session),
      hidden: hiddenRequestFields(request),
      formActionOrigins,
    }),
  );
}

/** `GET /authorize` (RFC 6749 §4.1.1). */
export function authorizeEndpoint(deps: InteractionDependencies) {
  return async function authorize(ctx: Context): Promise<void> {
    const session = deps.sessions.load(ctx);
    const valid = await authorizeOrAnswer(ctx, deps, new URLSearchParams(ctx.querystring));
    if (valid) await continueAuthorization(ctx, deps, session, valid);
  };
}
