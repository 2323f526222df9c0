// Our sidecar on a given database (a SQLite file path or a postgres:// URL), provisioned through the
// product's CLI as bench/servers/sidecar.ts does, with one addition for bench/postgres.ts: every
// statement the server sends to PostgreSQL is counted (pg.Client's query method wrapped here, in the
// bench only; with the extended protocol authz-server/src/storage/postgres/connection.ts uses, one
// query call is one round trip), and the count is served at GET <countUrl> on a second port.
// Usage: node --import tsx bench/servers/sidecar-db.ts <db> [log-level]   (needs `npm run build` for the CLI)
import { execFileSync } from "node:child_process";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { startServer } from "../../authz-server/src/server.js";

if (process.argv.length < 3) throw new Error("usage: sidecar-db.ts <db> [log-level]");
const db = process.argv[2];
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const cli = path.join(root, "authz-server/bin/authz-server.js");

let queries = 0;
// eslint-disable-next-line @typescript-eslint/unbound-method
const query = pg.Client.prototype.query;
pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
  queries++;
  return (query as (...a: unknown[]) => unknown).apply(this, args);
} as typeof pg.Client.prototype.query;

function authz(args: string[], input?: string): unknown {
  const out = execFileSync(process.execPath, [cli, ...args, "--db", db, "--json"], {
    encoding: "utf8",
    ...(input === undefined ? {} : { input }),
  });
  return JSON.parse(out) as unknown;
}

const server = await startServer({ db, port: 0, host: "127.0.0.1", logLevel: process.argv[3] ?? "warn" });
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

const counter = http.createServer((_request, response) => response.end(String(queries)));
await new Promise<void>((resolve) => counter.listen(0, "127.0.0.1", resolve));
const address = counter.address();
const countPort = typeof address === "object" && address !== null ? address.port : 0;
process.stdout.write(
  `READY ${JSON.stringify({
    url: server.url,
    tokenPath: "/token",
    clientId: client.client_id,
    clientSecret: client.client_secret,
    countUrl: `http://127.0.0.1:${countPort}/`,
    flow: { clientId: canon.client_id, clientSecret: canon.client_secret, redirectUri, username: "alice", password },
  })}\n`,
);
process.on("SIGTERM", () => {
  counter.close();
  void server.close().then(() => process.exit(0));
});
