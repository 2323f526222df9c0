import { compactVerify, decodeJwt, errors, type JWTPayload } from "jose";
import type { Services } from "../services.js";

export interface OwnAccessToken {
  jti: string;
  clientId: string;
  sub: string;
  scope: string;
  aud: string | string[];
  iat: number;
  /** Seconds (JWT NumericDate). */
  exp: number;
  /** The signing key's id, from the JWS header: a key's withdrawal covers every token it signed. */
  kid: string;
}

/**
 * Checks that `token` is an access token this server signed (typ at+jwt, a published kid, its algorithm, our iss;
 * RFC 9068 §4 / RFC 8725 §3.1) and returns its claims, expired or not; undefined for anything else.
 * Introspection adds the expiry and revocation checks; revocation needs the claims even of an expired token.
 */
export async function readOwnAccessToken(token: string, services: Services): Promise<OwnAccessToken | undefined> {
  if (token.length > 8192 || token.split(".").length !== 3) return undefined;
  let payload: JWTPayload;
  let kid: string;
  try {
    const { protectedHeader } = await compactVerify(token, (header) => {
      const found = services.keys.verificationKey(header.kid);
      if (!found || header.alg !== found.alg || header.typ !== "at+jwt")
        throw new errors.JWSSignatureVerificationFailed();
      return found.key;
    });
    if (protectedHeader.crit !== undefined || typeof protectedHeader.kid !== "string") return undefined;
    kid = protectedHeader.kid;
    payload = decodeJwt(token);
  } catch {
    return undefined;
  }
  const { jti, client_id: clientId, sub, scope, aud, iat, exp, iss } = payload;
  if (
    iss !== services.issuer ||
    typeof jti !== "string" ||
    typeof clientId !== "string" ||
    typeof sub !== "string" ||
    typeof scope !== "string" ||
    typeof iat !== "number" ||
    typeof exp !== "number" ||
    aud === undefined
  ) {
    return undefined;
  }
  return { jti, clientId, sub, scope, aud, iat, exp, kid };
}
