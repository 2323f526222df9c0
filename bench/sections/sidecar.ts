// Section 3: the sidecar's token endpoint under load (autocannon, 10 connections, loopback),
// against oidc-provider 9 issuing JWT access tokens for the same client with the same algorithm
// (the peer) and a bare Koa handler that only signs (the floor), all in the same run. Each
// server runs in its own process; the load generator runs here.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startChild } from "../lib/child.js";
import { describeFailures, runHttpLoad, type HttpLoadResult } from "../lib/http-load.js";
import { median } from "../lib/measure.js";
import type { BenchOptions } from "../lib/options.js";
import { fmt, oneLine, ratio, type SectionResult, type Table, type TargetCheck } from "../lib/report.js";
import type { Algorithm } from "../lib/jwt.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const CONNECTIONS = 10;
/** The sidecar's default signing algorithm (authz-server/src/config.ts `defaults.signingAlgorithm`). */
export const SIDECAR_DEFAULT_ALGORITHM: Algorithm = "ES256";
const PEER_TARGET = 2;
const FLOOR_TARGET = 0.7;

export interface TokenServerInfo {
  url: string;
  tokenPath: string;
  clientId: string;
  clientSecret: string;
}

interface ServerKind {
  name: string;
  label: string;
  script: string;
}

const SERVERS: ServerKind[] = [
  { name: "floor", label: "bare Koa + node:crypto.sign (floor)", script: path.join(here, "../servers/bare-koa.ts") },
  { name: "oidcProvider", label: "oidc-provider 9, JWT access tokens", script: path.join(here, "../servers/oidc-provider.ts") },
  { name: "sidecar", label: "authz-server (ours)", script: path.join(here, "../servers/sidecar.ts") },
];

interface Measured {
  server: string;
  alg: Algorithm;
  runs: HttpLoadResult[];
  tokensPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  error: string | null;
}

function clientCredentialsLoad(info: TokenServerInfo, durationSeconds: number): Promise<HttpLoadResult> {
  return runHttpLoad({
    url: info.url + info.tokenPath,
    connections: CONNECTIONS,
    durationSeconds,
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      // RFC 6749 §2.3.1: client_secret_basic, the form-encoded id and secret in Basic.
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(info.clientId)}:${encodeURIComponent(info.clientSecret)}`).toString("base64")}`,
    },
    body: "grant_type=client_credentials&scope=photos",
  });
}

async function measureServer(kind: ServerKind, alg: Algorithm, options: BenchOptions): Promise<Measured> {
  const rounds = options.quick ? 1 : 3;
  const seconds = options.quick ? 2 : 3;
  options.log(`sidecar: ${kind.label}, ${alg}: ${rounds} × ${seconds} s at ${CONNECTIONS} connections`);
  let child;
  try {
    child = await startChild<TokenServerInfo>(kind.script, [alg]);
  } catch (error) {
    return { server: kind.name, alg, runs: [], tokensPerSecond: NaN, p50Ms: NaN, p99Ms: NaN, error: oneLine(error) };
  }
  try {
    await clientCredentialsLoad(child.info, 1); // warm-up: JIT, connection pools, SQLite page cache
    const runs: HttpLoadResult[] = [];
    for (let r = 0; r < rounds; r++) {
      const run = await clientCredentialsLoad(child.info, seconds);
      const failures = describeFailures(run);
      if (failures) throw new Error(`${kind.label} answered with failures: ${failures}`);
      runs.push(run);
    }
    return {
      server: kind.name,
      alg,
      runs,
      tokensPerSecond: median(runs.map((r) => r.requestsPerSecond)),
      p50Ms: median(runs.map((r) => r.p50Ms)),
      p99Ms: median(runs.map((r) => r.p99Ms)),
      error: null,
    };
  } catch (error) {
    return { server: kind.name, alg, runs: [], tokensPerSecond: NaN, p50Ms: NaN, p99Ms: NaN, error: oneLine(error) };
  } finally {
    await child.close();
  }
}

