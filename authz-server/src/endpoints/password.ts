import type { Context } from "koa";
import { PageError } from "../errors.js";
import { checkPassword, checkPasswordPolicy, hashPassword } from "../passwords.js";
import {
  currentUser,
  readPostedForm,
  SESSION_EXPIRED,
  single,
  type InteractionDependencies,
} from "../session/interaction.js";
import type { SessionUser } from "../session/sessions.js";
import { accountName, describeRetry } from "../session/throttle.js";
import { seeOther } from "../views/page-response.js";
import { sendAccountPage } from "./consents.js";
import { throttledMessage } from "./login.js";

const TITLE = "Cannot change password";

/**
 * `POST /password`: the account page's "Change password" form. CSRF token first (RFC 9700 §4.7); the new password is
 * held to the rules of `users set-password` (passwords.ts) and typed twice; the current password is checked under the
 * login throttle (session/throttle.ts, RFC 9700 §4.15), since a browser left signed in is a way to guess it. On
 * success the store ends every browser session and refresh token of the user and lists the user in the revocation
 * feed (access tokens issued before are refused); this browser is signed in again under a new session id.
 */
export function passwordEndpoint(deps: InteractionDependencies) {
  return async function changePassword(ctx: Context): Promise<void> {
    const { session, form } = await readPostedForm(ctx, deps, TITLE);
    const user = await currentUser(deps, session);
    if (!user) throw new PageError(403, TITLE, SESSION_EXPIRED);
    const refuse = (status: number, passwordError: string) =>
      sendAccountPage(ctx, deps, { user, csrfToken: deps.sessions.csrfToken(session), status, passwordError });

    const current = single(form, "current_password") ?? "";
    const next = single(form, "new_password") ?? "";
    const problem = newPasswordProblem(current, next, single(form, "new_password_again") ?? "");
    if (problem !== undefined) {
      await refuse(400, problem);
      return;
    }

    // Counted before the password is checked, as at the login (login.ts): the same limits for the same account.
    const knownDevice = deps.sessions.knownDevice(ctx, accountName(user.username));
    const verdict = await deps.throttle.begin(user.username, ctx.ip, knownDevice);
    if (!verdict.allowed) {
      ctx.set("Retry-After", String(verdict.retryAfterSeconds));
      await refuse(429, throttledMessage(verdict.scope, describeRetry(verdict.retryAfterSeconds)));
      return;
    }
    if (!(await currentPasswordMatches(deps, user, current))) {
      await refuse(400, "Your current password is incorrect.");
      return; // already counted by begin()
    }
    await deps.throttle.recordSuccess(user.username, ctx.ip, knownDevice);
    await deps.storage.users.setPasswordHash(user.username, await hashPassword(next), deps.clock.now());
    await deps.sessions.login(ctx, deps.storage.browserSessions, session, user.userId);
    seeOther(ctx, "/consents?password=changed");
  };
}

/** What is wrong with the form before any password is checked; undefined when nothing is. */
function newPasswordProblem(current: string, next: string, again: string): string | undefined {
  if (current === "" || next === "") return "Enter your current password and the new one.";
  if (next !== again) return "The new passwords do not match.";
  try {
    checkPasswordPolicy(next);
  } catch (error: unknown) {
    return `The new ${(error as Error).message}.`;
  }
  return undefined;
}

async function currentPasswordMatches(
  deps: InteractionDependencies,
  user: SessionUser,
  password: string,
): Promise<boolean> {
  const stored = await deps.storage.users.findById(user.userId);
  return checkPassword(password, stored?.passwordHash);
}
