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

/**
 * A browser where an account's password was once typed correctly (a "device cookie"): the login throttle lets it
 * past the per-account spacing an attack on that account causes (session/throttle.ts), with a limit of its own.
 */
export interface KnownDevice {
  /** The account as the throttle names it (throttle.ts, accountName). */
  readonly account: string;
  /** Random id (128 bits, base64url): the device's own failures are counted under it. */
  readonly device: string;
  /** Unix seconds after which the cookie is no longer accepted. */
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
    return this.#sign("session", data);
  }

  /** The session in `value`, or undefined when it is malformed, forged or expired. */
  decode(value: string | undefined, nowSeconds: number): SessionData | undefined {
    const data = toSessionData(this.#open("session", value));
    return data && data.exp > nowSeconds ? data : undefined;
  }

  encodeDevice(device: KnownDevice): string {
    return this.#sign("device", device);
  }

  /** The known-device record in `value`, or undefined when it is malformed, forged or expired. */
  decodeDevice(value: string | undefined, nowSeconds: number): KnownDevice | undefined {
    const device = toKnownDevice(this.#open("device", value));
    return device && device.exp > nowSeconds ? device : undefined;
  }

  #sign(purpose: string, data: object): string {
    const payload = Buffer.from(JSON.stringify(data)).toString("base64url");
    return `${payload}.${mac(this.#key, purpose, payload).toString("base64url")}`;
  }

  /** The JSON value signed for `purpose` in `value`; undefined when malformed or forged. */
  #open(purpose: string, value: string | undefined): unknown {
    if (!value) return undefined;
    const dot = value.indexOf(".");
    if (dot <= 0 || dot !== value.lastIndexOf(".")) return undefined;
    const payload = value.slice(0, dot);
    const signature = Buffer.from(value.slice(dot + 1), "base64url");
    if (!macEquals(signature, mac(this.#key, purpose, payload))) return undefined;
    try {
      return JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
    } catch {
      return undefined;
    }
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

function toKnownDevice(value: unknown): KnownDevice | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.account !== "string" || typeof v.device !== "string" || typeof v.exp !== "number") return undefined;
  return { account: v.account, device: v.device, exp: v.exp };
}
