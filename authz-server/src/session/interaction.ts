import type { Context } from "koa";
import getRawBody from "raw-body";
import type { Clock } from "../clock.js";
import type { Lifetimes } from "../config.js";
import type { Storage } from "../storage/types.js";
import { renderError } from "../views/error.js";
import { sendPage } from "./headers.js";
import type { SessionData } from "./cookie.js";
import type { SessionUser, Sessions } from "./sessions.js";
import type { LoginThrottle } from "./throttle.js";

/** What the browser-facing endpoints (authorize, login, consent, consents) need. */
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
  readonly bodyLimit?: number;
}

class FormError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "FormError";
  }
}

/**
 * Reads an `application/x-www-form-urlencoded` body (what an HTML form posts). The body is
 * size-limited before parsing; decoding is URLSearchParams' (WHATWG URL standard).
 */
async function readForm(ctx: Context, limit = 16 * 1024): Promise<URLSearchParams> {
  if (!ctx.is("application/x-www-form-urlencoded")) {
    throw new FormError(415, "Forms must be posted as application/x-www-form-urlencoded.");
  }
  let text: string;
  try {
    text = await getRawBody(ctx.req, { limit, encoding: "utf8" });
  } catch (error: unknown) {
    const tooLarge =
      typeof error === "object" && error !== null && (error as { type?: unknown }).type === "entity.too.large";
    throw new FormError(tooLarge ? 413 : 400, tooLarge ? "The form is too large." : "The form could not be read.");
  }
  return new URLSearchParams(text);
}

/** Shown when a form's anti-CSRF token is missing or wrong, or its session has ended. */
export const SESSION_EXPIRED =
  "Your session has expired or this form was not sent from this site. Go back to the app and start again.";

/**
 * The first steps of every form POST (login, consent, withdrawal, sign-out): the browser session, the form, and its
 * anti-CSRF token checked against that session (RFC 9700 §4.7). On failure the error page, titled `title`, has
 * been sent (415/413/400 for an unreadable form, 403 for a bad token) and the result is undefined.
 */
export async function readPostedForm(
  ctx: Context,
  deps: Pick<InteractionDependencies, "sessions" | "siteName" | "bodyLimit">,
  title: string,
): Promise<{ session: SessionData; form: URLSearchParams } | undefined> {
  const session = deps.sessions.load(ctx);
  let form: URLSearchParams;
  try {
    form = await readForm(ctx, deps.bodyLimit);
  } catch (error: unknown) {
    if (error instanceof FormError) {
      sendErrorPage(ctx, deps, error.status, title, error.message);
      return;
    }
    throw error;
  }
  if (!deps.sessions.verifyCsrf(session, single(form, "csrf_token"))) {
    sendErrorPage(ctx, deps, 403, title, SESSION_EXPIRED);
    return;
  }
  return { session, form };
}

/** The single value of a form field; undefined when absent or sent more than once. */
export function single(form: URLSearchParams, name: string): string | undefined {
  const values = form.getAll(name);
  return values.length === 1 ? values[0] : undefined;
}

export function sendErrorPage(
  ctx: Context,
  deps: Pick<InteractionDependencies, "siteName">,
  status: number,
  title: string,
  message: string,
  code?: string,
): void {
  sendPage(ctx, renderError({ siteName: deps.siteName, title, message, ...(code ? { code } : {}) }), status);
}

/** The signed-in user of this session; undefined once it was signed out, expired, or ended by the operator. */
export function currentUser(
  deps: Pick<InteractionDependencies, "sessions" | "storage">,
  session: SessionData,
): SessionUser | undefined {
  return deps.sessions.user(deps.storage.browserSessions, session);
}
