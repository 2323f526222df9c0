// Two nodes of the authorization server on one PostgreSQL database against one node on the same database, in the
// same run: client-credentials tokens/s and refresh-token rotations/s, the load split across both nodes (autocannon's
// connections spread over the two URLs) or all on node A, rounds interleaved one, two, two, one…, medians reported.
// Each node is its own process (bench/servers/sidecar.ts; node B joins the database node A provisioned). Refresh
// tokens come from code exchanges on node A, and every rotation's successor goes back to one pool, presented to
// whichever node a connection talks to. PostgreSQL is a throwaway cluster from test/helpers/postgres.ts (or a fresh
// database on AUTHZ_TEST_POSTGRES_URL).
// Usage: node --import tsx bench/nodes.ts [--quick]   (needs `npm run build` for the CLI)
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startTestPostgres } from "../test/helpers/postgres.js";
import type { FlowClient } from "./lib/browser.js";
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
const ROUNDS = quick ? 2 : 4;
const SECONDS = quick ? 2 : 3;
const log = (message: string): void => void process.stderr.write(`${message}\n`);

interface Info extends TokenServerInfo {
  flow: FlowClient;
}
type Grant = "client_credentials" | "refresh_token";
interface Setup {
  name: "one node" | "two nodes";
  urls: string[];
  runs: Record<Grant, number[]>;
}

/** One round on one setup: client credentials, then refresh rotations from the shared pool; throws on any failure. */
async function round(setup: Setup, info: Info, pool: string[]): Promise<void> {
  const cc = await clientCredentialsLoad(info, SECONDS, setup.urls);
  const failures = describeFailures(cc);
  if (failures !== null) throw new Error(`${setup.name}, client credentials: ${failures}`);
  setup.runs.client_credentials.push(cc.requestsPerSecond);
  const refresh = await measureRefreshRotations(info, info.flow, SECONDS, pool, setup.urls);
  if (refresh.error !== null) throw new Error(`${setup.name}, refresh rotations: ${refresh.error}`);
  setup.runs.refresh_token.push(refresh.perSecond);
}

const postgres = await startTestPostgres();
const script = path.join(here, "servers/sidecar.ts");
const nodes: ChildServer<{ url: string }>[] = [];
try {
  const nodeA = await startChild<Info>(script, ["ES256", "warn", postgres.url]);
  nodes.push(nodeA);
  const nodeB = await startChild<{ url: string }>(script, ["ES256", "warn", postgres.url, "join"]);
  nodes.push(nodeB);
  const info = nodeA.info;
  const setups: Setup[] = [
    { name: "one node", urls: [info.url], runs: { client_credentials: [], refresh_token: [] } },
    { name: "two nodes", urls: [info.url, nodeB.info.url], runs: { client_credentials: [], refresh_token: [] } },
  ];
  for (const url of [info.url, nodeB.info.url]) {
    log(`warm-up: ${url}`);
    const warm = await clientCredentialsLoad(info, 1, [url]);
    if (describeFailures(warm) !== null) throw new Error(`warm-up of ${url}: ${describeFailures(warm)}`);
  }
  log("minting refresh tokens: code exchanges on node A");
  const pool: string[] = [];
  const exchanges = await measureCodeExchanges(info, info.flow, 1, pool);
  if (exchanges.error !== null) throw new Error(`code exchanges: ${exchanges.error}`);
  for (let r = 0; r < ROUNDS; r++) {
    // Alternating which setup goes first, so that neither always runs on a database the other just warmed.
    for (const setup of r % 2 === 0 ? setups : [...setups].reverse()) {
      log(`round ${r + 1}/${ROUNDS}: ${setup.name}, ${SECONDS} s per grant`);
      await round(setup, info, pool);
    }
  }

  const [one, two] = setups as [Setup, Setup];
  const rows = (["client_credentials", "refresh_token"] as const).map((grant) => {
    const single = median(one.runs[grant]);
    const both = median(two.runs[grant]);
    return [grant, fmt(single), fmt(both), `${(both / single).toFixed(2)}×`];
  });
  const load = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
  const cores = os.cpus().length;
  process.stdout.write(
    renderTable({
      title: `Two nodes on one PostgreSQL database against one node, per second, 10 connections (${new Date().toISOString().slice(0, 16)} UTC, ${cores} cores, load ${load})`,
      columns: ["grant", "one node /s", "two nodes /s", "two × one"],
      rows,
      notes: [
        `Median of ${ROUNDS} interleaved rounds (one node, two nodes, two nodes, one node, …) of ${SECONDS} s per grant, every answer checked; two nodes: the connections split between them, refresh tokens minted by either presented to either. PostgreSQL is a local throwaway cluster (fsync off, test/helpers/postgres.ts); logs at warn.`,
        `On ${cores} cores the two nodes, PostgreSQL and the load generator share the same cores: this ratio is not scaling. A gain is the core one Node.js process (one JavaScript thread) leaves to the others, a loss the cost of coordination (two processes contending for the cores and for the one database every write goes through). Nodes on machines of their own each bring their cores: client credentials then scale with the nodes (no database round trip), refresh rotations up to what the one database writes.`,
      ],
    }) + "\n",
  );
} finally {
  for (const node of nodes) await node.close();
  await postgres.close();
}
