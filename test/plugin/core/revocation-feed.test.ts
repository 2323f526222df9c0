// The revocation feed poller with an injected clock and a fake fetch: paging, snapshots, every
// kind of failure, the state logged once per change, staleness under both actions, the cap. The
// same poller against a real HTTP feed on 127.0.0.1 closes the file.
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import {
  basicCredentials,
  RevocationFeed,
  RevocationFeeds,
  type RevocationFeedOptions,
  type RevocationMemo,
  type RevocationPolicy,
  type Scheduler,
} from "../../../plugin/src/core/revocation-feed.ts";
import { TestClock } from "../helpers/jwks-server.ts";
import { FeedServer } from "../helpers/feed-server.ts";
import { NOW } from "../helpers/tokens.ts";

const ISSUER = "https://as.example";
const FEED = "https://as.example/revocations";
const SOURCE = { issuer: ISSUER, feedUrl: FEED, clientId: "gateway", clientSecret: "s3cret+/", pollSeconds: 2 };
const ACCEPT: RevocationPolicy = { maxStaleSeconds: 30, staleAction: "accept" };
const REFUSE: RevocationPolicy = { maxStaleSeconds: 30, staleAction: "refuse" };
const REVOKED = {
  ok: false,
  status: 401,
  reason: "revoked",
  description: "the token has been revoked",
  error: "invalid_token",
};
const UNAVAILABLE = {
  ok: false,
  status: 503,
  reason: "revocations_unavailable",
  description: "the token revocation list is unavailable",
};

type Answer = Response | "hang" | Error;
/** A fetch that answers from `answer(url)` and records each request's URL and Authorization. */
function fakeFetch(answer: (url: URL) => Answer | Promise<Answer>) {
  const requests: { url: string; authorization: string | null }[] = [];
  const fetchFunction: typeof fetch = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    requests.push({ url: url.href, authorization: new Headers(init?.headers).get("authorization") });
    const result = await answer(url);
    if (result instanceof Error) throw result;
    if (result === "hang") {
      // A feed that accepts the connection and never answers: only the timeout's signal ends it.
      return new Promise<Response>((_, reject) =>
        init?.signal?.addEventListener("abort", () => reject(init.signal?.reason as Error)),
      );
    }
    return result;
  };
  return { fetch: fetchFunction, requests };
}

const page = (entries: unknown[], cursor: string, more: { has_more?: boolean; reset?: boolean } = {}) =>
  Response.json({
    entries,
    cursor,
    has_more: more.has_more ?? false,
    ...(more.reset === undefined ? {} : { reset: more.reset }),
  });
const token = (jti: string, dropAfter = NOW + 900) => ({
  kind: "token",
  jti,
  exp: dropAfter - 300,
  drop_after: dropAfter,
});

let clock: TestClock;
let log: string[];
let revokedKeys: string[][];
/** A feed driven by hand: `poll()` from the test, no timers. */
const feedWith = (fetchFunction: typeof fetch, options: RevocationFeedOptions = {}) =>
  new RevocationFeed(SOURCE, {
    now: clock.now,
    fetch: fetchFunction,
    log: (line) => log.push(line),
    onKeysRevoked: (_, kids) => revokedKeys.push([...kids]),
    ...options,
  });
/** The feed's verdict on alice's token `jti` issued at NOW, signed by k1. */
const verdict = (feed: RevocationFeed, jti: string, policy = ACCEPT, iat = NOW) =>
  feed.check(jti, "alice", "canon-printing", iat, "k1", policy, clock.ms);

beforeEach(() => {
  clock = new TestClock(NOW * 1000);
  log = [];
  revokedKeys = [];
});

