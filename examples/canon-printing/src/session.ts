/**
 * Server-side sessions in memory, keyed by an unguessable cookie. The browser holds only the
 * session id; tokens, PKCE verifiers and `state` stay on the server.
 */
import { randomBytes } from "node:crypto";

export interface PendingAuthorization {
  state: string;
  codeVerifier: string;
  scope: string;
}

export interface Tokens {
  accessToken: string;
  refreshToken: string | undefined;
  scope: string;
  /** Epoch milliseconds. */
  expiresAt: number;
}

export interface Session {
  id: string;
  /** Anti-CSRF token for Canon's own forms, bound to this session. */
  csrf: string;
  pending: PendingAuthorization | undefined;
  tokens: Tokens | undefined;
  /** The photos last shown (id → title), so a print order names only photos Flickr returned. */
  shown: Map<string, string>;
  lastSeen: number;
}

export interface SessionStoreOptions {
  now: () => number;
  /** Idle lifetime in milliseconds. */
  idleMs?: number;
  /** Upper bound on live sessions (oldest evicted first), so a flood of cookieless visits cannot exhaust memory. */
  maxSessions?: number;
}

export class SessionStore {
  private readonly sessions = new Map<string, Session>();
  private readonly idleMs: number;
  private readonly maxSessions: number;

  constructor(private readonly options: SessionStoreOptions) {
    this.idleMs = options.idleMs ?? 60 * 60 * 1000;
    this.maxSessions = options.maxSessions ?? 10_000;
  }

  /** The live session for this id, or a new one. */
  resolve(id: string | undefined): Session {
    const now = this.options.now();
    if (id !== undefined) {
      const found = this.sessions.get(id);
      if (found !== undefined && now - found.lastSeen <= this.idleMs) {
        found.lastSeen = now;
        // Re-insert so the Map's order stays least-recently-used first.
        this.sessions.delete(id);
        this.sessions.set(id, found);
        return found;
      }
      if (found !== undefined) this.sessions.delete(id);
    }
    while (this.sessions.size >= this.maxSessions) {
      const oldest = this.sessions.keys().next();
      if (oldest.done === true) break;
      this.sessions.delete(oldest.value);
    }
    const session: Session = {
      id: randomBytes(32).toString("base64url"),
      csrf: randomBytes(32).toString("base64url"),
      pending: undefined,
      tokens: undefined,
      shown: new Map(),
      lastSeen: now,
    };
    this.sessions.set(session.id, session);
    return session;
  }

  destroy(id: string): void {
    this.sessions.delete(id);
  }

  get size(): number {
    return this.sessions.size;
  }
}
