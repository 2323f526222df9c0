// The behaviours every storage engine owes the endpoints (authz-server/src/storage/types.ts), as one suite: each
// engine's test file runs `storageContract` on its own storage, so SQLite and PostgreSQL are held to the same cases.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { limits } from "../../../authz-server/src/config.ts";
import { digest } from "../../../authz-server/src/secrets.ts";
import { KeyEncryptionKey } from "../../../authz-server/src/storage/encryption.ts";
import type { StorageOptions } from "../../../authz-server/src/storage/index.ts";
import { ThrottleRules } from "../../../authz-server/src/session/throttle.ts";
import type {
  AuthorizationCode,
  LoginThrottleRecord,
  RefreshToken,
  RevocationFeedEntry,
  SigningKey,
  Storage,
} from "../../../authz-server/src/storage/types.ts";

const t0 = Date.UTC(2030, 0, 1);
const redirectUri = "http://localhost:3000/callback";

/** Opens a fresh, empty storage of the engine under test (a new database each call). */
export type OpenStorage = (options?: StorageOptions) => Promise<Storage>;

function code(name: string, overrides: Partial<AuthorizationCode> = {}): AuthorizationCode {
  return {
    codeDigest: digest(name),
    clientId: "canon",
    userId: "u1",
    redirectUri,
    codeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    codeChallengeMethod: "S256",
    scope: "photos",
    resources: ["http://localhost:8080/"],
    createdAt: t0,
    expiresAt: t0 + 60_000,
    consumedAt: null,
    ...overrides,
  };
}

function refresh(token: string, familyId: string, parent: string | null, codeDigest: string | null): RefreshToken {
  return {
    tokenDigest: digest(token),
    familyId,
    parentDigest: parent === null ? null : digest(parent),
    codeDigest,
    clientId: "canon",
    userId: "u1",
    scope: "photos",
    resources: [],
    createdAt: t0,
    rotatedAt: null,
    idleExpiresAt: t0 + 3_600_000,
    absoluteExpiresAt: t0 + 7_200_000,
    revokedAt: null,
  };
}

function signingKey(kid: string, activateAt: number): SigningKey {
  return {
    kid,
    alg: "ES256",
    privateJwk: JSON.stringify({ kty: "EC", kid, d: "private" }),
    publicJwk: JSON.stringify({ kty: "EC", kid }),
    createdAt: t0,
    activateAt,
  };
}

/** A promise and the function that settles it: a transaction held open until the test lets it go. */
function latch(): { promise: Promise<void>; release: () => void } {
  let release = () => {};
  const promise = new Promise<void>((resolve) => (release = resolve));
  return { promise, release };
}