describe("RevocationFeed: figures for the metrics", () => {
  it("counts good and failed polls, the entries in force and the age since the last good poll started", async () => {
    let answer: () => Answer = () => page([token("a"), token("b")], "c1", { reset: true });
    const poller = feedWith(fakeFetch(() => answer()).fetch);
    assert.deepEqual(poller.stats(clock.ms), {
      issuer: ISSUER,
      entries: 0,
      ageSeconds: undefined,
      pollsOk: 0,
      pollsFailed: 0,
    });
    await poller.poll();
    clock.advance(10);
    answer = () => new Response(null, { status: 503 });
    await poller.poll();
    clock.advance(5);
    // The failed poll kept the set, and the age counts from the good one.
    assert.deepEqual(poller.stats(clock.ms), {
      issuer: ISSUER,
      entries: 2,
      ageSeconds: 15,
      pollsOk: 1,
      pollsFailed: 1,
    });
  });
});

describe("RevocationFeed: paging and snapshots", () => {
  it("authenticates with HTTP Basic of the form-encoded client credentials (RFC 6749 §2.3.1)", async () => {
    const feed = fakeFetch(() => page([], "c1", { reset: true }));
    await feedWith(feed.fetch).poll();
    assert.deepEqual(feed.requests, [{ url: FEED, authorization: basicCredentials("gateway", "s3cret+/") }]);
    assert.equal(
      Buffer.from(basicCredentials("gateway", "s3cret+/").slice(6), "base64").toString(),
      "gateway:s3cret%2B%2F",
    );
  });

  it("follows has_more at once, then polls from the last cursor", async () => {
    const pages: Record<string, Response | undefined> = {
      "": page([token("a")], "c1", { reset: true, has_more: true }),
      c1: page([token("b")], "c2", { has_more: true }),
      c2: page([token("c")], "c3"),
      c3: page([token("d")], "c4"),
    };
    const feed = fakeFetch((url) => pages[url.searchParams.get("after") ?? ""] ?? new Response(null, { status: 500 }));
    const poller = feedWith(feed.fetch);
    await poller.poll();
    assert.deepEqual(
      feed.requests.map((r) => r.url),
      [FEED, `${FEED}?after=c1`, `${FEED}?after=c2`],
    );
    assert.deepEqual(
      ["a", "b", "c", "d"].map((jti) => verdict(poller, jti)),
      [REVOKED, REVOKED, REVOKED, undefined],
    );
    await poller.poll();
    assert.equal(feed.requests.at(-1)?.url, `${FEED}?after=c3`);
    assert.deepEqual(verdict(poller, "d"), REVOKED);
    assert.deepEqual(log, []);
  });

  it("builds a reset snapshot aside and swaps it in whole: entries it lacks are gone", async () => {
    let answers: Response[] = [page([token("old")], "c1", { reset: true })];
    const feed = fakeFetch(() => answers.shift() ?? new Response(null, { status: 500 }));
    const poller = feedWith(feed.fetch);
    await poller.poll();
    assert.deepEqual(verdict(poller, "old"), REVOKED);

    // A snapshot whose second page fails changes nothing, and the cursor stays where it was.
    answers = [page([token("new")], "s1", { reset: true, has_more: true }), new Response("nope", { status: 502 })];
    await poller.poll();
    assert.deepEqual([verdict(poller, "old"), verdict(poller, "new")], [REVOKED, undefined]);
    assert.deepEqual(
      feed.requests.slice(1).map((r) => r.url),
      [`${FEED}?after=c1`, `${FEED}?after=s1`],
    );

    answers = [page([token("new")], "s1", { reset: true, has_more: true }), page([token("newer")], "s2")];
    await poller.poll();
    assert.deepEqual(
      ["old", "new", "newer"].map((jti) => verdict(poller, jti)),
      [undefined, REVOKED, REVOKED],
    );
    assert.equal(poller.size, 2);
    answers = [page([], "s3")];
    await poller.poll();
    assert.equal(feed.requests.at(-1)?.url, `${FEED}?after=s2`);
  });

  it("forgets entries past their drop_after at the next poll", async () => {
    let answers = [page([token("a", NOW + 10), token("b", NOW + 100)], "c1", { reset: true })];
    const poller = feedWith(fakeFetch(() => answers.shift() ?? page([], "c2")).fetch);
    await poller.poll();
    assert.equal(poller.size, 2);
    clock.advance(10);
    await poller.poll();
    assert.equal(poller.size, 2, "kept at its drop_after");
    clock.advance(1);
    await poller.poll();
    assert.equal(poller.size, 1);
    assert.deepEqual([verdict(poller, "a"), verdict(poller, "b")], [undefined, REVOKED]);
    answers = [];
  });

  it("tells of a withdrawn signing key once, and revokes every token it signed", async () => {
    const key = { kind: "key", kid: "k1", drop_after: NOW + 900 };
    const answers = [
      page([key], "c1", { reset: true }),
      page([key], "c2"),
      page([key, { kind: "key", kid: "k2", drop_after: NOW + 900 }], "c3", { reset: true }),
    ];
    const poller = feedWith(fakeFetch(() => answers.shift() ?? page([], "c4")).fetch);
    for (let i = 0; i < 3; i++) await poller.poll();
    assert.deepEqual(revokedKeys, [["k1"], ["k2"]]);
    assert.deepEqual(verdict(poller, "any"), REVOKED);
  });

  it("discovers the feed from the issuer's RFC 8414 metadata, without the credential", async () => {
    const feed = fakeFetch((url) =>
      url.pathname === "/.well-known/oauth-authorization-server"
        ? Response.json({ issuer: ISSUER, jwks_uri: `${ISSUER}/jwks.json`, revocation_feed_endpoint: `${ISSUER}/feed` })
        : page([token("a")], "c1", { reset: true }),
    );
    const poller = new RevocationFeed({ ...SOURCE, feedUrl: null }, { now: clock.now, fetch: feed.fetch });
    await poller.poll();
    await poller.poll();
    assert.deepEqual(feed.requests, [
      { url: `${ISSUER}/.well-known/oauth-authorization-server`, authorization: null },
      { url: `${ISSUER}/feed`, authorization: basicCredentials("gateway", "s3cret+/") },
      { url: `${ISSUER}/feed?after=c1`, authorization: basicCredentials("gateway", "s3cret+/") },
    ]);
  });
});

