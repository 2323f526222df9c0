import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * The browser session, kept entirely in one signed cookie (no server-side session table):
 * an opaque random `sid` that anti-CSRF tokens are bound to, and, once the user signed in,
 * who they are and when they authenticated. Integrity comes from HMAC-SHA-256 with a
 * server key; the payload holds nothing secret (a user id and timestamps).
 */
export interface SessionData {
  /** Random session id (128 bits, base64url); replaced at login against session fixation. */
  readonly sid: string;
  readonly userId?: string;
  readonly username?: string;
  /** Unix seconds of the login (absolute session lifetime counts from here). */
  readonly authTime?: number;
  /** Stamp of the password the user signed in with (SessionCodec.credentialStamp); a changed password ends the session. */
  readonly credential?: string;
  /** Unix seconds after which the cookie is no longer accepted (idle expiry). */
  readonly exp: number;
}

export function newSessionId(): string {
  return randomBytes(16).toString("base64url");
}

function mac(key: Uint8Array, purpose: string, data: string): Buffer {
  // Domain separation: the same key signs sessions and derives CSRF tokens, each under
  // its own label, so one can never be replayed as the other.
  return createHmac("sha256", key).update(`${purpose}\0${data}`).digest();
}

function macEquals(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export class SessionCodec {
  readonly #key: Uint8Array;

  constructor(key: Uint8Array) {
    if (key.length < 32) throw new TypeError("session key must be at least 32 bytes");
    this.#key = key;
  }

  encode(data: SessionData): string {
    const payload = Buffer.from(JSON.stringify(data)).toString("base64url");
    return `${payload}.${mac(this.#key, "session", payload).toString("base64url")}`;
  }

  /** The session in `value`, or undefined when it is malformed, forged or expired. */
  decode(value: string | undefined, nowSeconds: number): SessionData | undefined {
    if (!value) return undefined;
    const dot = value.indexOf(".");
    if (dot <= 0 || dot !== value.lastIndexOf(".")) return undefined;
    const payload = value.slice(0, dot);
    const signature = Buffer.from(value.slice(dot + 1), "base64url");
    if (!macEquals(signature, mac(this.#key, "session", payload))) return undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
    } catch {
      return undefined;
    }
    const data = toSessionData(parsed);
    if (!data || data.exp <= nowSeconds) return undefined;
    return data;
  }

  /** The anti-CSRF token of a session: a MAC of its id, so it is bound to that browser session. */
  csrfToken(sid: string): string {
    return mac(this.#key, "csrf", sid).toString("base64url");
  }

  verifyCsrf(sid: string, token: string | undefined): boolean {
    if (typeof token !== "string" || token.length === 0) return false;
    return macEquals(Buffer.from(token, "base64url"), mac(this.#key, "csrf", sid));
  }

  /**
   * A keyed stamp of the user's stored password hash, kept in the session at sign-in: after `users set-password`
   * (say, because the password leaked) the stored hash differs, and every session signed in with the old password
   * ends. Keyed and truncated, so the readable cookie payload reveals nothing about the hash.
   */
  credentialStamp(passwordHash: string): string {
    return mac(this.#key, "credential", passwordHash).subarray(0, 16).toString("base64url");
  }

  matchesCredential(stamp: string, passwordHash: string): boolean {
    return macEquals(Buffer.from(stamp, "base64url"), Buffer.from(this.credentialStamp(passwordHash), "base64url"));
  }
}

function toSessionData(value: unknown): SessionData | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.sid !== "string" || typeof v.exp !== "number") return undefined;
  const data: { -readonly [K in keyof SessionData]: SessionData[K] } = { sid: v.sid, exp: v.exp };
  if (v.userId !== undefined) {
    if (
      typeof v.userId !== "string" ||
      typeof v.username !== "string" ||
      typeof v.authTime !== "number" ||
      typeof v.credential !== "string"
    ) {
      return undefined;
    }
    data.userId = v.userId;
    data.username = v.username;
    data.authTime = v.authTime;
    data.credential = v.credential;
  }
  return data;
}
