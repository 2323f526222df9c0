import type { Context } from "koa";
import { defaults } from "../config.js";
import { digest } from "../secrets.js";
import type { BrowserSessionStore } from "../storage/types.js";
import { newSessionId, SessionCodec, type SessionData } from "./cookie.js";

/** How long a browser stays known to the login throttle after a correct password is typed in it (config.ts). */
const KNOWN_DEVICE_SECONDS = defaults.knownDeviceTtl;

export interface SessionOptions {
  /** HMAC key (at least 32 bytes), kept in the database so sessions survive a restart. */
  readonly key: Uint8Array;
  /** Secure cookies (and the `__Host-` prefix) when the issuer is https. */
  readonly secure: boolean;
  /** A session unused for this long is forgotten (seconds, default 30 minutes). */
  readonly idleSeconds?: number;
  /** A sign-in is good for at most this long, however active (seconds, default 12 hours). */
  readonly absoluteSeconds?: number;
  /** Clock in milliseconds (injected in tests). */
  readonly now?: () => number;
}

/** A signed-in user as the endpoints see it. */
export interface SessionUser {
  readonly userId: string;
  readonly username: string;
}

/**
 * Browser sessions for the login, consent and consents pages. The browser holds one signed cookie with a random
 * session id, `HttpOnly` (no script can read it) and `SameSite=Lax` (not sent on cross-site POSTs, a second line of
 * defence behind the anti-CSRF tokens, RFC 9700 §4.7), `Secure` with the `__Host-` prefix when the issuer is https
 * (cookie prefixes: no Domain, Path=/). Who is signed in is the database's answer for that id (BrowserSessionStore),
 * looked up on every page: signing out deletes the row, so a copy of the cookie saved before is worthless after,
 * on every server process sharing the database. Anonymous sessions (a CSRF token for the login form) have no row.
 */
export class Sessions {
  readonly cookieName: string;
  /** The known-device cookie (cookie.ts, KnownDevice): long-lived, unlike the session. */
  readonly deviceCookieName: string;
  readonly #codec: SessionCodec;
  readonly #secure: boolean;
  readonly #idle: number;
  readonly #absoluteMs: number;
  readonly #now: () => number;

  constructor(options: SessionOptions) {
    this.#codec = new SessionCodec(options.key);
    this.#secure = options.secure;
    this.cookieName = options.secure ? "__Host-authz_session" : "authz_session";
    this.deviceCookieName = options.secure ? "__Host-authz_device" : "authz_device";
    this.#idle = options.idleSeconds ?? defaults.sessionIdleTtl;
    this.#absoluteMs = (options.absoluteSeconds ?? defaults.sessionAbsoluteTtl) * 1000;
    this.#now = options.now ?? Date.now;
  }

  /**
   * The browser's session, or a fresh anonymous one, written back with its idle expiry renewed (so the CSRF token on
   * the page being rendered stays valid for the form's POST).
   */
  load(ctx: Context): SessionData {
    const current = this.#codec.decode(ctx.cookies.get(this.cookieName), this.#nowSeconds());
    return current ? this.#write(ctx, current.sid) : this.#renew(ctx);
  }

  /** The user signed in to this session, while its record lives (not signed out, not expired, user not deleted). */
  async user(store: BrowserSessionStore, session: SessionData): Promise<SessionUser | undefined> {
    const record = await store.find(digest(session.sid), this.#now());
    return record && { userId: record.userId, username: record.username };
  }

  /**
   * Signs the user in under a new session id (the pre-login id may be known to an attacker) and records the sign-in;
   * a sign-in this browser already had (another account) ends.
   */
  async login(ctx: Context, store: BrowserSessionStore, previous: SessionData, userId: string): Promise<SessionData> {
    await store.delete(digest(previous.sid));
    const session = this.#renew(ctx);
    const now = this.#now();
    await store.create({
      sessionDigest: digest(session.sid),
      userId,
      createdAt: now,
      expiresAt: now + this.#absoluteMs,
    });
    return session;
  }

  /** Ends the session server-side and gives the browser a new anonymous one. */
  async logout(ctx: Context, store: BrowserSessionStore, session: SessionData): Promise<SessionData> {
    await store.delete(digest(session.sid));
    return this.#renew(ctx);
  }

  /** The id of this browser if a correct password for `account` (throttle.ts, accountName) was typed in it. */
  knownDevice(ctx: Context, account: string): string | undefined {
    const known = this.#codec.decodeDevice(ctx.cookies.get(this.deviceCookieName), this.#nowSeconds());
    return known?.account === account ? known.device : undefined;
  }

  /** After a correct password: this browser is known for `account` for the next 90 days. */
  rememberDevice(ctx: Context, account: string): void {
    const device = this.knownDevice(ctx, account) ?? newSessionId();
    const value = this.#codec.encodeDevice({ account, device, exp: this.#nowSeconds() + KNOWN_DEVICE_SECONDS });
    this.#setCookie(ctx, this.deviceCookieName, value, [`Max-Age=${KNOWN_DEVICE_SECONDS}`]);
  }

  csrfToken(session: SessionData): string {
    return this.#codec.csrfToken(session.sid);
  }

  verifyCsrf(session: SessionData, token: unknown): boolean {
    return typeof token === "string" && this.#codec.verifyCsrf(session.sid, token);
  }

  #nowSeconds(): number {
    return Math.floor(this.#now() / 1000);
  }

  #renew(ctx: Context): SessionData {
    return this.#write(ctx, newSessionId());
  }

  #write(ctx: Context, sid: string): SessionData {
    const session: SessionData = { sid, exp: this.#nowSeconds() + this.#idle };
    this.#setCookie(ctx, this.cookieName, this.#codec.encode(session), []);
    return session;
  }

  #setCookie(ctx: Context, name: string, value: string, extra: readonly string[]): void {
    // Written by hand rather than through ctx.cookies.set: `cookies` refuses a Secure cookie
    // on a plain-HTTP socket, which is exactly the case behind a TLS-terminating proxy.
    const attributes = ["Path=/", ...extra, "HttpOnly", "SameSite=Lax"];
    if (this.#secure) attributes.push("Secure");
    // Koa types the header as `any`: a list when several cookies are set, a string for one, "" for none.
    const existing: unknown = ctx.response.get("Set-Cookie");
    const list = Array.isArray(existing)
      ? existing.map(String)
      : typeof existing === "string" && existing !== ""
        ? [existing]
        : [];
    const others = list.filter((c) => !c.startsWith(`${name}=`));
    ctx.set("Set-Cookie", [...others, `${name}=${value}; ${attributes.join("; ")}`]);
  }
}
