// What telling Kong who called costs at the gateway: the real plugin server, spawned as Kong spawns it and driven over
// its default protocol (ProtoBuf:1, as kong.yml deploys it) by the wire harness, with one plugin instance per
// configuration of plugin/README.md's "PDK calls per configuration" table. For each: the PDK round trips per request
// (counted on Kong's side, HandleEvent included) and the bytes each way, then requests/s and the server's CPU per
// request for a repeated token, in interleaved rounds, as a ratio to the default configuration measured in the same
// run. A consumer lookup that misses the cache is counted, not timed: a token per request would time the signature.
// Usage: node --import tsx bench/consumers.ts [--quick]   (needs `npm run build`: the plugin server runs from dist)
import os from "node:os";
import {
  consumerDirectory,
  spawnPluginServer,
  type AccessResult,
  type Consumer,
  type PluginInstance,
  type WireRequest,
} from "../kong-standin/src/wire/index.js";
import { runHarnessLoad, type HarnessLoadResult } from "./lib/harness-load.js";
import { startJwksServer } from "./lib/jwks-server.js";
import { createSigner, freshClaims } from "./lib/jwt.js";
import { median } from "./lib/measure.js";
import { fmt, renderTable } from "./lib/report.js";

const quick = process.argv.includes("--quick");
const AUDIENCE = "http://localhost:8000/flickr";
const ROUNDS = quick ? 2 : 5;
const ROUND_SECONDS = quick ? 1 : 2;
const CONNECTIONS = 8;
/** Requests whose round trips and bytes are counted, per configuration. */
const COUNTED = 20;
const log = (message: string): void => void process.stderr.write(`${message}\n`);

const ALICE: Consumer = {
  id: "b32379d9-3d28-5683-a79c-72139be6e34f",
  created_at: 1_796_000_000,
  updated_at: 1_796_000_000,
  username: "user-alice",
  custom_id: "crm-1",
};
const GUEST: Consumer = {
  id: "6f1c1b0e-5a8e-4c33-9a3f-0c1d2e3f4a5b",
  created_at: 1_796_000_000,
  updated_at: 1_796_000_000,
  username: "guest",
};
const consumers = consumerDirectory([ALICE, GUEST]);

interface Configuration {
  label: string;
  config: Record<string, unknown>;
  /** Whether the request carries the repeated token (else no token: the anonymous consumer). */
  token: boolean;
  /** The upstream header that shows the configuration did its work (null for the defaults). */
  shows: { header: string; value: string } | null;
}

const CONFIGURATIONS: Configuration[] = [
  { label: "defaults", config: {}, token: true, shows: null },
  {
    label: "authenticate_credential (sub)",
    config: { authenticate_credential: true, credential_claim: "sub" },
    token: true,
    shows: { header: "x-credential-identifier", value: "user-alice" },
  },
  {
    label: "consumer_claim, lookup cached",
    config: { consumer_claim: "sub" },
    token: true,
    shows: { header: "x-consumer-id", value: ALICE.id },
  },
  {
    label: "anonymous, valid token",
    config: { anonymous: "guest" },
    token: true,
    shows: { header: "x-credential-identifier", value: "client-canon" },
  },
  {
    label: "anonymous, no token (passes as guest, cached)",
    config: { anonymous: "guest" },
    token: false,
    shows: { header: "x-anonymous-consumer", value: "true" },
  },
];