describe("RevocationFeed: the verdict's memo on a cached token", () => {
  it("skips the lookups while the set has had no addition, and looks again after one", async () => {
    let answers = [page([token("a")], "c1", { reset: true })];
    const poller = feedWith(fakeFetch(() => answers.shift() ?? page([], "c2")).fetch);
    await poller.poll();
    const memo: RevocationMemo = {};
    const check = () => poller.check("b", "alice", "canon-printing", NOW, "k1", ACCEPT, clock.ms, memo);
    assert.equal(check(), undefined);
    const seen = { set: memo.revocationSet, version: memo.revocationVersion };
    assert.ok(seen.set !== undefined);
    await poller.poll();
    assert.equal(check(), undefined);
    assert.deepEqual({ set: memo.revocationSet, version: memo.revocationVersion }, seen, "an empty page adds nothing");
    answers = [page([{ kind: "user", sub: "alice", issued_before: NOW, drop_after: NOW + 900 }], "c2")];
    await poller.poll();
    assert.deepEqual(check(), REVOKED);
    assert.deepEqual(check(), REVOKED, "a refusal is never remembered as clean");
  });
});

describe("RevocationFeed: failures keep the last good set and are logged once per change", () => {
  const failures: [string, () => Answer, RevocationFeedOptions, string][] = [
    [
      "down",
      () => new TypeError("fetch failed", { cause: Object.assign(new Error("connect"), { code: "ECONNREFUSED" }) }),
      {},
      `${FEED}?after=c1: fetch failed (ECONNREFUSED)`,
    ],
    ["answering 503", () => new Response("busy", { status: 503 }), {}, `${FEED}?after=c1: HTTP 503`],
    ["answering garbage", () => new Response("<html>", { status: 200 }), {}, `${FEED}?after=c1: not JSON`],
    ["answering a JSON array", () => Response.json([1]), {}, `${FEED}?after=c1: not a JSON object`],
    [
      "answering a page without a cursor",
      () => Response.json({ entries: [], has_more: false }),
      {},
      `${FEED}?after=c1: no usable \`cursor\``,
    ],
    [
      "answering a malformed entry",
      () => page([token("b"), { kind: "token", jti: "c" }], "c2"),
      {},
      `${FEED}?after=c1: entry 1 is malformed`,
    ],
    [
      "answering an unknown kind",
      () => page([{ kind: "session", sid: "x", drop_after: NOW }], "c2"),
      {},
      `${FEED}?after=c1: entry 0 is malformed`,
    ],
    [
      "answering an entry of 2 MB",
      () => page([token("x".repeat(2 * 1024 * 1024))], "c2"),
      {},
      `${FEED}?after=c1: entry 0 is malformed`,
    ],
    [
      "answering more than the body limit",
      () => page([token("x".repeat(2 * 1024 * 1024))], "c2"),
      { maxBytes: 1024 * 1024 },
      `${FEED}?after=c1: document larger than 1048576 bytes`,
    ],
    [
      "paging without end",
      () => page([], "c9", { has_more: true }),
      { maxPages: 5 },
      `${FEED}: more than 5 pages in one poll`,
    ],
  ];
  for (const [name, failure, options, error] of failures) {
    it(`a feed ${name}: the last good set stays, one log line, then healthy again`, async () => {
      let failing = false;
      const feed = fakeFetch((url) =>
        failing ? failure() : url.search === "" ? page([token("a")], "c1", { reset: true }) : page([], "c1"),
      );
      const poller = feedWith(feed.fetch, options);
      await poller.poll();
      failing = true;
      for (let i = 0; i < 3; i++) await poller.poll();
      assert.deepEqual([verdict(poller, "a"), verdict(poller, "b")], [REVOKED, undefined], "nothing half-applied");
      assert.equal(log.length, 1, log.join("\n"));
      assert.ok(log[0].includes(error), log[0]);
      assert.match(
        log[0],
        /^revocation feed of https:\/\/as\.example is failing: .*; the last good set \(1 entries, as of 2026-11-30T18:00:00\.000Z\) stays in force, retrying every 2 s$/,
      );
      failing = false;
      await poller.poll();
      await poller.poll();
      assert.deepEqual(log.slice(1), ["revocation feed of https://as.example is healthy again: 1 entries in force"]);
      assert.ok(
        feed.requests.every((r) => !r.url.includes("c2")),
        "a failed page's cursor is never used",
      );
    });
  }

  it("a wrong credential (401): one clear line naming the client, no set yet", async () => {
    const poller = feedWith(fakeFetch(() => Response.json({ error: "invalid_client" }, { status: 401 })).fetch);
    await poller.poll();
    await poller.poll();
    assert.deepEqual(log, [
      `revocation feed of ${ISSUER} is failing: ${FEED} refused the credential of revocation_client_id "gateway" (HTTP 401): ` +
        "check revocation_client_id and revocation_client_secret, and that the client is registered as a resource server; " +
        "no revocation set yet, retrying every 2 s",
    ]);
  });

  it("a slow feed is dropped after the request timeout", async () => {
    const poller = feedWith(fakeFetch(() => "hang").fetch, { timeoutMs: 50 });
    // The timeout's timer does not hold the process (a plugin server is held by its socket): this test is held here.
    const hold = setTimeout(() => undefined, 5000);
    const started = Date.now();
    await poller.poll();
    clearTimeout(hold);
    assert.ok(Date.now() - started < 2000);
    assert.equal(log.length, 1);
    assert.match(log[0], /is failing: https:\/\/as\.example\/revocations: .*(abort|timeout|time)/i);
  });
});

