import type { Context } from "koa";
import type { Services } from "../services.js";

/**
 * GET /jwks.json: public keys only (RFC 7517 §5). Gateways may cache it for max-age seconds; a rotated key is published
 * at once and signs only after `keys rotate --activate-after` (default longer than max-age), so no cached set misses it.
 */
export function jwksEndpoint(services: Services) {
  return function jwks(ctx: Context): void {
    ctx.set("Cache-Control", `public, max-age=${services.jwksMaxAge}`);
    ctx.type = "application/jwk-set+json";
    ctx.body = JSON.stringify(services.keys.jwks());
  };
}
