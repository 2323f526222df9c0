import type { Context } from "koa";
import { PageError } from "../errors.js";
import {
  currentUser,
  readPostedForm,
  SESSION_EXPIRED,
  single,
  type InteractionDependencies,
} from "../session/interaction.js";
import type { SessionUser } from "../session/sessions.js";
import { renderConsents } from "../views/consents.js";
import { renderLogin } from "../views/login.js";
import { seeOther, sendPage } from "../views/page-response.js";

/** What the account page says above its lists and forms: a notice after a change, an error from the password form. */
export interface AccountPageMessages {
  readonly notice?: string;
  readonly passwordError?: string;
}

/**
 * The account page (`/consents`) of a signed-in user: the connected apps, each with a button to withdraw its access,
 * the password form and the sign-out-everywhere button. Also answers a password form that was refused, with its error.
 */
export async function sendAccountPage(
  ctx: Context,
  deps: InteractionDependencies,
  page: { user: SessionUser; csrfToken: string; status?: number } & AccountPageMessages,
): Promise<void> {
  const consents = await deps.storage.consents.list({ userId: page.user.userId });
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
      username: page.user.username,
      consents: rows,
      csrfToken: page.csrfToken,
      ...(page.notice !== undefined ? { notice: page.notice } : {}),
      ...(page.passwordError !== undefined ? { passwordError: page.passwordError } : {}),
    }),
    page.status,
  );
}

/** The account page's notice after a password change (endpoints/password.ts). */
export const PASSWORD_CHANGED = "Your password was changed. You were signed out on every other device.";

/** The notice the page shows after a change, named by the query string of the redirect that follows it. */
async function noticeAfter(
  ctx: Context,
  deps: InteractionDependencies,
  user: SessionUser,
): Promise<string | undefined> {
  // Shown only if the consent is indeed gone, so a crafted link cannot claim a withdrawal that did not happen.
  const withdrawn = ctx.query.withdrawn;
  if (typeof withdrawn === "string") {
    const stillGranted = (await deps.storage.consents.grantedScopes(user.userId, withdrawn)).length > 0;
    const client = stillGranted ? undefined : await deps.storage.clients.find(withdrawn);
    return client ? `Access for ${client.name} was withdrawn.` : undefined;
  }
  // A change leaves nothing on this page to check it by; the notice only confirms what this browser's own form did
  // (endpoints/password.ts), and a forged link to it changes nothing.
  if (ctx.query.password === "changed") return PASSWORD_CHANGED;
  return undefined;
}

/** `GET /consents`: the signed-in user's account page (sendAccountPage); the sign-in form when nobody is signed in. */
export function consentsPage(deps: InteractionDependencies) {
  return async function consents(ctx: Context): Promise<void> {
    const session = deps.sessions.load(ctx);
    const user = await currentUser(deps, session);
    const csrfToken = deps.sessions.csrfToken(session);
    if (!user) {
      sendPage(ctx, renderLogin({ siteName: deps.siteName, csrfToken, hidden: [] }));
      return;
    }
    const notice = await noticeAfter(ctx, deps, user);
    await sendAccountPage(ctx, deps, { user, csrfToken, ...(notice !== undefined ? { notice } : {}) });
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
    // Counted only when a consent was there to withdraw: a repeated or crafted form changes nothing.
    if (await deps.storage.consents.revoke(user.userId, clientId, deps.clock.now())) deps.counters.consent("withdrawn");
    seeOther(ctx, `/consents?withdrawn=${encodeURIComponent(clientId)}`);
  };
}
