import { randomUUID } from "node:crypto";
import type { KeyRing } from "../keys/keyring.js";

export interface AccessTokenRequest {
  issuer: string;
  /** The resource owner; for client credentials the client id itself (RFC 9068 §2.2). */
  subject: string;
  clientId: string;
  scopes: string[];
  audience: string[];
  /** Lifetime in seconds. */
  ttl: number;
  /** Milliseconds since the epoch. */
  now: number;
}

export interface IssuedToken {
  accessToken: string;
  jti: string;
  clientId: string;
  /** Seconds, for the token response's `expires_in`. */
  expiresIn: number;
  /** Milliseconds since the epoch (JWT `exp` × 1000). */
  expiresAt: number;
  scope: string;
  aud: string | string[];
}

/** Builds and signs one RFC 9068 §2.2 access token: iss sub aud exp iat jti client_id scope (synchronously, keyring.ts). */
export function issueAccessToken(keys: KeyRing, request: AccessTokenRequest): IssuedToken {
  const iat = Math.floor(request.now / 1000);
  const exp = iat + request.ttl;
  const jti = randomUUID();
  const scope = request.scopes.join(" ");
  // A single audience is a string, as RFC 7519 §4.1.3 allows and most resource servers expect.
  const aud = request.audience.length === 1 ? request.audience[0] : request.audience;
  const claims = {
    iss: request.issuer,
    sub: request.subject,
    aud,
    exp,
    iat,
    jti,
    client_id: request.clientId,
    scope,
  };
  const accessToken = keys.signAccessToken(claims, request.now);
  return { accessToken, jti, clientId: request.clientId, expiresIn: request.ttl, expiresAt: exp * 1000, scope, aud };
}
