// The authorization server on PostgreSQL against SQLite, in the same run: client-credentials tokens/s,
// authorization-code exchanges/s and refresh-token rotations/s (the loads of bench/sections/sidecar.ts),
// each server in its own process (bench/servers/sidecar.ts), rounds interleaved SQLite, PostgreSQL,
// SQLite, PostgreSQL…, medians reported; then PostgreSQL round trips per request for each grant, counted
// in the server process over a few sequential requests. PostgreSQL is a throwaway cluster from
// test/helpers/postgres.ts (or a fresh database on AUTHZ_TEST_POSTGRES_URL).
// Usage: node --import tsx bench/postgres.ts [--quick]   (needs `npm run build` for the CLI)
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startTestPostgres } from "../test/helpers/postgres.js";
import { codeFromLocation, logInAndConsent, type FlowClient } from "./lib/browser.js";
import { startChild, type ChildServer } from "./lib/child.js";
import { describeFailures } from "./lib/http-load.js";
import { median } from "./lib/measure.js";
import { fmt, renderTable } from "./lib/report.js";
import {
  clientCredentialsLoad,
  measureCodeExchanges,
  measureRefreshRotations,
  type TokenServerInfo,
} from "./sections/sidecar.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes("--quick");
const ROUNDS = quick ? 2 : 3;
const SECONDS = quick ? 2 : 3;
/** Sequential requests per grant over which round trips are counted. */
const COUNTED = 20;
const TARGETS = { client_credentials: 0.9, authorization_code: 0.5, refresh_token: 0.5 } as const;
type Grant = keyof typeof TARGETS;
const GRANTS = Object.keys(TARGETS) as Grant[];
const log = (message: string): void => void process.stderr.write(`${message}\n`);

interface Info extends TokenServerInfo {
  countUrl: string;
  flow: FlowClient;
}
interface Engine {
  name: "SQLite" | "PostgreSQL";
  child: ChildServer<Info>;
  runs: Record<Grant, number[]>;
}

