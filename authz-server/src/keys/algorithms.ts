/** The asymmetric JWS algorithms the server can sign with (RFC 8725 §3.1: an explicit allow-list, no `none`, no HMAC). */
export const signingAlgorithms = ["ES256", "EdDSA", "PS256", "RS256"] as const;
export type SigningAlgorithm = (typeof signingAlgorithms)[number];

function isSigningAlgorithm(value: string): value is SigningAlgorithm {
  return (signingAlgorithms as readonly string[]).includes(value);
}

export function parseSigningAlgorithm(value: string, key: string): SigningAlgorithm {
  if (!isSigningAlgorithm(value)) {
    throw new TypeError(`${key} must be one of ${signingAlgorithms.join(", ")}, got ${JSON.stringify(value)}`);
  }
  return value;
}
