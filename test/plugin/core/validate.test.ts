// The pure core against every hostile input, its agreement with jose over many tokens,
// and random mutations of valid tokens (never a throw, never an acceptance). Clock frozen at NOW.
import assert from "node:assert/strict";
import { constants, createPublicKey } from "node:crypto";
import { before, describe, it } from "node:test";
import { createLocalJWKSet, jwtVerify } from "jose";
import { parseJwks, type KeySet } from "../../../plugin/src/core/jwks.ts";
import type { ValidationOptions } from "../../../plugin/src/core/validate.ts";
import type { Verdict } from "../../../plugin/src/core/verdict.ts";
import { SUPPORTED_ALGORITHMS } from "../../../plugin/src/core/algorithms.ts";
import { validateAccessToken, validateAuthorization } from "../helpers/validate.ts";
import {
  AUDIENCE,
  b64url,
  defaultClaims,
  generateTestKey,
  hmacWithPublicKey,
  ISSUER,
  NOW,
  rawToken,
  signAccessToken,
  signRaw,
  type TestKey,
} from "../helpers/tokens.ts";

const OPTIONS: ValidationOptions = {
  issuer: ISSUER,
  audience: [AUDIENCE],
  algorithms: ["PS256", "RS256", "ES256", "EdDSA"],
  leewaySeconds: 30,
  scopesRequired: ["photos"],
  scopeMatch: "all",
};

let es: TestKey, rs: TestKey, ps: TestKey, ed: TestKey, rsNoAlg: TestKey;
let keySet: KeySet;
const keys = { get: (kid: string) => keySet.keys.get(kid) };

before(async () => {
  [es, rs, ps, ed, rsNoAlg] = await Promise.all([
    generateTestKey("ES256", "es"),
    generateTestKey("RS256", "rs"),
    generateTestKey("PS256", "ps"),
    generateTestKey("EdDSA", "ed"),
    generateTestKey("RS256", "rs-no-alg", false),
  ]);
  const parsed = parseJwks({ keys: [es.jwk, rs.jwk, ps.jwk, ed.jwk, rsNoAlg.jwk] });
  assert.ok(!("error" in parsed));
  assert.deepEqual(parsed.skipped, []);
  keySet = parsed;
});

const check = (token: string, options: Partial<ValidationOptions> = {}, now = NOW): Verdict =>
  validateAccessToken(token, { ...OPTIONS, ...options }, keys, now);

const invalid = (reason: string, description: string) => ({
  ok: false,
  status: 401,
  error: "invalid_token",
  reason,
  description,
});

