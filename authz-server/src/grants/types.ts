import type { FormParams } from "../form.js";
import type { Services } from "../services.js";
import type { Client } from "../storage/types.js";

/** RFC 6749 §5.1 successful token response (plus RFC 8707's echo of nothing: `aud` lives in the token). */
export interface TokenResponse {
  access_token: string;
  token_type: "Bearer";
  expires_in: number;
  scope: string;
  refresh_token?: string;
}

export interface GrantRequest {
  /** The authenticated client. */
  client: Client;
  form: FormParams;
  services: Services;
  /** Request time, ms, read once from the injected clock. */
  now: number;
}

/**
 * One grant type: its wire value and its handler, which reads the parameters it needs from the form and ignores the
 * rest (RFC 6749 §3.2). Registered in grants/index.ts.
 */
export interface Grant {
  grantType: string;
  /** Parameters that may be repeated (RFC 8707 `resource`); any other repeated parameter is invalid_request. */
  multiValued?: readonly string[];
  handle(request: GrantRequest): Promise<TokenResponse>;
}
