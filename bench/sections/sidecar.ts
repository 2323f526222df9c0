// Section 3: the sidecar's token endpoint under load (autocannon, 10 connections, loopback),
// against oidc-provider 9 issuing JWT access tokens for the same client with the same algorithm
// (the peer) and a bare Koa handler that only signs (the floor), all in the same run. Each
// server runs in its own process; the load generator runs here.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startChild, type ChildServer } from "../lib/child.js";
import { describeFailures, runHttpLoad, type HttpLoadResult } from "../lib/http-load.js";
import { median } from "../lib/measure.js";
import type { BenchOptions } from "../lib/options.js";
import { fmt, oneLine, ratio, type SectionResult, type Table, type TargetCheck } from "../lib/report.js";
import type { Algorithm } from "../lib/jwt.js";
import { codeFromLocation, logInAndConsent, type FlowClient } from "../lib/browser.js";

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
  /** Only our sidecar: a web client and a user for the authorization-code and refresh loads. */
  flow?: FlowClient;
}

interface FlowMeasured {
  name: "authorization_code" | "refresh_token";
  label: string;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  error: string | null;
}

interface ServerKind {
  name: string;
  label: string;
  script: string;
  args?: string[];
  /** Measured for the default algorithm only. */
  defaultOnly?: boolean;
}

const SERVERS: ServerKind[] = [
  { name: "floor", label: "bare Koa + node:crypto.sign (floor)", script: path.join(here, "../servers/bare-koa.ts") },
  {
    name: "oidcProvider",
    label: "oidc-provider 9, JWT access tokens",
    script: path.join(here, "../servers/oidc-provider.ts"),
  },
  { name: "sidecar", label: "authz-server (ours)", script: path.join(here, "../servers/sidecar.ts") },
  {
    name: "sidecarQuiet",
    label: "authz-server (ours), --log-level warn",
    script: path.join(here, "../servers/sidecar.ts"),
    args: ["warn"],
    defaultOnly: true,
  },
];

interface Measured {
  server: string;
  alg: Algorithm;
  runs: HttpLoadResult[];
  tokensPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  error: string | null;
  flows?: FlowMeasured[];
}

