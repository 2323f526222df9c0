import type { Context } from "koa";
import { seeOther } from "../session/headers.js";
import {
  currentUser,
  readPostedForm,
  sendErrorPage,
  single,
  type InteractionDependencies,
} from "../session/interaction.js";
import { authorizationResponse, continueAuthorization, handleAuthorization, issueCode } from "./authorize.js";

/**
 * `POST /consent`: the user's Allow or Deny. The authorization request travels in the form
 * and is validated again here exactly as at /authorize (the browser is not trusted to keep
 * it intact); the CSRF token binds the decision to this browser session (requirement 5).
 */
export function consentEndpoint(deps: InteractionDependencies) {
  return async function consent(ctx: Context): Promise<void> {
    const posted = await readPostedForm(ctx, deps, "Cannot continue");
    if (!posted) return;
    const { session, form } = posted;
    const validated = handleAuthorization(ctx, deps, form);
    if (validated.kind !== "ok") return;
    const { client, request } = validated;
    const user = currentUser(deps, session);
    // Session ended between the pages (idle or absolute expiry): sign in again.
    if (!user) {
      continueAuthorization(ctx, deps, session, client, request);
      return;
    }

    const decision = single(form, "decision");
    if (decision === "deny") {
      // RFC 6749 §4.1.2.1: access_denied, with state and iss like every response (RFC 9207).
      seeOther(
        ctx,
        authorizationResponse(deps.issuer, request.redirectUri, request.state, {
          error: "access_denied",
          error_description: "the user denied the request",
        }),
      );
      return;
    }
    if (decision !== "allow") {
      sendErrorPage(ctx, deps, 400, "Cannot continue", "Choose Allow or Deny.");
      return;
    }

    // Remember the consent per user × client × scope (requirement 7), then answer with a code.
    deps.storage.consents.grant(user.userId, client.clientId, [...request.scopes], deps.clock.now());
    seeOther(ctx, issueCode(deps, user.userId, request));
  };
}
