import type { Context } from "koa";
import { seeOther, sendPage } from "../session/headers.js";
import {
  currentUser,
  readPostedForm,
  sendErrorPage,
  SESSION_EXPIRED,
  single,
  type InteractionDependencies,
} from "../session/interaction.js";
import { renderConsents } from "../views/consents.js";
import { renderLogin } from "../views/login.js";

/** `GET /consents`: the signed-in user's connected apps (requirement 7: see and withdraw). */
export function consentsPage(deps: InteractionDependencies) {
  return async function consents(ctx: Context): Promise<void> {
    const session = deps.sessions.load(ctx);
    const user = currentUser(deps, session);
    const csrfToken = deps.sessions.csrfToken(session);
    if (!user) {
      sendPage(ctx, renderLogin({ siteName: deps.siteName, csrfToken, hidden: [] }));
      return;
    }
    const consents = deps.storage.consents.list({ userId: user.userId });
    // The notice after a withdrawal comes from the query string: shown only if the consent is indeed gone, so a
    // crafted link cannot claim a withdrawal that did not happen.
    const withdrawn = ctx.query.withdrawn;
    const withdrawnClient =
      typeof withdrawn === "string" && !consents.some((c) => c.clientId === withdrawn)
        ? deps.storage.clients.find(withdrawn)
        : undefined;
    const rows = consents.map((consent) => ({
      clientId: consent.clientId,
      clientName: deps.storage.clients.find(consent.clientId)?.name ?? consent.clientId,
      scopes: consent.scopes.map((name) => ({
        name,
        description: deps.storage.scopes.find(name)?.description ?? name,
      })),
      grantedAt: new Date(consent.grantedAt).toISOString(),
    }));
    sendPage(
      ctx,
      renderConsents({
        siteName: deps.siteName,
        username: user.username,
        consents: rows,
        csrfToken,
        ...(withdrawnClient ? { notice: `Access for ${withdrawnClient.name} was withdrawn.` } : {}),
      }),
    );
  };
}

/**
 * `POST /consents/revoke`: withdraws one consent; the store also revokes that grant's refresh
 * tokens and the access tokens issued with them (requirement 7, RFC 7009 §2.1).
 */
export function revokeConsentEndpoint(deps: InteractionDependencies) {
  return async function revokeConsent(ctx: Context): Promise<void> {
    const posted = await readPostedForm(ctx, deps, "Cannot withdraw");
    if (!posted) return;
    const { session, form } = posted;
    const user = currentUser(deps, session);
    if (!user) {
      sendErrorPage(ctx, deps, 403, "Cannot withdraw", SESSION_EXPIRED);
      return;
    }
    const clientId = single(form, "client_id");
    if (!clientId) {
      sendErrorPage(ctx, deps, 400, "Cannot withdraw", "No app was named.");
      return;
    }
    deps.storage.consents.revoke(user.userId, clientId, deps.clock.now());
    seeOther(ctx, `/consents?withdrawn=${encodeURIComponent(clientId)}`);
  };
}

/**
 * `POST /logout`: ends the browser session server-side (its record is deleted, so a copy of the cookie no longer signs
 * anyone in), gives the browser a new anonymous session id, then back to the consents page.
 */
export function logoutEndpoint(deps: InteractionDependencies) {
  return async function logout(ctx: Context): Promise<void> {
    // CSRF-checked too: a forged sign-out is a nuisance an attacker should not be able to cause.
    const posted = await readPostedForm(ctx, deps, "Cannot sign out");
    if (!posted) return;
    deps.sessions.logout(ctx, deps.storage.browserSessions, posted.session);
    seeOther(ctx, "/consents");
  };
}
