import type { Context } from "koa";
import { PageError } from "../errors.js";
import {
  currentUser,
  readPostedForm,
  SESSION_EXPIRED,
  single,
  type InteractionDependencies,
} from "../session/interaction.js";
import { renderConsents } from "../views/consents.js";
import { renderLogin } from "../views/login.js";
import { seeOther, sendPage } from "../views/page-response.js";

/** `GET /consents`: the signed-in user's connected apps, each consent shown with a button to withdraw it. */
export function consentsPage(deps: InteractionDependencies) {
  return async function consents(ctx: Context): Promise<void> {
    const session = deps.sessions.load(ctx);
    const user = await currentUser(deps, session);
    const csrfToken = deps.sessions.csrfToken(session);
    if (!user) {
      sendPage(ctx, renderLogin({ siteName: deps.siteName, csrfToken, hidden: [] }));
      return;
    }
    const consents = await deps.storage.consents.list({ userId: user.userId });
    // The notice after a withdrawal comes from the query string: shown only if the consent is indeed gone, so a
    // crafted link cannot claim a withdrawal that did not happen.
    const withdrawn = ctx.query.withdrawn;
    const withdrawnClient =
      typeof withdrawn === "string" && !consents.some((c) => c.clientId === withdrawn)
        ? await deps.storage.clients.find(withdrawn)
        : undefined;
    const catalog = await deps.storage.scopes.catalog();
    const rows = await Promise.all(
      consents.map(async (consent) => ({
        clientId: consent.clientId,
        clientName: (await deps.storage.clients.find(consent.clientId))?.name ?? consent.clientId,
        scopes: consent.scopes.map((name) => ({
          name,
          description: catalog.find(name)?.description ?? name,
        })),
        grantedAt: new Date(consent.grantedAt).toISOString(),
      })),
    );
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
 * tokens and the access tokens issued with them (RFC 7009 §2.1).
 */
export function revokeConsentEndpoint(deps: InteractionDependencies) {
  return async function revokeConsent(ctx: Context): Promise<void> {
    const { session, form } = await readPostedForm(ctx, deps, "Cannot withdraw");
    const user = await currentUser(deps, session);
    if (!user) throw new PageError(403, "Cannot withdraw", SESSION_EXPIRED);
    const clientId = single(form, "client_id");
    if (!clientId) throw new PageError(400, "Cannot withdraw", "No app was named.");
    await deps.storage.consents.revoke(user.userId, clientId, deps.clock.now());
    seeOther(ctx, `/consents?withdrawn=${encodeURIComponent(clientId)}`);
  };
}
