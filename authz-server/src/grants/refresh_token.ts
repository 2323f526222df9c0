import { createHmac, randomBytes } from "node:crypto";
import { OAuthError } from "../errors.js";
import type { FormParams } from "../form.js";
import { digest } from "../secrets.js";
import type { Services } from "../services.js";
import type { Client, RefreshToken, Storage } from "../storage/types.js";
import { storeRefreshToken } from "../tokens/refresh-token.js";
import { parseScope } from "../tokens/scope.js";
import { signGrantAccessToken, tokenResponse } from "./issue.js";
import type { Grant, TokenResponse } from "./types.js";

const INVALID = "the refresh token is invalid, expired or revoked";

/** The server secret under which each refresh token's successor is derived from it (see successorOf). */
const SUCCESSOR_KEY = "refresh-token-successor";
const successorKeys = new WeakMap<Storage, Buffer>();

/**
 * The refresh token that replaces `parent`: HMAC-SHA256 of the parent under a server secret, base64url; as
 * unguessable as generateSecret's 256 bits to anyone without that secret. Derived rather than drawn so that every
 * presentation of one parent maps to one successor: the database keeps digests only, and the parent a retry
 * presents is exactly what re-deriving the successor's string takes.
 */
async function successorOf(services: Services, parent: string): Promise<string> {
  const { storage } = services;
  let key = successorKeys.get(storage);
  if (key === undefined) {
    // In a write transaction: a first use racing another process's waits for it rather than fail (the store's
    // transaction serialises it with the other process's, and the first insert wins).
    key = await storage.transaction((tx) =>
      tx.secrets.getOrCreate(SUCCESSOR_KEY, () => randomBytes(32), services.clock.now()),
    );
    successorKeys.set(storage, key);
  }
  return createHmac("sha256", key).update(parent, "utf8").digest("base64url");
}

/** What presenting a refresh token calls for; see the `refreshToken` grant for the rules. */
type Presentation =
  | { kind: "rotate" }
  | { kind: "retry" }
  | { kind: "superseded" }
  | { kind: "reused"; familyId: string }
  | { kind: "invalid" };

/**
 * Judges a presented token from its stored row and its successor's, both read through `store`. Called once before the
 * access token is signed (to refuse early, through the storage) and again inside the write transaction (through its
 * handle), whose answer is the one that counts.
 */
async function judge(
  services: Services,
  store: Storage,
  token: RefreshToken | undefined,
  successorDigest: string,
  now: number,
): Promise<Presentation> {
  if (!usable(token, now)) return { kind: "invalid" };
  if (token.rotatedAt === null) return { kind: "rotate" };
  // The grace window ends `grace` after the rotation. It includes requests read from the clock before the rotation
  // (another process's concurrent request rotated the token while this one was signing), except with a grace of 0:
  // then no reuse is ever tolerated, not even one concurrent with the rotation (a thief racing the client).
  const graceMs = services.lifetimes.refreshTokenGraceSeconds * 1000;
  if (graceMs === 0 || now - token.rotatedAt >= graceMs) {
    return { kind: "reused", familyId: token.familyId };
  }
  const successor = await store.refreshTokens.find(successorDigest);
  return { kind: usable(successor, now) && successor.rotatedAt === null ? "retry" : "superseded" };
}

/** Neither revoked nor expired, idle or absolutely. */
function usable(token: RefreshToken | undefined, now: number): token is RefreshToken {
  return token !== undefined && token.revokedAt === null && token.idleExpiresAt > now && token.absoluteExpiresAt > now;
}

/**
 * `grant_type=refresh_token` (RFC 6749 §6) with rotation and reuse detection (RFC 9700 §4.14.2). Every use
 * retires the presented token and answers with its successor, of which there is exactly one (see successorOf):
 *
 * - a token not yet rotated is rotated: its successor is stored, the family's chain moves on;
 * - a rotated token presented again within `refreshTokenGraceSeconds` of its rotation (two tabs, a retry after a
 *   lost response) is answered with the same successor and a new access token, as long as that successor has not
 *   been used itself: parallel refreshes never fork the family into chains that each live on;
 * - within the window but after the successor was used, the client already moved on: `invalid_grant`, and the
 *   family is kept (a late duplicate of the client's own request is no evidence of theft);
 * - after the window, two parties hold the token (the client and a thief, and we cannot tell which is which): the
 *   whole family and the access tokens issued with it are revoked.
 *
 * A thief replaying a token within the window gets the very successor the client holds, so whichever of them
 * uses it second is caught by the same rule once the window has passed.
 */
