import type { Context } from "koa";
import type { RenderedPage } from "../views/layout.js";

/**
 * Headers of every HTML page: no framing by anyone
 * (`frame-ancestors 'none'` and, for older browsers, `X-Frame-Options: DENY`; RFC 9700
 * §4.16 clickjacking), no Referer leaking the authorization request's parameters
 * (RFC 9700 §4.2.4), and no caching of pages that carry CSRF tokens or personal data.
 */
export function sendPage(ctx: Context, page: RenderedPage, status = 200): void {
  ctx.status = status;
  ctx.set("Content-Security-Policy", page.csp);
  ctx.set("X-Frame-Options", "DENY");
  ctx.set("Referrer-Policy", "no-referrer");
  ctx.set("Cache-Control", "no-store");
  ctx.set("Pragma", "no-cache");
  ctx.set("X-Content-Type-Options", "nosniff");
  ctx.type = "text/html; charset=utf-8";
  ctx.body = page.body;
}

/** A 303 See Other after a POST (RFC 9700 §4.12: a 307 would re-post the user's credentials). */
export function seeOther(ctx: Context, location: string): void {
  ctx.status = 303;
  ctx.set("Location", location);
  ctx.set("Cache-Control", "no-store");
  ctx.set("Referrer-Policy", "no-referrer");
  ctx.type = "text/plain; charset=utf-8";
  ctx.body = "";
}
