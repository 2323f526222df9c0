// The login throttle bounds password guessing per account without letting anyone lock a user out: an address that
// keeps failing for an account is paused for that account only, and the account itself is slowed, never shut.
import assert from "node:assert/strict";
import { join } from "node:path";
import Database from "better-sqlite3";
import { after, before, describe, it } from "node:test";
import { randomBytes } from "node:crypto";
import {
  describeRetry,
  LoginThrottle,
  ThrottleRules,
  type ThrottleLimits,
} from "../../../authz-server/src/session/throttle.ts";
import { digest } from "../../../authz-server/src/secrets.ts";
import { openSqliteStorage } from "../../../authz-server/src/storage/sqlite/index.ts";
import type { LoginThrottleRecord, Storage } from "../../../authz-server/src/storage/types.ts";
import { hashPassword } from "../../../authz-server/src/passwords.ts";
import { tempDir } from "../helpers.ts";
import { assertPageHeaders, onlyForm, PeerBrowser, withFields } from "../browser-client.ts";
import { authorizationRequest, PASSWORD, startFlowServer, type FlowServer } from "../code-flow.ts";

describe("login throttle", () => {
  const start = 1_000_000;
  const storages: Storage[] = [];
  after(async () => {
    for (const storage of storages) await storage.close();
  });

  /** A throttle on a fresh database of its own, on the clock `now` reads. */
  function throttle(now: () => number, limits: ThrottleLimits = {}): LoginThrottle {
    const storage = openSqliteStorage(":memory:");
    storages.push(storage);
    return new LoginThrottle(storage, { ...limits, key: randomBytes(32), now });
  }

  it("pauses an address for one account after 5 failures in 15 minutes, and nobody else", async () => {
    let now = start;
    const t = throttle(() => now);
    for (let i = 0; i < 5; i++) assert.deepEqual(await t.begin("alice", "192.0.2.1"), { allowed: true });
    assert.deepEqual(await t.begin("alice", "192.0.2.1"), {
      allowed: false,
      scope: "account-and-address",
      retryAfterSeconds: 900,
    });
    // Case and Unicode normalisation name the same account.
    assert.deepEqual(await t.begin("ALICE", "192.0.2.1"), {
      allowed: false,
      scope: "account-and-address",
      retryAfterSeconds: 900,
    });
    // Another user behind the same address (a NAT) signs in as usual.
    assert.deepEqual(await t.begin("bob", "192.0.2.1"), { allowed: true });
    now += 60_000;
    assert.deepEqual(await t.begin("alice", "192.0.2.1"), {
      allowed: false,
      scope: "account-and-address",
      retryAfterSeconds: 840,
    });
    now = start + 900_001;
    assert.deepEqual(await t.begin("alice", "192.0.2.1"), { allowed: true }, "the failures have left the window");
  });

  it("spaces out an account's attempts from anywhere: a burst of 5, then one every 30 seconds", async () => {
    let now = start;
    const t = throttle(() => now);
    for (let i = 0; i < 5; i++) assert.deepEqual(await t.begin("alice", `198.51.100.${i}`), { allowed: true });
    assert.deepEqual(await t.begin("alice", "203.0.113.9"), {
      allowed: false,
      scope: "account",
      retryAfterSeconds: 30,
    });
    assert.deepEqual(await t.begin("carol", "203.0.113.9"), { allowed: true });
    now += 29_000;
    assert.deepEqual(await t.begin("alice", "203.0.113.9"), { allowed: false, scope: "account", retryAfterSeconds: 1 });
    now += 1_000;
    assert.deepEqual(await t.begin("alice", "203.0.113.9"), { allowed: true });
    assert.deepEqual(await t.begin("alice", "203.0.113.10"), {
      allowed: false,
      scope: "account",
      retryAfterSeconds: 30,
    });
    // Left alone, the account recovers its whole burst: 5 intervals after its last attempt.
    now += 150_000;
    for (let i = 0; i < 5; i++) assert.deepEqual(await t.begin("alice", `198.51.100.${i}`), { allowed: true });
  });

  it("bounds guessing at 125 per account per hour, however many addresses guess", () => {
    // The rules alone, record in and record out: 36 010 attempts need no database to show the bound.
    const rules = new ThrottleRules();
    let record: LoginThrottleRecord = { failures: [], accountNextAttemptAt: null };
    let guesses = 0;
    let longestWait = 0;
    // Ten guesses a second, each from a new address (a record with no failures of its own), for an hour (both ends).
    for (let second = 0; second <= 3600; second++) {
      for (let i = 0; i < 10; i++) {
        const outcome = rules.attempt({ ...record, failures: [] }, start + second * 1000, false);
        record = outcome.record;
        if (outcome.verdict.allowed) guesses++;
        else longestWait = Math.max(longestWait, outcome.verdict.retryAfterSeconds);
      }
    }
    assert.equal(guesses, 5 + 3600 / 30);
    assert.equal(longestWait, 30, "the account is slowed, never refused for longer than one interval");
  });

  it("decides from the record and the time alone: the verdict and the record to store", () => {
    const rules = new ThrottleRules({ maxFailuresPerAccountAndAddress: 2, accountBurst: 2, windowSeconds: 60 });
    const empty: LoginThrottleRecord = { failures: [], accountNextAttemptAt: null };
    const first = rules.attempt(empty, start, false);
    assert.deepEqual(first, {
      verdict: { allowed: true },
      record: { failures: [start], accountNextAttemptAt: start + 30_000 },
    });
    const second = rules.attempt(first.record, start + 1000, false);
    assert.deepEqual(second.record, { failures: [start, start + 1000], accountNextAttemptAt: start + 60_000 });
    // Refused: the record stays as it was, less what no limit reads any more.
    assert.deepEqual(rules.attempt(second.record, start + 2000, false), {
      verdict: { allowed: false, scope: "account-and-address", retryAfterSeconds: 58 },
      record: second.record,
    });
    assert.equal(rules.failuresExpireAt(second.record), start + 61_000);
    assert.deepEqual(rules.attempt(second.record, start + 61_000, true).record, {
      failures: [start + 61_000],
      accountNextAttemptAt: null,
    });
    assert.deepEqual(rules.succeed(second.record, start + 2000, false), {
      failures: [],
      accountNextAttemptAt: start + 30_000,
    });
  });

  it("an attacker at one address gets 5 guesses per 15 minutes and delays the owner elsewhere by at most 30 seconds", async () => {
    let now = start;
    const t = throttle(() => now);
    let attackerGuesses = 0;
    // The attacker tries every second for an hour; alice tries from home right after each of his bursts.
    for (let second = 0; second < 3600; second++) {
      now = start + second * 1000;
      if ((await t.begin("alice", "192.0.2.66")).allowed) attackerGuesses++;
      if (second % 900 === 5) {
        assert.deepEqual(await t.begin("alice", "198.51.100.7"), {
          allowed: false,
          scope: "account",
          retryAfterSeconds: 25,
        });
      }
      if (second % 900 === 30) {
        assert.deepEqual(await t.begin("alice", "198.51.100.7"), { allowed: true }, `alice at second ${second}`);
        await t.recordSuccess("alice", "198.51.100.7");
      }
    }
    assert.equal(attackerGuesses, 20);
  });

  it("a correct password gives its attempt back to the account and forgives its address's failures", async () => {
    const t = throttle(() => start);
    for (let i = 0; i < 4; i++) await t.begin("dave", "203.0.113.1");
    assert.deepEqual(await t.begin("dave", "203.0.113.1"), { allowed: true });
    await t.recordSuccess("dave", "203.0.113.1");
    // The four failures still count for the account (they were guesses): one attempt is left in the burst.
    assert.deepEqual(await t.begin("dave", "203.0.113.1"), { allowed: true });
    assert.deepEqual(await t.begin("dave", "203.0.113.2"), { allowed: false, scope: "account", retryAfterSeconds: 30 });
  });

  it("counts concurrent attempts one after another: of 10 begun at once, 5 are allowed", async () => {
    const t = throttle(() => start, { accountBurst: 100 });
    const verdicts = await Promise.all(Array.from({ length: 10 }, () => t.begin("erin", "192.0.2.9")));
    assert.equal(verdicts.filter((v) => v.allowed).length, 5);
  });

  it("stores the state under keyed digests: a copy of the database names no user and no address", async () => {
    const temp = tempDir();
    try {
      const file = join(temp.dir, "copy.db");
      const storage = openSqliteStorage(file);
      await new LoginThrottle(storage, { key: randomBytes(32), now: () => start }).begin("frank", "192.0.2.77");
      await storage.close();
      const copy = new Database(file, { readonly: true });
      const rows = [
        ...copy.prepare("SELECT pair_digest AS name FROM login_throttle_failures").all(),
        ...copy.prepare("SELECT account_digest AS name FROM login_throttle_accounts").all(),
      ] as { name: string }[];
      copy.close();
      assert.equal(rows.length, 2);
      // Not even the plain SHA-256 a copy's reader could compute for a guessed name and address.
      for (const { name } of rows) {
        assert.match(name, /^[0-9a-f]{64}$/);
        assert.notEqual(name, digest("frank"));
        assert.notEqual(name, digest("frank\u0000192.0.2.77"));
      }
    } finally {
      temp.remove();
    }
  });

  it("a known device skips the account's spacing, with a limit of its own wherever it is", async () => {
    let now = start;
    const t = throttle(() => now);
    for (let i = 0; i < 5; i++) await t.begin("alice", `198.51.100.${i}`);
    assert.deepEqual(await t.begin("alice", "203.0.113.9"), {
      allowed: false,
      scope: "account",
      retryAfterSeconds: 30,
    });
    for (let i = 0; i < 5; i++)
      assert.deepEqual(await t.begin("alice", `203.0.113.${i}`, "device-1"), { allowed: true });
    // Its own failures pause it, whatever address it comes from next; not another known device, nor the account's spacing.
    assert.deepEqual(await t.begin("alice", "192.0.2.200", "device-1"), {
      allowed: false,
      scope: "account-and-device",
      retryAfterSeconds: 900,
    });
    assert.deepEqual(await t.begin("alice", "192.0.2.200", "device-2"), { allowed: true });
    now += 30_000;
    assert.deepEqual(await t.begin("alice", "203.0.113.9"), { allowed: true });
  });

  it("refuses limits that are not positive whole numbers", () => {
    assert.throws(() => new ThrottleRules({ accountBurst: 0 }), {
      message: "login throttle: accountBurst must be a positive whole number, got 0",
    });
    assert.throws(() => new ThrottleRules({ accountIntervalSeconds: 0.5 }), TypeError);
  });

  it("describes the wait", () => {
    assert.equal(describeRetry(1), "1 second");
    assert.equal(describeRetry(59), "59 seconds");
    assert.equal(describeRetry(60), "1 minute");
    assert.equal(describeRetry(61), "2 minutes");
  });
});

