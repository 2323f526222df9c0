// What metrics cost on the hot paths, metrics on against off in the same run, interleaved rounds (off, on, on, off, …):
//   1. The plugin server (the real process, spawned as Kong spawns it, ProtoBuf:1 driven by the wire harness): a
//      repeated valid token, the cached path, with and without --metrics-port; the metrics listener is scraped once
//      per round, as Prometheus would every few seconds.
//   2. The authorization server (its startServer in a process of its own, bench/servers/sidecar.ts): client-credentials
//      tokens from autocannon at 10 connections, with and without its metrics listener, also scraped once per round.
// Goal: requests/s with metrics on ≥ 0.97× off, for each.
// Usage: node --import tsx bench/metrics.ts [--quick]   (needs `npm run build`: the plugin server runs from dist)
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  spawnPluginServer,
  type AccessResult,
  type PluginInstance,
  type PluginServerProcess,
} from "../kong-standin/src/wire/index.js";
import { freePort } from "../test/helpers/ports.js";
import { startChild, type ChildServer } from "./lib/child.js";
import { runHarnessLoad, type HarnessLoadResult } from "./lib/harness-load.js";
import { describeFailures, type HttpLoadResult } from "./lib/http-load.js";
import { startJwksServer } from "./lib/jwks-server.js";
import { createSigner, freshClaims } from "./lib/jwt.js";
import { median } from "./lib/measure.js";
import { fmt, renderTable } from "./lib/report.js";
import { clientCredentialsLoad, type TokenServerInfo } from "./sections/sidecar.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes("--quick");
const AUDIENCE = "http://localhost:8000/flickr";
const ROUNDS = quick ? 2 : 6;
const ROUND_SECONDS = quick ? 1 : 3;
const CONNECTIONS = 8;
const TARGET = 0.97;
const log = (message: string): void => void process.stderr.write(`${message}\n`);
type Switch = "off" | "on";
const ORDER: readonly (readonly Switch[])[] = [
  ["off", "on"],
  ["on", "off"],
];

/** One scrape, as Prometheus makes it; the answer must be the metrics. */
async function scrape(url: string): Promise<void> {
  const response = await fetch(url);
  const text = await response.text();
  if (response.status !== 200 || !text.includes("# TYPE")) throw new Error(`${url} answered ${response.status}`);
}

const ratioRow = (label: string, runs: Record<Switch, number[]>, cpu?: Record<Switch, number[]>): string[][] => {
  const rate = (which: Switch) => median(runs[which]);
  return (["off", "on"] as const).map((which) => [
    label,
    which,
    fmt(rate(which)),
    ...(cpu === undefined ? [] : [fmt(median(cpu[which]))]),
    `${(rate(which) / rate("off")).toFixed(3)}×`,
  ]);
};
const verdict = (runs: Record<Switch, number[]>): string =>
  median(runs.on) / median(runs.off) >= TARGET ? "met" : "MISSED";

