import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * What the signed session cookie carries: an opaque random `sid` and the idle expiry. Who is signed in is not in the
 * cookie but in the database row the sid names (session/sessions.ts), so ending a session server-side ends it for
 * every copy of the cookie. Integrity comes from HMAC-SHA-256 with a server key; the payload holds nothing secret.
 */
export interface SessionData {
  /** Random session id (128 bits, base64url); replaced at sign-in and sign-out against session fixation. */
  readonly sid: string;
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
}

function toSessionData(value: unknown): SessionData | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.sid !== "string" || typeof v.exp !== "number") return undefined;
  return { sid: v.sid, exp: v.exp };
}