describe("RevocationFeed: staleness and the stale action", () => {
  let answer: () => Answer;
  let poller: RevocationFeed;
  beforeEach(() => {
    answer = () => page([token("a")], "c1", { reset: true });
    poller = feedWith(fakeFetch(() => answer()).fetch);
  });

  it("before the first good poll: accept lets tokens through, refuse answers 503", () => {
    assert.deepEqual([verdict(poller, "a", ACCEPT), verdict(poller, "a", REFUSE)], [undefined, UNAVAILABLE]);
  });

  it("while fresh, both actions refuse a revoked token (401) and let others through", async () => {
    await poller.poll();
    for (const policy of [ACCEPT, REFUSE])
      assert.deepEqual([verdict(poller, "a", policy), verdict(poller, "b", policy)], [REVOKED, undefined]);
  });

  it("past revocation_max_stale_seconds from the last good poll's start: accept enforces the last set, refuse answers 503 to every token", async () => {
    await poller.poll();
    answer = () => new Response(null, { status: 503 });
    clock.advance(30);
    await poller.poll();
    assert.deepEqual(verdict(poller, "b", REFUSE), undefined, "30 s old: still current");
    clock.advance(0.001);
    assert.deepEqual(
      [
        verdict(poller, "a", ACCEPT),
        verdict(poller, "b", ACCEPT),
        verdict(poller, "a", REFUSE),
        verdict(poller, "b", REFUSE),
      ],
      [REVOKED, undefined, UNAVAILABLE, UNAVAILABLE],
    );
    answer = () => page([], "c2");
    await poller.poll();
    assert.deepEqual([verdict(poller, "a", REFUSE), verdict(poller, "b", REFUSE)], [REVOKED, undefined]);
  });
});

