import type { Context, Next } from "koa";
import type { Logger } from "pino";
import { isStorageError, StorageUnavailableError } from "./storage/errors.js";
import { renderError } from "./views/error.js";
import { sendPage } from "./views/page-response.js";

/**
 * The only error codes that go on the wire: RFC 6749 §4.1.2.1 and §5.2, RFC 8707 §2 (invalid_target)
 * and RFC 7009 §2.2.1 (unsupported_token_type). Nothing else.
 */
export type OAuthErrorCode =
  | "invalid_request"
  | "invalid_client"
  | "invalid_grant"
  | "unauthorized_client"
  | "unsupported_grant_type"
  | "invalid_scope"
  | "invalid_target"
  | "unsupported_token_type"
  | "access_denied"
  | "unsupported_response_type"
  | "server_error"
  | "temporarily_unavailable";

const statusOf: Record<OAuthErrorCode, number> = {
  invalid_request: 400,
  // RFC 6749 §5.2: 401 when the client tried to authenticate (we always answer 401, with a challenge).
  invalid_client: 401,
  invalid_grant: 400,
  unauthorized_client: 400,
  unsupported_grant_type: 400,
  invalid_scope: 400,
  invalid_target: 400,
  unsupported_token_type: 400,
  access_denied: 403,
  unsupported_response_type: 400,
  server_error: 500,
  temporarily_unavailable: 503,
};

export class OAuthError extends Error {
  readonly code: OAuthErrorCode;
  readonly status: number;
  readonly description: string;

  /** `status` overrides the code's usual status, e.g. 413 for an oversized body that is still an invalid_request. */
  constructor(code: OAuthErrorCode, description: string, status?: number) {
    super(`${code}: ${description}`);
    this.name = "OAuthError";
    this.code = code;
    this.description = description;
    this.status = status ?? statusOf[code];
  }
}

/** Counts the requests whose storage operation failed (metrics/counters.ts). */
export interface DatabaseErrorCounter {
  databaseError(): void;
}

/** The OAuth error code `error` is answered with (renderErrors). */
export const errorCodeOf = (error: unknown): OAuthErrorCode => asOAuthError(error).code;

/** What goes on the wire for `error`: itself, 503 for a database that may answer a retry, else a bare server_error. */
function asOAuthError(error: unknown): OAuthError {
  if (error instanceof OAuthError) return error;
  if (error instanceof StorageUnavailableError) {
    return new OAuthError(
      "temporarily_unavailable",
      "the authorization server cannot reach its database; retry shortly",
    );
  }
  return new OAuthError("server_error", "internal error");
}

/**
 * The one place an error becomes a response (RFC 6749 §5.2 JSON body). Anything that is not an OAuthError
 * is logged and hidden behind server_error, so bad input can never leak internals.
 */
export function renderErrors(logger: Logger, counter?: DatabaseErrorCounter) {
  return async function renderError(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
    } catch (error: unknown) {
      const oauth = asOAuthError(error);
      if (isStorageError(error)) counter?.databaseError();
      if (error instanceof StorageUnavailableError) {
        logger.warn({ err: error, method: ctx.method, path: ctx.path }, "database unavailable");
        ctx.set("Retry-After", String(error.retryAfterSeconds));
      } else if (!(error instanceof OAuthError)) {
        logger.error({ err: error, method: ctx.method, path: ctx.path }, "unexpected error");
      }
      ctx.status = oauth.status;
      ctx.set("Cache-Control", "no-store");
      ctx.set("Pragma", "no-cache");
      if (oauth.code === "invalid_client") {
        // RFC 6749 §5.2: a 401 must carry WWW-Authenticate matching the scheme the client may use.
        ctx.set("WWW-Authenticate", 'Basic realm="token", charset="UTF-8"');
      }
      ctx.body = { error: oauth.code, error_description: oauth.description };
    }
  };
}

/**
 * A browser page's refusal (an unreadable or forged form, an untrusted redirect URI): thrown by a page route and
 * rendered by renderPageErrors as an HTML page, never a redirect (RFC 6749 §4.1.2.1, RFC 9700 §4.11).
 */
export class PageError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    message: string,
  ) {
    super(message);
    this.name = "PageError";
  }
}

const UNAVAILABLE_PAGE_MESSAGE =
  "The sign-in service cannot reach its database right now. Please try again in a moment.";

/**
 * The one place a page error becomes a response, for the page routes (authorize, login, consent, consents, logout);
 * anything else goes on to renderErrors. A database that cannot be reached is a 503 page with Retry-After.
 */
export function renderPageErrors(siteName: string, counter?: DatabaseErrorCounter) {
  return async function renderPageError(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
    } catch (error: unknown) {
      if (error instanceof StorageUnavailableError) {
        counter?.databaseError();
        // A person at a browser gets a page, not JSON: the same 503 and Retry-After as the token endpoint's.
        ctx.set("Retry-After", String(error.retryAfterSeconds));
        sendPage(
          ctx,
          renderError({ siteName, title: "Try again in a moment", message: UNAVAILABLE_PAGE_MESSAGE }),
          503,
        );
        return;
      }
      if (!(error instanceof PageError)) throw error;
      sendPage(ctx, renderError({ siteName, title: error.title, message: error.message }), error.status);
    }
  };
}
