import { Router } from "@koa/router";
import Koa from "koa";
import { healthzEndpoint } from "./endpoints/healthz.js";
import { introspectEndpoint } from "./endpoints/introspect.js";
import { jwksEndpoint } from "./endpoints/jwks.js";
import { metadataEndpoint } from "./endpoints/metadata.js";
import { revokeEndpoint } from "./endpoints/revoke.js";
import { tokenEndpoint } from "./endpoints/token.js";
import { renderErrors } from "./errors.js";
import { grants } from "./grants/index.js";
import type { Services } from "./services.js";

/** Builds the Koa application over `services`. Never listens: server.ts does, tests may use `app.callback()`. */
export function createApp(services: Services): Koa {
  const app = new Koa();
  const router = new Router();
  router.get("/.well-known/oauth-authorization-server", metadataEndpoint(services, grants));
  router.get("/jwks.json", jwksEndpoint(services));
  router.post("/token", ...tokenEndpoint(services, grants));
  router.post("/introspect", introspectEndpoint(services));
  router.post("/revoke", revokeEndpoint(services));
  router.get("/healthz", healthzEndpoint(services));

  app.use(async function logRequest(ctx, next) {
    const started = performance.now();
    try {
      await next();
    } finally {
      // Path only: query strings (codes, state) and bodies (secrets, tokens) are never logged.
      services.logger.info(
        { method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round((performance.now() - started) * 10) / 10 },
        "request",
      );
    }
  });
  app.use(async function noSniff(ctx, next) {
    // Every response is JSON or a page the server wrote; never let a browser reinterpret it.
    ctx.set("X-Content-Type-Options", "nosniff");
    await next();
  });
  app.use(renderErrors(services.logger));
  app.use(router.routes());
  app.use(router.allowedMethods());
  // Koa's default error handler would print stack traces for errors outside the middleware chain; keep them in the log.
  app.on("error", (error: unknown) => services.logger.error({ err: error }, "koa error"));
  return app;
}