describe("RevocationFeed: the cap on entries", () => {
  it("drops the soonest-expiring live entries, logs once, refuses (503) under refuse until they would have expired", async () => {
    let answers = [
      page([token("a", NOW + 100), token("b", NOW + 50), token("c", NOW + 200)], "c1", { reset: true }),
      page([token("d", NOW + 60)], "c2"),
    ];
    const poller = feedWith(fakeFetch(() => answers.shift() ?? page([], "c3")).fetch, { maxEntries: 2 });
    await poller.poll();
    assert.deepEqual(
      ["a", "b", "c"].map((jti) => verdict(poller, jti, ACCEPT)),
      [REVOKED, undefined, REVOKED],
    );
    assert.deepEqual(verdict(poller, "a", REFUSE), UNAVAILABLE);
    await poller.poll(); // d (NOW + 60) is the soonest now: it goes at once
    assert.deepEqual(verdict(poller, "d", ACCEPT), undefined);
    assert.deepEqual(log, [
      `revocation set of ${ISSUER} is full (2 entries): live entries were dropped, soonest-expiring first; ` +
        "it is incomplete until 2026-11-30T18:00:50.000Z " +
        '(under revocation_stale_action "refuse", requests on this issuer are answered 503 until then)',
    ]);
    clock.advance(60);
    await poller.poll();
    assert.deepEqual(verdict(poller, "a", REFUSE), UNAVAILABLE, "d would still be live at its drop_after");
    clock.advance(1);
    await poller.poll();
    assert.deepEqual(verdict(poller, "a", REFUSE), REVOKED, "every dropped entry would have been forgotten by now");
    answers = [];
  });

  it("a reset snapshot that fits makes the set complete again", async () => {
    const answers = [
      page([token("a"), token("b"), token("c")], "c1", { reset: true }),
      page([token("a")], "s1", { reset: true }),
    ];
    const poller = feedWith(fakeFetch(() => answers.shift() ?? page([], "s2")).fetch, { maxEntries: 2 });
    await poller.poll();
    assert.deepEqual(verdict(poller, "a", REFUSE), UNAVAILABLE);
    await poller.poll();
    assert.deepEqual([verdict(poller, "a", REFUSE), verdict(poller, "b", REFUSE)], [REVOKED, undefined]);
    assert.equal(log.length, 1);
  });
});