const basic = (id: string, secret: string): string =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString("base64")}`;

/** One round of the three loads on one engine; throws on any answer that is not the expected success. */
async function round(engine: Engine): Promise<void> {
  const info = engine.child.info;
  const cc = await clientCredentialsLoad(info, SECONDS);
  const failures = describeFailures(cc);
  if (failures !== null) throw new Error(`${engine.name} client credentials: ${failures}`);
  engine.runs.client_credentials.push(cc.requestsPerSecond);
  const refreshTokens: string[] = [];
  const code = await measureCodeExchanges(info, info.flow, SECONDS, refreshTokens);
  if (code.error !== null) throw new Error(`${engine.name} code exchanges: ${code.error}`);
  engine.runs.authorization_code.push(code.perSecond);
  const refresh = await measureRefreshRotations(info, info.flow, SECONDS, refreshTokens);
  if (refresh.error !== null) throw new Error(`${engine.name} refresh rotations: ${refresh.error}`);
  engine.runs.refresh_token.push(refresh.perSecond);
}

/** PostgreSQL statements (round trips) per request of each kind, over COUNTED sequential requests. */
async function roundTrips(info: Info): Promise<Record<string, number>> {
  const count = async (): Promise<number> => Number(await (await fetch(info.countUrl)).text());
  const token = async (body: Record<string, string>, id: string, secret: string): Promise<Record<string, unknown>> => {
    const response = await fetch(info.url + info.tokenPath, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: basic(id, secret) },
      body: new URLSearchParams(body).toString(),
    });
    const json = (await response.json()) as Record<string, unknown>;
    if (response.status !== 200 || typeof json["access_token"] !== "string")
      throw new Error(`token request answered ${response.status}: ${JSON.stringify(json)}`);
    return json;
  };
  const flow = info.flow;
  const session = await logInAndConsent(info.url, flow);
  const totals = { client_credentials: 0, authorize: 0, code_token: 0, refresh_token: 0 };
  let refreshToken: string | undefined;
  for (let i = 0; i < COUNTED; i++) {
    let before = await count();
    await token({ grant_type: "client_credentials", scope: "photos" }, info.clientId, info.clientSecret);
    totals.client_credentials += (await count()) - before;

    before = await count();
    const authorize = await fetch(new URL(session.authorizePath, info.url), {
      headers: { cookie: session.cookie },
      redirect: "manual",
    });
    const location = authorize.headers.get("location") ?? undefined;
    const code = codeFromLocation(location && new URL(location, info.url).href, flow.redirectUri);
    if (authorize.status !== 303 || code === undefined) throw new Error(`/authorize answered ${authorize.status}`);
    totals.authorize += (await count()) - before;

    before = await count();
    const exchanged = await token(
      { grant_type: "authorization_code", code, redirect_uri: flow.redirectUri, code_verifier: session.codeVerifier },
      flow.clientId,
      flow.clientSecret,
    );
    totals.code_token += (await count()) - before;
    refreshToken ??= exchanged["refresh_token"] as string;

    before = await count();
    const rotated = await token(
      { grant_type: "refresh_token", refresh_token: refreshToken },
      flow.clientId,
      flow.clientSecret,
    );
    totals.refresh_token += (await count()) - before;
    refreshToken = rotated["refresh_token"] as string;
  }
  return Object.fromEntries(Object.entries(totals).map(([k, v]) => [k, v / COUNTED]));
}

const postgres = await startTestPostgres();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-pg-sqlite-"));
const script = path.join(here, "servers/sidecar.ts");
const engines: Engine[] = [];
const empty = (): Record<Grant, number[]> => ({ client_credentials: [], authorization_code: [], refresh_token: [] });
try {
  engines.push({
    name: "SQLite",
    child: await startChild<Info>(script, ["ES256", "warn", path.join(dir, "authz.db")]),
    runs: empty(),
  });
  engines.push({
    name: "PostgreSQL",
    child: await startChild<Info>(script, ["ES256", "warn", postgres.url]),
    runs: empty(),
  });
  for (const engine of engines) {
    log(`warm-up: ${engine.name}`);
    const warm = await clientCredentialsLoad(engine.child.info, 1);
    if (describeFailures(warm) !== null) throw new Error(`${engine.name} warm-up: ${describeFailures(warm)}`);
  }
  for (let r = 0; r < ROUNDS; r++)
    for (const engine of engines) {
      log(`round ${r + 1}/${ROUNDS}: ${engine.name}, ${SECONDS} s per grant`);
      await round(engine);
    }
  log("counting PostgreSQL round trips");
  const [sqlite, pgEngine] = engines as [Engine, Engine];
  const trips = await roundTrips(pgEngine.child.info);

  const rows = GRANTS.map((grant) => {
    const s = median(sqlite.runs[grant]);
    const p = median(pgEngine.runs[grant]);
    const x = p / s;
    return [grant, fmt(s), fmt(p), `${x.toFixed(2)}×`, `≥ ${TARGETS[grant]}×`, x >= TARGETS[grant] ? "MET" : "MISSED"];
  });
  const load = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
  process.stdout.write(
    renderTable({
      title: `PostgreSQL against SQLite, per second, 10 connections (${new Date().toISOString().slice(0, 16)} UTC, ${os.cpus().length} cores, load ${load})`,
      columns: ["grant", "SQLite /s", "PostgreSQL /s", "PG × SQLite", "target", ""],
      rows,
      notes: [
        `Median of ${ROUNDS} interleaved rounds (SQLite, PostgreSQL, …) of ${SECONDS} s per grant, every answer checked. authorization_code counts exchanges (GET /authorize + POST /token). PostgreSQL is a local throwaway cluster (fsync off, test/helpers/postgres.ts); logs at warn.`,
      ],
    }) + "\n\n",
  );
  process.stdout.write(
    renderTable({
      title: `PostgreSQL round trips per request (mean over ${COUNTED} sequential requests each)`,
      columns: ["request", "round trips"],
      rows: [
        ["client_credentials: POST /token", fmt(trips["client_credentials"])],
        ["authorization_code: GET /authorize (mints the code)", fmt(trips["authorize"])],
        ["authorization_code: POST /token (redeems it)", fmt(trips["code_token"])],
        ["refresh_token: POST /token (rotation)", fmt(trips["refresh_token"])],
      ],
      notes: [
        "Counted as pg.Client query calls in the server process (bench/servers/sidecar.ts); BEGIN and COMMIT count. Each answer checked: 200 with an access token (303 with a code for /authorize). Client credentials need none: clients and scopes are held in memory and re-read only when their version row changes, seen within 1 s (authz-server/src/storage/postgres/clients.ts).",
      ],
    }) + "\n",
  );
} finally {
  for (const engine of engines) await engine.child.close();
  await postgres.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