describe("validateAccessToken: accepted tokens", () => {
  it("accepts a valid token and returns its claims", async () => {
    const claims = { ...defaultClaims(), jti: "j1" };
    const verdict = check(await signAccessToken(es, claims));
    assert.deepEqual(verdict, {
      ok: true,
      claims: {
        iss: ISSUER,
        sub: "alice",
        aud: [AUDIENCE],
        exp: NOW + 600,
        iat: NOW - 10,
        jti: "j1",
        client_id: "canon-printing",
        scope: ["photos", "openid"],
        raw: claims,
      },
    });
  });

  it("accepts every supported algorithm when it is allowed and the key is pinned to it", async () => {
    for (const alg of SUPPORTED_ALGORITHMS) {
      const key = await generateTestKey(alg, `k-${alg}`);
      const set = parseJwks({ keys: [key.jwk] });
      assert.ok(!("error" in set));
      const verdict = validateAccessToken(await signAccessToken(key), { ...OPTIONS, algorithms: [alg] }, set.keys, NOW);
      assert.equal(verdict.ok, true, alg);
    }
  });

  it("accepts typ in any case and with the application/ prefix (RFC 9068 §4, RFC 7515 §4.1.9)", async () => {
    for (const typ of ["at+jwt", "AT+JWT", "application/at+jwt", "Application/AT+JWT"]) {
      assert.equal(check(await signAccessToken(es, {}, { typ })).ok, true, typ);
    }
  });

  it("accepts an audience array containing this API and times within the leeway", async () => {
    assert.equal(check(await signAccessToken(es, { aud: ["other", AUDIENCE] })).ok, true);
    assert.equal(check(await signAccessToken(es, { exp: NOW - 29 })).ok, true);
    assert.equal(check(await signAccessToken(es, { nbf: NOW + 29, iat: NOW + 29 })).ok, true);
  });

  it("lets an RSA key published without alg verify both RSA families, but nothing else", async () => {
    assert.equal(check(await signAccessToken(rsNoAlg)).ok, true);
    // The same RSA key signing RSASSA-PSS (signed by node directly: WebCrypto ties a key to one scheme).
    const pss = await signRaw(
      rsNoAlg,
      JSON.stringify({ alg: "PS256", typ: "at+jwt", kid: "rs-no-alg" }),
      JSON.stringify(defaultClaims()),
      { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
    );
    assert.equal(check(pss).ok, true);
    assert.deepEqual(
      check(await signAccessToken(es, {}, { kid: "rs-no-alg" })),
      invalid("key_alg_mismatch", "the token's algorithm does not match its key"),
    );
  });
});

describe("validateAccessToken: every hostile input", () => {
  it("refuses expired, not-yet-valid and future-issued tokens", async () => {
    assert.deepEqual(check(await signAccessToken(es, { exp: NOW - 30 })), invalid("expired", "the token has expired"));
    assert.deepEqual(
      check(await signAccessToken(es, { nbf: NOW + 31 })),
      invalid("not_yet_valid", "the token is not valid yet"),
    );
    assert.deepEqual(
      check(await signAccessToken(es, { iat: NOW + 31 })),
      invalid("issued_in_future", "the token was issued in the future"),
    );
    assert.deepEqual(
      check(await signAccessToken(es, { exp: "later" })),
      invalid("missing_claim", "the token has no valid exp claim"),
    );
    assert.deepEqual(
      check(await signAccessToken(es, { iat: undefined })),
      invalid("missing_claim", "the token has no valid iat claim"),
    );
  });

  it("refuses a wrong issuer or audience", async () => {
    assert.deepEqual(
      check(await signAccessToken(es, { iss: "http://evil.example" })),
      invalid("bad_iss", "the token was issued by another issuer"),
    );
    assert.deepEqual(
      check(await signAccessToken(es, { iss: `${ISSUER}/` })),
      invalid("bad_iss", "the token was issued by another issuer"),
    );
    assert.deepEqual(
      check(await signAccessToken(es, { aud: "http://localhost:8000/other" })),
      invalid("bad_aud", "the token is not meant for this API"),
    );
    assert.deepEqual(
      check(await signAccessToken(es, { aud: [] })),
      invalid("bad_aud", "the token is not meant for this API"),
    );
    assert.deepEqual(
      check(await signAccessToken(es, { aud: undefined })),
      invalid("bad_aud", "the token is not meant for this API"),
    );
  });

  it("refuses a wrong or missing typ", async () => {
    const bad = invalid("bad_typ", "the token is not a JWT access token (typ must be at+jwt)");
    assert.deepEqual(check(await signAccessToken(es, {}, { typ: "JWT" })), bad);
    assert.deepEqual(check(await signAccessToken(es, {}, { typ: "at+jwt; charset=x" })), bad);
    assert.deepEqual(check(await signAccessToken(es, {}, { typ: undefined })), bad);
  });

  it("refuses alg none and HS256 keyed with the RSA public key", async () => {
    const bad = invalid("bad_alg", "the token's signing algorithm is not accepted");
    assert.deepEqual(check(rawToken({ alg: "none", typ: "at+jwt", kid: "rs" }, defaultClaims())), bad);
    const pem = createPublicKey({ key: rs.jwk as unknown as import("node:crypto").JsonWebKey, format: "jwk" }).export({
      type: "spki",
      format: "pem",
    }) as string;
    assert.deepEqual(
      check(rawToken({ alg: "HS256", typ: "at+jwt", kid: "rs" }, defaultClaims(), hmacWithPublicKey(pem))),
      bad,
    );
    // ES256 signed but ES256 not in this route's allow-list.
    assert.deepEqual(check(await signAccessToken(es), { algorithms: ["RS256"] }), bad);
  });

  it("refuses an unknown kid, a missing kid and a kid naming a key of another type or algorithm", async () => {
    assert.deepEqual(check(await signAccessToken(es, {}, { kid: "nope" })), {
      ...invalid("unknown_kid", "the token was signed with an unknown key"),
      kid: "nope",
    });
    assert.deepEqual(
      check(await signAccessToken(es, {}, { kid: undefined })),
      invalid("no_kid", "the token header has no kid"),
    );
    const mismatch = invalid("key_alg_mismatch", "the token's algorithm does not match its key");
    assert.deepEqual(check(await signAccessToken(es, {}, { kid: "rs" })), mismatch);
    assert.deepEqual(check(await signAccessToken(rs, {}, { kid: "ps" })), mismatch);
    assert.deepEqual(check(await signAccessToken(ed, {}, { kid: "es" })), mismatch);
  });

  it("refuses tokens naming their own key (jku, x5u, jwk, x5c)", async () => {
    const bad = invalid("embedded_key", "tokens naming their own key (jku, x5u, jwk, x5c) are not accepted");
    for (const header of [
      { jku: "http://evil/jwks" },
      { x5u: "http://evil/cert" },
      { jwk: es.jwk },
      { x5c: ["MIIB"] },
    ]) {
      assert.deepEqual(check(await signAccessToken(es, {}, header)), bad, JSON.stringify(header));
    }
  });

  it("refuses crit, b64 and nested JWTs", () => {
    const token = (header: Record<string, unknown>) =>
      rawToken({ alg: "RS256", typ: "at+jwt", kid: "rs", ...header }, defaultClaims());
    assert.deepEqual(
      check(token({ crit: ["exp"], exp: 1 })),
      invalid("unsupported_header", "the access token header uses an unsupported extension"),
    );
    assert.deepEqual(
      check(token({ b64: false, crit: ["b64"] })),
      invalid("unsupported_header", "the access token header uses an unsupported extension"),
    );
    assert.deepEqual(check(token({ cty: "JWT" })), invalid("nested_jwt", "nested tokens are not accepted"));
    assert.deepEqual(
      check(token({ cty: "text/plain" })),
      invalid("unsupported_header", "the access token header has an unexpected cty"),
    );
  });

  it("refuses a tampered payload or signature, and a non-canonical signature encoding", async () => {
    const token = await signAccessToken(es);
    const [h, p, s] = token.split(".") as [string, string, string];
    const payload = JSON.parse(Buffer.from(p, "base64url").toString()) as Record<string, unknown>;
    const tampered = `${h}.${b64url(JSON.stringify({ ...payload, sub: "mallory" }))}.${s}`;
    const badSignature = invalid("bad_signature", "the token signature is invalid");
    assert.deepEqual(check(tampered), badSignature);
    const flipped = Buffer.from(s, "base64url");
    flipped[5] ^= 1;
    assert.deepEqual(check(`${h}.${p}.${b64url(flipped)}`), badSignature);
    // 64 bytes → 86 characters whose last one carries 2 unused bits: a second spelling of the same bytes.
    const last = s.at(-1);
    assert.ok(last);
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const twin = alphabet[alphabet.indexOf(last) ^ 1];
    assert.deepEqual(Buffer.from(s.slice(0, -1) + twin, "base64url"), Buffer.from(s, "base64url"));
    assert.deepEqual(check(`${h}.${p}.${s.slice(0, -1)}${twin}`), badSignature);
    assert.deepEqual(check(`${h}.${p}.${s}==`), badSignature);
    assert.deepEqual(check(`${h}.${p}.`), badSignature);
    // An ECDSA signature in DER instead of R||S (RFC 7518 §3.4).
    const der = await signRaw(es, Buffer.from(h, "base64url"), Buffer.from(p, "base64url"), { dsaEncoding: "der" });
    assert.ok(der.startsWith(`${h}.${p}.`));
    assert.deepEqual(check(der), badSignature);
  });

  it("refuses an RSA signature that is not exactly as long as the modulus (RFC 8017 §8.1.2, §8.2.2 step 1)", async () => {
    // OpenSSL verifies an RSASSA-PSS signature with its leading zero byte dropped: a second
    // spelling of the same token. Sign until the (randomised) PSS signature starts with 0x00.
    const [header, claims] = [
      JSON.stringify({ alg: "PS256", typ: "at+jwt", kid: "ps" }),
      JSON.stringify(defaultClaims()),
    ];
    const input = `${b64url(header)}.${b64url(claims)}`;
    let signature: Buffer | undefined;
    for (let i = 0; i < 4000 && signature === undefined; i += 1) {
      const token = await signRaw(ps, header, claims, { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
      const candidate = Buffer.from(token.slice(input.length + 1), "base64url");
      if (candidate[0] === 0) signature = candidate;
    }
    assert.ok(signature !== undefined, "a PSS signature with a leading zero byte within 4,000 tries");
    assert.equal(signature.length, 256);
    assert.equal(check(`${input}.${b64url(signature)}`).ok, true);
    const badSignature = invalid("bad_signature", "the token signature is invalid");
    assert.deepEqual(check(`${input}.${b64url(signature.subarray(1))}`), badSignature);
    assert.deepEqual(check(`${input}.${b64url(Buffer.concat([Buffer.alloc(1), signature]))}`), badSignature);
  });

  it("refuses JWE-shaped tokens, garbage and oversized tokens", () => {
    assert.deepEqual(
      check("eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d"),
      invalid("jwe", "encrypted tokens (JWE) are not accepted"),
    );
    assert.deepEqual(
      check(rawToken({ alg: "RS256", enc: "A256GCM", typ: "at+jwt", kid: "rs" }, {})),
      invalid("jwe", "encrypted tokens (JWE) are not accepted"),
    );
    for (const garbage of [
      "abc",
      "a.b",
      "a.b.c",
      "....",
      "",
      ".",
      "e30.e30.e30",
      "W10.e30.AA",
      "bnVsbA.e30.AA",
      "%%%.e30.AA",
    ]) {
      const verdict = check(garbage);
      assert.equal(verdict.ok, false, garbage);
      assert.equal(verdict.status, 401);
      assert.ok(["not_jws", "jwe", "bad_typ"].includes(verdict.reason), `${garbage}: ${JSON.stringify(verdict)}`);
    }
    assert.deepEqual(check("x".repeat(16 * 1024)), invalid("token_too_large", "the access token is too large"));
    assert.deepEqual(
      validateAuthorization(`Bearer ${"a".repeat(16 * 1024)}`, OPTIONS, keys, NOW),
      invalid("token_too_large", "the access token is too large"),
    );
  });

  it("refuses a validly signed payload that is not UTF-8 JSON object text", async () => {
    const signed = (payload: Buffer) =>
      signRaw(rs, JSON.stringify({ alg: "RS256", typ: "at+jwt", kid: "rs" }), payload);
    const bad = invalid("bad_payload", "the token payload is not a JSON object");
    assert.deepEqual(check(await signed(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]))), bad); // {"\xff":1}
    assert.deepEqual(check(await signed(Buffer.from("[1,2]"))), bad);
    assert.deepEqual(check(await signed(Buffer.from("not json"))), bad);
    assert.equal(check(await signed(Buffer.from(JSON.stringify(defaultClaims())))).ok, true);
  });

  it("refuses RSASSA-PSS signatures whose salt is not as long as the hash (RFC 7518 §3.5)", async () => {
    const withSalt = (saltLength: number) =>
      signRaw(ps, JSON.stringify({ alg: "PS256", typ: "at+jwt", kid: "ps" }), JSON.stringify(defaultClaims()), {
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength,
      });
    assert.equal(check(await withSalt(32)).ok, true);
    for (const saltLength of [0, 20, constants.RSA_PSS_SALTLEN_MAX_SIGN]) {
      assert.deepEqual(
        check(await withSalt(saltLength)),
        invalid("bad_signature", "the token signature is invalid"),
        String(saltLength),
      );
    }
  });

  it("reads hostile JSON shapes without throwing: __proto__ keys, duplicate keys, overflowing numbers", async () => {
    // Raw JSON texts, signed as they are (JSON.stringify could not write most of them).
    const signed = (header: string, payload: string) => signRaw(rs, header, payload);
    const header = '{"alg":"RS256","typ":"at+jwt","kid":"rs"}';
    const claims = (extra: string) => {
      const base = JSON.stringify({ ...defaultClaims(), exp: undefined, aud: undefined });
      return `${base.slice(0, -1)},${extra}}`;
    };
    const valid = claims(`"aud":"${AUDIENCE}","exp":${NOW + 600}`);
    assert.equal(check(await signed(header, valid)).ok, true);
    // JSON.parse makes __proto__ an own key; nothing is inherited from it.
    assert.deepEqual(
      check(await signed('{"__proto__":{"typ":"at+jwt"},"alg":"RS256","kid":"rs"}', valid)),
      invalid("bad_typ", "the token is not a JWT access token (typ must be at+jwt)"),
    );
    assert.deepEqual(
      check(await signed(header, claims(`"__proto__":{"aud":"${AUDIENCE}"},"exp":${NOW + 600}`))),
      invalid("bad_aud", "the token is not meant for this API"),
    );
    // A duplicate name takes its last value, as jose and RFC 7519 §4 / RFC 7515 §4 allow; the
    // signature covers the very bytes, so only the issuer could have written them.
    assert.deepEqual(
      check(await signed(header, claims(`"aud":"${AUDIENCE}","exp":${NOW + 600},"exp":${NOW - 600}`))),
      invalid("expired", "the token has expired"),
    );
    assert.deepEqual(
      check(await signed('{"alg":"RS256","typ":"at+jwt","typ":"JWT","kid":"rs"}', valid)),
      invalid("bad_typ", "the token is not a JWT access token (typ must be at+jwt)"),
    );
    // 1e400 parses as Infinity: not a NumericDate (RFC 7519 §2).
    assert.deepEqual(
      check(await signed(header, claims(`"aud":"${AUDIENCE}","exp":1e400`))),
      invalid("missing_claim", "the token has no valid exp claim"),
    );
    assert.deepEqual(
      check(await signed(header, claims(`"aud":"${AUDIENCE}","exp":${NOW + 600},"nbf":-1e400`))),
      invalid("not_yet_valid", "the token is not valid yet"),
    );
    assert.deepEqual(
      check(await signed(header, claims(`"aud":42,"exp":${NOW + 600}`))),
      invalid("bad_aud", "the token is not meant for this API"),
    );
    assert.deepEqual(
      check(await signed(header, claims(`"aud":["${AUDIENCE}",7],"exp":${NOW + 600}`))),
      invalid("bad_aud", "the token is not meant for this API"),
    );
  });

  it("refuses a payload that is not a JSON object, or lacks sub, client_id or jti", async () => {
    assert.deepEqual(
      check(await signAccessToken(es, { sub: undefined })),
      invalid("missing_claim", "the token has no sub claim"),
    );
    assert.deepEqual(
      check(await signAccessToken(es, { client_id: 7 })),
      invalid("missing_claim", "the token has no client_id claim"),
    );
    assert.deepEqual(
      check(await signAccessToken(es, { jti: undefined })),
      invalid("missing_claim", "the token has no jti claim"),
    );
    assert.deepEqual(
      check(await signAccessToken(es, { scope: ["photos"] })),
      invalid("bad_payload", "the token's scope claim is not a string"),
    );
  });

  it("answers 403 insufficient_scope naming the required scopes, with all versus any", async () => {
    const token = await signAccessToken(es, { scope: "photos openid" });
    assert.deepEqual(check(token, { scopesRequired: ["photos", "print"] }), {
      ok: false,
      status: 403,
      error: "insufficient_scope",
      reason: "insufficient_scope",
      description: "the token lacks a scope this resource requires",
      scope: "photos print",
    });
    assert.equal(check(token, { scopesRequired: ["photos", "print"], scopeMatch: "any" }).ok, true);
    assert.deepEqual(check(token, { scopesRequired: ["print", "admin"], scopeMatch: "any" }), {
      ok: false,
      status: 403,
      error: "insufficient_scope",
      reason: "insufficient_scope",
      description: "the token carries none of the scopes this resource accepts",
      scope: "print admin",
    });
    assert.equal(check(await signAccessToken(es, { scope: undefined }), { scopesRequired: [] }).ok, true);
    assert.equal(check(await signAccessToken(es, { scope: undefined })).ok, false);
  });

  it("checks in the validation order: a bad signature wins over a wrong issuer, a wrong issuer over expiry", async () => {
    const expiredElsewhere = await signAccessToken(es, { iss: "http://evil", exp: NOW - 100, aud: "x" });
    assert.equal((check(expiredElsewhere) as { reason: string }).reason, "bad_iss");
    assert.equal(
      (check(await signAccessToken(es, { aud: "x", exp: NOW - 100 })) as { reason: string }).reason,
      "bad_aud",
    );
    assert.equal(
      (check(await signAccessToken(es, { exp: NOW - 100, scope: "" })) as { reason: string }).reason,
      "expired",
    );
    const [h, p] = expiredElsewhere.split(".");
    assert.equal((check(`${h}.${p}.${b64url(Buffer.alloc(64))}`) as { reason: string }).reason, "bad_signature");
  });
});

describe("validateAuthorization: the Authorization header (RFC 6750 §2.1, §3.1)", () => {
  const malformed = (description: string) => ({
    ok: false,
    status: 400,
    error: "invalid_request",
    reason: "malformed_header",
    description,
  });
  it("answers 401 without an error code when there is no token", () => {
    for (const value of [undefined, []]) {
      assert.deepEqual(validateAuthorization(value, OPTIONS, keys, NOW), {
        ok: false,
        status: 401,
        reason: "no_token",
        description: "a bearer token is required",
      });
    }
  });
  it("answers 400 invalid_request for a malformed header", () => {
    const cases: [string | string[], string][] = [
      ["Basic YWxpY2U6cHc=", "the Authorization header does not use the Bearer scheme"],
      ["Bearer", "the Authorization header carries no token"],
      ["Bearer    ", "the Authorization header carries no token"],
      ["Bearer a b", "the Authorization header is not `Bearer <token>`"],
      ["Bearer a,b", "the Authorization header is not `Bearer <token>`"],
      ["", "the Authorization header is empty"],
      [["Bearer a", "Bearer b"], "more than one Authorization header"],
    ];
    for (const [value, description] of cases)
      assert.deepEqual(validateAuthorization(value, OPTIONS, keys, NOW), malformed(description), String(value));
  });
  it("accepts the scheme in any case and passes the token on", async () => {
    const token = await signAccessToken(es);
    for (const header of [`Bearer ${token}`, `bearer ${token}`, `BEARER  ${token}`, [`Bearer ${token}`]]) {
      assert.equal(validateAuthorization(header, OPTIONS, keys, NOW).ok, true);
    }
  });
});

describe("agreement with jose.jwtVerify", () => {
  it("gives jose's accept/refuse answer on 300 generated tokens", async () => {
    const jwks = createLocalJWKSet({ keys: [es.jwk, rs.jwk, ps.jwk, ed.jwk] });
    const signers = [es, rs, ps, ed];
    const claimVariants: Record<string, unknown>[] = [
      {},
      {},
      {},
      { exp: NOW - 31 },
      { exp: NOW - 29 },
      { nbf: NOW + 31 },
      { nbf: NOW + 10 },
      { iat: NOW + 31 },
      { iat: NOW + 25 },
      { iss: "http://other" },
      { aud: "other" },
      { aud: ["a", AUDIENCE] },
      { aud: ["a", "b"] },
      { sub: undefined },
      { jti: undefined },
    ];
    const headerVariants: Record<string, unknown>[] = [
      {},
      {},
      { typ: "JWT" },
      { typ: "application/at+jwt" },
      { kid: "unknown" },
    ];
    let accepted = 0;
    for (let i = 0; i < 300; i += 1) {
      const key = signers[i % signers.length];
      const claims = claimVariants[(i * 7) % claimVariants.length];
      const header = headerVariants[(i * 3) % headerVariants.length];
      let token = await signAccessToken(key, claims, header);
      if (i % 11 === 5) token = token.slice(0, -3) + (token.endsWith("AAA") ? "BBB" : "AAA");
      const ours = check(token, { scopesRequired: [] });
      const theirs = await jwtVerify(token, jwks, {
        issuer: ISSUER,
        audience: AUDIENCE,
        typ: "at+jwt",
        algorithms: [...OPTIONS.algorithms],
        clockTolerance: 30,
        currentDate: new Date(NOW * 1000),
        maxTokenAge: 10 * 365 * 86400,
        requiredClaims: ["sub", "client_id", "jti", "iat", "exp"],
      }).then(
        () => true,
        () => false,
      );
      assert.equal(
        ours.ok,
        theirs,
        `token ${i}: ours ${JSON.stringify(ours.ok ? "ok" : ours)} claims ${JSON.stringify(claims)} header ${JSON.stringify(header)}`,
      );
      if (ours.ok) accepted += 1;
    }
    assert.ok(accepted > 50 && accepted < 250, `a mix of accepted and refused tokens (${accepted})`);
  });
});

describe("random mutations of valid tokens", () => {
  it("never throws and never accepts (2,000 mutations)", async () => {
    const originals = await Promise.all([es, rs, ps, ed].map((key) => signAccessToken(key)));
    let seed = 0x2545f491;
    const random = (n: number): number => {
      // xorshift32: a deterministic sequence, so a failure reproduces.
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \u0000é";
    let mutated = 0;
    for (let i = 0; i < 2000; i += 1) {
      const original = originals[i % originals.length];
      let token = original;
      const kind = random(6);
      const at = random(token.length);
      if (kind === 0) token = token.slice(0, at) + alphabet[random(alphabet.length)] + token.slice(at + 1);
      else if (kind === 1) token = token.slice(0, at);
      else if (kind === 2) token = token.slice(0, at) + alphabet[random(alphabet.length)] + token.slice(at);
      else if (kind === 3) token = token.slice(0, at) + token.slice(at + 1 + random(20));
      else if (kind === 4) {
        const parts = token.split(".");
        const [a, b] = [random(3), random(3)];
        [parts[a], parts[b]] = [parts[b], parts[a]];
        token = parts.join(".");
      } else
        token = token
          .split(".")
          .map((part, index) => (index === random(3) ? part.split("").reverse().join("") : part))
          .join(".");
      if (token === original) continue;
      mutated += 1;
      let verdict: Verdict | undefined;
      assert.doesNotThrow(() => {
        verdict = validateAuthorization(`Bearer ${token}`, OPTIONS, keys, NOW);
      });
      assert.equal(verdict?.ok, false, `accepted a mutation: ${token}`);
    }
    assert.ok(mutated > 1500);
  });
});
