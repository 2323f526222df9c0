#!/usr/bin/env node
// Token-endpoint throughput per signing algorithm: runs `authz-server serve` (built) in a child process on a fresh
// database and drives POST /token (client_credentials, client_secret_basic) with autocannon.
// Usage (after `npm run build`): node bench/token-endpoint-by-algorithm.mjs [seconds] [connections]
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";

const seconds = Number(process.argv[2] ?? 5);
const connections = Number(process.argv[3] ?? 10);
const bin = fileURLToPath(new URL("../authz-server/bin/authz-server.js", import.meta.url));
const results = [];
for (const alg of ["ES256", "EdDSA", "PS256", "RS256"]) {
  const dir = mkdtempSync(join(tmpdir(), "authz-bench-"));
  const db = join(dir, "authz.db");
  execFileSync(process.execPath, [bin, "init", "--db", db]);
  const client = JSON.parse(
    execFileSync(process.execPath, [bin, "clients", "create", "--name", "bench", "--db", db, "--json"]),
  );
  const server = spawn(process.execPath, [bin, "serve", "--port", "0", "--db", db, "--alg", alg, "--json"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const { url } = await new Promise((resolve) => {
    let out = "";
    const onData = (d) => {
      out += d;
      if (out.trim().endsWith("}")) {
        // Later output (request logs) is drained, not accumulated: the load generator shares the machine's cores.
        server.stdout.off("data", onData);
        server.stdout.resume();
        resolve(JSON.parse(out));
      }
    };
    server.stdout.on("data", onData);
  });
  const result = await autocannon({
    url: `${url}/token`,
    method: "POST",
    connections,
    duration: seconds,
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString("base64")}`,
    },
    body: "grant_type=client_credentials",
  });
  server.kill("SIGTERM");
  rmSync(dir, { recursive: true, force: true });
  results.push({
    alg,
    requests_per_second: Math.round(result.requests.average),
    latency_p50_ms: result.latency.p50,
    latency_p99_ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
  });
}
console.log(JSON.stringify({ node: process.version, seconds, connections, results }, null, 2));
