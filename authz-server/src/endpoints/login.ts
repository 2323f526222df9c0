import { timingSafeEqual } from "node:crypto";
import type { Context } from "koa";
import { checkPassword } from "../passwords.js";
import { hiddenRequestFields, requestFields } from "../authorization/request.js";
import { redirectOrigin } from "../authorization/response.js";
import { readPostedForm, single, type InteractionDependencies } from "../session/interaction.js";
import { accountName, describeRetry, type ThrottleScope } from "../session/throttle.js";
import { renderLogin } from "../views/login.js";
import { seeOther, sendPage } from "../views/page-response.js";
import { authorizeOrAnswer } from "./authorize.js";

/**
 * `POST /login`: the login form (RFC 6749 §3.1 leaves user authentication to the server).
 * CSRF token first (RFC 9700 §4.7), then the throttle (session/throttle.ts, RFC 9700 §4.15), then the password;
 * on success a new session id and a 303 (RFC 9700 §4.12) back to the authorization request,
 * or to the consents page when the user came to manage consents.
 */
export function loginEndpoint(deps: InteractionDependencies) {
  return async function login(ctx: Context): Promise<void> {
    const { session, form } = await readPostedForm(ctx, deps, "Cannot sign in");

    // Where to continue: the authorization request carried in the form, or the consents page.
    const forAuthorization = form.has("client_id");
    let continueTo = "/consents";
    let clientName: string | undefined;
    let hidden: [string, string][] = [];
    let formActionOrigins: string[] = [];
    if (forAuthorization) {
      const validated = await authorizeOrAnswer(ctx, deps, form);
      if (!validated) return; // the error was redirected to the client
      continueTo = `/authorize?${requestFields(validated.request).toString()}`;
      clientName = validated.client.name;
      hidden = hiddenRequestFields(validated.request);
      formActionOrigins = redirectOrigin(validated.request.redirectUri);
    }

    const username = (single(form, "username") ?? "").trim();
    const password = single(form, "password") ?? "";
    const again = (status: number, error: string): void => {
      sendPage(
        ctx,
        renderLogin({
          siteName: deps.siteName,
          ...(clientName !== undefined ? { clientName } : {}),
          csrfToken: deps.sessions.csrfToken(session),
          hidden,
          username,
          error,
          formActionOrigins,
        }),
        status,
      );
    };
    if (username === "" || password === "") {
      again(400, "Enter your username and password.");
      return;
    }

    // Counted before the password is checked (see LoginThrottle.begin), so concurrent guesses cannot outrun the limit,
    // on this process or another on the database; a database that cannot be reached answers 503, never an unthrottled guess.
    const account = accountName(username);
    const knownDevice = deps.sessions.knownDevice(ctx, account);
    const verdict = await deps.throttle.begin(username, ctx.ip, knownDevice);
    if (!verdict.allowed) {
      deps.counters.login("throttled");
      ctx.set("Retry-After", String(verdict.retryAfterSeconds));
      again(429, throttledMessage(verdict.scope, describeRetry(verdict.retryAfterSeconds)));
      return;
    }

    const user = await deps.storage.users.findByUsername(username);
    // For an unknown user checkPassword still runs scrypt, so timing reveals no usernames.
    const ok = await checkPassword(password, user?.passwordHash);
    // The exact username must match too (the store's lookup may be case-insensitive).
    if (!user || !ok || !sameText(user.username, username)) {
      deps.counters.login("failure");
      again(400, "The username or password is incorrect.");
      return; // already counted by begin()
    }
    await deps.throttle.recordSuccess(username, ctx.ip, knownDevice);
    deps.counters.login("success");
    deps.sessions.rememberDevice(ctx, account);
    await deps.sessions.login(ctx, deps.storage.browserSessions, session, user.id);
    // Only ever our own paths: the server is never an open redirector (RFC 9700 §4.11).
    seeOther(ctx, continueTo);
  };
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Why this attempt was not checked, and when the next one will be. */
export function throttledMessage(scope: ThrottleScope, wait: string): string {
  switch (scope) {
    case "account-and-address":
      return `Too many failed sign-in attempts for this account from your network address. For your security, sign-in from here is paused. Try again in ${wait}.`;
    case "account-and-device":
      return `Too many failed sign-in attempts for this account in this browser. For your security, sign-in from here is paused. Try again in ${wait}.`;
    case "account":
      return `This account has had many failed sign-in attempts. For your security, attempts are spaced out: try again in ${wait}.`;
  }
}
