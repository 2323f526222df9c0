/**
 * Canon Printing, the demo's web app (the OAuth client): "Print my Flickr photos" sends the user to
 * the authorization server, the callback exchanges the code, and the photo list is fetched THROUGH
 * THE GATEWAY at `/flickr/photos` with the access token, never from the photos API directly.
 */
import Koa from "koa";
import Router from "@koa/router";
import { timingSafeEqual } from "node:crypto";
import * as oauth from "oauth4webapi";
import { CanonOAuthClient } from "./oauth.js";
import { SessionStore, type Session, type Tokens } from "./session.js";
import { homePage, photosPage, printedPage, problemPage, type PhotoView } from "./views.js";

export interface CanonAppOptions {
  /** Canon's own public origin, e.g. `http://localhost:3000`; the callback is `<publicUrl>/callback`. */
  publicUrl: string;
  /** The authorization server's issuer identifier as browsers see it. */
  issuer: string;
  /** Where Canon's server reaches the authorization server (`http://authz:9000` in Docker). */
  authzInternalUrl?: string;
  /** The API gateway (Kong, or the local stand-in). */
  gatewayUrl: string;
  clientId: string;
  clientSecret: string;
  now?: () => number;
}

const COOKIE = "canon_session";
/** Scopes Canon may ask for: `photos` to print, `profile` only for the "without photos" demo. */
const REQUESTABLE_SCOPES = new Set(["photos", "profile"]);

interface PhotosResponse {
  owner: string;
  photos: PhotoView[];
  gateway: { userid: string; client_id: string | null; scope: string[] };
}

function isPhotosResponse(value: unknown): value is PhotosResponse {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v["owner"] === "string" &&
    Array.isArray(v["photos"]) &&
    typeof v["gateway"] === "object" &&
    v["gateway"] !== null
  );
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

async function readForm(ctx: Koa.Context, limit = 4096): Promise<URLSearchParams | null> {
  if (!ctx.get("content-type").startsWith("application/x-www-form-urlencoded")) return null;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return null;
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}