/** Timers run by the test. */
class ManualScheduler implements Scheduler {
  readonly timers = new Map<number, { callback: () => void; ms: number }>();
  private next = 0;
  setTimeout(callback: () => void, ms: number): number {
    this.timers.set(++this.next, { callback, ms });
    return this.next;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  /** Fires every pending timer, then lets the polls they started finish. */
  async fire(): Promise<void> {
    const due = [...this.timers.values()];
    this.timers.clear();
    for (const timer of due) timer.callback();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("RevocationFeeds: one poller per issuer, feed URL and credential", () => {
  it("shares a poller between routes, polls at the shortest interval, stops when unused, starts again on use", async () => {
    const scheduler = new ManualScheduler();
    const feed = fakeFetch(() => page([token("a")], "c1", { reset: true }));
    const feeds = new RevocationFeeds({ now: clock.now, fetch: feed.fetch, scheduler, idleMs: 60_000 });
    const first = feeds.acquire(SOURCE);
    assert.equal(feeds.acquire({ ...SOURCE, pollSeconds: 0.5 }), first);
    const other = feeds.acquire({ ...SOURCE, clientSecret: "other" });
    assert.notEqual(other, first);
    other.stop();
    assert.ok(first.starting !== undefined, "a first poll is under way");
    await Promise.all([first.starting, other.starting]);
    assert.equal(first.starting, undefined);
    assert.deepEqual(
      [...scheduler.timers.values()].map((t) => t.ms),
      [500],
      "one next poll, at the shortest interval asked for; none for the stopped poller",
    );
    assert.deepEqual(verdict(first, "a"), REVOKED);
    clock.advance(30);
    verdict(first, "b");
    await scheduler.fire();
    assert.equal(first.polling, true);
    clock.advance(61);
    await scheduler.fire();
    assert.equal(first.polling, false, "no request for longer than idleMs: stopped");
    assert.equal(scheduler.timers.size, 0);
    const polls = feed.requests.length;
    const again = feeds.acquire(SOURCE);
    assert.equal(again, first, "the same poller, its set kept");
    assert.equal(again.polling, true);
    await again.starting;
    assert.equal(feed.requests.length, polls + 1);
    feeds.stopAll();
    assert.equal(scheduler.timers.size, 0);
  });
});

describe("RevocationFeeds: a new credential for a feed", () => {
  it("forgets the old credential's poller once it stopped for idleness, and keeps one still polling", async () => {
    const scheduler = new ManualScheduler();
    const feed = fakeFetch(() => page([token("a")], "c1", { reset: true }));
    const feeds = new RevocationFeeds({ now: clock.now, fetch: feed.fetch, scheduler, idleMs: 60_000 });
    const old = feeds.acquire(SOURCE);
    await old.starting;
    const other = feeds.acquire({ ...SOURCE, clientId: "other-gateway", clientSecret: "other" });
    await other.starting;
    clock.advance(61);
    verdict(other, "b"); // a request keeps the other gateway client's poller in use
    await scheduler.fire();
    assert.deepEqual([old.polling, other.polling], [false, true]);
    assert.equal(feeds.feedStats(clock.now()).length, 2, "stopped, but kept while nothing replaces it");

    const rotated = feeds.acquire({ ...SOURCE, clientSecret: "rotated" });
    await rotated.starting;
    assert.equal(feeds.feedStats(clock.now()).length, 2, "the rotated secret's poller and the one still polling");
    assert.notEqual(feeds.acquire(SOURCE), old, "the old credential, if it came back, would start afresh");
    feeds.stopAll();
  });
});

describe("RevocationFeed: one poll at a time", () => {
  it("joins a poll under way instead of starting another", async () => {
    const feed = fakeFetch(() => page([token("a")], "c1", { reset: true }));
    const poller = feedWith(feed.fetch);
    await Promise.all([poller.poll(), poller.poll(), poller.poll()]);
    assert.equal(feed.requests.length, 1);
  });

  it("stopped and started again during a poll: one chain of polls, not two", async () => {
    const scheduler = new ManualScheduler();
    let answer: (response: Response) => void = () => undefined;
    const feed = fakeFetch(() => new Promise<Response>((resolve) => (answer = resolve)));
    const feeds = new RevocationFeeds({ now: clock.now, fetch: feed.fetch, scheduler });
    const poller = feeds.acquire(SOURCE);
    poller.stop();
    feeds.acquire(SOURCE);
    await new Promise((resolve) => setImmediate(resolve));
    answer(page([], "c1", { reset: true }));
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(feed.requests.length, 1);
    assert.deepEqual(
      [...scheduler.timers.values()].map((t) => t.ms),
      [2000],
    );
    feeds.stopAll();
  });
});

describe("RevocationFeed against a real HTTP feed on 127.0.0.1", () => {
  let server: FeedServer;
  /** A token entry live for the next 15 minutes of the real clock. */
  const live = (jti: string) => token(jti, Math.floor(Date.now() / 1000) + 900);
  before(async () => {
    server = await new FeedServer({ clientId: "gateway", clientSecret: "s3cret+/", pageSize: 2 }).start();
  });
  after(() => server.stop());

  it("discovers the feed, pages a snapshot, then sees each new revocation within a few polls", async () => {
    for (const jti of ["a", "b", "c"]) server.append(live(jti));
    const feeds = new RevocationFeeds({ log: (line) => log.push(line) });
    const poller = feeds.acquire({ ...SOURCE, issuer: server.origin, feedUrl: null, pollSeconds: 0.05 });
    try {
      await poller.starting;
      const check = (jti: string) => poller.check(jti, "alice", "canon-printing", NOW, "k1", ACCEPT, Date.now());
      assert.deepEqual(["a", "b", "c", "d"].map(check), [REVOKED, REVOKED, REVOKED, undefined]);
      server.append(live("d"));
      const appended = Date.now();
      while (check("d") === undefined) {
        assert.ok(Date.now() - appended < 5000, "seen within 5 s");
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.ok(
        server.requests.some((r) => r.includes("after=")),
        "later polls carry the cursor",
      );
      assert.deepEqual(log, []);
    } finally {
      feeds.stopAll();
    }
  });

  it("logs a stopped feed once, keeps the set, and recovers by itself when the feed comes back", async () => {
    const feeds = new RevocationFeeds({ log: (line) => log.push(line), timeoutMs: 500 });
    const poller = feeds.acquire({ ...SOURCE, issuer: server.origin, feedUrl: server.feedUrl, pollSeconds: 0.05 });
    const check = (jti: string) => poller.check(jti, "alice", "canon-printing", NOW, "k1", ACCEPT, Date.now());
    const until = async (condition: () => boolean) => {
      for (const started = Date.now(); !condition(); await new Promise((resolve) => setTimeout(resolve, 10)))
        assert.ok(Date.now() - started < 5000, "within 5 s");
    };
    try {
      await poller.starting;
      await server.stop();
      await until(() => log.length > 0);
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(log.length, 1, log.join("\n"));
      assert.match(
        log[0],
        /is failing: .*ECONNREFUSED.*; the last good set \(4 entries, .*\) stays in force, retrying every 0\.05 s$/,
      );
      assert.deepEqual(check("a"), REVOKED);
      await server.start();
      server.append(live("e"));
      await until(() => check("e") !== undefined);
      assert.deepEqual(log.slice(1), [`revocation feed of ${server.origin} is healthy again: 5 entries in force`]);
    } finally {
      feeds.stopAll();
    }
  });

  it("a wrong credential: one log line while polling on, and refusal under refuse", async () => {
    const feeds = new RevocationFeeds({ log: (line) => log.push(line) });
    const source = {
      ...SOURCE,
      issuer: server.origin,
      feedUrl: server.feedUrl,
      clientSecret: "wrong",
      pollSeconds: 0.05,
    };
    const poller = feeds.acquire(source);
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(log.length, 1, log.join("\n"));
      assert.match(log[0], /refused the credential of revocation_client_id "gateway" \(HTTP 401\)/);
      assert.deepEqual(poller.check("a", "alice", "c", NOW, "k1", REFUSE, Date.now()), UNAVAILABLE);
    } finally {
      feeds.stopAll();
    }
  });
});
