// The JWS algorithms the core verifies. All asymmetric: RFC 8725 §3.1 (no `none`, no HMAC, whose
// shared secret every resource server would hold) and RFC 9068 §4 (resource servers must reject
// `none`). Kong's schema (plugin/src/schema.ts) offers exactly this list as the `algorithms` choices.

export const SUPPORTED_ALGORITHMS = [
  "PS256",
  "PS384",
  "PS512",
  "RS256",
  "RS384",
  "RS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
] as const;
export type Algorithm = (typeof SUPPORTED_ALGORITHMS)[number];

export const isAlgorithm = (value: unknown): value is Algorithm =>
  (SUPPORTED_ALGORITHMS as readonly unknown[]).includes(value);
