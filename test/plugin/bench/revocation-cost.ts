// Micro-benchmark (not a test): what the revocation feed adds to the cached-token path, and the
// memory of a revocation set.
// 1. Process CPU per access phase (AccessHandler, the handler Kong's plugin instance runs) for a
//    repeated, cached, valid ES256 token, on two routes differing only in the feed: off, and on
//    with 100,000 entries in the set (100 pages of 1,000 from a fake feed: 70,000 tokens, 10,000
//    users, 10,000 clients, 10,000 user+client pairs, among them entries for the token's own user
//    and user+client pair that do not cover it, so every lookup runs to its comparison). And the
//    core alone (authenticateCached) the same way. Interleaved rounds; medians. Then the set's lookup
//    alone (what a token pays when its cache entry's memo is out of date).
// 2. Heap used by a set of 100,000 live entries after forced GC: all token entries (jti a UUID), then
//    the mix above.
//   node --expose-gc --import tsx test/plugin/bench/revocation-cost.ts [--rounds N] [--batch N]
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import {
  authenticateCached,
  type AuthenticationDeps,
  type RouteOptions,
} from "../../../plugin/src/core/authenticate.ts";
import { JwksCache } from "../../../plugin/src/core/jwks-cache.ts";
import { parsePage, RevocationFeeds } from "../../../plugin/src/core/revocation-feed.ts";
import { RevocationSet } from "../../../plugin/src/core/revocation-set.ts";
import { TokenCache } from "../../../plugin/src/core/token-cache.ts";
import { AccessHandler, type KongPdk } from "../../../plugin/src/handler.ts";
import { JwksServer } from "../helpers/jwks-server.ts";
import { AUDIENCE, generateTestKey, ISSUER, signAccessToken } from "../helpers/tokens.ts";

const { values: args } = parseArgs({
  options: { rounds: { type: "string", default: "15" }, batch: { type: "string", default: "50000" } },
});
const ROUNDS = Number(args.rounds);
const BATCH = Number(args.batch);
const ENTRIES = 100_000;
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** 100,000 wire entries, live for an hour: mostly tokens, and a user and a pair for `sub`/`client` that do not cover `iat`. */
function wireEntries(nowSeconds: number, sub: string, client: string, iat: number): Record<string, unknown>[] {
  const dropAfter = nowSeconds + 3600;
  const entries: Record<string, unknown>[] = [
    { kind: "user", sub, issued_before: iat - 1, drop_after: dropAfter },
    { kind: "user_client", sub, client_id: client, issued_before: iat - 1, drop_after: dropAfter },
  ];
  for (let i = 0; entries.length < ENTRIES; i++) {
    const kind = i % 10;
    if (kind < 7) entries.push({ kind: "token", jti: randomUUID(), exp: dropAfter - 300, drop_after: dropAfter });
    else if (kind === 7) entries.push({ kind: "user", sub: `user-${i}`, issued_before: iat, drop_after: dropAfter });
    else if (kind === 8)
      entries.push({ kind: "client", client_id: `client-${i}`, issued_before: iat, drop_after: dropAfter });
    else
      entries.push({
        kind: "user_client",
        sub: `user-${i}`,
        client_id: client,
        issued_before: iat,
        drop_after: dropAfter,
      });
  }
  return entries;
}

/** A fake feed answering `entries` as a snapshot in pages of 1,000. */
function fakeFeed(entries: readonly Record<string, unknown>[]): typeof fetch {
  return (input) => {
    const after = Number(new URL(input instanceof Request ? input.url : input).searchParams.get("after") ?? "0");
    const to = Math.min(entries.length, after + 1000);
    return Promise.resolve(
      Response.json({
        entries: entries.slice(after, to),
        cursor: String(to),
        has_more: to < entries.length,
        ...(after === 0 ? { reset: true } : {}),
      }),
    );
  };
}