describe("login throttle over HTTP, by TCP peer address", () => {
  let server: FlowServer;
  before(async () => {
    server = await startFlowServer();
    await server.storage.users.create({
      id: "u-bob",
      username: "bob",
      passwordHash: await hashPassword("bob's long password"),
      createdAt: server.clock.now(),
    });
  });
  after(() => server.close());

  /** A browser (a new one at `address`) on the login page of a fresh authorization request; returns its form's poster. */
  async function atLoginPage(where: string | PeerBrowser) {
    const browser = typeof where === "string" ? new PeerBrowser(server.url, where) : where;
    const { url } = await authorizationRequest(server);
    const page = await browser.get(`${url.pathname}${url.search}`);
    assert.equal(page.status, 200);
    const loginForm = onlyForm(page.body, "/login");
    return (username: string, password: string) =>
      browser.post("/login", withFields(loginForm, { username, password }));
  }

  it("an attacker hammering alice from one address cannot keep alice, elsewhere, or bob, beside him, out", async () => {
    const attacker = await atLoginPage("127.0.0.2");
    for (let i = 0; i < 5; i++) {
      const wrong = await attacker("alice", `guess-${i}`);
      assert.equal(wrong.status, 400);
      assert.match(wrong.body, /The username or password is incorrect\./);
    }
    const paused = await attacker("alice", "guess-5");
    assert.equal(paused.status, 429);
    assert.equal(paused.headers.get("retry-after"), "900");
    assertPageHeaders(paused.headers);
    assert.match(
      paused.body,
      /Too many failed sign-in attempts for this account from your network address\. For your security, sign-in from here is paused\. Try again in 15 minutes\./,
    );
    // Even the right password is not checked from there: the pair is paused, whoever types it.
    assert.equal((await attacker("alice", PASSWORD)).status, 429);

    // bob, behind the same address, signs in at once.
    const bob = await atLoginPage("127.0.0.2");
    assert.equal((await bob("bob", "bob's long password")).status, 303);

    // alice, at home: the attacker's burst spaced her account out, for at most 30 seconds.
    const alice = await atLoginPage("127.0.0.3");
    const slowed = await alice("alice", PASSWORD);
    assert.equal(slowed.status, 429);
    assert.equal(slowed.headers.get("retry-after"), "30");
    assert.match(
      slowed.body,
      /This account has had many failed sign-in attempts\. For your security, attempts are spaced out: try again in 30 seconds\./,
    );
    server.clock.advance(30);
    const signedIn = await alice("alice", PASSWORD);
    assert.deepEqual([signedIn.status, signedIn.location?.startsWith(`${server.url}/authorize?`)], [303, true]);
    // Still paused at the attacker's address.
    assert.equal((await attacker("alice", "guess-6")).status, 429);
  });

  it("concurrent guesses cannot outrun the limit: of 10 sent at once from one address, 5 are checked and 5 refused", async () => {
    // Each guess spends ~100 ms in scrypt; a throttle that counted a failure only after the hash would let every
    // guess that arrived meanwhile through (the limit would bound sequential guessing only).
    const attacker = await atLoginPage("127.0.0.4");
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => attacker("mallory", `guess-${i}`)));
    assert.deepEqual(answers.map((a) => a.status).sort(), [400, 400, 400, 400, 400, 429, 429, 429, 429, 429]);
    for (const refused of answers.filter((a) => a.status === 429))
      assert.match(refused.body, /from your network address/);
  });

  it("a browser where alice signed in before gets in at once, wherever it is, while an attack spaces her account out", async () => {
    server.clock.advance(3600);
    const laptop = new PeerBrowser(server.url, "127.0.0.3");
    assert.equal((await (await atLoginPage(laptop))("alice", PASSWORD)).status, 303);
    assert.match(
      laptop.jar.cookies.get("authz_device")?.raw ?? "",
      /^authz_device=[^;]+; Path=\/; Max-Age=7776000; HttpOnly; SameSite=Lax$/,
    );
    // Signing out ends the session, not the browser's standing with the throttle.
    const consents = await laptop.get("/consents");
    assert.equal((await laptop.post("/logout", onlyForm(consents.body, "/logout").fields)).status, 303);

    // Attackers at two addresses take the account's burst.
    const first = await atLoginPage("127.0.0.5");
    for (let i = 0; i < 5; i++) assert.equal((await first("alice", `guess-${i}`)).status, 400);
    assert.equal((await (await atLoginPage("127.0.0.6"))("alice", "guess-5")).status, 429);

    // At the café: a stranger's browser waits its turn, alice's laptop does not.
    laptop.localAddress = "127.0.0.7";
    assert.equal((await (await atLoginPage("127.0.0.7"))("alice", PASSWORD)).status, 429);
    const signedIn = await (await atLoginPage(laptop))("alice", PASSWORD);
    assert.deepEqual([signedIn.status, signedIn.location?.startsWith(`${server.url}/authorize?`)], [303, true]);
  });
});

