import { authorizationCode } from "./authorization_code.js";
import { clientCredentials } from "./client_credentials.js";
import { refreshToken } from "./refresh_token.js";
import type { Grant } from "./types.js";

/** The token endpoint dispatches by `grant_type` through this map: a new grant is one file and one line here. */
export const grants: ReadonlyMap<string, Grant> = new Map<string, Grant>([
  [clientCredentials.grantType, clientCredentials],
  [authorizationCode.grantType, authorizationCode],
  [refreshToken.grantType, refreshToken],
]);
