/**
 * What both engines' revocation feeds share (sqlite/revocation-feed.ts, postgres/revocation-feed.ts): how long an entry
 * is kept, and its row in `revocation_feed_entries` (migration 10). See docs/revocation-feed.md.
 */
import { limits } from "../config.js";
import { countRevocation } from "../metrics/revocations.js";
import type { RevocationEntry, RevocationFeedEntry } from "./types.js";

/**
 * Seconds an entry outlives the latest `exp` of a token it covers: the largest leeway a gateway may allow on `exp`
 * (the plugin's ceiling), so no gateway still accepts a covered token once the entry is forgotten.
 */
export const DROP_MARGIN_SECONDS = 300;

/** A row of `revocation_feed_entries`: one column per claim an entry names, NULL where its kind names none. */
export interface RevocationEntryRow {
  position: number;
  kind: RevocationEntry["kind"];
  jti: string | null;
  exp: number | null;
  sub: string | null;
  client_id: string | null;
  issued_before: number | null;
  kid: string | null;
  drop_after: number;
}

/** Whole seconds at `now` (ms) rounded down: a token issued in this second has an `iat` at or before it. */
export const epochSeconds = (now: number): number => Math.floor(now / 1000);

/**
 * The instant (whole seconds) after which no token `entry` covers can still be accepted: its `exp` for one token; for
 * everything issued up to an instant, that instant plus the longest access-token lifetime the server allows
 * (limits.accessTokenTtl, whatever lifetime is configured now: a token may predate a configuration change); for a key,
 * the same counted from the revocation. Each plus DROP_MARGIN_SECONDS.
 */
export function dropAfter(entry: RevocationEntry, now: number): number {
  switch (entry.kind) {
    case "token":
      return entry.exp + DROP_MARGIN_SECONDS;
    case "user_client":
    case "user":
    case "client":
      return entry.issuedBefore + limits.accessTokenTtl + DROP_MARGIN_SECONDS;
    case "key":
      return epochSeconds(now) + limits.accessTokenTtl + DROP_MARGIN_SECONDS;
  }
}

/** The columns of `entry` after its position, in the order of ENTRY_COLUMNS. */
export function entryValues(entry: RevocationEntry, now: number): unknown[] {
  const claims = {
    jti: entry.kind === "token" ? entry.jti : null,
    exp: entry.kind === "token" ? entry.exp : null,
    sub: entry.kind === "user" || entry.kind === "user_client" ? entry.sub : null,
    clientId: entry.kind === "client" || entry.kind === "user_client" ? entry.clientId : null,
    issuedBefore: entry.kind === "token" || entry.kind === "key" ? null : entry.issuedBefore,
    kid: entry.kind === "key" ? entry.kid : null,
  };
  return [
    entry.kind,
    claims.jti,
    claims.exp,
    claims.sub,
    claims.clientId,
    claims.issuedBefore,
    claims.kid,
    dropAfter(entry, now),
  ];
}

/**
 * Counts `entries` once their rows are written (authz_revocations_total, metrics/registry.ts): both engines call it
 * right after the INSERT, inside the revoking transaction. A transaction rolled back after it (a conflict retried on
 * PostgreSQL, a failure answered 500) counts its entries anyway: rare, and never hidden as zero.
 */
export function countAppended(entries: readonly RevocationEntry[]): void {
  for (const entry of entries) countRevocation(entry.kind);
}

/** The columns entryValues fills, after `position`. */
export const ENTRY_COLUMNS = "kind, jti, exp, sub, client_id, issued_before, kid, drop_after";

/** A row read back as the entry it was appended as. */
export function toEntry(row: RevocationEntryRow): RevocationFeedEntry {
  const at = { position: row.position, dropAfter: row.drop_after };
  const text = (value: string | null) => value ?? "";
  const seconds = (value: number | null) => value ?? 0;
  switch (row.kind) {
    case "token":
      return { kind: "token", jti: text(row.jti), exp: seconds(row.exp), ...at };
    case "user_client":
      return {
        kind: "user_client",
        sub: text(row.sub),
        clientId: text(row.client_id),
        issuedBefore: seconds(row.issued_before),
        ...at,
      };
    case "user":
      return { kind: "user", sub: text(row.sub), issuedBefore: seconds(row.issued_before), ...at };
    case "client":
      return { kind: "client", clientId: text(row.client_id), issuedBefore: seconds(row.issued_before), ...at };
    case "key":
      return { kind: "key", kid: text(row.kid), ...at };
  }
}

/** The `token` entries of access tokens revoked together (a family, a code, a grant), `expiresAt` in ms as stored. */
export function tokenEntries(revoked: readonly { jti: string; expires_at: number }[]): RevocationEntry[] {
  return revoked.map((token) => ({ kind: "token", jti: token.jti, exp: Math.ceil(token.expires_at / 1000) }));
}

/** The smallest `drop_after` (s) of an entry still live at `now` (ms): one may be forgotten only after that instant. */
export const liveFrom = (now: number): number => Math.ceil(now / 1000);