function fakePdk(headers: Record<string, string[]>): { kong: KongPdk; allowed: () => number } {
  let allowed = 0;
  const kong: KongPdk = {
    request: {
      getHeaders: () => {
        const copy: Record<string, string[]> = {};
        for (const name in headers) copy[name] = [...headers[name]];
        return Promise.resolve(copy);
      },
      getMethod: () => Promise.resolve("GET"),
    },
    service: { request: { setHeaders: () => ((allowed += 1), Promise.resolve(null)) } },
    response: { exit: () => Promise.resolve(undefined) },
    // The default configuration tells Kong nothing of the caller: never called.
    client: {
      getCredential: () => Promise.reject(new Error("not configured")),
      loadConsumer: () => Promise.reject(new Error("not configured")),
      authenticate: () => Promise.reject(new Error("not configured")),
    },
  };
  return { kong, allowed: () => allowed };
}

function heapOf(build: () => unknown): number {
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  const kept = build();
  gc();
  gc();
  const used = process.memoryUsage().heapUsed - before;
  if (kept === undefined) throw new Error("nothing built");
  return used;
}

async function main(): Promise<void> {
  const key = await generateTestKey("ES256", "bench-key");
  const server = await new JwksServer([key.jwk]).start();
  const nowSeconds = Math.floor(Date.now() / 1000);
  const iat = nowSeconds - 5;
  const token = await signAccessToken(key, { iat, exp: nowSeconds + 3600, sub: "alice", client_id: "canon-printing" });
  const entries = wireEntries(nowSeconds, "alice", "canon-printing", iat);
  const feeds = new RevocationFeeds({ fetch: fakeFeed(entries), log: (line) => console.log(line) });
  const deps: AuthenticationDeps = {
    jwks: new JwksCache(),
    tokens: new TokenCache(),
    now: Date.now,
    revocations: feeds,
  };
  try {
    const base = { issuer: ISSUER, jwks_uri: server.jwksUri, audience: [AUDIENCE], scopes_required: ["photos"] };
    const feedOn = {
      ...base,
      revocation_feed_url: "http://127.0.0.1:1/revocations",
      revocation_client_id: "gateway",
      revocation_client_secret: "secret",
      revocation_poll_seconds: 60,
      revocation_max_stale_seconds: 3600,
    };
    const headers = { host: ["localhost:8000"], authorization: [`Bearer ${token}`], "x-oauth2-jwt-nonce": ["n"] };
    const candidates = [
      { name: "feed off", handler: new AccessHandler(base, deps), pdk: fakePdk(headers) },
      { name: "feed on, 100,000 entries", handler: new AccessHandler(feedOn, deps), pdk: fakePdk(headers) },
    ];
    for (const { name, handler, pdk } of candidates) {
      for (let i = 0; i < 2000; i++) await handler.access(pdk.kong);
      if (pdk.allowed() !== 2000) throw new Error(`${name} did not allow the request`);
    }
    const feed = feeds.acquire({
      issuer: ISSUER,
      feedUrl: feedOn.revocation_feed_url,
      clientId: "gateway",
      clientSecret: "secret",
      pollSeconds: 60,
    });
    if (feed.size !== ENTRIES) throw new Error(`the set holds ${feed.size} entries, not ${ENTRIES}`);

    // The core alone: the synchronous cached path, its route options taken from the handlers' own.
    const routeOf = (handler: AccessHandler): RouteOptions =>
      (handler as unknown as { route: { options: RouteOptions } }).route.options;
    const authorization = `Bearer ${token}`;
    const core = candidates.map(({ name, handler }) => ({ name, route: routeOf(handler) }));

    const handlerCost = new Map<string, number[]>(candidates.map((c) => [c.name, []]));
    const coreCost = new Map<string, number[]>(candidates.map((c) => [c.name, []]));
    const handlerRatios: number[] = [];
    const coreRatios: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const flip = round % 2 === 1;
      const costs: number[] = [];
      for (const { name, handler, pdk } of flip ? [...candidates].reverse() : candidates) {
        gc();
        const start = process.cpuUsage();
        for (let i = 0; i < BATCH; i++) await handler.access(pdk.kong);
        const used = process.cpuUsage(start);
        const micros = (used.user + used.system) / BATCH;
        handlerCost.get(name)?.push(micros);
        costs.push(micros);
      }
      handlerRatios.push(flip ? costs[0] / costs[1] : costs[1] / costs[0]);
      const coreCosts: number[] = [];
      for (const { name, route } of flip ? [...core].reverse() : core) {
        gc();
        const start = process.cpuUsage();
        for (let i = 0; i < BATCH * 4; i++) {
          const verdict = authenticateCached(authorization, route, deps);
          if (verdict === undefined || !verdict.ok) throw new Error(`${name}: not allowed from the cache`);
        }
        const used = process.cpuUsage(start);
        const nanos = ((used.user + used.system) * 1000) / (BATCH * 4);
        coreCost.get(name)?.push(nanos);
        coreCosts.push(nanos);
      }
      coreRatios.push(flip ? coreCosts[0] / coreCosts[1] : coreCosts[1] / coreCosts[0]);
    }
    const range = (values: number[]) =>
      `median ${median(values).toFixed(3)}×, rounds ${Math.min(...values).toFixed(3)}–${Math.max(...values).toFixed(3)}×`;
    console.log(`${ROUNDS} interleaved rounds; repeated valid ES256 token, answered from the verified-token cache`);
    console.log(`AccessHandler.access, process CPU per call (median of ${BATCH}-call batches):`);
    for (const [name, values] of handlerCost) console.log(`  ${name.padEnd(26)} ${median(values).toFixed(3)} µs`);
    console.log(`  feed on / feed off: ${range(handlerRatios)}`);
    console.log(`authenticateCached alone, process CPU per call (median of ${BATCH * 4}-call batches):`);
    for (const [name, values] of coreCost) console.log(`  ${name.padEnd(26)} ${median(values).toFixed(1)} ns`);
    console.log(`  feed on / feed off: ${range(coreRatios)}`);

    // Built from the wire text inside the measurement, as the poller builds it: the identifiers
    // the set keeps are counted, the text and the parsed pages are garbage by the end.
    const tokensText = JSON.stringify({
      entries: Array.from({ length: ENTRIES }, () => ({
        kind: "token",
        jti: randomUUID(),
        exp: nowSeconds + 3300,
        drop_after: nowSeconds + 3600,
      })),
      cursor: "x",
      has_more: false,
    });
    const mixedText = JSON.stringify({ entries, cursor: "x", has_more: false });
    const build = (text: string) => () => {
      const page = parsePage(JSON.parse(text) as Record<string, unknown>);
      if (typeof page === "string") throw new Error(page);
      const set = new RevocationSet();
      for (const entry of page.entries) set.add(entry);
      return set;
    };
    const tokenBytes = heapOf(build(tokensText));
    const mixedBytes = heapOf(build(mixedText));
    // The lookup itself, as a token seen for the first time (or after an addition) pays it: the
    // mixed set, the bench token's user and pair present but not covering it (all five lookups).
    const lookupSet = build(mixedText)();
    const lookups = BATCH * 20;
    let covered = 0;
    const lookupStart = process.cpuUsage();
    for (let i = 0; i < lookups; i++)
      if (lookupSet.covers("a-jti", "alice", "canon-printing", iat, "bench-key")) covered++;
    const lookupUsed = process.cpuUsage(lookupStart);
    if (covered !== 0) throw new Error("the bench token is covered");
    console.log(
      `RevocationSet.covers on that set (100,000 entries), all five lookups: ${(((lookupUsed.user + lookupUsed.system) * 1000) / lookups).toFixed(1)} ns per call`,
    );
    const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB (${Math.round(bytes / ENTRIES)} bytes/entry)`;
    console.log(
      `heap of a set of ${ENTRIES.toLocaleString("en-US")} live entries, after forced GC (identifiers included):`,
    );
    console.log(`  token entries only (jti a UUID)  ${mb(tokenBytes)}`);
    console.log(`  the mix above                    ${mb(mixedBytes)}`);
  } finally {
    feeds.stopAll();
    await server.stop();
  }
}

await main();
