/**
 * The Flickr photos API of the demo: the upstream that Kong (or the local stand-in) protects.
 *
 * It never sees a token. The gateway's `oauth2-jwt` plugin validates the bearer token and forwards
 * the identity it carried in headers (defaults after Kong's own conventions); this API trusts those
 * headers because, in the Docker deployment, it is reachable only through the gateway. It echoes
 * them back under `gateway` so the demo shows what the plugin sent.
 */
import Koa from "koa";
import Router from "@koa/router";
import { explorePhotos, libraryPhotos, uploadedPhoto, type Photo } from "./photos.js";

/** Header names the `oauth2-jwt` plugin sets by default (its `upstream_headers` config). */
export const IDENTITY_HEADERS = {
  subject: "x-authenticated-userid",
  clientId: "x-authenticated-client-id",
  scope: "x-authenticated-scope",
} as const;

export interface GatewayIdentity {
  userid: string;
  client_id: string | null;
  scope: string[];
}

export interface PhotosAppOptions {
  /** Clock for uploaded photos' dates (tests inject one). */
  now?: () => Date;
  /** Largest JSON body accepted by the write route, in bytes. */
  maxBodyBytes?: number;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function identityOf(ctx: Koa.Context): GatewayIdentity | null {
  const userid = single(ctx.headers[IDENTITY_HEADERS.subject]);
  if (userid === undefined || userid === "") return null;
  const clientId = single(ctx.headers[IDENTITY_HEADERS.clientId]);
  const scope = single(ctx.headers[IDENTITY_HEADERS.scope]);
  return {
    userid,
    client_id: clientId === undefined || clientId === "" ? null : clientId,
    scope: scope === undefined ? [] : scope.split(" ").filter((s) => s !== ""),
  };
}

async function readBody(ctx: Koa.Context, limit: number): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

export function createPhotosApp(options: PhotosAppOptions = {}): Koa {
  const now = options.now ?? (() => new Date());
  const maxBodyBytes = options.maxBodyBytes ?? 4096;
  /** Photos uploaded per user (`sub`), in memory: the demo keeps no database. */
  const uploads = new Map<string, Photo[]>();
  let nextId = 1;

  const app = new Koa();
  const router = new Router();

  // Protected routes: the gateway must have put an identity on the request.
  const requireIdentity: Koa.Middleware = async (ctx, next) => {
    const identity = identityOf(ctx);
    if (identity === null) {
      ctx.status = 401;
      ctx.body = {
        error: "unauthenticated",
        message: "this API is reached through the gateway, which forwards the caller's identity",
      };
      return;
    }
    ctx.state["identity"] = identity;
    await next();
  };

  router.get("/healthz", (ctx) => {
    ctx.body = { status: "ok" };
  });

  router.get("/flickr/explore", (ctx) => {
    ctx.body = { photos: explorePhotos() };
  });

  router.get("/flickr/photos", requireIdentity, (ctx) => {
    const identity = ctx.state["identity"] as GatewayIdentity;
    ctx.body = {
      owner: identity.userid,
      photos: [...libraryPhotos(), ...(uploads.get(identity.userid) ?? [])],
      gateway: identity,
    };
  });

  router.post("/flickr/photos", requireIdentity, async (ctx) => {
    const identity = ctx.state["identity"] as GatewayIdentity;
    if (!ctx.get("content-type").startsWith("application/json")) {
      ctx.status = 415;
      ctx.body = { error: "unsupported_media_type", message: "send application/json" };
      return;
    }
    const raw = await readBody(ctx, maxBodyBytes);
    if (raw === null) {
      ctx.status = 413;
      ctx.body = { error: "payload_too_large", message: `at most ${maxBodyBytes} bytes` };
      return;
    }
    let title: unknown;
    try {
      title = (JSON.parse(raw) as { title?: unknown }).title;
    } catch {
      title = undefined;
    }
    if (typeof title !== "string" || title.trim() === "" || title.length > 100) {
      ctx.status = 400;
      ctx.body = { error: "invalid_request", message: 'body must be {"title": "1 to 100 characters"}' };
      return;
    }
    const photo = uploadedPhoto(`u-${nextId++}`, title.trim(), now());
    uploads.set(identity.userid, [...(uploads.get(identity.userid) ?? []), photo]);
    ctx.status = 201;
    ctx.body = { owner: identity.userid, photo, gateway: identity };
  });

  router.get("/flickr/profile", requireIdentity, (ctx) => {
    const identity = ctx.state["identity"] as GatewayIdentity;
    ctx.body = {
      profile: {
        sub: identity.userid,
        photo_count: libraryPhotos().length + (uploads.get(identity.userid)?.length ?? 0),
      },
      gateway: identity,
    };
  });

  app.use(router.routes());
  app.use(router.allowedMethods());
  app.use((ctx) => {
    ctx.status = 404;
    ctx.body = { error: "not_found" };
  });
  return app;
}
