import { digest, generateId, generateSecret } from "../secrets.js";
import type { Services } from "../services.js";
import type { RefreshToken, Storage } from "../storage/types.js";

/** What a new refresh token needs: the stored fields its issuer decides (RFC 9700 §4.14.2: `absoluteExpiresAt`
 *  is the family's, fixed by its first token). */
export type NewRefreshToken = Pick<
  RefreshToken,
  "parentDigest" | "codeDigest" | "clientId" | "userId" | "scope" | "resources" | "absoluteExpiresAt"
> & {
  /** Undefined starts a new family (a code exchange). */
  familyId: string | undefined;
  now: number;
};

/** Creates and stores the first refresh token of a new family, or of `spec.familyId`, through the transaction `tx`. */
export async function issueRefreshToken(
  services: Services,
  tx: Storage,
  spec: NewRefreshToken,
): Promise<{ token: string; familyId: string }> {
  const token = generateSecret();
  return { token, familyId: await storeRefreshToken(services, tx, token, spec) };
}

/** Stores `token` (its digest only: a copy of the database yields no usable token); returns its family id. */
export async function storeRefreshToken(
  services: Services,
  tx: Storage,
  token: string,
  spec: NewRefreshToken,
): Promise<string> {
  const familyId = spec.familyId ?? generateId();
  await tx.refreshTokens.create({
    tokenDigest: digest(token),
    familyId,
    parentDigest: spec.parentDigest,
    codeDigest: spec.codeDigest,
    clientId: spec.clientId,
    userId: spec.userId,
    scope: spec.scope,
    resources: spec.resources,
    createdAt: spec.now,
    rotatedAt: null,
    idleExpiresAt: Math.min(spec.now + services.lifetimes.refreshTokenIdleTtl * 1000, spec.absoluteExpiresAt),
    absoluteExpiresAt: spec.absoluteExpiresAt,
    revokedAt: null,
  });
  return familyId;
}
