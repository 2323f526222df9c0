// The revocation feed end to end, at the gateway's default settings (revocation_poll_seconds 2): the real
// authorization server (its startServer on a fresh SQLite file, in this process) and the real plugin server, spawned
// as Kong spawns it and driven over its default protocol (ProtoBuf:1, as kong.yml deploys it) by the wire harness.
//   1. Delay: client-credentials tokens, each served by the gateway, are revoked with RFC 7009 /revoke one every
//      REVOCATION_SPACING_MS (so the revocations overlap and land at every phase of the poll cycle); from each
//      /revoke's answer the token is presented every PROBE_MS until the plugin refuses it. p50 and p99 of the delays.
//   2. Memory: the plugin server's resident memory after a forced full GC (bench/lib/gc-on-signal.cjs), before and
//      after its set takes 100,000 live token entries (appended to the feed through the storage, then one more
//      revocation through /revoke, whose refusal shows the whole feed was read: it is served in order).
//   3. Throughput: requests/s of a repeated token (the cached path) through two plugin servers, one with the feed on
//      (holding those 100,000 entries) and one with it off, in interleaved rounds (off, on, on, off, …), medians.
// Usage: node --import tsx bench/revocation.ts [--quick]   (needs `npm run build`: the plugin server runs from dist)
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { registerClient } from "../authz-server/src/clients/registration.js";
import { startServer, type RunningServer } from "../authz-server/src/server.js";
import type { RevocationEntry } from "../authz-server/src/storage/types.js";
import {
  spawnPluginServer,
  type AccessResult,
  type PluginInstance,
  type PluginServerProcess,
  type SpawnOptions,
} from "../kong-standin/src/wire/index.js";
import { readRssMB } from "./lib/child.js";
import { runHarnessLoad, type HarnessLoadResult } from "./lib/harness-load.js";
import { median, percentile, sleep } from "./lib/measure.js";
import { fmt, renderTable } from "./lib/report.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes("--quick");
const AUDIENCE = "http://localhost:8000/flickr";
/** The plugin's default poll interval, which this benchmark keeps. */
const POLL_SECONDS = 2;
const DELAY_TARGET_MS = POLL_SECONDS * 1000 + 500;
const REVOCATIONS = quick ? 100 : 150;
const REVOCATION_SPACING_MS = 40;
const PROBE_MS = 20;
const LIVE_ENTRIES = 100_000;
const MEMORY_TARGET_MB = 30;
const THROUGHPUT_TARGET = 0.95;
const ROUNDS = quick ? 2 : 6;
const ROUND_SECONDS = quick ? 1 : 2;
const CONNECTIONS = 8;
const GC_PRELOAD = path.join(here, "lib/gc-on-signal.cjs");
const log = (message: string): void => void process.stderr.write(`${message}\n`);

interface Credentials {
  clientId: string;
  clientSecret: string;
}

const basic = ({ clientId, clientSecret }: Credentials): string =>
  `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString("base64")}`;

/** The photos scope for the photos API, a client-credentials client, and the gateway's resource-server client. */
async function provision(server: RunningServer): Promise<{ bench: Credentials; gateway: Credentials }> {
  const { storage } = server.services;
  await storage.scopes.create({ name: "photos", description: "Read your photos", resource: AUDIENCE });
  const register = async (name: string, grantTypes: string[], resourceServerFor: string[]): Promise<Credentials> => {
    const { client, secret } = await registerClient(
      storage,
      {
        name,
        redirectUris: [],
        scopes: grantTypes.length > 0 ? ["photos"] : [],
        grantTypes,
        isPublic: false,
        resourceServerFor,
      },
      Date.now(),
    );
    if (secret === null) throw new Error(`${name} has no secret`);
    return { clientId: client.clientId, clientSecret: secret };
  };
  return {
    bench: await register("Bench", ["client_credentials"], []),
    gateway: await register("Bench gateway", [], [AUDIENCE]),
  };
}

async function postForm(url: string, fields: Record<string, string>, client: Credentials): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { authorization: basic(client), "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(fields),
  });
}

async function mintToken(server: RunningServer, client: Credentials): Promise<string> {
  const response = await postForm(`${server.url}/token`, { grant_type: "client_credentials", scope: "photos" }, client);
  const body = (await response.json()) as { access_token?: string };
  if (response.status !== 200 || body.access_token === undefined)
    throw new Error(`token endpoint: ${response.status} ${JSON.stringify(body)}`);
  return body.access_token;
}

async function revoke(server: RunningServer, client: Credentials, token: string): Promise<void> {
  const response = await postForm(`${server.url}/revoke`, { token, token_type_hint: "access_token" }, client);
  if (response.status !== 200) throw new Error(`/revoke answered ${response.status}`);
}

