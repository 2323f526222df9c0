import type { Context } from "koa";
import { readPostedForm, type InteractionDependencies } from "../session/interaction.js";
import { seeOther } from "../views/page-response.js";

/**
 * `POST /logout`: ends the browser session server-side (its record is deleted, so a copy of the cookie no longer signs
 * anyone in), gives the browser a new anonymous session id, then back to the consents page.
 */
export function logoutEndpoint(deps: InteractionDependencies) {
  return async function logout(ctx: Context): Promise<void> {
    // CSRF-checked too: a forged sign-out is a nuisance an attacker should not be able to cause.
    const { session } = await readPostedForm(ctx, deps, "Cannot sign out");
    await deps.sessions.logout(ctx, deps.storage.browserSessions, session);
    seeOther(ctx, "/consents");
  };
}