export async function benchSidecar(options: BenchOptions): Promise<SectionResult> {
  const algorithms: Algorithm[] = [...new Set<Algorithm>(["ES256", SIDECAR_DEFAULT_ALGORITHM, ...(options.quick ? [] : (["EdDSA"] as Algorithm[]))])];
  const measured: Measured[] = [];
  for (const alg of algorithms) {
    for (const kind of SERVERS) measured.push(await measureServer(kind, alg, options));
  }
  const find = (server: string, alg: Algorithm): Measured | undefined =>
    measured.find((m) => m.server === server && m.alg === alg);

  const rows: string[][] = [];
  for (const alg of algorithms) {
    const floor = find("floor", alg);
    const peer = find("oidcProvider", alg);
    for (const kind of SERVERS) {
      const m = find(kind.name, alg);
      if (!m) continue;
      rows.push([
        `${alg}${alg === SIDECAR_DEFAULT_ALGORITHM ? " (default)" : ""}`,
        kind.label,
        m.error ? "failed" : fmt(m.tokensPerSecond),
        fmt(m.p50Ms),
        fmt(m.p99Ms),
        ratio(m.tokensPerSecond, floor?.tokensPerSecond),
        ratio(m.tokensPerSecond, peer?.tokensPerSecond),
      ]);
    }
  }
  const skipped = measured.filter((m) => m.error).map((m) => `${m.server} ${m.alg}: ${m.error}`);

  const targets: TargetCheck[] = [];
  for (const alg of [...new Set<Algorithm>(["ES256", SIDECAR_DEFAULT_ALGORITHM])]) {
    const ours = find("sidecar", alg);
    const peer = find("oidcProvider", alg);
    const floor = find("floor", alg);
    const ok = (m: Measured | undefined): m is Measured => m !== undefined && m.error === null;
    if (ok(ours) && ok(peer)) {
      const x = ours.tokensPerSecond / peer.tokensPerSecond;
      targets.push({
        target: `Client-credentials tokens/s (${alg}) at least ${PEER_TARGET}× oidc-provider`,
        measured: `${x.toFixed(2)}× (${fmt(ours.tokensPerSecond)} vs ${fmt(peer.tokensPerSecond)} tokens/s)`,
        met: x >= PEER_TARGET,
      });
    } else {
      targets.push({ target: `Client-credentials tokens/s (${alg}) at least ${PEER_TARGET}× oidc-provider`, measured: `not measured: ${ours?.error ?? peer?.error ?? "missing"}`, met: null });
    }
    if (ok(ours) && ok(floor)) {
      const x = ours.tokensPerSecond / floor.tokensPerSecond;
      targets.push({
        target: `Client-credentials tokens/s (${alg}) at least ${FLOOR_TARGET}× the bare sign-only floor`,
        measured: `${x.toFixed(2)}× (${fmt(ours.tokensPerSecond)} vs ${fmt(floor.tokensPerSecond)} tokens/s)`,
        met: x >= FLOOR_TARGET,
      });
    } else {
      targets.push({ target: `Client-credentials tokens/s (${alg}) at least ${FLOOR_TARGET}× the bare sign-only floor`, measured: `not measured: ${ours?.error ?? floor?.error ?? "missing"}`, met: null });
    }
  }

  const tables: Table[] = [
    {
      title: `Client-credentials tokens per second, ${CONNECTIONS} connections`,
      columns: ["alg", "server", "tokens/s", "p50 ms", "p99 ms", "× floor", "× oidc-provider"],
      rows,
      notes: [
        `Median of ${options.quick ? 1 : 3} autocannon runs of ${options.quick ? 2 : 3} s after a 1 s warm-up; each server in its own process, the load generator in another; every response checked to be 2xx.`,
      ],
    },
  ];
  return {
    id: "sidecar",
    title: "3. Sidecar token endpoint",
    tables,
    figures: { connections: CONNECTIONS, measured },
    targets,
    skipped,
  };
}
