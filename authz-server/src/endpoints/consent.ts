import type { Context } from "koa";
import { issueCode } from "../authorization/issue-code.js";
import { authorizationErrorResponse } from "../authorization/response.js";
import { PageError } from "../errors.js";
import { currentUser, readPostedForm, single, type InteractionDependencies } from "../session/interaction.js";
import { seeOther } from "../views/page-response.js";
import { authorizeOrAnswer, continueAuthorization } from "./authorize.js";

/**
 * `POST /consent`: the user's Allow or Deny. The authorization request travels in the form
 * and is validated again here exactly as at /authorize (the browser is not trusted to keep
 * it intact); the CSRF token binds the decision to this browser session (RFC 9700 §4.7).
 */
export function consentEndpoint(deps: InteractionDependencies) {
  return async function consent(ctx: Context): Promise<void> {
    const { session, form } = await readPostedForm(ctx, deps, "Cannot continue");
    const validated = await authorizeOrAnswer(ctx, deps, form);
    if (!validated) return;
    const { client, request } = validated;
    const user = await currentUser(deps, session);
    // Session ended between the pages (idle or absolute expiry): sign in again.
    if (!user) {
      await continueAuthorization(ctx, deps, session, validated);
      return;
    }

    const decision = single(form, "decision");
    if (decision === "deny") {
      // RFC 6749 §4.1.2.1: access_denied, with state and iss like every response (RFC 9207).
      seeOther(
        ctx,
        authorizationErrorResponse(
          deps.issuer,
          request.redirectUri,
          request.state,
          "access_denied",
          "the user denied the request",
        ),
      );
      return;
    }
    if (decision !== "allow") throw new PageError(400, "Cannot continue", "Choose Allow or Deny.");

    // Remember the consent per user × client × scope, so the next request for these scopes skips this page.
    await deps.storage.consents.grant(user.userId, client.clientId, [...request.scopes], deps.clock.now());
    deps.counters.consent("granted");
    seeOther(ctx, await issueCode(deps, user.userId, request));
  };
}
