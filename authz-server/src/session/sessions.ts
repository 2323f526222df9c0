import type { Context } from "koa";
import { newSessionId, SessionCodec, type SessionData } from "./cookie.js";

export interface SessionOptions {
  /** HMAC key (at least 32 bytes), kept in the database so sessions survive a restart. */
  readonly key: Uint8Array;
  /** Secure cookies (and the `__Host-` prefix) when the issuer is https. */
  readonly secure: boolean;
  /** A session unused for this long is forgotten (seconds, default 30 minutes). */
  readonly idleSeconds?: number;
  /** A login is good for at most this long, however active (seconds, default 12 hours). */
  readonly absoluteSeconds?: number;
  /** Clock in milliseconds (injected in tests). */
  readonly now?: () => number;
}

/** A signed-in user as the endpoints see it. */
export interface SessionUser {
  readonly userId: string;
  readonly username: string;
  readonly authTime: number;
}

/**
 * Browser sessions for the login, consent and consents pages: one signed cookie,
 * `HttpOnly` (no script can read it) and `SameSite=Lax` (not sent on cross-site POSTs,
 * a second line of defence behind the anti-CSRF tokens, RFC 9700 §4.7), `Secure` with the
 * `__Host-` prefix when the issuer is https (cookie prefixes: no Domain, Path=/).
 */
export class Sessions {
  readonly cookieName: string;
  readonly #codec: SessionCodec;
  readonly #secure: boolean;
  readonly #idle: number;
  readonly #absolute: number;
  readonly #now: () => number;

  constructor(options: SessionOptions) {
    this.#codec = new SessionCodec(options.key);
    this.#secure = options.secure;
    this.cookieName = options.secure ? "__Host-authz_session" : "authz_session";
    this.#idle = options.idleSeconds ?? 30 * 60;
    this.#absolute = options.absoluteSeconds ?? 12 * 60 * 60;
    this.#now = options.now ?? Date.now;
  }

  #nowSeconds(): number {
    return Math.floor(this.#now() / 1000);
  }

  /**
   * The browser's session, or a fresh anonymous one (written back so the CSRF token on the
   * page being rendered stays valid for the form's POST). A login older than the absolute
   * lifetime is dropped to anonymous.
   */
  load(ctx: Context): SessionData {
    const now = this.#nowSeconds();
    const current = this.#codec.decode(ctx.cookies.get(this.cookieName), now);
    let session: SessionData;
    if (!current) {
      session = { sid: newSessionId(), exp: now + this.#idle };
    } else if (current.authTime !== undefined && current.authTime + this.#absolute <= now) {
      session = { sid: newSessionId(), exp: now + this.#idle };
    } else {
      session = { ...current, exp: now + this.#idle };
    }
    this.#write(ctx, session);
    return session;
  }

  user(session: SessionData): SessionUser | undefined {
    if (session.userId === undefined || session.username === undefined || session.authTime === undefined) {
      return undefined;
    }
    return { userId: session.userId, username: session.username, authTime: session.authTime };
  }

  /**
   * Signs the user in under a new session id (the pre-login id may be known to an attacker), stamped with the
   * password hash it was proven against (see SessionCodec.credentialStamp).
   */
  login(ctx: Context, user: { readonly id: string; readonly username: string; readonly passwordHash: string }): SessionData {
    const now = this.#nowSeconds();
    const session: SessionData = {
      sid: newSessionId(),
      userId: user.id,
      username: user.username,
      authTime: now,
      credential: this.#codec.credentialStamp(user.passwordHash),
      exp: now + this.#idle,
    };
    this.#write(ctx, session);
    return session;
  }

  /** Whether the session was signed in with the password whose stored hash is `passwordHash`. */
  hasCredential(session: SessionData, passwordHash: string): boolean {
    return session.credential !== undefined && this.#codec.matchesCredential(session.credential, passwordHash);
  }

  logout(ctx: Context): SessionData {
    const session: SessionData = { sid: newSessionId(), exp: this.#nowSeconds() + this.#idle };
    this.#write(ctx, session);
    return session;
  }

  csrfToken(session: SessionData): string {
    return this.#codec.csrfToken(session.sid);
  }

  verifyCsrf(session: SessionData, token: unknown): boolean {
    return typeof token === "string" && this.#codec.verifyCsrf(session.sid, token);
  }

  #write(ctx: Context, session: SessionData): void {
    // Written by hand rather than through ctx.cookies.set: `cookies` refuses a Secure cookie
    // on a plain-HTTP socket, which is exactly the case behind a TLS-terminating proxy.
    const attributes = ["Path=/", "HttpOnly", "SameSite=Lax"];
    if (this.#secure) attributes.push("Secure");
    const existing = ctx.response.get("Set-Cookie");
    const others = (Array.isArray(existing) ? existing : existing ? [String(existing)] : []).filter(
      (c) => !c.startsWith(`${this.cookieName}=`),
    );
    ctx.set("Set-Cookie", [...others, `${this.cookieName}=${this.#codec.encode(session)}; ${attributes.join("; ")}`]);
  }
}
