import { Router } from "@koa/router";
import Koa from "koa";
import { hkdfSync, randomBytes } from "node:crypto";
import { authorizeEndpoint } from "./endpoints/authorize.js";
import { consentEndpoint } from "./endpoints/consent.js";
import { consentsPage, revokeConsentEndpoint } from "./endpoints/consents.js";
import { livezEndpoint, readyzEndpoint } from "./endpoints/healthz.js";
import { loginEndpoint } from "./endpoints/login.js";
import { logoutEndpoint } from "./endpoints/logout.js";
import { passwordEndpoint } from "./endpoints/password.js";
import { signOutEverywhereEndpoint } from "./endpoints/sign-out-everywhere.js";
import { introspectEndpoint } from "./endpoints/introspect.js";
import { jwksEndpoint } from "./endpoints/jwks.js";
import { metadataEndpoint } from "./endpoints/metadata.js";
import { revocationsEndpoint } from "./endpoints/revocations.js";
import { revokeEndpoint } from "./endpoints/revoke.js";
import { tokenEndpoint } from "./endpoints/token.js";
import { defaults } from "./config.js";
import { renderErrors, renderPageErrors } from "./errors.js";
import { grants } from "./grants/index.js";
import { lingeringClose, type LingerLimits } from "./lingering-close.js";
import type { Services } from "./services.js";
import type { InteractionDependencies } from "./session/interaction.js";
import { Sessions } from "./session/sessions.js";
import { LoginThrottle } from "./session/throttle.js";

/** The login, consent and consents pages' dependencies: one session signer and one throttle per app. */
async function interactionDependencies(services: Services): Promise<InteractionDependencies> {
  const settings = services.interaction;
  const sessionKey = await services.storage.secrets.getOrCreate(
    "session-key",
    () => randomBytes(32),
    services.clock.now(),
  );
  // The throttle's rows are keyed by HMACs under a key of its own, derived from the session key (RFC 5869), so it is
  // the same on every process on the database and sealed with it at rest (throttle.ts).
  const throttleKey = Buffer.from(hkdfSync("sha256", sessionKey, "", "authz-server login throttle", 32));
  const now = () => services.clock.now();
  return {
    storage: services.storage,
    clock: services.clock,
    issuer: services.issuer,
    defaultAudience: services.defaultAudience,
    siteName: settings.siteName,
    lifetimes: services.lifetimes,
    bodyLimit: services.bodyLimit,
    counters: services.counters,
    sessions: new Sessions({
      key: sessionKey,
      // Secure cookies when the issuer is https (the server may sit behind a TLS-terminating proxy).
      secure: new URL(services.issuer).protocol === "https:",
      idleSeconds: settings.sessionIdleTtl,
      absoluteSeconds: settings.sessionAbsoluteTtl,
      now,
    }),
    throttle: new LoginThrottle(services.storage, {
      key: throttleKey,
      maxFailuresPerAccountAndAddress: settings.loginMaxFailuresPerAccountAndAddress,
      windowSeconds: settings.loginThrottleWindow,
      accountBurst: settings.loginAccountBurst,
      accountIntervalSeconds: settings.loginAccountInterval,
      now,
    }),
  };
}

/** Builds the Koa application over `services`. Never listens: server.ts does, tests may use `app.callback()`. */
export async function createApp(
  services: Services,
  linger: LingerLimits = { ms: defaults.lingerMs, bytes: defaults.lingerBytes },
): Promise<Koa> {
  const app = new Koa();
  if (services.trustedProxies > 0) {
    // ctx.ip becomes the right-most `trustedProxies`-th X-Forwarded-For entry, the address the outermost trusted proxy
    // saw (the login throttle counts per address); entries further left are the client's own claims.
    app.proxy = true;
    app.maxIpsCount = services.trustedProxies;
  }
  const router = new Router();
  router.get("/.well-known/oauth-authorization-server", metadataEndpoint(services, grants));
  router.get("/jwks.json", jwksEndpoint(services));
  router.post("/token", ...tokenEndpoint(services, grants));
  router.post("/introspect", introspectEndpoint(services));
  router.post("/revoke", revokeEndpoint(services));
  router.get("/revocations", revocationsEndpoint(services));
  router.get("/livez", livezEndpoint());
  router.get("/readyz", readyzEndpoint(services));
  router.get("/healthz", readyzEndpoint(services));
  // The authorization endpoint and the pages behind it (RFC 6749 §3.1, §4.1.1): their errors are pages.
  const interaction = await interactionDependencies(services);
  const pageErrors = renderPageErrors(interaction.siteName, services.counters);
  router.get("/authorize", pageErrors, authorizeEndpoint(interaction));
  router.post("/login", pageErrors, loginEndpoint(interaction));
  router.post("/consent", pageErrors, consentEndpoint(interaction));
  router.get("/consents", pageErrors, consentsPage(interaction));
  router.post("/consents/revoke", pageErrors, revokeConsentEndpoint(interaction));
  router.post("/logout", pageErrors, logoutEndpoint(interaction));
  router.post("/password", pageErrors, passwordEndpoint(interaction));
  router.post("/sign-out-everywhere", pageErrors, signOutEverywhereEndpoint(interaction));

  app.use(lingeringClose(linger));
  app.use(async function logRequest(ctx, next) {
    const started = performance.now();
    try {
      await next();
    } finally {
      const ms = performance.now() - started;
      // The path only picks an endpoint from a fixed list (metrics/counters.ts); it is never a label.
      services.counters.requestServed(ctx.path, ctx.status, ms / 1000);
      // Path only: query strings (codes, state) and bodies (secrets, tokens) are never logged.
      services.logger.info(
        { method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(ms * 10) / 10 },
        "request",
      );
    }
  });
  app.use(async function noSniff(ctx, next) {
    // Every response is JSON or a page the server wrote; never let a browser reinterpret it.
    ctx.set("X-Content-Type-Options", "nosniff");
    await next();
  });
  app.use(renderErrors(services.logger, services.counters));
  app.use(async function bodilessAsJson(ctx, next) {
    await next();
    // Unknown route (404), wrong method (405, with Allow) or unknown method (501) leave no body: answer a small JSON
    // object like every other non-page response. `message`, not `error`: only RFC codes go in an `error` member.
    if (ctx.body == null && ctx.status >= 400 && ctx.method !== "HEAD") {
      const { status, message } = ctx;
      ctx.body = { message };
      ctx.status = status; // Koa turns an implicit 404 into 200 when a body is set
    }
  });
  app.use(router.routes());
  app.use(router.allowedMethods());
  // Koa's default error handler would print stack traces for errors outside the middleware chain; keep them in the log.
  app.on("error", (error: unknown) => services.logger.error({ err: error }, "koa error"));
  return app;
}