export const refreshToken: Grant = {
  grantType: "refresh_token",
  multiValued: ["resource"],
  handle: ({ services, client, form, now }) => rotate(services, client, form, now),
};

async function rotate(services: Services, client: Client, params: FormParams, now: number): Promise<TokenResponse> {
  const presented = params.get("refresh_token");
  if (presented === undefined) throw new OAuthError("invalid_request", "refresh_token is required");
  const tokenDigest = digest(presented);
  const token = await services.storage.refreshTokens.find(tokenDigest);
  // RFC 6749 §6: the token is bound to the client it was issued to.
  if (!token || token.clientId !== client.clientId) throw new OAuthError("invalid_grant", INVALID);
  const successor = await successorOf(services, presented);
  const successorDigest = digest(successor);
  const early = await judge(services, services.storage, token, successorDigest, now);
  refuseUnless(services, await revokeIfReused(services.storage, early, now), client);

  // RFC 6749 §6: the requested scope must not include any scope not originally granted.
  const original = token.scope.split(" ").filter((s) => s !== "");
  const requested = parseScope(params.get("scope"));
  const scopes = requested === undefined || requested.length === 0 ? original : requested;
  const widened = scopes.filter((s) => !original.includes(s));
  if (widened.length > 0)
    throw new OAuthError("invalid_scope", `scope was not originally granted: ${widened.join(" ")}`);

  const access = await signGrantAccessToken(services, params, {
    subject: token.userId,
    clientId: client.clientId,
    grantedScopes: original,
    scopes,
    resources: token.resources,
    refusal: "resource was not part of the original grant",
    now,
  });
  // Judged again inside the transaction: the family may have been revoked, or the token rotated by a concurrent
  // request from another process on the same database, while the access token was being signed.
  const presentation = await services.storage.transaction(async (tx) => {
    const current = await tx.refreshTokens.find(tokenDigest);
    const verdict = await revokeIfReused(tx, await judge(services, tx, current, successorDigest, now), now);
    if (!current || (verdict.kind !== "rotate" && verdict.kind !== "retry")) return verdict;
    if (verdict.kind === "rotate") {
      await tx.refreshTokens.markRotated(tokenDigest, now);
      // RFC 6749 §6: the new refresh token keeps the original scope (only the access token narrows).
      await storeRefreshToken(services, tx, successor, {
        familyId: current.familyId,
        parentDigest: tokenDigest,
        codeDigest: current.codeDigest,
        clientId: current.clientId,
        userId: current.userId,
        scope: current.scope,
        resources: current.resources,
        absoluteExpiresAt: current.absoluteExpiresAt,
        now,
      });
    }
    await tx.revocations.linkAccessToken({
      jti: access.jti,
      clientId: client.clientId,
      userId: current.userId,
      familyId: current.familyId,
      codeDigest: current.codeDigest,
      expiresAt: access.expiresAt,
    });
    return verdict;
  });
  refuseUnless(services, presentation, client);
  return tokenResponse(services, "refresh_token", access, successor);
}

/**
 * Revokes the family, and the access tokens issued with it, of a token reused after the grace window: within the
 * caller's transaction when `store` is its handle (the verdict and the revocation are then one decision), else in
 * its own (a transaction started on a handle joins the one it belongs to).
 */
async function revokeIfReused(store: Storage, presentation: Presentation, now: number): Promise<Presentation> {
  if (presentation.kind === "reused") {
    const { familyId } = presentation;
    await store.transaction((tx) => tx.revocations.revokeFamily(familyId, now));
  }
  return presentation;
}

/** Throws the `invalid_grant` a presentation calls for; returns when it may be answered. */
function refuseUnless(services: Services, presentation: Presentation, client: Client): void {
  switch (presentation.kind) {
    case "rotate":
    case "retry":
      return;
    case "reused":
      services.logger.warn(
        { client_id: client.clientId, family_id: presentation.familyId },
        "refresh token reuse; family revoked",
      );
      throw new OAuthError("invalid_grant", INVALID);
    case "superseded":
      services.logger.info(
        { client_id: client.clientId },
        "refresh token presented again after its successor was used; refused, family kept",
      );
      throw new OAuthError("invalid_grant", INVALID);
    case "invalid":
      throw new OAuthError("invalid_grant", INVALID);
  }
}