const basic = (id: string, secret: string): string =>
  // RFC 6749 §2.3.1: client_secret_basic, the form-encoded id and secret in Basic.
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString("base64")}`;

/**
 * Full authorization-code exchanges, each connection looping over two requests: GET /authorize
 * with the logged-in session cookie and a remembered consent (303 to the callback with a fresh
 * code: the code is minted), then POST /token redeeming it with the PKCE verifier. The token
 * responses' refresh tokens are kept for the refresh load.
 */
export async function measureCodeExchanges(
  info: TokenServerInfo,
  flow: FlowClient,
  seconds: number,
  refreshTokens: string[],
): Promise<FlowMeasured> {
  const label = "authorization_code: GET /authorize (session) + POST /token";
  try {
    const session = await logInAndConsent(info.url, flow);
    const run = await runHttpLoad({
      url: info.url,
      connections: CONNECTIONS,
      durationSeconds: seconds,
      requests: [
        {
          method: "GET",
          path: session.authorizePath,
          headers: { cookie: session.cookie },
          onResponse: (_status, _body, context, headers) => {
            const location = headers["location"] ?? headers["Location"];
            context["code"] = codeFromLocation(
              location === undefined ? undefined : new URL(location, info.url).href,
              flow.redirectUri,
            );
          },
        },
        {
          method: "POST",
          path: info.tokenPath,
          headers: {
            "content-type": "application/x-www-form-urlencoded",
            authorization: basic(flow.clientId, flow.clientSecret),
          },
          setupRequest: (request, context) => {
            const code = context["code"];
            if (typeof code !== "string") return undefined;
            return {
              ...request,
              body: new URLSearchParams({
                grant_type: "authorization_code",
                code,
                redirect_uri: flow.redirectUri,
                code_verifier: session.codeVerifier,
              }).toString(),
            };
          },
          onResponse: (status, body) => {
            if (status !== 200) return;
            const token = (JSON.parse(body) as { refresh_token?: unknown }).refresh_token;
            if (typeof token === "string" && refreshTokens.length < 100_000) refreshTokens.push(token);
          },
        },
      ],
    });
    const minted = run.statusCodes["303"] ?? 0;
    const exchanged = run.statusCodes["200"] ?? 0;
    const other = Object.entries(run.statusCodes).filter(([code]) => code !== "200" && code !== "303");
    const error =
      other.length > 0 || run.errors > 0 || run.timeouts > 0 || exchanged < minted - CONNECTIONS
        ? `unexpected answers: ${JSON.stringify(run.statusCodes)}, ${run.errors} errors, ${run.timeouts} timeouts`
        : null;
    return {
      name: "authorization_code",
      label,
      perSecond: exchanged / seconds,
      p50Ms: run.p50Ms,
      p99Ms: run.p99Ms,
      error,
    };
  } catch (error) {
    return {
      name: "authorization_code",
      label,
      perSecond: Number.NaN,
      p50Ms: Number.NaN,
      p99Ms: Number.NaN,
      error: oneLine(error),
    };
  }
}

/**
 * Refresh-token rotations (RFC 6749 §6, rotated per RFC 9700 §4.14.2): every request presents a
 * refresh token never used before and returns its successor to the pool, so no request is a
 * reuse (which would revoke the family). `urls`: the nodes serving `info`'s database, the
 * connections spread over them (a successor minted by one node is presented to any).
 */
export async function measureRefreshRotations(
  info: TokenServerInfo,
  flow: FlowClient,
  seconds: number,
  pool: string[],
  urls: string[] = [info.url],
): Promise<FlowMeasured> {
  const label = "refresh_token: POST /token (rotation)";
  if (pool.length < CONNECTIONS * 2) {
    return {
      name: "refresh_token",
      label,
      perSecond: Number.NaN,
      p50Ms: Number.NaN,
      p99Ms: Number.NaN,
      error: `only ${pool.length} refresh tokens from the code exchanges`,
    };
  }
  try {
    const run = await runHttpLoad({
      url: urls,
      connections: CONNECTIONS,
      durationSeconds: seconds,
      requests: [
        {
          method: "POST",
          path: info.tokenPath,
          headers: {
            "content-type": "application/x-www-form-urlencoded",
            authorization: basic(flow.clientId, flow.clientSecret),
          },
          setupRequest: (request) => ({
            ...request,
            // An empty pool (only after failures) sends a token that cannot exist: counted as a failure.
            body: new URLSearchParams({
              grant_type: "refresh_token",
              refresh_token: pool.pop() ?? "exhausted",
            }).toString(),
          }),
          onResponse: (status, body) => {
            if (status !== 200) return;
            const token = (JSON.parse(body) as { refresh_token?: unknown }).refresh_token;
            if (typeof token === "string") pool.push(token);
          },
        },
      ],
    });
    const failures = describeFailures(run);
    return {
      name: "refresh_token",
      label,
      perSecond: run.requestsPerSecond,
      p50Ms: run.p50Ms,
      p99Ms: run.p99Ms,
      error: failures,
    };
  } catch (error) {
    return {
      name: "refresh_token",
      label,
      perSecond: Number.NaN,
      p50Ms: Number.NaN,
      p99Ms: Number.NaN,
      error: oneLine(error),
    };
  }
}

/** `urls`: the nodes serving `info`'s database, the connections spread over them. */
export function clientCredentialsLoad(
  info: TokenServerInfo,
  durationSeconds: number,
  urls: string[] = [info.url],
): Promise<HttpLoadResult> {
  return runHttpLoad({
    url: urls.map((url) => url + info.tokenPath),
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

const failed = (server: string, alg: Algorithm, error: unknown): Measured => ({
  server,
  alg,
  runs: [],
  tokensPerSecond: Number.NaN,
  p50Ms: Number.NaN,
  p99Ms: Number.NaN,
  error: oneLine(error),
});

/**
 * All three servers for one algorithm: started together, warmed up, then measured in interleaved
 * rounds (rotating order), so the noise of the shared machine falls on each alike; the median
 * round counts. Then, for our sidecar with its default algorithm, the code and refresh loads.
 */
async function measureAlgorithm(alg: Algorithm, options: BenchOptions): Promise<Measured[]> {
  const rounds = options.quick ? 1 : 3;
  const seconds = options.quick ? 2 : 3;
  const started: {
    kind: ServerKind;
    child: ChildServer<TokenServerInfo>;
    runs: HttpLoadResult[];
    error: string | null;
  }[] = [];
  const results: Measured[] = [];
  try {
    for (const kind of SERVERS) {
      if (kind.defaultOnly && alg !== SIDECAR_DEFAULT_ALGORITHM) continue;
      try {
        const child = await startChild<TokenServerInfo>(kind.script, [alg, ...(kind.args ?? [])]);
        started.push({ kind, child, runs: [], error: null });
      } catch (error) {
        results.push(failed(kind.name, alg, error));
      }
    }
    for (const s of started) {
      // Warm-up: JIT, keep-alive connections, SQLite page cache.
      const warm = await clientCredentialsLoad(s.child.info, 1);
      s.error =
        describeFailures(warm) === null ? null : `${s.kind.label} answered with failures: ${describeFailures(warm)}`;
    }
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < started.length; k++) {
        const s = started[(round + k) % started.length];
        if (s.error !== null) continue;
        options.log(
          `sidecar: ${alg} round ${round + 1}/${rounds}: ${s.kind.label}, ${seconds} s at ${CONNECTIONS} connections`,
        );
        const run = await clientCredentialsLoad(s.child.info, seconds);
        const failures = describeFailures(run);
        if (failures) s.error = `${s.kind.label} answered with failures: ${failures}`;
        else s.runs.push(run);
      }
    }
    for (const s of started) {
      if (s.error !== null) {
        results.push(failed(s.kind.name, alg, s.error));
        continue;
      }
      const measured: Measured = {
        server: s.kind.name,
        alg,
        runs: s.runs,
        tokensPerSecond: median(s.runs.map((r) => r.requestsPerSecond)),
        p50Ms: median(s.runs.map((r) => r.p50Ms)),
        p99Ms: median(s.runs.map((r) => r.p99Ms)),
        error: null,
      };
      const flow = s.child.info.flow;
      if (flow !== undefined && alg === SIDECAR_DEFAULT_ALGORITHM && s.kind.name === "sidecar") {
        options.log(`sidecar: authorization-code exchanges and refresh rotations, ${seconds} s each`);
        const refreshTokens: string[] = [];
        const code = await measureCodeExchanges(s.child.info, flow, seconds, refreshTokens);
        const refresh = await measureRefreshRotations(s.child.info, flow, seconds, refreshTokens);
        measured.flows = [code, refresh];
      }
      results.push(measured);
    }
  } finally {
    for (const s of started) await s.child.close();
  }
  return results;
}

export async function benchSidecar(options: BenchOptions): Promise<SectionResult> {
  const algorithms: Algorithm[] = [
    ...new Set<Algorithm>(["ES256", SIDECAR_DEFAULT_ALGORITHM, ...(options.quick ? [] : (["EdDSA"] as Algorithm[]))]),
  ];
  const measured: Measured[] = [];
  for (const alg of algorithms) measured.push(...(await measureAlgorithm(alg, options)));
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
      targets.push({
        target: `Client-credentials tokens/s (${alg}) at least ${PEER_TARGET}× oidc-provider`,
        measured: `not measured: ${ours?.error ?? peer?.error ?? "missing"}`,
        met: null,
      });
    }
    if (ok(ours) && ok(floor)) {
      const x = ours.tokensPerSecond / floor.tokensPerSecond;
      targets.push({
        target: `Client-credentials tokens/s (${alg}) at least ${FLOOR_TARGET}× the bare sign-only floor`,
        measured: `${x.toFixed(2)}× (${fmt(ours.tokensPerSecond)} vs ${fmt(floor.tokensPerSecond)} tokens/s)`,
        met: x >= FLOOR_TARGET,
      });
    } else {
      targets.push({
        target: `Client-credentials tokens/s (${alg}) at least ${FLOOR_TARGET}× the bare sign-only floor`,
        measured: `not measured: ${ours?.error ?? floor?.error ?? "missing"}`,
        met: null,
      });
    }
  }

  const ours = find("sidecar", SIDECAR_DEFAULT_ALGORITHM);
  const floorDefault = find("floor", SIDECAR_DEFAULT_ALGORITHM);
  const flowRows = (ours?.flows ?? []).map((f) => [
    f.label,
    f.error ? "failed" : fmt(f.perSecond),
    fmt(f.p50Ms),
    fmt(f.p99Ms),
    f.error ? "–" : ratio(f.perSecond, ours?.tokensPerSecond),
    f.error ? "–" : ratio(f.perSecond, floorDefault?.tokensPerSecond),
  ]);
  for (const f of ours?.flows ?? []) if (f.error) skipped.push(`${f.label}: ${f.error}`);
  if (ours && !ours.error && !ours.flows)
    skipped.push("authorization-code and refresh loads: no flow client provisioned");
  const tables: Table[] = [
    {
      title: `Client-credentials tokens per second, ${CONNECTIONS} connections`,
      columns: ["alg", "server", "tokens/s", "p50 ms", "p99 ms", "× floor", "× oidc-provider"],
      rows,
      notes: [
        `Median of ${options.quick ? 1 : 3} interleaved autocannon runs of ${options.quick ? 2 : 3} s per server after a 1 s warm-up; each server in its own process, the load generator in another; every response checked to be 2xx. Our sidecar runs as \`serve\` does: SQLite (WAL) on a temp file, client secret checked against its SHA-256 digest, pino info logs (two lines per token request, to a pipe); the "--log-level warn" row is the same server without those lines, to show what logging costs.`,
      ],
    },
    {
      title: `Authorization-code exchanges and refresh-token rotations per second (ours, ${SIDECAR_DEFAULT_ALGORITHM}, ${CONNECTIONS} connections)`,
      columns: ["grant", "per second", "p50 ms", "p99 ms", "× client credentials (ours)", "× floor"],
      rows: flowRows,
      notes: [
        "One autocannon run each. A code exchange is two HTTP requests (the code is minted by GET /authorize with a logged-in session and remembered consent, then redeemed with PKCE); latencies are per HTTP request. Each rotation presents a never-used refresh token and receives its successor. Baselines: our own client-credentials rate and the sign-only floor, same run.",
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
