import type { Context } from "koa";
import { PageError } from "../errors.js";
import { currentUser, readPostedForm, SESSION_EXPIRED, type InteractionDependencies } from "../session/interaction.js";
import { seeOther } from "../views/page-response.js";

const TITLE = "Cannot sign out everywhere";

/**
 * `POST /sign-out-everywhere`: the account page's button for a user who fears a device or an app holds their account.
 * CSRF-checked (RFC 9700 §4.7). The store ends every browser session of the user, this one included, revokes their
 * refresh tokens and lists the user in the revocation feed, so access tokens issued before are refused too (RFC 7009
 * §2.1); consents stay. The browser gets a new anonymous session and lands on the sign-in page.
 */
export function signOutEverywhereEndpoint(deps: InteractionDependencies) {
  return async function signOutEverywhere(ctx: Context): Promise<void> {
    const { session } = await readPostedForm(ctx, deps, TITLE);
    const user = await currentUser(deps, session);
    if (!user) throw new PageError(403, TITLE, SESSION_EXPIRED);
    await deps.storage.users.signOutEverywhere(user.userId, deps.clock.now());
    await deps.sessions.logout(ctx, deps.storage.browserSessions, session);
    seeOther(ctx, "/consents");
  };
}