interface Gateway {
  server: PluginServerProcess;
  instance: PluginInstance;
  access(token: string): Promise<AccessResult>;
}

/** A plugin server with one oauth2-jwt instance for the server's issuer; the feed on when `feed` is given. */
async function startGateway(
  server: RunningServer,
  feed: Credentials | null,
  spawn: SpawnOptions = {},
): Promise<Gateway> {
  const plugins = await spawnPluginServer({ connections: CONNECTIONS, ...spawn });
  const instance = await plugins.startInstance("oauth2-jwt", {
    issuer: server.issuer,
    audience: [AUDIENCE],
    scopes_required: ["photos"],
    // The feed's URL is discovered from the issuer's metadata, as the JWKS's is.
    ...(feed === null ? {} : { revocation_client_id: feed.clientId, revocation_client_secret: feed.clientSecret }),
  });
  const access = (token: string) =>
    instance.access({ method: "GET", path: "/flickr/photos", headers: { authorization: `Bearer ${token}` } });
  return { server: plugins, instance, access };
}

const refused = (result: AccessResult): boolean => result.outcome === "exit" && result.status === 401;
const proceeds = (result: AccessResult): string | null =>
  result.outcome === "proceed" ? null : `expected proceed, got ${JSON.stringify(result).slice(0, 200)}`;

/** Presents `token` every PROBE_MS until refused; the ms from `start`. Gives up after 30 s. */
async function firstRefusal(gateway: Gateway, token: string, start: number): Promise<number> {
  for (;;) {
    const result = await gateway.access(token);
    const now = performance.now();
    if (refused(result)) return now - start;
    const problem = proceeds(result);
    if (problem !== null) throw new Error(problem);
    if (now - start > 30_000) throw new Error("a revoked token was still served after 30 s");
    await sleep(PROBE_MS);
  }
}

/** 1. From each /revoke's answer to the gateway's first refusal, for overlapping revocations. */
async function measureDelays(
  server: RunningServer,
  gateway: Gateway,
  clients: { bench: Credentials },
): Promise<number[]> {
  log(`delay: minting ${REVOCATIONS} tokens, each served once by the gateway`);
  const tokens: string[] = [];
  for (let i = 0; i < REVOCATIONS; i++) {
    const token = await mintToken(server, clients.bench);
    const problem = proceeds(await gateway.access(token));
    if (problem !== null) throw new Error(problem);
    tokens.push(token);
  }
  log(`delay: revoking one every ${REVOCATION_SPACING_MS} ms, probing every ${PROBE_MS} ms`);
  return Promise.all(
    tokens.map(async (token, i) => {
      await sleep(i * REVOCATION_SPACING_MS);
      await revoke(server, clients.bench, token);
      return firstRefusal(gateway, token, performance.now());
    }),
  );
}

/** RSS after a forced full GC in the plugin server (SIGUSR2, handled by the preloaded gc-on-signal.cjs). */
async function rssAfterGc(plugins: PluginServerProcess): Promise<number> {
  const pid = plugins.pid;
  if (pid === undefined) throw new Error("the plugin server is not running");
  process.kill(pid, "SIGUSR2");
  await sleep(500);
  return readRssMB(pid);
}

/** Appends LIVE_ENTRIES token entries, then revokes `sentinel` through /revoke and waits for its refusal. */
async function fillFeed(
  server: RunningServer,
  bench: Credentials,
  sentinel: string,
  gateways: Gateway[],
): Promise<void> {
  const { storage } = server.services;
  const exp = Math.floor(Date.now() / 1000) + 3600;
  const entries: RevocationEntry[] = Array.from({ length: LIVE_ENTRIES }, () => ({
    kind: "token",
    jti: randomUUID(),
    exp,
  }));
  log(`memory: appending ${LIVE_ENTRIES} live token entries to the feed`);
  await storage.transaction((tx) => tx.revocationFeed.append(entries, Date.now()));
  await revoke(server, bench, sentinel);
  const start = performance.now();
  await Promise.all(gateways.map((gateway) => firstRefusal(gateway, sentinel, start)));
  log(
    `memory: every gateway read the whole feed ${fmt((performance.now() - start) / 1000)} s after the last revocation`,
  );
}

