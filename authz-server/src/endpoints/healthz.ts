import type { Context } from "koa";
import type { Services } from "../services.js";

/** GET /healthz: 200 when the database answers and a signing key is loaded. */
export function healthzEndpoint(services: Services) {
  return function healthz(ctx: Context): void {
    services.storage.keys.version(); // throws (→ 500 server_error) if the database is unusable
    ctx.set("Cache-Control", "no-store");
    ctx.body = { status: "ok" };
  };
}
