// Our sidecar under load: authz-server's own startServer on a fresh SQLite database in a temp
// directory, or on the database given (a SQLite file or a postgres:// URL), provisioned through the
// product's CLI (`scopes create`, `clients create --json`), exactly as an operator would. Default
// log level, as `serve` runs. On PostgreSQL every statement the server sends is counted for
// bench/postgres.ts (pg.Client's query method wrapped here, in the bench only; with the extended
// protocol authz-server/src/storage/postgres/connection.ts uses, one query call is one round trip)
// and the count is served at GET <countUrl> on a second port. With `join`, the database is one another
// sidecar already provisioned (another node of the same server, bench/nodes.ts): this one only serves it
// and announces its URLs, no clients of its own.
// With BENCH_SIDECAR_METRICS=on in its environment, the server also serves its metrics listener on a free loopback
// port (bench/metrics.ts), announced as `metricsUrl`.
// Usage: node --import tsx bench/servers/sidecar.ts <alg> [log-level] [db [join]]   (needs `npm run build` for the CLI)
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { startServer } from "../../authz-server/src/server.js";
import { isPostgresUrl } from "../../authz-server/src/storage/index.js";
import { ALGORITHMS, type Algorithm } from "../lib/jwt.js";

const alg = (process.argv[2] ?? "ES256") as Algorithm;
if (!ALGORITHMS.includes(alg)) throw new Error(`unknown algorithm ${alg}`);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const cli = path.join(root, "authz-server/bin/authz-server.js");
const given: string | undefined = process.argv.length > 4 ? process.argv[4] : undefined;
const dir = given === undefined ? fs.mkdtempSync(path.join(os.tmpdir(), "bench-authz-")) : undefined;
const db = given ?? path.join(dir ?? "", "authz.db");
const joining = process.argv[5] === "join";

let queries = 0;
if (isPostgresUrl(db)) {
  // eslint-disable-next-line @typescript-eslint/unbound-method
  const query = pg.Client.prototype.query;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    queries++;
    return (query as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof pg.Client.prototype.query;
}

/** Runs one CLI command against the benchmark's database and returns its --json output. */
export function authz(args: string[], input?: string): unknown {
  const out = execFileSync(process.execPath, [cli, ...args, "--db", db, "--json"], {
    encoding: "utf8",
    ...(input === undefined ? {} : { input }),
  });
  return JSON.parse(out) as unknown;
}

// The server starts first, so that it generates its signing key with the algorithm under test.
const logLevel = process.argv[3] ?? "info";
const metrics = process.env["BENCH_SIDECAR_METRICS"] === "on" ? { metrics: { port: 0 } } : {};
const server = await startServer({ db, port: 0, host: "127.0.0.1", signingAlgorithm: alg, logLevel, ...metrics });
const counter = http.createServer((_request, response) => response.end(String(queries)));
await new Promise<void>((resolve) => counter.listen(0, "127.0.0.1", resolve));
const address = counter.address();
const countUrl = `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}/`;
process.stdout.write(`READY ${JSON.stringify(joining ? { url: server.url, db, countUrl } : provision())}\n`);

/** Provisions the database through the CLI, as an operator would: what the loads need. */
function provision() {
  authz([
    "scopes",
    "create",
    "photos",
    "--description",
    "Read your photos",
    "--resource",
    "http://localhost:8000/flickr",
  ]);
  const client = authz([
    "clients",
    "create",
    "--name",
    "Bench",
    "--scope",
    "photos",
    "--grant-type",
    "client_credentials",
  ]) as {
    client_id: string;
    client_secret: string;
  };
  // For the authorization-code and refresh loads: the seed story's web client and a user.
  const redirectUri = "http://localhost:3000/callback";
  const canon = authz([
    "clients",
    "create",
    "--name",
    "Canon Printing",
    "--redirect-uri",
    redirectUri,
    "--scope",
    "photos",
  ]) as {
    client_id: string;
    client_secret: string;
  };
  const password = "bench-password-0123456789";
  authz(["users", "create", "alice", "--password-stdin"], `${password}\n`);
  return {
    url: server.url,
    metricsUrl: server.metricsUrl,
    tokenPath: "/token",
    clientId: client.client_id,
    clientSecret: client.client_secret,
    db,
    countUrl,
    flow: { clientId: canon.client_id, clientSecret: canon.client_secret, redirectUri, username: "alice", password },
  };
}
process.on("SIGTERM", () => {
  counter.close();
  void server.close().then(() => {
    if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  });
});