describe("login throttle behind a reverse proxy (--trusted-proxies 1, as behind Kong)", () => {
  let proxied: FlowServer;
  let direct: FlowServer;
  before(async () => {
    proxied = await startFlowServer({ trustedProxies: 1 });
    direct = await startFlowServer();
  });
  after(() => Promise.all([proxied.close(), direct.close()]));

  /** A browser behind the proxy at 127.0.0.1, whose X-Forwarded-For says `forwardedFor`; returns its form's poster. */
  async function viaProxy(server: FlowServer, forwardedFor: string) {
    const browser = new PeerBrowser(server.url, "127.0.0.1", forwardedFor);
    const { url } = await authorizationRequest(server);
    const loginForm = onlyForm((await browser.get(`${url.pathname}${url.search}`)).body, "/login");
    return (username: string, password: string) =>
      browser.post("/login", withFields(loginForm, { username, password }));
  }

  it("counts by the address the proxy saw (the right-most entry), not by the proxy's own address", async () => {
    const attacker = await viaProxy(proxied, "203.0.113.7");
    for (let i = 0; i < 5; i++) assert.equal((await attacker("alice", `guess-${i}`)).status, 400);
    const paused = await attacker("alice", "guess-5");
    assert.equal(paused.status, 429);
    assert.match(paused.body, /from your network address/);
    // Another client of the same proxy is not paused by the attacker's failures: only spaced out with the account.
    const other = await (await viaProxy(proxied, "198.51.100.9"))("alice", PASSWORD);
    assert.equal(other.status, 429);
    assert.match(other.body, /attempts are spaced out/);
  });

  it("does not believe the entries a client writes itself, left of the proxy's", async () => {
    const spoofing = await viaProxy(proxied, "10.9.9.9, 203.0.113.7");
    const refused = await spoofing("alice", "guess-6");
    assert.equal(refused.status, 429);
    assert.match(refused.body, /from your network address/);
  });

  it("without trusted proxies, X-Forwarded-For is ignored: the TCP peer is the address", async () => {
    for (let i = 0; i < 5; i++)
      assert.equal((await (await viaProxy(direct, `203.0.113.${i}`))("alice", `guess-${i}`)).status, 400);
    const refused = await (await viaProxy(direct, "203.0.113.99"))("alice", "guess-5");
    assert.equal(refused.status, 429);
    assert.match(refused.body, /from your network address/);
  });
});
