// Who called, in Kong's words: the credential and the consumer a verified token names, decided
// from its claims and the route's configuration. Pure: the handler makes the PDK calls this
// module asks for (kong.client.load_consumer, kong.client.authenticate) and nothing else.
//
// Kong's PDK looks a consumer up by id or by username only (kong/pdk/client.lua `load_consumer`):
// a UUID-shaped value is tried as an id first, then, when asked, as a username. A value that is
// not a UUID and not searched by username raises a Lua error inside Kong, so it is never sent.

import { invalidToken, type Refusal } from "./verdict.js";

/** A consumer as Kong answered kong.client.load_consumer, reduced to what the headers need. */
export interface KongConsumer {
  readonly id: string;
  readonly username: string | undefined;
  readonly customId: string | undefined;
  /** The entity as Kong answered it, handed back unchanged to kong.client.authenticate. */
  readonly entity: Readonly<Record<string, unknown>>;
}

/** The credential this plugin tells Kong of: `kong.client.authenticate(consumer, credential)`. */
export interface KongCredential {
  readonly id: string;
  readonly consumer_id?: string;
}

/** One load_consumer call: its arguments, and the key its answer is cached under. */
export interface ConsumerLookup {
  readonly id: string;
  readonly byUsername: boolean;
  readonly key: string;
}

export type ConsumerBy = "username" | "id";

/** A claim value may name a credential or a consumer: a string this long at most. */
export const MAX_CLAIM_VALUE_LENGTH = 256;

/** Kong's is_valid_uuid (kong/tools/uuid.lua): 8-4-4-4-12 hexadecimal digits, either case. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The claim's value when it can name a credential or a consumer: a string of 1–256 characters
 * without control characters (C0 or DEL), which would not survive a header; otherwise undefined.
 */
export function claimValue(claims: Readonly<Record<string, unknown>>, name: string): string | undefined {
  const value = Object.hasOwn(claims, name) ? claims[name] : undefined;
  if (typeof value !== "string" || value.length === 0 || value.length > MAX_CLAIM_VALUE_LENGTH) return undefined;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return undefined;
  }
  return value;
}

/** 401 invalid_token (RFC 6750 §3.1) for a claim that cannot identify a credential or a consumer. */
export const unidentifiedClaim = (claim: string): Refusal =>
  invalidToken("unidentified_claim", `the token's ${claim} claim cannot identify a credential`);

/** 401 invalid_token for a claim naming no consumer; fixed text, never the claim's value. */
export const noConsumer = (claim: string): Refusal =>
  invalidToken("no_consumer", `no consumer matches the token's ${claim} claim`);

/** The cache key of a lookup: its kind and the value looked up. */
const lookupKey = (id: string, byUsername: boolean): string => (byUsername ? "username:" : "id:") + id;

/**
 * The load_consumer call for a claim value, or undefined when no consumer can match without a
 * call: by id, only a UUID-shaped value is an id Kong can look up.
 */
export function consumerLookup(value: string, by: ConsumerBy): ConsumerLookup | undefined {
  if (by === "id" && !UUID.test(value)) return undefined;
  const byUsername = by === "username";
  return { id: value, byUsername, key: lookupKey(value, byUsername) };
}

/** The anonymous consumer's lookup: an id or a username, as Kong's own plugins load it. */
export function anonymousLookup(anonymous: string): ConsumerLookup {
  return { id: anonymous, byUsername: true, key: lookupKey(anonymous, true) };
}

const optionalText = (value: unknown): string | undefined =>
  typeof value === "string" && value.length > 0 ? value : undefined;

/**
 * Kong's answer to load_consumer as a consumer, or undefined for "none". Through the plugin
 * server Kong keeps only the first return value: nil (no consumer, or a database error) arrives as
 * nil over MessagePack and as an empty Consumer message over ProtoBuf, read here as an absent or
 * empty `id`.
 */
export function asConsumer(answer: unknown): KongConsumer | undefined {
  if (typeof answer !== "object" || answer === null || Array.isArray(answer)) return undefined;
  const entity = answer as Readonly<Record<string, unknown>>;
  const id = optionalText(entity.id);
  if (id === undefined) return undefined;
  return { id, username: optionalText(entity.username), customId: optionalText(entity.custom_id), entity };
}

/**
 * The consumer a claim value names, from what Kong found: by username only the consumer whose
 * username is exactly the value (Kong also matches a UUID-shaped value against ids); by id only
 * the consumer with that id (UUIDs compare without regard to case).
 */
export function matchingConsumer(found: KongConsumer | undefined, lookup: ConsumerLookup): KongConsumer | undefined {
  if (found === undefined) return undefined;
  const matches = lookup.byUsername ? found.username === lookup.id : found.id.toLowerCase() === lookup.id.toLowerCase();
  return matches ? found : undefined;
}

/** An earlier plugin authenticated the request: kong.client.get_credential() named a credential. */
export function isAuthenticated(credential: unknown): boolean {
  if (typeof credential !== "object" || credential === null) return false;
  return optionalText((credential as Readonly<Record<string, unknown>>).id) !== undefined;
}
