import type { Context, Middleware, Next } from "koa";
import { authenticateClient } from "../client-auth.js";
import { errorCodeOf, OAuthError } from "../errors.js";
import { readForm, type FormParams } from "../form.js";
import type { Grant } from "../grants/types.js";
import type { Services } from "../services.js";
import type { Client } from "../storage/types.js";

interface TokenState {
  form: FormParams;
  grant: Grant;
  client: Client;
}

const multiValued = (grants: ReadonlyMap<string, Grant>) => [
  ...new Set([...grants.values()].flatMap((g) => g.multiValued ?? [])),
];

/**
 * POST /token (RFC 6749 §3.2) as a list of named steps, so a stack trace names the failing one.
 * The grant handlers come from grants/index.ts.
 */
export function tokenEndpoint(services: Services, grants: ReadonlyMap<string, Grant>): Middleware[] {
  const multi = multiValued(grants);
  return [
    async function countErrors(_ctx: Context, next: Next) {
      try {
        await next();
      } catch (error: unknown) {
        services.counters.tokenError(errorCodeOf(error));
        throw error;
      }
    },
    async function noStore(ctx: Context, next: Next) {
      // RFC 6749 §5.1: responses with tokens or credentials MUST NOT be cached; set before anything can fail.
      ctx.set("Cache-Control", "no-store");
      ctx.set("Pragma", "no-cache");
      await next();
    },
    async function parseBody(ctx: Context, next: Next) {
      (ctx.state as TokenState).form = await readForm(ctx, { limit: services.bodyLimit, multi });
      await next();
    },
    async function selectGrant(ctx: Context, next: Next) {
      const state = ctx.state as TokenState;
      const grantType = state.form.get("grant_type");
      if (grantType === undefined) throw new OAuthError("invalid_request", "missing grant_type");
      const grant = grants.get(grantType);
      if (!grant) throw new OAuthError("unsupported_grant_type", `unsupported grant_type: ${grantType}`);
      state.grant = grant;
      await next();
    },
    async function authenticate(ctx: Context, next: Next) {
      const state = ctx.state as TokenState;
      state.client = await authenticateClient(ctx, state.form, services.storage);
      await next();
    },
    async function checkClientGrant(ctx: Context, next: Next) {
      const { client, grant } = ctx.state as TokenState;
      // RFC 6749 §5.2 unauthorized_client: the client is not registered for this grant type.
      if (!client.grantTypes.includes(grant.grantType)) {
        throw new OAuthError("unauthorized_client", `the client is not allowed the grant type ${grant.grantType}`);
      }
      await next();
    },
    async function executeGrant(ctx: Context) {
      const { client, grant, form } = ctx.state as TokenState;
      ctx.body = await grant.handle({ client, form, services, now: services.clock.now() });
      services.counters.tokenIssued(grant.grantType);
    },
  ];
}