// 1. The plugin server.
interface Gateway {
  server: PluginServerProcess;
  instance: PluginInstance;
  metricsUrl: string | null;
}
const signer = createSigner("ES256");
const jwks = await startJwksServer([signer]);
const gateways = new Map<Switch, Gateway>();
const sidecars: Partial<Record<Switch, ChildServer<TokenServerInfo>>> = {};
try {
  for (const which of ["off", "on"] as const) {
    const port = which === "on" ? await freePort() : null;
    const server = await spawnPluginServer({
      connections: CONNECTIONS,
      args: port === null ? [] : ["--metrics-port", String(port)],
    });
    const instance = await server.startInstance("oauth2-jwt", {
      issuer: jwks.issuer,
      audience: [AUDIENCE],
      scopes_required: ["photos"],
    });
    gateways.set(which, { server, instance, metricsUrl: port === null ? null : `http://127.0.0.1:${port}/metrics` });
  }
  const token = signer.mint(freshClaims(jwks.issuer, AUDIENCE, Math.floor(Date.now() / 1000)));
  const proceeds = (result: AccessResult): string | null =>
    result.outcome === "proceed" ? null : `expected proceed, got ${JSON.stringify(result).slice(0, 200)}`;
  const gatewayRound = async (gateway: Gateway): Promise<HarnessLoadResult> => {
    const request = { method: "GET", path: "/flickr/photos", headers: { authorization: `Bearer ${token}` } };
    const result = await runHarnessLoad({
      concurrency: CONNECTIONS,
      maxRequests: 400_000,
      maxSeconds: ROUND_SECONDS,
      send: () => gateway.instance.access(request),
      check: proceeds,
      serverPid: gateway.server.pid,
    });
    if (result.unexpected > 0) throw new Error(`plugin server: ${result.firstUnexpected}`);
    if (gateway.metricsUrl !== null) await scrape(gateway.metricsUrl);
    return result;
  };
  const pluginRate: Record<Switch, number[]> = { off: [], on: [] };
  const pluginCpu: Record<Switch, number[]> = { off: [], on: [] };
  for (const which of ["off", "on"] as const) await gatewayRound(gateways.get(which) as Gateway); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    for (const which of ORDER[round % 2]) {
      log(`plugin server: round ${round + 1}/${ROUNDS}, metrics ${which}`);
      const result = await gatewayRound(gateways.get(which) as Gateway);
      pluginRate[which].push(result.requestsPerSecond);
      pluginCpu[which].push(result.serverCpuUsPerRequest);
    }
  }
  // Stopped before the second part, so that they take no CPU from it (and not again in `finally`).
  for (const gateway of gateways.values()) await gateway.server.close();
  gateways.clear();

  // 2. The authorization server.
  for (const which of ["off", "on"] as const) {
    sidecars[which] = await startChild<TokenServerInfo & { metricsUrl?: string }>(
      path.join(here, "servers/sidecar.ts"),
      ["ES256", "info"],
      { env: { BENCH_SIDECAR_METRICS: which } },
    );
  }
  const sidecarRound = async (which: Switch): Promise<HttpLoadResult> => {
    const child = sidecars[which] as ChildServer<TokenServerInfo & { metricsUrl?: string }>;
    const result = await clientCredentialsLoad(child.info, ROUND_SECONDS);
    const failure = describeFailures(result);
    if (failure !== null) throw new Error(`authorization server: ${failure}`);
    if (which === "on") {
      if (child.info.metricsUrl === undefined) throw new Error("the sidecar announced no metrics listener");
      await scrape(`${child.info.metricsUrl}/metrics`);
    }
    return result;
  };
  const sidecarRate: Record<Switch, number[]> = { off: [], on: [] };
  for (const which of ["off", "on"] as const) await sidecarRound(which); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    for (const which of ORDER[round % 2]) {
      log(`authorization server: round ${round + 1}/${ROUNDS}, metrics ${which}`);
      sidecarRate[which].push((await sidecarRound(which)).requestsPerSecond);
    }
  }

  const load = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
  const when = `${new Date().toISOString().slice(0, 16)} UTC, ${os.cpus().length} cores, load ${load}`;
  process.stdout.write(
    `${[
      renderTable({
        title: `The plugin server with metrics on against off: a repeated token, ProtoBuf:1, ${CONNECTIONS} connections (${when})`,
        columns: ["server", "metrics", "req/s", "server CPU µs/req", "× off"],
        rows: ratioRow("oauth2-jwt-pluginserver", pluginRate, pluginCpu),
        notes: [
          `Median of ${ROUNDS} interleaved rounds of ${ROUND_SECONDS} s, every answer checked, the metrics listener scraped after each of its rounds; goal on × off ≥ ${TARGET} (${verdict(pluginRate)}).`,
        ],
      }),
      renderTable({
        title:
          "The authorization server with metrics on against off: client-credentials tokens (ES256), 10 connections",
        columns: ["server", "metrics", "tokens/s", "× off"],
        rows: ratioRow("authz-server", sidecarRate),
        notes: [
          `Median of ${ROUNDS} interleaved rounds of ${ROUND_SECONDS} s, every answer a 200, the metrics listener scraped after each of its rounds; goal on × off ≥ ${TARGET} (${verdict(sidecarRate)}). Each server in its own process on its own SQLite file.`,
        ],
      }),
    ].join("\n\n")}\n`,
  );
} finally {
  for (const gateway of gateways.values()) await gateway.server.close();
  for (const sidecar of Object.values(sidecars)) await sidecar.close();
  await jwks.close();
}