export function createCanonApp(options: CanonAppOptions): Koa {
  const now = options.now ?? Date.now;
  const sessions = new SessionStore({ now });
  const redirectUri = new URL("/callback", options.publicUrl).href;
  const client = new CanonOAuthClient({
    issuer: options.issuer,
    ...(options.authzInternalUrl === undefined ? {} : { internalUrl: options.authzInternalUrl }),
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    redirectUri,
  });
  const issuerOrigin = new URL(options.issuer).origin;
  const photosUrl = new URL("/flickr/photos", options.gatewayUrl);
  const insecure = photosUrl.protocol === "http:";

  const app = new Koa();
  const router = new Router();

  app.use(async (ctx, next) => {
    const session = sessions.resolve(ctx.cookies.get(COOKIE));
    ctx.state["session"] = session;
    ctx.cookies.set(COOKIE, session.id, { httpOnly: true, sameSite: "lax", secure: false, path: "/", overwrite: true });
    await next();
    if (typeof ctx.body === "string") {
      // No script at all; images only as data: URLs; our forms post to ourselves, and the 303
      // after /connect leads to the authorization server (form-action covers redirects).
      ctx.set(
        "Content-Security-Policy",
        `default-src 'none'; img-src data:; style-src 'unsafe-inline'; form-action 'self' ${issuerOrigin}; frame-ancestors 'none'; base-uri 'none'`,
      );
      ctx.set("X-Frame-Options", "DENY");
      ctx.set("Referrer-Policy", "no-referrer");
      ctx.set("Cache-Control", "no-store");
    }
  });

  const sessionOf = (ctx: Koa.Context): Session => ctx.state["session"] as Session;

  const problem = (
    ctx: Koa.Context,
    status: number,
    id: string,
    heading: string,
    explanation: string,
    detail?: string,
  ): void => {
    ctx.status = status;
    ctx.type = "html";
    ctx.body = problemPage(id, heading, explanation, detail);
  };

  const storeTokens = (session: Session, response: oauth.TokenEndpointResponse, fallbackScope: string): void => {
    const tokens: Tokens = {
      accessToken: response.access_token,
      refreshToken: response.refresh_token ?? session.tokens?.refreshToken,
      scope: response.scope ?? fallbackScope,
      expiresAt: now() + (response.expires_in ?? 600) * 1000,
    };
    session.tokens = tokens;
  };

  router.get("/healthz", (ctx) => {
    ctx.body = { status: "ok" };
  });

  router.get("/", (ctx) => {
    const session = sessionOf(ctx);
    ctx.type = "html";
    ctx.body = homePage(session.csrf, session.tokens === undefined ? null : { scope: session.tokens.scope });
  });

  router.post("/connect", async (ctx) => {
    const session = sessionOf(ctx);
    const form = await readForm(ctx);
    const csrf = form?.get("csrf") ?? "";
    if (form === null || !sameSecret(csrf, session.csrf)) {
      problem(
        ctx,
        400,
        "problem-csrf",
        "Please try again",
        "This form expired. Go back to Canon Printing and press the button again.",
      );
      return;
    }
    const scope = form.get("scope") ?? "photos";
    if (!REQUESTABLE_SCOPES.has(scope)) {
      problem(ctx, 400, "problem-scope", "Unknown permission", "Canon Printing does not ask for that permission.");
      return;
    }
    let request: Awaited<ReturnType<CanonOAuthClient["authorizationUrl"]>>;
    try {
      request = await client.authorizationUrl(scope);
    } catch (err) {
      problem(
        ctx,
        503,
        "problem-authz-unavailable",
        "Flickr sign-in is unavailable",
        "We could not reach Flickr's sign-in service. Please try again in a moment.",
        (err as Error).message,
      );
      return;
    }
    session.pending = { state: request.state, codeVerifier: request.codeVerifier, scope };
    // 303 after a POST (RFC 9110 §15.4.4): the browser follows with a GET.
    ctx.status = 303;
    ctx.redirect(request.url.href);
  });

  router.get("/callback", async (ctx) => {
    const session = sessionOf(ctx);
    const pending = session.pending;
    // One pending authorization per session, consumed now whatever the outcome.
    session.pending = undefined;
    if (pending === undefined) {
      problem(
        ctx,
        400,
        "problem-no-pending",
        "This sign-in link has expired",
        "Canon Printing was not waiting for this answer from Flickr. Please start again.",
      );
      return;
    }
    const callback = new URL(ctx.originalUrl, options.publicUrl);
    try {
      const tokens = await client.exchange(callback, pending.state, pending.codeVerifier);
      storeTokens(session, tokens, pending.scope);
    } catch (err) {
      if (err instanceof oauth.AuthorizationResponseError && err.error === "access_denied") {
        problem(
          ctx,
          403,
          "problem-denied",
          "No problem — nothing was shared",
          "You chose not to let Canon Printing see your Flickr photos, so we cannot print them. If you change your mind, press \u201cPrint my Flickr photos\u201d again.",
        );
        return;
      }
      if (err instanceof oauth.AuthorizationResponseError) {
        problem(
          ctx,
          400,
          "problem-authorization",
          "Flickr could not grant access",
          "Flickr did not give Canon Printing access.",
          `${err.error}${err.error_description === undefined ? "" : `: ${err.error_description}`}`,
        );
        return;
      }
      problem(
        ctx,
        400,
        "problem-callback",
        "Sign-in could not be completed",
        "The answer from Flickr could not be verified, so Canon Printing ignored it. Please start again.",
        (err as Error).message,
      );
      return;
    }
    ctx.status = 303;
    ctx.redirect("/photos");
  });

  /** The photo list, through the gateway: one refresh on an expired token, then friendly pages. */
  router.get("/photos", async (ctx) => {
    const session = sessionOf(ctx);
    if (session.tokens === undefined) {
      ctx.status = 303;
      ctx.redirect("/");
      return;
    }
    const call = (token: string): Promise<Response> =>
      oauth.protectedResourceRequest(token, "GET", photosUrl, new Headers({ accept: "application/json" }), null, {
        // eslint-disable-next-line @typescript-eslint/no-deprecated -- oauth4webapi deprecates the option only so that it stands out; the demo's gateway is plain http on localhost
        [oauth.allowInsecureRequests]: insecure,
      });

    let response: Response;
    try {
      try {
        response = await call(session.tokens.accessToken);
      } catch (err) {
        const refreshToken = session.tokens.refreshToken;
        if (err instanceof oauth.WWWAuthenticateChallengeError && err.status === 401 && refreshToken !== undefined) {
          try {
            storeTokens(session, await client.refresh(refreshToken), session.tokens.scope);
          } catch (refreshError) {
            // Refresh token expired, revoked or reused (its family revoked): the user must connect again.
            session.tokens = undefined;
            problem(
              ctx,
              401,
              "problem-token",
              "Please connect to Flickr again",
              "Your Flickr connection has expired or was withdrawn.",
              (refreshError as Error).message,
            );
            return;
          }
          response = await call(session.tokens.accessToken);
        } else {
          throw err;
        }
      }
    } catch (err) {
      if (err instanceof oauth.WWWAuthenticateChallengeError) {
        const challenge = err.cause.find((c) => c.scheme === "bearer");
        const params = challenge?.parameters;
        const detail = `HTTP ${err.status}${params?.error === undefined ? "" : ` ${params.error}`}${params?.scope === undefined ? "" : `, required scope: ${params.scope}`}`;
        if (err.status === 403) {
          problem(
            ctx,
            403,
            "problem-insufficient-scope",
            "Canon Printing may not read your photos",
            `Flickr refused: when you connected, you did not give Canon Printing permission to read your photos${params?.scope === undefined ? "" : ` (the \u201c${params.scope}\u201d permission)`}. Press \u201cPrint my Flickr photos\u201d and allow access to your photos.`,
            detail,
          );
          return;
        }
        session.tokens = undefined;
        problem(
          ctx,
          401,
          "problem-token",
          "Please connect to Flickr again",
          "Your Flickr connection has expired or was withdrawn.",
          detail,
        );
        return;
      }
      problem(
        ctx,
        502,
        "problem-gateway",
        "Flickr is unavailable",
        "We could not reach Flickr. Please try again in a moment.",
        (err as Error).message,
      );
      return;
    }
    if (response.status === 503) {
      problem(
        ctx,
        503,
        "problem-gateway",
        "Flickr is unavailable",
        "Flickr's gateway could not check our access right now. Please try again in a moment.",
        `HTTP ${response.status}`,
      );
      return;
    }
    const body: unknown = await response.json().catch(() => undefined);
    if (response.status !== 200 || !isPhotosResponse(body)) {
      problem(
        ctx,
        502,
        "problem-gateway",
        "Flickr is unavailable",
        "Flickr answered something unexpected.",
        `HTTP ${response.status}`,
      );
      return;
    }
    session.shown = new Map(body.photos.map((p) => [p.id, p.title]));
    ctx.type = "html";
    ctx.body = photosPage(
      session.csrf,
      body.owner,
      body.photos,
      `user ${body.gateway.userid}, client ${body.gateway.client_id ?? "-"}, scope ${body.gateway.scope.join(" ")}`,
    );
  });

  router.post("/print", async (ctx) => {
    const session = sessionOf(ctx);
    const form = await readForm(ctx);
    if (form === null || !sameSecret(form.get("csrf") ?? "", session.csrf)) {
      problem(
        ctx,
        400,
        "problem-csrf",
        "Please try again",
        "This form expired. Go back to your photos and press the button again.",
      );
      return;
    }
    const titles = form.getAll("photo").flatMap((id) => {
      const title = session.shown.get(id);
      return title === undefined ? [] : [title];
    });
    if (titles.length === 0) {
      problem(ctx, 400, "problem-nothing-selected", "Nothing to print", "Choose at least one of your photos.");
      return;
    }
    // A demo: no printer is attached, so the order is only shown (re-posting it is harmless).
    ctx.type = "html";
    ctx.body = printedPage(titles);
  });

  router.post("/disconnect", async (ctx) => {
    const session = sessionOf(ctx);
    const form = await readForm(ctx);
    if (form !== null && sameSecret(form.get("csrf") ?? "", session.csrf)) {
      sessions.destroy(session.id);
      ctx.cookies.set(COOKIE, "", { httpOnly: true, sameSite: "lax", path: "/", maxAge: 0 });
    }
    ctx.status = 303;
    ctx.redirect("/");
  });

  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}
