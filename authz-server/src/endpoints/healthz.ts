import type { Context } from "koa";
import type { Services } from "../services.js";

/**
 * GET /livez: the process answers HTTP. No I/O at all, so a slow or broken database never gets a live process
 * restarted; whether it can serve is /readyz's question.
 */
export function livezEndpoint() {
  return function livez(ctx: Context): void {
    ctx.set("Cache-Control", "no-store");
    ctx.body = { status: "ok" };
  };
}

/**
 * GET /readyz, and /healthz, which answers the same: 200 when the server can issue tokens — the database answers a
 * query and a signing key is active — else 503 with the reason, so a load balancer or Docker's healthcheck sends no
 * traffic here until it can.
 */
export function readyzEndpoint(services: Services) {
  return async function readyz(ctx: Context): Promise<void> {
    const reason = await notReady(services);
    ctx.set("Cache-Control", "no-store");
    if (reason === undefined) {
      ctx.body = { status: "ok" };
    } else {
      ctx.status = 503;
      ctx.body = { status: "unavailable", reason };
    }
  };
}

async function notReady(services: Services): Promise<string | undefined> {
  try {
    await services.storage.keys.version(); // a one-row read
  } catch (error: unknown) {
    services.logger.error({ err: error }, "not ready: the database does not answer");
    return "the database does not answer";
  }
  // The keys in memory are the ones that sign; the key poll keeps them in step with the database.
  if (!services.keys.status().some((key) => key.state === "active")) return "no active signing key";
  return undefined;
}