async function throughputRound(gateway: Gateway, token: string): Promise<HarnessLoadResult> {
  const result = await runHarnessLoad({
    concurrency: CONNECTIONS,
    maxRequests: 200_000,
    maxSeconds: ROUND_SECONDS,
    send: () => gateway.access(token),
    check: proceeds,
    serverPid: gateway.server.pid,
  });
  if (result.unexpected > 0) throw new Error(`throughput: ${result.firstUnexpected}`);
  return result;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-revocation-"));
const server = await startServer({ db: path.join(dir, "authz.db"), port: 0, host: "127.0.0.1", logLevel: "error" });
const gateways: Gateway[] = [];
try {
  const clients = await provision(server);
  const gcArgs = ["--expose-gc", "--min-semi-space-size=16", "--require", GC_PRELOAD];
  const feedOn = await startGateway(server, clients.gateway, { nodeArgs: gcArgs });
  gateways.push(feedOn);
  // The same process flags for both, so that only the feed differs.
  const feedOff = await startGateway(server, null, { nodeArgs: gcArgs });
  gateways.push(feedOff);

  const delays = (await measureDelays(server, feedOn, clients)).sort((a, b) => a - b);

  const repeated = await mintToken(server, clients.bench);
  for (const gateway of [feedOn, feedOff]) await throughputRound(gateway, repeated);
  const rssBefore = await rssAfterGc(feedOn.server);
  await fillFeed(server, clients.bench, await mintToken(server, clients.bench), [feedOn]);
  const rssAfter = await rssAfterGc(feedOn.server);

  const runs: Record<"on" | "off", HarnessLoadResult[]> = { on: [], off: [] };
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? (["off", "on"] as const) : (["on", "off"] as const);
    for (const which of order) {
      log(`throughput: round ${round + 1}/${ROUNDS}, feed ${which}`);
      runs[which].push(await throughputRound(which === "on" ? feedOn : feedOff, repeated));
    }
  }

  const p50 = percentile(delays, 50);
  const p99 = percentile(delays, 99);
  const rate = (which: "on" | "off") => median(runs[which].map((r) => r.requestsPerSecond));
  const cpu = (which: "on" | "off") => median(runs[which].map((r) => r.serverCpuUsPerRequest));
  const growthMB = rssAfter - rssBefore;
  const load = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
  const when = `${new Date().toISOString().slice(0, 16)} UTC, ${os.cpus().length} cores, load ${load}`;
  const tables = [
    renderTable({
      title: `Revocation to refusal at the gateway, default poll interval ${POLL_SECONDS} s (${when})`,
      columns: ["revocations", "p50 ms", "p99 ms", "max ms", "goal p99 ms", "met"],
      rows: [
        [
          String(delays.length),
          fmt(p50),
          fmt(p99),
          fmt(delays.at(-1)),
          String(DELAY_TARGET_MS),
          p99 <= DELAY_TARGET_MS ? "yes" : "NO",
        ],
      ],
      notes: [
        `From each /revoke's answer to the first 401 of the plugin server, one revocation every ${REVOCATION_SPACING_MS} ms (overlapping, at every phase of the poll cycle), the token presented every ${PROBE_MS} ms (the resolution), ProtoBuf:1.`,
      ],
    }),
    renderTable({
      title: `Plugin server memory with ${LIVE_ENTRIES.toLocaleString("en")} live entries (RSS after a forced full GC)`,
      columns: ["before MB", "after MB", "growth MB", "bytes per entry", "goal MB", "met"],
      rows: [
        [
          fmt(rssBefore),
          fmt(rssAfter),
          fmt(growthMB),
          fmt((growthMB * 2 ** 20) / LIVE_ENTRIES),
          `< ${MEMORY_TARGET_MB}`,
          growthMB < MEMORY_TARGET_MB ? "yes" : "NO",
        ],
      ],
      notes: [
        "Token entries (a jti each), appended to the feed in one transaction and read by the plugin in pages of 1,000; the young generation pinned at its largest size (--min-semi-space-size=16) so that its growth is not counted.",
      ],
    }),
    renderTable({
      title: `A repeated token through the plugin server, feed on (${LIVE_ENTRIES.toLocaleString("en")} entries) against off, ${CONNECTIONS} connections`,
      columns: ["feed", "req/s", "server CPU µs/req", "on × off"],
      rows: [
        ["off", fmt(rate("off")), fmt(cpu("off")), "1.00×"],
        ["on", fmt(rate("on")), fmt(cpu("on")), `${(rate("on") / rate("off")).toFixed(2)}×`],
      ],
      notes: [
        `Median of ${ROUNDS} interleaved rounds (off, on, on, off, …) of ${ROUND_SECONDS} s, every answer checked; goal on × off ≥ ${THROUGHPUT_TARGET} (${rate("on") / rate("off") >= THROUGHPUT_TARGET ? "met" : "MISSED"}). Both servers run during every round; on 2 cores the harness shares the cores with them.`,
      ],
    }),
  ];
  process.stdout.write(`${tables.join("\n\n")}\n`);
} finally {
  for (const gateway of gateways) await gateway.server.close();
  await server.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
