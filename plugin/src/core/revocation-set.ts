// The revocation set of one issuer: what its revocation feed says no longer stands, as a few hash
// maps the hot path reads without allocating. One entry can stand for many tokens: one token
// (`jti`), everything one user obtained for one client up to an instant, everything one user
// obtained, everything one client obtained, everything one signing key signed. Each entry is kept
// until its `drop_after` (the latest instant a token it covers can still pass, leeway included,
// as the authorization server computes it), and the set is bounded: past `maxEntries` the entries
// that would be forgotten soonest go first.

/** One feed entry, as read from the wire (revocation-feed.ts); times in whole seconds since the epoch. */
export type RevocationEntry =
  | { readonly kind: "token"; readonly jti: string; readonly dropAfter: number }
  | {
      readonly kind: "user_client";
      readonly sub: string;
      readonly clientId: string;
      readonly issuedBefore: number;
      readonly dropAfter: number;
    }
  | { readonly kind: "user"; readonly sub: string; readonly issuedBefore: number; readonly dropAfter: number }
  | { readonly kind: "client"; readonly clientId: string; readonly issuedBefore: number; readonly dropAfter: number }
  | { readonly kind: "key"; readonly kid: string; readonly dropAfter: number };

/** Every token with `iat <= issuedBefore` is covered, until `dropAfter`. */
interface Cutoff {
  issuedBefore: number;
  dropAfter: number;
}

/**
 * Entries a set holds at most by default. Measured with 100,000 live entries, identifiers included
 * (test/plugin/bench/revocation-cost.ts): about 92 bytes per token entry and 126 per entry of a
 * mix of kinds, so a full set takes about 45–65 MB.
 */
export const DEFAULT_MAX_ENTRIES = 500_000;

/** What making room cost: how many live entries went, and the latest instant any of them covered. */
export interface Eviction {
  readonly dropped: number;
  /** The largest `dropAfter` among the dropped entries (seconds); 0 when none was dropped. */
  readonly coveredUntil: number;
}

export class RevocationSet {
  private readonly tokens = new Map<string, number>();
  private readonly keys = new Map<string, number>();
  private readonly users = new Map<string, Cutoff>();
  private readonly clients = new Map<string, Cutoff>();
  /** sub → client_id → cutoff: nested, so the hot path builds no composite key. */
  private readonly userClients = new Map<string, Map<string, Cutoff>>();
  private count = 0;
  private additions = 0;

  constructor(readonly maxEntries: number = DEFAULT_MAX_ENTRIES) {}

  /**
   * Counts additions: only an addition can make a token covered (forgetting and the cap only ever
   * uncover), so "not covered at version v" holds for as long as the version stays v.
   */
  get version(): number {
    return this.additions;
  }

  /** Entries held (each user_client pair counts once). */
  get size(): number {
    return this.count;
  }

  /**
   * Whether a token with these claims, signed by `kid`, is revoked: at most five hash lookups and
   * two comparisons, no allocation. `iat` in seconds, as in the token.
   */
  covers(jti: string, sub: string, clientId: string, iat: number, kid: string): boolean {
    if (this.count === 0) return false;
    if (this.tokens.has(jti) || this.keys.has(kid)) return true;
    const user = this.users.get(sub);
    if (user !== undefined && iat <= user.issuedBefore) return true;
    const client = this.clients.get(clientId);
    if (client !== undefined && iat <= client.issuedBefore) return true;
    const pair = this.userClients.get(sub)?.get(clientId);
    return pair !== undefined && iat <= pair.issuedBefore;
  }

  /** The withdrawn signing keys. */
  revokedKids(): IterableIterator<string> {
    return this.keys.keys();
  }

  hasKid(kid: string): boolean {
    return this.keys.has(kid);
  }