const signer = createSigner("ES256");
const jwks = await startJwksServer([signer]);
const server = await spawnPluginServer({ connections: CONNECTIONS });
try {
  const token = signer.mint(freshClaims(jwks.issuer, AUDIENCE, Math.floor(Date.now() / 1000)));
  const requestOf = (configuration: Configuration): WireRequest => ({
    method: "GET",
    path: "/flickr/photos",
    headers: configuration.token ? { authorization: `Bearer ${token}` } : {},
    consumers,
  });
  const instances = new Map<string, PluginInstance>();
  for (const configuration of CONFIGURATIONS) {
    const instance = await server.startInstance("oauth2-jwt", {
      issuer: jwks.issuer,
      audience: [AUDIENCE],
      scopes_required: ["photos"],
      ...configuration.config,
    });
    instances.set(configuration.label, instance);
  }
  // Every instance started: a later start would empty the shared consumer cache (plugin/src/plugins/oauth2-jwt.ts).
  const check =
    (configuration: Configuration) =>
    (result: AccessResult): string | null => {
      if (result.outcome !== "proceed") return `expected proceed, got ${JSON.stringify(result).slice(0, 200)}`;
      const shows = configuration.shows;
      if (shows === null) return null;
      // An absent header is no entry at all (the record's type does not say so).
      const values = result.upstreamHeaders[shows.header] as string[] | undefined;
      if (values?.[0] !== shows.value) return `${shows.header} is ${JSON.stringify(values)}, expected ${shows.value}`;
      return null;
    };
  const send = (configuration: Configuration) => {
    const instance = instances.get(configuration.label);
    if (instance === undefined) throw new Error(`no instance for ${configuration.label}`);
    const request = requestOf(configuration);
    return () => instance.access(request);
  };

  // Round trips and bytes: warm (the consumer cached, the token verified once), then counted.
  const counted = new Map<string, { roundTrips: number; sent: number; received: number }>();
  for (const configuration of CONFIGURATIONS) {
    const access = send(configuration);
    const problem = check(configuration)(await access());
    if (problem !== null) throw new Error(`${configuration.label}: ${problem}`);
    const { bytesSent, bytesReceived } = server.counters;
    let roundTrips = 0;
    for (let n = 0; n < COUNTED; n++) roundTrips += (await access()).roundTrips;
    counted.set(configuration.label, {
      roundTrips: roundTrips / COUNTED,
      sent: (server.counters.bytesSent - bytesSent) / COUNTED,
      received: (server.counters.bytesReceived - bytesReceived) / COUNTED,
    });
  }
  // A cache miss: a consumer_claim instance started alone (its start empties the cache), one request.
  const missing = await server.startInstance("oauth2-jwt", {
    issuer: jwks.issuer,
    audience: [AUDIENCE],
    scopes_required: ["photos"],
    consumer_claim: "sub",
  });
  const missRoundTrips = (await missing.access(requestOf(CONFIGURATIONS[0]))).roundTrips;
  for (const instance of instances.values()) await instance.access(requestOf(CONFIGURATIONS[0]));

  const runs = new Map<string, HarnessLoadResult[]>(CONFIGURATIONS.map((c) => [c.label, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? CONFIGURATIONS : [...CONFIGURATIONS].reverse();
    for (const configuration of order) {
      log(`round ${round + 1}/${ROUNDS}: ${configuration.label}`);
      const access = send(configuration);
      const result = await runHarnessLoad({
        concurrency: CONNECTIONS,
        maxRequests: 200_000,
        maxSeconds: ROUND_SECONDS,
        send: access,
        check: check(configuration),
        serverPid: server.pid,
      });
      if (result.unexpected > 0) throw new Error(`${configuration.label}: ${result.firstUnexpected}`);
      runs.get(configuration.label)?.push(result);
    }
  }

  const rate = (label: string) => median((runs.get(label) ?? []).map((r) => r.requestsPerSecond));
  const cpu = (label: string) => median((runs.get(label) ?? []).map((r) => r.serverCpuUsPerRequest));
  const baseline = CONFIGURATIONS[0].label;
  const load = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
  const when = `${new Date().toISOString().slice(0, 16)} UTC, ${os.cpus().length} cores, load ${load}`;
  const rows = CONFIGURATIONS.map((configuration) => {
    const figures = counted.get(configuration.label);
    return [
      configuration.label,
      fmt(figures?.roundTrips),
      fmt(figures?.sent),
      fmt(figures?.received),
      fmt(rate(configuration.label)),
      `${(rate(configuration.label) / rate(baseline)).toFixed(2)}×`,
      fmt(cpu(configuration.label)),
    ];
  });
  rows.push(["consumer_claim, cache miss (one request)", fmt(missRoundTrips), "", "", "", "", ""]);
  process.stdout.write(
    `${renderTable({
      title: `Telling Kong who called: the plugin server per configuration, ProtoBuf:1, ${CONNECTIONS} connections (${when})`,
      columns: [
        "configuration",
        "round trips",
        "bytes Kong → server",
        "bytes server → Kong",
        "req/s",
        "× defaults",
        "server CPU µs/req",
      ],
      rows,
      notes: [
        `Round trips and bytes counted on Kong's side over ${COUNTED} requests after a warm-up (HandleEvent included; exit is never answered). Requests/s: median of ${ROUNDS} interleaved rounds of ${ROUND_SECONDS} s, a repeated ES256 token (the cached path), every answer checked for the header its configuration sets. Kong's own cost per round trip is in plugin/README.md "The model"; the harness shares the 2 cores with the server.`,
      ],
    })}\n`,
  );
} finally {
  await server.close();
  await jwks.close();
}
