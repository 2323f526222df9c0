import type { Context } from "koa";
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { authenticateClient } from "../client-auth.js";
import { OAuthError } from "../errors.js";
import type { FormParams } from "../form.js";
import type { Services } from "../services.js";
import type { RevocationEntry, RevocationFeedPage } from "../storage/types.js";

/** Entries per answer when the caller names no `limit`, and the most it may ask for. */
export const MAX_LIMIT = 1000;
/** base64url, and no longer than 200 characters (the feed's own cursors are about 100). */
const CURSOR_SYNTAX = /^[A-Za-z0-9_-]{1,200}$/;
const TAG_BYTES = 32;

/** A feed entry as it goes on the wire (docs/revocation-feed.md): times in whole seconds since the epoch. */
export type WireEntry =
  | { kind: "token"; jti: string; exp: number; drop_after: number }
  | { kind: "user_client"; sub: string; client_id: string; issued_before: number; drop_after: number }
  | { kind: "user"; sub: string; issued_before: number; drop_after: number }
  | { kind: "client"; client_id: string; issued_before: number; drop_after: number }
  | { kind: "key"; kid: string; drop_after: number };

export interface FeedPage {
  entries: WireEntry[];
  cursor: string;
  has_more: boolean;
  /** Present (true) only when the answer is a full snapshot replacing everything the caller held. */
  reset?: true;
}

/**
 * GET /revocations?after=<cursor>&limit=<n>: the revocation feed a gateway polls (docs/revocation-feed.md). The first
 * call (no `after`) answers every entry a still-valid token may be covered by, later calls only the entries after the
 * cursor, each with a new cursor, at most `limit` per answer and `has_more` while more are waiting. A cursor this
 * database did not issue (forged, from another database or before a move, beyond the newest entry) gets a full
 * snapshot marked `reset: true`. Only a client registered as a resource server may read it: the feed names users.
 */
export function revocationsEndpoint(services: Services) {
  const cursors = new CursorSigner(services);
  return async function revocations(ctx: Context): Promise<void> {
    // The answer changes with every revocation and lists users: never cached (RFC 9111 §5.2.2.5).
    ctx.set("Cache-Control", "no-store");
    ctx.set("Pragma", "no-cache");
    await authenticateResourceServer(ctx, services);
    const { after, limit } = readQuery(ctx.URL.searchParams);
    ctx.body = await readFeed(services, cursors, after, limit);
  };
}

/** `after` (its syntax only: whether this feed issued it is CursorSigner's question) and `limit`; else 400. */
function readQuery(query: URLSearchParams): { after: string | undefined; limit: number } {
  for (const name of new Set(query.keys())) {
    if (query.getAll(name).length > 1) {
      throw new OAuthError("invalid_request", `parameter ${name} is included more than once`);
    }
  }
  const after = query.get("after") ?? undefined;
  if (after !== undefined && !CURSOR_SYNTAX.test(after)) {
    throw new OAuthError("invalid_request", "after is not a cursor of this feed");
  }
  const limitParam = query.get("limit");
  if (limitParam === null) return { after, limit: MAX_LIMIT };
  const limit = /^[1-9][0-9]{0,5}$/.test(limitParam) ? Number(limitParam) : NaN;
  if (!(limit <= MAX_LIMIT)) {
    throw new OAuthError("invalid_request", `limit must be a whole number from 1 to ${MAX_LIMIT}`);
  }
  return { after, limit };
}

const noForm: FormParams = { get: () => undefined, getAll: () => [], has: () => false };

/**
 * HTTP Basic (client_secret_basic, RFC 6749 §2.3.1) of a client registered with `--resource-server-for`; anything else
 * is invalid_client, one description whatever failed, so the answer does not tell which clients exist.
 */
async function authenticateResourceServer(ctx: Context, services: Services): Promise<void> {
  if (!/^Basic /i.test(ctx.get("Authorization"))) {
    throw new OAuthError("invalid_client", "client authentication failed");
  }
  const client = await authenticateClient(ctx, noForm, services.storage);
  if (client.secretDigest === null || (client.resourceServerFor ?? []).length === 0) {
    throw new OAuthError("invalid_client", "client authentication failed");
  }
}