  /**
   * Adds one entry. An entry for something already held widens it: the later `issuedBefore` and
   * the later `dropAfter` win (both only grow for one subject on the authorization server).
   */
  add(entry: RevocationEntry): void {
    this.additions++;
    switch (entry.kind) {
      case "token":
        this.addInstant(this.tokens, entry.jti, entry.dropAfter);
        return;
      case "key":
        this.addInstant(this.keys, entry.kid, entry.dropAfter);
        return;
      case "user":
        this.addCutoff(this.users, entry.sub, entry);
        return;
      case "client":
        this.addCutoff(this.clients, entry.clientId, entry);
        return;
      case "user_client": {
        let clients = this.userClients.get(entry.sub);
        if (clients === undefined) this.userClients.set(entry.sub, (clients = new Map<string, Cutoff>()));
        this.addCutoff(clients, entry.clientId, entry);
        return;
      }
    }
  }

  /** Forgets every entry whose `dropAfter` is before `nowSeconds`; returns how many went. */
  forget(nowSeconds: number): number {
    return this.dropWhere((dropAfter) => dropAfter < nowSeconds, Number.POSITIVE_INFINITY).dropped;
  }

  /**
   * Brings the set within `maxEntries`, dropping the entries that would be forgotten soonest
   * first (call `forget` before, so that whatever goes here is still live).
   */
  enforceCap(): Eviction {
    const excess = this.count - this.maxEntries;
    if (excess <= 0) return { dropped: 0, coveredUntil: 0 };
    const instants = new Float64Array(this.count);
    let i = 0;
    this.each((dropAfter) => {
      instants[i++] = dropAfter;
    });
    instants.sort();
    // Everything before the threshold goes; entries at the threshold go until the excess is met.
    const threshold = instants[excess - 1];
    let below = 0;
    while (below < excess && instants[below] < threshold) below++;
    const atThreshold = excess - below;
    const first = this.dropWhere((dropAfter) => dropAfter < threshold, Number.POSITIVE_INFINITY);
    const second = this.dropWhere((dropAfter) => dropAfter === threshold, atThreshold);
    return { dropped: first.dropped + second.dropped, coveredUntil: threshold };
  }

  private addInstant(map: Map<string, number>, key: string, dropAfter: number): void {
    const previous = map.get(key);
    if (previous === undefined) this.count++;
    map.set(key, previous === undefined ? dropAfter : Math.max(previous, dropAfter));
  }

  private addCutoff(map: Map<string, Cutoff>, key: string, entry: Cutoff): void {
    const previous = map.get(key);
    if (previous === undefined) {
      map.set(key, { issuedBefore: entry.issuedBefore, dropAfter: entry.dropAfter });
      this.count++;
      return;
    }
    previous.issuedBefore = Math.max(previous.issuedBefore, entry.issuedBefore);
    previous.dropAfter = Math.max(previous.dropAfter, entry.dropAfter);
  }

  private each(visit: (dropAfter: number) => void): void {
    for (const dropAfter of this.tokens.values()) visit(dropAfter);
    for (const dropAfter of this.keys.values()) visit(dropAfter);
    for (const cutoff of this.users.values()) visit(cutoff.dropAfter);
    for (const cutoff of this.clients.values()) visit(cutoff.dropAfter);
    for (const clients of this.userClients.values()) for (const cutoff of clients.values()) visit(cutoff.dropAfter);
  }

  /** Deletes up to `limit` entries matching `doomed` (deleting while iterating a Map is safe). */
  private dropWhere(doomed: (dropAfter: number) => boolean, limit: number): { dropped: number } {
    let dropped = 0;
    const sweep = <V>(map: Map<string, V>, dropAfterOf: (value: V) => number): void => {
      for (const [key, value] of map) {
        if (dropped >= limit) return;
        if (doomed(dropAfterOf(value))) {
          map.delete(key);
          dropped++;
        }
      }
    };
    const instant = (dropAfter: number) => dropAfter;
    const cutoff = (value: Cutoff) => value.dropAfter;
    sweep(this.tokens, instant);
    sweep(this.keys, instant);
    sweep(this.users, cutoff);
    sweep(this.clients, cutoff);
    for (const [sub, clients] of this.userClients) {
      sweep(clients, cutoff);
      if (clients.size === 0) this.userClients.delete(sub);
    }
    this.count -= dropped;
    return { dropped };
  }
}
