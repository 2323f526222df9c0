import { clientCredentials } from "./client_credentials.js";
import type { Grant } from "./types.js";

/** The token endpoint dispatches by `grant_type` through this map: a new grant is one file and one line here. */
export const grants: ReadonlyMap<string, Grant> = new Map<string, Grant>([
  [clientCredentials.grantType, clientCredentials],
]);