async function readFeed(
  services: Services,
  cursors: CursorSigner,
  after: string | undefined,
  limit: number,
): Promise<FeedPage> {
  const now = services.clock.now();
  const position = after === undefined ? undefined : await cursors.open(after);
  const feed = services.storage.revocationFeed;
  if (position !== undefined) {
    const page = await feed.page(position.position, limit, now);
    // A cursor of another database (an older epoch: a copy, a restore) or beyond the newest position was not issued
    // by this database: its holder's set cannot be brought up to date, only replaced.
    if (page.epoch === position.epoch && position.position <= page.newest) {
      return answer(page, position.position, limit, cursors);
    }
  }
  const snapshot = await feed.page(null, limit, now);
  return { ...(await answer(snapshot, 0, limit, cursors)), reset: true };
}

/**
 * A short page is the whole rest of the feed up to the newest position, which the page was read with (every entry up
 * to it is visible to the reader, storage/types.ts): the cursor moves there, past entries already droppable. A full
 * page continues after its last entry, and may have more after it.
 */
async function answer(
  page: RevocationFeedPage,
  start: number,
  limit: number,
  cursors: CursorSigner,
): Promise<FeedPage> {
  const full = page.entries.length === limit;
  const next = full ? (page.entries.at(-1)?.position ?? start) : Math.max(start, page.newest);
  return {
    entries: page.entries.map((entry) => toWire(entry, entry.dropAfter)),
    cursor: await cursors.issue(page.epoch, next),
    has_more: full && next < page.newest,
  };
}

function toWire(entry: RevocationEntry, drop_after: number): WireEntry {
  switch (entry.kind) {
    case "token":
      return { kind: "token", jti: entry.jti, exp: entry.exp, drop_after };
    case "user_client":
      return {
        kind: "user_client",
        sub: entry.sub,
        client_id: entry.clientId,
        issued_before: entry.issuedBefore,
        drop_after,
      };
    case "user":
      return { kind: "user", sub: entry.sub, issued_before: entry.issuedBefore, drop_after };
    case "client":
      return { kind: "client", client_id: entry.clientId, issued_before: entry.issuedBefore, drop_after };
    case "key":
      return { kind: "key", kid: entry.kid, drop_after };
  }
}

/**
 * The feed's cursor: base64url of `<epoch>.<position>` followed by its HMAC-SHA256 tag (RFC 2104) under the server
 * secret `revocation-feed-cursor`, shared by every node on the database. Opaque to the gateway; the tag lets the feed
 * tell its own cursors from forged ones, so a position it never issued cannot make it skip entries.
 */
class CursorSigner {
  #key: Promise<Buffer> | undefined;

  constructor(private readonly services: Services) {}

  async issue(epoch: string, position: number): Promise<string> {
    const payload = Buffer.from(`${epoch}.${position}`, "utf8");
    return Buffer.concat([payload, this.#tag(await this.#secret(), payload)]).toString("base64url");
  }

  /** The epoch and position of a cursor this database's feed issued; undefined for any other. */
  async open(cursor: string): Promise<{ epoch: string; position: number } | undefined> {
    const bytes = Buffer.from(cursor, "base64url");
    if (bytes.length <= TAG_BYTES) return undefined;
    const payload = bytes.subarray(0, bytes.length - TAG_BYTES);
    const tag = bytes.subarray(bytes.length - TAG_BYTES);
    if (!timingSafeEqual(tag, this.#tag(await this.#secret(), payload))) return undefined;
    const match = /^(.+)\.(0|[1-9][0-9]{0,15})$/.exec(payload.toString("utf8"));
    if (!match) return undefined;
    const position = Number(match[2]);
    return Number.isSafeInteger(position) ? { epoch: match[1], position } : undefined;
  }

  #tag(key: Buffer, payload: Buffer): Buffer {
    return createHmac("sha256", key).update(payload).digest();
  }

  /** Read once per process; a failed read (the database away) is tried again by the next request. */
  #secret(): Promise<Buffer> {
    this.#key ??= this.services.storage.secrets
      .getOrCreate("revocation-feed-cursor", () => randomBytes(32), this.services.clock.now())
      .catch((error: unknown) => {
        this.#key = undefined;
        throw error;
      });
    return this.#key;
  }
}
