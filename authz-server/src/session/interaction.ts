import type { Context } from "koa";
import type { Clock } from "../clock.js";
import type { Lifetimes } from "../config.js";
import type { Storage } from "../storage/types.js";
import { PageError } from "../errors.js";
import { FormBodyError, readFormBody, type FormBodyFault } from "../form.js";
import type { SessionData } from "./cookie.js";
import type { SessionUser, Sessions } from "./sessions.js";
import type { LoginThrottle } from "./throttle.js";
import type { AuthzCounters } from "../metrics/counters.js";

/** What the browser-facing endpoints (authorize, login, consent, consents, logout) need. */
export interface InteractionDependencies {
  readonly storage: Storage;
  readonly clock: Clock;
  /** The issuer identifier, sent as `iss` in every authorization response (RFC 9207 §2). */
  readonly issuer: string;
  /** A `resource` the server accepts besides the scopes' resources (RFC 8707, see tokens/audience.ts). */
  readonly defaultAudience: string;
  /** Product name on the pages ("Flickr" in the seed story). */
  readonly siteName: string;
  readonly sessions: Sessions;
  readonly throttle: LoginThrottle;
  readonly lifetimes: Pick<Lifetimes, "authorizationCodeTtl">;
  /** Largest accepted form body in bytes. */
  readonly bodyLimit: number;
  /** Sign-ins and consents, counted for the metrics listener (metrics/counters.ts). */
  readonly counters: Pick<AuthzCounters, "login" | "consent">;
}

/** Shown when a form's anti-CSRF token is missing or wrong, or its session has ended. */
export const SESSION_EXPIRED =
  "Your session has expired or this form was not sent from this site. Go back to the app and start again.";

/** What the page says for each reason a form could not be read, with its status. */
const formFaults: Record<FormBodyFault, { status: number; message: string }> = {
  "media-type": { status: 415, message: "Forms must be posted as application/x-www-form-urlencoded." },
  charset: { status: 415, message: "Forms must be posted in UTF-8." },
  "too-large": { status: 413, message: "The form is too large." },
  unreadable: { status: 400, message: "The form could not be read." },
};

/**
 * The first steps of every form POST (login, consent, withdrawal, sign-out): the browser session, the form, and its
 * anti-CSRF token checked against that session (RFC 9700 §4.7). Throws a PageError titled `title`: 415/413/400 for
 * an unreadable form, 403 for a bad token.
 */
export async function readPostedForm(
  ctx: Context,
  deps: Pick<InteractionDependencies, "sessions" | "bodyLimit">,
  title: string,
): Promise<{ session: SessionData; form: URLSearchParams }> {
  const session = deps.sessions.load(ctx);
  let form: URLSearchParams;
  try {
    form = await readFormBody(ctx, deps.bodyLimit);
  } catch (error: unknown) {
    if (!(error instanceof FormBodyError)) throw error;
    const { status, message } = formFaults[error.fault];
    throw new PageError(status, title, message);
  }
  if (!deps.sessions.verifyCsrf(session, single(form, "csrf_token"))) throw new PageError(403, title, SESSION_EXPIRED);
  return { session, form };
}

/** The single value of a form field; undefined when absent or sent more than once. */
export function single(form: URLSearchParams, name: string): string | undefined {
  const values = form.getAll(name);
  return values.length === 1 ? values[0] : undefined;
}

/** The signed-in user of this session; undefined once it was signed out, expired, or ended by the operator. */
export function currentUser(
  deps: Pick<InteractionDependencies, "sessions" | "storage">,
  session: SessionData,
): Promise<SessionUser | undefined> {
  return deps.sessions.user(deps.storage.browserSessions, session);
}
