// Our sidecar under load: authz-server's own startServer on a fresh SQLite database in a temp
// directory, provisioned through the product's CLI (`scopes create`, `clients create --json`),
// exactly as an operator would. Default log level, as `serve` runs.
// Usage: node --import tsx bench/servers/sidecar.ts <alg> [log-level]   (needs `npm run build` for the CLI)
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startServer } from "../../authz-server/src/server.js";
import { ALGORITHMS, type Algorithm } from "../lib/jwt.js";

const alg = (process.argv[2] ?? "ES256") as Algorithm;
if (!ALGORITHMS.includes(alg)) throw new Error(`unknown algorithm ${alg}`);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const cli = path.join(root, "authz-server/bin/authz-server.js");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-authz-"));
const db = path.join(dir, "authz.db");

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
const server = await startServer({ db, port: 0, host: "127.0.0.1", signingAlgorithm: alg, logLevel });
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
process.stdout.write(
  `READY ${JSON.stringify({
    url: server.url,
    tokenPath: "/token",
    clientId: client.client_id,
    clientSecret: client.client_secret,
    db,
    flow: { clientId: canon.client_id, clientSecret: canon.client_secret, redirectUri, username: "alice", password },
  })}\n`,
);
process.on("SIGTERM", () => {
  void server.close().then(() => {
    fs.rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  });
});
