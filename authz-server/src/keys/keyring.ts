import { createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from "node:crypto";
import type { JWK } from "jose";
import type { Clock } from "../clock.js";
import { OAuthError } from "../errors.js";
import type { KeyStore, SigningKey, Storage } from "../storage/types.js";
import type { SigningAlgorithm } from "./algorithms.js";
import { generateSigningKey } from "./generate.js";
import { createJwsSigner, type JwsSigner } from "./jws-sign.js";

interface LoadedKey {
  kid: string;
  alg: SigningAlgorithm;
  createdAt: number;
  activateAt: number;
  privateKey: KeyObject;
  publicKey: KeyObject;
  publicJwk: JWK;
  /** Made once when the key is loaded, so signing a token creates no key object and encodes no header. */
  signAccessToken: JwsSigner;
}

export interface KeyRingOptions {
  /** Algorithm of the key generated on first start. */
  algorithm: SigningAlgorithm;
  /** Longest access-token lifetime (s): a retired key stays published this long after its last signature. */
  accessTokenTtl: number;
  /** Verifiers' clock-skew allowance (s), added to the retirement window. */
  clockSkew: number;
}

export interface KeyStatus {
  kid: string;
  alg: SigningAlgorithm;
  createdAt: number;
  activateAt: number;
  /** When a newer key took over signing; null while this key is current or pending. */
  retiredAt: number | null;
  /** When the key leaves the JWKS; null while it is not retired. */
  unpublishAt: number | null;
  state: "pending" | "active" | "retired" | "expired";
}

/**
 * The only module that signs. Holds the keys of the database in memory, picks the signing key by time
 * (the newest whose activateAt has passed), and publishes public parts only (RFC 7517 §4, RFC 7518 §6).
 * Rotation is data: a new row with a future activateAt; `refresh()` notices rows written by another process.
 */
export class KeyRing {
  readonly #store: KeyStore;
  readonly #clock: Clock;
  readonly #options: KeyRingOptions;
  #keys: LoadedKey[] = [];
  #version = "";
  /** A table version that failed to load: not retried (nor logged again) until the table changes again. */
  #failedVersion = "";
  #timer: NodeJS.Timeout | undefined;
  /** A poll still waiting for the database: the next tick is skipped rather than queued behind it. */
  #polling = false;
  /** The reload in progress, if any: reloads run one after another, so an older read never replaces a newer one. */
  #reloading: Promise<void> = Promise.resolve();

  constructor(store: KeyStore, clock: Clock, options: KeyRingOptions) {
    this.#store = store;
    this.#clock = clock;
    this.#options = options;
  }

  /** First start: generate and store a key that signs at once, unless another process already did. */
  async initialize(): Promise<void> {
    if ((await this.#store.list()).length === 0) {
      const now = this.#clock.now();
      await this.#store.insertIfEmpty(await generateSigningKey(this.#options.algorithm, now, now));
    }
    await this.refresh();
  }

  /**
   * Re-reads the keys table when its version changed: one single-row read when nothing changed. Throws when a row
   * cannot be loaded; the keys in memory are then left as they were.
   */
  refresh(): Promise<void> {
    const reload = this.#reloading.then(() => this.#reload());
    this.#reloading = reload.catch(() => undefined);
    return reload;
  }

  async #reload(): Promise<void> {
    const version = await this.#store.version();
    if (version === this.#version || version === this.#failedVersion) return;
    // Read outside the try: a database that does not answer is retried at the next poll; only a row that cannot be
    // loaded marks its table version as failed.
    const rows = await this.#store.list();
    try {
      this.#keys = rows.map(load);
    } catch (error: unknown) {
      this.#failedVersion = version;
      throw error;
    }
    this.#version = version;
  }

  /**
   * Polls for keys written by `authz-server keys rotate` beside this process. A failed reload goes to `onError`
   * (an exception escaping a timer would stop the whole process) and the current keys stay in use.
   */
  startPolling(intervalMs: number, onError: (error: unknown) => void): void {
    this.stopPolling();
    this.#timer = setInterval(() => {
      if (this.#polling) return;
      this.#polling = true;
      this.refresh()
        .catch(onError)
        .finally(() => {
          this.#polling = false;
        });
    }, intervalMs);
    this.#timer.unref();
  }

  stopPolling(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  status(now = this.#clock.now()): KeyStatus[] {
    return statusOf(this.#keys, now, this.#options);
  }

  /** RFC 7517 JWK Set of every key not yet past its publication window: pending, active and retired keys. */
  jwks(now = this.#clock.now()): { keys: JWK[] } {
    const published = new Set(
      this.status(now)
        .filter((s) => s.state !== "expired")
        .map((s) => s.kid),
    );
    return { keys: this.#keys.filter((k) => published.has(k.kid)).map((k) => k.publicJwk) };
  }

  /** Public key for `kid` if it is still published (used by introspection and revocation to verify our own tokens). */
  verificationKey(
    kid: string | undefined,
    now = this.#clock.now(),
  ): { key: KeyObject; alg: SigningAlgorithm } | undefined {
    const status = this.status(now).find((s) => s.kid === kid);
    const key = this.#keys.find((k) => k.kid === kid);
    if (!status || !key || status.state === "expired" || status.state === "pending") return undefined;
    return { key: key.publicKey, alg: key.alg };
  }

  /**
   * Signs an RFC 9068 access token (header `typ: at+jwt`, §2.1) with the current key. Synchronous: node:crypto.sign
   * on the calling thread (see jws-sign.ts for why not WebCrypto).
   */
  signAccessToken(claims: Readonly<Record<string, unknown>>, now = this.#clock.now()): string {
    const key = this.#current(now);
    return key.signAccessToken(claims);
  }

  /** Deletes keys whose publication window has ended (called by the purge timer). Returns the deleted kids. */
  async deleteExpired(now = this.#clock.now()): Promise<string[]> {
    const expired = this.status(now)
      .filter((s) => s.state === "expired")
      .map((s) => s.kid);
    for (const kid of expired) await this.#store.delete(kid);
    if (expired.length > 0) await this.refresh();
    return expired;
  }

  #current(now: number): LoadedKey {
    let current: LoadedKey | undefined;
    for (const key of this.#keys) if (key.activateAt <= now) current = key; // sorted by activateAt
    if (!current) throw new OAuthError("temporarily_unavailable", "no active signing key");
    return current;
  }
}

function load(key: SigningKey): LoadedKey {
  const privateKey = createPrivateKey({ key: JSON.parse(key.privateJwk) as JsonWebKey, format: "jwk" });
  const publicKey = createPublicKey(privateKey);
  // Published JWK derived from the public key object, not read from the stored row: whatever a row holds,
  // the JWKS can only ever contain public members (RFC 7518 §6.2.1, §6.3.1).
  const publicJwk: JWK = { ...(publicKey.export({ format: "jwk" }) as JWK), kid: key.kid, alg: key.alg, use: "sig" };
  return {
    kid: key.kid,
    alg: key.alg,
    createdAt: key.createdAt,
    activateAt: key.activateAt,
    privateKey,
    publicKey,
    publicJwk,
    signAccessToken: createJwsSigner(key.alg, privateKey, { alg: key.alg, kid: key.kid, typ: "at+jwt" }),
  };
}

/**
 * Key states at `now`, from activation times alone: a key is retired once a later key has activated, and expires
 * (leaves the JWKS) accessTokenTtl + clockSkew after that, when the last token it signed has expired.
 */
export function statusOf(
  keys: readonly { kid: string; alg: SigningAlgorithm; activateAt: number; createdAt?: number }[],
  now: number,
  options: Pick<KeyRingOptions, "accessTokenTtl" | "clockSkew">,
): KeyStatus[] {
  const sorted = [...keys].sort((a, b) => a.activateAt - b.activateAt);
  return sorted.map((key, index) => {
    const successor = sorted.slice(index + 1).find((k) => k.activateAt <= now);
    const retiredAt = successor ? successor.activateAt : null;
    const unpublishAt = retiredAt === null ? null : retiredAt + (options.accessTokenTtl + options.clockSkew) * 1000;
    const state =
      key.activateAt > now
        ? "pending"
        : retiredAt === null
          ? "active"
          : unpublishAt !== null && unpublishAt <= now
            ? "expired"
            : "retired";
    return {
      kid: key.kid,
      alg: key.alg,
      createdAt: key.createdAt ?? key.activateAt,
      activateAt: key.activateAt,
      retiredAt,
      unpublishAt,
      state,
    };
  });
}

/** `keys rotate`: stores a new key, published at once, signing from now + activateAfter seconds. */
export async function rotateKey(
  store: KeyStore,
  alg: SigningAlgorithm,
  activateAfterSeconds: number,
  now: number,
): Promise<SigningKey> {
  const key = await generateSigningKey(alg, now, now + activateAfterSeconds * 1000);
  await store.insert(key);
  return key;
}

/** What `keys revoke` did: the key withdrawn, and the key that signs in its place when it was signing. */
export interface KeyRevocation {
  revoked: SigningKey;
  /** Generated and active at once when the revoked key was signing (or was the only key); null otherwise. */
  replacement: SigningKey | null;
}

/**
 * `keys revoke`: withdraws a key at once. The row goes (every key ring drops it from the JWKS at its next poll) and the
 * store lists the kid in the revocation feed, so gateways refuse what it signed and refetch the key set.
 *
 * When the key is the one signing now, a replacement of the same algorithm is generated and signs at once: the revoked
 * key must stop signing now, and without a replacement the key ring would fall back to a retired key (the newest one
 * activated) or to none. This is the one case where activating a key without waiting for the JWKS max-age is right:
 * gateways refetch the key set as soon as the feed lists the revoked key, and meet the replacement there. The
 * replacement is stored in the same transaction as the revoked key leaves, so the database never has no key.
 * Returns undefined when no key has `kid`.
 */
export function revokeKey(
  storage: Pick<Storage, "transaction">,
  kid: string,
  now: number,
): Promise<KeyRevocation | undefined> {
  return storage.transaction(async (tx) => {
    const keys = await tx.keys.list();
    const revoked = keys.find((k) => k.kid === kid);
    if (!revoked) return undefined;
    // Whether a key signs now does not depend on the publication window: any window will do.
    const signing = statusOf(keys, now, { accessTokenTtl: 0, clockSkew: 0 }).find((s) => s.state === "active");
    const replacement =
      signing?.kid === kid || keys.length === 1 ? await generateSigningKey(revoked.alg, now, now) : null;
    // The deletion and the replacement commit together, so no reader ever finds the one without the other; the
    // deletion goes first and decides: a process that revoked the key since the list above leaves nothing to do.
    if (!(await tx.keys.revoke(kid, now))) return undefined;
    if (replacement) await tx.keys.insert(replacement);
    return { revoked, replacement };
  });
}