export function storageContract(engine: string, open: OpenStorage): void {
  describe(`${engine} storage`, () => {
    let storage: Storage;

    before(async () => {
      storage = await open();
      await storage.clients.create({
        clientId: "canon",
        name: "Canon Printing",
        secretDigest: digest("s"),
        redirectUris: [redirectUri],
        grantTypes: ["authorization_code", "refresh_token"],
        scopes: ["photos"],
        tokenEndpointAuthMethod: "client_secret_basic",
        createdAt: t0,
      });
      await storage.users.create({ id: "u1", username: "alice", passwordHash: "x", createdAt: t0 });
    });
    after(() => storage.close());

    describe("clients and scopes", () => {
      it("finds a client by id and by a name users could not tell apart, and sees its own changes at once", async () => {
        assert.equal((await storage.clients.find("canon"))?.name, "Canon Printing");
        assert.equal((await storage.clients.findByName("  canon printing "))?.clientId, "canon");
        assert.equal(await storage.clients.find("nobody"), undefined);
        assert.equal(await storage.clients.setRedirectUris("canon", [redirectUri, "http://localhost:3000/b"]), true);
        assert.deepEqual((await storage.clients.find("canon"))?.redirectUris, [redirectUri, "http://localhost:3000/b"]);
        assert.equal(await storage.clients.setRedirectUris("nobody", []), false);
        assert.deepEqual(
          (await storage.clients.list()).map((c) => c.clientId),
          ["canon"],
        );
      });

      it("deleting a client removes its codes, refresh tokens and consents", async () => {
        await storage.clients.create({
          clientId: "gone",
          name: "Gone",
          secretDigest: null,
          redirectUris: [redirectUri],
          grantTypes: ["authorization_code"],
          scopes: ["photos"],
          tokenEndpointAuthMethod: "none",
          createdAt: t0,
          resourceServerFor: ["http://localhost:8080/"],
        });
        assert.deepEqual((await storage.clients.find("gone"))?.resourceServerFor, ["http://localhost:8080/"]);
        await storage.codes.create(code("gone-code", { clientId: "gone" }));
        await storage.refreshTokens.create({ ...refresh("gone-r", "gone-fam", null, null), clientId: "gone" });
        await storage.consents.grant("u1", "gone", ["photos"], t0);
        assert.equal(await storage.clients.delete("gone", t0), true);
        assert.equal(await storage.clients.find("gone"), undefined);
        assert.equal(await storage.codes.find(digest("gone-code")), undefined);
        assert.equal(await storage.refreshTokens.find(digest("gone-r")), undefined);
        assert.deepEqual(await storage.consents.grantedScopes("u1", "gone"), []);
        assert.equal(await storage.clients.delete("gone", t0), false);
      });

      it("lists scopes by name and their distinct resources", async () => {
        await storage.scopes.create({ name: "profile", description: "Your name", resource: "http://localhost:8080/" });
        await storage.scopes.create({ name: "admin", description: "Administer", resource: null });
        await storage.scopes.create({ name: "photos", description: "Your photos", resource: "http://localhost:8080/" });
        assert.deepEqual(
          (await storage.scopes.list()).map((s) => s.name),
          ["admin", "photos", "profile"],
        );
        assert.deepEqual(await storage.scopes.find("admin"), {
          name: "admin",
          description: "Administer",
          resource: null,
        });
        assert.equal(await storage.scopes.find("nothing"), undefined);
        assert.deepEqual(await storage.scopes.resources(), ["http://localhost:8080/"]);
      });

      it("hand a token request one catalog of the scopes, the same object until a scope is added", async () => {
        await storage.scopes.create({ name: "albums", description: "Your albums", resource: "http://localhost:7070/" });
        const catalog = await storage.scopes.catalog();
        assert.equal(catalog.find("albums")?.resource, "http://localhost:7070/");
        assert.equal(catalog.find("nothing"), undefined);
        assert.deepEqual(catalog.resources(), ["http://localhost:7070/", "http://localhost:8080/"]);
        assert.equal(await storage.scopes.catalog(), catalog);
        await storage.scopes.create({ name: "print", description: "Print", resource: "http://localhost:9090/" });
        const next = await storage.scopes.catalog();
        assert.notEqual(next, catalog);
        assert.deepEqual(next.resources(), [
          "http://localhost:7070/",
          "http://localhost:8080/",
          "http://localhost:9090/",
        ]);
        assert.deepEqual(
          catalog.resources(),
          ["http://localhost:7070/", "http://localhost:8080/"],
          "a catalog already handed out never changes",
        );
      });
    });

    describe("authorization codes", () => {
      it("are redeemed exactly once", async () => {
        await storage.codes.create(code("code-1"));
        assert.deepEqual(await storage.codes.find(digest("code-1")), code("code-1"));
        assert.equal(await storage.codes.consume(digest("code-1"), t0 + 1000), true);
        assert.equal(await storage.codes.consume(digest("code-1"), t0 + 2000), false);
        assert.equal((await storage.codes.find(digest("code-1")))?.consumedAt, t0 + 1000);
        assert.equal(await storage.codes.find(digest("unknown")), undefined);
      });

      it("are redeemed once when two exchanges race, each in its own transaction", async () => {
        await storage.codes.create(code("code-race"));
        const redeem = (now: number) =>
          storage.transaction(async (tx) => {
            const found = await tx.codes.find(digest("code-race"));
            return found?.consumedAt === null && (await tx.codes.consume(digest("code-race"), now));
          });
        const outcomes = await Promise.all([redeem(t0 + 1), redeem(t0 + 2), redeem(t0 + 3)]);
        assert.deepEqual(
          outcomes.filter((won) => won),
          [true],
        );
      });
    });

    describe("refresh tokens and revocation", () => {
      it("rotate once: of two concurrent rotations of one token exactly one succeeds", async () => {
        await storage.refreshTokens.create(refresh("rot-1", "fam-rot", null, null));
        const rotate = (successor: string) =>
          storage.transaction(async (tx) => {
            if (!(await tx.refreshTokens.markRotated(digest("rot-1"), t0 + 5))) return false;
            await tx.refreshTokens.create(refresh(successor, "fam-rot", "rot-1", null));
            return true;
          });
        const outcomes = await Promise.all([rotate("rot-2a"), rotate("rot-2b")]);
        assert.deepEqual(outcomes.toSorted(), [false, true]);
        const family = await storage.refreshTokens.family("fam-rot");
        assert.deepEqual(
          family.map((t) => t.parentDigest),
          [null, digest("rot-1")],
          "one live successor",
        );
        assert.equal(family[0]?.rotatedAt, t0 + 5);
      });

      it("revoking a family revokes its refresh tokens and the access tokens linked to it", async () => {
        await storage.refreshTokens.create(refresh("r1", "fam-1", null, digest("code-1")));
        await storage.refreshTokens.create(refresh("r2", "fam-1", "r1", digest("code-1")));
        for (const jti of ["at-1", "at-2"])
          await storage.revocations.linkAccessToken({
            jti,
            clientId: "canon",
            userId: "u1",
            familyId: "fam-1",
            codeDigest: null,
            expiresAt: t0 + 600_000,
          });
        assert.equal(await storage.revocations.revokeFamily("fam-1", t0 + 10), 2);
        assert.equal(await storage.revocations.revokeFamily("fam-1", t0 + 11), 0, "already revoked");
        assert.equal((await storage.refreshTokens.find(digest("r2")))?.revokedAt, t0 + 10);
        assert.equal(await storage.revocations.isAccessTokenRevoked("at-1"), true);
        assert.equal(await storage.revocations.isAccessTokenRevoked("at-2"), true);
        assert.equal(await storage.revocations.isAccessTokenRevoked("at-never"), false);
      });

      it("revokes everything issued from a replayed code", async () => {
        const replayed = digest("code-2");
        await storage.refreshTokens.create(refresh("r3", "fam-2", null, replayed));
        await storage.revocations.linkAccessToken({
          jti: "at-3",
          clientId: "canon",
          userId: "u1",
          familyId: null,
          codeDigest: replayed,
          expiresAt: t0 + 600_000,
        });
        await storage.revocations.revokeCodeGrant(replayed, t0 + 20);
        assert.equal((await storage.refreshTokens.find(digest("r3")))?.revokedAt, t0 + 20);
        assert.equal(await storage.revocations.isAccessTokenRevoked("at-3"), true);
      });

      it("revoking one access token twice keeps it revoked (RFC 7009 §2.2)", async () => {
        await storage.revocations.revokeAccessToken("at-once", t0 + 600_000, t0);
        await storage.revocations.revokeAccessToken("at-once", t0 + 600_000, t0 + 1);
        assert.equal(await storage.revocations.isAccessTokenRevoked("at-once"), true);
      });
    });

    describe("consents", () => {
      it("are remembered per user × client, and withdrawal revokes that grant's refresh tokens", async () => {
        await storage.refreshTokens.create(refresh("r4", "fam-3", null, null));
        await storage.consents.grant("u1", "canon", ["photos"], t0);
        await storage.consents.grant("u1", "canon", ["photos", "profile"], t0 + 1);
        assert.deepEqual(await storage.consents.grantedScopes("u1", "canon"), ["photos", "profile"]);
        assert.deepEqual(await storage.consents.list({ userId: "u1" }), [
          { userId: "u1", clientId: "canon", scopes: ["photos", "profile"], grantedAt: t0 + 1 },
        ]);
        assert.equal(await storage.consents.revoke("u1", "canon", t0 + 30), true);
        assert.deepEqual(await storage.consents.grantedScopes("u1", "canon"), []);
        assert.equal((await storage.refreshTokens.find(digest("r4")))?.revokedAt, t0 + 30);
        assert.equal(await storage.consents.revoke("u1", "nobody", t0 + 31), false);
      });
    });

    describe("browser sessions", () => {
      it("live until they expire or are signed out, and a new password ends them", async () => {
        await storage.users.create({ id: "u2", username: "bob", passwordHash: "old", createdAt: t0 });
        const session = (name: string) => ({
          sessionDigest: digest(name),
          userId: "u2",
          createdAt: t0,
          expiresAt: t0 + 60_000,
        });
        await storage.browserSessions.create(session("s1"));
        await storage.browserSessions.create(session("s2"));
        assert.deepEqual(await storage.browserSessions.find(digest("s1"), t0 + 1), {
          ...session("s1"),
          username: "bob",
        });
        assert.equal(await storage.browserSessions.find(digest("s1"), t0 + 60_000), undefined, "expired");
        await storage.browserSessions.delete(digest("s1"));
        assert.equal(await storage.browserSessions.find(digest("s1"), t0 + 1), undefined, "signed out");
        assert.equal(await storage.users.setPasswordHash("bob", "new", t0), true);
        assert.equal((await storage.users.findByUsername("bob"))?.passwordHash, "new");
        assert.equal(await storage.browserSessions.find(digest("s2"), t0 + 1), undefined, "ended by the new password");
        assert.equal(await storage.users.setPasswordHash("nobody", "new", t0), false);
      });
    });

    describe("signing keys and server secrets", () => {
      it("insert a first key once when two processes start at once, and version every change", async () => {
        const before = await storage.keys.version();
        const inserted = await Promise.all([
          storage.keys.insertIfEmpty(signingKey("k1", t0)),
          storage.keys.insertIfEmpty(signingKey("k1", t0)),
        ]);
        assert.deepEqual(inserted.toSorted(), [false, true]);
        const afterInsert = await storage.keys.version();
        assert.notEqual(afterInsert, before);
        await storage.keys.insert(signingKey("k0", t0 - 1));
        assert.deepEqual(
          (await storage.keys.list()).map((k) => [k.kid, k.privateJwk]),
          [
            ["k0", signingKey("k0", 0).privateJwk],
            ["k1", signingKey("k1", 0).privateJwk],
          ],
        );
        await storage.keys.delete("k0");
        assert.notEqual(await storage.keys.version(), afterInsert);
        assert.deepEqual(
          (await storage.keys.list()).map((k) => k.kid),
          ["k1"],
        );
      });

      it("create a server secret on first use and return the same one after", async () => {
        const first = await storage.secrets.getOrCreate("session-key", () => randomBytes(32), t0);
        assert.equal(first.length, 32);
        const again = await storage.secrets.getOrCreate("session-key", () => randomBytes(32), t0 + 1);
        assert.deepEqual(again, first);
      });

      it("seal keys and secrets under a key-encryption key and read them back with it", async () => {
        const kek = KeyEncryptionKey.parse(randomBytes(32).toString("hex"), "test");
        const sealed = await open({ keyEncryptionKey: kek });
        try {
          const secret = await sealed.secrets.getOrCreate("session-key", () => Buffer.from("the session key"), t0);
          await sealed.keys.insert(signingKey("sealed", t0));
          assert.deepEqual(await sealed.keyEncryption.status(), {
            kekId: kek.id,
            sealed: { signingKeys: 1, serverSecrets: 1 },
            inTheClear: { signingKeys: 0, serverSecrets: 0 },
          });
          assert.equal(secret.toString(), "the session key");
          assert.equal((await sealed.keys.list())[0]?.privateJwk, signingKey("sealed", 0).privateJwk);
        } finally {
          await sealed.close();
        }
      });
    });

    describe("transactions", () => {
      it("roll back every write when the function rejects, and pass the rejection on", async () => {
        await assert.rejects(
          storage.transaction(async (tx) => {
            await tx.codes.create(code("rolled-back"));
            await tx.revocations.revokeAccessToken("at-rolled-back", t0 + 1000, t0);
            throw new Error("changed my mind");
          }),
          { message: "changed my mind" },
        );
        assert.equal(await storage.codes.find(digest("rolled-back")), undefined);
        assert.equal(await storage.revocations.isAccessTokenRevoked("at-rolled-back"), false);
      });

      it("join the outer transaction when nested: the inner writes roll back with it", async () => {
        await assert.rejects(
          storage.transaction(async (tx) => {
            const inner = await tx.transaction(async (nested) => {
              await nested.codes.create(code("nested"));
              return "inner done";
            });
            assert.equal(inner, "inner done");
            assert.notEqual(await tx.codes.find(digest("nested")), undefined, "seen inside the transaction");
            throw new Error("outer fails");
          }),
          { message: "outer fails" },
        );
        assert.equal(await storage.codes.find(digest("nested")), undefined);
      });

      it("hide their writes from other requests until they commit", async () => {
        const held = latch();
        let created!: () => void;
        const inserted = new Promise<void>((resolve) => (created = resolve));
        const transaction = storage.transaction(async (tx) => {
          await tx.codes.create(code("pending"));
          created();
          await held.promise;
          return "committed";
        });
        await inserted;
        const outside = storage.codes.find(digest("pending"));
        held.release();
        assert.equal(await transaction, "committed");
        const seen = await outside;
        assert.ok(seen === undefined || seen.consumedAt === null, "nothing half-written");
        assert.deepEqual(await storage.codes.find(digest("pending")), code("pending"));
      });

      it("keep nothing of a transaction another request ran beside one that rolled back", async () => {
        const held = latch();
        let created!: () => void;
        const inserted = new Promise<void>((resolve) => (created = resolve));
        const failing = storage.transaction(async (tx) => {
          await tx.codes.create(code("doomed"));
          created();
          await held.promise;
          throw new Error("rolled back");
        });
        await inserted;
        const beside = storage.codes.create(code("beside"));
        held.release();
        await assert.rejects(failing, { message: "rolled back" });
        await beside;
        assert.equal(await storage.codes.find(digest("doomed")), undefined);
        assert.deepEqual(await storage.codes.find(digest("beside")), code("beside"), "the other request's write stays");
      });
    });

    describe("login throttle state", () => {
      const empty = { failures: [], accountNextAttemptAt: null };
      /** One attempt's read and write, in its own transaction, as the throttle runs it (session/throttle.ts). */
      const attempt = (pair: string, account: string, next: (r: LoginThrottleRecord) => LoginThrottleRecord) =>
        storage.transaction(async (tx) => {
          const record = await tx.loginThrottle.lock(digest(pair), digest(account));
          const written = next(record);
          await tx.loginThrottle.save(digest(pair), digest(account), written, (written.failures.at(-1) ?? 0) + 60_000);
          return record;
        });
      const read = (pair: string, account: string) => attempt(pair, account, (r) => r);

      it("keeps an account-and-address pair's failures and an account's schedule; empty ones leave no row", async () => {
        assert.deepEqual(await read("p-1", "a-1"), empty);
        await attempt("p-1", "a-1", () => ({ failures: [t0, t0 + 1], accountNextAttemptAt: t0 + 30_000 }));
        assert.deepEqual(await read("p-1", "a-1"), { failures: [t0, t0 + 1], accountNextAttemptAt: t0 + 30_000 });
        assert.deepEqual(await read("p-2", "a-1"), { failures: [], accountNextAttemptAt: t0 + 30_000 });
        await attempt("p-1", "a-1", () => empty);
        assert.deepEqual(await read("p-1", "a-1"), empty);
        assert.deepEqual(
          await storage.purgeExpired(Number.MAX_SAFE_INTEGER).then((r) => r.skipped || r.loginThrottle),
          0,
          "nothing was left behind to purge",
        );
      });

      it("lets concurrent attempts on one account take turns: 12 at once, from two addresses, lose no count", async () => {
        // Each adds one failure to its pair and moves the account's schedule on by one interval.
        const answers = await Promise.all(
          Array.from({ length: 12 }, (_, i) =>
            attempt(`race-${i % 2}`, "a-race", (r) => ({
              failures: [...r.failures, t0 + i],
              accountNextAttemptAt: (r.accountNextAttemptAt ?? t0) + 30_000,
            })),
          ),
        );
        assert.equal(answers.length, 12);
        const [left, right] = [await read("race-0", "a-race"), await read("race-1", "a-race")];
        assert.equal(left.failures.length + right.failures.length, 12);
        assert.equal(left.accountNextAttemptAt, t0 + 12 * 30_000);
      });

      it("holds the per-account limit against guesses from many addresses, each attempt in its own transaction", async () => {
        const rules = new ThrottleRules();
        const allowed = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            storage.transaction(async (tx) => {
              const pair = digest(`alice\u0000198.51.100.${i}`);
              const outcome = rules.attempt(await tx.loginThrottle.lock(pair, digest("alice-limit")), t0, false);
              await tx.loginThrottle.save(
                pair,
                digest("alice-limit"),
                outcome.record,
                rules.failuresExpireAt(outcome.record),
              );
              return outcome.verdict.allowed;
            }),
          ),
        );
        assert.equal(allowed.filter(Boolean).length, 5, "the burst, whichever addresses sent them");
      });

      it("are purged once the failures have left the window and the account is idle", async () => {
        await attempt("p-old", "a-old", () => ({ failures: [t0 - 120_000], accountNextAttemptAt: t0 - 1 }));
        await attempt("p-new", "a-new", () => ({ failures: [t0], accountNextAttemptAt: t0 + 30_000 }));
        const purged = await storage.purgeExpired(t0);
        assert.equal(purged.skipped || purged.loginThrottle, 2);
        assert.deepEqual(await read("p-old", "a-old"), empty);
        assert.deepEqual(await read("p-new", "a-new"), { failures: [t0], accountNextAttemptAt: t0 + 30_000 });
      });
    });

    describe("revocation feed", () => {
      /** t0 in whole seconds: feed times are the JWT's. */
      const s0 = t0 / 1000;
      /** Seconds an entry outlives the latest exp it covers: the longest access-token lifetime, plus the leeway margin. */
      const covered = limits.accessTokenTtl + 300;
      const newest = async () => (await storage.revocationFeed.page(null, 1, t0)).newest;
      /** What `act` appended, read as the feed hands it out (at t0), and the position before it. */
      async function appended(
        act: () => Promise<unknown>,
      ): Promise<{ before: number; entries: RevocationFeedEntry[] }> {
        const before = await newest();
        await act();
        return { before, entries: (await storage.revocationFeed.page(before, 1000, t0)).entries };
      }
      const link = (
        jti: string,
        link: { familyId?: string; codeDigest?: string; userId?: string; clientId?: string },
      ) =>
        storage.revocations.linkAccessToken({
          jti,
          clientId: link.clientId ?? "canon",
          userId: link.userId ?? "u1",
          familyId: link.familyId ?? null,
          codeDigest: link.codeDigest ?? null,
          expiresAt: t0 + 600_000,
        });
      const tokenEntry = (jti: string, position: number) => ({
        kind: "token",
        jti,
        exp: s0 + 600,
        position,
        dropAfter: s0 + 900,
      });

      it("revoking an access token appends one token entry (exp and drop_after in seconds), the first time only", async () => {
        const { before, entries } = await appended(async () => {
          await storage.revocations.revokeAccessToken("feed-at", t0 + 600_000, t0 + 1_500);
          await storage.revocations.revokeAccessToken("feed-at", t0 + 600_000, t0 + 1_600);
        });
        assert.deepEqual(entries, [tokenEntry("feed-at", before + 1)]);
      });

      it("revoking a family, a replayed code or a user × client grant appends one token entry per linked access token newly revoked", async () => {
        await storage.refreshTokens.create(refresh("feed-r1", "feed-fam", null, null));
        await link("feed-fam-1", { familyId: "feed-fam" });
        await link("feed-fam-2", { familyId: "feed-fam" });
        await link("feed-other-device", { familyId: "feed-fam-other" });
        const family = await appended(async () => {
          assert.equal(await storage.revocations.revokeFamily("feed-fam", t0), 1);
          assert.equal(await storage.revocations.revokeFamily("feed-fam", t0), 0);
        });
        assert.deepEqual(family.entries, [
          tokenEntry("feed-fam-1", family.before + 1),
          tokenEntry("feed-fam-2", family.before + 2),
        ]);

        const replayed = digest("feed-code");
        await storage.refreshTokens.create(refresh("feed-r2", "feed-code-fam", null, replayed));
        await link("feed-code-1", { codeDigest: replayed });
        await link("feed-code-fam-1", { familyId: "feed-code-fam" });
        const code = await appended(() => storage.revocations.revokeCodeGrant(replayed, t0));
        assert.deepEqual(code.entries, [
          tokenEntry("feed-code-1", code.before + 1),
          tokenEntry("feed-code-fam-1", code.before + 2),
        ]);

        await storage.refreshTokens.create({
          ...refresh("feed-r3", "feed-grant-fam", null, null),
          userId: "feed-user",
          clientId: "feed-client",
        });
        await link("feed-grant-fam-1", { familyId: "feed-grant-fam", userId: "feed-user", clientId: "feed-client" });
        await link("feed-grant-1", { userId: "feed-user", clientId: "feed-client" });
        const grant = await appended(() => storage.revocations.revokeUserClientGrants("feed-user", "feed-client", t0));
        assert.deepEqual(grant.entries, [
          tokenEntry("feed-grant-fam-1", grant.before + 1),
          tokenEntry("feed-grant-1", grant.before + 2),
        ]);
        assert.equal(await storage.revocations.isAccessTokenRevoked("feed-other-device"), false);
      });

      it("withdrawing a consent appends one user_client entry covering every token of that grant", async () => {
        await storage.consents.grant("feed-consenter", "canon", ["photos"], t0);
        const { before, entries } = await appended(async () => {
          assert.equal(await storage.consents.revoke("feed-consenter", "canon", t0 + 2_500), true);
          assert.equal(await storage.consents.revoke("feed-consenter", "canon", t0 + 2_600), false, "nothing left");
        });
        assert.deepEqual(entries, [
          {
            kind: "user_client",
            sub: "feed-consenter",
            clientId: "canon",
            issuedBefore: s0 + 2,
            position: before + 1,
            dropAfter: s0 + 2 + covered,
          },
        ]);
      });

      it("a new password and sign out everywhere end sessions and refresh tokens and append a user entry; consents stay", async () => {
        await storage.users.create({ id: "feed-u", username: "feed-carol", passwordHash: "old", createdAt: t0 });
        await storage.consents.grant("feed-u", "canon", ["photos"], t0);
        const live = async (name: string) => {
          await storage.refreshTokens.create({ ...refresh(name, `${name}-fam`, null, null), userId: "feed-u" });
          await storage.browserSessions.create({
            sessionDigest: digest(name),
            userId: "feed-u",
            createdAt: t0,
            expiresAt: t0 + 60_000,
          });
        };
        const ended = async (name: string) => {
          assert.equal(await storage.browserSessions.find(digest(name), t0 + 1), undefined);
          assert.notEqual((await storage.refreshTokens.find(digest(name)))?.revokedAt ?? null, null);
        };
        const userEntry = (issuedBefore: number, position: number) => ({
          kind: "user",
          sub: "feed-u",
          issuedBefore,
          position,
          dropAfter: issuedBefore + covered,
        });

        await live("feed-pw");
        const password = await appended(() => storage.users.setPasswordHash("feed-carol", "new", t0 + 3_999));
        assert.deepEqual(password.entries, [userEntry(s0 + 3, password.before + 1)]);
        await ended("feed-pw");

        await live("feed-out");
        const signOut = await appended(() => storage.users.signOutEverywhere("feed-u", t0 + 4_000));
        assert.deepEqual(signOut.entries, [userEntry(s0 + 4, signOut.before + 1)]);
        await ended("feed-out");
        assert.deepEqual(await storage.consents.grantedScopes("feed-u", "canon"), ["photos"]);

        const deleted = await appended(async () => {
          assert.equal(await storage.users.delete("feed-carol", t0 + 5_000), true);
          assert.equal(await storage.users.delete("feed-carol", t0 + 5_000), false);
          assert.equal(await storage.users.setPasswordHash("feed-carol", "x", t0 + 5_000), false);
        });
        assert.deepEqual(deleted.entries, [userEntry(s0 + 5, deleted.before + 1)]);
      });

      it("rotating a client's secret and deleting a client append a client entry; rotation revokes its refresh tokens", async () => {
        await storage.clients.create({
          clientId: "feed-client",
          name: "Feed Client",
          secretDigest: digest("old secret"),
          redirectUris: [redirectUri],
          grantTypes: ["authorization_code", "refresh_token"],
          scopes: ["photos"],
          tokenEndpointAuthMethod: "client_secret_basic",
          createdAt: t0,
        });
        await storage.refreshTokens.create({
          ...refresh("feed-rot", "feed-rot-fam", null, null),
          clientId: "feed-client",
        });
        const clientEntry = (issuedBefore: number, position: number) => ({
          kind: "client",
          clientId: "feed-client",
          issuedBefore,
          position,
          dropAfter: issuedBefore + covered,
        });
        const rotated = await appended(async () => {
          assert.equal(await storage.clients.rotateSecret("feed-client", digest("new secret"), t0 + 6_000), true);
          assert.equal(await storage.clients.rotateSecret("nobody", digest("x"), t0 + 6_000), false);
        });
        assert.deepEqual(rotated.entries, [clientEntry(s0 + 6, rotated.before + 1)]);
        assert.equal((await storage.clients.find("feed-client"))?.secretDigest, digest("new secret"), "seen at once");
        assert.equal((await storage.refreshTokens.find(digest("feed-rot")))?.revokedAt, t0 + 6_000);

        const deleted = await appended(async () => {
          assert.equal(await storage.clients.delete("feed-client", t0 + 7_000), true);
          assert.equal(await storage.clients.delete("feed-client", t0 + 7_000), false);
        });
        assert.deepEqual(deleted.entries, [clientEntry(s0 + 7, deleted.before + 1)]);
      });

      it("revoking a signing key deletes it and appends a key entry kept for the longest token lifetime", async () => {
        await storage.keys.insert(signingKey("feed-kid", t0));
        const { before, entries } = await appended(async () => {
          assert.equal(await storage.keys.revoke("feed-kid", t0 + 8_000), true);
          assert.equal(await storage.keys.revoke("feed-kid", t0 + 8_000), false);
        });
        assert.deepEqual(entries, [
          { kind: "key", kid: "feed-kid", position: before + 1, dropAfter: s0 + 8 + covered },
        ]);
        assert.equal(
          (await storage.keys.list()).find((k) => k.kid === "feed-kid"),
          undefined,
        );
      });

      it("pages in position order, at most `limit` at a time, with the newest position and one epoch", async () => {
        const before = await newest();
        await storage.transaction(async (tx) => {
          await tx.revocationFeed.append(
            ["p1", "p2", "p3"].map((jti) => ({ kind: "token" as const, jti, exp: s0 + 600 })),
            t0,
          );
        });
        const first = await storage.revocationFeed.page(before, 2, t0);
        assert.deepEqual(first.entries, [tokenEntry("p1", before + 1), tokenEntry("p2", before + 2)]);
        assert.equal(first.newest, before + 3);
        assert.match(first.epoch, /^[0-9a-f]{32}$/);
        const second = await storage.revocationFeed.page(before + 2, 2, t0);
        assert.deepEqual(second, { entries: [tokenEntry("p3", before + 3)], newest: before + 3, epoch: first.epoch });
        const from = await storage.revocationFeed.page(null, 1000, t0);
        assert.deepEqual(
          from.entries.map((e) => e.position),
          from.entries.map((e) => e.position).toSorted((a, b) => a - b),
        );
        assert.deepEqual(from.entries.slice(-3), [...first.entries, ...second.entries]);
        assert.deepEqual(await storage.revocationFeed.page(before + 3, 10, t0), {
          entries: [],
          newest: before + 3,
          epoch: first.epoch,
        });
      });

      it("a rolled-back transaction appends nothing and takes no position", async () => {
        const before = await newest();
        await assert.rejects(
          storage.transaction(async (tx) => {
            await tx.revocationFeed.append([{ kind: "key", kid: "rolled-back" }], t0);
            throw new Error("abandoned");
          }),
          { message: "abandoned" },
        );
        assert.equal(await newest(), before);
        const { entries } = await appended(() => storage.revocationFeed.append([{ kind: "key", kid: "kept" }], t0));
        assert.deepEqual(
          entries.map((e) => e.position),
          [before + 1],
        );
      });

      it("forgets an entry after its drop_after: neither paged nor covering, then purged", async () => {
        const before = await newest();
        // exp 300 s before t0: droppable from the second after t0 on.
        await storage.revocationFeed.append([{ kind: "token", jti: "feed-old", exp: s0 - 300 }], t0);
        const token = { jti: "feed-old", sub: "nobody", clientId: "nobody", iat: s0 - 900, kid: "nobody" };
        assert.deepEqual((await storage.revocationFeed.page(before, 10, t0)).entries, [
          { kind: "token", jti: "feed-old", exp: s0 - 300, position: before + 1, dropAfter: s0 },
        ]);
        assert.equal(await storage.revocationFeed.covers(token, t0), true);
        assert.deepEqual((await storage.revocationFeed.page(before, 10, t0 + 1)).entries, []);
        assert.equal(await storage.revocationFeed.covers(token, t0 + 1), false);
        assert.equal((await storage.revocationFeed.page(before, 10, t0 + 1)).newest, before + 1, "the position stays");
        const purged = await storage.purgeExpired(t0 + 1);
        assert.equal(purged.skipped || purged.revocationEntries, 1);
        assert.deepEqual((await storage.revocationFeed.page(before, 10, t0)).entries, [], "deleted");
      });

      it("covers a token by its jti, its key, its user, its user and client, or its client, issued at or before the entry's instant", async () => {
        await storage.revocationFeed.append(
          [
            { kind: "token", jti: "c-jti", exp: s0 + 600 },
            { kind: "key", kid: "c-kid" },
            { kind: "user_client", sub: "c-pair-user", clientId: "c-pair-client", issuedBefore: s0 + 100 },
            { kind: "user", sub: "c-user", issuedBefore: s0 + 100 },
            { kind: "client", clientId: "c-client", issuedBefore: s0 + 100 },
          ],
          t0,
        );
        const unrelated = { jti: "c-none", sub: "c-nobody", clientId: "c-no-client", iat: s0, kid: "c-no-kid" };
        const covers = (claims: Partial<typeof unrelated>) =>
          storage.revocationFeed.covers({ ...unrelated, ...claims }, t0);
        assert.equal(await covers({}), false);
        assert.equal(await covers({ jti: "c-jti" }), true);
        assert.equal(await covers({ kid: "c-kid" }), true);
        for (const [claims, name] of [
          [{ sub: "c-pair-user", clientId: "c-pair-client" }, "user_client"],
          [{ sub: "c-user" }, "user"],
          [{ sub: "c-user", clientId: "c-pair-client" }, "user, any client"],
          [{ clientId: "c-client" }, "client"],
          [{ clientId: "c-client", sub: "c-pair-user" }, "client, any user"],
        ] as const) {
          assert.equal(await covers({ ...claims, iat: s0 + 99 }), true, `${name}: issued before`);
          assert.equal(await covers({ ...claims, iat: s0 + 100 }), true, `${name}: issued at the instant`);
          assert.equal(await covers({ ...claims, iat: s0 + 101 }), false, `${name}: issued after`);
        }
        assert.equal(await covers({ sub: "c-pair-user", iat: s0 }), false, "user_client: another client");
        assert.equal(await covers({ clientId: "c-pair-client", iat: s0 }), false, "user_client: another user");
      });
    });

    describe("purging and deleting", () => {
      it("purges expired rows only", async () => {
        await storage.codes.create(code("expired", { expiresAt: t0 - 1 }));
        await storage.revocations.revokeAccessToken("at-expired", t0 - 1, t0 - 2);
        await storage.revocations.revokeAccessToken("at-late", t0 + 10_000_000, t0);
        assert.deepEqual(await storage.purgeExpired(t0), {
          skipped: false,
          codes: 1,
          refreshTokens: 0,
          revokedJtis: 1,
          accessTokenLinks: 0,
          loginThrottle: 0,
          revocationEntries: 0,
        });
        assert.equal(await storage.codes.find(digest("expired")), undefined);
        assert.equal(await storage.revocations.isAccessTokenRevoked("at-late"), true);
        assert.deepEqual(await storage.purgeExpired(t0), {
          skipped: false,
          codes: 0,
          refreshTokens: 0,
          revokedJtis: 0,
          accessTokenLinks: 0,
          loginThrottle: 0,
          revocationEntries: 0,
        });
      });

      it("deleting a user removes their grants and sessions", async () => {
        await storage.consents.grant("u1", "canon", ["photos"], t0);
        await storage.browserSessions.create({
          sessionDigest: digest("s-u1"),
          userId: "u1",
          createdAt: t0,
          expiresAt: t0 + 60_000,
        });
        assert.equal(await storage.users.delete("alice", t0), true);
        assert.equal(await storage.users.findById("u1"), undefined);
        assert.deepEqual(await storage.consents.list({ userId: "u1" }), []);
        assert.equal(await storage.browserSessions.find(digest("s-u1"), t0 + 1), undefined);
        assert.equal(await storage.users.delete("alice", t0), false);
      });
    });
  });
}
